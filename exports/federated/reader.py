"""Reading a registry's core-data-set CSV for the federated command, cell by cell typed.

The file is read as a stream, a batch of rows at a time. Its header decides which column feeds which
dictionary field: unknown columns are ignored, missing ones are blank, columns of the `derived`
form are ignored because the pipeline recomputes them, except that a `covid_wave1` column is
the registry's wave when there is no `covid_wave` column (correction C3).

Every cell is parsed by its field's type in the shipped dictionary: dates (in the order the
registry names) become ISO `YYYY-MM-DD`, numbers and whole numbers are checked, choice codes
match case-insensitively and are stored as the dictionary's code (`Yes` is `yes`), a country
may be its ISO code or its English name. A cell that does not parse is blanked and reported
with its column and a reason, never with the value itself.

Plain Python: no Django import.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from casereports.dictionary.model import DataDictionary, Field
from casereports.dictionary.validation_types import VALIDATORS, canonical_validation

DATE_FORMATS = ("ymd", "dmy")
DELIMITERS = (",", ";")
DERIVED_FORM = "derived"
WAVE_FIELD = "covid_wave"
TOOLKIT_WAVE_COLUMN = "covid_wave1"  # where the toolkit read the wave (correction C3)
COUNTRY_FIELD = "covid19_country"
BATCH = 1024  # rows typed together, column by column
CACHE_LIMIT = 16_384  # distinct cells remembered per column before the memory starts over
_DATE_HINTS = {"ymd": "YYYY-MM-DD", "dmy": "DD/MM/YYYY or DD-MM-YYYY"}

# A parsed cell: the value to store ("" when blank or unparsable) and why it did not parse.
Parsed = tuple[str, str | None]
CellParser = Callable[[str], Parsed]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class InputError(Exception):
    """The file cannot be read as the core data set; the message says why, in plain words."""


class CoreRow(NamedTuple):
    """One record of the input: where it starts, its typed values and the cells refused."""

    line: int
    record_number: int
    values: dict[str, str]
    unparsable: list[tuple[str, str]]


@dataclass
class ColumnPlan:
    """How the header's columns map to fields, and what the run leaves out."""

    delimiter: str
    encoding: str
    date_format: str
    columns: list[tuple[int, str, str]]  # (position, column name, field name)
    unknown_columns: list[str] = field(default_factory=list)
    ignored_derived_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    wave_column: str | None = None
    header_width: int = 0
    header_lines: int = 1

    def describe(self) -> dict[str, object]:
        return {
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "date_format": self.date_format,
            "unknown_columns": self.unknown_columns,
            "ignored_derived_columns": self.ignored_derived_columns,
            "missing_columns": self.missing_columns,
            "wave_column": self.wave_column,
        }


def input_fields(dictionary: DataDictionary) -> list[Field]:
    """The fields a core-data-set CSV carries: every field outside the derived form."""
    return [f for f in dictionary.fields if f.form != DERIVED_FORM]


# --- parsing one cell -------------------------------------------------------------------------


class TypedColumn:
    """One column parsed by its field's type, with the cells already seen remembered.

    `known` maps a cell to what parsing it gave: the stored value and the reason it did not
    parse (None when it did). `as_is` holds the cells stored exactly as written (`yes`, an ISO
    date, `44`, blank): a batch whose cells are all such needs no work at all.
    """

    def __init__(self, name: str, parse: CellParser) -> None:
        self.name = name
        self.parse = parse
        self.known: dict[str, Parsed] = {}
        self.as_is: set[str] = set()

    def value(self, raw: str) -> Parsed:
        found = self.known.get(raw)
        if found is None:
            if len(self.known) >= CACHE_LIMIT:
                self.known.clear()
                self.as_is.clear()
            found = self.known[raw] = self.parse(raw)
            if found == (raw, None):
                self.as_is.add(raw)
        return found

    def typed(self, cells: Sequence[str]) -> tuple[list[str] | None, list[tuple[int, str]]]:
        """The stored values of a column's cells (None when every one is stored as written)
        and the positions of the cells that did not parse, with the reasons."""
        if self.as_is.issuperset(cells):
            return None, []
        parsed = list(map(self.value, cells))
        refused = [(index, reason) for index, (_, reason) in enumerate(parsed) if reason]
        return [value for value, _ in parsed], refused


