"""`gdsi-federated`: a registry counts its own core-data-set CSV into the initiative's tables.

    gdsi-federated run INPUT.csv --report-source clinicians --out RESULT.zip
    gdsi-federated run EXPORT.csv --mapping registry.toml --report-source clinicians --out R.zip
    gdsi-federated inspect RESULT.zip

Exit codes: 0 done, 2 the command line, the mapping or the input was refused (nothing written).
Its output may be cut short (`| head -1`) without a traceback.
Runs with the project's package alone: no database, no broker, no Django.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.mapping import ColumnMapping, MappingError, load_mapping
from casereports.ingest.reader import DATE_FORMATS, InputError
from exports.federated.result import ResultError, describe_result, write_result_zip
from exports.federated.run import QUALITY_FILE, RunResult, count_csv, run_manifest
from exports.federated.tables import REPORT_SOURCES

EXIT_OK = 0
EXIT_REFUSED = 2


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="gdsi-federated",
        description=(
            "Count a core-data-set CSV into the 63 federated tables of the COVID-19 and MS "
            "initiative, without the rows ever leaving this computer."
        ),
    )
    steps = command.add_subparsers(dest="step", required=True, metavar="{run,inspect}")
    run = steps.add_parser("run", help="count a core-data-set CSV into a result zip")
    run.add_argument("input", type=Path, help="the core-data-set CSV file")
    run.add_argument(
        "--report-source",
        required=True,
        choices=REPORT_SOURCES,
        help="who reported the cases in this file",
    )
    run.add_argument("--out", required=True, type=Path, help="the result zip to write")
    run.add_argument(
        "--delimiter",
        choices=(",", ";", "tab"),
        help="the column delimiter (default: found from the header)",
    )
    run.add_argument(
        "--date-format",
        choices=DATE_FORMATS,
        default="auto",
        help="auto: the order the file's dates show (default); ymd: YYYY-MM-DD; dmy: "
        "DD/MM/YYYY; mdy: MM/DD/YYYY (with /, - or .; ISO dates are read in every order)",
    )
    run.add_argument("--encoding", help="the file's text encoding (default: UTF-8)")
    run.add_argument(
        "--mapping",
        type=Path,
        help="a TOML or JSON file turning the registry's own columns, codes and units into "
        "the core data set (see docs/mapping.md)",
    )
    inspect = steps.add_parser("inspect", help="check a result zip and say what it holds")
    inspect.add_argument("result", type=Path, help="a result zip made by `run`")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        code = _run(arguments) if arguments.step == "run" else _inspect(arguments.result)
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output stopped early (`| head -1`); the work is done. Python's
        # documented way out: point stdout at devnull so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code


def _run(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    if out.suffix.lower() != ".zip":
        return _refuse(f"--out must name a .zip file, not {out}")
    if not out.parent.is_dir():
        return _refuse(f"the folder of --out does not exist: {out.parent}")
    if out.resolve() == arguments.input.resolve():
        return _refuse("--out must not be the input file")
    try:
        mapping = _mapping(arguments.mapping)
    except MappingError as error:
        return _refuse(f"{error}. Nothing was written.")
    try:
        result = count_csv(
            arguments.input,
            arguments.report_source,
            delimiter=arguments.delimiter,
            date_format=arguments.date_format,
            encoding=arguments.encoding,
            mapping=mapping,
        )
    except InputError as error:
        return _refuse(f"{arguments.input}: {error}. Nothing was written.")
    try:
        write_result_zip(
            out,
            {result.report_source: result.tables},
            run_manifest(result),
            {QUALITY_FILE: result.quality.path},
        )
    finally:
        result.quality.close()
    print(summary_text(result, out))
    return EXIT_OK


def _mapping(path: Path | None) -> ColumnMapping | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"{path}: cannot read the mapping ({error})") from error
    return load_mapping(text, core_dictionary().dictionary, filename=str(path))


def summary_text(result: RunResult, out: Path) -> str:
    summary = result.summary
    diagnoses = ", ".join(f"{d} {n}" for d, n in result.rows_per_diagnosis.items()) or "none"
    lines = [
        f"rows read: {summary['rows_read']}, counted as {result.report_source} records",
        f"records per diagnosis: {diagnoses}",
        f"records flagged by quality rules: {summary['records_flagged']}",
        f"values blanked as unparsable: {summary['values_unparsable']} "
        f"(in {summary['records_with_unparsable_values']} records; see {QUALITY_FILE})",
    ]
    if summary["records_without_secret_name"]:
        lines.append(
            f"records with a blank secret_name (counted, as the toolkit did): "
            f"{summary['records_without_secret_name']}"
        )
    for key, label in (
        ("unknown_columns", "columns ignored (not in the core data set)"),
        ("ignored_derived_columns", "columns ignored (derived, recomputed here)"),
        ("missing_columns", "columns missing (read as blank)"),
    ):
        if summary[key]:
            lines.append(f"{label}: {', '.join(summary[key])}")
    if summary["wave_column"] and summary["wave_column"] != "covid_wave":
        lines.append(f"registry wave read from: {summary['wave_column']}")
    lines.extend(_reading_lines(summary))
    lines.append(f"result: {out}  (check it with: gdsi-federated inspect {out})")
    return "\n".join(lines)


def _reading_lines(summary: dict) -> list[str]:
    """How the file was read: the date order, the mapping, each value read as it clearly
    means (per column, with the field it feeds) and advice for the next run."""
    lines = [f"dates read as {summary['date_format']} ({summary['date_order_from']})"]
    if summary["mapping"]:
        mapping = summary["mapping"]
        lines.append(f"mapping: {mapping['name'] or '(unnamed)'} ({mapping['fingerprint'][:12]})")
    for entry in summary["normalisations"]:
        column, field = entry["column"], entry["field"]
        where = column if column == field else f"{column} ({field})"
        lines.append(f"read as meant: {where}: {entry['what']}: {entry['count']}")
    lines.extend(f"advice: {sentence}" for sentence in summary["advice"])
    return lines


def _inspect(path: Path) -> int:
    try:
        text = describe_result(path)
    except (ResultError, OSError) as error:
        return _refuse(f"{path}: {error}")
    print(text, end="")
    return EXIT_OK


def _refuse(message: str) -> int:
    print(f"gdsi-federated: {message}", file=sys.stderr)
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
