"""The two passes over an upload: validate (a report, nothing written to any record) and commit
(every accepted row in one transaction, or none).

Both stream the stored file through the one typed reader and `rows.RowClassifier`, so the
commit does exactly what the report said; if the site's records changed in between, the
commit's fingerprint differs from the report's and it rolls back, asking for a new report.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from casereports import entry
from casereports.audit import AuditContext, CaseRef, DeferredEvents, record_event
from casereports.csvsafe import safe_row, safe_texts
from casereports.imports.models import ImportStatus, RowImport
from casereports.imports.rows import (
    CHANGED,
    NEW,
    REFUSED,
    SAMPLE_LIMIT,
    RowClassifier,
    RowOutcome,
    batches,
)
from casereports.ingest.mapping import MappingError, load_mapping
from casereports.ingest.reader import CoreCsvReader, InputError, open_core_csv
from casereports.models import Case, CaseStatus
from casereports.quality.models import Query, QueryStatus, QueryStep, ResponseCategory
from casereports.services.bulk import insert_rows, update_rows
from casereports.services.cases import new_secret_name, progress_of
from casereports.services.dictionaries import dictionary_of

logger = logging.getLogger(__name__)
BATCH_ROWS = 2000
PROBLEM_COLUMNS = ("Line", "Record", "Column", "Field", "Value", "Error")
QUALITY_COLUMNS = ("Line", "Record", "Result", "Failed rules", "Blanked variables")


class ImportRefused(Exception):
    """The whole upload cannot be read or committed; the message says why, in plain words."""


class ReportOutdated(ImportRefused):
    """The site's records changed between the report and the commit."""


@dataclass
class Progress:
    """Rows done so far, told to the job row now and then (from a second connection while a
    commit's transaction is open, so the sweeper sees a live worker)."""

    job_id: int
    attempt: int
    rows: int = 0

    def beat(self) -> bool:
        held = RowImport.objects.filter(pk=self.job_id, attempts=self.attempt)
        return held.update(rows_done=self.rows, heartbeat_at=timezone.now()) == 1


# --- opening the stored file ---------------------------------------------------------------


