"""Federated count tables on the platform: registries' uploads, and the pooled feed.

`upload_result` is what a registry uploader calls (web page or API): the result zip that
`gdsi-federated run` made is streamed to a temporary file, checked by
`exports.federated.result.read_result_zip` (manifest hashes, table set, headers, counts, totals)
and by what only the platform knows (the dictionary version, the uploader's site), then stored
under its upload's id; it replaces the site's previous accepted upload of the same report
source. Every refusal says precisely why and is on record (`federated.refused`), with nothing
stored.

`request_feed` queues a `FeedJob`; the task (`exports.tasks.run_feed`) calls `write_feed`,
which pools the platform's tables of both report sources (`exports.feedsql.platform_tables`,
one scan in the database) with every accepted upload (`exports.federated.pool`) and writes
the zip with `write_result_zip`: exact for the trusted central team, or the publication variant
with small cells suppressed (`exports.federated.suppress`). The claim, heartbeat and sweeper
are the export jobs' (`exports.services`), with `model=FeedJob`.

A feed covers the cases of the sites the requester may export when it is asked for (every site
for an administrator) and the uploads of those sites; the exact feed is fetched by its
requester or an administrator holding those rights still, the publication feed by anyone who
may see aggregates.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.models import REPORT_SOURCES, Case, DictionaryVersion, Site
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from exports import services
from exports.downloads import sees_all_jobs
from exports.federated.pool import Contribution, pool, pool_manifest_sources
from exports.federated.result import (
    ResultError,
    diagnosis_totals,
    read_result_zip,
    write_result_zip,
)
from exports.federated.run import CORRECTIONS, DEPARTURES
from exports.federated.suppress import SuppressionResult, suppress
from exports.federated.tables import TABLE_SPECS, CountTables, TableSpec
from exports.models import FederatedUpload, FeedJob, FeedVariant, JobStatus, UploadStatus

ALL_SOURCES = [code for code, _ in REPORT_SOURCES]
FEED_FORMAT = "gdsi-federated-feed"
PLATFORM_LABEL = "platform"
UPLOAD_LABEL_PREFIX = "R_"  # an upload's cells get the source `R_<site code>`
MAX_THRESHOLD = 1000
_CHUNK = 1 << 20


class UploadRefused(CaseServiceError):
    """The zip is not a result this platform accepts; `message` says precisely why."""

    code = "invalid"


@dataclass(frozen=True)
class UploadSummary:
    upload: FederatedUpload
    replaced: FederatedUpload | None
    tables: int  # tables stored (63 per report source)


def federated_root() -> Path:
    return Path(settings.GDSI_EXPORT_DIR) / "federated"


def upload_path(upload: FederatedUpload) -> Path:
    return Path(settings.GDSI_EXPORT_DIR) / upload.file_path


# --- uploads -------------------------------------------------------------------------------


def upload_result(
    context: AuditContext,
    site: Site,
    uploaded_file: IO[bytes],
    report_source: str | None = None,
    *,
    token=None,
) -> UploadSummary:
    """Check and store a registry's result zip for `site`; it replaces the site's previous
    accepted upload of the same report source. `token` is the API token the request came
    with (a site-bound token uploads for its own site only)."""
    if not access.can_upload_counts(context.user, site, token):
        record_denial(context, "upload count tables", site=site)
        raise NotAllowed(f"You cannot upload count tables for site {site.code}.")
    directory = federated_root() / str(site.pk)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".upload-{uuid.uuid4().hex}.partial"
    try:
        size, sha256 = _receive(uploaded_file, temporary, context, site)
        try:
            result = read_result_zip(temporary)
        except ResultError as error:
            raise _refused(context, site, f"The zip was refused: {error}.", size, sha256) from None
        problem = _source_problem(list(result.tables_by_source), report_source)
        if problem:
            raise _refused(context, site, problem, size, sha256)
        (source,) = result.tables_by_source
        dictionary_hash = str((result.manifest.get("dictionary") or {}).get("hash") or "")
        if not DictionaryVersion.objects.filter(content_hash=dictionary_hash).exists():
            message = (
                f"The tables were made with dictionary version {dictionary_hash[:12] or '(none)'}"
                ", which this platform does not know. Run the gdsi-federated command of the "
                "platform's current release on your data and upload its zip."
            )
            raise _refused(context, site, message, size, sha256)
        tables = result.tables_by_source[source]
        try:
            return _store(
                context,
                site,
                temporary,
                report_source=source,
                tables=tables,
                manifest=result.manifest,
                size=size,
                sha256=sha256,
                dictionary_hash=dictionary_hash,
            )
        except IntegrityError:  # the site's first upload of this source, twice at once
            message = (
                f"Another {source} upload for {site.code} was stored at the same moment; "
                "look at your uploads and upload again if this one is the newer."
            )
            raise _refused(context, site, message, size, sha256) from None
    finally:
        temporary.unlink(missing_ok=True)


def _receive(uploaded_file: IO[bytes], target: Path, context, site: Site) -> tuple[int, str]:
    """Copy the upload to `target` in chunks, refusing it past the size limit."""
    limit = settings.GDSI_FEDERATED_UPLOAD_MAX_BYTES
    digest, size = hashlib.sha256(), 0
    chunks = (
        uploaded_file.chunks(_CHUNK)
        if hasattr(uploaded_file, "chunks")
        else iter(lambda: uploaded_file.read(_CHUNK), b"")
    )
    with target.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                message = (
                    f"The file is larger than {limit // (1 << 20)} MB; a result zip of count "
                    "tables is far smaller. Upload the zip that gdsi-federated run wrote."
                )
                raise _refused(context, site, message, size, "")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise _refused(context, site, "The file is empty; choose the result zip.", 0, "")
    return size, digest.hexdigest()


def _source_problem(held: list[str], wanted: str | None) -> str:
    """Why the zip's report sources do not do (it must hold exactly one, the one chosen)."""
    if len(held) != 1:
        return (
            "The zip holds the tables of both report sources; upload the result of one run "
            "(one report source) at a time."
        )
    if wanted and wanted not in ALL_SOURCES:
        return f"'{wanted}' is not a report source (known: {', '.join(ALL_SOURCES)})."
    if wanted and wanted != held[0]:
        return f"The zip holds {held[0]} tables, not {wanted} as chosen."
    return ""


