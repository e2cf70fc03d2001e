"""The row imports API (/api/v1/imports/): a registry's de-identified export, with a token
bound to its site (`manage.py create_api_token USER --name ... --site CODE`).

    POST /api/v1/imports/                 upload (multipart): 202 with the queued job
    GET  /api/v1/imports/                 the uploads of the sites you import into
    GET  /api/v1/imports/{id}/            status, counts and the report
    POST /api/v1/imports/{id}/commit/     the second, explicit step: 202
    GET  /api/v1/imports/{id}/files/{refused|problems|quality}.csv
    POST /api/v1/imports/mappings/        save a mapping (a new version when it changed)

Same authentication and error shape as the rest of the API; rights through
`casereports.access` (a site-bound token imports into its own site only). A job of another
site answers 404, as one that does not exist does.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casereports import access
from casereports.api import authentication  # noqa: F401 - registers the token scheme
from casereports.api.serializers import ErrorSerializer
from casereports.audit import context_for
from casereports.imports import services
from casereports.imports.models import ImportMapping, RowImport
from casereports.imports.views import DOWNLOADS
from casereports.models import REPORT_SOURCES, Site
from casereports.services.cases import NotAllowed, record_denial

IMPORTS_TAG = ["imports"]
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "A malformed field (named in `errors`)"),
    401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown or revoked token"),
    403: OpenApiResponse(ErrorSerializer, "You do not import rows for that site (audited)"),
    404: OpenApiResponse(ErrorSerializer, "No such import or site, or one you may not see"),
    409: OpenApiResponse(ErrorSerializer, "`refused`: the import is not in a state for this"),
    422: OpenApiResponse(ErrorSerializer, "`invalid`: the file or an option was refused"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The registry's export (CSV), as it comes.")
    site = serializers.CharField(
        required=False,
        help_text="Site code; optional with a site-bound token or when you import for one site.",
    )
    report_source = serializers.ChoiceField(choices=REPORT_SOURCES)
    delimiter = serializers.ChoiceField(
        choices=["", ",", ";", "tab"], required=False, default="",
        help_text="Empty: found from the header.",
    )  # fmt: skip
    date_format = serializers.ChoiceField(
        choices=list(services.DATE_CHOICES), required=False, default="auto",
        help_text="auto: ISO dates, and the order the file's other dates show.",
    )  # fmt: skip
    encoding = serializers.CharField(required=False, default="", allow_blank=True, max_length=40)
    mapping = serializers.IntegerField(
        required=False, help_text="Id of one of the site's saved mappings (a version)."
    )
    blank_overwrites = serializers.BooleanField(
        required=False, default=False,
        help_text="true: blank cells clear stored values (default: they are ignored).",
    )  # fmt: skip


class ImportSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, read_only=True
    )
    mapping = serializers.SerializerMethodField()

    class Meta:
        model = RowImport
        fields = [
            "id",
            "site",
            "report_source",
            "channel",
            "status",
            "commit_requested",
            "original_name",
            "file_size",
            "sha256",
            "options",
            "mapping",
            "requested_by",
            "created_at",
            "validated_at",
            "committed_at",
            "rows_done",
            "counts",
            "error",
        ]

    def get_mapping(self, job: RowImport) -> dict[str, Any] | None:
        if job.mapping_id is None:
            return None
        return {"id": job.mapping_id, "name": job.mapping.name, "version": job.mapping.version}


class ImportDetailSerializer(ImportSerializer):
    class Meta(ImportSerializer.Meta):
        fields = [*ImportSerializer.Meta.fields, "report"]


class MappingRequestSerializer(serializers.Serializer):
    site = serializers.CharField(required=False)
    name = serializers.CharField(max_length=100)
    text = serializers.CharField(help_text="The mapping file's text (TOML or JSON).")


class MappingSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = ImportMapping
        fields = ["id", "site", "name", "version", "fingerprint", "canonical", "created_at"]


def _api_context(request: Request):
    return context_for(request, channel="api")


def _site(request: Request, code: str | None) -> Site:
    """The site named, or the only one the caller imports into."""
    sites = access.import_sites(request.user, request.auth)
    if code:
        site = Site.objects.filter(code=code).first()
        if site is None:
            raise NotFound("No site has that code.")
        return site
    if sites.count() == 1:
        return sites.get()
    if not sites.exists():
        record_denial(_api_context(request), "import rows")
        raise NotAllowed("You do not import rows for any site.")
    raise serializers.ValidationError({"site": ["Name the site: you import for several."]})


def _visible(request: Request, job_id: int, what: str) -> RowImport:
    job = (
        access.visible_imports(request.user, token=request.auth)
        .select_related("site", "mapping", "requested_by")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        real = RowImport.objects.filter(pk=job_id).select_related("site").first()
        record_denial(
            _api_context(request), f"{what} import #{job_id}", site=real.site if real else None
        )
        raise NotFound("No such import.")
    return job


class ImportListView(generics.ListAPIView):
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]
    serializer_class = ImportSerializer

    def get_queryset(self):
        return (
            access.visible_imports(self.request.user, token=self.request.auth)
            .select_related("site", "mapping", "requested_by")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(
        tags=IMPORTS_TAG,
        summary="List your registry's imports",
        description="The imports of the sites you import rows into (one, with a site-bound "
        "token), newest first, 50 a page.",
        responses={200: ImportSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.import_sites(request.user, request.auth).exists():
            record_denial(_api_context(request), "import list")
            raise NotAllowed("Only registry data managers can list imports.")
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=IMPORTS_TAG,
        summary="Upload a registry's export",
        description="Multipart form with `file` and `report_source`. The file is stored as it "
        "came and checked by a worker: poll the import until `status` is `ready` (its `report` "
        "says what committing will do) or `failed` (`error` says why). Nothing is written to "
        "any record until you commit. Recorded as `import.uploaded`.",
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: ImportSerializer, **_errors(400, 401, 403, 404, 422)},
    )
    def post(self, request: Request) -> Response:
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        site = _site(request, data.get("site"))
        mapping = None
        if data.get("mapping") is not None:
            mapping = ImportMapping.objects.filter(pk=data["mapping"], site=site).first()
            if mapping is None:
                raise serializers.ValidationError(
                    {"mapping": ["No mapping of that id at this site."]}
                )
        job = services.start_import(
            _api_context(request),
            site=site,
            upload=data["file"],
            original_name=data["file"].name,
            report_source=data["report_source"],
            channel="api",
            delimiter=data["delimiter"],
            date_format=data["date_format"],
            encoding=data["encoding"],
            blank_overwrites=data["blank_overwrites"],
            mapping=mapping,
            token=request.auth,
        )
        job.refresh_from_db()
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(APIView):
    @extend_schema(
        tags=IMPORTS_TAG,
        summary="An import: status, counts and report",
        description="`report` holds the file as read (delimiter, dates, columns ignored and "
        "missing), the values read as meant per column, advice, quality-rule failures per "
        "rule, the first 50 changed records (field, old, new), new and refused records, and "
        "the records no longer in the file. Viewing it is recorded (`import.viewed`).",
        responses={200: ImportDetailSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = _visible(request, job_id, "view")
        services.record_report_view(_api_context(request), job)
        return Response(ImportDetailSerializer(job).data)


class ImportCommitView(APIView):
    @extend_schema(
        tags=IMPORTS_TAG,
        summary="Commit an import's report",
        description="Writes the report's new and changed records in one transaction (or none: "
        "when the site's records changed since the report, the import fails with a message "
        "and nothing is written; check it again). Answers 202; poll until `done`.",
        request=None,
        responses={202: ImportSerializer, **_errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = _visible(request, job_id, "commit")
        job = services.request_commit(_api_context(request), job, token=request.auth)
        job.refresh_from_db()
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportFileView(APIView):
    @extend_schema(
        tags=IMPORTS_TAG,
        summary="Download a report file",
        description="`refused`: the refused rows exactly as uploaded (fix and upload again); "
        "`problems`: Line, Record, Column, Field, Value, Error; `quality`: PASS/FAIL per "
        "record with the blanked variables. Recorded as `import.downloaded`.",
        responses={(200, "text/csv"): bytes, **_errors(401, 404)},
    )
    def get(self, request: Request, job_id: int, kind: str) -> FileResponse:
        job = _visible(request, job_id, f"download {kind} of")
        if kind not in DOWNLOADS:
            raise NotFound("No such file: refused, problems or quality.")
        attribute, label = DOWNLOADS[kind]
        name = getattr(job, attribute)
        if not name or not default_storage.exists(name):
            raise NotFound("This file is not ready: wait until the import is ready.")
        services.record_download(_api_context(request), job, kind)
        return FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-{label}.csv",
            content_type="text/csv; charset=utf-8",
        )


class MappingView(APIView):
    parser_classes = [parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser]

    @extend_schema(
        tags=IMPORTS_TAG,
        summary="Save a mapping",
        description="A registry's column names, codes, units and date order, as a TOML or "
        "JSON text (docs/mapping.md). Saved as a new version when it differs from the latest "
        "of that name; the same text again returns the latest. Use its `id` as `mapping`.",
        request=MappingRequestSerializer,
        responses={201: MappingSerializer, **_errors(400, 401, 403, 404, 422)},
    )
    def post(self, request: Request) -> Response:
        serializer = MappingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        site = _site(request, data.get("site"))
        mapping = services.save_mapping(
            _api_context(request), site, name=data["name"], text=data["text"], token=request.auth
        )
        return Response(MappingSerializer(mapping).data, status=status.HTTP_201_CREATED)
