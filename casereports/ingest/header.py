"""A file's header: its delimiter, and which column feeds which field of the core data set.

Unknown columns are ignored, missing ones are blank, columns of the `derived` form are ignored
because the pipeline recomputes them, except that a `covid_wave1` column is the registry's wave
when there is no `covid_wave` column (correction C3). A mapping renames the registry's columns
first. Every step is linear in the number of columns: a header of 200,000 columns is read in
well under a second.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from casereports.dictionary.model import DataDictionary, Field
from casereports.ingest.errors import InputError

if TYPE_CHECKING:
    from casereports.ingest.mapping import ColumnMapping

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab"}
DERIVED_FORM = "derived"
WAVE_FIELD = "covid_wave"
TOOLKIT_WAVE_COLUMN = "covid_wave1"  # where the toolkit read the wave (correction C3)


def input_fields(dictionary: DataDictionary) -> list[Field]:
    """The fields a core-data-set CSV carries: every field outside the derived form."""
    return [f for f in dictionary.fields if f.form != DERIVED_FORM]


@dataclass
class ColumnPlan:
    """How the header's columns map to fields, and what the run leaves out."""

    delimiter: str
    encoding: str
    date_format: str
    columns: list[tuple[int, str, str]]  # (position, column name in the file, field name)
    header: list[str] = field(default_factory=list)  # the header's cells as in the file
    unknown_columns: list[str] = field(default_factory=list)
    ignored_derived_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    wave_column: str | None = None
    header_width: int = 0
    header_lines: int = 1
    date_order_from: str = "given"  # given, mapping, the dates of the file, or ISO dates only
    ignored_by_mapping: list[str] = field(default_factory=list)
    absent_mapped_columns: list[str] = field(default_factory=list)
    constants: dict[str, str] = field(default_factory=dict)  # field: value, from the mapping
    mapping: dict[str, str] | None = None  # name and fingerprint of the mapping applied

    def describe(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "date_format": self.date_format,
            "date_order_from": self.date_order_from,
            "unknown_columns": self.unknown_columns,
            "ignored_derived_columns": self.ignored_derived_columns,
            "missing_columns": self.missing_columns,
            "wave_column": self.wave_column,
            "renamed_columns": self.renamed_columns(),
            "mapping": self.mapping,
            "ignored_by_mapping": self.ignored_by_mapping,
            "absent_mapped_columns": self.absent_mapped_columns,
            "constants": self.constants,
        }

    def renamed_columns(self) -> dict[str, str]:
        """The file's columns that feed a field of another name: column -> field."""
        return {column: name for _, column, name in self.columns if column != name}


def read_header(readline: Callable[[], str]) -> tuple[str, int]:
    """The header's text (physical lines joined while a quote is open) and its line count,
    blank lines before it skipped. Lines may end in CR, LF or CRLF."""
    parts: list[str] = []
    quotes = lines = 0
    while line := readline():
        lines += 1
        if not parts and not line.strip():
            continue  # blank lines before the header
        parts.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            break
    if not parts:
        raise InputError("the file is empty: expected a header line naming the columns")
    return "".join(parts).lstrip("\ufeff"), lines


def header_cells(text: str, delimiter: str) -> list[str]:
    row = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    if row:
        row[0] = row[0].lstrip("\ufeff")
    return row