def _refused(context, site: Site, message: str, size: int, sha256: str) -> UploadRefused:
    """Record the refusal (committed at once, it stays) and return the error to raise."""
    with transaction.atomic():
        record_event(
            context,
            "federated.refused",
            site=site,
            details={"reason": message[: services.ERROR_LIMIT], "size": size, "sha256": sha256},
        )
    return UploadRefused(message)


def _store(
    context: AuditContext,
    site: Site,
    temporary: Path,
    *,
    report_source: str,
    tables: CountTables,
    manifest: dict[str, Any],
    size: int,
    sha256: str,
    dictionary_hash: str,
) -> UploadSummary:
    with transaction.atomic():
        previous = (
            FederatedUpload.objects.select_for_update()
            .filter(site=site, report_source=report_source, status=UploadStatus.ACCEPTED)
            .first()
        )
        if previous is not None:  # before the insert: one accepted upload per site and source
            previous.status = UploadStatus.REPLACED
            previous.save(update_fields=["status"])
        upload = FederatedUpload.objects.create(
            site=site,
            report_source=report_source,
            uploaded_by=context.user,
            file_size=size,
            sha256=sha256,
            rows_total=tables.total(),
            dictionary_hash=dictionary_hash,
            manifest=manifest,
        )
        final = temporary.parent / f"upload_{upload.pk}.zip"
        upload.file_path = final.relative_to(Path(settings.GDSI_EXPORT_DIR)).as_posix()
        upload.save(update_fields=["file_path"])
        if previous is not None:
            previous.replaced_by = upload
            previous.save(update_fields=["replaced_by"])
        record_event(
            context,
            "federated.uploaded",
            site=site,
            details={
                "upload": upload.pk,
                "report_source": report_source,
                "rows": upload.rows_total,
                "sha256": sha256,
                "dictionary_hash": dictionary_hash,
                "replaced": previous.pk if previous else None,
            },
        )
        os.replace(temporary, final)  # a failure here rolls the upload back
    return UploadSummary(upload, previous, len(TABLE_SPECS))


