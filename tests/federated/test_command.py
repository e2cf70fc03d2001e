"""`gdsi-federated run` and `inspect` as a registry's data manager runs them: real subprocesses
on small core-data-set CSVs, the result zip opened and checked as the central team would."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import zipfile

import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.reader import open_core_csv
from exports.federated.result import read_result_zip
from exports.federated.run import count_csv
from exports.federated.tables import TABLE_SPECS, table_file_names
from tests.federated.command_helpers import (
    BASE_PREFIX,
    CORE_COLUMNS,
    DATE_COLUMNS,
    REPO,
    case,
    dmy,
    manifest_of,
    run_command,
    table_rows,
    write_csv,
    zip_texts,
)

WAVE_TABLE = "clinicians_query3_covid_wave1_covid19_admission_hospital.csv"
BMI_TABLE = "clinicians_query3_bmi_in_cat2_covid19_admission_hospital.csv"


def run_ok(tmp_path, source, *options, report_source="clinicians"):
    out = tmp_path / "result.zip"
    run = run_command(
        "run", source, "--report-source", report_source, "--out", out, *options, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    return out, run


def test_a_run_writes_the_63_tables_quality_and_manifest(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case(), case(secret_name="REG_0002")])

    out, run = run_ok(tmp_path, source)

    names = set(zip_texts(out))
    assert names == {*table_file_names("clinicians"), "quality.csv", "manifest.json"}
    assert table_rows(out, WAVE_TABLE) == [
        ["", *TABLE_SPECS[49].grouping, "secret_name"],
        ["0", *BASE_PREFIX, "2", "2"],
    ]
    assert table_rows(out, BMI_TABLE)[1] == ["0", *BASE_PREFIX, "not_overweight", "2"]
    assert "rows read: 2" in run.stdout
    assert "records per diagnosis: confirmed 2" in run.stdout
    assert f"result: {out}" in run.stdout
    assert not list(tmp_path.glob(".result.zip*")), "the temporary file was left behind"


def test_the_manifest_names_dictionary_corrections_counts_and_every_files_hash(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case(), case(secret_name="REG_0002")])

    out, _ = run_ok(tmp_path, source, report_source="patients")

    manifest = manifest_of(out)
    shipped = core_dictionary()
    assert manifest["format"] == "gdsi-federated-count-tables"
    assert manifest["format_version"] == 1
    assert manifest["report_sources"] == ["patients"]
    assert manifest["source_mode"] == "registry"
    assert manifest["dictionary"] == {"name": shipped.name, "hash": shipped.content_hash}
    assert manifest["input_rows"] == 2
    assert manifest["rows_per_diagnosis"] == {"patients": {"confirmed": 2}}
    assert [c["id"] for c in manifest["corrections"]] == ["C1", "C2", "C3"]
    assert "never_treated" in manifest["corrections"][0]["description"]
    assert manifest["software"]["name"] == "gdsi-casereports"
    assert manifest["software"]["version"]
    assert manifest["created_at"].endswith("Z")
    with zipfile.ZipFile(out) as archive:
        listed = set(manifest["files"])
        assert listed == set(archive.namelist()) - {"manifest.json"}
        for name, entry in manifest["files"].items():
            data = archive.read(name)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
            assert entry["bytes"] == len(data)
    assert (
        manifest["files"]["patients_query3_covid_wave1_covid19_admission_hospital.csv"]["rows"] == 1
    )


def test_the_zip_passes_the_zip_tools_own_test(tmp_path):
    out, _ = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", [case()]))
    if shutil.which("unzip"):
        checked = subprocess.run(["unzip", "-t", str(out)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
        assert "No errors detected" in checked.stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None


def test_bom_semicolons_and_day_month_dates_count_like_the_iso_file(tmp_path):
    records = [
        case(),
        case(secret_name="REG_0002", covid19_outcome_death="yes", covid19_outcome_recovered="no"),
    ]
    iso, _ = run_ok(tmp_path, write_csv(tmp_path / "iso.csv", records))
    iso.rename(tmp_path / "iso.zip")
    european = [
        {
            **record,
            **{
                column: dmy(record[column], "/" if number % 2 else "-")
                for number, column in enumerate(DATE_COLUMNS)
                if record.get(column)
            },
        }
        for record in records
    ]
    source = write_csv(tmp_path / "eu.csv", european, delimiter=";", bom=True)
    assert source.read_bytes().startswith(b"\xef\xbb\xbfsecret_name;")

    out, run = run_ok(tmp_path, source, "--date-format", "dmy")

    ours, theirs = zip_texts(tmp_path / "iso.zip"), zip_texts(out)
    for name in table_file_names("clinicians"):
        assert theirs[name] == ours[name], name
    assert "values blanked as unparsable: 0" in run.stdout
    assert manifest_of(out)["input"]["delimiter"] == ";"


def test_the_delimiter_given_on_the_command_line_is_used(tmp_path):
    source = write_csv(tmp_path / "eu.csv", [case()], delimiter=";")
    out, _ = run_ok(tmp_path, source, "--delimiter", ";")
    assert table_rows(out, WAVE_TABLE)[1] == ["0", *BASE_PREFIX, "2", "1"]


def test_missing_optional_columns_are_blank_and_extra_columns_are_ignored(tmp_path):
    dropped = {"height", "weight", "com_other", "covid19_ecmo"}
    columns = ["", *[c for c in CORE_COLUMNS if c not in dropped], "ward", "bmi_in_cat2"]
    records = [{**case(), "": "0", "ward": "4B", "bmi_in_cat2": "overweight"}]
    source = write_csv(tmp_path / "registry.csv", records, columns=columns)

    out, run = run_ok(tmp_path, source)

    assert table_rows(out, BMI_TABLE)[1] == ["0", *BASE_PREFIX, "missing", "1"]
    assert "columns ignored (not in the core data set): (unnamed), ward" in run.stdout
    assert "columns ignored (derived, recomputed here): bmi_in_cat2" in run.stdout
    assert "columns missing (read as blank): " in run.stdout
    assert set(manifest_of(out)["input"]["missing_columns"]) == dropped


def test_the_wave_comes_from_covid_wave1_only_when_covid_wave_is_absent(tmp_path):
    """Correction C3: the toolkit read only covid_wave1; the core data set calls it covid_wave."""
    toolkit_columns = [c if c != "covid_wave" else "covid_wave1" for c in CORE_COLUMNS]
    toolkit = [{**case(), "covid_wave1": "1"}]
    out, run = run_ok(
        tmp_path, write_csv(tmp_path / "toolkit.csv", toolkit, columns=toolkit_columns)
    )
    assert table_rows(out, WAVE_TABLE)[1] == ["0", *BASE_PREFIX, "1", "1"]
    assert "registry wave read from: covid_wave1" in run.stdout

    both = write_csv(
        tmp_path / "both.csv",
        [{**case(), "covid_wave1": "1"}],
        columns=[*CORE_COLUMNS, "covid_wave1"],
    )
    out, _ = run_ok(tmp_path, both)
    assert table_rows(out, WAVE_TABLE)[1] == ["0", *BASE_PREFIX, "2", "1"]


def test_codes_match_whatever_their_case_and_a_country_may_be_its_english_name(tmp_path):
    shouting = case(
        covid19_confirmed_case="YES",
        covid19_admission_hospital="Yes",
        sex="Female",
        ms_type="rrms",
        type_dmt="Ocrelizumab",
        covid19_country="germany",
    )
    out, run = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", [shouting]))
    assert table_rows(out, WAVE_TABLE)[1] == ["0", *BASE_PREFIX, "2", "1"]
    assert "values blanked as unparsable: 0" in run.stdout


def test_unparsable_values_are_blanked_and_reported_with_line_and_column_never_the_value(
    tmp_path,
):
    records = [
        case(com_other="asthma,\nsince childhood", has_comorbidities="yes"),
        case(secret_name="REG_0002", dmt_start_date="01/10/2019", age_years="forty-four"),
        case(secret_name="REG_0003", covid19_icu_stay="maybe", weight="65,5"),
    ]
    source = write_csv(tmp_path / "registry.csv", records)

    out, run = run_ok(tmp_path, source)

    quality = list(csv.DictReader(io.StringIO(zip_texts(out)["quality.csv"])))
    assert list(quality[0]) == ["line", "record", "failed_rules", "blanked", "unparsable"]
    assert quality == [
        {
            "line": "4",
            "record": "2",
            "failed_rules": "",
            "blanked": "",
            "unparsable": "age_years: not a whole number; "
            "dmt_start_date: not a date (expected YYYY-MM-DD)",
        },
        {
            "line": "5",
            "record": "3",
            "failed_rules": "",
            "blanked": "",
            "unparsable": "covid19_icu_stay: not one of the codes (yes, no); "
            "weight: not a number (digits with . for decimals)",
        },
    ]
    text = zip_texts(out)["quality.csv"]
    for value in ("01/10/2019", "forty-four", "maybe", "65,5"):
        assert value not in text
    assert "values blanked as unparsable: 4 (in 2 records; see quality.csv)" in run.stdout
    age_table = table_rows(out, "clinicians_query3_duration_treatment_cat1_covid19_icu_stay.csv")
    counted = {tuple(row[1:-1]): row[-1] for row in age_table[1:]}
    # REG_0002: age unparsable (age_in_cat missing) and no treatment start (duration missing).
    assert (
        counted[
            (
                "confirmed",
                "missing",
                "currently on ocrelizumab",
                "missing",
                "relapsing_remitting",
                "female",
                "0",
                "no",
                "missing",
            )
        ]
        == "1"
    )
    # REG_0003: ICU unparsable, so missing.
    assert counted[(*BASE_PREFIX[:7], "missing", "1")] == "1"
    assert manifest_of(out)["quality"]["unparsable_by_column"] == {
        "age_years": 1,
        "covid19_icu_stay": 1,
        "dmt_start_date": 1,
        "weight": 1,
    }


def test_a_failing_quality_rule_is_reported_with_the_variables_it_blanked(tmp_path):
    records = [
        case(),
        case(secret_name="REG_0002", age_years="130", former_smoker="yes", current_smoker="yes"),
    ]
    out, run = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", records))

    quality = list(csv.DictReader(io.StringIO(zip_texts(out)["quality.csv"])))
    assert quality == [
        {
            "line": "3",
            "record": "2",
            "failed_rules": "Q8_age_years Q13_smoker",
            "blanked": "age_years current_smoker former_smoker",
            "unparsable": "",
        }
    ]
    assert "records flagged by quality rules: 1" in run.stdout
    assert manifest_of(out)["quality"]["rule_failures"] == {"Q13_smoker": 1, "Q8_age_years": 1}


def test_a_row_without_a_pseudonym_is_counted_as_the_toolkit_did_and_said_so(tmp_path):
    blank_row = {column: "" for column in CORE_COLUMNS}
    out, run = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", [case(), blank_row]))

    assert "rows read: 2, counted as clinicians records" in run.stdout
    assert "records with a blank secret_name (counted, as the toolkit did): 1" in run.stdout
    manifest = manifest_of(out)
    assert manifest["input_rows"] == 2
    assert manifest["quality"]["records_without_secret_name"] == 1
    assert read_result_zip(out).tables_by_source["clinicians"].total() == 2


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"", (), "the file is empty"),
        (
            b"REG_0001,2021-03-01,yes\nREG_0002,2021-03-02,no\n",
            (),
            "the first line is not a header of the core data set",
        ),
        (
            b"secret_name;covid19_date_reporting;age_years\nREG_1;2021-03-01;44\n",
            ("--delimiter", ","),
            "does not split into columns with the delimiter ','; it looks like ';'",
        ),
        (
            b"secret_name|covid19_date_reporting|age_years\nREG_1|2021-03-01|44\n",
            (),
            "does not split into columns with ',', ';' or tab",
        ),
        (
            b"record_id,covid19_date_reporting,age_years\nREG_1,2021-03-01,44\n",
            (),
            "the header has no secret_name column",
        ),
        (
            "secret_name,com_other\nREG_1,Ménière\n".encode("latin-1"),
            (),
            "line 2: the file is not valid utf-8 text",
        ),
        (
            b"secret_name,age_years,age_years\nREG_1,44,45\n",
            (),
            "the header names these columns more than once: age_years",
        ),
    ],
    ids=["empty", "no-header", "wrong-delimiter", "pipes", "no-secret-name", "latin-1", "twice"],
)
def test_a_file_that_is_not_the_core_data_set_is_refused_and_nothing_is_written(
    tmp_path, content, options, message
):
    source = tmp_path / "registry.csv"
    source.write_bytes(content)
    out = tmp_path / "result.zip"

    run = run_command(
        "run", source, "--report-source", "clinicians", "--out", out, *options, cwd=tmp_path
    )

    assert run.returncode == 2
    assert message in run.stderr
    assert "Nothing was written." in run.stderr
    assert run.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.csv"]


def test_a_latin_1_file_is_read_when_its_encoding_is_named(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case(com_other="Ménière")], encoding="latin-1")
    out, _ = run_ok(tmp_path, source, "--encoding", "latin-1")
    assert manifest_of(out)["input"]["encoding"] == "latin-1"


def test_usage_errors_exit_2(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case()])
    no_source = run_command("run", source, "--out", tmp_path / "r.zip", cwd=tmp_path)
    assert no_source.returncode == 2
    assert "--report-source" in no_source.stderr
    not_zip = run_command(
        "run", source, "--report-source", "patients", "--out", tmp_path / "r.csv", cwd=tmp_path
    )
    assert not_zip.returncode == 2
    assert "--out must name a .zip file" in not_zip.stderr
    missing = run_command(
        "run",
        tmp_path / "nope.csv",
        "--report-source",
        "patients",
        "--out",
        tmp_path / "r.zip",
        cwd=tmp_path,
    )
    assert missing.returncode == 2
    assert "cannot open" in missing.stderr


def test_inspect_says_what_the_zip_holds(tmp_path):
    records = [case(), case(secret_name="REG_0002"), case(secret_name="REG_0003", sex="male")]
    out, _ = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", records))

    inspected = run_command("inspect", out, cwd=tmp_path)

    assert inspected.returncode == 0, inspected.stderr
    text = inspected.stdout
    assert "checked: 64 files, each matching its sha256 in the manifest" in text
    assert "input rows: 3" in text
    assert "report source clinicians: 63 tables, 3 records in each" in text
    assert "records per diagnosis: confirmed 3" in text
    assert "smallest non-zero cell: 1" in text
    assert f"{WAVE_TABLE}: 2 cells, total 3, smallest 1" in text
    assert "C3: " in text
    assert "also: quality.csv (0 rows)" in text


def test_inspect_refuses_a_changed_zip(tmp_path):
    out, _ = run_ok(tmp_path, write_csv(tmp_path / "registry.csv", [case()]))
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("notes.txt", "hello")

    inspected = run_command("inspect", out, cwd=tmp_path)

    assert inspected.returncode == 2
    assert "the zip holds notes.txt, which the manifest does not list" in inspected.stderr


def test_the_command_runs_without_django(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case()])
    out = tmp_path / "result.zip"
    program = (
        "import runpy, sys\n"
        f"sys.argv = ['gdsi-federated', 'run', {str(source)!r}, '--report-source', 'clinicians',"
        f" '--out', {str(out)!r}]\n"
        "try:\n"
        "    runpy.run_module('exports.federated', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'redis', 'psycopg')))\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "[]"
    assert out.exists()


def test_central_mode_names_the_source_by_pseudonym_prefix_and_country(tmp_path):
    records = [case(), case(secret_name="C_xyz", covid19_country="")]
    result = count_csv(write_csv(tmp_path / "platform.csv", records), "clinicians", central=True)
    spec = TABLE_SPECS[0]
    assert {cells[1] for cells, _ in result.tables.rows(spec)} == {"REG_Germany", "C_missing"}
    result.quality.close()


def test_count_csv_holds_its_quality_rows_on_disk_and_compares_like_a_list(tmp_path):
    records = [case(), case(secret_name="REG_0002", age_years="x")]
    result = count_csv(write_csv(tmp_path / "registry.csv", records), "patients")
    assert len(result.quality) == 1
    row = result.quality[0]
    assert (row.line, row.record_number, row.unparsable) == (
        3,
        2,
        [("age_years", "not a whole number")],
    )
    assert result.quality == [row]
    assert result.input_rows == 2
    assert result.rows_per_diagnosis == {"confirmed": 2}
    path = result.quality.path
    result.quality.close()
    assert not path.exists()


def typed_rows(path, **options):
    with open_core_csv(path, core_dictionary().dictionary, **options) as reader:
        return list(reader), reader


@pytest.mark.parametrize(
    ("cell", "date_format", "stored"),
    [
        ("2019-10-01", "ymd", "2019-10-01"),
        ("2019-10-1", "ymd", "2019-10-01"),
        (" 2019-10-01 ", "ymd", "2019-10-01"),
        ("01/10/2019", "ymd", None),
        ("01-10-2019", "ymd", None),
        ("2019-02-30", "ymd", None),
        ("2019/10/01", "ymd", None),
        ("01/10/2019", "dmy", "2019-10-01"),
        ("01-10-2019", "dmy", "2019-10-01"),
        ("1/10/2019", "dmy", "2019-10-01"),
        ("2019-10-01", "dmy", "2019-10-01"),
        ("30/02/2019", "dmy", None),
        ("10/13/2019", "dmy", None),
        ("01.10.2019", "dmy", "2019-10-01"),
        ("10/01/2019", "mdy", "2019-10-01"),
        ("01/10/19", "dmy", None),
    ],
)
def test_dates_are_read_in_the_order_named_and_stored_as_iso(tmp_path, cell, date_format, stored):
    source = write_csv(tmp_path / "registry.csv", [case(dmt_start_date=cell)])
    (row,), _ = typed_rows(source, date_format=date_format)
    if stored is None:
        assert row.values["dmt_start_date"] == ""
        assert [column for column, _ in row.unparsable] == ["dmt_start_date"]
    else:
        assert row.values["dmt_start_date"] == stored
        assert row.unparsable == []


@pytest.mark.parametrize(
    ("column", "cell", "stored"),
    [
        ("age_years", "44", "44"),
        ("age_years", "44.0", "44"),
        ("age_years", "44.5", "44.5"),
        ("age_years", "44,5", None),
        ("height", "172.5", "172.5"),
        ("height", "1,72", None),
        ("height", "1e2", None),
        ("covid19_country", "DE", "DE"),
        ("covid19_country", "de", "DE"),
        ("covid19_country", "GERMANY", "DE"),
        ("covid19_country", "Deutschland", "DE"),
        ("covid19_country", "Atlantis", None),
        ("ms_type", "spms", "SPMS"),
        ("current_dmt", "Never_Treated", "never_treated"),
        ("covid_wave", "2", "2"),
        ("covid_wave", "3", None),
        ("com_other", "  anything at all ", "  anything at all "),
    ],
)
def test_each_cell_is_read_by_its_fields_type(tmp_path, column, cell, stored):
    source = write_csv(tmp_path / "registry.csv", [case(**{column: cell})])
    (row,), _ = typed_rows(source)
    assert row.values[column] == (stored or "")
    assert bool(row.unparsable) is (stored is None)


def test_line_numbers_hold_across_batches_blank_lines_and_quoted_line_breaks(tmp_path):
    records = [case(secret_name=f"REG_{n:05d}") for n in range(1, 1301)]
    records[0]["com_other"] = "two\nlines"
    records[1199]["age_years"] = "old"
    source = write_csv(tmp_path / "registry.csv", records)
    lines = source.read_bytes().split(b"\r\n")
    lines.insert(600, b"")  # a blank line before record 600
    source.write_bytes(b"\r\n".join(lines))

    rows, reader = typed_rows(source)

    assert reader.rows_read == len(rows) == 1300
    (flagged,) = [row for row in rows if row.unparsable]
    assert flagged.record_number == 1200
    # header 1, record 1 on lines 2-3, then one line per record, plus the blank line.
    assert flagged.line == 1200 + 2 + 1
    assert source.read_bytes().split(b"\n")[flagged.line - 1].startswith(b"REG_01200,")


def test_short_rows_are_padded_and_long_rows_cut_and_both_counted(tmp_path):
    source = tmp_path / "registry.csv"
    source.write_text(
        "secret_name,age_years,sex\nREG_1,44\nREG_2,50,male,surplus\nREG_3,60,female\n"
    )
    rows, reader = typed_rows(source)
    assert [row.values["sex"] for row in rows] == ["", "male", "female"]
    assert (reader.short_rows, reader.long_rows) == (1, 1)


def test_a_day_first_semicolon_file_needs_no_options_and_the_summary_says_what_was_read(
    tmp_path,
):
    records = [case(), case(secret_name="REG_0002")]
    iso, _ = run_ok(tmp_path, write_csv(tmp_path / "iso.csv", records))
    iso.rename(tmp_path / "iso.zip")
    european = [
        {**record, **{c: dmy(record[c], ".") for c in DATE_COLUMNS if record.get(c)}}
        for record in records
    ]
    european[0]["covid19_country"] = "Deutschland"
    source = write_csv(tmp_path / "eu.csv", european, delimiter=";", bom=True)

    out, run = run_ok(tmp_path, source)

    ours, theirs = zip_texts(tmp_path / "iso.zip"), zip_texts(out)
    for name in table_file_names("clinicians"):
        assert theirs[name] == ours[name], name
    assert "dates read as dmy (the file's dates)" in run.stdout
    assert "read as meant: covid19_date_reporting: day-first date read as YYYY-MM-DD: 2" in (
        run.stdout
    )
    assert "read as meant: covid19_country: country name read as its ISO code: 1" in run.stdout
    manifest_input = manifest_of(out)["input"]
    assert manifest_input["date_format"] == "dmy"
    assert {
        "column": "covid19_country",
        "field": "covid19_country",
        "what": "country name read as its ISO code",
        "count": 1,
    } in manifest_input["normalisations"]


def test_a_named_date_order_every_date_fails_in_is_advised_against_in_the_summary(tmp_path):
    source = write_csv(tmp_path / "us.csv", [case(covid19_date_reporting="03/25/2021")])
    _, run = run_ok(tmp_path, source, "--date-format", "dmy")
    assert (
        "advice: every date in column covid19_date_reporting fails as DD/MM/YYYY but reads as "
        "MM/DD/YYYY: run again with --date-format mdy"
    ) in run.stdout


def test_a_tab_separated_file_and_the_tab_delimiter_option(tmp_path):
    source = write_csv(tmp_path / "tabs.csv", [case()], delimiter="\t")
    out, _ = run_ok(tmp_path, source)
    assert manifest_of(out)["input"]["delimiter"] == "\t"
    out, _ = run_ok(tmp_path, source, "--delimiter", "tab")
    assert table_rows(out, WAVE_TABLE)[1] == ["0", *BASE_PREFIX, "2", "1"]


MAPPING = """
name = "Registry X weekly"
[columns]
"Patient" = "secret_name"
"Gender" = "sex"
"Height (m)" = "height"
[codes.sex]
"F" = "female"
[units]
height = "m"
"""


def test_a_mapping_file_turns_the_registrys_names_into_the_core_data_set(tmp_path):
    renamed = {"secret_name": "Patient", "sex": "Gender", "height": "Height (m)"}
    columns = [renamed.get(column, column) for column in CORE_COLUMNS]
    records = [{**case(), "Patient": "REG_0001", "Gender": "F", "Height (m)": "1.70"}]
    source = write_csv(tmp_path / "export.csv", records, columns=columns)
    (tmp_path / "registry.toml").write_text(MAPPING)

    out, run = run_ok(tmp_path, source, "--mapping", tmp_path / "registry.toml")

    assert table_rows(out, BMI_TABLE)[1] == ["0", *BASE_PREFIX, "not_overweight", "1"]
    assert "mapping: Registry X weekly (" in run.stdout
    assert "read as meant: Height (m) (height): converted from m to cm: 1" in run.stdout
    assert "read as meant: Gender (sex): registry code mapped: 1" in run.stdout
    manifest_input = manifest_of(out)["input"]
    assert manifest_input["mapping"]["name"] == "Registry X weekly"
    assert len(manifest_input["mapping"]["fingerprint"]) == 64
    assert manifest_input["renamed_columns"] == renamed_inverse(renamed)


def renamed_inverse(renamed: dict[str, str]) -> dict[str, str]:
    return {column: name for name, column in renamed.items()}


def test_a_wrong_mapping_is_refused_naming_its_key_and_nothing_is_written(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case()])
    (tmp_path / "registry.toml").write_text('[units]\nheight = "stone"\n')
    out = tmp_path / "result.zip"
    run = run_command(
        "run", source, "--report-source", "clinicians", "--out", out,
        "--mapping", tmp_path / "registry.toml", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2
    assert 'registry.toml: units.height: the unit "stone" is not known' in run.stderr
    assert "Nothing was written." in run.stderr
    assert not out.exists()


def command_into_a_closed_pipe(*arguments, cwd) -> subprocess.CompletedProcess:
    """The command writing into a pipe nobody reads any more (as after `head -1` exits)."""
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    reading, writing = os.pipe()
    os.close(reading)
    try:
        return subprocess.run(
            [sys.executable, "-m", "exports.federated", *map(str, arguments)],
            cwd=cwd,
            env=environment,
            stdout=writing,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(writing)


def test_the_command_is_quiet_when_its_output_is_cut_short(tmp_path):
    source = write_csv(tmp_path / "registry.csv", [case()])
    out = tmp_path / "result.zip"

    ran = command_into_a_closed_pipe(
        "run", source, "--report-source", "clinicians", "--out", out, cwd=tmp_path
    )
    assert (ran.returncode, ran.stderr) == (0, "")
    assert out.exists()
    inspected = command_into_a_closed_pipe("inspect", out, cwd=tmp_path)
    assert (inspected.returncode, inspected.stderr) == (0, "")

    piped = subprocess.run(
        f"{shlex.quote(sys.executable)} -m exports.federated inspect {shlex.quote(str(out))}"
        " | head -1",
        shell=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.stdout.count("\n") == 1
    assert piped.stderr == ""


def test_the_command_runs_without_babel_and_pycountry_reading_curated_country_names(tmp_path):
    """The federated image installs the project with --no-deps: the standard library alone."""
    records = [case(covid19_country="Deutschland"), case(secret_name="R2", covid19_country="TUR")]
    source = write_csv(tmp_path / "registry.csv", records)
    out = tmp_path / "result.zip"
    program = (
        "import runpy, sys\n"
        "sys.modules.update(babel=None, pycountry=None)  # importing them fails\n"
        f"sys.argv = ['gdsi-federated', 'run', {str(source)!r}, '--report-source', 'clinicians',"
        f" '--out', {str(out)!r}]\n"
        "runpy.run_module('exports.federated', run_name='__main__')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "read as meant: covid19_country: country name read as its ISO code: 1" in (
        completed.stdout
    )
    assert manifest_of(out)["quality"]["unparsable_by_column"] == {"covid19_country": 1}
