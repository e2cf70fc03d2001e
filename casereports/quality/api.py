"""The queries API (/api/v1/queries/): the data resolution workflow for scripts and other tools
(REDCap's has none).

    GET  /api/v1/queries/                  the queries of the cases you may read (filters)
    POST /api/v1/queries/                  open one on a field of a case
    GET  /api/v1/queries/{id}/             one, with its steps
    POST /api/v1/queries/{id}/answer/      category and text
    POST /api/v1/queries/{id}/close/       optional text
    POST /api/v1/queries/{id}/reopen/      text

Reads start from `access.visible_queries`; every step goes through `casereports.quality.services`
(rights, audit). A query on a case you may not read answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casereports import access
from casereports.api import authentication  # noqa: F401 - registers the token scheme
from casereports.api.serializers import ErrorSerializer
from casereports.audit import context_for
from casereports.models import Case
from casereports.quality import services
from casereports.quality.models import Query, QueryStatus, QueryStep, ResponseCategory
from casereports.services.cases import record_denial

QUERIES_TAG = ["queries"]
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "A malformed field (named in `errors`)"),
    401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown or revoked token"),
    403: OpenApiResponse(ErrorSerializer, "Your role does not allow this step (audited)"),
    404: OpenApiResponse(ErrorSerializer, "No such query or case, or one you may not read"),
    409: OpenApiResponse(ErrorSerializer, "`refused`: the query's state does not allow it"),
    422: OpenApiResponse(ErrorSerializer, "`invalid`: no text, an unknown field or category"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


class StepSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", default=None, read_only=True)

    class Meta:
        model = QueryStep
        fields = ["kind", "category", "text", "by", "at", "case_version"]


class QuerySerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="case.secret_name", read_only=True)
    site = serializers.CharField(source="case.site.code", read_only=True)
    opened_by = serializers.CharField(source="opened_by.username", default=None, read_only=True)

    class Meta:
        model = Query
        fields = [
            "id",
            "case",
            "site",
            "field",
            "rule_id",
            "message",
            "status",
            "opened_by",
            "opened_at",
            "updated_at",
            "closed_at",
        ]


class QueryDetailSerializer(QuerySerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta(QuerySerializer.Meta):
        fields = [*QuerySerializer.Meta.fields, "steps"]


class OpenRequestSerializer(serializers.Serializer):
    case = serializers.CharField(help_text="The case's secret name.")
    field = serializers.CharField(max_length=100)
    message = serializers.CharField(max_length=4000)


class AnswerRequestSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=ResponseCategory.choices)
    text = serializers.CharField(max_length=4000)
    case_version = serializers.IntegerField(
        required=False, min_value=1, help_text="The case's version after your correction."
    )


class NoteRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000, required=False, allow_blank=True)


def _context(request: Request):
    return context_for(request, channel="api")


def _visible(request: Request, query_id: int, what: str) -> Query:
    query = (
        access.visible_queries(request.user)
        .select_related("case__site", "opened_by")
        .filter(pk=query_id)
        .first()
    )
    if query is None:
        real = Query.objects.filter(pk=query_id).select_related("case").first()
        record_denial(
            _context(request), f"{what} query #{query_id}", case=real.case if real else None
        )
        raise NotFound("No such query.")
    return query


class QueryListView(generics.ListAPIView):
    serializer_class = QuerySerializer

    def get_queryset(self):
        queries = access.visible_queries(self.request.user).select_related(
            "case__site", "opened_by"
        )
        params = self.request.query_params
        if params.get("status"):
            queries = queries.filter(status=params["status"])
        if params.get("site"):
            queries = queries.filter(case__site__code=params["site"])
        if params.get("case"):
            queries = queries.filter(case__secret_name=params["case"])
        return queries.order_by("-opened_at", "-pk")

    @extend_schema(
        tags=QUERIES_TAG,
        summary="List queries",
        description="The queries on the cases you may read, newest first, 50 a page.",
        parameters=[
            OpenApiParameter("status", enum=QueryStatus.values),
            OpenApiParameter("site", str, description="site code"),
            OpenApiParameter("case", str, description="the case's secret name"),
        ],
        responses={200: QuerySerializer(many=True), **_errors(401)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=QUERIES_TAG,
        summary="Open a query",
        description="On one field of a case, with a question (central data managers for every "
        "site, site managers for theirs). Recorded as `query.opened`.",
        request=OpenRequestSerializer,
        responses={201: QueryDetailSerializer, **_errors(400, 401, 403, 404, 422)},
    )
    def post(self, request: Request) -> Response:
        payload = OpenRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        case = Case.objects.visible_to(request.user).filter(secret_name=data["case"]).first()
        if case is None:
            raise NotFound("No such case.")
        query = services.open_query(
            _context(request), case, field=data["field"], message=data["message"]
        )
        return Response(QueryDetailSerializer(query).data, status=status.HTTP_201_CREATED)


class QueryDetailView(APIView):
    @extend_schema(
        tags=QUERIES_TAG,
        summary="A query with its steps",
        responses={200: QueryDetailSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request, query_id: int) -> Response:
        return Response(QueryDetailSerializer(_visible(request, query_id, "view")).data)


class QueryStepView(APIView):
    """answer, close or reopen (the URL names the step)."""

    step = ""

    def post(self, request: Request, query_id: int) -> Response:
        query = _visible(request, query_id, self.step)
        context = _context(request)
        if self.step == "answer":
            payload = AnswerRequestSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            query = services.answer_query(context, query, **payload.validated_data)
        else:
            payload = NoteRequestSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            text = payload.validated_data.get("text", "")
            step = services.close_query if self.step == "close" else services.reopen_query
            query = step(context, query, text=text)
        query.refresh_from_db()
        return Response(QueryDetailSerializer(query).data)


class AnswerView(QueryStepView):
    step = "answer"

    @extend_schema(
        tags=QUERIES_TAG,
        summary="Answer a query",
        description="corrected (with `case_version` after your correction), confirmed, "
        "cannot_obtain or other, with text. Clinicians and managers of the case's site; "
        "registry data managers for imported records. Recorded as `query.answered`.",
        request=AnswerRequestSerializer,
        responses={200: QueryDetailSerializer, **_errors(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, query_id: int) -> Response:
        return super().post(request, query_id)


class CloseView(QueryStepView):
    step = "close"

    @extend_schema(
        tags=QUERIES_TAG,
        summary="Close a query",
        request=NoteRequestSerializer,
        responses={200: QueryDetailSerializer, **_errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, query_id: int) -> Response:
        return super().post(request, query_id)


class ReopenView(QueryStepView):
    step = "reopen"

    @extend_schema(
        tags=QUERIES_TAG,
        summary="Reopen a closed query",
        request=NoteRequestSerializer,
        responses={200: QueryDetailSerializer, **_errors(401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, query_id: int) -> Response:
        return super().post(request, query_id)
