"""Every change to an export job: one function each, with its audit event.

`request_export` and `cancel_export` are what people (web, API, schedules) call. The `claim_job`
and `mark_*` functions are the task's (`exports.tasks.run_export`): each is one conditional
UPDATE, so two deliveries of the same job, or a worker that lost its claim, can never both win.

`attempts` is the claim: a worker that claims a job raises it by one and every later write of
that worker names it, so once another worker has re-claimed the job (after the first one went
silent for GDSI_EXPORT_STALE_SECONDS) the first one's writes change nothing.

For a *queued* job, `heartbeat_at` records when its task message was last sent, so the sweeper
re-sends a lost message once per stale period rather than every minute.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.models import REPORT_SOURCES, CaseStatus, DictionaryVersion, Site
from casereports.roles import EXPORT_DATA
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from exports.models import ExportJob, Job, JobStatus, ScheduledExport
from exports.profiles import PROFILES

ALL_SOURCES = [code for code, _ in REPORT_SOURCES]
ALL_STATUSES = [code for code, _ in CaseStatus.choices]
# Drafts are unfinished reports; an export carries what sites have submitted unless asked.
DEFAULT_STATUSES = [CaseStatus.SUBMITTED.value, CaseStatus.LOCKED.value]
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ERROR_LIMIT = 500


class InvalidExportRequest(CaseServiceError):
    """A filter that cannot be used; `errors` names the field, as the API's error shape does."""

    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.errors = {field: [message]}


class ExportFinished(CaseServiceError):
    code = "conflict"


def request_export(
    context: AuditContext,
    *,
    profile: str,
    sites: list[Site | int] | None = None,
    report_sources: list[str] | None = None,
    statuses: list[str] | None = None,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    scheduled: ScheduledExport | None = None,
) -> ExportJob:
    """A queued export job; its task is sent once the job is committed.

    `sites` None (or empty) means every site the requester may export."""
    user = context.user
    if not access.has_permission(user, EXPORT_DATA):
        record_denial(context, "export")
        raise NotAllowed("You cannot export data.")
    filters = _valid_filters(report_sources, statuses, date_from, date_to)
    if profile not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise InvalidExportRequest("profile", f"'{profile}' is not a profile (known: {known})")
    filters = {"sites": _export_sites(context, sites), **filters}
    version = DictionaryVersion.objects.current()
    if version is None:
        raise CaseServiceError("No data dictionary is loaded; run load_dictionary first.")
    with transaction.atomic():
        job = ExportJob.objects.create(
            requested_by=user,
            profile=profile,
            filters=filters,
            dictionary_version=version,
            scheduled_export=scheduled,
            heartbeat_at=timezone.now(),  # queued: when its message was sent
        )
        record_event(
            context,
            "export.requested",
            details={"job": job.pk, "profile": profile, "filters": filters},
        )
        # robust: a broker that is down must not undo the request; the sweeper re-sends.
        transaction.on_commit(lambda: enqueue(job.pk), robust=True)
    return job


def enqueue(job_id: int) -> None:
    from exports.tasks import run_export

    run_export.delay(job_id)


def _export_sites(context: AuditContext, sites: list[Site | int] | None) -> list[int]:
    allowed = access.export_site_ids(context.user)
    if not sites:
        return allowed
    wanted = [site if isinstance(site, Site) else _site(site) for site in sites]
    for site in wanted:
        if site.pk not in allowed:
            record_denial(context, "export", site=site)
            raise NotAllowed(f"You cannot export the cases of site {site.code}.")
    return sorted({site.pk for site in wanted})


def _site(site_id: int) -> Site:
    site = Site.objects.filter(pk=site_id).first()
    if site is None:
        raise InvalidExportRequest("sites", f"there is no site with id {site_id}")
    return site


def _valid_filters(
    report_sources: list[str] | None,
    statuses: list[str] | None,
    date_from: date | str | None,
    date_to: date | str | None,
) -> dict[str, Any]:
    filters = {
        "report_sources": _choices("report_sources", report_sources, ALL_SOURCES, ALL_SOURCES),
        "statuses": _choices("statuses", statuses, ALL_STATUSES, DEFAULT_STATUSES),
        "date_from": _iso_date("date_from", date_from),
        "date_to": _iso_date("date_to", date_to),
    }
    if filters["date_from"] and filters["date_to"] and filters["date_to"] < filters["date_from"]:
        raise InvalidExportRequest("date_to", "is before date_from")
    return filters


def _choices(field: str, given: list[str] | None, known: list[str], default: list[str]):
    if not given:
        return list(default)
    unknown = [value for value in given if value not in known]
    if unknown:
        raise InvalidExportRequest(field, f"'{unknown[0]}' is not one of {', '.join(known)}")
    return [value for value in known if value in given]


def _iso_date(field: str, value: date | str | None) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidExportRequest(field, f"'{text}' is not a date (YYYY-MM-DD)") from None


