"""Writing an export: the manifest matches the members, dates and ages per profile, withdrawn
consent, progress, and a failure that leaves no file behind."""

import hashlib
import tracemalloc
from datetime import date

import pytest
from deid_helpers import core_dictionary, core_text, csv_rows, export, manifest, members, records

import exports.writer
from casereports.synthetic import random_records
from exports.profiles import PROFILES
from exports.writer import write_export

DICTIONARY = core_dictionary()
TEXT = core_text()
CENTRAL, OPEN = PROFILES["central"], PROFILES["open"]
DATE_FIELDS = [f.name for f in DICTIONARY.fields if f.validation.startswith("date")]


def test_the_manifest_describes_every_member_and_the_result_the_zip(tmp_path):
    result, path = export(tmp_path, DICTIONARY, TEXT, CENTRAL, records(DICTIONARY, 25))
    files = members(path)
    described = manifest(path)
    assert set(described["files"]) == set(files) - {"manifest.json"}
    for name, facts in described["files"].items():
        assert facts["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert facts["size"] == len(files[name]), name
    assert result.files == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    content = path.read_bytes()
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    assert result.size == len(content)
    assert result.manifest == described
    assert described["row_counts"] == result.row_counts
    assert described["job_id"] == 17 and described["filters"] == {"sites": [1]}
    assert described["profile"]["name"] == "central"
    assert described["profile"]["options"]["dates"] == "keep"
    assert described["dictionary"]["content_hash"] == DICTIONARY.content_hash
    assert described["software_version"]
    assert described["created_at"].endswith("Z")
    assert described["disclosure"] == result.disclosure


def test_only_the_zip_remains_in_the_directory_after_an_export(tmp_path):
    export(tmp_path, DICTIONARY, TEXT, OPEN, records(DICTIONARY, 10))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip"]


def test_a_failure_in_the_middle_leaves_no_file_at_all(tmp_path):
    rows = records(DICTIONARY, 200)

    def failing():
        for number, row in enumerate(rows):
            if number == 50:
                raise ConnectionError("database went away")
            yield row

    for profile in (CENTRAL, OPEN):
        with pytest.raises(ConnectionError):
            export(tmp_path, DICTIONARY, TEXT, profile, failing)
        assert list(tmp_path.iterdir()) == []


def test_a_failure_while_zipping_leaves_no_file_either(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports.writer.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        export(tmp_path, DICTIONARY, TEXT, CENTRAL, records(DICTIONARY, 10))
    assert list(tmp_path.iterdir()) == []


def test_a_case_whose_patient_withdrew_consent_is_not_exported(tmp_path):
    rows = records(DICTIONARY, 10)
    rows[3]["consent_withdrawn"] = True
    withdrawn = rows[3]["secret_name"]
    result, path = export(tmp_path, DICTIONARY, TEXT, OPEN, rows)
    assert result.row_counts["redcap_records.csv"] == 9
    assert result.disclosure["k_anonymity"]["records"] == 9
    assert withdrawn.encode() not in b"".join(members(path).values())


def test_progress_is_reported_while_writing(tmp_path):
    seen = []
    rows = records(DICTIONARY, 1200)
    write_export(
        dictionary=DICTIONARY,
        dictionary_csv=TEXT,
        profile=CENTRAL,
        key=b"k" * 32,
        records=lambda: iter(rows),
        out_path=tmp_path / "out.zip",
        manifest_fields={},
        on_progress=seen.append,
    )
    assert seen == [500, 1000, 1200]


def test_open_shifts_each_records_dates_by_one_offset_within_15_days(tmp_path):
    rows = records(DICTIONARY, 300)
    _, path = export(tmp_path, DICTIONARY, TEXT, OPEN, rows)
    offsets = set()
    for source, out in zip(rows, csv_rows(members(path)["redcap_records.csv"]), strict=True):
        shifts = {
            (date.fromisoformat(out[name]) - date.fromisoformat(source[name])).days
            for name in DATE_FIELDS
            if source[name]
        }
        assert len(shifts) <= 1, "the dates of one record moved by different offsets"
        offsets |= shifts
        assert all(out[name] == "" for name in DATE_FIELDS if not source[name])
    assert offsets <= set(range(-15, 0)) | set(range(1, 16))
    assert len(offsets) > 15, "the offsets do not vary between records"


def test_central_keeps_dates_and_top_codes_ages_and_open_bands_them(tmp_path):
    rows = records(DICTIONARY, 300)
    _, central = export(tmp_path, DICTIONARY, TEXT, CENTRAL, rows, name="central.zip")
    _, opened = export(tmp_path, DICTIONARY, TEXT, OPEN, rows, name="open.zip")
    central_rows = csv_rows(members(central)["redcap_records.csv"])
    open_rows = csv_rows(members(opened)["redcap_records.csv"])
    bands = {"0-17", "18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+", ""}
    old = 0
    for source, kept, banded in zip(rows, central_rows, open_rows, strict=True):
        assert all(kept[name] == source[name] for name in DATE_FIELDS)
        age = source["age_years"]
        if age and int(age) > 89:
            old += 1
            assert kept["age_years"] == "90"
        else:
            assert kept["age_years"] == age
        assert banded["age_years"] in bands
    assert old > 10


def test_memory_does_not_grow_with_the_number_of_records(tmp_path):
    dictionary = DICTIONARY

    def stream(count: int):
        def fresh():
            for number, row in enumerate(random_records(dictionary, count, seed=3)):
                row["covid19_country"] = ("GB", "FR", "DE")[number % 3]
                row["report_source"] = "patients" if number % 2 else "clinicians"
                yield row

        return fresh

    def peak(count: int) -> int:
        tracemalloc.start()
        try:
            export(tmp_path, dictionary, TEXT, OPEN, stream(count), name=f"{count}.zip")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(6_000)
    assert large < small * 1.5 + 256 * 1024, (small, large)
