"""Export pages (namespace `exports`, mounted at /exports/)."""

from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path("", views.export_page, name="page"),
    path("<int:job_id>/status.json", views.status_json, name="status"),
    path("<int:job_id>/cancel/", views.cancel, name="cancel"),
    path("<int:job_id>/download/", views.download, name="download"),
    path("<int:job_id>/file/<str:token>/", views.download_file, name="file"),
]
