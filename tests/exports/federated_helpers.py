"""Result zips as a registry makes them (a core-data-set CSV through the real `gdsi-federated
run`, in this process), and a registry uploader per site, for the upload and feed tests."""

from __future__ import annotations

from pathlib import Path

from federated.command_helpers import rewrite_zip, write_csv  # noqa: F401 - re-exported

from casereports.dictionary.shipped import core_dictionary
from casereports.synthetic import random_records
from exports.federated.command import main as federated_command
from exports.federated.result import read_result_zip
from exports.federated.tables import CountTables


def make_result_zip(
    folder: Path, count: int = 40, *, report_source: str = "clinicians", seed: int = 7
) -> Path:
    """The zip `gdsi-federated run` writes for `count` generated registry records."""
    folder.mkdir(parents=True, exist_ok=True)
    records = list(random_records(core_dictionary().dictionary, count, seed=seed))
    for number, record in enumerate(records):
        record["secret_name"] = f"REG{seed}_{number:05d}"
    source_csv = write_csv(folder / f"registry-{report_source}-{seed}.csv", records)
    out = folder / f"result-{report_source}-{seed}-{count}.zip"
    arguments = ["run", str(source_csv), "--report-source", report_source, "--out", str(out)]
    assert federated_command(arguments) == 0
    return out


def tables_of(path: Path, report_source: str) -> CountTables:
    return read_result_zip(path).tables_by_source[report_source]
