"""One column's cells read by its field's type, what reading changed counted per column.

A parser takes a cell as written and gives `(stored value, reason refused, notes)`: the value
to store ("" when blank or refused), why it was refused (None when it was not), and a plain
description of each thing reading changed (a day-first date, a decimal comma, a country name).
Parsing is per distinct cell: a column remembers what each cell it has seen gave, so a batch
of rows costs a few set operations in C, and the notes are counted from the distinct cells.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from casereports.dictionary.model import Field
from casereports.dictionary.validation_types import canonical_validation
from casereports.ingest import units
from casereports.ingest.countries import country_table, fold
from casereports.ingest.dates import HINTS, orders_reading, read_date

COUNTRY_FIELD = "covid19_country"
CACHE_LIMIT = 16_384  # distinct cells remembered per column before the memory starts over

NOTE_CASE = "code read in another letter case"
NOTE_COUNTRY_NAME = "country name read as its ISO code"
NOTE_ALPHA3 = "ISO alpha-3 country code read as its alpha-2 code"
NOTE_MAPPED = "registry code mapped"
NOTE_DECIMAL_COMMA = "decimal comma read as a decimal point"
NOTE_ZERO_DECIMALS = "whole number written with a zero decimal part read as that number"
NOTE_NON_WHOLE_AGE = "non-whole age kept as written, as the initiative's analysis used it"
NOTE_METRES = "{field} in metres read as centimetres"
NOTE_CONVERTED = "converted from {source} to {target}"

Parsed = tuple[str, str | None, tuple[str, ...]]
ValueParser = Callable[[str], Parsed]  # a stripped, non-blank cell

_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DECIMAL_COMMA = re.compile(r"[-+]?[0-9]*,[0-9]+")
_BLANK: Parsed = ("", None, ())
_UNSET = object()


@dataclass(frozen=True)
class ReadingRules:
    """How a file's cells are read beyond their field's type."""

    date_order: str = "ymd"  # ymd, dmy or mdy: resolved, never auto
    decimal_comma: bool = False  # the file's delimiter is not a comma
    codes: dict[str, dict[str, str]] | None = None  # field: registry code -> dictionary code
    units: dict[str, str] | None = None  # field: the unit the registry's column is in


def field_unit(field_: Field) -> str:
    return str(field_.tag("@GDSI-UNIT") or "")


def typed_parser(field_: Field, rules: ReadingRules) -> Callable[[str], Parsed] | None:
    """The parser of a field's cells as written, or None for free text (kept as it is)."""
    parse = _value_parser(field_, rules)
    codes = (rules.codes or {}).get(field_.name)
    if parse is not None and codes:
        parse = _mapped(codes, parse)
    if parse is None:
        return None
    if isinstance(parse, DateParser):
        return parse
    return lambda raw: _blank_or(raw, parse)


def _blank_or(raw: str, parse: ValueParser) -> Parsed:
    value = raw.strip()
    return _BLANK if value == "" else parse(value)


def _value_parser(field_: Field, rules: ReadingRules) -> ValueParser | None:
    if field_.choices and field_.field_type in {"dropdown", "radio"}:
        return _choice_parser(field_)
    validation = canonical_validation(field_.validation)
    if validation.startswith("date_"):
        return DateParser(rules.date_order)
    if validation in {"integer", "number"}:
        return NumberParser(field_, rules)
    return None


def _mapped(codes: dict[str, str], parse: ValueParser) -> ValueParser:
    """The registry's codes turned into the dictionary's before the type is read."""
    folded = {code.casefold(): target for code, target in codes.items()}

    def read(value: str) -> Parsed:
        target = codes.get(value, _UNSET)
        if target is _UNSET:
            target = folded.get(value.casefold(), _UNSET)
        if target is _UNSET:
            return parse(value)
        if target == "":
            return ("", None, (NOTE_MAPPED,))
        stored, reason, notes = parse(str(target))
        return stored, reason, (NOTE_MAPPED, *notes)

    return read


# --- choices ----------------------------------------------------------------------------------


def _choice_parser(field_: Field) -> ValueParser:
    codes = {code.casefold(): code for code, _ in field_.choices}
    if field_.name == COUNTRY_FIELD:
        return _country_parser(field_, codes)
    if len(codes) <= 12:
        reason = f"not one of the codes ({', '.join(field_.choice_codes())})"
    else:
        reason = f"not one of the {len(codes)} codes of the dictionary"

    def parse(value: str) -> Parsed:
        code = codes.get(value.casefold())
        if code is None:
            return "", reason, ()
        return code, None, (() if code == value else (NOTE_CASE,))

    return parse


def _country_parser(field_: Field, codes: dict[str, str]) -> ValueParser:
    table = country_table().restricted(codes.values())
    names = {**table.names, **{fold(label): code for code, label in field_.choices}}
    reason = "not an ISO country code or a country name the reader knows"

    def parse(value: str) -> Parsed:
        code = codes.get(value.casefold())
        if code is not None:
            return code, None, (() if code == value else (NOTE_CASE,))
        key = fold(value)
        if len(key) == 3 and (code := table.alpha3.get(key)):
            return code, None, (NOTE_ALPHA3,)
        if code := names.get(key):
            return code, None, (NOTE_COUNTRY_NAME,)
        return "", reason, ()

    return parse


# --- dates ------------------------------------------------------------------------------------


