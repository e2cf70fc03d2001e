"""The one reader as a registry's data manager meets it: files as they really come (a BOM,
semicolons, CR-only lines from old Excel on a Mac, day-first dates, decimal commas, country
names in the registry's language) read with no options, and every value read otherwise than
written counted per column."""

from __future__ import annotations

import time

import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.reader import (
    DATE_FORMATS,
    ColumnPlan,
    CoreRow,
    InputError,
    input_fields,
    open_core_csv,
)
from tests.federated.command_helpers import CORE_COLUMNS, case, write_csv

DICTIONARY = core_dictionary().dictionary


def read(path, **options) -> tuple[list[CoreRow], object]:
    with open_core_csv(path, DICTIONARY, **options) as reader:
        return list(reader), reader


def write_raw(path, lines: list[list[str]], *, delimiter=";", newline="\r", bom=True):
    text = newline.join(delimiter.join(cells) for cells in lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


REGISTRY_HEADER = [
    "secret_name",
    "covid19_date_reporting",
    "covid19_date_suspected_onset",
    "age_years",
    "covid19_country",
    "height",
    "weight",
    "sex",
    "ms_type",
    "Ward",
    "bmi",
]
REGISTRY_ROWS = [
    ["REG-1", "03/02/2021", "28/01/2021", "50,5", "Türkiye", "1,72", "65,5", "Female", "rrms"],
    ["REG-2", "15/02/2021", "", "44", "Deutschland", "168", "70", "male", "SPMS", "4B"],
    ["REG-3", "01/03/2021", "20/02/2021", "61.5", "TUR", "172", "80,0", "female", "RRMS"],
    ["REG-4", "2021-03-05", "01.03.2021", "38", "United Kingdom", "165", "", "female", "PPMS"],
    ["REG-5", "05/03/2021", "", "29", "España", "1.60", "55", "FEMALE", "RRMS", "", "22"],
]


def test_a_registry_file_as_it_comes_reads_with_no_options(tmp_path):
    source = write_raw(tmp_path / "export.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    assert source.read_bytes().startswith(b"\xef\xbb\xbfsecret_name;")
    assert b"\n" not in source.read_bytes()

    rows, reader = read(source)

    plan = reader.plan
    assert (plan.delimiter, plan.date_format, plan.date_order_from) == (
        ";",
        "dmy",
        "the file's dates",
    )
    assert plan.unknown_columns == ["Ward"]
    assert plan.ignored_derived_columns == ["bmi"]
    assert "covid19_has_symptoms" in plan.missing_columns
    assert [row.line for row in rows] == [2, 3, 4, 5, 6]
    assert all(row.unparsable == [] for row in rows)
    first = rows[0].values
    assert {k: first[k] for k in REGISTRY_HEADER[1:9]} == {
        "covid19_date_reporting": "2021-02-03",
        "covid19_date_suspected_onset": "2021-01-28",
        "age_years": "50.5",
        "covid19_country": "TR",
        "height": "172",
        "weight": "65.5",
        "sex": "female",
        "ms_type": "RRMS",
    }
    assert [row.values["covid19_country"] for row in rows] == ["TR", "DE", "TR", "GB", "ES"]
    assert [row.values["height"] for row in rows] == ["172", "168", "172", "165", "160"]
    assert rows[3].values["covid19_date_suspected_onset"] == "2021-03-01"
    assert reader.normalisations() == [
        note("covid19_date_reporting", "day-first date read as YYYY-MM-DD", 4),
        note("covid19_date_suspected_onset", "day-first date read as YYYY-MM-DD", 3),
        note("age_years", "decimal comma read as a decimal point", 1),
        note("age_years", "non-whole age kept as written, as the initiative's analysis used it", 2),
        note("covid19_country", "ISO alpha-3 country code read as its alpha-2 code", 1),
        note("covid19_country", "country name read as its ISO code", 4),
        note("height", "decimal comma read as a decimal point", 1),
        note("height", "height in metres read as centimetres", 2),
        note("weight", "decimal comma read as a decimal point", 2),
        note("sex", "code read in another letter case", 2),
        note("ms_type", "code read in another letter case", 1),
    ]
    assert reader.advice() == []


def note(column: str, what: str, count: int, field: str | None = None) -> dict:
    return {"column": column, "field": field or column, "what": what, "count": count}


def test_rows_keep_their_cells_as_read_and_the_plan_the_header_as_written(tmp_path):
    header = [" secret_name ", "age_years", "sex"]
    source = write_raw(
        tmp_path / "raw.csv", [header, ["R1", "44.0"], ["R2", "x", "M", "surplus"]], newline="\n"
    )
    rows, reader = read(source)
    assert reader.plan.header == header
    assert [row.cells for row in rows] == [["R1", "44.0", ""], ["R2", "x", "M"]]
    assert [row.values["age_years"] for row in rows] == ["44", ""]
    assert rows[1].unparsable == [
        ("age_years", "not a whole number"),
        ("sex", "not one of the codes (female, male, non-binary)"),
    ]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_a_quoted_line_break_in_the_header_and_cells_whatever_the_line_ends(tmp_path, newline):
    text = newline.join(
        ['secret_name,"com_', 'other",age_years', 'R1,"two', 'lines",44', "R2,,45", ""]
    )
    source = tmp_path / "multi.csv"
    source.write_bytes(text.encode())
    rows, reader = read(source)
    assert reader.plan.header == ["secret_name", f"com_{newline}other", "age_years"]
    assert reader.plan.unknown_columns == [f"com_{newline}other"]
    assert [(row.line, row.values["age_years"]) for row in rows] == [(3, "44"), (5, "45")]


def test_a_tab_separated_file_is_read_without_options(tmp_path):
    source = write_csv(tmp_path / "tabs.csv", [case(), case(secret_name="R2")], delimiter="\t")
    rows, reader = read(source)
    assert reader.plan.delimiter == "\t"
    assert [row.values["covid19_country"] for row in rows] == ["DE", "DE"]
    assert read(source, delimiter="tab")[1].plan.delimiter == "\t"


def test_a_decimal_comma_is_no_decimal_point_when_the_comma_separates_the_columns(tmp_path):
    source = write_csv(tmp_path / "commas.csv", [case(weight="65,5")])
    (row,), reader = read(source)
    assert row.values["weight"] == ""
    assert row.unparsable == [("weight", "not a number (digits with . for decimals)")]
    assert reader.normalisations() == []


def test_month_first_dates_are_found_from_the_file(tmp_path):
    records = [
        case(covid19_date_reporting="03/02/2021", dmt_start_date="10/01/2019"),
        case(secret_name="R2", covid19_date_reporting="03/25/2021", dmt_start_date="12.31.2019"),
    ]
    rows, reader = read(write_csv(tmp_path / "us.csv", records))
    assert (reader.plan.date_format, reader.plan.date_order_from) == ("mdy", "the file's dates")
    assert [row.values["covid19_date_reporting"] for row in rows] == ["2021-03-02", "2021-03-25"]
    assert [row.values["dmt_start_date"] for row in rows] == ["2019-10-01", "2019-12-31"]
    assert note("dmt_start_date", "month-first date read as YYYY-MM-DD", 2) in (
        reader.normalisations()
    )


def test_the_first_deciding_date_sets_the_order_and_the_other_order_is_refused(tmp_path):
    records = [
        case(covid19_date_reporting="01/02/2021"),
        case(secret_name="R2", covid19_date_reporting="25/02/2021"),
        case(secret_name="R3", covid19_date_reporting="02/25/2021"),
    ]
    rows, reader = read(write_csv(tmp_path / "both.csv", records))
    assert reader.plan.date_format == "dmy"
    assert [row.values["covid19_date_reporting"] for row in rows] == [
        "2021-02-01",
        "2021-02-25",
        "",
    ]
    assert rows[2].unparsable == [
        ("covid19_date_reporting", "not a date (expected DD/MM/YYYY or YYYY-MM-DD)")
    ]
    assert reader.advice() == []  # the order was not named: no advice to name another


def test_dates_that_never_tell_their_order_are_refused_naming_the_option(tmp_path):
    lines = [
        ["secret_name", "covid19_date_reporting", "dmt_start_date"],
        ["R1", "01/02/2021", "05.06.2019"],
        ["R2", "03/04/2021", ""],
    ]
    source = write_raw(tmp_path / "undecided.csv", lines)
    with pytest.raises(InputError) as refused:
        read(source)
    assert str(refused.value) == (
        "the dates in column covid19_date_reporting (and 1 other date column) are written as "
        "DD/MM/YYYY or MM/DD/YYYY, and no date in the file tells which (no day above 12): run "
        "again with --date-format dmy or --date-format mdy"
    )
    rows, _ = read(source, date_format="dmy")
    assert [row.values["dmt_start_date"] for row in rows] == ["2019-06-05", ""]


def test_an_iso_file_with_a_stray_ambiguous_date_reads_iso_and_refuses_the_stray(tmp_path):
    records = [case(), case(secret_name="R2", dmt_start_date="01/10/2019")]
    rows, reader = read(write_csv(tmp_path / "iso.csv", records))
    assert (reader.plan.date_format, reader.plan.date_order_from) == ("ymd", "ISO dates only")
    assert rows[1].unparsable == [("dmt_start_date", "not a date (expected YYYY-MM-DD)")]


def test_two_digit_years_are_no_dates_in_any_order(tmp_path):
    records = [case(dmt_start_date="25/12/19"), case(secret_name="R2", dmt_start_date="31/01/2019")]
    rows, reader = read(write_csv(tmp_path / "short.csv", records))
    assert reader.plan.date_format == "dmy"
    assert [row.values["dmt_start_date"] for row in rows] == ["", "2019-01-31"]
    assert [column for column, _ in rows[0].unparsable] == ["dmt_start_date"]


def test_a_named_order_every_date_of_a_column_fails_in_is_advised_against(tmp_path):
    records = [
        case(covid19_date_reporting="03/25/2021", ms_onset_date="25/12/2005"),
        case(secret_name="R2", covid19_date_reporting="04/01/2021", ms_onset_date="2006-01-01"),
    ]
    source = write_csv(tmp_path / "us.csv", records)
    rows, reader = read(source, date_format="dmy")
    assert reader.plan.date_order_from == "given"
    assert rows[0].values["covid19_date_reporting"] == ""
    assert rows[1].values["covid19_date_reporting"] == "2021-01-04"  # read, wrongly, as dmy
    assert reader.advice() == []  # one date of the column read: not every date failed
    records[1]["covid19_date_reporting"] = "12/31/2020"
    _, reader = read(write_csv(source, records), date_format="dmy")
    assert reader.advice() == [
        "every date in column covid19_date_reporting fails as DD/MM/YYYY but reads as "
        "MM/DD/YYYY: run again with --date-format mdy"
    ]
    _, reader = read(write_csv(source, [case(dmt_start_date="01/02/2019")]), date_format="ymd")
    assert reader.advice() == [
        "every date in column dmt_start_date fails as YYYY-MM-DD but reads as DD/MM/YYYY or "
        "as MM/DD/YYYY: run again with --date-format dmy or --date-format mdy"
    ]


def test_normalisations_are_counted_exactly_across_batches_and_a_full_cell_memory(tmp_path):
    rows_count = 20_000  # more distinct weights than a column remembers
    lines = [["secret_name", "weight", "sex", "covid19_date_reporting"]]
    lines += [
        [f"R{n}", f"{40 + n // 100},{n % 100}", "F" if n % 3 else "female", "2021-03-01"]
        for n in range(rows_count)
    ]
    source = write_raw(tmp_path / "many.csv", lines, newline="\n", bom=False)
    rows, reader = read(source)
    assert reader.rows_read == rows_count
    assert reader.normalisations() == [
        note("weight", "decimal comma read as a decimal point", rows_count)
    ]
    sex_refused = sum(1 for row in rows if row.unparsable)
    assert sex_refused == rows_count - len(range(0, rows_count, 3))


def test_a_header_of_200000_columns_is_read_in_linear_time(tmp_path):
    def seconds(width: int) -> float:
        source = tmp_path / f"wide_{width}.csv"
        names = ["secret_name", *(f"extra_{n}" for n in range(width))]
        source.write_text(",".join(names) + "\n" + ",".join(["R1", *["x"] * width]) + "\n")
        started = time.perf_counter()
        rows, reader = read(source)
        assert len(reader.plan.unknown_columns) == width and len(rows[0].cells) == width + 1
        return time.perf_counter() - started

    seconds(2_000)  # warm up
    small, large = seconds(20_000), seconds(200_000)
    # Linear: ten times the columns, about ten times the time; a quadratic step would be 100x.
    assert large < 5
    assert large < 35 * max(small, 0.005), (small, large)


def test_the_api_the_import_calls(tmp_path):
    assert DATE_FORMATS == ("auto", "ymd", "dmy", "mdy")
    assert [f.name for f in input_fields(DICTIONARY)] == CORE_COLUMNS
    assert CoreRow._fields == ("line", "record_number", "values", "unparsable", "cells")
    (row,), reader = read(write_csv(tmp_path / "r.csv", [case()]), date_format=None)
    assert isinstance(reader.plan, ColumnPlan)
    assert reader.plan.date_format == "ymd"
    assert reader.plan.describe()["date_order_from"] == "ISO dates only"
    with pytest.raises(InputError, match="the date format must be one of auto, ymd, dmy, mdy"):
        read(tmp_path / "r.csv", date_format="dym")


def test_a_utf_16_file_is_read_when_its_encoding_is_named(tmp_path):
    source = tmp_path / "utf16.csv"
    source.write_text("secret_name\tdmt_start_date\tcom_other\nR1\t31.12.2019\tMénière\n", "utf-16")
    (row,), reader = read(source, encoding="utf-16")
    assert (reader.plan.delimiter, reader.plan.date_format) == ("\t", "dmy")
    assert (row.values["dmt_start_date"], row.values["com_other"]) == ("2019-12-31", "Ménière")
    with pytest.raises(InputError, match="line 1: the file is not valid utf-8 text"):
        read(source)
