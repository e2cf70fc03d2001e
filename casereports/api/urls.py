"""The REST API, version 1 (mounted at /api/v1/). Fixed paths come before `cases/<name>/`."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from casereports.api import views
from casereports.imports import api as imports_api
from casereports.quality import api as queries_api
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
    path("imports/", imports_api.ImportListView.as_view(), name="api-imports"),
    path("imports/mappings/", imports_api.MappingView.as_view(), name="api-import-mappings"),
    path("imports/<int:job_id>/", imports_api.ImportDetailView.as_view(), name="api-import"),
    path(
        "imports/<int:job_id>/commit/",
        imports_api.ImportCommitView.as_view(),
        name="api-import-commit",
    ),
    path(
        "imports/<int:job_id>/files/<str:kind>.csv",
        imports_api.ImportFileView.as_view(),
        name="api-import-file",
    ),
    path("queries/", queries_api.QueryListView.as_view(), name="api-queries"),
    path("queries/<int:query_id>/", queries_api.QueryDetailView.as_view(), name="api-query"),
    path(
        "queries/<int:query_id>/answer/", queries_api.AnswerView.as_view(), name="api-query-answer"
    ),
    path("queries/<int:query_id>/close/", queries_api.CloseView.as_view(), name="api-query-close"),
    path(
        "queries/<int:query_id>/reopen/", queries_api.ReopenView.as_view(), name="api-query-reopen"
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
