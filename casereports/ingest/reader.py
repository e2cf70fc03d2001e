"""The one reader of core-data-set CSV files: the federated command, the row import, the web
page and the API read what enters through it.

The file is read as a stream, a batch of rows at a time. Its header decides which column feeds
which dictionary field (`header`), after a mapping (`mapping`) renamed the registry's own
columns. The delimiter (`,`, `;` or tab) is found from the header; lines may end in CR, LF or
CRLF; a BOM is dropped. Every cell is parsed by its field's type (`cells`): dates in the file's
order (given, or found from its dates: `dates`) become ISO `YYYY-MM-DD`, numbers and whole
numbers are checked, codes match in any letter case, a country may be its code or its name in
one of many languages. What reading changed is counted per column (`normalisations()`); a cell
that does not parse is blanked and reported with its column and a reason, never its value.

Plain Python: no Django import.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from casereports.dictionary.model import DataDictionary
from casereports.dictionary.validation_types import canonical_validation
from casereports.ingest.cells import DateParser, ReadingRules, TypedColumn, typed_parser
from casereports.ingest.dates import CANDIDATES, DATE_FORMATS, HINTS, ORDERS, detect_order
from casereports.ingest.errors import InputError
from casereports.ingest.header import (
    DELIMITERS,
    ColumnPlan,
    input_fields,
    plan_columns,
    read_header,
)
from casereports.ingest.mapping import ColumnMapping

__all__ = [
    "DATE_FORMATS",
    "DELIMITERS",
    "ColumnPlan",
    "CoreCsvReader",
    "CoreRow",
    "InputError",
    "input_fields",
    "open_core_csv",
]

BATCH = 1024  # rows typed together, column by column
SCAN_BLOCK = 1 << 22  # bytes read at a time when looking for non-ISO dates
DELIMITER_WORDS = {"tab": "\t", "\\t": "\t"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class CoreRow(NamedTuple):
    """One record of the input: where it starts, its typed values, the cells refused (column
    as the file names it, reason) and its cells as read, as wide as the header."""

    line: int
    record_number: int
    values: dict[str, str]
    unparsable: list[tuple[str, str]]
    cells: list[str]


@dataclass
class _RowCounts:
    rows_read: int = 0
    short_rows: int = 0
    long_rows: int = 0


class CoreCsvReader:
    """Rows of one core-data-set CSV, typed; open with `open_core_csv`."""

    def __init__(
        self,
        stream: io.TextIOBase,
        path: str | Path,
        plan: ColumnPlan,
        dictionary: DataDictionary,
        rules: ReadingRules,
        *,
        order_given: bool,
    ) -> None:
        self._stream = stream
        self._path = path
        self.plan = plan
        self._counts = _RowCounts()
        self._order_given = order_given
        self._typed = [
            (at, TypedColumn(column, name, parse))
            for at, column, name in plan.columns
            if (parse := typed_parser(dictionary.field(name), rules))
        ]

    @property
    def rows_read(self) -> int:
        return self._counts.rows_read

    @property
    def short_rows(self) -> int:
        return self._counts.short_rows

    @property
    def long_rows(self) -> int:
        return self._counts.long_rows

    def __enter__(self) -> CoreCsvReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()

    def __iter__(self) -> Iterator[CoreRow]:
        """The records in file order. Rows are typed a batch at a time, column by column:
        a column whose cells are all stored as written costs one set operation, the others a
        few, through the column's memory of cells seen."""
        number = 0
        for lines, rows in _row_batches(self._stream, self._path, self.plan, self._counts):
            values_by_row, unparsable = self._type_batch(rows)
            for index, values in enumerate(values_by_row):
                number += 1
                yield CoreRow(lines[index], number, values, unparsable.get(index, []), rows[index])

    def normalisations(self) -> list[dict[str, object]]:
        """What reading changed so far, per column: the column as the file names it, the field
        it feeds, a plain description and how many cells. Never the values."""
        return [
            {"column": typed.column, "field": typed.name, "what": what, "count": count}
            for _, typed in self._typed
            for what, count in sorted(typed.counts.items())
        ]

    def advice(self) -> list[str]:
        """Sentences for the person who named the date order, when every date of a column
        failed in it but reads in another (complete once the rows are read)."""
        if not self._order_given:
            return []
        return [
            sentence
            for _, typed in self._typed
            if isinstance(typed.parse, DateParser) and (sentence := _advice(typed))
        ]

    def _type_batch(
        self, rows: list[list[str]]
    ) -> tuple[list[dict[str, str]], dict[int, list[tuple[str, str]]]]:
        cells_by_column = list(zip(*rows, strict=True))
        unparsable: dict[int, list[tuple[str, str]]] = {}
        changed: list[tuple[str, list[str]]] = []
        for at, typed in self._typed:
            values, refused = typed.typed(cells_by_column[at])
            if values is not None:
                changed.append((typed.name, values))
            for index, reason in refused:
                unparsable.setdefault(index, []).append((typed.column, reason))
        records = self._records(rows)
        for name, values in changed:
            for record, value in zip(records, values, strict=True):
                record[name] = value
        return records, unparsable

    def _records(self, rows: list[list[str]]) -> list[dict[str, str]]:
        """The rows as records of every input field (missing columns blank), cells as written."""
        plan = self.plan
        template = self._template
        if len(plan.columns) == plan.header_width:  # every column is a field: the usual file
            names = self._names_by_position
            if not template:
                return [dict(zip(names, row, strict=True)) for row in rows]
            records = []
            for row in rows:
                record = template.copy()
                record.update(zip(names, row, strict=True))
                records.append(record)
            return records
        pick = [(at, name) for at, _, name in plan.columns]
        return [{**template, **{name: row[at] for at, name in pick}} for row in rows]

    @cached_property
    def _template(self) -> dict[str, str]:
        return {**dict.fromkeys(self.plan.missing_columns, ""), **self.plan.constants}

    @cached_property
    def _names_by_position(self) -> list[str]:
        """The field each column of the header feeds, in the header's order."""
        return [name for _, _, name in sorted(self.plan.columns)]


