"""Shared pieces of the export tests: dictionaries, records, running an export, reading a zip."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from casereports.dictionary import DataDictionary, read_dictionary
from casereports.dictionary.model import HEADER
from casereports.synthetic import random_records
from exports.profiles import Profile
from exports.writer import ExportResult, write_export

ROOT = Path(__file__).resolve().parents[2]
CORE_CSV = ROOT / "casereports" / "data" / "core_dataset_v1.csv"
KEY = b"export-test-key-0123456789abcdef"
OTHER_KEY = b"a-different-export-key-fedcba98"


def core_text() -> str:
    return read_dictionary(CORE_CSV).to_csv()


def core_dictionary() -> DataDictionary:
    return read_dictionary(CORE_CSV)


def _row(**cells: str) -> list[str]:
    names = {
        "name": "Variable / Field Name",
        "form": "Form Name",
        "kind": "Field Type",
        "label": "Field Label",
        "identifier": "Identifier?",
        "annotation": "Field Annotation",
    }
    by_column = {names[key]: value for key, value in cells.items()}
    return [by_column.get(column, "") for column in HEADER]


def extended_text() -> str:
    """The core dictionary plus what a site might add: an identifier field (a local hospital
    reference), a notes field, and a derived @CALCTEXT that copies a free-text answer."""
    rows = list(csv.reader(io.StringIO(core_text())))
    header, fields = rows[0], rows[1:]
    position = next(i for i, row in enumerate(fields) if row[1] == "derived")
    added = [
        _row(
            name="local_reference",
            form="administrative",
            kind="text",
            label="Local hospital reference",
            identifier="y",
        ),
        _row(name="clinician_comment", form="administrative", kind="notes", label="Comment"),
    ]
    copied = _row(
        name="comment_copy",
        form="derived",
        kind="text",
        label="Copy",
        annotation="@HIDDEN @CALCTEXT([com_other])",
    )
    fields = fields[:position] + added + fields[position:] + [copied]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *fields])
    return out.getvalue()


def records(dictionary: DataDictionary, count: int, *, seed: int = 7) -> list[dict[str, str]]:
    """Synthetic records; each gets a report source (random_records only sets one when the
    dictionary has the field)."""
    out = []
    for number, record in enumerate(random_records(dictionary, count, seed=seed)):
        record.setdefault("report_source", "clinicians" if number % 3 else "patients")
        out.append(record)
    return out


def export(
    tmp_path: Path,
    dictionary: DataDictionary,
    text: str,
    profile: Profile,
    rows: Iterable[dict] | Callable[[], Iterator[dict]],
    *,
    key: bytes = KEY,
    name: str = "export.zip",
) -> tuple[ExportResult, Path]:
    source = rows if callable(rows) else (lambda: iter(list(rows)))
    out = tmp_path / name
    result = write_export(
        dictionary=dictionary,
        dictionary_csv=text,
        profile=profile,
        key=key,
        records=source,
        out_path=out,
        manifest_fields={"job_id": 17, "filters": {"sites": [1]}},
    )
    return result, out


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def manifest(path: Path) -> dict:
    return json.loads(members(path)["manifest.json"])