@contextlib.contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A path on this machine holding the stored file (the storage's own file when it is
    local; a temporary copy from object storage otherwise)."""
    try:
        local = Path(default_storage.path(name))
    except NotImplementedError:  # object storage: no path of its own
        local = None
    if local is not None:
        yield local
        return
    handle, temporary = tempfile.mkstemp(prefix="gdsi-import-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as out, default_storage.open(name, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                out.write(chunk)
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)


def open_upload(job: RowImport, path: Path) -> CoreCsvReader:
    dictionary = dictionary_of(job.dictionary_version)
    options = job.options
    mapping = None
    if job.mapping_id is not None:
        try:
            mapping = load_mapping(job.mapping.source_text, dictionary, filename=job.mapping.name)
        except MappingError as error:  # saved for an earlier dictionary version, say
            raise ImportRefused(
                f"the mapping {job.mapping.name!r} no longer fits: {error}"
            ) from error
    try:
        return open_core_csv(
            path,
            dictionary,
            delimiter=options.get("delimiter") or None,
            date_format=options.get("date_format") or "auto",
            encoding=options.get("encoding") or None,
            mapping=mapping,
        )
    except InputError as error:
        raise ImportRefused(str(error)) from error


def _classifier(job: RowImport, reader: CoreCsvReader, *, writing: bool) -> RowClassifier:
    present = [name for _, _, name in reader.plan.columns]
    classifier = RowClassifier(
        job.dictionary_version,
        job.site_id,
        job.report_source,
        present,
        blank_overwrites=job.blank_overwrites,
        writing=writing,
    )
    classifier.bind_plan(reader.plan)
    return classifier


def _rows(reader: CoreCsvReader) -> Iterator:
    try:
        yield from reader
    except InputError as error:
        raise ImportRefused(str(error)) from error


# --- validate ------------------------------------------------------------------------------


class ReportFiles:
    """The report's CSV files, written to temporary files as rows come and saved to storage
    under their final names only when complete."""

    def __init__(self, header: list[str]) -> None:
        self._files: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}
        for kind, columns in (
            ("refused", header),
            ("problems", PROBLEM_COLUMNS),
            ("quality", QUALITY_COLUMNS),
        ):
            handle = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
            self._files[kind] = handle
            self.writers[kind] = csv.writer(handle, lineterminator="\r\n")
            self.writers[kind].writerow(safe_row(columns))

    def add(self, outcome: RowOutcome) -> None:
        if outcome.action == REFUSED:
            self.writers["refused"].writerow(safe_texts(outcome.row.cells))
            for problem in outcome.problems:
                self.writers["problems"].writerow(
                    safe_row(
                        [
                            problem.line,
                            problem.record,
                            problem.column,
                            problem.field,
                            problem.value,
                            problem.reason,
                        ]
                    )
                )
        elif outcome.quality is not None:
            failures = outcome.quality.failures
            blanked = sorted({name for failure in failures for name in failure.blanked})
            self.writers["quality"].writerow(
                safe_row(
                    [
                        outcome.row.line,
                        outcome.record,
                        "FAIL" if failures else "PASS",
                        " ".join(failure.rule_id for failure in failures),
                        " ".join(blanked),
                    ]
                )
            )

    def save(self, job: RowImport) -> dict[str, str]:
        names = {}
        for kind, handle in self._files.items():
            handle.flush()
            handle.seek(0)
            name = f"{storage_folder(job)}/{kind}.csv"
            default_storage.delete(name)
            names[kind] = default_storage.save(name, File(handle, name=f"{kind}.csv"))
        return names

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def storage_folder(job: RowImport) -> str:
    return f"imports/{job.site.code}/{job.pk}"


def validate(job: RowImport, progress: Progress) -> dict[str, Any]:
    """Read the whole upload and say what committing it would do; write nothing to records.
    Returns the job's new fields (counts, report, digest, report files)."""
    with local_copy(job.file_name) as path, open_upload(job, path) as reader:
        files = ReportFiles(reader.plan.header)
        # No transaction: each progress beat is seen at once; nothing is written to records.
        classifier = _classifier(job, reader, writing=False)
        try:
            samples = Samples()
            for batch in batches(_rows(reader), BATCH_ROWS):
                for outcome in classifier.classify(batch):
                    files.add(outcome)
                    samples.add(outcome)
                progress.rows = reader.rows_read
                progress.beat()
            absent = (
                [] if job.is_partial else _limited(classifier.absent_records(), SAMPLE_LIMIT + 1)
            )
            absent = list(absent)
            absent_count = _count_absent(classifier, absent)
            names = files.save(job)
        finally:
            classifier.close()
            files.close()
        counts = _counts(reader, classifier, absent_count)
        report = {
            "file": reader.plan.describe(),
            "header_width": len(reader.plan.header),
            "short_rows": reader.short_rows,
            "long_rows": reader.long_rows,
            "normalisations": reader.normalisations(),
            "advice": reader.advice(),
            "quality_by_rule": dict(sorted(classifier.rules_failed.items())),
            "changes": samples.changes,
            "new": samples.new,
            "refused": samples.refused,
            "absent": [record for _, record in absent[:SAMPLE_LIMIT]],
            "mapping": _mapping_summary(job),
        }
    return {
        "counts": counts,
        "report": report,
        "plan_digest": classifier.digest,
        "refused_file": names["refused"],
        "problems_file": names["problems"],
        "quality_file": names["quality"],
    }


def _count_absent(classifier: RowClassifier, sample: list) -> int:
    if len(sample) <= SAMPLE_LIMIT:
        return len(sample)
    return sum(1 for _ in classifier.absent_records())


def _limited(items, limit: int) -> Iterator:
    for index, item in enumerate(items):
        if index >= limit:
            return
        yield item


def _counts(reader: CoreCsvReader, classifier: RowClassifier, absent: int) -> dict[str, int]:
    counts = classifier.counts
    return {
        "rows_read": reader.rows_read,
        "new": counts[NEW],
        "changed": counts[CHANGED],
        "unchanged": counts["unchanged"],
        "refused": counts[REFUSED],
        "absent": absent,
        "quality_failed": counts["quality_failed"],
        "blank_cells_not_applied": counts["blank cells not applied"],
        "overwrites_platform_edit": counts["overwrites_platform_edit"],
    }


def _mapping_summary(job: RowImport) -> dict[str, Any] | None:
    if job.mapping_id is None:
        return None
    mapping = job.mapping
    return {
        "id": mapping.pk,
        "name": mapping.name,
        "version": mapping.version,
        "fingerprint": mapping.fingerprint,
    }


