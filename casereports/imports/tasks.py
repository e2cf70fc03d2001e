"""The import's work, run by Celery: `run_import(job_id)` validates a queued upload or commits
one whose commit was asked for; the sweeper re-sends jobs whose worker went silent.

The task takes only the job's id and is safe to deliver any number of times: it claims the job
with one conditional UPDATE (the status it found and its attempt count), and does nothing when
the claim fails. A worker killed mid-commit leaves nothing behind (the commit is one
transaction, rolled back with its connection) and a job whose heartbeat stopped; the sweeper
sends it again and the next attempt starts from the stored file.
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from casereports.audit import TASK, AuditContext, record_event, system_context
from casereports.imports.models import ImportStatus, RowImport
from casereports.imports.passes import (
    ImportRefused,
    Progress,
    ReportOutdated,
    commit,
    refresh_statistics,
    validate,
)
from gdsi.celery import app

logger = logging.getLogger(__name__)
ERROR_LIMIT = 2000


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.GDSI_IMPORT_STALE_SECONDS)


def claim(job_id: int) -> RowImport | None:
    """queued -> validating, or ready with a commit asked for -> committing; a job whose
    worker went silent in either is taken again (a new attempt). None otherwise."""
    job = RowImport.objects.filter(pk=job_id).select_related("site").first()
    if job is None:
        return None
    silent = job.heartbeat_at is None or job.heartbeat_at < _stale_before()
    if job.status == ImportStatus.QUEUED or (job.status == ImportStatus.VALIDATING and silent):
        target = ImportStatus.VALIDATING
    elif (job.status == ImportStatus.READY and job.commit_requested) or (
        job.status == ImportStatus.COMMITTING and silent
    ):
        target = ImportStatus.COMMITTING
    else:
        return None
    now = timezone.now()
    claimed = RowImport.objects.filter(pk=job_id, status=job.status, attempts=job.attempts).update(
        status=target, attempts=job.attempts + 1, heartbeat_at=now, rows_done=0
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


@app.task(
    bind=True,
    name="casereports.run_import",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_import(self, job_id: int) -> str:
    return process(job_id)


def process(job_id: int) -> str:
    """Do what the job is waiting for; returns what happened."""
    job = claim(job_id)
    if job is None:
        return "skipped"
    context = _context_of(job)
    progress = Progress(job.pk, job.attempts)
    try:
        if job.status == ImportStatus.VALIDATING:
            _validated(job, context, validate(job, progress))
            return "ready"
        refresh_statistics(commit(job, context, progress))
        return "done"
    except ReportOutdated as error:
        _failed(job, context, str(error), commit_refused=True)
    except ImportRefused as error:
        _failed(job, context, f"The file was refused: {error}")
    except Exception as error:  # noqa: BLE001 - any failure ends as a readable status
        frames = "".join(traceback.format_tb(error.__traceback__))
        logger.error(
            "import %s attempt %s: %s\n%s", job.pk, job.attempts, type(error).__name__, frames
        )
        what = "commit" if job.status == ImportStatus.COMMITTING else "check"
        message = (
            f"The {what} failed unexpectedly ({type(error).__name__}); nothing was written to "
            "any record. Try again, or tell the central team."
        )
        _failed(job, context, message)
    return "failed"


def _context_of(job: RowImport) -> AuditContext:
    context = system_context(TASK)
    actor = job.committed_by if job.status == ImportStatus.COMMITTING else job.requested_by
    return AuditContext(user=actor, channel="import", request_id=context.request_id)


def _validated(job: RowImport, context: AuditContext, result: dict) -> None:
    updated = RowImport.objects.filter(
        pk=job.pk, status=ImportStatus.VALIDATING, attempts=job.attempts
    ).update(
        status=ImportStatus.READY,
        validated_at=timezone.now(),
        heartbeat_at=timezone.now(),
        rows_done=result["counts"]["rows_read"],
        commit_requested=False,
        **result,
    )
    if updated:
        record_event(
            context,
            "import.validated",
            site=job.site,
            details={"import": job.pk, "counts": result["counts"]},
        )


def _failed(
    job: RowImport, context: AuditContext, message: str, *, commit_refused: bool = False
) -> None:
    message = message[:ERROR_LIMIT]
    try:
        updated = RowImport.objects.filter(pk=job.pk, attempts=job.attempts).update(
            status=ImportStatus.FAILED, error=message, commit_requested=False
        )
        if updated:
            record_event(
                context,
                "import.commit_refused" if commit_refused else "import.failed",
                site=job.site,
                details={"import": job.pk, "error": message},
            )
    except DatabaseError:
        logger.warning("import %s: could not record the failure", job.pk)


def jobs_to_resend() -> list[int]:
    """Jobs waiting for a worker that went silent (or whose message was lost)."""
    stale = _stale_before()
    waiting = Q(
        status__in=[ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.COMMITTING]
    ) | Q(status=ImportStatus.READY, commit_requested=True)
    silent = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    ids = list(RowImport.objects.filter(waiting & silent).values_list("pk", flat=True))
    # Jobs no worker holds yet are marked as sent now, so each is sent once a period; a silent
    # worker's job keeps its stale heartbeat, or the next claim would not see it as silent.
    RowImport.objects.filter(
        pk__in=ids, status__in=[ImportStatus.QUEUED, ImportStatus.READY]
    ).update(heartbeat_at=timezone.now())
    return ids


@app.task(name="casereports.sweep_imports", ignore_result=True)
def sweep_imports() -> list[int]:
    resent = jobs_to_resend()
    for job_id in resent:
        run_import.delay(job_id)
    if resent:
        logger.warning("import sweeper re-sent %s job(s): %s", len(resent), resent)
    return resent
