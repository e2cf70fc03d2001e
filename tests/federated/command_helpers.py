"""Small core-data-set CSVs and a real run of `gdsi-federated` for the command's tests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.reader import input_fields

REPO = Path(__file__).resolve().parents[2]
CORE_COLUMNS = [f.name for f in input_fields(core_dictionary().dictionary)]

# A clinician's case whose every table cell is worked out by hand in the tests:
# confirmed, hospital yes / icu no / ventilation no, 44 years (age_in_cat 1), RRMS, female,
# EDSS 3.5 (0), BMI 65 / 1.7^2 = 22.5 (not_overweight), MS since 2005 (16 years: 1),
# ocrelizumab since 2019-10-01, onset 2021-02-01 (489 days: cat1 1, cat2 1), wave 2 both ways.
BASE_CASE = {
    "secret_name": "REG_0001",
    "covid19_date_reporting": "2021-03-01",
    "covid19_has_symptoms": "yes",
    "covid19_sympt_fever": "yes",
    "covid19_suspected_case": "yes",
    "covid19_confirmed_case": "yes",
    "covid19_date_lab_test": "2021-02-03",
    "covid19_country": "DE",
    "covid19_date_suspected_onset": "2021-02-01",
    "covid19_admission_hospital": "yes",
    "covid19_admission_hospital_date": "2021-02-05",
    "covid19_admission_hospital_release": "2021-02-12",
    "covid19_icu_stay": "no",
    "covid19_ventilation": "no",
    "covid19_outcome_recovered": "yes",
    "covid19_outcome_death": "no",
    "age_years": "44",
    "sex": "female",
    "height": "170",
    "weight": "65",
    "ms_type": "RRMS",
    "ms_onset_date": "2005-06-01",
    "ms_diagnosis_date": "2006-01-15",
    "edss_value": "3.5",
    "current_dmt": "yes",
    "type_dmt": "ocrelizumab",
    "dmt_start_date": "2019-10-01",
    "dmt_glucocorticoid": "no",
    "has_comorbidities": "no",
    "covid_wave": "2",
}
# Its cells in clinicians_query3_<extra>_covid19_admission_hospital.csv, before the extra.
BASE_PREFIX = [
    "confirmed",
    "missing",
    "currently on ocrelizumab",
    "1",
    "relapsing_remitting",
    "female",
    "0",
    "yes",
]
DATE_COLUMNS = [
    f.name for f in input_fields(core_dictionary().dictionary) if f.validation.startswith("date")
]


def case(**changes: str) -> dict[str, str]:
    return {**BASE_CASE, **changes}


def write_csv(
    path: Path,
    records: list[dict[str, str]],
    *,
    columns: list[str] | None = None,
    delimiter: str = ",",
    bom: bool = False,
    encoding: str = "utf-8",
) -> Path:
    columns = columns or CORE_COLUMNS
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([record.get(column, "") for column in columns])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode(encoding))
    return path


def dmy(iso: str, separator: str = "/") -> str:
    year, month, day = iso.split("-")
    return separator.join((day, month, year))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_command(*arguments: str | Path, cwd: Path) -> Run:
    """`python -m exports.federated ...` in a fresh interpreter, without Django settings."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment["PYTHONPATH"] = str(REPO)
    completed = subprocess.run(
        [sys.executable, "-m", "exports.federated", *map(str, arguments)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def zip_texts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def table_rows(path: Path, name: str) -> list[list[str]]:
    with zipfile.ZipFile(path) as archive:
        return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def rewrite_zip(
    source: Path,
    target: Path,
    *,
    change: dict[str, bytes | None] | None = None,
    add: dict[str, bytes] | None = None,
    manifest_edit=None,
    rehash: bool = True,
) -> Path:
    """A copy of a result zip with files changed (None removes one) or added; `rehash` puts
    the changed files' hashes, sizes and listing into the manifest, as a careful forger would."""
    change = change or {}
    add = add or {}
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(files.pop("manifest.json"))
    for name, data in change.items():
        if data is None:
            files.pop(name)
            if rehash:
                manifest["files"].pop(name)
        else:
            files[name] = data
            if rehash:
                manifest["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
                manifest["files"][name]["bytes"] = len(data)
    files.update(add)
    if manifest_edit is not None:
        manifest_edit(manifest)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    return target
