"""Result zips: written whole or not at all, read back equal, and refused when anything in
them was changed, with a message that names what is wrong."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from exports.federated.result import (
    ResultError,
    column_categories,
    read_result_zip,
    write_result_zip,
)
from exports.federated.run import QUALITY_FILE, count_csv, run_manifest
from exports.federated.tables import (
    PREFIX,
    TABLE_SPECS,
    CountTables,
    table_csv,
)
from tests.federated.command_helpers import case, rewrite_zip, write_csv

FIRST = TABLE_SPECS[0].file_name("clinicians")
LAST = TABLE_SPECS[-1].file_name("clinicians")


@pytest.fixture
def result_zip(tmp_path):
    """A real run's zip: three clinician cases, two of them alike."""
    records = [
        case(),
        case(secret_name="REG_0002"),
        case(secret_name="REG_0003", sex="male", covid19_confirmed_case="no"),
    ]
    result = count_csv(write_csv(tmp_path / "registry.csv", records), "clinicians")
    path = tmp_path / "result.zip"
    write_result_zip(
        path,
        {"clinicians": result.tables},
        run_manifest(result),
        {QUALITY_FILE: result.quality.path},
    )
    result.quality.close()
    return path


def table_text(path, name):
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode()


def refused(path) -> str:
    with pytest.raises(ResultError) as refusal:
        read_result_zip(path)
    return str(refusal.value)


def test_a_written_zip_reads_back_with_the_same_tables(result_zip):
    read = read_result_zip(result_zip)
    tables = read.tables_by_source["clinicians"]
    assert read.manifest["input_rows"] == 3
    assert read.manifest["rows_per_diagnosis"] == {"clinicians": {"confirmed": 2, "suspected": 1}}
    for spec in TABLE_SPECS:
        assert tables.total(spec) == 3
        assert table_csv(spec, tables.rows(spec)) == table_text(
            result_zip, spec.file_name("clinicians")
        )


def test_reading_accepts_an_open_file(result_zip):
    with open(result_zip, "rb") as stream:
        data = io.BytesIO(stream.read())
    assert read_result_zip(data).tables_by_source["clinicians"].total() == 3


def test_a_zip_of_both_report_sources_written_from_tables(tmp_path):
    key = ("confirmed", "missing", "currently on interferon", "2", "other", "male", "1")
    rest = ("no",) * 5 + ("0", "0") + ("missing",) * 9
    by_source = {source: CountTables(source) for source in ("clinicians", "patients")}
    by_source["clinicians"].add((*key, *rest), 4)
    by_source["patients"].add((*key, *rest), 2)
    path = tmp_path / "pooled.zip"
    manifest = write_result_zip(path, by_source, {"input_rows": 6})

    assert manifest["rows_per_diagnosis"] == {
        "clinicians": {"confirmed": 4},
        "patients": {"confirmed": 2},
    }
    read = read_result_zip(path)
    assert read.manifest["report_sources"] == ["clinicians", "patients"]
    assert read.tables_by_source["patients"].total() == 2
    assert len(manifest["files"]) == 126


def test_a_failed_write_leaves_neither_the_zip_nor_a_temporary_file(tmp_path):
    tables = CountTables("patients")
    with pytest.raises(FileNotFoundError):
        write_result_zip(
            tmp_path / "result.zip",
            {"patients": tables},
            {"input_rows": 0},
            {QUALITY_FILE: tmp_path / "gone.csv"},
        )
    assert list(tmp_path.iterdir()) == []


def test_a_changed_count_breaks_the_files_hash(result_zip, tmp_path):
    text = table_text(result_zip, FIRST).replace(",2\n", ",3\n")
    forged = rewrite_zip(
        result_zip, tmp_path / "f.zip", change={FIRST: text.encode()}, rehash=False
    )
    assert refused(forged) == (
        f"{FIRST}: its sha256 does not match the manifest (changed after it was made)"
    )


def test_a_changed_count_with_a_new_hash_breaks_the_totals(result_zip, tmp_path):
    text = table_text(result_zip, FIRST).replace(",2\n", ",3\n")
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", change={FIRST: text.encode()})
    assert refused(forged) == (
        f"{FIRST} counts 4 records (confirmed 3, suspected 1) but the manifest's "
        "rows_per_diagnosis says 3 records (confirmed 2, suspected 1)"
    )


def test_consistent_tables_that_disagree_with_the_input_rows_are_refused(result_zip, tmp_path):
    def more_rows(manifest):
        manifest["input_rows"] = 5

    forged = rewrite_zip(result_zip, tmp_path / "f.zip", manifest_edit=more_rows)
    assert refused(forged) == ("manifest.json: input_rows is 5 but the tables count 3 records")


def test_a_missing_table_is_refused(result_zip, tmp_path):
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", change={LAST: None})
    assert refused(forged) == f"table {LAST} is missing"


def test_a_file_the_manifest_does_not_list_is_refused(result_zip, tmp_path):
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", add={"rows.csv": b"secret_name\nREG\n"})
    assert refused(forged) == "the zip holds rows.csv, which the manifest does not list"


def test_a_listed_file_that_is_not_in_the_zip_is_refused(result_zip, tmp_path):
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", change={LAST: None}, rehash=False)
    assert refused(forged) == f"the manifest lists {LAST}, which is not in the zip"


