"""CSV cells cannot smuggle a spreadsheet formula."""

import csv
import io

import pytest

from casereports.csvsafe import safe_cell, safe_row


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "-3+A1",
        "-1e3",
        "-",
        "+",
        "-.",
        "- 3",
        "-3\n=1+1",
    ],
)
def test_a_cell_that_starts_like_a_formula_gets_a_leading_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("site-a", "site-a"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
        ('{"reason": "=1+1"}', '{"reason": "=1+1"}'),
        ("'already quoted", "'already quoted"),
        ("-3", "-3"),
        ("+3", "+3"),
        ("-0.5", "-0.5"),
        ("-.5", "-.5"),
        ("-12.", "-12."),
        (-3, "-3"),
    ],
)
def test_other_cells_are_left_as_they_are(value, expected):
    assert safe_cell(value) == expected


def test_a_written_row_reads_back_with_the_formula_neutralised():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(safe_row(["1", "=cmd|' /C calc'!A0", None]))
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["1", "'=cmd|' /C calc'!A0", ""]
