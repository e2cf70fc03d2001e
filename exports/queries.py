"""The rows of an export job, read in bounded memory.

A job's filters (always explicit site ids, resolved by `exports.services.request_export`) pick
cases by site, report source and status; cases whose patient withdrew consent are never in an
export, whatever the filters say.

The date range is on the date the case was *reported*: the data's `covid19_date_reporting`
(the form's @TODAY field, which the clinician may correct), because that is the date the central
team's weekly updates and the case list filter on. A case without a reported date (possible for
imported rows) is matched by the day it was created instead. ISO dates compare as text.

On PostgreSQL rows stream with `.values_list(...).iterator(chunk_size=...)`, a server-side
cursor, or with one COPY (`CaseRecords.rows`); both must live inside a transaction:
`read_snapshot` opens one REPEATABLE READ, READ ONLY transaction for the whole job, so every pass
the writer makes over the rows (and the count) sees the same cases even while clinicians keep
editing. On SQLite (the embedded default) they come in pages by id instead (see `_pages`),
without a snapshot. Either way memory holds one chunk, never the whole export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, Count, F, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, TruncDate

from casereports.models import Case
from exports.deidentify import PARTITION_KEY, row_of
from exports.models import ExportJob

CHUNK_ROWS = 2000
REPORTED_FIELD = "covid19_date_reporting"

Records = Callable[[], Iterator[dict[str, Any]]]


def job_cases(job: ExportJob) -> QuerySet[Case]:
    """Every case the job exports, in a stable order (by id)."""
    filters = job.filters
    cases = Case.objects.shareable().filter(site_id__in=filters.get("sites") or []).order_by("pk")
    if filters.get("report_sources"):
        cases = cases.filter(report_source__in=filters["report_sources"])
    if filters.get("statuses"):
        cases = cases.filter(status__in=filters["statuses"])
    if filters.get("date_from") or filters.get("date_to"):
        cases = cases.annotate(reported_on=_reported_on())
        if filters.get("date_from"):
            cases = cases.filter(reported_on__gte=filters["date_from"])
        if filters.get("date_to"):
            cases = cases.filter(reported_on__lte=filters["date_to"])
    return cases


def _reported_on():
    """The case's reported date as 'YYYY-MM-DD' text: the data's date, else the day created."""
    reported = NullIf(KeyTextTransform(REPORTED_FIELD, "data"), Value(""))
    created = Cast(TruncDate(F("created_at")), output_field=CharField())
    return Coalesce(reported, created, output_field=CharField())


def quality_status_counts(job: ExportJob) -> dict[str, int]:
    """How many of the exported cases pass the quality rules, fail one, or were justified
    (an empty status: a case not written since statuses were kept)."""
    counts = job_cases(job).order_by().values_list("quality_status").annotate(n=Count("pk"))
    return {status or "unchecked": n for status, n in counts}


def count_rows(job: ExportJob) -> int:
    return job_cases(job).count()


def records_of(job: ExportJob, chunk_rows: int = CHUNK_ROWS, *, stream: bool = False) -> Records:
    """The job's records (`CaseRecords`). Call it, and read them, inside `read_snapshot()`.

    `stream`: nothing else uses this connection while the rows are read (the job's progress
    goes through another one), so on PostgreSQL `rows` may stream them with one COPY."""
    return CaseRecords(job_cases(job), chunk_rows, stream=stream)


class CaseRecords:
    """The records of some cases, read twice over if need be (each call starts afresh).

    Called, it gives each case's data with its report source, as a dict. `rows(keys)` gives the
    same records as rows of text, one value per key, for `exports.writer` (see
    `exports.deidentify.RowLayout`): on PostgreSQL with `stream`, one COPY in which the database
    picks the keys out of each row's JSON, so a field the export leaves out is never read."""

    def __init__(self, cases: QuerySet[Case], chunk_rows: int, *, stream: bool) -> None:
        self.cases = cases
        self.chunk_rows = chunk_rows
        self.stream = stream

    def __call__(self) -> Iterator[dict[str, Any]]:
        if connection.vendor == "postgresql":
            rows = self.cases.values_list("data", "report_source")
            rows = rows.iterator(chunk_size=self.chunk_rows)
        else:
            rows = _pages(self.cases, self.chunk_rows)
        for data, report_source in rows:
            yield {**data, "report_source": report_source}

    def rows(self, keys: Sequence[str | None]) -> Iterator[list[str]]:
        """Per case, the text of each key ("" when the case has none); a None key is always "",
        and `report_source` is the case's."""
        if self.stream and connection.vendor == "postgresql":
            return _copied_rows(self.cases, keys)
        return (row_of(record, keys) for record in self())


def _pages(cases: QuerySet[Case], chunk_rows: int) -> Iterator[tuple[dict, str]]:
    """SQLite: pages by id, each read to its end before its rows are used. A statement left
    open would hold the task's progress updates in its transaction (SQLite commits only when
    the last statement ends), so no one would see progress and a cancel would wait for it."""
    after = 0
    while True:
        page = list(
            cases.filter(pk__gt=after).values_list("pk", "data", "report_source")[:chunk_rows]
        )
        for _, data, report_source in page:
            yield data, report_source
        if len(page) < chunk_rows:
            return
        after = page[-1][0]


def _copied_rows(cases: QuerySet[Case], keys: Sequence[str | None]) -> Iterator[list[str]]:
    inner, params = cases.order_by().values(*COPIED_COLUMNS).query.sql_with_params()
    data_keys = list(dict.fromkeys(key for key in keys if key and key != PARTITION_KEY))
    record_type = ", ".join(f"{_identifier(key)} text" for key in data_keys) or "_ text"
    # consent_withdrawn last: checked and popped from each row (the filter's second lock).
    selected = ", ".join([*map(_selected, keys), "c.consent_withdrawn"])
    query = (
        f"COPY (SELECT {selected} FROM ({inner}) AS c CROSS JOIN LATERAL "
        f"jsonb_to_record(c.data) AS r({record_type}) ORDER BY c.id) TO STDOUT WITH (FORMAT csv)"
    )
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(query, params) as copy:
        lines = io.TextIOWrapper(
            io.BufferedReader(_CopyReader(copy), COPY_BUFFER), encoding="utf-8", newline=""
        )
        for row in csv.reader(lines):
            if row.pop() == "f":
                yield row


COPIED_COLUMNS = ("id", "report_source", "consent_withdrawn", "data")
COPY_BUFFER = 1 << 16


def _selected(key: str | None) -> str:
    if key is None:
        return "''"
    if key == PARTITION_KEY:
        return "c.report_source"
    return f"r.{_identifier(key)}"


def _identifier(key: str) -> str:
    return '"' + key.replace('"', '""') + '"'


class _CopyReader(io.RawIOBase):
    """The bytes of a COPY ... TO STDOUT, as a file (for the csv module to read lines of)."""

    def __init__(self, copy) -> None:
        self._blocks = iter(copy)
        self._block = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._block:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._block = memoryview(block)
        size = min(len(buffer), len(self._block))
        buffer[:size] = self._block[:size]
        self._block = self._block[size:]
        return size


def snapshot_is_separate() -> bool:
    """True when `read_snapshot` opens its own transaction (PostgreSQL, outside any transaction):
    then writes made during the read must go through another connection to be seen by others."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent, read-only view of the cases for as long as the block runs.

    Inside a caller's transaction (a test) it only adds a savepoint. On SQLite the reads run in
    autocommit: the embedded default has a single writer and nothing to isolate from."""
    if connection.vendor != "postgresql":
        yield
        return
    separate = snapshot_is_separate()
    with transaction.atomic():
        if separate:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