class DateParser:
    """Dates in one order, with what the refused ones say: `any_read` is whether a date of the
    column was read, `refused_read_as` the orders every refused date reads in."""

    def __init__(self, order: str) -> None:
        self.order = order
        hint = HINTS[order] if order == "ymd" else f"{HINTS[order]} or YYYY-MM-DD"
        self.reason = f"not a date (expected {hint})"
        self.any_read = False
        self.refused_read_as: set[str] | None = None

    def __call__(self, raw: str) -> Parsed:
        value = raw.strip()
        if value == "":
            return _BLANK
        read = read_date(value, self.order)
        if read is None:
            others = orders_reading(value)
            known = self.refused_read_as
            self.refused_read_as = others if known is None else known & others
            return "", self.reason, ()
        self.any_read = True
        iso, note = read
        return iso, None, (() if note is None else (note,))


# --- numbers ----------------------------------------------------------------------------------


class NumberParser:
    """Numbers and whole numbers, with a decimal comma, a unit and an age read as they mean."""

    def __init__(self, field_: Field, rules: ReadingRules) -> None:
        self.whole = canonical_validation(field_.validation) == "integer"
        self.decimal_comma = rules.decimal_comma
        unit = field_unit(field_)
        self.keeps_fraction = self.whole and unit == "years"
        source = (rules.units or {}).get(field_.name)
        self.convert = _conversion(source, unit) if source and source != unit else None
        self.metres = _metres_window(field_) if unit == "cm" and not source else None
        self.metres_note = NOTE_METRES.format(field=field_.name)
        if self.whole:
            self.reason = "not a whole number"
        else:
            comma = " or ," if self.decimal_comma else ""
            self.reason = f"not a number (digits with .{comma} for decimals)"

    def __call__(self, value: str) -> Parsed:
        notes: tuple[str, ...] = ()
        if self.decimal_comma and "," in value and _DECIMAL_COMMA.fullmatch(value):
            value, notes = value.replace(",", "."), (NOTE_DECIMAL_COMMA,)
        if self.whole:
            value, note = self._whole(value)
        else:
            note = None if _NUMBER.fullmatch(value) else self.reason
        if note == self.reason:
            return "", self.reason, ()
        notes += (note,) if note else ()
        return self._in_unit(value, notes)

    def _whole(self, value: str) -> tuple[str, str | None]:
        """The whole number, with a note when it was written otherwise; reason if refused."""
        if _INTEGER.fullmatch(value):
            return value, None
        whole, point, decimals = value.partition(".")
        # A whole number with a zero decimal part (44.0, as pandas writes an integer column
        # with blanks) is that whole number.
        if point and whole and decimals.strip("0") == "" and _INTEGER.fullmatch(whole):
            return whole, NOTE_ZERO_DECIMALS
        if self.keeps_fraction and _NUMBER.fullmatch(value):
            return value, NOTE_NON_WHOLE_AGE
        return value, self.reason

    def _in_unit(self, value: str, notes: tuple[str, ...]) -> Parsed:
        if self.convert is not None:
            by, note = self.convert
            return units.scaled(value, by, whole=self.whole), None, (*notes, note)
        if self.metres is not None and self.metres[0] <= float(value) <= self.metres[1]:
            return units.scaled(value, units.factor("m", "cm")), None, (*notes, self.metres_note)
        return value, None, notes


def _conversion(source: str, target: str) -> tuple[Decimal, str]:
    return units.factor(source, target), NOTE_CONVERTED.format(source=source, target=target)


def _metres_window(field_: Field) -> tuple[float, float] | None:
    """The values read as metres in a centimetre field: 0.5 to 2.5 where x100 is in range."""
    try:
        low, high = float(field_.min) / 100, float(field_.max) / 100
    except ValueError:
        return None  # without a range, a small number in cm is not clearly metres
    low, high = max(low, 0.5), min(high, 2.5)
    return (low, high) if low <= high else None


# --- a column ---------------------------------------------------------------------------------


class TypedColumn:
    """One column of the file parsed by its field's type, with the cells already seen
    remembered. `as_is` holds the cells stored exactly as written (`yes`, an ISO date, `44`,
    blank): a batch whose cells are all such needs no work at all."""

    def __init__(self, column: str, name: str, parse: Callable[[str], Parsed]) -> None:
        self.column = column  # as the file names it
        self.name = name  # the field it feeds
        self.parse = parse
        self.stored: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.noted: dict[str, tuple[str, ...]] = {}
        self.as_is: set[str] = set()
        self.counts: Counter[str] = Counter()

    def typed(self, cells: Sequence[str]) -> tuple[list[str] | None, list[tuple[int, str]]]:
        """The stored values of a batch of the column's cells (None when every one is stored
        as written) and the positions of the cells refused, with the reasons."""
        if self.as_is.issuperset(cells):
            return None, []
        if len(self.stored) >= CACHE_LIMIT:
            self._forget()
        distinct = set(cells)
        for raw in distinct.difference(self.stored):
            self._learn(raw)
        if not self.noted.keys().isdisjoint(distinct):
            self._count(cells, distinct)
        values = list(map(self.stored.__getitem__, cells))
        if self.refused.keys().isdisjoint(distinct):
            return values, []
        refused = self.refused
        return values, [(at, refused[raw]) for at, raw in enumerate(cells) if raw in refused]

    def _learn(self, raw: str) -> None:
        value, reason, notes = self.parse(raw)
        self.stored[raw] = value
        if reason is not None:
            self.refused[raw] = reason
        elif notes:
            self.noted[raw] = notes
        elif value == raw:
            self.as_is.add(raw)

    def _count(self, cells: Sequence[str], distinct: set[str]) -> None:
        occurrences = Counter(cells)
        for raw in self.noted.keys() & distinct:
            for note in self.noted[raw]:
                self.counts[note] += occurrences[raw]

    def _forget(self) -> None:
        for memory in (self.stored, self.refused, self.noted, self.as_is):
            memory.clear()
