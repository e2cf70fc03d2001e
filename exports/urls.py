"""Export pages (namespace `exports`, mounted at /exports/)."""

from django.urls import path

from exports import feed_views, views

app_name = "exports"

urlpatterns = [
    path("", views.export_page, name="page"),
    path("<int:job_id>/status.json", views.status_json, name="status"),
    path("<int:job_id>/cancel/", views.cancel, name="cancel"),
    path("<int:job_id>/download/", views.download, name="download"),
    path("<int:job_id>/file/<str:token>/", views.download_file, name="file"),
    path("federated/upload/", feed_views.upload_page, name="federated_upload"),
    path("feeds/", feed_views.feeds_page, name="feeds"),
    path("feeds/<int:job_id>/status.json", feed_views.feed_status_json, name="feed_status"),
    path("feeds/<int:job_id>/download/", feed_views.feed_download, name="feed_download"),
    path("feeds/<int:job_id>/file/<str:token>/", feed_views.feed_file, name="feed_file"),
]
