"""The files of an export: core data set CSVs, REDCap records CSV, codebook, manifest.

Plain Python (no Django). CSVs are UTF-8 with REDCap's `\\r\\n` line ends, quoted by the csv
module where needed, every cell through `casereports.csvsafe.safe_cell`. Each file is written
to a temporary file while its SHA-256 and size are computed, so nothing is read twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from casereports.csvsafe import safe_row, safe_texts
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


FLUSH_LINES = 512  # CSV lines gathered before they are encoded, hashed and written


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
        try:
            self.close()
        finally:
            self.path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._sink.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._sink.size


class CsvFile(TempFile):
    """A CSV under a temporary name: header first, then one line per record (`rows` counts the
    records, not the header). Lines are gathered and written FLUSH_LINES at a time."""

    def __init__(self, directory: Path, name: str, columns: list[str]) -> None:
        super().__init__(directory, name)
        self.columns = columns
        self._lines: list[str] = []
        csv.writer(self._sink, lineterminator=LINE_END).writerow(safe_row(columns))

    def add_line(self, line: str) -> None:
        """One record's line, formatted (`_LineFormat`) from cells already through safe_cell."""
        lines = self._lines
        lines.append(line)
        self.rows += 1
        if len(lines) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._sink.write("".join(self._lines))
            self._lines.clear()

    def close(self) -> None:
        if not self._binary.closed:
            self.flush()
        super().close()

    def discard(self) -> None:
        self._lines.clear()  # never written: the file goes
        super().discard()

    @property
    def sha256(self) -> str:
        self.flush()
        return super().sha256

    @property
    def size(self) -> int:
        self.flush()
        return super().size


class _Echo:
    """A "file" whose write returns what it is given: csv.writer's writerow returns what write
    returns, so a writer on it turns a row into its formatted line."""

    write = str


class _LineFormat:
    """The CSV lines of a record's row: its REDCap line and its core line.

    The row's first positions are the REDCap columns. When the core columns are their beginning
    (the derived form comes last, as in the core data set), the REDCap line is the core line
    continued with the remaining cells, so each cell is formatted once. (Both parts need two
    cells or more: the csv module writes a row of one empty cell as `""`.)"""

    def __init__(self, core: list[str], redcap: list[str]) -> None:
        self._format = csv.writer(_Echo(), lineterminator=LINE_END).writerow
        self._width = len(redcap)
        position = {column: index for index, column in enumerate(redcap)}
        self._core_positions = [position[column] for column in core]
        self._prefix = len(core)
        self._continues = (
            redcap[: len(core)] == core and len(core) >= 2 and len(redcap) - len(core) >= 2
        )

    def lines(self, cells: list[str]) -> tuple[str, str]:
        """(REDCap line, core line) of a row of safe cells."""
        format_row = self._format
        if self._continues:
            core = format_row(cells[: self._prefix])
            rest = format_row(cells[self._prefix : self._width])
            return core[: -len(LINE_END)] + "," + rest, core
        core = format_row([cells[at] for at in self._core_positions])
        return format_row(cells[: self._width]), core


class ExportFiles:
    """The data files of one export, open together: one core CSV per report source and the
    REDCap records CSV. A context manager that discards every file on an exception."""

    def __init__(self, directory: Path, dictionary: DataDictionary) -> None:
        self.directory = directory
        self.files: dict[str, TempFile] = {}
        try:
            core = core_columns(dictionary)
            redcap = redcap_columns(dictionary)
            self._core: dict[str, CsvFile] = {}
            for source in REPORT_SOURCES:
                self._core[source] = self._open(CsvFile(directory, core_file_name(source), core))
            self._redcap = self._open(CsvFile(directory, REDCAP_RECORDS, redcap))
            self._format = _LineFormat(core, redcap)
        except BaseException:
            self.discard()
            raise

    def _open(self, file: TempFile) -> Any:
        self.files[file.name] = file
        return file

    def write_row(self, row: list[str], source: str) -> None:
        """One de-identified record (`Deidentifier.transform`), a row whose first positions
        are the REDCap columns in order (`Deidentifier.layout`), into its report source's
        core CSV and the REDCap records CSV. Every cell goes through safe_cell here."""
        core = self._core.get(source)
        if core is None:
            raise ValueError(
                f"record: report_source '{source}' is not one of {', '.join(REPORT_SOURCES)}"
            )
        redcap_line, core_line = self._format.lines(safe_texts(row))
        core.add_line(core_line)
        self._redcap.add_line(redcap_line)

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