class Samples:
    """The first records of each kind, for the report page (the file downloads hold all)."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.new: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []

    def add(self, outcome: RowOutcome) -> None:
        if outcome.action == CHANGED and len(self.changes) < SAMPLE_LIMIT:
            case = outcome.case
            self.changes.append(
                {
                    "record": outcome.record,
                    "line": outcome.row.line,
                    "case": case.secret_name,
                    "overwrites_platform_edit": outcome.overwrites_platform_edit,
                    "changes": [{"field": f, "old": o, "new": n} for f, o, n in outcome.changes],
                }
            )
        elif outcome.action == NEW and len(self.new) < SAMPLE_LIMIT:
            self.new.append({"record": outcome.record, "line": outcome.row.line})
        elif outcome.action == REFUSED:
            for problem in outcome.problems:
                if len(self.refused) < SAMPLE_LIMIT:
                    self.refused.append(problem.as_dict())


# --- commit --------------------------------------------------------------------------------


def commit(job: RowImport, context: AuditContext, progress: Progress) -> dict[str, int]:
    """Write every accepted row in one transaction; raise ReportOutdated (and write nothing)
    when the outcome differs from the report's. Returns what was written."""
    written = {"created": 0, "updated": 0, "absent_flagged": 0}
    # The heartbeat stops after the transaction ends (it may wait on the job's row).
    with (
        local_copy(job.file_name) as path,
        open_upload(job, path) as reader,
        _heartbeat(progress),
        transaction.atomic(),
    ):
        _lock_site_imports(job.site_id)
        classifier = _classifier(job, reader, writing=True)
        writer = CaseWriter(job, context)
        for batch in batches(_rows(reader), BATCH_ROWS):
            outcomes = classifier.classify(batch)
            created, updated = writer.write(outcomes)
            written["created"] += created
            written["updated"] += updated
            progress.rows = reader.rows_read
        if classifier.digest != job.plan_digest:
            raise ReportOutdated(
                "The site's records changed after the report was made, so the commit would "
                "not do what the report shows. Nothing was written: validate the upload "
                "again, read the new report, then commit."
            )
        written["absent_flagged"] = _flag_absent(job, classifier)
        classifier.close()
        writer.events.append()  # the audit head is locked last, as every other write locks it
        _finish(job, context, written)
    return written


STATISTICS_AFTER_ROWS = 10_000


def refresh_statistics(written: dict[str, int]) -> None:
    """After a large commit, the planner's picture of the case table (autovacuum would update
    it later): the next import's lookups and every list are planned on the table as it is."""
    if connection.vendor != "postgresql" or sum(written.values()) < STATISTICS_AFTER_ROWS:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Case._meta.db_table}")
    except DatabaseError:  # the commit is done: a missed ANALYZE is autovacuum's to make up
        logger.warning("could not analyse the case table after an import")


