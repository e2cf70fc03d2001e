"""Import pages (namespace `imports`, mounted at /imports/)."""

from django.urls import path

from casereports.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("mappings/", views.save_mapping, name="save_mapping"),
    path("<int:job_id>/", views.import_detail, name="detail"),
    path("<int:job_id>/status.json", views.import_status, name="status"),
    path("<int:job_id>/files/<str:kind>.csv", views.import_file, name="file"),
    path("<int:job_id>/<str:action>/", views.import_action, name="action"),
]
