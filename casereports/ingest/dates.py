"""Dates as registries write them, and finding a file's date order from its own dates.

ISO `YYYY-MM-DD` is read in every order. `dmy` also reads DD/MM/YYYY, `mdy` MM/DD/YYYY, each
with `/`, `-` or `.` between the parts. A year of two digits is no date: its century would be a
guess. In `auto`, a file's order is the one its first deciding date shows (a first part above
12 is a day, a second part above 12 is a day); `detect_order` finds it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date

from casereports.ingest.errors import InputError

DATE_FORMATS = ("auto", "ymd", "dmy", "mdy")
ORDERS = ("ymd", "dmy", "mdy")
HINTS = {"ymd": "YYYY-MM-DD", "dmy": "DD/MM/YYYY", "mdy": "MM/DD/YYYY"}
NOTES = {
    "dmy": "day-first date read as YYYY-MM-DD",
    "mdy": "month-first date read as YYYY-MM-DD",
    "ymd": "date without leading zeros read as YYYY-MM-DD",
}

_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_OTHER = re.compile(r"([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{4})")
# In the raw file: a separator and a four-digit year ending a number. Every non-ISO date has
# one and no ISO date has; a match elsewhere (-1000, 1.2345) only costs a look at the rows.
# One pattern per separator: a literal first character is searched for several times faster.
CANDIDATES = tuple(re.compile(rf"\{sep}[0-9]{{4}}(?![0-9])".encode()) for sep in "/.-")


def read_date(value: str, order: str) -> tuple[str, str | None] | None:
    """The ISO date of `value` read in `order` and what reading it changed (a note, None when it
    was ISO already), or None if it is no date in that order."""
    if len(value) == 10 and value[4] == value[7] == "-" and (iso := _valid(value)):
        return iso, None
    if match := _ISO.fullmatch(value):
        year, month, day = match.group(1, 2, 3)
        iso = _valid(f"{year}-{month:0>2}-{day:0>2}")
        return (iso, NOTES["ymd"]) if iso else None
    if order == "ymd" or not (match := _OTHER.fullmatch(value)):
        return None
    first, _, second, year = match.groups()
    day, month = (first, second) if order == "dmy" else (second, first)
    iso = _valid(f"{year}-{month:0>2}-{day:0>2}")
    return (iso, NOTES[order]) if iso else None


def _valid(iso: str) -> str | None:
    try:
        date.fromisoformat(iso)
    except ValueError:
        return None
    return iso


def orders_reading(value: str) -> set[str]:
    """The orders in which `value` is a date."""
    return {order for order in ORDERS if read_date(value, order) is not None}


def deciding_order(value: str) -> str | None:
    """`dmy` or `mdy` when the date `value` can only be read in that order, else None."""
    match = _OTHER.fullmatch(value)
    if match is None:
        return None
    first, second = int(match.group(1)), int(match.group(3))
    order = "dmy" if first > 12 >= second else "mdy" if second > 12 >= first else None
    return order if order and read_date(value, order) else None


def _kind(value: str) -> str:
    """iso, other (DD/MM or MM/DD not telling which), dmy, mdy, or none."""
    value = value.strip()
    if not value or read_date(value, "ymd"):
        return "iso" if value else "none"
    if order := deciding_order(value):
        return order
    return "other" if read_date(value, "dmy") or read_date(value, "mdy") else "none"


class OrderEvidence:
    """What the dates seen so far say about the file's order."""

    def __init__(self) -> None:
        self.iso = 0
        self.undecided = 0
        self.undecided_columns: list[str] = []

    def add(self, column: str, cells: Sequence[str]) -> str | None:
        """Count a batch of one column's cells; the order if one of them decides it."""
        decided = None
        for value, count in Counter(cells).items():
            kind = _kind(value)
            if kind == "iso":
                self.iso += count
            elif kind == "other":
                self.undecided += count
                if column not in self.undecided_columns:
                    self.undecided_columns.append(column)
            elif kind in ORDERS:
                decided = kind
        return decided


def detect_order(batches: Iterable[list[list[str]]], date_columns: dict[int, str]) -> str:
    """The date order of a file's rows (batches of rows as wide as the header), from its date
    columns (position: column name). Raises InputError when its non-ISO dates never say."""
    evidence = OrderEvidence()
    for rows in batches:
        cells_by_column = list(zip(*rows, strict=True))
        if any(
            evidence.add(column, cells_by_column[at]) is not None
            for at, column in date_columns.items()
        ):
            return _first_decided(rows, date_columns)
    if evidence.undecided and evidence.undecided >= evidence.iso:
        raise InputError(_undecided_message(evidence.undecided_columns))
    return "ymd"  # ISO dates only, or ISO with a few slips that will be refused


def _first_decided(rows: list[list[str]], date_columns: dict[int, str]) -> str:
    """The order of the first deciding date in file order (both orders may be in the file)."""
    for row in rows:
        for at in date_columns:
            if order := deciding_order(row[at].strip()):
                return order
    raise AssertionError("a batch that decided holds a deciding date")


def _undecided_message(columns: list[str]) -> str:
    others = len(columns) - 1
    more = f" (and {others} other date column{'s' if others > 1 else ''})" if others else ""
    return (
        f"the dates in column {columns[0]}{more} are written as DD/MM/YYYY or MM/DD/YYYY, and "
        "no date in the file tells which (no day above 12): run again with --date-format dmy "
        "or --date-format mdy"
    )