def current_uploads(site_ids: Iterable[int] | None = None) -> QuerySet[FederatedUpload]:
    """The accepted (pooled) uploads, of the given sites or of all."""
    uploads = FederatedUpload.objects.filter(status=UploadStatus.ACCEPTED).select_related(
        "site", "uploaded_by"
    )
    if site_ids is not None:
        uploads = uploads.filter(site_id__in=list(site_ids))
    return uploads.order_by("site__code", "report_source")


def uploads_of(user, token=None) -> QuerySet[FederatedUpload]:
    """Every upload (accepted or replaced) of the sites the user may upload for."""
    sites = access.upload_sites(user, token)
    return FederatedUpload.objects.filter(site__in=sites).select_related("site", "uploaded_by")


# --- feed jobs -------------------------------------------------------------------------------


def request_feed(
    context: AuditContext, variant: str = FeedVariant.EXACT, threshold: int | str | None = None
) -> FeedJob:
    """A queued feed job; its task is sent once the job is committed."""
    user = context.user
    if not access.can_request_feed(user):
        record_denial(context, "feed")
        raise NotAllowed("You cannot ask for federated feeds.")
    if variant not in FeedVariant.values:
        known = ", ".join(FeedVariant.values)
        raise services.InvalidExportRequest("variant", f"'{variant}' is not a variant ({known})")
    threshold = _threshold(threshold) if variant == FeedVariant.PUBLICATION else 0
    version = DictionaryVersion.objects.current()
    if version is None:
        raise CaseServiceError("No data dictionary is loaded; run load_dictionary first.")
    sites = access.export_site_ids(user)
    with transaction.atomic():
        job = FeedJob.objects.create(
            requested_by=user,
            variant=variant,
            threshold=threshold,
            filters={"sites": sites},
            dictionary_version=version,
            heartbeat_at=timezone.now(),  # queued: when its message was sent
        )
        record_event(
            context,
            "feed.requested",
            details={"job": job.pk, "variant": variant, "threshold": threshold, "sites": sites},
        )
        transaction.on_commit(lambda: enqueue_feed(job.pk), robust=True)
    return job


def _threshold(value: int | str | None) -> int:
    if value in (None, ""):
        return settings.GDSI_PUBLICATION_THRESHOLD
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_THRESHOLD:
        raise services.InvalidExportRequest(
            "threshold", f"'{text}' is not a whole number from 1 to {MAX_THRESHOLD}"
        )
    return int(text)


def enqueue_feed(job_id: int) -> None:
    from exports.tasks import run_feed

    run_feed.delay(job_id)


def feeds_of(user) -> QuerySet[FeedJob]:
    """The feed jobs the user may see: their own and every publication feed; every job for an
    administrator; publication feeds only for an analyst."""
    jobs = FeedJob.objects.select_related("requested_by")
    if sees_all_jobs(user):
        return jobs
    visible = Q(pk__in=[])
    if access.can_download_publication(user):
        visible |= Q(variant=FeedVariant.PUBLICATION)
    if access.can_request_feed(user):
        visible |= Q(requested_by=user)
    return jobs.filter(visible)


