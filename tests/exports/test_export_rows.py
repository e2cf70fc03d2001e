"""The export's fast paths give exactly what the plain ones give: formula-safe cells found with
one scan of a row, each CSV line formatted from a row once, rows streamed by the database."""

import csv
import io
import itertools
import shutil
import subprocess
import zipfile

import pytest
from deid_helpers import core_dictionary, core_text, csv_rows, export, members, records

from casereports.csvsafe import safe_row, safe_texts
from casereports.models import Case
from exports import queries
from exports.formats import LINE_END, _LineFormat, core_columns, redcap_columns
from exports.models import ExportJob
from exports.profiles import PROFILES

TRICKY = ["", "a", "=1+1", "-3", "-3+A1", "\t=1", "\r=x", "x\x00=y", "@SUM(A1)", "+0.5", " =1"]


def test_safe_texts_is_safe_row_for_every_combination_of_tricky_cells():
    for cells in itertools.product(TRICKY, repeat=3):
        assert safe_texts(list(cells)) == safe_row(cells), cells


def test_a_row_without_a_formula_start_is_returned_as_it_is():
    row = ["G_ABC", "2021-03-10", "1", "", "a=b", "x-1"]
    assert safe_texts(row) is row


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=LINE_END).writerow(cells)
    return out.getvalue()


def test_the_redcap_line_continued_from_the_core_line_is_the_csv_modules_line():
    dictionary = core_dictionary()
    core, redcap = core_columns(dictionary), redcap_columns(dictionary)
    lines = _LineFormat(core, redcap)
    for number, filler in enumerate(["", "x", 'a "quoted", line\nend', "é"]):
        row = [filler if i % 3 == number % 3 else str(i) for i in range(len(redcap))]
        row += ["clinicians"]  # a read-only tail is not written
        redcap_line, core_line = lines.lines(row)
        assert redcap_line == _csv_line(row[: len(redcap)])
        assert core_line == _csv_line(row[: len(core)])


def test_columns_that_do_not_continue_each_other_are_formatted_on_their_own():
    for core, redcap in [(["a"], ["a", "b", "c"]), (["b", "a"], ["a", "b", "c", "d"])]:
        lines = _LineFormat(core, redcap)
        for cells in itertools.product(["", "1", "a,b"], repeat=len(redcap)):
            row = list(cells)
            redcap_line, core_line = lines.lines(row)
            assert redcap_line == _csv_line(row)
            assert core_line == _csv_line([row[redcap.index(c)] for c in core])


def test_an_exported_cell_that_starts_like_a_formula_reads_back_neutralised(tmp_path):
    dictionary = core_dictionary()
    rows = records(dictionary, 20)
    rows[4]["covid19_country"] = '=HYPERLINK("http://evil.example")'
    rows[9]["edss_value"] = "-3"
    _, path = export(tmp_path, dictionary, core_text(), PROFILES["central"], rows)
    written = csv_rows(members(path)["redcap_records.csv"])
    assert written[4]["covid19_country"] == '\'=HYPERLINK("http://evil.example")'
    assert written[9]["edss_value"] == "-3"


@pytest.mark.django_db(transaction=True)  # committed cases, read as a job reads them
def test_rows_streamed_by_the_database_are_the_rows_of_the_records(site_a, make_cases):
    """On PostgreSQL `rows` streams one COPY that picks the keys out of the JSON; it must give
    what the records' dicts give, awkward values included."""
    dictionary = core_dictionary()
    make_cases(site_a, 30)
    make_cases(site_a, 3, seed=5, covid19_country='=HYPERLINK("x")', sex='a,"b"\r\nc', ms_type="é")
    make_cases(site_a, 2, seed=6, consent_withdrawn=True)
    case = Case.objects.order_by("pk").first()
    del case.data["edss_value"]  # a key the case does not have
    Case.objects.filter(pk=case.pk).update(data=case.data)
    job = ExportJob(filters={"sites": [site_a.pk]})
    columns = redcap_columns(dictionary)
    keys = [*columns, None, "report_source", dictionary.record_id]
    with queries.read_snapshot():
        streamed = list(queries.records_of(job, stream=True).rows(keys))
        from_dicts = list(queries.records_of(job, stream=False).rows(keys))
    assert streamed == from_dicts
    assert len(streamed) == 33
    blank, source = len(columns), len(columns) + 1
    assert all(row[blank] == "" and row[source] in ("clinicians", "patients") for row in streamed)
    assert streamed[0][keys.index("edss_value")] == ""
    assert {row[keys.index("sex")] for row in streamed} >= {'a,"b"\r\nc'}


def test_the_zip_passes_its_own_test_and_unzips(tmp_path):
    dictionary = core_dictionary()
    _, path = export(tmp_path, dictionary, core_text(), PROFILES["open"], records(dictionary, 600))
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == {
            "redcap_records.csv",
            "core_clinicians.csv",
            "core_patients.csv",
            "codebook.csv",
            "manifest.json",
        }
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)
