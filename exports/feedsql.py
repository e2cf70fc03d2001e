"""The platform's own 63 count tables (gdsi-analysis.md §3), computed in the database.

One query per dictionary version the cases were entered under: the record pipeline compiled
to SQL (`casereports.rules_sql`) over the cases' stored `data`, then the cases counted once by
all their grouping values together (the fine count): one scan of the cases, the same query on
PostgreSQL and SQLite. The 63 tables are sums of the fine count, added up by `CountTables` as
the federated command adds up its records. (Summing them in the database, with GROUPING SETS,
sent back every table's rows, some 60 times as many as the fine count, and cost more there too.)

The central platform's `source` is the pseudonym's prefix and the country's English label; the
database groups by the prefix and the raw country code, and the label is looked up here (the
dictionary's choice labels), so `source` is built by `tables.central_source` exactly as the
federated command builds it for a CSV.

Which cases count: submitted or locked ones whose consent has not been withdrawn. Drafts are
not counted (a decision: a draft may still change, and an export leaves drafts out as well).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import QuerySet

from casereports.dictionary import DataDictionary, QualityRule, read_quality_rules
from casereports.models import Case, CaseStatus, DictionaryVersion
from casereports.rules_sql import PIPELINE, pipeline_ctes, quote
from casereports.services.dictionaries import dictionary_of
from exports.federated.tables import (
    EXTRA_VARIABLES,
    MAIN_VARIABLES,
    OUTCOMES,
    CountTables,
    cell,
    central_source,
)

COUNTED_STATUSES = (CaseStatus.SUBMITTED, CaseStatus.LOCKED)
COUNTRY_FIELD = "covid19_country"
PREFIX_COLUMN = "_prefix"
COUNT_COLUMN = "_count"
# Every value a table groups by except `source`, which the prefix and country stand for.
VALUES = ("covid19_diagnosis", *MAIN_VARIABLES, *OUTCOMES, *EXTRA_VARIABLES)
FINE = (PREFIX_COLUMN, COUNTRY_FIELD, *VALUES)


def counted_cases(report_source: str) -> QuerySet[Case]:
    """The cases of a report source the platform's tables count."""
    return Case.objects.shareable().filter(report_source=report_source, status__in=COUNTED_STATUSES)


def platform_tables(report_source: str, cases: QuerySet[Case] | None = None) -> CountTables:
    """The 63 tables of `report_source` over `cases` (default: `counted_cases`); only the
    cases of that report source are counted, whatever `cases` holds besides."""
    tables = CountTables(report_source)
    if cases is None:
        cases = counted_cases(report_source)
    cases = cases.filter(report_source=report_source).order_by()
    version_ids = sorted(set(cases.values_list("dictionary_version_id", flat=True).distinct()))
    for version in DictionaryVersion.objects.filter(pk__in=version_ids).order_by("pk"):
        of_version = cases.filter(dictionary_version_id=version.pk)
        _count_version(tables, version, of_version)
    return tables


@lru_cache(maxsize=16)
def _rules_by_hash(content_hash: str, rules_csv: str) -> tuple[QualityRule, ...]:
    del content_hash  # the cache key: one parse per stored version
    if not rules_csv.strip():
        return ()
    return tuple(read_quality_rules(io.StringIO(rules_csv)))


def _count_version(tables: CountTables, version: DictionaryVersion, cases: QuerySet) -> None:
    dictionary = dictionary_of(version)
    rules = list(_rules_by_hash(version.content_hash, version.quality_rules_csv))
    dialect = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    source_sql, source_params = cases.values("id", "data").query.sql_with_params()
    if dialect == "sqlite":  # run on the sqlite3 connection itself: its placeholder is ?
        source_sql = re.sub(r"(?<!%)%s", "?", source_sql).replace("%%", "%")
    query, params = tables_query(
        dictionary, rules, dialect, f"({source_sql})", list(source_params), tables
    )
    countries = dict(dictionary.field(COUNTRY_FIELD).choices)
    # The rows are streamed (a server-side cursor on PostgreSQL) and folded as they come: the
    # fine count can have as many rows as there are cases.
    with transaction.atomic():
        connection.ensure_connection()
        if dialect == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")  # compiling it costs more than it saves
            with connection.chunked_cursor() as cursor:
                cursor.execute(query, params)
                fold_rows(tables, _batched(cursor), countries)
        else:
            cursor = connection.connection.cursor()
            try:
                fold_rows(tables, cursor.execute(query, params), countries)
            finally:
                cursor.close()


def _batched(cursor, size: int = 5000) -> Iterator[tuple]:
    while rows := cursor.fetchmany(size):
        yield from rows


def tables_query(
    dictionary: DataDictionary,
    rules: list[QualityRule],
    dialect: str,
    source: str,
    source_params: list,
    tables: CountTables,
) -> tuple[str, list]:
    """The fine count's query and its parameters: rows of (pseudonym prefix, country code,
    the 22 values, count); see `fold_rows`. `source` is a parenthesised SELECT of `id` and
    `data` (the cases), with `source_params`."""
    record_id = dictionary.record_id
    pipeline, params = pipeline_ctes(
        dictionary,
        rules,
        dialect,
        source=source,
        outputs=[record_id, COUNTRY_FIELD, *VALUES],
        constants={"report_source": tables.report_source},
        with_failed=False,
        source_params=source_params,
    )
    prefix = _prefix_sql(quote(record_id), dialect)
    fine_columns = ", ".join(quote(name) for name in FINE)
    values = ", ".join(quote(name) for name in VALUES)
    derived = (
        f"SELECT {prefix} AS {quote(PREFIX_COLUMN)}, {quote(COUNTRY_FIELD)}, {values} "
        f"FROM {PIPELINE}"
    )
    fine = (
        f"SELECT {fine_columns}, count(*) AS {COUNT_COLUMN} FROM ({derived}) AS _derived "
        f"GROUP BY {fine_columns}"
    )
    return f"WITH {pipeline} {fine}", params


def _prefix_sql(secret_name: str, dialect: str) -> str:
    """The pseudonym up to its first `_` (all of it without one), as str.split("_")[0]."""
    if dialect == "postgresql":
        return f"split_part({secret_name}, '_', 1)"
    return (
        f"CASE WHEN instr({secret_name}, '_') > 0 "
        f"THEN substr({secret_name}, 1, instr({secret_name}, '_') - 1) ELSE {secret_name} END"
    )


def fold_rows(tables: CountTables, rows: Iterable[tuple], countries: dict[str, str]) -> None:
    """Count the fine count's rows (`tables_query`) into the tables, `source` built from the
    prefix and the country's label (`countries`: code -> label)."""
    sources: dict[tuple[str, str], str] = {}
    for prefix, country, diagnosis, *rest in rows:
        count = rest.pop()
        source = sources.get((prefix, country))
        if source is None:
            label = countries.get(country or "", "")
            source = sources[prefix, country] = central_source(prefix or "", label)
        tables.add((cell(diagnosis), source, *map(cell, rest)), int(count))
