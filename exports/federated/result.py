"""The result zip a registry sends back: 63 count tables per report source, a manifest, extras.

`write_result_zip` writes to a temporary file beside the target and renames it, so a zip at
the target path is always whole. `read_result_zip` trusts nothing: it checks the manifest, the
hash and size of every file it lists, that the zip holds nothing else, the exact table set of
the report sources named, each table's header, running row numbers, counts (whole numbers, not
negative), that every cell is a category its column can take (except `source`, which names
data sources), that no cell repeats, and that every table of a source counts the same records
per diagnosis as the manifest says, which add up to the input rows it counted.

Manifest keys `read_result_zip` relies on: `format`, `format_version`, `report_sources`,
`input_rows`, `rows_per_diagnosis` ({report source: {diagnosis: records}}), `files` (written by
`write_result_zip`), and optionally `suppression` (a publication: small cells hidden as empty
counts, so tables may count fewer records than the manifest).

Plain Python: no Django import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from casereports.dictionary.model import DataDictionary
from casereports.dictionary.shipped import core_dictionary
from casereports.logic import to_text
from exports.federated.tables import (
    MISSING,
    PREFIX,
    REPORT_SOURCES,
    TABLE_SPECS,
    CountTables,
    TableSpec,
    spec_for_file,
    table_csv,
)

MANIFEST = "manifest.json"
FORMAT = "gdsi-federated-count-tables"
FORMAT_VERSION = 1
_CHUNK = 1 << 20
MAX_UNPACKED_BYTES = 1 << 30  # 63 tables of a registry of 100,000 records unpack to far less


class ResultError(Exception):
    """A result zip was refused; the message names the file, row or column that is wrong."""


@dataclass
class ResultZip:
    manifest: dict[str, Any]
    tables_by_source: dict[str, CountTables]


# --- writing ----------------------------------------------------------------------------------


def write_result_zip(
    path: str | Path,
    tables_by_source: Mapping[str, CountTables],
    manifest: dict[str, Any],
    extra_files: Mapping[str, bytes | str | Path] | None = None,
) -> dict[str, Any]:
    """Write the tables, the extra files (bytes, or the path of a file to copy) and the
    manifest to `path`. The manifest gets `files`: {name: {sha256, bytes, rows}}; it also
    gets `report_sources` and `rows_per_diagnosis` from the tables when it lacks them.
    Returns the manifest as written."""
    target = Path(path)
    manifest = dict(manifest)
    manifest.setdefault("format", FORMAT)
    manifest.setdefault("format_version", FORMAT_VERSION)
    manifest.setdefault("report_sources", list(tables_by_source))
    if set(manifest["report_sources"]) != set(tables_by_source):
        raise ValueError("the manifest's report_sources must name exactly the tables given")
    manifest.setdefault(
        "rows_per_diagnosis",
        {
            source: diagnosis_totals(tables, TABLE_SPECS[0])
            for source, tables in tables_by_source.items()
        },
    )
    extra = dict(extra_files or {})
    clashes = sorted(name for name in extra if name == MANIFEST or spec_for_file(name) is not None)
    if clashes:
        raise ValueError(f"extra files cannot be named like a table or the manifest: {clashes}")
    files: dict[str, dict[str, Any]] = {}
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for source, tables in tables_by_source.items():
                for spec in TABLE_SPECS:
                    rows = tables.rows(spec)
                    data = table_csv(spec, rows).encode("utf-8")
                    archive.writestr(spec.file_name(source), data)
                    files[spec.file_name(source)] = _file_entry(data, len(rows))
            for name, content in extra.items():
                files[name] = _write_extra(archive, name, content)
            manifest["files"] = files
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return manifest


def _file_entry(data: bytes, rows: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if rows is not None:
        entry["rows"] = rows
    return entry


def _write_extra(archive: zipfile.ZipFile, name: str, content: bytes | str | Path) -> dict:
    if isinstance(content, bytes):
        archive.writestr(name, content)
        return _file_entry(content, _csv_rows(name, io.BytesIO(content)))
    digest, size = hashlib.sha256(), 0
    with open(content, "rb") as source, archive.open(name, "w", force_zip64=True) as member:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            member.write(chunk)
    with open(content, "rb") as source:
        rows = _csv_rows(name, source)
    entry: dict[str, Any] = {"sha256": digest.hexdigest(), "bytes": size}
    if rows is not None:
        entry["rows"] = rows
    return entry


def _csv_rows(name: str, stream: IO[bytes]) -> int | None:
    """Data rows of a CSV file (records after the header), or None for other files."""
    if not name.endswith(".csv"):
        return None
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    return max(sum(1 for _ in csv.reader(text)) - 1, 0)


def diagnosis_totals(tables: CountTables, spec: TableSpec) -> dict[str, int]:
    """Records per covid19_diagnosis in one table."""
    totals: Counter[str] = Counter()
    for cells, count in tables.table(spec).items():
        if count:
            totals[cells[0]] += count
    return dict(sorted(totals.items()))


# --- reading ----------------------------------------------------------------------------------


def read_result_zip(path_or_file: str | Path | IO[bytes]) -> ResultZip:
    """The manifest and tables of a result zip, checked; raises ResultError saying what is wrong."""
    try:
        archive = zipfile.ZipFile(path_or_file)
    except (zipfile.BadZipFile, OSError) as error:
        raise ResultError(f"not a readable zip file ({error})") from error
    with archive:
        _check_unpacked_size(archive)
        names = archive.namelist()
        _check_names(names)
        manifest = _read_manifest(archive)
        files = manifest["files"]
        _check_files(archive, names, files)
        sources = manifest["report_sources"]
        _check_table_set(names, sources)
        tables_by_source = {source: _read_tables(archive, source, manifest) for source in sources}
    _check_totals(manifest, tables_by_source)
    return ResultZip(manifest, tables_by_source)


def _check_unpacked_size(archive: zipfile.ZipFile) -> None:
    """Refuse a zip bomb before reading a byte of it (zipfile stops at each declared size)."""
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ResultError(
            f"the zip unpacks to {unpacked // (1 << 20)} MB, more than the "
            f"{MAX_UNPACKED_BYTES // (1 << 20)} MB a result zip of count tables can need"
        )


def _check_names(names: list[str]) -> None:
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise ResultError(f"the zip holds {repeated[0]} more than once")
    for name in names:
        if "/" in name or "\\" in name or name.startswith("."):
            raise ResultError(
                f"unexpected entry {name!r}: a result zip holds files only, no folders"
            )
    if MANIFEST not in names:
        raise ResultError(f"the zip has no {MANIFEST}")


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultError(f"{MANIFEST} is not valid JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise ResultError(f"{MANIFEST} must hold a JSON object")
    if manifest.get("format") != FORMAT:
        raise ResultError(f"{MANIFEST}: format must be {FORMAT!r}, not {manifest.get('format')!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ResultError(
            f"{MANIFEST}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this software reads version {FORMAT_VERSION})"
        )
    sources = manifest.get("report_sources")
    if (
        not isinstance(sources, list)
        or not sources
        or len(set(sources)) != len(sources)
        or any(source not in REPORT_SOURCES for source in sources)
    ):
        raise ResultError(
            f"{MANIFEST}: report_sources must list one or both of {', '.join(REPORT_SOURCES)}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in files.values()
    ):
        raise ResultError(f"{MANIFEST}: files must map every file name to its sha256")
    if not _is_count(manifest.get("input_rows")):
        raise ResultError(f"{MANIFEST}: input_rows must be a whole number, 0 or more")
    per_diagnosis = manifest.get("rows_per_diagnosis")
    if not isinstance(per_diagnosis, dict) or set(per_diagnosis) != set(sources):
        raise ResultError(
            f"{MANIFEST}: rows_per_diagnosis must give the records per diagnosis of each "
            "report source"
        )
    for source, counts in per_diagnosis.items():
        if not isinstance(counts, dict) or not all(_is_count(n) for n in counts.values()):
            raise ResultError(
                f"{MANIFEST}: rows_per_diagnosis of {source} must map diagnoses to whole numbers"
            )
    return manifest


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_files(archive: zipfile.ZipFile, names: list[str], files: dict[str, Any]) -> None:
    for name in names:
        if name != MANIFEST and name not in files:
            raise ResultError(f"the zip holds {name}, which the manifest does not list")
    for name, entry in files.items():
        if name not in names:
            raise ResultError(f"the manifest lists {name}, which is not in the zip")
        digest, size = hashlib.sha256(), 0
        with archive.open(name) as member:
            while chunk := member.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise ResultError(
                f"{name}: its sha256 does not match the manifest (changed after it was made)"
            )
        if "bytes" in entry and entry["bytes"] != size:
            raise ResultError(f"{name}: {size} bytes, but the manifest says {entry['bytes']}")


def _check_table_set(names: list[str], sources: list[str]) -> None:
    for name in names:
        found = spec_for_file(name)
        if found is not None and found[0] not in sources:
            raise ResultError(
                f"{name} is a table of report source {found[0]}, which the manifest does not list"
            )
    for source in sources:
        for spec in TABLE_SPECS:
            if spec.file_name(source) not in names:
                raise ResultError(f"table {spec.file_name(source)} is missing")


def _read_tables(archive: zipfile.ZipFile, source: str, manifest: dict[str, Any]) -> CountTables:
    tables = CountTables(source)
    categories = column_categories(core_dictionary().dictionary)
    suppressed = bool(manifest.get("suppression"))
    for spec in TABLE_SPECS:
        name = spec.file_name(source)
        rows, lines = _read_table(name, archive.read(name), spec, categories, suppressed)
        listed = manifest["files"][name].get("rows")
        if listed is not None and listed != lines:
            raise ResultError(f"{name}: {lines} rows, but the manifest says {listed}")
        tables.add_table_rows(spec, rows)
    return tables


def _read_table(
    name: str,
    data: bytes,
    spec: TableSpec,
    categories: dict[str, frozenset[str]],
    suppressed: bool,
) -> tuple[list[tuple[tuple[str, ...], int]], int]:
    """The table's cells and counts, and its number of rows. In a suppressed table (a
    publication) an empty count is a hidden small cell: its row is checked, its count unknown."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ResultError(f"{name}: not UTF-8 text") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != spec.header:
        raise ResultError(f"{name}: the header must be {','.join(spec.header)!r}")
    grouping = spec.grouping
    allowed = [categories.get(column) for column in grouping]
    width = len(spec.header)
    rows: list[tuple[tuple[str, ...], int]] = []
    seen: dict[tuple[str, ...], int] = {}
    number = -1
    for number, row in enumerate(reader):
        line = number + 2
        if len(row) != width:
            raise ResultError(f"{name}, line {line}: {len(row)} cells, expected {width}")
        if row[0] != str(number):
            raise ResultError(
                f"{name}, line {line}: the row number must be {number}, not {row[0]!r}"
            )
        cells = tuple(row[1:-1])
        for column, value, known in zip(grouping, cells, allowed, strict=True):
            if value == "":
                raise ResultError(f"{name}, line {line}: {column} is empty (blank is {MISSING!r})")
            if known is not None and value not in known:
                raise ResultError(
                    f"{name}, line {line}: {column} has a value that is not one of its "
                    f"categories ({', '.join(sorted(known))})"
                )
        count_text = row[-1]
        if cells in seen:
            raise ResultError(f"{name}, line {line}: repeats the cells of line {seen[cells]}")
        seen[cells] = line
        if suppressed and count_text == "":
            continue
        if not count_text.isdigit() or not count_text.isascii():
            raise ResultError(
                f"{name}, line {line}: the count must be a whole number, 0 or more, "
                f"not {count_text!r}"
            )
        rows.append((cells, int(count_text)))
    return rows, number + 1


