"""API views. Reads start from `Case.objects.visible_to`; writes call `casereports.services`;
refusals become the one error shape in `casereports.api.errors`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import generics, parsers, renderers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casereports import access
from casereports.api import authentication  # noqa: F401 - registers the token scheme
from casereports.api.serializers import (
    CaseCreateSerializer,
    CaseDetailSerializer,
    CaseFilterSerializer,
    CaseSavedSerializer,
    CaseSubmitSerializer,
    CaseSummarySerializer,
    CaseUpdateSerializer,
    DictionarySerializer,
    ErrorSerializer,
    dictionary_document,
)
from casereports.audit import AuditContext, context_for
from casereports.models import Case, DictionaryVersion, Site
from casereports.services import cases as services
from casereports.services.dictionaries import dictionary_of

CASES_TAG = ["cases"]
DICTIONARY_TAG = ["dictionary"]

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, "Malformed request (code `bad_request`)"),
    401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown or revoked token"),
    403: OpenApiResponse(ErrorSerializer, "Your role or site does not allow this (audited)"),
    404: OpenApiResponse(ErrorSerializer, "No such case, or one you may not see (audited)"),
    409: OpenApiResponse(
        ErrorSerializer,
        "`conflict`: your version is stale, nothing was overwritten; "
        "`refused`: the case's status does not allow this",
    ),
    422: OpenApiResponse(
        ErrorSerializer,
        "`invalid`: per-field errors and soft-range warnings, nothing was saved; "
        "`reason_required`: the case was submitted, give a reason",
    ),
    423: OpenApiResponse(ErrorSerializer, "The case is locked"),
}


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {code: ERROR_RESPONSES[code] for code in statuses}


def api_context(request: Request) -> AuditContext:
    return context_for(request, channel="api")


def visible_case(request: Request, secret_name: str, *, what: str, detail: bool = False) -> Case:
    """The case if the user may see it; otherwise 404, and an attempt on a real case is
    audited as a denial."""
    cases = Case.objects.visible_to(request.user).select_related("site")
    if detail:
        cases = cases.select_related("dictionary_version").defer(
            "dictionary_version__dictionary_csv", "dictionary_version__quality_rules_csv"
        )
    else:  # a write: the service reads the case again, locked, with its data
        cases = cases.defer("data", "form_statuses")
    case = cases.filter(secret_name=secret_name).order_by().first()  # unique: no sort needed
    if case is not None:
        return case
    # Looked up outside visible_to only to put the attempt on record; nothing of it is returned.
    hidden = Case.objects.select_related("site").filter(secret_name=secret_name).first()
    if hidden is not None:
        services.record_denial(api_context(request), what, case=hidden)
    raise NotFound("No case has this name, or you may not see it.")


def _valid(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _saved(case: Case, cleared: list[str], status_code: int = status.HTTP_200_OK) -> Response:
    return Response(CaseSavedSerializer(case, context={"cleared": cleared}).data, status_code)


_SUMMARY_COLUMNS = [
    "secret_name",
    "site__code",
    "status",
    "completeness",
    "version",
    "report_source",
    "created_at",
    "updated_at",
]


JSON_ONLY = [parsers.JSONParser]  # values are nested objects: no form encoding


class CaseListView(generics.ListAPIView):
    parser_classes = JSON_ONLY
    serializer_class = CaseSummarySerializer

    def get_queryset(self) -> QuerySet[Case]:
        filters = _valid(CaseFilterSerializer, self.request.query_params)
        cases = Case.objects.visible_to(self.request.user).select_related("site")
        if "status" in filters:
            cases = cases.filter(status=filters["status"])
        if "completeness" in filters:
            cases = cases.filter(completeness=filters["completeness"])
        if "site" in filters:
            cases = cases.filter(site__code=filters["site"])
        if filters.get("search"):
            cases = cases.filter(secret_name__icontains=filters["search"])
        return cases.only(*_SUMMARY_COLUMNS)

    @extend_schema(
        tags=CASES_TAG,
        summary="List the cases you may see",
        description="No data values: retrieve a case for those. Newest change first, 50 a page.",
        parameters=[CaseFilterSerializer],
        responses={200: CaseSummarySerializer(many=True), **_errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        if not access.has_permission(request.user, access.VIEW_CASES):
            # As on the web list: a role with no case rights is refused (and on record), not
            # shown an empty list.
            services.record_denial(api_context(request), "case list")
            raise PermissionDenied("Your role gives no access to case reports.")
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=CASES_TAG,
        summary="Create a draft case",
        description=(
            "Creates a draft at `site` under the current dictionary version. With `data`, the "
            "values are validated and saved as the draft's first save; if any is refused, no "
            "case is created."
        ),
        request=CaseCreateSerializer,
        responses={201: CaseSavedSerializer, **_errors(400, 401, 403, 409, 422)},
        examples=[
            OpenApiExample(
                "With data",
                value={"site": "UCLH", "data": {"age_years": "44", "sex": "female"}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        payload = _valid(CaseCreateSerializer, request.data)
        case, cleared = create_with_data(
            api_context(request), payload["site"], payload.get("data"), payload["confirmed"]
        )
        return _saved(case, cleared, status.HTTP_201_CREATED)


def create_with_data(
    context: AuditContext, site: Site, data: dict | None, confirmed: list[str]
) -> tuple[Case, list[str]]:
    """Create a draft and save `data` into it, all or nothing."""
    if data is None or not access.has_permission(context.user, access.EDIT_CASES, site):
        # No transaction of ours around it, so the service's record of a denial stays.
        return services.create_case(context, site), []
    with transaction.atomic():
        case = services.create_case(context, site)
        outcome = services.save_form(
            context, case, data, expected_version=case.version, form=None, confirmed=confirmed
        )
    return outcome.case, outcome.cleared


class CaseDetailView(generics.GenericAPIView):
    parser_classes = JSON_ONLY
    serializer_class = CaseUpdateSerializer  # the browsable API's form

    def get_object(self) -> Case:
        return visible_case(self.request, self.kwargs["secret_name"], what="view case", detail=True)

    @extend_schema(
        tags=CASES_TAG,
        summary="A case with its data",
        description="Reading a case's data is recorded in the audit trail (`case.viewed`).",
        responses={200: CaseDetailSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request, secret_name: str) -> Response:
        case = self.get_object()
        services.record_case_view(api_context(request), case, what="api")
        return Response(CaseDetailSerializer(case).data)

    @extend_schema(
        tags=CASES_TAG,
        summary="Change a case's values",
        description=(
            "Saves the given values (any form) on top of the case, as the forms do: branching "
            "clears hidden values (listed in `cleared`), calculations are recomputed, and soft "
            "range checks must be confirmed. Once the case is submitted, a `reason` is required."
        ),
        request=CaseUpdateSerializer,
        responses={200: CaseSavedSerializer, **_errors(400, 401, 403, 404, 409, 422, 423)},
    )
    def patch(self, request: Request, secret_name: str) -> Response:
        case = visible_case(request, secret_name, what="edit case")
        payload = _valid(CaseUpdateSerializer, request.data)
        outcome = services.save_form(
            api_context(request),
            case,
            payload["data"],
            expected_version=payload["version"],
            form=None,
            confirmed=payload["confirmed"],
            reason=payload["reason"],
        )
        return _saved(outcome.case, outcome.cleared)


class CaseSubmitView(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(
        tags=CASES_TAG,
        summary="Submit a draft",
        description="Every required field that branching shows must have a value; the missing "
        "ones are listed in `errors` (422). Answers the case's new status and version (its data "
        "did not change; GET the case for it).",
        request=CaseSubmitSerializer,
        responses={200: CaseSummarySerializer, **_errors(400, 401, 403, 404, 409, 422, 423)},
    )
    def post(self, request: Request, secret_name: str) -> Response:
        case = visible_case(request, secret_name, what="submit case")
        payload = _valid(CaseSubmitSerializer, request.data)
        case = services.submit_case(
            api_context(request),
            case,
            expected_version=payload["version"],
            justifications=payload.get("justifications") or {},
        )
        return Response(CaseSummarySerializer(case).data)


def current_version() -> DictionaryVersion:
    version = DictionaryVersion.objects.current()
    if version is None:
        raise NotFound("No data dictionary is loaded.")
    return version


@lru_cache(maxsize=8)
def _document_of(version_id: int, content_hash: str) -> dict[str, Any]:
    version = DictionaryVersion.objects.get(pk=version_id)  # a version never changes
    return dictionary_document(version, dictionary_of(version))


class DictionaryView(APIView):
    @extend_schema(
        tags=DICTIONARY_TAG,
        summary="The current data dictionary",
        description="Forms and fields with their types, choices, validation, branching and "
        "calculations (as written and parsed) and action tags.",
        responses={200: DictionarySerializer, **_errors(401, 404)},
    )
    def get(self, request: Request) -> Response:
        version = current_version()
        return Response(_document_of(version.pk, version.content_hash))


class CsvRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # Success responses are HttpResponses already; this renders errors for Accept: text/csv.
        return renderers.JSONRenderer().render(data)


def csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_RESPONSES = {(200, "text/csv"): OpenApiTypes.STR, **_errors(401, 404)}


class DictionaryCsvView(APIView):
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=DICTIONARY_TAG,
        summary="The current data dictionary as a REDCap data dictionary CSV",
        responses=CSV_RESPONSES,
    )
    def get(self, request: Request) -> HttpResponse:
        version = current_version()
        filename = f"{version.name}_dictionary_{version.content_hash[:12]}.csv"
        return csv_response(version.dictionary_csv, filename)


class QualityRulesCsvView(APIView):
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=DICTIONARY_TAG,
        summary="The current dictionary version's quality rules as CSV",
        responses=CSV_RESPONSES,
    )
    def get(self, request: Request) -> HttpResponse:
        version = current_version()
        if not version.quality_rules_csv:
            raise NotFound("The current dictionary version has no quality rules.")
        filename = f"{version.name}_quality_rules_{version.content_hash[:12]}.csv"
        return csv_response(version.quality_rules_csv, filename)


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar; its script is a separate file (strict CSP)."""

    template_name = "api/swagger_ui.html"
