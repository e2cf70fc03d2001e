"""`gdsi-federated`: a registry counts its own core-data-set CSV into the initiative's tables.

    gdsi-federated run INPUT.csv --report-source clinicians --out RESULT.zip
    gdsi-federated inspect RESULT.zip

Exit codes: 0 done, 2 the command line or the input was refused (nothing written).
Runs with the project's package alone: no database, no broker, no Django.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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
        choices=(",", ";"),
        help="the column delimiter (default: found from the header)",
    )
    run.add_argument(
        "--date-format",
        choices=DATE_FORMATS,
        default="ymd",
        help="ymd: YYYY-MM-DD (default); dmy: DD/MM/YYYY or DD-MM-YYYY (ISO dates still read)",
    )
    run.add_argument("--encoding", help="the file's text encoding (default: UTF-8)")
    inspect = steps.add_parser("inspect", help="check a result zip and say what it holds")
    inspect.add_argument("result", type=Path, help="a result zip made by `run`")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if arguments.step == "run":
        return _run(arguments)
    return _inspect(arguments.result)


def _run(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    if out.suffix.lower() != ".zip":
        return _refuse(f"--out must name a .zip file, not {out}")
    if not out.parent.is_dir():
        return _refuse(f"the folder of --out does not exist: {out.parent}")
    if out.resolve() == arguments.input.resolve():
        return _refuse("--out must not be the input file")
    try:
        result = count_csv(
            arguments.input,
            arguments.report_source,
            delimiter=arguments.delimiter,
            date_format=arguments.date_format,
            encoding=arguments.encoding,
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
    lines.append(f"result: {out}  (check it with: gdsi-federated inspect {out})")
    return "\n".join(lines)


def _inspect(path: Path) -> int:
    try:
        print(describe_result(path), end="")
    except (ResultError, OSError) as error:
        return _refuse(f"{path}: {error}")
    return EXIT_OK


def _refuse(message: str) -> int:
    print(f"gdsi-federated: {message}", file=sys.stderr)
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