def _check_totals(manifest: dict[str, Any], tables_by_source: dict[str, CountTables]) -> None:
    suppressed = bool(manifest.get("suppression"))
    counted = 0
    for source, tables in tables_by_source.items():
        expected = {k: v for k, v in manifest["rows_per_diagnosis"][source].items() if v}
        total = sum(expected.values())
        counted += total
        for spec in TABLE_SPECS:
            found = diagnosis_totals(tables, spec)
            name = spec.file_name(source)
            if suppressed:
                if sum(found.values()) > total:
                    raise ResultError(
                        f"{name} counts {sum(found.values())} records, more than the "
                        f"{total} of the manifest"
                    )
            elif found != expected:
                raise ResultError(
                    f"{name} counts {_describe_counts(found)} but the manifest's "
                    f"rows_per_diagnosis says {_describe_counts(expected)}"
                )
    if counted != manifest["input_rows"]:
        raise ResultError(
            f"{MANIFEST}: input_rows is {manifest['input_rows']} but the tables count "
            f"{counted} records"
        )


def _describe_counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{diagnosis} {n}" for diagnosis, n in sorted(counts.items()))
    return f"{total} records ({parts})" if parts else "0 records"


# --- the categories of each column ------------------------------------------------------------


@cache
def _core_categories() -> dict[str, frozenset[str]]:
    return _categories(core_dictionary().dictionary)


