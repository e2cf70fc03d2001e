"""The rows of an export job, read in bounded memory.

A job's filters (always explicit site ids, resolved by `exports.services.request_export`) pick
cases by site, report source and status; cases whose patient withdrew consent are never in an
export, whatever the filters say.

The date range is on the date the case was *reported*: the data's `covid19_date_reporting`
(the form's @TODAY field, which the clinician may correct), because that is the date the central
team's weekly updates and the case list filter on. A case without a reported date (possible for
imported rows) is matched by the day it was created instead. ISO dates compare as text.

Rows stream with `.values_list(...).iterator(chunk_size=...)`. On PostgreSQL that is a
server-side cursor, which must live inside a transaction: `read_snapshot` opens one REPEATABLE
READ, READ ONLY transaction for the whole job, so every pass the writer makes over the rows (and
the count) sees the same cases even while clinicians keep editing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, TruncDate

from casereports.models import Case
from exports.models import ExportJob

CHUNK_ROWS = 2000
REPORTED_FIELD = "covid19_date_reporting"

Records = Callable[[], Iterator[dict[str, Any]]]


def job_cases(job: ExportJob) -> QuerySet[Case]:
    """Every case the job exports, in a stable order (by id)."""
    filters = job.filters
    cases = Case.objects.filter(
        site_id__in=filters.get("sites") or [], consent_withdrawn=False
    ).order_by("pk")
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


def count_rows(job: ExportJob) -> int:
    return job_cases(job).count()


def records_of(job: ExportJob, chunk_rows: int = CHUNK_ROWS) -> Records:
    """A zero-argument callable giving a fresh iterator of the job's rows on each call: the case
    data with its report source. Call it inside `read_snapshot()`."""
    cases = job_cases(job)

    def records() -> Iterator[dict[str, Any]]:
        rows = cases.values_list("data", "report_source").iterator(chunk_size=chunk_rows)
        for data, report_source in rows:
            yield {**data, "report_source": report_source}

    return records


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
