"""A registry's own column names, codes and units turned into the core data set by a file.

    name = "Example registry weekly export"
    date_format = "dmy"            # optional: auto, ymd, dmy or mdy
    ignore = ["Ward"]              # the registry's columns to drop without a word
    [columns]                      # the registry's column -> the core data set's field
    "Patient ID" = "secret_name"
    [codes.sex]                    # per field: the registry's code -> the dictionary's code
    "M" = "male"
    [units]                        # per field: the unit the registry's column is in
    height = "m"
    [constants]                    # per field: one value for every row (no such column)
    covid19_country = "DE"

The same in JSON (a file starting with `{`). `load_mapping` checks every entry against the
dictionary and says which key is wrong and why; docs/mapping.md describes the format.

Plain Python: no Django import.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from typing import Any

from casereports.dictionary.model import DataDictionary, Field
from casereports.ingest import units
from casereports.ingest.cells import ReadingRules, field_unit, typed_parser
from casereports.ingest.dates import DATE_FORMATS
from casereports.ingest.header import DERIVED_FORM

KEYS = ("name", "date_format", "columns", "codes", "units", "ignore", "constants")


class MappingError(Exception):
    """The mapping file cannot be used; the message names the key or line and what is wrong."""


@dataclass(frozen=True)
class ColumnMapping:
    """A checked mapping: see the module's docstring for what each part means."""

    name: str = ""
    date_format: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    constants: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain data, the same for two files that say the same."""
        return {
            "name": self.name,
            "date_format": self.date_format or "auto",
            "columns": dict(sorted(self.columns.items())),
            "codes": {f: dict(sorted(c.items())) for f, c in sorted(self.codes.items())},
            "units": dict(sorted(self.units.items())),
            "ignore": sorted(self.ignore),
            "constants": dict(sorted(self.constants.items())),
        }

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of `to_dict()`."""
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_mapping(text: str, dictionary: DataDictionary, *, filename: str = "") -> ColumnMapping:
    """The mapping written in `text` (TOML, or JSON when it starts with `{`), checked against
    `dictionary`; raise MappingError naming the key or line and what is wrong."""
    where = f"{filename}: " if filename else ""
    try:
        return _Checker(dictionary).mapping(_parsed(text.lstrip("\ufeff")))
    except MappingError as error:
        raise MappingError(f"{where}{error}") from None


def _parsed(text: str) -> dict[str, Any]:
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise MappingError(
                f"line {error.lineno}: not valid JSON ({error.msg}, column {error.colno})"
            ) from None
        if not isinstance(data, dict):
            raise MappingError("the JSON must be one object of keys")
        return data
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"not valid TOML: {error}") from None


def _key(*parts: str) -> str:
    return ".".join(part if part.isidentifier() else json.dumps(part) for part in parts)