def typed_parser(field_: Field, date_format: str) -> CellParser | None:
    """The parser of a field's cells by its type, or None for free text (kept as it is)."""
    if date_format not in DATE_FORMATS:
        raise ValueError(f"date format must be one of {', '.join(DATE_FORMATS)}")
    if field_.choices and field_.field_type in {"dropdown", "radio"}:
        return _choice_parser(field_)
    validation = canonical_validation(field_.validation)
    if validation.startswith("date_"):
        return _date_parser(date_format)
    if validation == "integer":
        return _integer
    if validation == "number":
        return _number
    return None


def _blank_or(raw: str, parse: Callable[[str], Parsed]) -> Parsed:
    value = raw.strip()
    return ("", None) if value == "" else parse(value)


def _date_parser(date_format: str) -> CellParser:
    check = VALIDATORS[f"date_{date_format}"]  # always accepts ISO too
    reason = f"not a date (expected {_DATE_HINTS[date_format]})"

    def parse(value: str) -> Parsed:
        iso = _common_date(value, date_format)
        if iso is not None:
            return iso, None
        iso, error = check(value)
        return ("", reason) if error else (iso, None)

    return lambda raw: _blank_or(raw, parse)


def _common_date(value: str, date_format: str) -> str | None:
    """The ISO date of a zero-padded `YYYY-MM-DD` (or, for dmy, `DD/MM/YYYY` or `DD-MM-YYYY`)
    without strptime's cost; None for anything else, which the dictionary's validator reads.
    Accepts nothing that validator would refuse."""
    if len(value) != 10 or not value.isascii():
        return None
    if value[4] == value[7] == "-" and (value[:4] + value[5:7] + value[8:]).isdigit():
        return _valid_iso(value)
    day_first = value[2] == value[5] and value[2] in "/-"
    if date_format == "dmy" and day_first and (value[:2] + value[3:5] + value[6:]).isdigit():
        return _valid_iso(f"{value[6:]}-{value[3:5]}-{value[:2]}")
    return None


def _valid_iso(iso: str) -> str | None:
    try:
        date.fromisoformat(iso)
    except ValueError:
        return None
    return iso


def _integer(raw: str) -> Parsed:
    def parse(value: str) -> Parsed:
        # A whole number written with a zero decimal part (44.0, as pandas writes an integer
        # column with blanks) is that whole number.
        whole, point, decimals = value.partition(".")
        if point and whole and decimals.strip("0") == "":
            value = whole
        if VALIDATORS["integer"](value)[1] is None:
            return value, None
        return "", "not a whole number"

    return _blank_or(raw, parse)


def _number(raw: str) -> Parsed:
    def parse(value: str) -> Parsed:
        if VALIDATORS["number"](value)[1] is None:
            return value, None
        return "", "not a number (digits with . for decimals)"

    return _blank_or(raw, parse)


def _choice_parser(field_: Field) -> CellParser:
    codes = {code.lower(): code for code, _ in field_.choices}
    if field_.name == COUNTRY_FIELD:
        labels = {label.lower(): code for code, label in field_.choices}
        codes = {**labels, **codes}
        reason = "not a country code or English country name of the dictionary"
    elif len(codes) <= 12:
        reason = f"not one of the codes ({', '.join(field_.choice_codes())})"
    else:
        reason = f"not one of the {len(codes)} codes of the dictionary"

    def parse(value: str) -> Parsed:
        code = codes.get(value.lower())
        return ("", reason) if code is None else (code, None)

    return lambda raw: _blank_or(raw, parse)


# --- the file ---------------------------------------------------------------------------------


