"""The federated uploads API (/api/v1/federated/uploads/): a registry's count tables, with a
token bound to its site (`manage.py create_api_token USER --name ... --site CODE`). POST
uploads a result zip; GET lists the uploads of the sites the token uploads for, so a registry
can check what the platform pools (the accepted one of each report source) and what it replaced.

Same authentication and error shape as the rest of the API (`casereports.api`). The upload is
checked and stored by `exports.feeds.upload_result`, which decides the rights through
`casereports.access` (a site-bound token uploads for its own site only) and records refusals.
A zip that is refused answers 422 `invalid` with the precise reason in `message` (and under
`errors.file`); nothing is stored.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from casereports import access
from casereports.api import authentication  # noqa: F401 - registers the token scheme
from casereports.api.errors import error_body
from casereports.api.serializers import ErrorSerializer
from casereports.audit import context_for
from casereports.models import REPORT_SOURCES, Site
from casereports.services.cases import NotAllowed, record_denial
from exports import feeds
from exports.models import FederatedUpload

FEDERATED_TAG = ["federated"]


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The result zip that `gdsi-federated run` wrote.")
    site = serializers.CharField(
        required=False,
        help_text="Site code. Optional with a site-bound token (it is the token's site) or "
        "when you upload for one site only.",
    )
    report_source = serializers.ChoiceField(
        choices=REPORT_SOURCES,
        required=False,
        help_text="Checked against the zip, which holds the tables of one report source.",
    )


class ReplacedSerializer(serializers.ModelSerializer):
    class Meta:
        model = FederatedUpload
        fields = ["id", "uploaded_at", "rows_total", "sha256"]


class UploadSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None, read_only=True)

    class Meta:
        model = FederatedUpload
        fields = [
            "id",
            "site",
            "report_source",
            "uploaded_by",
            "uploaded_at",
            "rows_total",
            "sha256",
            "file_size",
            "dictionary_hash",
            "status",
        ]


class UploadSummarySerializer(serializers.Serializer):
    upload = UploadSerializer()
    tables = serializers.IntegerField(help_text="Tables stored (63 per report source)")
    replaced = ReplacedSerializer(
        allow_null=True, help_text="The site's previous upload of this report source, if any"
    )


def summary_data(summary: feeds.UploadSummary) -> dict[str, Any]:
    return UploadSummarySerializer(
        {"upload": summary.upload, "tables": summary.tables, "replaced": summary.replaced}
    ).data


class FederatedUploadView(generics.ListAPIView):
    parser_classes = [parsers.MultiPartParser]
    serializer_class = UploadSerializer

    def get_queryset(self):
        return feeds.uploads_of(self.request.user, self.request.auth).order_by(
            "-uploaded_at", "-pk"
        )

    @extend_schema(
        tags=FEDERATED_TAG,
        summary="List your registry's uploads",
        description="The uploads of the sites you upload for (one, with a site-bound token), "
        "newest first, 50 a page: `status` is `accepted` for the one pooled per site and report "
        "source, `replaced` for those a later upload replaced.",
        responses={
            200: UploadSerializer(many=True),
            401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown token"),
            403: OpenApiResponse(ErrorSerializer, "Not a registry uploader"),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.upload_sites(request.user, request.auth).exists():
            record_denial(context_for(request, channel="api"), "count table upload list")
            raise NotAllowed("Only registry uploaders can list count table uploads.")
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=FEDERATED_TAG,
        summary="Upload a registry's count tables",
        description="Multipart form with `file` (the result zip). It is checked (manifest "
        "hashes, a dictionary version the platform knows, the exact table set and columns, "
        "whole counts >= 0, totals consistent across tables) and stored; it replaces the "
        "site's previous upload of the same report source. Recorded as `federated.uploaded`, "
        "a refusal as `federated.refused`.",
        request={"multipart/form-data": UploadRequestSerializer},
        responses={
            201: UploadSummarySerializer,
            400: OpenApiResponse(ErrorSerializer, "No file, or a malformed field"),
            401: OpenApiResponse(ErrorSerializer, "No credentials, or an unknown token"),
            403: OpenApiResponse(ErrorSerializer, "Not a registry uploader of that site"),
            404: OpenApiResponse(ErrorSerializer, "No site of that code"),
            422: OpenApiResponse(ErrorSerializer, "`invalid`: the zip was refused (message)"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = UploadRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        context = context_for(request, channel="api")
        site = self._site(request, data.get("site"))
        try:
            summary = feeds.upload_result(
                context, site, data["file"], data.get("report_source"), token=request.auth
            )
        except feeds.UploadRefused as refused:
            body = error_body("invalid", refused.message, {"file": [refused.message]})
            return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(summary_data(summary), status=status.HTTP_201_CREATED)

    def _site(self, request: Request, code: str | None) -> Site:
        if code:
            site = Site.objects.filter(code=code).first()
            if site is None:
                raise NotFound(f"There is no site with the code {code!r}.")
            return site
        bound = getattr(request.auth, "site", None)
        if bound is not None:
            return bound
        sites = list(access.upload_sites(request.user, request.auth)[:2])
        if len(sites) == 1:
            return sites[0]
        if not sites:
            record_denial(context_for(request, channel="api"), "upload count tables")
            raise NotAllowed("You cannot upload count tables.")
        raise ValidationError({"site": ["You upload for several sites: name one."]})