class _Checker:
    """Each part of a mapping checked against the dictionary."""

    def __init__(self, dictionary: DataDictionary) -> None:
        self.dictionary = dictionary
        self.inputs = {f.name: f for f in dictionary.fields if f.form != DERIVED_FORM}

    def mapping(self, data: dict[str, Any]) -> ColumnMapping:
        unknown = [key for key in data if key not in KEYS]
        if unknown:
            raise MappingError(f"{_key(unknown[0])}: unknown key (known: {', '.join(KEYS)})")
        columns = self.columns(_table(data, "columns"))
        ignore = self.ignore(data.get("ignore", []), columns)
        constants = self.constants(_table(data, "constants"), columns)
        return ColumnMapping(
            name=_text(data.get("name", ""), "name"),
            date_format=self.date_format(data.get("date_format")),
            columns=columns,
            codes=self.codes(_table(data, "codes")),
            units=self.units(_table(data, "units")),
            ignore=ignore,
            constants=constants,
        )

    def date_format(self, value: object) -> str | None:
        if value is None:
            return None
        if value not in DATE_FORMATS:
            raise MappingError(f"date_format: must be one of {', '.join(DATE_FORMATS)}")
        return None if value == "auto" else str(value)

    def columns(self, table: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        fed_by: dict[str, str] = {}
        for column, target in table.items():
            key = _key("columns", column)
            if not column.strip():
                raise MappingError(f"{key}: a column name must not be blank")
            target = self.input_field(_text(target, key), key).name
            if target in fed_by:
                raise MappingError(
                    f"{key}: {target} is already fed by the column {json.dumps(fed_by[target])}"
                )
            found[column.strip()] = target
            fed_by[target] = column
        return found

    def ignore(self, value: object, columns: dict[str, str]) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise MappingError('ignore: must be a list of column names, e.g. ["Ward"]')
        for column in value:
            if column.strip() in columns:
                raise MappingError(f"ignore: {json.dumps(column)} is also mapped in [columns]")
        return tuple(column.strip() for column in value)

    def codes(self, table: dict[str, Any]) -> dict[str, dict[str, str]]:
        found = {}
        for name, codes in table.items():
            key = _key("codes", name)
            target = self.choice_field(name, key)
            if not isinstance(codes, dict):
                raise MappingError(f'{key}: must be a table of codes, e.g. "M" = "male"')
            found[name] = {
                str(code): self.choice(target, value, _key("codes", name, str(code)))
                for code, value in codes.items()
            }
        return found

    def units(self, table: dict[str, Any]) -> dict[str, str]:
        found = {}
        for name, unit in table.items():
            key = _key("units", name)
            target = self.input_field(name, key)
            unit = _text(unit, key).strip()
            goal = field_unit(target)
            if units.dimension(unit) is None:
                raise MappingError(
                    f"{key}: the unit {json.dumps(unit)} is not known; known units are "
                    f"{units.known_units()}"
                )
            if units.dimension(goal) != units.dimension(unit):
                measured = f"in {goal}" if goal else "without a unit"
                raise MappingError(
                    f"{key}: {name} is measured {measured}, which {unit} does not convert to "
                    f"(units convert within {units.known_units()})"
                )
            found[name] = unit
        return found

    def constants(self, table: dict[str, Any], columns: dict[str, str]) -> dict[str, str]:
        found = {}
        for name, value in table.items():
            key = _key("constants", name)
            if name == "report_source":
                raise MappingError(f"{key}: the report source is given by the run, not the file")
            target = self.input_field(name, key)
            if name in columns.values():
                raise MappingError(f"{key}: {name} is also fed by a column in [columns]")
            found[name] = self.constant(target, value, key)
        return found

    def constant(self, target: Field, value: object, key: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise MappingError(f"{key}: must be a text or a number")
        parse = typed_parser(target, ReadingRules())
        if parse is None:
            return str(value)
        stored, reason, _ = parse(str(value))
        if reason:
            raise MappingError(f"{key}: {json.dumps(str(value))} is {reason}")
        return stored

    def input_field(self, name: str, key: str) -> Field:
        if name in self.inputs:
            return self.inputs[name]
        if name in self.dictionary:
            raise MappingError(
                f"{key}: {name} is derived (the pipeline computes it); a file cannot feed it"
            )
        close = difflib.get_close_matches(name, list(self.inputs), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise MappingError(f"{key}: {name} is not a field of the core data set{hint}")

    def choice_field(self, name: str, key: str) -> Field:
        target = self.input_field(name, key)
        if target.field_type == "checkbox":
            raise MappingError(f"{key}: {name} is a checkbox field, which takes no code mapping")
        if not target.choices or target.field_type not in {"dropdown", "radio"}:
            raise MappingError(f"{key}: {name} has no codes to map to")
        return target

    def choice(self, target: Field, value: object, key: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        code = _text(value, key).strip()
        if code == "":
            return ""  # the registry's code means blank
        codes = {c.casefold(): c for c in target.choice_codes()}
        if code.casefold() in codes:
            return codes[code.casefold()]
        listed = target.choice_codes()
        allowed = ", ".join(listed) if len(listed) <= 12 else f"one of {len(listed)} codes"
        raise MappingError(
            f'{key}: {json.dumps(code)} is not a code of {target.name} ({allowed}; "" for blank)'
        )


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise MappingError(f"{name}: must be a table ([{name}] in TOML, an object in JSON)")
    return table


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise MappingError(f"{key}: must be a text in quotes")
    return value