def column_categories(dictionary: DataDictionary) -> dict[str, frozenset[str]]:
    """The values each grouping column can print (its codes or the results its calculation
    can give, blank as `missing`), for every column but `source`."""
    if dictionary is core_dictionary().dictionary:
        return _core_categories()
    return _categories(dictionary)


def _categories(dictionary: DataDictionary) -> dict[str, frozenset[str]]:
    columns = {column for spec in TABLE_SPECS for column in spec.grouping} - {PREFIX[1]}
    found: dict[str, frozenset[str]] = {}
    for column in sorted(columns):
        values = _field_values(dictionary, column, set())
        if values is not None:
            found[column] = frozenset(value or MISSING for value in values) | {MISSING}
    return found


def _field_values(dictionary: DataDictionary, name: str, visiting: set[str]) -> set[str] | None:
    if name not in dictionary or name in visiting:
        return None
    field_ = dictionary.field(name)
    if field_.choices:
        return {code for code, _ in field_.choices}
    if field_.calc_ast is None:
        return None
    return _results(dictionary, field_.calc_ast, visiting | {name})


def _results(dictionary: DataDictionary, node: dict, visiting: set[str]) -> set[str] | None:
    """Every value an expression can give, when it is built of if(), constants and fields."""
    kind = node.get("t")
    if kind in ("str", "num", "bool"):
        return {to_text(node["v"])}
    if kind == "field" and node.get("code") is None:
        return _field_values(dictionary, node["name"], visiting)
    if kind == "call" and node.get("fn") == "if" and len(node["args"]) == 3:
        branches = [_results(dictionary, arg, visiting) for arg in node["args"][1:]]
        if any(branch is None for branch in branches):
            return None
        return set().union(*branches)
    return None


