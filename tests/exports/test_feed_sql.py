"""The platform's tables computed in the database equal what the federated command counts in
the same rows exported as a core CSV, on SQLite and on PostgreSQL (the suite's database, and
PostgreSQL directly whatever the suite runs on)."""

import csv
import json
import sqlite3

import psycopg
import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.models import Case, CaseStatus
from casereports.rules import RecordPipeline
from casereports.synthetic import edge_records, random_records
from exports.federated.run import count_csv
from exports.federated.tables import TABLE_SPECS, CountTables, central_source, record_key
from exports.feedsql import fold_rows, platform_tables, tables_query
from exports.formats import core_columns

SOURCES = ("clinicians", "patients")
# Pseudonyms the prefix rule must handle: no "_", several, a leading one.
ODD_NAMES = ("REGISTRY7", "A_B_C", "_lead")


def write_core_csv(path, cases, dictionary) -> None:
    """The cases' stored values as the core data set CSV the federated command reads (test
    input, written raw: the values are the generated codes, numbers and dates)."""
    columns = core_columns(dictionary)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for case in cases.order_by("pk"):
            writer.writerow([case.data.get(name, "") for name in columns])


def assert_same_tables(actual: CountTables, expected: CountTables) -> None:
    assert actual.total() == expected.total()
    for spec in TABLE_SPECS:
        assert actual.rows(spec) == expected.rows(spec), spec


@pytest.fixture
def platform_cases(site_a, site_b, make_cases):
    """Counted cases of both sources at two sites, the stored report source contradicting the
    case's (the case's column is the truth), some odd pseudonyms; plus drafts and withdrawn
    cases, which must not count."""
    make_cases(site_a, 120, report_source="clinicians", seed=11)
    make_cases(site_b, 80, report_source="patients", seed=12)
    make_cases(site_a, 30, report_source="clinicians", status=CaseStatus.LOCKED, seed=13)
    make_cases(site_a, 25, report_source="patients", status=CaseStatus.DRAFT, seed=14)
    make_cases(site_b, 25, report_source="clinicians", consent_withdrawn=True, seed=15)
    cases = list(Case.objects.order_by("pk"))
    for number, case in enumerate(cases):
        other = "patients" if case.report_source == "clinicians" else "clinicians"
        if number % 2:
            case.data["report_source"] = other
        else:
            case.data.pop("report_source", None)
        if number < len(ODD_NAMES):
            case.data["secret_name"] = ODD_NAMES[number]
    Case.objects.bulk_update(cases, ["data"])


def counted(report_source: str):
    return Case.objects.filter(
        report_source=report_source,
        status__in=(CaseStatus.SUBMITTED, CaseStatus.LOCKED),
        consent_withdrawn=False,
    )


@pytest.mark.parametrize("report_source", SOURCES)
def test_platform_tables_equal_the_command_on_the_same_rows_as_csv(
    platform_cases, core_version, tmp_path, report_source
):
    path = tmp_path / "core.csv"
    write_core_csv(path, counted(report_source), core_dictionary().dictionary)
    expected = count_csv(path, report_source, central=True).tables
    actual = platform_tables(report_source)
    assert actual.total() == counted(report_source).count() > 0
    assert_same_tables(actual, expected)


def test_drafts_and_withdrawn_cases_are_not_counted(platform_cases):
    everything = platform_tables("patients", cases=Case.objects.all())
    assert platform_tables("patients").total() == counted("patients").count() == 80
    # Given every case, the drafts count (25 more patients); the default leaves them out.
    assert everything.total() == 105
    withdrawn = Case.objects.filter(consent_withdrawn=True, report_source="clinicians")
    assert withdrawn.count() == 25
    assert platform_tables("clinicians").total() == 150


def test_only_the_asked_report_source_is_counted(platform_cases):
    assert platform_tables("clinicians", cases=counted("patients")).total() == 0


def test_no_cases_give_empty_tables(db):
    tables = platform_tables("clinicians")
    assert tables.total() == 0
    assert all(not tables.rows(spec) for spec in TABLE_SPECS)


def python_tables(records, report_source: str) -> CountTables:
    shipped = core_dictionary()
    pipeline = RecordPipeline(shipped.dictionary, shipped.rules)
    countries = dict(shipped.dictionary.field("covid19_country").choices)
    tables = CountTables(report_source)
    for record in records:
        values = pipeline.run({**record, "report_source": report_source}).values
        source = central_source(values["secret_name"], countries.get(values["covid19_country"], ""))
        tables.add(record_key(values, source))
    return tables


def feed_records() -> list[dict[str, str]]:
    shipped = core_dictionary()
    base = dict(next(iter(random_records(shipped.dictionary, 1, seed=3))))
    base["covid19_country"] = "FR"
    records = edge_records(base) + list(random_records(shipped.dictionary, 300, seed=5))
    for number, record in enumerate(records):
        record["secret_name"] = ODD_NAMES[number % 3] if number % 7 == 0 else f"S{number % 3}_x"
        record["report_source"] = "nonsense"  # the query's constant must win
    return records


def fine_count_query(dialect: str, tables: CountTables) -> tuple[str, list]:
    shipped = core_dictionary()
    inputs = "(SELECT id, data FROM feed_input)"
    return tables_query(shipped.dictionary, shipped.rules, dialect, inputs, [], tables)


def fold_and_compare(tables: CountTables, rows: list[tuple], records: list[dict]) -> None:
    countries = dict(core_dictionary().dictionary.field("covid19_country").choices)
    fold_rows(tables, rows, countries)
    assert_same_tables(tables, python_tables(records, tables.report_source))


@pytest.mark.parametrize("report_source", SOURCES)
def test_postgres_query_equals_the_python_pipeline(postgres_dsn, report_source):
    """PostgreSQL's fine count, run directly (the suite may be on SQLite)."""
    records = feed_records()
    tables = CountTables(report_source)
    query, params = fine_count_query("postgresql", tables)
    with psycopg.connect(postgres_dsn) as connection:
        cursor = connection.cursor()
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("CREATE TEMPORARY TABLE feed_input (id integer, data jsonb)")
        cursor.executemany(
            "INSERT INTO feed_input VALUES (%s, %s)",
            [(number, json.dumps(record)) for number, record in enumerate(records)],
        )
        cursor.execute(query, params)
        rows = cursor.fetchall()
        connection.rollback()
    fold_and_compare(tables, rows, records)


@pytest.mark.parametrize("report_source", SOURCES)
def test_sqlite_query_equals_the_python_pipeline(report_source):
    """SQLite's fine count, run directly (CI runs on PostgreSQL)."""
    records = feed_records()
    tables = CountTables(report_source)
    query, params = fine_count_query("sqlite", tables)
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE feed_input (id integer, data text)")
        connection.executemany(
            "INSERT INTO feed_input VALUES (?, ?)",
            [(number, json.dumps(record)) for number, record in enumerate(records)],
        )
        rows = connection.execute(query, params).fetchall()
    fold_and_compare(tables, rows, records)