def test_a_table_of_a_report_source_the_manifest_does_not_name_is_refused(result_zip, tmp_path):
    stray = TABLE_SPECS[0].file_name("patients")
    data = table_csv(TABLE_SPECS[0], []).encode()

    def list_it(manifest):
        manifest["files"][stray] = {"sha256": __import__("hashlib").sha256(data).hexdigest()}

    forged = rewrite_zip(result_zip, tmp_path / "f.zip", add={stray: data}, manifest_edit=list_it)
    assert refused(forged) == (
        f"{stray} is a table of report source patients, which the manifest does not list"
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(",2\n", ",-2\n"),
            "the count must be a whole number, 0 or more, not '-2'",
        ),
        (lambda t: t.replace(",2\n", ",2.5\n"), "the count must be a whole number, 0 or more"),
        (lambda t: t.replace("\n0,", "\n7,", 1), "line 2: the row number must be 0, not '7'"),
        (lambda t: t.replace(",1,relapsing", ",9,relapsing", 1), "line 2: age_in_cat has a value"),
        (lambda t: t.replace(",female,", ",,", 1), "line 2: sex_binary is empty"),
        (lambda t: t.replace("secret_name", "count", 1), "the header must be"),
        (lambda t: t + t.splitlines()[1].replace("0,", "2,", 1) + "\n", "repeats the cells"),
        (lambda t: t.replace(",2\n", ",2,9\n"), "line 2: 12 cells, expected 11"),
    ],
    ids=["negative", "fraction", "row-number", "category", "empty", "header", "repeat", "width"],
)
def test_a_malformed_table_is_refused_with_its_line(result_zip, tmp_path, edit, message):
    text = table_text(result_zip, FIRST)
    assert "\n0,confirmed,missing,currently on ocrelizumab,1,relapsing_remitting,female" in text
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", change={FIRST: edit(text).encode()})
    error = refused(forged)
    assert error.startswith(FIRST)
    assert message in error


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format="other"), "manifest.json: format must be"),
        (lambda m: m.update(format_version=2), "format_version 2 is not supported"),
        (lambda m: m.update(report_sources=["registry"]), "report_sources must list"),
        (lambda m: m.update(input_rows=-1), "input_rows must be a whole number"),
        (lambda m: m.pop("rows_per_diagnosis"), "rows_per_diagnosis must give"),
        (
            lambda m: m["rows_per_diagnosis"]["clinicians"].update(confirmed="2"),
            "rows_per_diagnosis of clinicians must map diagnoses to whole numbers",
        ),
    ],
    ids=["format", "version", "sources", "input-rows", "per-diagnosis", "count-type"],
)
def test_a_wrong_manifest_is_refused(result_zip, tmp_path, edit, message):
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", manifest_edit=edit)
    assert message in refused(forged)


def test_a_zip_without_a_readable_manifest_is_refused(result_zip, tmp_path):
    with zipfile.ZipFile(result_zip) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    without = tmp_path / "without.zip"
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(without, "w") as archive:
        for name, data in files.items():
            if name != "manifest.json":
                archive.writestr(name, data)
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data if name != "manifest.json" else data[:-20])
    assert refused(without) == "the zip has no manifest.json"
    assert refused(broken).startswith("manifest.json is not valid JSON")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "result.zip"
    path.write_text("secret_name\nREG_0001\n")
    assert refused(path).startswith("not a readable zip file")


def test_a_folder_inside_the_zip_is_refused(result_zip, tmp_path):
    forged = rewrite_zip(result_zip, tmp_path / "f.zip", add={"rows/all.csv": b"x"})
    assert refused(forged) == (
        "unexpected entry 'rows/all.csv': a result zip holds files only, no folders"
    )


def test_every_grouping_column_but_source_has_known_categories():
    from casereports.dictionary.shipped import core_dictionary

    categories = column_categories(core_dictionary().dictionary)
    columns = {column for spec in TABLE_SPECS for column in spec.grouping}
    assert set(categories) == columns - {PREFIX[1]}
    assert categories["covid19_diagnosis"] == {"confirmed", "suspected", "not_suspected", "missing"}
    assert categories["age_in_cat"] == {"0", "1", "2", "3", "missing"}
    assert categories["covid_wave1"] == {"1", "2", "missing"}
    assert "currently not using any DMT" in categories["dmt_type_overall"]
    assert categories["covid19_admission_hospital"] == {"yes", "no", "missing"}


def test_the_manifest_is_written_last_and_lists_itself_nowhere(result_zip):
    with zipfile.ZipFile(result_zip) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert names[-1] == "manifest.json"
    assert "manifest.json" not in manifest["files"]
    assert manifest["files"][QUALITY_FILE]["rows"] == 0


def test_an_empty_count_is_a_hidden_cell_only_in_a_suppressed_publication(result_zip, tmp_path):
    text = table_text(result_zip, FIRST)
    hidden = text.replace(",1\n", ",\n")
    assert hidden != text
    plain = rewrite_zip(result_zip, tmp_path / "plain.zip", change={FIRST: hidden.encode()})
    assert "the count must be a whole number, 0 or more, not ''" in refused(plain)

    def publication(manifest):
        manifest["suppression"] = {"clinicians": {"threshold": 5}}

    published = rewrite_zip(
        result_zip, tmp_path / "pub.zip", change={FIRST: hidden.encode()}, manifest_edit=publication
    )
    tables = read_result_zip(published).tables_by_source["clinicians"]
    assert tables.total(TABLE_SPECS[0]) == 2
    assert tables.total(TABLE_SPECS[1]) == 3


def test_a_zip_that_unpacks_to_more_than_any_result_can_is_refused_unread(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", "{}")
        with archive.open(FIRST, "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(1100):  # 1,100 MB of zeros, about a megabyte packed
                member.write(zeros)
    assert bomb.stat().st_size < 5 << 20
    assert refused(bomb) == (
        "the zip unpacks to 1100 MB, more than the 1024 MB a result zip of count tables can need"
    )
