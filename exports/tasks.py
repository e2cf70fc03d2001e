"""Export jobs run by Celery: `run_export(job_id)` and the sweeper that re-sends lost jobs.

The task takes only the job's id and is safe to deliver any number of times: it first claims the
job (`exports.services.claim_job`, one conditional UPDATE) and does nothing unless the claim
succeeds. It acknowledges late, so a worker killed mid-export leaves its message with the broker;
since Redis hands an unacknowledged message out again only after its visibility timeout (an
hour), the sweeper (Celery beat, every GDSI_EXPORT_SWEEP_SECONDS) re-sends jobs whose worker
went silent for GDSI_EXPORT_STALE_SECONDS, and queued jobs whose message was lost (Redis
restarted without saving).

Each attempt writes its own file, `export_<id>.attempt<n>.zip` (the writer builds it under a
`.partial` name and renames it when complete), and only the attempt that still holds the claim
renames it to `export_<id>.zip`, in the transaction that marks the job done. A worker that lost
its claim to another therefore never replaces the finished file, and the job's row and file
become visible together.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from casereports.audit import TASK, AuditContext, system_context
from casereports.services.dictionaries import dictionary_of
from exports import feeds, queries, services
from exports.delivery import deliver_after_commit
from exports.federated.result import ResultError
from exports.models import ExportJob, FeedJob, Job
from exports.profiles import profile_named
from exports.writer import write_export
from gdsi.celery import app

logger = logging.getLogger(__name__)

# Failures worth another try: the database or the disk briefly unavailable.
TRANSIENT = (OperationalError, InterfaceError, OSError)
PROGRESS_ROWS = 1000  # rows read between two progress updates (each one UPDATE)
MAX_RETRIES = 5


class ClaimLost(Exception):
    """The job was cancelled or re-claimed by another worker: stop and leave it alone."""


@app.task(
    bind=True,
    name="exports.run_export",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def run_export(self, job_id: int) -> str:
    """Produce the job's zip; returns what happened (done, failed, skipped, lost)."""
    return run_claimed(self, job_id, ExportJob, export_job, services.mark_failed, readable_error)


def run_claimed(
    task,
    job_id: int,
    model: type[Job],
    work: Callable[[Any, AuditContext], None],
    mark_failed: Callable[[AuditContext, int, int, str], bool],
    readable: Callable[[BaseException], str],
) -> str:
    """Claim the job and do its `work`: what every job task does (exports, feeds)."""
    job = services.claim_job(job_id, model)
    if job is None:
        return "skipped"  # finished, cancelled, or held by a live worker
    context = system_context(TASK)
    attempt = job.attempts
    try:
        work(job, context)
    except ClaimLost:
        return "lost"
    except TRANSIENT as error:
        _log_failure(job, attempt, error)
        if task.request.retries >= task.max_retries:
            _quietly(job.pk, mark_failed, context, job.pk, attempt, readable(error))
        else:
            _quietly(job.pk, services.release_job, job.pk, attempt, model)
        raise  # autoretry_for sends it again, with backoff, until max_retries
    except Exception as error:
        _log_failure(job, attempt, error)
        _quietly(job.pk, mark_failed, context, job.pk, attempt, readable(error))
        return "failed"
    return "done"


def export_job(job: ExportJob, context: AuditContext) -> None:
    """Write the job's zip and mark it done; raises ClaimLost when another took it over."""
    directory = job_directory(job.pk)
    clear_directory(directory)  # whatever a dead attempt left behind
    directory.mkdir(parents=True, exist_ok=True)
    produced = directory / f"export_{job.pk}.attempt{job.attempts}.zip"
    final = directory / f"export_{job.pk}.zip"
    progress = Progress(job.pk, job.attempts, separate=queries.snapshot_is_separate())
    try:
        with queries.read_snapshot():
            progress.start(queries.count_rows(job))
            result = write_export(
                dictionary=dictionary_of(job.dictionary_version),
                dictionary_csv=job.dictionary_version.dictionary_csv,
                profile=profile_named(job.profile),
                key=settings.GDSI_EXPORT_KEY.encode(),
                records=progress.counting(queries.records_of(job, stream=progress.separate)),
                out_path=produced,
                manifest_fields=manifest_fields(job),
                on_progress=progress.written,
            )
        progress.close()
        with transaction.atomic():
            if not services.mark_done(
                context,
                job.pk,
                job.attempts,
                file_path=final.relative_to(export_root()).as_posix(),
                rows_done=progress.rows_written,
                result=result,
            ):
                raise ClaimLost
            os.replace(produced, final)  # a failure here rolls the job's "done" back
            deliver_after_commit(job)  # a scheduled export's push delivery, once committed
    except BaseException:
        produced.unlink(missing_ok=True)
        raise
    finally:
        progress.close()