def _lock_site_imports(site_id: int) -> None:
    """One commit per site at a time (the second waits for the first to end)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x6764, site_id])


class CaseWriter:
    """Writes one batch's outcomes: new records created, changed ones updated (version bump,
    field-level audit with channel `import`, the upload as the reason), as plain rows (an
    import writes thousands of records per batch)."""

    UPDATED = (
        "data",
        "quality_status",
        "quality_failures",
        "version",
        "imported_version",
        "source_import_id",
        "absent_from_import_id",
        "dictionary_version_id",
        "form_statuses",
        "completeness",
        "updated_at",
    )

    def __init__(self, job: RowImport, context: AuditContext) -> None:
        self.job = job
        self.context = context
        self.site = job.site
        self.version = job.dictionary_version
        self.dictionary = dictionary_of(job.dictionary_version)
        self.record_id = self.dictionary.record_id
        self.prefix = "P_" if job.report_source == "patients" else "C_"
        self.reason = f"upload #{job.pk} ({job.original_name})"[:200]
        self.creator = context.user.pk if context.user is not None else None
        self.events = DeferredEvents(context, job.site)

    def write(self, outcomes: list[RowOutcome]) -> tuple[int, int]:
        now = timezone.now()
        created = [self._new_case(o, now) for o in outcomes if o.action == NEW]
        updated = [self._changed_case(o, now) for o in outcomes if o.action == CHANGED]
        ids = insert_rows(Case, [row for row, _ in created])
        update_rows(Case, [row for row, _ in updated], self.UPDATED)
        events = [
            ("case.created", CaseRef(pk, row["secret_name"]), details)
            for pk, (row, details) in zip(ids, created, strict=True)
        ]
        events += [
            ("case.changed", CaseRef(row["pk"], secret_name), details)
            for row, (secret_name, details) in updated
        ]
        events += self._answer_queries(outcomes)
        self.events.add(events)
        return len(created), len(updated)

    def _answer_queries(self, outcomes: list[RowOutcome]) -> list[tuple[str, CaseRef, dict]]:
        """A registry answers a query on a field by uploading a new value for it: each open
        query on a changed field is answered "corrected", linked to the version the upload
        made (one query per batch; the events join the others at the end)."""
        changed = {
            o.case.pk: (o.case, {field for field, _, _ in o.changes})
            for o in outcomes
            if o.action == CHANGED
        }
        if not changed:
            return []
        open_queries = Query.objects.filter(case_id__in=changed, status=QueryStatus.OPEN)
        events = []
        for query in open_queries.order_by("pk"):
            case, fields = changed[query.case_id]
            if query.field not in fields:
                continue
            text = f"corrected by the registry's upload #{self.job.pk}"
            QueryStep.objects.create(
                query=query, kind=QueryStep.Kind.ANSWERED, category=ResponseCategory.CORRECTED,
                text=text, by=self.context.user, case_version=case.version + 1,
            )  # fmt: skip
            Query.objects.filter(pk=query.pk).update(
                status=QueryStatus.ANSWERED, updated_at=timezone.now()
            )
            details = {
                "query": query.pk,
                "field": query.field,
                "rule": query.rule_id,
                "category": "corrected",
                "text": text,
                "case_version": case.version + 1,
            }
            events.append(("query.answered", CaseRef(case.pk, case.secret_name), details))
        return events

    def _new_case(self, outcome: RowOutcome, now) -> tuple[dict[str, Any], dict[str, Any]]:
        name = new_secret_name(self.prefix)
        data = dict(outcome.values)
        data[self.record_id] = name
        statuses, completeness = progress_of(self.dictionary, data, entry.CLINICIAN)
        row = {
            "site_id": self.site.pk,
            "secret_name": name,
            "report_source": self.job.report_source,
            "status": CaseStatus.SUBMITTED,
            "dictionary_version_id": self.version.pk,
            "data": data,
            "version": 1,
            "form_statuses": statuses,
            "completeness": completeness,
            **_quality(outcome),
            "created_by_id": self.creator,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "registry_record": outcome.record,
            "source_import_id": self.job.pk,
            "imported_version": 1,
        }
        details = {
            "import": self.job.pk,
            "line": outcome.row.line,
            "registry_record": outcome.record,
            "report_source": self.job.report_source,
            "dictionary": self.version.content_hash,
        }
        return row, details

    def _changed_case(self, outcome: RowOutcome, now) -> tuple[dict[str, Any], tuple]:
        case = outcome.case
        data = dict(outcome.values)
        data[self.record_id] = case.secret_name
        version = case.version + 1
        statuses, completeness = progress_of(self.dictionary, data, entry.CLINICIAN)
        row = {
            "pk": case.pk,
            "data": data,
            "version": version,
            "imported_version": version,
            "source_import_id": self.job.pk,
            "absent_from_import_id": None,
            "dictionary_version_id": self.version.pk,  # the version its values were checked by
            "form_statuses": statuses,
            "completeness": completeness,
            **_quality(outcome),
            "updated_at": now,
        }
        details = {
            "import": self.job.pk,
            "line": outcome.row.line,
            "reason": self.reason,
            "version": version,
            "changes": [{"field": f, "old": o, "new": n} for f, o, n in outcome.changes],
            "overwrote_platform_edit": outcome.overwrites_platform_edit,
        }
        return row, (case.secret_name, details)


def _quality(outcome: RowOutcome) -> dict[str, Any]:
    """The stored record's quality: the toolkit's PASS/FAIL of the row, with the failing rules
    and the fields each names (a justification is given on the platform, not in a file)."""
    failures = outcome.quality.failures if outcome.quality else []
    return {
        "quality_status": "fail" if failures else "pass",
        "quality_failures": [{"rule": f.rule_id, "fields": list(f.blanked)} for f in failures],
    }


def _flag_absent(job: RowImport, classifier: RowClassifier) -> int:
    """Flag the site's records the upload no longer holds (never deleted), and unflag those it
    holds again. A partial upload (a few records pushed through the REDCap API) flags none."""
    absent_ids = [] if job.is_partial else [case_id for case_id, _ in classifier.absent_records()]
    flagged = 0
    for start in range(0, len(absent_ids), 5000):
        chunk = absent_ids[start : start + 5000]
        flagged += Case.objects.filter(pk__in=chunk).update(absent_from_import=job)
    classifier.unflag_present()
    return flagged


def _finish(job: RowImport, context: AuditContext, written: dict[str, int]) -> None:
    now = timezone.now()
    finished = RowImport.objects.filter(
        pk=job.pk, status=ImportStatus.COMMITTING, attempts=job.attempts
    ).update(status=ImportStatus.DONE, committed_at=now, heartbeat_at=now, error="")
    if not finished:
        raise ImportRefused("the commit was taken over by another worker")
    record_event(
        context,
        "import.committed",
        site=job.site,
        details={"import": job.pk, "sha256": job.sha256, **written, **_counts_only(job)},
    )


def _counts_only(job: RowImport) -> dict[str, int]:
    return {key: job.counts.get(key, 0) for key in ("new", "changed", "unchanged", "refused")}


# --- sign of life ---------------------------------------------------------------------------


@contextlib.contextmanager
def _heartbeat(progress: Progress) -> Iterator[None]:
    """Beat from a thread (its own database connection) while the caller's transaction is
    open, a few times per stale period. SQLite has one writer at a time, so there the job row
    is left alone until the end."""
    if connection.vendor != "postgresql":
        yield
        return
    every = max(0.5, min(5.0, settings.GDSI_IMPORT_STALE_SECONDS / 4))
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                progress.beat()
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"import-{progress.job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