def plan_columns(
    header: str,
    dictionary: DataDictionary,
    *,
    delimiter: str | None,
    encoding: str,
    mapping: ColumnMapping | None = None,
) -> ColumnPlan:
    """The plan of a header's columns; raise InputError if it is not the core data set's."""
    renames = dict(mapping.columns) if mapping else {}
    ids = {dictionary.record_id, *(c for c, f in renames.items() if f == dictionary.record_id)}
    chosen, cells = _split(header, dictionary, delimiter, ids)
    names = [cell.strip() for cell in cells]
    _refuse_duplicates(names)
    plan = ColumnPlan(chosen, encoding, "", [], header=cells, header_width=len(cells))
    ignored = set(mapping.ignore) if mapping else set()
    fields = {f.name: f for f in input_fields(dictionary)}
    derived = {f.name for f in dictionary.fields if f.form == DERIVED_FORM}
    targets = ["" if name in ignored else renames.get(name, name) for name in names]
    _refuse_two_feeding_one(names, targets, fields)
    has_wave = WAVE_FIELD in targets
    for at, (column, target) in enumerate(zip(names, targets, strict=True)):
        if column in ignored:
            plan.ignored_by_mapping.append(column)
        elif target in fields:
            plan.columns.append((at, column, target))
        elif target == TOOLKIT_WAVE_COLUMN and not has_wave and WAVE_FIELD in fields:
            plan.columns.append((at, column, WAVE_FIELD))
        elif target in derived:
            plan.ignored_derived_columns.append(column)
        else:
            plan.unknown_columns.append(column or "(unnamed)")
    fed = {name for _, _, name in plan.columns}
    plan.missing_columns = [name for name in fields if name not in fed]
    plan.wave_column = next((c for _, c, name in plan.columns if name == WAVE_FIELD), None)
    if mapping:
        present = set(names)
        plan.absent_mapped_columns = [c for c in mapping.columns if c not in present]
        plan.mapping = {"name": mapping.name, "fingerprint": mapping.fingerprint}
    return plan


def _split(
    header: str, dictionary: DataDictionary, delimiter: str | None, ids: set[str]
) -> tuple[str, list[str]]:
    """The delimiter that splits the header into cells one of which is the record id."""
    candidates = [delimiter] if delimiter else list(DELIMITERS)
    parsed = {d: header_cells(header, d) for d in dict.fromkeys([*candidates, *DELIMITERS])}
    for candidate in candidates:
        if _has_id(parsed[candidate], ids):
            return candidate, parsed[candidate]
    _refuse_header(header, parsed, dictionary, ids, delimiter)
    raise AssertionError("refused above")


def _has_id(cells: list[str], ids: set[str]) -> bool:
    return not ids.isdisjoint(cell.strip() for cell in cells)


def _refuse_duplicates(names: list[str]) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if name and count > 1)
    if duplicates:
        raise InputError(f"the header names these columns more than once: {', '.join(duplicates)}")


def _refuse_two_feeding_one(names: list[str], targets: list[str], fields: dict) -> None:
    """A mapping may rename a column onto a field another column of the file already feeds."""
    feeding: dict[str, list[str]] = {}
    for column, target in zip(names, targets, strict=True):
        if target in fields:
            feeding.setdefault(target, []).append(column)
    twice = {target: columns for target, columns in feeding.items() if len(columns) > 1}
    if twice:
        target, columns = next(iter(twice.items()))
        raise InputError(
            f"the columns {' and '.join(columns)} both feed the field {target}: drop one from "
            "the file or from the mapping's [columns]"
        )


def _refuse_header(
    header_text: str,
    parsed: dict[str, list[str]],
    dictionary: DataDictionary,
    ids: set[str],
    delimiter: str | None,
) -> None:
    record_id = dictionary.record_id
    named = " or ".join(sorted(ids))
    if delimiter:
        others = [d for d in DELIMITERS if d != delimiter and _has_id(parsed[d], ids)]
        if others:
            raise InputError(
                f"the header does not split into columns with the delimiter "
                f"{DELIMITER_NAMES.get(delimiter, repr(delimiter))}; it looks like "
                f"{DELIMITER_NAMES[others[0]]}: run again with --delimiter "
                f"{_option(others[0])} or leave --delimiter out"
            )
    known = {f.name for f in dictionary.fields} | ids
    if not any(cell.strip() in known for cells in parsed.values() for cell in cells):
        if any(name in header_text for name in ids):
            raise InputError(
                f"the header names {named} but does not split into columns with ',', ';' or "
                "tab: save the file with one of those delimiters"
            )
        raise InputError(
            "the first line is not a header of the core data set: none of its cells is a "
            f"column name of the dictionary (expected names such as {record_id}, "
            "covid19_date_reporting, age_years)"
        )
    raise InputError(
        f"the header has no {named} column: every core-data-set file starts with the "
        f"record's pseudonym in a column named {record_id}"
    )


def _option(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else f"'{delimiter}'"