class CoreCsvReader:
    """Rows of one core-data-set CSV, typed; open with `open_core_csv`."""

    def __init__(
        self, stream: io.TextIOBase, path: str | Path, plan: ColumnPlan, dictionary: DataDictionary
    ) -> None:
        self._stream = stream
        self._path = path
        self.plan = plan
        self._dictionary = dictionary
        self.rows_read = 0
        self.short_rows = 0
        self.long_rows = 0

    def __enter__(self) -> CoreCsvReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()

    def __iter__(self) -> Iterator[CoreRow]:
        """The records in file order. Rows are typed a batch at a time, column by column:
        a column whose cells are all stored as written costs one set, the others one C-level
        pass through the column's memory of cells seen."""
        typed = [
            (at, column, TypedColumn(name, parse))
            for at, column, name in self.plan.columns
            if (parse := typed_parser(self._dictionary.field(name), self.plan.date_format))
        ]
        number = 0
        for lines, rows in self._batches():
            values_by_row, unparsable = self._type_batch(rows, typed)
            for index, values in enumerate(values_by_row):
                number += 1
                yield CoreRow(lines[index], number, values, unparsable.get(index, []))

    def _batches(self) -> Iterator[tuple[list[int], list[list[str]]]]:
        """Rows of the file, BATCH at a time, cut or padded to the header's width, with the
        physical line each starts on. Blank lines are skipped."""
        plan = self.plan
        width = plan.header_width
        reader = csv.reader(self._stream, delimiter=plan.delimiter)
        line_after = plan.header_lines
        lines: list[int] = []
        rows: list[list[str]] = []
        try:
            for row in reader:
                line, line_after = line_after + 1, plan.header_lines + reader.line_num
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line is no record
                    if len(row) < width:
                        self.short_rows += 1
                        row = row + [""] * (width - len(row))
                    else:
                        self.long_rows += 1
                        del row[width:]
                lines.append(line)
                rows.append(row)
                if len(rows) == BATCH:
                    self.rows_read += len(rows)
                    yield lines, rows
                    lines, rows = [], []
        except UnicodeDecodeError as error:
            raise InputError(_encoding_message(self._path, plan.encoding)) from error
        except csv.Error as error:
            raise InputError(f"line {line_after + 1}: the CSV is malformed ({error})") from error
        if rows:
            self.rows_read += len(rows)
            yield lines, rows

    def _type_batch(
        self, rows: list[list[str]], typed: list[tuple[int, str, TypedColumn]]
    ) -> tuple[list[dict[str, str]], dict[int, list[tuple[str, str]]]]:
        cells_by_column = list(zip(*rows, strict=True))
        unparsable: dict[int, list[tuple[str, str]]] = {}
        changed: list[tuple[str, list[str]]] = []
        for at, column, typed_column in typed:
            values, refused = typed_column.typed(cells_by_column[at])
            if values is not None:
                changed.append((typed_column.name, values))
            for index, reason in refused:
                unparsable.setdefault(index, []).append((column, reason))
        records = self._records(rows)
        for name, values in changed:
            for record, value in zip(records, values, strict=True):
                record[name] = value
        return records, unparsable

    def _records(self, rows: list[list[str]]) -> list[dict[str, str]]:
        """The rows as records of every input field (missing columns blank), cells as written."""
        plan = self.plan
        if len(plan.columns) == plan.header_width:  # every column is a field: the usual file
            names = self._names_by_position
            if not plan.missing_columns:
                return [dict(zip(names, row, strict=True)) for row in rows]
            template = dict.fromkeys(plan.missing_columns, "")
            records = []
            for row in rows:
                record = template.copy()
                record.update(zip(names, row, strict=True))
                records.append(record)
            return records
        template = dict.fromkeys(plan.missing_columns, "")
        pick = [(at, name) for at, _, name in plan.columns]
        return [{**template, **{name: row[at] for at, name in pick}} for row in rows]

    @cached_property
    def _names_by_position(self) -> list[str]:
        """The field each column of the header feeds, in the header's order."""
        return [name for _, _, name in sorted(self.plan.columns)]


def _encoding_message(path: str | Path, encoding: str) -> str:
    return (
        f"line {_first_undecodable_line(path, encoding)}: the file is not valid {encoding} "
        "text. Save it as UTF-8, or name its encoding, for example --encoding latin-1 or "
        "--encoding cp1252"
    )