def cancel_export(context: AuditContext, job: ExportJob) -> ExportJob:
    """Stop a queued or running job. A running worker notices at its next progress update and
    removes what it was writing."""
    if not _may_manage(context.user, job):
        record_denial(context, f"cancel export {job.pk}")
        raise NotAllowed("You cannot cancel this export.")
    with transaction.atomic():
        changed = ExportJob.objects.filter(
            pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        if not changed:
            raise ExportFinished("This export has already finished.")
        record_event(context, "export.cancelled", details={"job": job.pk})
    job.refresh_from_db()
    return job


def _may_manage(user, job: ExportJob) -> bool:
    if not access.has_permission(user, EXPORT_DATA):
        return False
    if job.requested_by_id is not None and job.requested_by_id == getattr(user, "pk", None):
        return True
    return set(job.filters.get("sites") or []) <= set(access.export_site_ids(user))


# The task's writes. Each takes the claim (`attempt`) and changes nothing once it is lost.
# They serve every kind of job row (`exports.models.Job`: export jobs, feed jobs): `model`.


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.GDSI_EXPORT_STALE_SECONDS)


def claim_job(job_id: int, model: type[Job] = ExportJob) -> Job | None:
    """queued -> running, or a running job whose worker went silent -> running again (a new
    attempt). None when the job is finished, cancelled, or another worker holds it."""
    job = model.objects.filter(pk=job_id).first()
    if job is None:
        return None
    claimable = Q(status=JobStatus.QUEUED) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before()
    )
    now = timezone.now()
    claimed = model.objects.filter(claimable, pk=job_id, attempts=job.attempts).update(
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        started_at=now,
        heartbeat_at=now,
        rows_done=0,
        error="",
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


def set_total(job_id: int, attempt: int, rows_total: int, model: type[Job] = ExportJob) -> bool:
    held = held_job(job_id, attempt, model)
    return held.update(rows_total=rows_total, heartbeat_at=timezone.now()) == 1


def mark_progress(job_id: int, attempt: int, rows_done: int, model: type[Job] = ExportJob) -> bool:
    """The worker's sign of life: rows written so far (one UPDATE). False when the claim is
    lost (cancelled, or re-claimed by another worker)."""
    held = held_job(job_id, attempt, model)
    return held.update(rows_done=rows_done, heartbeat_at=timezone.now()) == 1


def release_job(job_id: int, attempt: int, model: type[Job] = ExportJob) -> bool:
    """running -> queued, for a retry after a transient failure (the retry claims it again)."""
    held = held_job(job_id, attempt, model)
    return held.update(status=JobStatus.QUEUED, heartbeat_at=timezone.now()) == 1


def held_job(job_id: int, attempt: int, model: type[Job] = ExportJob):
    """The job, as a queryset, while attempt `attempt` still holds its claim (else empty)."""
    return model.objects.filter(pk=job_id, status=JobStatus.RUNNING, attempts=attempt)


def mark_done(
    context: AuditContext,
    job_id: int,
    attempt: int,
    *,
    file_path: str,
    rows_done: int,
    result: Any,
) -> bool:
    """running -> done with the file's figures; audited `export.finished`. False (and nothing
    written) when the claim is lost. Call it inside a transaction that also publishes the file,
    so the job and its file become visible together."""
    with transaction.atomic():
        finished = held_job(job_id, attempt).update(
            status=JobStatus.DONE,
            rows_done=rows_done,
            row_counts=result.row_counts,
            file_path=file_path,
            file_size=result.size,
            sha256=result.sha256,
            manifest=result.manifest,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        if not finished:
            return False
        record_event(
            context,
            "export.finished",
            details={
                "job": job_id,
                "attempt": attempt,
                "row_counts": result.row_counts,
                "sha256": result.sha256,
                "size": result.size,
            },
        )
    return True


def mark_failed(context: AuditContext, job_id: int, attempt: int, error: str) -> bool:
    """running -> failed with a readable error (never personal data or a traceback); audited
    `export.failed`. False when the claim is lost."""
    error = error[:ERROR_LIMIT]
    with transaction.atomic():
        failed = held_job(job_id, attempt).update(
            status=JobStatus.FAILED, error=error, finished_at=timezone.now()
        )
        if not failed:
            return False
        record_event(
            context, "export.failed", details={"job": job_id, "attempt": attempt, "error": error}
        )
    return True


def jobs_to_resend(model: type[Job] = ExportJob) -> list[int]:
    """Jobs whose task message may be lost: running with a silent worker, or queued and not
    picked up for a stale period. Each is marked as sent now, so it is sent once a period."""
    stale_before = _stale_before()
    silent = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) & (
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, created_at__lt=stale_before)
    )
    resend = []
    for job_id, status, heartbeat in model.objects.filter(silent).values_list(
        "pk", "status", "heartbeat_at"
    ):
        # Running jobs keep their (stale) heartbeat, or the claim of a new worker would fail.
        if status == JobStatus.RUNNING or mark_resent(job_id, heartbeat, model):
            resend.append(job_id)
    return resend


def mark_resent(job_id: int, heartbeat, model: type[Job] = ExportJob) -> bool:
    """A queued job's message is sent again (not a status change: it stays queued)."""
    queued = model.objects.filter(pk=job_id, status=JobStatus.QUEUED, heartbeat_at=heartbeat)
    return queued.update(heartbeat_at=timezone.now()) == 1
