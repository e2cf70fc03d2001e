"""Who may fetch an export's file, expiring signed links to it, and the file response itself.

A download link is `/exports/<id>/file/<token>/`, where the token is a `TimestampSigner`
signature (salted for this purpose only) over the job id AND the user id, valid for
`GDSI_DOWNLOAD_LINK_SECONDS`. A link is useless to anyone but the user it was made for, and the
file view checks that user's rights again, so a right withdrawn after the link was made counts.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils.cache import add_never_cache_headers

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.roles import ADMINISTER, EXPORT_DATA
from exports.models import ExportJob, Job, JobStatus

LINK_SALT = "exports.download-link"


class LinkRefused(Exception):
    """A download link that is expired, altered, or made for another job or user."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # for the audit trail: expired | invalid | other_user


def may_export(user) -> bool:
    return access.has_permission(user, EXPORT_DATA)


def sees_all_jobs(user) -> bool:
    """Administrators see and fetch every export; everyone else only their own."""
    return may_export(user) and access.has_permission(user, ADMINISTER)


def jobs_of(user) -> QuerySet[ExportJob]:
    """The export jobs the user may see: their own, or every job for an administrator."""
    jobs = ExportJob.objects.select_related("requested_by")
    if not may_export(user):
        return jobs.none()
    if sees_all_jobs(user):
        return jobs
    return jobs.filter(requested_by=user)


def may_download(user, job: ExportJob) -> bool:
    """The requester or an administrator, holding the export right now for every site in the
    job (a right withdrawn since the job was made withdraws the file too)."""
    if not may_export(user):
        return False
    if job.requested_by_id != user.pk and not sees_all_jobs(user):
        return False
    job_sites = set(job.filters.get("sites") or [])
    return job_sites <= set(access.export_site_ids(user))


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def _binding(job: Job, user) -> str:
    # Other kinds of job (feeds) name their kind, so a link to export #3 never opens feed #3.
    kind = "" if isinstance(job, ExportJob) else f"{job._meta.model_name}:"
    return f"{kind}{job.pk}.{user.pk}"


def link_token(job: Job, user) -> str:
    return _signer().sign(_binding(job, user))


def check_link_token(token: str, job: Job, user) -> None:
    """Raise `LinkRefused` unless `token` was made for this job and user and is still fresh."""
    max_age = settings.GDSI_DOWNLOAD_LINK_SECONDS
    try:
        bound = _signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkRefused(
            "This download link has expired (links work for "
            f"{_duration(max_age)}). Go back to Exports and press Download again for a new one.",
            "expired",
        ) from None
    except signing.BadSignature:
        raise LinkRefused(
            "This download link is not valid (it was altered or cut short). Go back to Exports "
            "and press Download for a new one.",
            "invalid",
        ) from None
    if bound != _binding(job, user):
        raise LinkRefused(
            "This download link was made for another user or another export; it does not work "
            "for you. Go back to Exports and press Download for your own link.",
            "other_user",
        )


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def job_file(job: Job) -> Path | None:
    """The finished job's zip on disk, or None when it is not done or its file is gone."""
    if job.status != JobStatus.DONE or not job.file_path:
        return None
    root = Path(settings.GDSI_EXPORT_DIR).resolve()
    path = (root / job.file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def download_name(job: ExportJob) -> str:
    return f"gdsi-export-{job.pk}-{job.profile}.zip"


def record_download(context: AuditContext, job: ExportJob) -> None:
    """`export.downloaded`: who (the context's user), which job, when; committed at once, so it
    is on record before the first byte leaves."""
    with transaction.atomic():
        record_event(
            context,
            "export.downloaded",
            details={
                "job": job.pk,
                "profile": job.profile,
                "sha256": job.sha256,
                "file_size": job.file_size,
            },
        )


def file_response(job: Job, path: Path, filename: str | None = None) -> FileResponse:
    """The zip as an attachment that no browser sniffs or cache keeps."""
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=filename or download_name(job),
        content_type="application/zip",
    )
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response