def _advice(typed: TypedColumn) -> str | None:
    parser = typed.parse
    assert isinstance(parser, DateParser)
    if parser.any_read or not parser.refused_read_as:
        return None
    orders = [order for order in ORDERS if order in parser.refused_read_as]
    column = typed.column if typed.column == typed.name else f"{typed.column} ({typed.name})"
    return (
        f"every date in column {column} fails as {HINTS[parser.order]} but reads as "
        f"{' or as '.join(HINTS[o] for o in orders)}: run again with "
        f"{' or '.join(f'--date-format {o}' for o in orders)}"
    )


def _row_batches(
    stream: io.TextIOBase, path: str | Path, plan: ColumnPlan, counts: _RowCounts
) -> Iterator[tuple[list[int], list[list[str]]]]:
    """Rows of the file after its header, BATCH at a time, cut or padded to the header's
    width, with the physical line each starts on. Blank lines are skipped."""
    width = plan.header_width
    reader = csv.reader(stream, delimiter=plan.delimiter)
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
                    counts.short_rows += 1
                    row = row + [""] * (width - len(row))
                else:
                    counts.long_rows += 1
                    del row[width:]
            lines.append(line)
            rows.append(row)
            if len(rows) == BATCH:
                counts.rows_read += len(rows)
                yield lines, rows
                lines, rows = [], []
    except UnicodeError as error:
        raise InputError(_encoding_message(path, plan.encoding)) from error
    except csv.Error as error:
        raise InputError(f"line {line_after + 1}: the CSV is malformed ({error})") from error
    if rows:
        counts.rows_read += len(rows)
        yield lines, rows


def open_core_csv(
    path: str | Path,
    dictionary: DataDictionary,
    *,
    delimiter: str | None = None,
    date_format: str | None = "auto",
    encoding: str | None = None,
    mapping: ColumnMapping | None = None,
) -> CoreCsvReader:
    """Open `path`, read and check its header; raise InputError if it is not the core data set.

    `date_format` auto (or None) reads the order the mapping names, else the one the file's own
    dates show; ymd, dmy or mdy is the caller's choice and wins over the mapping's.
    """
    date_format = date_format or "auto"
    if date_format not in DATE_FORMATS:
        raise InputError(f"the date format must be one of {', '.join(DATE_FORMATS)}")
    delimiter = DELIMITER_WORDS.get(delimiter or "", delimiter)
    if delimiter is not None and len(delimiter) != 1:
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
        return _reader(stream, path, dictionary, delimiter, date_format, encoding, mapping)
    except BaseException:
        stream.close()
        raise


