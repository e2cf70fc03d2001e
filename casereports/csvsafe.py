"""Cells for CSV files people open in a spreadsheet: the one place formula injection is stopped.

A spreadsheet treats a cell that starts with `=`, `+`, `-` or `@` as a formula (and a leading
tab or carriage return can hide such a start), so a value typed into a case or a username such
as `=HYPERLINK("http://evil.example", "click")` would run when a site manager opens the export.
Every CSV the platform writes passes each cell through `safe_cell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_CHARS = frozenset(FORMULA_STARTS)
# A whole cell that is just a signed decimal number: a spreadsheet reads it as that number and
# nothing else, and analysis code must get the number back.
_PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# A formula start right after a NUL: in a row joined with NULs (and one in front), where a
# cell starting like a formula shows up. A NUL inside a cell can only add a false alarm.
_CELL_STARTING_LIKE_A_FORMULA = re.compile("\x00[" + re.escape("".join(FORMULA_STARTS)) + "]")


def safe_cell(value: object) -> str:
    """The cell's text, with a leading apostrophe when it starts like a formula.

    `None` becomes an empty cell; anything else is written as `str(value)`. The apostrophe is
    the OWASP-recommended neutraliser: spreadsheets show the text as typed and do not evaluate
    it. A cell that is exactly a signed decimal number (`-3`, `+0.5`) is left alone: it cannot
    hold a formula, and exported data must read back as numbers; `-3+A1` is still prefixed.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text and text[0] in _FORMULA_START_CHARS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[str]:
    """`safe_cell` applied to each value of a row."""
    return [safe_cell(value) for value in values]


def safe_texts(cells: list[str]) -> list[str]:
    """`safe_row` of a row of strings: the same cells, found faster in the common case.

    One scan of the whole row tells whether any cell starts like a formula; when none does
    (nearly every row of an export) the row itself is returned, else `safe_cell` of each cell.
    """
    if _CELL_STARTING_LIKE_A_FORMULA.search("\x00" + "\x00".join(cells)) is None:
        return cells
    return [safe_cell(cell) for cell in cells]