def manifest_fields(job: ExportJob) -> dict[str, Any]:
    version = job.dictionary_version
    return {
        "job_id": job.pk,
        "filters": job.filters,
        "dictionary_version": {"name": version.name, "content_hash": version.content_hash},
        "quality_status_counts": queries.quality_status_counts(job),
    }


def export_root() -> Path:
    return Path(settings.GDSI_EXPORT_DIR)


def job_directory(job_id: int) -> Path:
    return export_root() / str(job_id)


def clear_directory(directory: Path) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


class Progress:
    """Rows done and the heartbeat, written every PROGRESS_ROWS rows read (one UPDATE).

    On PostgreSQL the rows are read inside a long read-only transaction, where an UPDATE would
    stay invisible until the end; so the updates go through a second connection, owned by a
    one-thread executor (Django gives each thread its own connection). Inside a caller's
    transaction (tests) or on SQLite they run on the task's own connection."""

    def __init__(
        self, job_id: int, attempt: int, *, separate: bool, model: type[Job] = ExportJob
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.model = model
        self.rows_written = 0
        self._read_since_update = 0
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix=f"export-{job_id}") if separate else None
        )
        self.separate = separate  # the task's own connection is free while rows are read

    def start(self, rows_total: int) -> None:
        self._require(
            self._call(services.set_total, self.job_id, self.attempt, rows_total, self.model)
        )

    def counting(self, records: queries.CaseRecords) -> _Counted:
        """`records`, read either way (as dicts or as rows), with every one read counted."""
        return _Counted(records, self._count)

    def _count(self, records: Iterator[Any]) -> Iterator[Any]:
        for record in records:
            self._read_since_update += 1
            if self._read_since_update >= PROGRESS_ROWS:
                self.update()
            yield record

    def written(self, rows: int) -> None:
        """The writer's count of rows written (every few hundred rows, and at the end)."""
        self.rows_written = rows

    def update(self) -> None:
        self._read_since_update = 0
        self._require(
            self._call(
                services.mark_progress, self.job_id, self.attempt, self.rows_written, self.model
            )
        )

    def _require(self, held: bool) -> None:
        if not held:
            raise ClaimLost

    @contextmanager
    def beating(self) -> Iterator[None]:
        """A heartbeat every quarter of the stale period while the block runs, for work that
        reports no progress for longer than that (one long query): without it the sweeper
        would take the job for lost and start it again, and again. Raises ClaimLost after the
        block when the claim was lost meanwhile. On the task's own connection (SQLite, a
        caller's transaction) nothing beats: the connection is busy with the work."""
        if self._executor is None:
            yield
            return
        stop = threading.Event()
        lost = threading.Event()
        interval = max(settings.GDSI_EXPORT_STALE_SECONDS / 4, 0.1)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    held = self._call(
                        services.mark_progress,
                        self.job_id,
                        self.attempt,
                        self.rows_written,
                        self.model,
                    )
                except DatabaseError:
                    logger.warning("job %s: a heartbeat could not be written", self.job_id)
                    continue
                if not held:
                    lost.set()
                    return

        beater = threading.Thread(target=beat, name=f"heartbeat-{self.job_id}", daemon=True)
        beater.start()
        try:
            yield
        finally:
            stop.set()
            beater.join()
        if lost.is_set():
            raise ClaimLost

    def _call(self, function: Callable[..., bool], *args: Any) -> bool:
        if self._executor is None:
            return function(*args)
        return self._executor.submit(function, *args).result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.submit(connections.close_all).result()
            self._executor.shutdown()
            self._executor = None


