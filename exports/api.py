"""The exports API (/api/v1/exports/): ask for an export, follow it, pull its zip with a token.

Same authentication and error shape as the rest of the API (`casereports.api`). A user sees
their own jobs (an administrator may open any job by id); jobs are made by
`exports.services.request_export`, which checks the export rights and records refusals.
Pulling a file is recorded as `export.downloaded` (channel `api`) before the first byte is sent.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, parsers, renderers, serializers, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casereports.api import authentication  # noqa: F401 - registers the token scheme
from casereports.api.serializers import ErrorSerializer
from casereports.audit import AuditContext, context_for
from casereports.models import REPORT_SOURCES, CaseStatus, Site
from casereports.services.cases import record_denial
from exports import services
from exports.downloads import (
    file_response,
    job_file,
    jobs_of,
    may_download,
    may_export,
    record_download,
)
from exports.models import ExportJob, JobStatus
from exports.profiles import PROFILES

EXPORTS_TAG = ["exports"]

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "Malformed request: see `errors` per field"),
    401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown or revoked token"),
    403: OpenApiResponse(ErrorSerializer, "Your role or sites do not allow this (audited)"),
    404: OpenApiResponse(ErrorSerializer, "No such export, or one you may not see (audited)"),
    409: OpenApiResponse(ErrorSerializer, "`refused`: the export is not done, no file yet"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


def api_context(request: Request) -> AuditContext:
    return context_for(request, channel="api")


class NotFinished(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "refused"
    default_detail = "The export has no file yet."


# --- shapes -------------------------------------------------------------------------------


class ExportJobSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, read_only=True
    )
    progress = serializers.IntegerField(
        source="progress_percent", read_only=True, help_text="Percent done, 0-100"
    )
    sites = serializers.SerializerMethodField(help_text="Codes of the sites exported")
    manifest = serializers.SerializerMethodField(
        help_text="The zip's manifest.json (files, row counts, sha256 per file, profile "
        "options, disclosure report) once the job is done; null before."
    )
    download_url = serializers.SerializerMethodField(
        help_text="Where to GET the zip once the job is done; null before."
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "profile",
            "status",
            "progress",
            "rows_done",
            "rows_total",
            "row_counts",
            "file_size",
            "sha256",
            "error",
            "filters",
            "sites",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "manifest",
            "download_url",
        ]
        read_only_fields = fields

    def get_sites(self, job: ExportJob) -> list[str]:
        ids = job.filters.get("sites") or []
        return list(Site.objects.filter(pk__in=ids).order_by("code").values_list("code", flat=True))

    def get_manifest(self, job: ExportJob) -> dict[str, Any] | None:
        return job.manifest if job.status == JobStatus.DONE else None

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != JobStatus.DONE:
            return None
        return reverse("api-export-download", args=[job.pk])


class ExportRequestSerializer(serializers.Serializer):
    profile = serializers.ChoiceField(
        choices=[(name, profile.description) for name, profile in PROFILES.items()],
        help_text="De-identification profile: "
        + "; ".join(f"`{name}`: {p.description}" for name, p in PROFILES.items()),
    )
    sites = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        help_text="Site codes; empty or absent: every site you may export.",
    )
    report_sources = serializers.ListField(
        child=serializers.ChoiceField(choices=REPORT_SOURCES),
        required=False,
        default=list,
        help_text="`clinicians`, `patients`; empty or absent: both.",
    )
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=CaseStatus.choices),
        required=False,
        default=list,
        help_text="Case statuses; empty or absent: submitted and locked.",
    )
    date_from = serializers.DateField(required=False, allow_null=True, default=None)
    date_to = serializers.DateField(required=False, allow_null=True, default=None)

    def validate_sites(self, codes: list[str]) -> list[int]:
        found = dict(Site.objects.filter(code__in=codes).values_list("code", "pk"))
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise serializers.ValidationError(f"no site has the code {', '.join(unknown)}")
        return [found[code] for code in dict.fromkeys(codes)]

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["date_from"] and data["date_to"] and data["date_to"] < data["date_from"]:
            raise serializers.ValidationError({"date_to": "must be on or after date_from"})
        return data


# --- views --------------------------------------------------------------------------------


def _require_exporter(request: Request, what: str) -> None:
    if not may_export(request.user):
        record_denial(api_context(request), what)
        raise PermissionDenied("Your role does not allow exports.")


def visible_job(request: Request, job_id: int, what: str) -> ExportJob:
    _require_exporter(request, what)
    job = jobs_of(request.user).filter(pk=job_id).first()
    if job is None:
        record_denial(api_context(request), f"{what} export #{job_id}")
        raise NotFound("No export has this id, or you may not see it.")
    return job


class ExportListView(generics.ListAPIView):
    parser_classes = [parsers.JSONParser]
    serializer_class = ExportJobSerializer

    def get_queryset(self):
        return ExportJob.objects.filter(requested_by=self.request.user).select_related(
            "requested_by"
        )

    @extend_schema(
        tags=EXPORTS_TAG,
        summary="List your exports",
        description="Your export jobs, newest first, 50 a page.",
        responses={200: ExportJobSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        _require_exporter(request, "export list")
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=EXPORTS_TAG,
        summary="Ask for an export",
        description="Queues an export job with the profile and filters and answers it (202). "
        "Follow it with GET `/api/v1/exports/{id}/` until `status` is `done` (or `failed`), "
        "then GET its `download_url`.",
        request=ExportRequestSerializer,
        responses={202: ExportJobSerializer, **_errors(400, 401, 403)},
        examples=[
            OpenApiExample(
                "Central, submitted cases of two sites",
                value={"profile": "central", "sites": ["UCLH", "APHP"], "statuses": ["submitted"]},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = services.request_export(api_context(request), **serializer.validated_data)
        except services.InvalidExportRequest as refused:
            raise ValidationError(refused.errors) from None
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(
        tags=EXPORTS_TAG,
        summary="An export's status, progress, counts and manifest",
        responses={200: ExportJobSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = visible_job(request, job_id, "view")
        return Response(ExportJobSerializer(job).data)


class ZipRenderer(renderers.BaseRenderer):
    media_type = "application/zip"
    format = "zip"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # The zip itself is a FileResponse; this renders refusals for Accept: application/zip.
        return renderers.JSONRenderer().render(data)


class ExportDownloadView(APIView):
    renderer_classes = [renderers.JSONRenderer, ZipRenderer]

    @extend_schema(
        tags=EXPORTS_TAG,
        summary="Download a finished export's zip",
        description="Streams the zip (compare its sha256 with the job's `sha256`). Every "
        "download is recorded in the audit trail (`export.downloaded`).",
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **_errors(401, 403, 404, 409)},
    )
    def get(self, request: Request, job_id: int) -> FileResponse:
        job = visible_job(request, job_id, "download")
        if not may_download(request.user, job):
            record_denial(api_context(request), f"download export #{job.pk}")
            raise PermissionDenied("Your export rights no longer cover every site in this export.")
        path = job_file(job)
        if path is None:
            raise NotFinished(f"Export #{job.pk} has no file to download (status: {job.status}).")
        record_download(api_context(request), job)
        return file_response(job, path)
