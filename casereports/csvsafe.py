"""Cells for CSV files people open in a spreadsheet: the one place formula injection is stopped.

A spreadsheet treats a cell that starts with `=`, `+`, `-` or `@` as a formula (and a leading
tab or carriage return can hide such a start), so a value typed into a case or a username such
as `=HYPERLINK("http://evil.example", "click")` would run when a site manager opens the export.
Every CSV the platform writes passes each cell through `safe_cell`.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, with a leading apostrophe when it starts like a formula.

    `None` becomes an empty cell; anything else is written as `str(value)`. The apostrophe is
    the OWASP-recommended neutraliser: spreadsheets show the text as typed and do not evaluate
    it. A value such as `-3` is prefixed too: a spreadsheet cannot tell it from `-3+A1` by its
    first character, and the CSV reader of an analysis script reads it back as text.
    """
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[str]:
    """`safe_cell` applied to each value of a row."""
    return [safe_cell(value) for value in values]