class _Counted:
    """Records (`queries.CaseRecords`) whose every read goes through `count`."""

    def __init__(
        self, records: queries.CaseRecords, count: Callable[[Iterator[Any]], Iterator[Any]]
    ) -> None:
        self._records = records
        self._count = count

    def __call__(self) -> Iterator[dict[str, Any]]:
        return self._count(self._records())

    def rows(self, keys: Sequence[str | None]) -> Iterator[list[str]]:
        return self._count(self._records.rows(keys))


def readable_error(error: BaseException, what: str = "export") -> str:
    """What the job page says: never the exception's text, which may quote a value."""
    if isinstance(error, OSError) and error.errno:
        return f"The {what} file could not be written: {os.strerror(error.errno)}."
    if isinstance(error, DatabaseError):
        return f"The database was unavailable while the {what} ran."
    return f"The {what} failed ({type(error).__name__}); the worker's log has the details."


def _log_failure(job: Job, attempt: int, error: BaseException) -> None:
    # The frames only: an exception's message may quote a case's value.
    frames = "".join(traceback.format_tb(error.__traceback__))
    logger.error("%s attempt %s: %s\n%s", job, attempt, type(error).__name__, frames)


def _quietly(job_id: int, function: Callable[..., Any], *args: Any) -> None:
    """A write after a failure: if the database is what failed, the sweeper deals with it."""
    try:
        function(*args)
    except DatabaseError:
        logger.warning("job %s: could not record the failure", job_id)


@app.task(name="exports.sweep_stale_exports", ignore_result=True)
def sweep_stale_exports() -> list[int]:
    """Re-send the task of every job that may have lost its worker or its message."""
    resent = services.jobs_to_resend()
    for job_id in resent:
        run_export.delay(job_id)
    if resent:
        logger.warning("export sweeper re-sent %s job(s): %s", len(resent), resent)
    feeds_resent = services.jobs_to_resend(FeedJob)
    for job_id in feeds_resent:
        run_feed.delay(job_id)
    if feeds_resent:
        logger.warning("export sweeper re-sent %s feed job(s): %s", len(feeds_resent), feeds_resent)
    return resent


# --- feeds (exports.feeds) ------------------------------------------------------------------


@app.task(
    bind=True,
    name="exports.run_feed",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def run_feed(self, job_id: int) -> str:
    """Pool the platform's tables and the accepted uploads into the feed job's zip."""
    return run_claimed(self, job_id, FeedJob, feed_job, feeds.mark_feed_failed, readable_feed_error)


def feed_job(job: FeedJob, context: AuditContext) -> None:
    """Write the feed's zip (under the attempt's name, renamed once done) and mark it done."""
    directory = export_root() / "feeds" / str(job.pk)
    clear_directory(directory)  # whatever a dead attempt left behind
    directory.mkdir(parents=True, exist_ok=True)
    produced = directory / f"feed_{job.pk}.attempt{job.attempts}.zip"
    final = directory / f"feed_{job.pk}.zip"

    progress = Progress(
        job.pk, job.attempts, separate=queries.snapshot_is_separate(), model=FeedJob
    )

    def heartbeat(records: int) -> None:
        progress.written(records)
        progress.update()

    try:
        progress.start(feeds.feed_rows_total(job))
        with progress.beating():  # the platform's tables are one long query per report source
            result = feeds.write_feed(job, produced, heartbeat)
        with transaction.atomic():
            relative = final.relative_to(export_root()).as_posix()
            if not feeds.mark_feed_done(
                context, job.pk, job.attempts, file_path=relative, result=result
            ):
                raise ClaimLost
            os.replace(produced, final)  # a failure here rolls the job's "done" back
    except BaseException:
        produced.unlink(missing_ok=True)
        raise
    finally:
        progress.close()


def readable_feed_error(error: BaseException) -> str:
    if isinstance(error, feeds.FeedInputChanged):
        return str(error)  # names an upload by number, no value
    if isinstance(error, ResultError):
        return "A stored upload could not be read back; ask its registry to upload it again."
    return readable_error(error, "feed")