def may_download_feed(user, job: FeedJob) -> bool:
    """Publication feeds: whoever may see aggregates. Exact feeds: the requester or an
    administrator, holding the export right now for every site the feed covers."""
    if job.variant == FeedVariant.PUBLICATION:
        return access.can_download_publication(user)
    if not access.can_request_feed(user):
        return False
    if job.requested_by_id != user.pk and not sees_all_jobs(user):
        return False
    return set(job.filters.get("sites") or []) <= set(access.export_site_ids(user))


def feed_download_name(job: FeedJob) -> str:
    return f"gdsi-feed-{job.pk}-{job.variant}.zip"


def record_feed_download(context: AuditContext, job: FeedJob) -> None:
    """`feed.downloaded`, committed before the first byte leaves."""
    with transaction.atomic():
        record_event(
            context,
            "feed.downloaded",
            details={
                "job": job.pk,
                "variant": job.variant,
                "sha256": job.sha256,
                "file_size": job.file_size,
            },
        )


# --- building a feed (the task's work) --------------------------------------------------------


@dataclass(frozen=True)
class FeedResult:
    row_counts: dict[str, int]
    size: int
    sha256: str
    manifest: dict[str, Any]
    suppressed_cells: int


def feed_cases(job: FeedJob) -> QuerySet[Case]:
    """The platform's cases a feed counts: submitted or locked, consent not withdrawn."""
    return Case.objects.shareable().filter(
        site_id__in=job.filters.get("sites") or [],
        status__in=services.DEFAULT_STATUSES,
    )


def feed_rows_total(job: FeedJob) -> int:
    uploads = current_uploads(job.filters.get("sites") or [])
    return feed_cases(job).count() + sum(upload.rows_total for upload in uploads)


def write_feed(job: FeedJob, out_path: Path, on_progress: Callable[[int], None]) -> FeedResult:
    """Pool the platform's tables and the accepted uploads into the job's zip at `out_path`.
    `on_progress(records)` is called after each contribution (the task's heartbeat)."""
    from exports.feedsql import platform_tables

    dated = timezone.now().isoformat()
    contributions: list[Contribution] = []
    extra: list[dict[str, Any]] = []
    counted = 0
    cases = feed_cases(job)
    for report_source in ALL_SOURCES:
        tables = platform_tables(report_source, cases=cases.filter(report_source=report_source))
        contributions.append(
            Contribution(PLATFORM_LABEL, "platform", report_source, tables, tables.total(), dated)
        )
        extra.append({})
        counted += tables.total()
        on_progress(counted)
    for upload in current_uploads(job.filters.get("sites") or []):
        contributions.append(upload_contribution(upload))
        extra.append({"upload": upload.pk, "sha256": upload.sha256})
        counted += upload.rows_total
        on_progress(counted)
    pooled = pool(contributions)
    sources = [
        {**described, **more}
        for described, more in zip(pool_manifest_sources(contributions), extra, strict=True)
    ]
    manifest = _feed_manifest(job, sources, pooled)
    suppressed = 0
    if job.variant == FeedVariant.PUBLICATION:
        written, suppressed = _write_publication(out_path, pooled, manifest, job.threshold)
    else:
        written = write_result_zip(out_path, pooled, manifest)
    digest, size = _file_digest(out_path)
    row_counts = {f"{c.report_source}: {c.label}": c.rows for c in contributions}
    return FeedResult(row_counts, size, digest, written, suppressed)


def upload_contribution(upload: FederatedUpload) -> Contribution:
    """An accepted upload's tables, read back from its stored zip (checked again)."""
    path = upload_path(upload)
    digest, _ = _file_digest(path)
    if digest != upload.sha256:
        raise FeedInputChanged(f"Upload #{upload.pk}'s stored file no longer matches its sha256.")
    tables = read_result_zip(path).tables_by_source[upload.report_source]
    return Contribution(
        label=f"{UPLOAD_LABEL_PREFIX}{upload.site.code}",
        kind="upload",
        report_source=upload.report_source,
        tables=tables,
        rows=upload.rows_total,
        dated=upload.uploaded_at.isoformat(),
        site=upload.site.code,
    )