# --- describing -------------------------------------------------------------------------------


def describe_result(path: str | Path) -> str:
    """What a result zip holds, in plain words, after `read_result_zip` has checked it."""
    result = read_result_zip(path)
    manifest = result.manifest
    lines = [f"Result file: {path}"]
    lines.append(
        f"  checked: {len(manifest['files'])} files, each matching its sha256 in the manifest"
    )
    software = manifest.get("software") or {}
    dictionary = manifest.get("dictionary") or {}
    lines.append(
        f"  made {manifest.get('created_at', '(no date)')} by {software.get('name', '?')} "
        f"{software.get('version', '?')}, dictionary {dictionary.get('name', '?')} "
        f"(hash {str(dictionary.get('hash', '?'))[:12]}...)"
    )
    mode = manifest.get("source_mode", "registry")
    lines.append(f"  source column: {'missing (a registry run)' if mode == 'registry' else mode}")
    quality = manifest.get("quality") or {}
    lines.append(f"  input rows: {manifest['input_rows']}")
    if quality:
        lines.append(
            f"  records flagged by quality rules: {quality.get('records_flagged', 0)}; "
            f"values blanked as unparsable: {quality.get('values_unparsable', 0)}"
        )
    for source, tables in result.tables_by_source.items():
        lines.extend(_describe_source(source, tables, manifest))
    corrections = manifest.get("corrections") or []
    if corrections:
        lines.append("  corrections to the 2021 toolkit applied:")
        lines.extend(f"    {c.get('id')}: {c.get('description')}" for c in corrections)
    departures = manifest.get("departures") or []
    if departures:
        lines.append("  where these tables can differ from the toolkit's on unusual input:")
        lines.extend(f"    {d.get('id')}: {d.get('description')}" for d in departures)
    extras = [name for name in manifest["files"] if spec_for_file(name) is None]
    for name in extras:
        rows = manifest["files"][name].get("rows")
        what = f"{rows} rows" if rows is not None else f"{manifest['files'][name]['bytes']} bytes"
        lines.append(f"  also: {name} ({what})")
    return "\n".join(lines) + "\n"


def _describe_source(source: str, tables: CountTables, manifest: dict[str, Any]) -> list[str]:
    per_diagnosis = manifest["rows_per_diagnosis"][source]
    total = sum(per_diagnosis.values())
    lines = [f"  report source {source}: {len(TABLE_SPECS)} tables, {total} records in each"]
    lines.append(
        "    records per diagnosis: "
        + (", ".join(f"{d} {n}" for d, n in sorted(per_diagnosis.items())) or "none")
    )
    smallest_overall: int | None = None
    small_cells = cells = 0
    table_lines = []
    for spec in TABLE_SPECS:
        counts = [count for _, count in tables.rows(spec)]
        smallest = min(counts, default=None)
        if smallest is not None:
            smallest_overall = (
                smallest if smallest_overall is None else min(smallest_overall, smallest)
            )
        cells += len(counts)
        small_cells += sum(1 for count in counts if count < 5)
        table_lines.append(
            f"    {spec.file_name(source)}: {len(counts)} cells, total {sum(counts)}, "
            f"smallest {smallest if smallest is not None else '-'}"
        )
    lines.append(
        f"    {cells} non-zero cells in all; smallest non-zero cell: "
        f"{smallest_overall if smallest_overall is not None else '-'}; "
        f"cells below 5: {small_cells}"
    )
    lines.append("    per table (cells, total records, smallest cell):")
    lines.extend(table_lines)
    return lines
