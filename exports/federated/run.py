"""Counting one core-data-set CSV into the 63 tables of its report source.

Each record is read and typed (`reader`), given its report source, cleaned, repaired and
derived by the shipped dictionary's pipeline (`casereports.rules.RecordPipeline`: the one copy
of every rule), and counted (`tables.CountTables`). Rows stream through: memory holds the
tables, the typed-cell memories and a bounded fine count, never the rows. What the quality
rules and the type checks found goes to `quality.csv` on disk as the run goes.

Plain Python: no Django import.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from casereports.csvsafe import safe_cell
from casereports.dictionary.shipped import ShippedDictionary, core_dictionary
from casereports.ingest.mapping import ColumnMapping
from casereports.ingest.reader import InputError, open_core_csv
from casereports.rules import RecordPipeline
from exports.federated.tables import (
    MISSING,
    REPORT_SOURCES,
    CountTables,
    central_source,
    record_key,
    registry_source,
)

__all__ = [
    "CORRECTIONS",
    "DEPARTURES",
    "QUALITY_COLUMNS",
    "InputError",
    "QualityLog",
    "QualityRow",
    "RunResult",
    "count_csv",
    "run_manifest",
]

FORMAT = "gdsi-federated-count-tables"
FORMAT_VERSION = 1
SOFTWARE = "gdsi-casereports"
QUALITY_FILE = "quality.csv"
QUALITY_COLUMNS = ("line", "record", "failed_rules", "blanked", "unparsable")
CORRECTIONS = (
    {
        "id": "C1",
        "description": (
            "current_dmt = never_treated fell through every rule of dmt_type_overall in the "
            "toolkit (printed missing); it is counted as 'currently not using any DMT'"
        ),
    },
    {
        "id": "C2",
        "description": (
            "the toolkit's ventilation repair tested the invasive flag twice; a blank "
            "covid19_ventilation becomes yes when invasive or non-invasive ventilation is yes"
        ),
    },
    {
        "id": "C3",
        "description": (
            "the toolkit read the registry's wave only from a column named covid_wave1; the "
            "wave is read from covid_wave, and from covid_wave1 when covid_wave is absent"
        ),
    },
)
# Where the tables can differ from the toolkit's on inputs it did not read as the core data set
# asks; the manifest lists these beside the corrections.
DEPARTURES = (
    {
        "id": "D1",
        "description": (
            "choice codes are read in any letter case and counted as the dictionary's code "
            "(Yes is yes, rrms is RRMS); the toolkit compared some codes exactly and printed "
            "has_comorbidities and dmt_glucocorticoid as written"
        ),
    },
    {
        "id": "D2",
        "description": (
            "a value that does not parse as its field's type is blanked and reported in "
            "quality.csv; the toolkit kept or dropped such values silently"
        ),
    },
    {
        "id": "D3",
        "description": (
            "the registry's wave prints as 1 or 2; the toolkit printed 1.0 or 2.0 when the "
            "column had a blank cell"
        ),
    },
    {
        "id": "D4",
        "description": (
            "values written otherwise than the core data set asks are read as they clearly "
            "mean (day-first or month-first dates by the file's own order, decimal commas, "
            "country names in many languages, heights in metres) and counted per column in "
            "input.normalisations; the toolkit read such values by pandas' defaults or not at all"
        ),
    },
)


@dataclass(frozen=True)
class QualityRow:
    """What one record's checks found: rules failed, variables they blanked, cells refused."""

    line: int
    record_number: int
    failed_rules: list[str]
    blanked: list[str]
    unparsable: list[tuple[str, str]]

    def cells(self) -> list[str]:
        return [
            str(self.line),
            str(self.record_number),
            " ".join(self.failed_rules),
            " ".join(self.blanked),
            "; ".join(f"{column}: {reason}" for column, reason in self.unparsable),
        ]


class QualityLog:
    """The quality rows of a run, written to a `quality.csv` file as they come.

    Iterating reads them back, so a million flagged records cost disk, not memory. Compares
    equal to a list of the same rows.
    """

    def __init__(self, directory: str | None = None) -> None:
        handle, name = tempfile.mkstemp(prefix="gdsi-quality-", suffix=".csv", dir=directory)
        self.path = Path(name)
        self._file = os.fdopen(handle, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(QUALITY_COLUMNS)
        self._count = 0

    def append(self, row: QualityRow) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row.cells()])
        self._count += 1

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[QualityRow]:
        self.flush()
        with open(self.path, encoding="utf-8", newline="") as stream:
            reader = csv.reader(stream)
            next(reader)
            for line, record, rules, blanked, unparsable in reader:
                yield QualityRow(
                    int(line),
                    int(record),
                    rules.split(),
                    blanked.split(),
                    [_column_reason(part) for part in unparsable.split("; ") if part],
                )

    def __getitem__(self, index: int) -> QualityRow:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list | QualityLog):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QualityLog({self._count} rows at {self.path})"

    def close(self) -> None:
        """Close and delete the file (the run's zip holds a copy)."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # best effort, also at interpreter exit
            self.close()


def _column_reason(part: str) -> tuple[str, str]:
    column, _, reason = part.partition(": ")
    return column, reason


@dataclass
class RunResult:
    """What `count_csv` made: the tables, the quality log, row counts and a summary."""

    report_source: str
    tables: CountTables
    quality: QualityLog
    input_rows: int
    rows_per_diagnosis: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)
    central: bool = False
    dictionary_name: str = ""
    dictionary_hash: str = ""


def record_pipeline(shipped: ShippedDictionary) -> RecordPipeline:
    """The shipped dictionary's pipeline, compiled to Python when this version can."""
    if "compiled" in inspect.signature(RecordPipeline).parameters:
        return RecordPipeline(shipped.dictionary, shipped.rules, compiled=True)
    return RecordPipeline(shipped.dictionary, shipped.rules)


