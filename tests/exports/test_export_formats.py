"""The files of an export: the core CSV's columns, the REDCap records CSV, the codebook, cells."""

import csv
import io
import os
import re
from pathlib import Path

import pytest
from deid_helpers import (
    core_dictionary,
    core_text,
    csv_rows,
    export,
    extended_text,
    members,
    records,
)
from django.core.management import call_command

from casereports.dictionary import read_dictionary
from casereports.dictionary.model import HEADER
from exports.formats import core_columns, redcap_columns
from exports.profiles import PROFILES, Profile

DICTIONARY = core_dictionary()
TEXT = core_text()
CENTRAL = PROFILES["central"]
# The data contract sits beside the project (../shared), in every checkout and CI run.
SHARED_CORE_DATASET = Path(__file__).resolve().parents[3] / "shared" / "core-dataset.md"
CORE_DATASET_MD = Path(os.environ.get("GDSI_CORE_DATASET_MD", str(SHARED_CORE_DATASET)))
KEEP_TEXT = Profile(name="keep-text", description="test only", remove_free_text=False)


def documented_columns(markdown: str) -> list[tuple[str, bool]]:
    """The variable cells of core-dataset.md's table, in order: (name, is_suffix). A suffix
    (`_dry_cough`) abbreviates a name built on the previous full one; the `#` column says how
    many columns a row stands for."""
    found: list[tuple[str, bool]] = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"\d+(–\d+)?", cells[0]):
            continue
        first, _, last = cells[0].partition("–")
        names = re.findall(r"`([A-Za-z0-9_]+)`", cells[1])
        assert len(names) == int(last or first) - int(first) + 1, line
        found += [(name, name.startswith("_")) for name in names]
    return found


def test_the_core_csv_header_is_the_79_columns_of_core_dataset_md_in_order(tmp_path):
    if not CORE_DATASET_MD.is_file():
        message = f"{CORE_DATASET_MD} is missing (set GDSI_CORE_DATASET_MD)"
        if os.environ.get("CI") or os.environ.get("GDSI_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    documented = documented_columns(CORE_DATASET_MD.read_text(encoding="utf-8"))
    assert len(documented) == 79
    _, path = export(tmp_path, DICTIONARY, TEXT, CENTRAL, records(DICTIONARY, 3))
    for member in ("core_clinicians.csv", "core_patients.csv"):
        header = next(csv.reader(io.StringIO(members(path)[member].decode("utf-8"))))
        assert len(header) == 79
        previous = ""
        for column, (name, is_suffix) in zip(header, documented, strict=True):
            if is_suffix:
                # the previous full name cut at one of its underscores (or whole), then the suffix
                stems = [previous[:i] for i, char in enumerate(previous) if char == "_"]
                assert column in {stem + name for stem in [*stems, previous]}, column
            else:
                assert column == name
                previous = name


def test_raw_codes_and_iso_dates_go_out_as_stored(tmp_path):
    rows = records(DICTIONARY, 40)
    _, path = export(tmp_path, DICTIONARY, TEXT, CENTRAL, rows)
    written = csv_rows(members(path)["redcap_records.csv"])
    for source, out in zip(rows, written, strict=True):
        for name in ("covid19_country", "ms_type", "sex", "covid19_date_reporting", "height"):
            assert out[name] == source[name]


def test_one_core_file_per_report_source_and_every_record_in_the_redcap_file(tmp_path):
    rows = records(DICTIONARY, 30)
    result, path = export(tmp_path, DICTIONARY, TEXT, CENTRAL, rows)
    files = members(path)
    assert sorted(files) == sorted(
        [
            "core_clinicians.csv",
            "core_patients.csv",
            "redcap_records.csv",
            "codebook.csv",
            "manifest.json",
        ]
    )
    patients = sum(1 for row in rows if row["report_source"] == "patients")
    assert len(csv_rows(files["core_patients.csv"])) == patients
    assert len(csv_rows(files["core_clinicians.csv"])) == 30 - patients
    assert result.row_counts == {
        "core_clinicians.csv": 30 - patients,
        "core_patients.csv": patients,
        "redcap_records.csv": 30,
    }


def test_csv_lines_end_with_crlf_like_redcap(tmp_path):
    _, path = export(tmp_path, DICTIONARY, TEXT, CENTRAL, records(DICTIONARY, 5))
    data = members(path)["core_clinicians.csv"]
    assert data.count(b"\r\n") == data.count(b"\n") > 1


def test_a_formula_in_a_kept_text_field_is_neutralised_and_a_negative_number_is_not(tmp_path):
    attack = '=HYPERLINK("http://evil.example","click")'
    row = records(DICTIONARY, 1)[0] | {
        "com_other": attack,
        "last_b_cell_unit": "@SUM(A1)",
        "covid19_self_isolation_duration": "-3",
        "report_source": "clinicians",
    }
    _, path = export(tmp_path, DICTIONARY, TEXT, KEEP_TEXT, [row])
    for member in ("core_clinicians.csv", "redcap_records.csv"):
        (out,) = csv_rows(members(path)[member])
        assert out["com_other"] == "'" + attack
        assert out["last_b_cell_unit"] == "'@SUM(A1)"
        assert out["covid19_self_isolation_duration"] == "-3"


def test_the_redcap_file_has_the_record_id_first_checkbox_options_and_no_descriptive_fields():
    rows = list(csv.reader(io.StringIO(TEXT)))
    rows.insert(3, ["intro", "covid19", "", "descriptive", "Please read"] + [""] * 13)
    rows.insert(
        4, ["tests", "covid19", "", "checkbox", "Tests done", "1, PCR | 2, Antigen"] + [""] * 12
    )
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    dictionary = read_dictionary(out.getvalue())
    columns = redcap_columns(dictionary)
    assert columns[0] == "secret_name"
    assert "intro" not in columns and "tests" not in columns
    assert columns[2:4] == ["tests___1", "tests___2"]
    assert core_columns(dictionary)[2:4] == ["tests___1", "tests___2"]
    assert columns[-1] == DICTIONARY.fields[-1].name  # the derived fields too


def test_the_codebook_reads_back_as_the_same_dictionary_and_passes_load_dictionary(tmp_path):
    text = extended_text()
    dictionary = read_dictionary(text)
    _, path = export(tmp_path, dictionary, text, CENTRAL, records(dictionary, 3))
    codebook = members(path)["codebook.csv"]
    assert read_dictionary(codebook.decode("utf-8")).content_hash == dictionary.content_hash
    assert codebook.decode("utf-8").splitlines()[0].split(",")[0] == HEADER[0]
    saved = tmp_path / "codebook.csv"
    saved.write_bytes(codebook)
    out, err = io.StringIO(), io.StringIO()
    call_command("load_dictionary", str(saved), "--check", stdout=out, stderr=err)
    assert "codebook.csv is valid" in out.getvalue(), err.getvalue()
