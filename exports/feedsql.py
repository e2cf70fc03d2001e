"""The platform's own 63 count tables (gdsi-analysis.md §3), computed in the database.

One query per dictionary version the cases were entered under: the record pipeline compiled
to SQL (`casereports.rules_sql`) over the cases' stored `data`, then the cases counted once by
all their grouping values together (the fine count), then the 63 tables summed from that: on
PostgreSQL with `GROUP BY GROUPING SETS`, on SQLite (which has none) with a materialized fine
count and one `GROUP BY` per table joined by `UNION ALL`. The cases are read once either way.

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
    TABLE_SPECS,
    CountTables,
    TableSpec,
    cell,
    central_source,
)

COUNTED_STATUSES = (CaseStatus.SUBMITTED, CaseStatus.LOCKED)
COUNTRY_FIELD = "covid19_country"
PREFIX_COLUMN = "_prefix"
COUNT_COLUMN = "_count"
SPEC_COLUMN = "_table"
# Every value a table groups by except `source`, which the prefix and country stand for.
VALUES = ("covid19_diagnosis", *MAIN_VARIABLES, *OUTCOMES, *EXTRA_VARIABLES)
FINE = (PREFIX_COLUMN, COUNTRY_FIELD, *VALUES)


def counted_cases(report_source: str) -> QuerySet[Case]:
    """The cases of a report source the platform's tables count."""
    return Case.objects.filter(
        report_source=report_source, status__in=COUNTED_STATUSES, consent_withdrawn=False
    )


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
    with transaction.atomic():
        connection.ensure_connection()
        if dialect == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")  # compiling it costs more than it saves
                cursor.execute(query, params)
                rows = cursor.fetchall()
        else:
            cursor = connection.connection.cursor()
            try:
                rows = cursor.execute(query, params).fetchall()
            finally:
                cursor.close()
    fold_rows(tables, rows, countries, dialect)


def tables_query(
    dictionary: DataDictionary,
    rules: list[QualityRule],
    dialect: str,
    source: str,
    source_params: list,
    tables: CountTables,
) -> tuple[str, list]:
    """The query and its parameters: rows of (table, prefix, country code, values, count);
    see `fold_rows`. `source` is a parenthesised SELECT of `id` and `data` (the cases), with
    `source_params`."""
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
    if dialect == "postgresql":
        return f"WITH {pipeline}, {_grouping_sets(fine)}", params
    return f"WITH {pipeline}, {_union_all(fine)}", params


def _prefix_sql(secret_name: str, dialect: str) -> str:
    """The pseudonym up to its first `_` (all of it without one), as str.split("_")[0]."""
    if dialect == "postgresql":
        return f"split_part({secret_name}, '_', 1)"
    return (
        f"CASE WHEN instr({secret_name}, '_') > 0 "
        f"THEN substr({secret_name}, 1, instr({secret_name}, '_') - 1) ELSE {secret_name} END"
    )


def _grouping_sets(fine: str) -> str:
    """PostgreSQL: the 63 tables as grouping sets of the fine count; GROUPING() of the outcome
    and extra columns tells which table a row belongs to."""
    common = [PREFIX_COLUMN, COUNTRY_FIELD, "covid19_diagnosis", *MAIN_VARIABLES]
    varying = [*OUTCOMES, *EXTRA_VARIABLES]
    sets = ", ".join(
        "(" + ", ".join(quote(n) for n in (*common, spec.outcome, spec.extra)) + ")"
        for spec in TABLE_SPECS
    )
    grouping = ", ".join(quote(name) for name in varying)
    select = ", ".join(quote(name) for name in (*common, *varying))
    return (
        f"_fine AS ({fine}) "
        f"SELECT GROUPING({grouping}) AS {SPEC_COLUMN}, {select}, "
        f"CAST(sum({COUNT_COLUMN}) AS bigint) FROM _fine GROUP BY GROUPING SETS ({sets})"
    )


def _union_all(fine: str) -> str:
    """SQLite: the fine count materialized once, then one GROUP BY per table."""
    common = [PREFIX_COLUMN, COUNTRY_FIELD, "covid19_diagnosis", *MAIN_VARIABLES]
    parts = []
    for index, spec in enumerate(TABLE_SPECS):
        columns = ", ".join(quote(n) for n in (*common, spec.outcome, spec.extra))
        parts.append(
            f"SELECT {index} AS {SPEC_COLUMN}, {columns}, sum({COUNT_COLUMN}) "
            f"FROM _fine GROUP BY {columns}"
        )
    return f"_fine AS MATERIALIZED ({fine}) " + " UNION ALL ".join(parts)


def _spec_of_mask() -> dict[int, TableSpec]:
    """GROUPING(outcomes..., extras...) of each grouping set: bit set = not grouped."""
    varying = [*OUTCOMES, *EXTRA_VARIABLES]
    masks = {}
    for spec in TABLE_SPECS:
        mask = 0
        for position, name in enumerate(varying):
            if name not in (spec.outcome, spec.extra):
                mask |= 1 << (len(varying) - 1 - position)
        masks[mask] = spec
    return masks


def fold_rows(
    tables: CountTables, rows: list[tuple], countries: dict[str, str], dialect: str
) -> None:
    """Add the rows of `tables_query` to the tables, `source` built from the prefix and the
    country's label (`countries`: code -> label)."""
    postgres = dialect == "postgresql"
    by_mask = _spec_of_mask()
    grouped: dict[TableSpec, list[tuple[tuple[str, ...], int]]] = {s: [] for s in TABLE_SPECS}
    for row in rows:
        spec = by_mask[row[0]] if postgres else TABLE_SPECS[row[0]]
        prefix, country, diagnosis, *rest = row[1:]
        mains, varying = rest[: len(MAIN_VARIABLES)], rest[len(MAIN_VARIABLES) : -1]
        if postgres:  # every outcome and extra column is there, those not grouped NULL
            outcome = varying[OUTCOMES.index(spec.outcome)]
            extra = varying[len(OUTCOMES) + EXTRA_VARIABLES.index(spec.extra)]
        else:
            outcome, extra = varying
        count = row[-1]
        source = central_source(prefix or "", countries.get(country or "", ""))
        cells = (cell(diagnosis), source, *(cell(v) for v in mains), cell(outcome), cell(extra))
        grouped[spec].append((cells, int(count)))
    for spec, spec_rows in grouped.items():
        tables.add_table_rows(spec, spec_rows)
