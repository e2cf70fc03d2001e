"""k-anonymity in the open profile: after suppression every class of age band, sex and country
has at least k records, and the manifest's report matches a count made here."""

import dataclasses
import random
from collections import Counter

import pytest
from deid_helpers import core_dictionary, core_text, csv_rows, export, manifest, members, records

from exports.deidentify import RecordsChanged
from exports.profiles import PROFILES

DICTIONARY = core_dictionary()
TEXT = core_text()
OPEN = PROFILES["open"]
QUASI = ("age_years", "sex", "covid19_country")


def band(age: str) -> str:
    """The open profile's age bands, written out here independently of the code."""
    if not age or int(age) < 0:
        return ""
    years = min(int(age), 90)
    for low, high in ((0, 17), (18, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79)):
        if low <= years <= high:
            return f"{low}-{high}"
    return "80+"


def clustered_records(count: int) -> list[dict[str, str]]:
    """Mostly common countries (big classes), a few rare ones (classes below k)."""
    rng = random.Random(5)
    rows = records(DICTIONARY, count, seed=11)
    for row in rows:
        row["covid19_country"] = rng.choice(["GB"] * 6 + ["FR"] * 3 + ["DE", "IS", "MT", ""])
        row["sex"] = rng.choice(["female", "female", "male", ""])
    return rows


def expected_report(rows: list[dict[str, str]], k: int) -> dict:
    classes: Counter = Counter()
    blank = 0
    for row in rows:
        values = (band(row["age_years"]), row["sex"], row["covid19_country"])
        if any(values):
            classes[(row["report_source"], *values)] += 1
        else:
            blank += 1
    rare = {key: n for key, n in classes.items() if n < k}
    kept = [n for key, n in classes.items() if key not in rare]
    return {
        "records": len(rows),
        "classes_before": len(classes),
        "smallest_class_before": min(classes.values()),
        "classes_after": len(kept),
        "smallest_class_after": min(kept),
        "records_suppressed": sum(rare.values()),
        "values_suppressed": sum(n * sum(1 for v in key[1:] if v) for key, n in rare.items()),
        "records_without_quasi_identifiers": blank + sum(rare.values()),
    }


def test_every_written_class_has_at_least_k_records_and_the_report_is_right(tmp_path):
    rows = clustered_records(2000)
    _, path = export(tmp_path, DICTIONARY, TEXT, OPEN, rows)
    files = members(path)
    for member in ("core_clinicians.csv", "core_patients.csv"):
        written = Counter(
            tuple(row[name] for name in QUASI)
            for row in csv_rows(files[member])
            if any(row[name] for name in QUASI)
        )
        assert written, member
        assert min(written.values()) >= 5, member
    report = manifest(path)["disclosure"]["k_anonymity"]
    expected = expected_report(rows, 5)
    assert {key: report[key] for key in expected} == expected
    assert report["k"] == 5 and report["quasi_identifiers"] == list(QUASI)
    assert expected["records_suppressed"] > 0 and expected["classes_after"] > 10


def test_a_suppressed_record_loses_only_its_quasi_identifiers(tmp_path):
    rows = clustered_records(600)
    _, path = export(tmp_path, DICTIONARY, TEXT, OPEN, rows)
    written = csv_rows(members(path)["redcap_records.csv"])
    suppressed = 0
    for source, out in zip(rows, written, strict=True):
        if not any(out[name] for name in QUASI) and any(source[name] for name in QUASI):
            suppressed += 1
            assert out["ms_type"] == source["ms_type"]
            assert out["height"] == source["height"]
        elif any(out[name] for name in QUASI):
            assert out["age_years"] == band(source["age_years"])
            assert out["sex"] == source["sex"]
            assert out["covid19_country"] == source["covid19_country"]
    assert suppressed == manifest(path)["disclosure"]["k_anonymity"]["records_suppressed"]


def test_a_larger_k_suppresses_more(tmp_path):
    rows = clustered_records(600)
    strict = dataclasses.replace(OPEN, name="strict", k_anonymity=20)
    _, five = export(tmp_path, DICTIONARY, TEXT, OPEN, rows, name="five.zip")
    _, twenty = export(tmp_path, DICTIONARY, TEXT, strict, rows, name="twenty.zip")
    five_report = manifest(five)["disclosure"]["k_anonymity"]
    twenty_report = manifest(twenty)["disclosure"]["k_anonymity"]
    assert twenty_report["records_suppressed"] > five_report["records_suppressed"]
    assert twenty_report["smallest_class_after"] >= 20
    assert twenty_report == {
        **expected_report(rows, 20),
        **{key: twenty_report[key] for key in ("k", "quasi_identifiers", "partitioned_by")},
    }


def test_records_that_change_between_the_passes_fail_the_export(tmp_path):
    rows = clustered_records(200)
    calls = []

    def changing():
        calls.append(1)
        return iter(rows if len(calls) == 1 else rows[:-40])

    with pytest.raises(RecordsChanged, match="changed between the two passes"):
        export(tmp_path, DICTIONARY, TEXT, OPEN, changing)
    assert list(tmp_path.iterdir()) == []


def test_central_reports_the_classes_without_suppressing(tmp_path):
    rows = clustered_records(300)
    _, path = export(tmp_path, DICTIONARY, TEXT, PROFILES["central"], rows)
    report = manifest(path)["disclosure"]["k_anonymity"]
    assert report["k"] is None and report["records_suppressed"] == 0
    assert report["smallest_class_before"] == report["smallest_class_after"] >= 1
    written = csv_rows(members(path)["redcap_records.csv"])
    assert [row["covid19_country"] for row in written] == [r["covid19_country"] for r in rows]