def _reader(
    stream: io.TextIOWrapper,
    path: str | Path,
    dictionary: DataDictionary,
    delimiter: str | None,
    date_format: str,
    encoding: str | None,
    mapping: ColumnMapping | None,
) -> CoreCsvReader:
    try:
        header, header_lines = read_header(stream.readline)
    except UnicodeError as error:
        raise InputError(_encoding_message(path, encoding or "utf-8")) from error
    plan = plan_columns(
        header, dictionary, delimiter=delimiter, encoding=encoding or "utf-8", mapping=mapping
    )
    plan.header_lines = header_lines
    if mapping and mapping.constants:
        _add_constants(plan, mapping)
    given = date_format != "auto" or bool(mapping and mapping.date_format)
    plan.date_format, plan.date_order_from = _date_order(
        path, stream.encoding, plan, dictionary, date_format, mapping
    )
    rules = ReadingRules(
        date_order=plan.date_format,
        decimal_comma=plan.delimiter != ",",
        codes=mapping.codes if mapping else None,
        units=mapping.units if mapping else None,
    )
    return CoreCsvReader(stream, path, plan, dictionary, rules, order_given=given)


def _add_constants(plan: ColumnPlan, mapping: ColumnMapping) -> None:
    fed = {name: column for _, column, name in plan.columns}
    for name in mapping.constants:
        if name in fed:
            raise InputError(
                f"the mapping gives {name} one value for every row (in [constants]) but the "
                f"file's column {fed[name]} feeds it: drop one of them"
            )
    plan.constants = dict(mapping.constants)
    plan.missing_columns = [name for name in plan.missing_columns if name not in plan.constants]


def _date_order(
    path: str | Path,
    encoding: str,
    plan: ColumnPlan,
    dictionary: DataDictionary,
    date_format: str,
    mapping: ColumnMapping | None,
) -> tuple[str, str]:
    """The order the file's dates are read in and where it came from."""
    if date_format != "auto":
        return date_format, "given"
    if mapping and mapping.date_format:
        return mapping.date_format, "mapping"
    date_columns = {
        at: column
        for at, column, name in plan.columns
        if canonical_validation(dictionary.field(name).validation).startswith("date_")
    }
    try:
        maybe = bool(date_columns) and _may_hold_other_dates(path, encoding)
    except UnicodeError as error:
        raise InputError(_encoding_message(path, plan.encoding)) from error
    if not maybe:
        return "ymd", "ISO dates only"
    with open(path, encoding=encoding, newline="") as stream:
        for _ in range(plan.header_lines):
            stream.readline()
        batches = (rows for _, rows in _row_batches(stream, path, plan, _RowCounts()))
        order = detect_order(batches, date_columns)
    return order, "the file's dates" if order != "ymd" else "ISO dates only"


def _may_hold_other_dates(path: str | Path, encoding: str) -> bool:
    """Whether the file holds anything like a DD/MM/YYYY or MM/DD/YYYY date: a look through
    the raw bytes in C, so that a file of ISO dates costs a fraction of reading it."""
    if not _ascii_compatible(encoding):
        patterns = [re.compile(pattern.pattern.decode("ascii")) for pattern in CANDIDATES]
        with open(path, encoding=encoding, newline="") as text:
            return _any_block(patterns, iter(lambda: text.read(SCAN_BLOCK), ""))
    with open(path, "rb") as stream:
        return _any_block(CANDIDATES, iter(lambda: stream.read(SCAN_BLOCK), b""))


def _any_block(patterns: Sequence[re.Pattern], blocks: Iterator[Any]) -> bool:
    tail = None
    for block in blocks:
        joint = tail + block[:8] if tail else block[:0]
        if any(pattern.search(block) or pattern.search(joint) for pattern in patterns):
            return True
        tail = block[-8:]
    return False


def _ascii_compatible(encoding: str) -> bool:
    name = codecs.lookup(encoding).name
    sample = "0123456789/.-\n,;"
    return name == "utf-8-sig" or sample.encode(name, errors="replace") == sample.encode()


def _encoding_message(path: str | Path, encoding: str) -> str:
    return (
        f"line {_first_undecodable_line(path, encoding)}: the file is not valid {encoding} "
        "text. Save it as UTF-8, or name its encoding, for example --encoding latin-1 or "
        "--encoding cp1252"
    )


_LINE_BREAK = re.compile(rb"(\r\n|\r|\n)")


def _first_undecodable_line(path: str | Path, encoding: str) -> int | str:
    """The physical line (CR, LF or CRLF ending) with the first byte the encoding cannot read
    (the text decoder reads ahead, so the reader's own position does not tell)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 1
    with open(path, "rb") as stream:
        while block := stream.read(SCAN_BLOCK):
            pieces = _LINE_BREAK.split(block)
            for index, piece in enumerate(pieces):
                if index % 2:  # a line break; a CRLF cut by the block is counted twice
                    number += 1
                    continue
                try:
                    decoder.decode(piece)
                except UnicodeError:
                    return number
    return "?"