class FeedInputChanged(Exception):
    """A stored upload was altered on disk; the feed fails with this (value-free) message."""


def _feed_manifest(
    job: FeedJob, sources: list[dict[str, Any]], pooled: dict[str, CountTables]
) -> dict[str, Any]:
    version = job.dictionary_version
    return {
        "feed": FEED_FORMAT,
        "job_id": job.pk,
        "variant": job.variant,
        "created_at": timezone.now().isoformat(),
        "dictionary": {"name": version.name, "hash": version.content_hash},
        "sources": sources,
        "rows_total": {source: tables.total() for source, tables in pooled.items()},
        # The exact totals, in the publication too (suppression hides cells, not totals).
        "rows_per_diagnosis": {
            source: diagnosis_totals(tables, TABLE_SPECS[0]) for source, tables in pooled.items()
        },
        "input_rows": sum(tables.total() for tables in pooled.values()),
        "corrections": [dict(correction) for correction in CORRECTIONS],
        "departures": [dict(departure) for departure in DEPARTURES],
    }


def _write_publication(
    out_path: Path, pooled: dict[str, CountTables], manifest: dict[str, Any], threshold: int
) -> tuple[dict[str, Any], int]:
    results = {source: suppress(tables, threshold) for source, tables in pooled.items()}
    suppressed = sum(result.suppressed for result in results.values())
    manifest = {
        **manifest,
        "suppression": {source: result.manifest() for source, result in results.items()},
        "suppressed_cells": suppressed,
    }
    published = {source: _Published(result) for source, result in results.items()}
    return write_result_zip(out_path, published, manifest), suppressed


class _Published:
    """A report source's suppressed tables, shaped as `write_result_zip` reads `CountTables`
    (`rows(spec)`, `table(spec)`), so the publication zip is written by
    the same writer; a suppressed count is an empty cell, as `publication_csv` writes it."""

    def __init__(self, result: SuppressionResult) -> None:
        self.report_source = result.report_source
        self._result = result

    def rows(self, spec: TableSpec) -> list[tuple[tuple[str, ...], int | str]]:
        return [(cells, "" if n is None else n) for cells, n in self._result.rows(spec)]

    def table(self, spec: TableSpec) -> dict[tuple[str, ...], int]:
        """The published cells (the writer's default totals; the manifest gives the exact)."""
        return {cells: n for cells, n in self._result.rows(spec) if n is not None}


def _file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def mark_feed_done(
    context: AuditContext, job_id: int, attempt: int, *, file_path: str, result: FeedResult
) -> bool:
    """running -> done with the zip's figures; audited `feed.finished`. False (nothing written)
    when the claim is lost. Call it in the transaction that also publishes the file."""
    with transaction.atomic():
        finished = services.held_job(job_id, attempt, FeedJob).update(
            status=JobStatus.DONE,
            rows_done=sum(result.row_counts.values()),
            row_counts=result.row_counts,
            suppressed_cells=result.suppressed_cells,
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
            "feed.finished",
            details={
                "job": job_id,
                "attempt": attempt,
                "row_counts": result.row_counts,
                "suppressed_cells": result.suppressed_cells,
                "sha256": result.sha256,
                "size": result.size,
            },
        )
    return True


def mark_feed_failed(context: AuditContext, job_id: int, attempt: int, error: str) -> bool:
    """running -> failed with a readable, value-free error; audited `feed.failed`."""
    error = error[: services.ERROR_LIMIT]
    with transaction.atomic():
        failed = services.held_job(job_id, attempt, FeedJob).update(
            status=JobStatus.FAILED, error=error, finished_at=timezone.now()
        )
        if not failed:
            return False
        record_event(
            context, "feed.failed", details={"job": job_id, "attempt": attempt, "error": error}
        )
    return True