def _first_undecodable_line(path: str | Path, encoding: str) -> int | str:
    """The physical line with the first byte the encoding cannot read (the text decoder
    reads ahead, so the reader's own position does not tell)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
    return "?"


def open_core_csv(
    path: str | Path,
    dictionary: DataDictionary,
    *,
    delimiter: str | None = None,
    date_format: str = "ymd",
    encoding: str | None = None,
) -> CoreCsvReader:
    """Open `path`, read and check its header; raise InputError if it is not the core data set."""
    if date_format not in DATE_FORMATS:
        raise InputError(f"the date format must be one of {', '.join(DATE_FORMATS)}")
    if delimiter is not None and delimiter not in DELIMITERS and len(delimiter) != 1:
        raise InputError("the delimiter must be one character, for example ';' or ','")
    chosen_encoding = encoding or "utf-8-sig"
    try:
        codecs.lookup(chosen_encoding)
    except LookupError as error:
        raise InputError(f"unknown encoding {chosen_encoding!r}") from error
    try:
        stream = open(path, encoding=chosen_encoding, newline="")  # noqa: SIM115 - closed by reader
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror or error}") from error
    try:
        header, header_lines = _header_text(stream, path, encoding or "utf-8")
        plan = _plan(header, dictionary, delimiter, encoding or "utf-8", date_format)
        plan.header_lines = header_lines
    except BaseException:
        stream.close()
        raise
    return CoreCsvReader(stream, path, plan, dictionary)


def _header_text(stream: io.TextIOBase, path: str | Path, encoding: str) -> tuple[str, int]:
    """The header's text (physical lines joined while a quote is open) and its line count."""
    text = ""
    lines = 0
    try:
        while True:
            line = stream.readline()
            if line == "":
                break
            lines += 1
            text += line
            if text.strip() and text.count('"') % 2 == 0:
                break
            if not text.strip():
                text = ""  # blank lines before the header
    except UnicodeDecodeError as error:
        raise InputError(_encoding_message(path, encoding)) from error
    if not text.strip():
        raise InputError("the file is empty: expected a header line naming the columns")
    return text.lstrip("\ufeff"), lines


def _header_cells(text: str, delimiter: str) -> list[str]:
    row = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return [cell.strip().lstrip("\ufeff") for cell in row]


def _plan(
    header: str,
    dictionary: DataDictionary,
    delimiter: str | None,
    encoding: str,
    date_format: str,
) -> ColumnPlan:
    record_id = dictionary.record_id
    known = {f.name for f in dictionary.fields}
    candidates = [delimiter] if delimiter else list(DELIMITERS)
    parsed = {d: _header_cells(header, d) for d in {*candidates, *DELIMITERS}}
    with_id = [d for d in candidates if record_id in parsed[d]]
    if with_id:
        chosen = with_id[0]
    else:
        _refuse_header(header, parsed, known, record_id, delimiter)
    cells = parsed[chosen]
    duplicates = sorted({c for c in cells if c and cells.count(c) > 1})
    if duplicates:
        raise InputError(f"the header names these columns more than once: {', '.join(duplicates)}")
    fields = {f.name: f for f in input_fields(dictionary)}
    derived = {f.name for f in dictionary.fields if f.form == DERIVED_FORM}
    plan = ColumnPlan(chosen, encoding, date_format, [])
    plan.header_width = len(cells)
    for at, column in enumerate(cells):
        if column in fields:
            plan.columns.append((at, column, column))
        elif column == TOOLKIT_WAVE_COLUMN and WAVE_FIELD not in cells and WAVE_FIELD in fields:
            plan.columns.append((at, column, WAVE_FIELD))
        elif column in derived:
            plan.ignored_derived_columns.append(column)
        else:
            plan.unknown_columns.append(column or "(unnamed)")
    mapped = {name for _, _, name in plan.columns}
    plan.missing_columns = [name for name in fields if name not in mapped]
    plan.wave_column = next((c for _, c, name in plan.columns if name == WAVE_FIELD), None)
    return plan


def _refuse_header(
    header_text: str,
    parsed: dict[str, list[str]],
    known: set[str],
    record_id: str,
    delimiter: str | None,
) -> None:
    if delimiter:
        others = [d for d in DELIMITERS if d != delimiter and record_id in parsed[d]]
        if others:
            raise InputError(
                f"the header does not split into columns with the delimiter {delimiter!r}; "
                f"it looks like {others[0]!r}: run again with --delimiter '{others[0]}' "
                "or leave --delimiter out"
            )
    if not any(cell in known for cells in parsed.values() for cell in cells):
        if record_id in header_text:
            raise InputError(
                f"the header names {record_id} but does not split into columns with ',' or "
                "';': save the file with one of those delimiters (is it tab-separated?)"
            )
        raise InputError(
            "the first line is not a header of the core data set: none of its cells is a "
            f"column name of the dictionary (expected names such as {record_id}, "
            "covid19_date_reporting, age_years)"
        )
    raise InputError(
        f"the header has no {record_id} column: every core-data-set file starts with the "
        f"record's pseudonym in a column named {record_id}"
    )