def count_csv(
    path: str | Path,
    report_source: str,
    *,
    delimiter: str | None = None,
    date_format: str = "auto",
    encoding: str | None = None,
    mapping: ColumnMapping | None = None,
    central: bool = False,
    today: date | None = None,
    quality_directory: str | None = None,
) -> RunResult:
    """Count the core-data-set CSV at `path` as records of `report_source`.

    Raises InputError, with a message for the person running it, when the file cannot be read
    as the core data set. `mapping` turns the registry's own columns, codes and units into the
    core data set first. `central=True` gives each record the central platform's `source`
    (pseudonym prefix and country); a registry's tables carry `missing`.
    """
    if report_source not in REPORT_SOURCES:
        raise InputError(f"the report source must be one of {', '.join(REPORT_SOURCES)}")
    # One instant for the whole run: the rules' "in the future" must not change at midnight.
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    today = today or now.date()
    shipped = core_dictionary()
    dictionary = shipped.dictionary
    record_id = dictionary.record_id
    countries = dict(dictionary.field("covid19_country").choices)
    pipeline = record_pipeline(shipped)
    tables = CountTables(report_source)
    quality = QualityLog(quality_directory)
    diagnoses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    unparsable_by_column: Counter[str] = Counter()
    without_pseudonym = flagged = with_unparsable = 0
    registry = registry_source()
    try:
        reader = open_core_csv(
            path,
            dictionary,
            delimiter=delimiter,
            date_format=date_format,
            encoding=encoding,
            mapping=mapping,
        )
        with reader:
            for row in reader:
                values = row.values
                unparsable = row.unparsable
                if unparsable:
                    with_unparsable += 1
                    unparsable_by_column.update(column for column, _ in unparsable)
                if not values[record_id].strip():
                    # Counted all the same: the toolkit numbered the rows afresh and counted
                    # every one.
                    without_pseudonym += 1
                values["report_source"] = report_source
                processed = pipeline.run(values, today=today, now=now)
                cleaned = processed.values
                if central:
                    country = countries.get(cleaned["covid19_country"], "")
                    source = central_source(cleaned[record_id], country)
                else:
                    source = registry
                tables.add(record_key(cleaned, source))
                diagnoses[cleaned["covid19_diagnosis"] or MISSING] += 1
                if processed.failures or unparsable:
                    rule_ids = [failure.rule_id for failure in processed.failures]
                    if rule_ids:
                        flagged += 1
                        failures.update(rule_ids)
                    blanked = dict.fromkeys(
                        name for failure in processed.failures for name in failure.blanked
                    )
                    quality.append(
                        QualityRow(row.line, row.record_number, rule_ids, list(blanked), unparsable)
                    )
    except BaseException:
        quality.close()
        raise
    quality.flush()
    plan = reader.plan
    counted = sum(diagnoses.values())
    summary: dict[str, Any] = {
        "rows_read": reader.rows_read,
        "records_counted": counted,
        "records_without_secret_name": without_pseudonym,
        "records_flagged": flagged,
        "rule_failures": dict(sorted(failures.items())),
        "values_unparsable": sum(unparsable_by_column.values()),
        "records_with_unparsable_values": with_unparsable,
        "unparsable_by_column": dict(sorted(unparsable_by_column.items())),
        "rows_with_fewer_cells_than_the_header": reader.short_rows,
        "rows_with_more_cells_than_the_header": reader.long_rows,
        "quality_rows": len(quality),
        "normalisations": reader.normalisations(),
        "advice": reader.advice(),
        **plan.describe(),
    }
    return RunResult(
        report_source=report_source,
        tables=tables,
        quality=quality,
        input_rows=reader.rows_read,
        rows_per_diagnosis=dict(sorted(diagnoses.items())),
        summary=summary,
        central=central,
        dictionary_name=shipped.name,
        dictionary_hash=shipped.content_hash,
    )


def software_version() -> str:
    try:
        return metadata.version(SOFTWARE)
    except metadata.PackageNotFoundError:
        return "unknown"


def run_manifest(result: RunResult) -> dict[str, Any]:
    """The manifest of a run's result zip (`write_result_zip` adds the files and their hashes)."""
    summary = result.summary
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "report_sources": [result.report_source],
        "source_mode": "central" if result.central else "registry",
        "dictionary": {"name": result.dictionary_name, "hash": result.dictionary_hash},
        "input_rows": result.input_rows,
        "rows_per_diagnosis": {result.report_source: result.rows_per_diagnosis},
        "corrections": [dict(correction) for correction in CORRECTIONS],
        "departures": [dict(departure) for departure in DEPARTURES],
        "quality": {
            key: summary[key]
            for key in (
                "records_counted",
                "records_without_secret_name",
                "records_flagged",
                "rule_failures",
                "values_unparsable",
                "records_with_unparsable_values",
                "unparsable_by_column",
                "rows_with_fewer_cells_than_the_header",
                "rows_with_more_cells_than_the_header",
                "quality_rows",
            )
        },
        "input": {
            key: summary[key]
            for key in (
                "delimiter",
                "encoding",
                "date_format",
                "date_order_from",
                "unknown_columns",
                "ignored_derived_columns",
                "missing_columns",
                "wave_column",
                "mapping",
                "renamed_columns",
                "normalisations",
                "advice",
            )
        },
        "software": {"name": SOFTWARE, "version": software_version()},
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
