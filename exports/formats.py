"""The files of an export: core data set CSVs, REDCap records CSV, codebook, manifest.

Plain Python (no Django). CSVs are UTF-8 with REDCap's `\\r\\n` line ends, quoted by the csv
module where needed, every cell through `casereports.csvsafe.safe_cell`. Each file is written
to a temporary file while its SHA-256 and size are computed, so nothing is read twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import operator
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from casereports.csvsafe import safe_cell
from casereports.dictionary import DataDictionary
from casereports.entry import storage_keys

DERIVED_FORM = "derived"  # the hidden form of calc fields: not a column of the core data set
REPORT_SOURCES = ("clinicians", "patients")
CODEBOOK = "codebook.csv"
REDCAP_RECORDS = "redcap_records.csv"
MANIFEST = "manifest.json"
LINE_END = "\r\n"


def core_file_name(report_source: str) -> str:
    return f"core_{report_source}.csv"


def core_columns(dictionary: DataDictionary) -> list[str]:
    """The core data set's columns: every field outside the derived form, in dictionary order
    (a checkbox as one `name___code` column per option; descriptive fields hold no data)."""
    return [
        key
        for f in dictionary.fields
        if f.form != DERIVED_FORM and f.field_type != "descriptive"
        for key in storage_keys(f)
    ]


def redcap_columns(dictionary: DataDictionary) -> list[str]:
    """REDCap's record export columns: the record id first, then every field in dictionary
    order, checkbox options as `name___code`, descriptive fields left out."""
    return [
        key for f in dictionary.fields if f.field_type != "descriptive" for key in storage_keys(f)
    ]


class _HashingWriter:
    """A text sink for csv.writer: encodes to UTF-8, hashes and counts the bytes it writes."""

    def __init__(self, binary) -> None:
        self._binary = binary
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._binary.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(text)


class TempFile:
    """A file written under a temporary name in `directory`, hashed while it is written.

    The caller removes it (`discard`) once its content has been copied into the zip, or when
    anything fails; nothing here renames it.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        handle, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        self.path = Path(path)
        self._binary = os.fdopen(handle, "wb")
        self._sink = _HashingWriter(self._binary)
        self.rows = 0

    def write_text(self, text: str) -> None:
        self._sink.write(text)

    def close(self) -> None:
        if not self._binary.closed:
            self._binary.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._sink.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._sink.size


class CsvFile(TempFile):
    """A CSV under a temporary name: header first, then one row per record (`rows` counts the
    records, not the header)."""

    def __init__(self, directory: Path, name: str, columns: list[str]) -> None:
        super().__init__(directory, name)
        self.columns = columns
        self._writer = csv.writer(self._sink, lineterminator=LINE_END)
        self._writer.writerow([safe_cell(column) for column in columns])
        self._cells = operator.itemgetter(*columns) if columns else lambda _: ()

    def write_safe_cells(self, cells: Mapping[str, str]) -> None:
        """One row from cells already passed through safe_cell, one for every column."""
        row = self._cells(cells)
        self._writer.writerow(row if len(self.columns) != 1 else (row,))
        self.rows += 1

    def write_record(self, record: Mapping[str, Any]) -> None:
        get = record.get
        self._writer.writerow([safe_cell(get(column, "")) for column in self.columns])
        self.rows += 1


class ExportFiles:
    """The data files of one export, open together: one core CSV per report source and the
    REDCap records CSV. A context manager that discards every file on an exception."""

    def __init__(self, directory: Path, dictionary: DataDictionary) -> None:
        self.directory = directory
        self.files: dict[str, TempFile] = {}
        try:
            core = core_columns(dictionary)
            for source in REPORT_SOURCES:
                self._open(CsvFile(directory, core_file_name(source), core))
            self._open(CsvFile(directory, REDCAP_RECORDS, redcap_columns(dictionary)))
        except BaseException:
            self.discard()
            raise

    def _open(self, file: TempFile) -> TempFile:
        self.files[file.name] = file
        return file

    def write(self, record: Mapping[str, Any]) -> None:
        """One de-identified record (a value for every column, as `Deidentifier.record` gives)
        into its report source's core CSV and the REDCap records CSV."""
        source = record.get("report_source", "")
        if source not in REPORT_SOURCES:
            raise ValueError(
                f"record: report_source '{source}' is not one of {', '.join(REPORT_SOURCES)}"
            )
        cells = dict(zip(record.keys(), map(safe_cell, record.values()), strict=True))
        try:
            self.files[core_file_name(source)].write_safe_cells(cells)
            self.files[REDCAP_RECORDS].write_safe_cells(cells)
        except KeyError as missing:
            raise ValueError(f"record: it has no value for column {missing}") from None

    def add_codebook(self, dictionary_csv: str) -> None:
        """The dictionary version exactly as stored (see docs/exports.md: it is not passed
        through safe_cell, or it would no longer load as the same version)."""
        codebook = self._open(TempFile(self.directory, CODEBOOK))
        codebook.write_text(dictionary_csv)

    def add_manifest(self, manifest: Mapping[str, Any]) -> None:
        self._open(TempFile(self.directory, MANIFEST)).write_text(manifest_json(manifest))

    def close(self) -> None:
        for file in self.files.values():
            file.close()

    def discard(self) -> None:
        for file in self.files.values():
            file.discard()

    def row_counts(self) -> dict[str, int]:
        return {name: f.rows for name, f in self.files.items() if isinstance(f, CsvFile)}

    def members(self) -> Iterable[TempFile]:
        return self.files.values()

    def __enter__(self) -> ExportFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
