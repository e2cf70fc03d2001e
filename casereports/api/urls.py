"""The REST API, version 1 (mounted at /api/v1/). Fixed paths come before `cases/<name>/`."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from casereports.api import views
from exports import api as exports_api
from exports import feed_api

urlpatterns = [
    path("cases/", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:secret_name>/", views.CaseDetailView.as_view(), name="api-case"),
    path("cases/<str:secret_name>/submit/", views.CaseSubmitView.as_view(), name="api-case-submit"),
    path("dictionary/", views.DictionaryView.as_view(), name="api-dictionary"),
    path("dictionary.csv", views.DictionaryCsvView.as_view(), name="api-dictionary-csv"),
    path(
        "dictionary/quality-rules.csv",
        views.QualityRulesCsvView.as_view(),
        name="api-quality-rules-csv",
    ),
    path("exports/", exports_api.ExportListView.as_view(), name="api-exports"),
    path("exports/<int:job_id>/", exports_api.ExportDetailView.as_view(), name="api-export"),
    path(
        "exports/<int:job_id>/download/",
        exports_api.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path(
        "federated/uploads/",
        feed_api.FederatedUploadView.as_view(),
        name="api-federated-uploads",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
