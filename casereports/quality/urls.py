"""Quality pages (namespace `quality`, mounted at /quality/)."""

from django.urls import path

from casereports.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.quality_page, name="page"),
    path("queries.csv", views.queries_csv, name="queries_csv"),
    path("queries/<int:query_id>/<str:step>/", views.query_step, name="step"),
]
