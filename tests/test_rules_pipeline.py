"""Quality rules, repairs and derivations on records, from the dictionary alone.

The Python pipeline is checked against values worked out by hand from gdsi-analysis.md; the SQL
pipeline (SQLite and PostgreSQL) must then give identical results on every record.
"""

import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest

from casereports.dictionary import read_dictionary, read_quality_rules
from casereports.rules import RecordPipeline
from casereports.synthetic import edge_records, random_records

DATA = Path(__file__).resolve().parent.parent / "casereports" / "data"
DICTIONARY = read_dictionary(DATA / "core_dataset_v1.csv")
RULES = read_quality_rules(DATA / "core_dataset_v1_quality_rules.csv", DICTIONARY)
PIPELINE = RecordPipeline(DICTIONARY, RULES)

BASE = {
    "secret_name": "C_TEST",
    "report_source": "clinicians",
    "covid19_date_reporting": "2021-03-01",
    "covid19_date_suspected_onset": "2020-11-15",
    "covid19_confirmed_case": "yes",
    "covid19_admission_hospital": "no",
    "age_years": "45",
    "sex": "female",
    "height": "170",
    "weight": "65",
    "ms_type": "RRMS",
    "ms_onset_date": "2005-01-01",
    "edss_value": "2",
    "current_dmt": "yes",
    "type_dmt": "ocrelizumab",
    "dmt_start_date": "2019-01-01",
    "covid_wave": "2",
}


def derived(**changes: str) -> dict[str, str]:
    return PIPELINE.run({**BASE, **changes}).values


@pytest.mark.parametrize(
    ("age", "category"),
    [
        ("0", ""),
        ("17", "0"),
        ("18", "1"),
        ("50", "1"),
        ("51", "2"),
        ("70", "2"),
        ("71", "3"),
        ("", ""),
        ("111", ""),
    ],
)
def test_age_category_edges(age, category):
    assert derived(age_years=age)["age_in_cat"] == category


@pytest.mark.parametrize(("edss", "category"), [("6", "0"), ("6.5", "1"), ("0", "0"), ("", "")])
def test_edss_category_edges(edss, category):
    assert derived(edss_value=edss)["edss_in_cat2"] == category


@pytest.mark.parametrize(
    ("height", "weight", "category"),
    [("100", "30", "not_overweight"), ("100", "30.5", "overweight"), ("", "80", "")],
)
def test_bmi_exactly_30_is_not_overweight(height, weight, category):
    assert derived(height=height, weight=weight)["bmi_in_cat2"] == category


@pytest.mark.parametrize(
    ("start", "cat1", "cat2"),
    [
        ("2020-05-17", "0", "1"),  # 182 days before 2020-11-15 is 2020-05-17
        ("2020-05-18", "0", "0"),  # 181 days
        ("2019-11-16", "1", "1"),  # 365 days
        ("2018-11-16", "2", "1"),  # 730 days
        ("2018-11-17", "1", "1"),
    ],  # 729 days
)
def test_treatment_duration_edges(start, cat1, cat2):
    values = derived(dmt_start_date=start)
    assert (values["duration_treatment_cat1"], values["duration_treatment_cat2"]) == (cat1, cat2)


def test_treatment_duration_exactly_182_days_is_the_upper_class():
    values = derived(dmt_start_date="2020-05-17")
    assert values["duration_treatment"] == "182"
    assert values["duration_treatment_cat2"] == "1"


def test_a_failing_rule_blanks_its_variable_and_everything_derived_from_it():
    result = PIPELINE.run({**BASE, "age_years": "111"})
    assert "Q8_age_years" in result.qa_status
    assert result.values["age_years"] == ""
    assert result.values["age_in_cat"] == ""


def test_death_and_recovery_both_yes_blanks_both():
    result = PIPELINE.run(
        {**BASE, "covid19_outcome_death": "yes", "covid19_outcome_recovered": "yes"}
    )
    assert result.values["covid19_outcome_death"] == ""
    assert result.values["covid19_outcome_recovered"] == ""


def test_repairs_fill_what_the_symptoms_imply():
    values = derived(covid19_has_symptoms="", covid19_sympt_fever="yes")
    assert values["covid19_has_symptoms"] == "yes"


def test_never_treated_is_not_using_a_dmt_correction_c1():
    assert derived(current_dmt="never_treated", type_dmt="")["dmt_type_overall"] == (
        "currently not using any DMT"
    )


def test_a_clean_record_passes():
    assert PIPELINE.run(BASE).qa_status == "pass"


def sample_records() -> list[dict[str, str]]:
    return edge_records(BASE) + list(random_records(DICTIONARY, 400, seed=7))


def assert_same_as_python(rows: list[dict[str, str]], records: list[dict[str, str]]) -> None:
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        expected = PIPELINE.run(record)
        failed = row.pop("_failed")
        row.pop("_record")
        assert failed == " ".join(f.rule_id for f in expected.failures), record
        differing = {
            name: (value, expected.values.get(name, ""))
            for name, value in row.items()
            if value != expected.values.get(name, "")
        }
        assert not differing, (record, differing)


def test_sqlite_pipeline_equals_python():
    from casereports.rules_sql import run_pipeline_sql

    records = sample_records()
    with sqlite3.connect(":memory:") as connection:
        rows = run_pipeline_sql(connection, DICTIONARY, RULES, records, "sqlite")
    assert_same_as_python(rows, records)


def test_postgres_pipeline_equals_python(postgres_dsn):
    from casereports.rules_sql import run_pipeline_sql

    records = sample_records()
    with psycopg.connect(postgres_dsn) as connection:
        rows = run_pipeline_sql(connection, DICTIONARY, RULES, records, "postgresql")
        connection.rollback()
    assert_same_as_python(rows, records)


# --- the compiled pipeline (casereports.logic.compiled) --------------------------------------

COMPILED_PIPELINE = RecordPipeline(DICTIONARY, RULES, compiled=True)


def awkward_records() -> list[dict]:
    """Records a CSV reader or a caller might hand over: missing keys, None, calc columns."""
    awkward = [{}, {"report_source": "patients"}, {**BASE, "age_years": None, "height": 170}]
    awkward.append({**BASE, "bmi": "junk", "duration_treatment": "9999", "age_in_cat": "x"})
    awkward.append({**BASE, "covid19_date_suspected_onset": "today", "dmt_start_date": "Now"})
    awkward.append({**BASE, "type_dmt_other": "   ", "current_dmt": "yes", "type_dmt": ""})
    return awkward


@pytest.mark.parametrize("today", [date(2020, 10, 1), date(2021, 3, 1), None])
def test_compiled_pipeline_equals_the_interpreted_one(today):
    records = edge_records(BASE) + awkward_records()
    records += list(random_records(DICTIONARY, 3000, seed=11))
    failures = repairs = 0
    for record in records:
        expected = PIPELINE.run(record, today=today)
        assert COMPILED_PIPELINE.run(record, today=today) == expected, record
        failures += len(expected.failures)
        repairs += len(expected.repairs)
    assert failures > 3000 and repairs > 300  # the rules fired, so they were compared
