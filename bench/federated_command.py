"""How fast `gdsi-federated run` counts a registry's CSV, against Python's csv module alone.

    .venv/bin/python bench/federated_command.py              # 1,000,000 rows (and 100,000)
    .venv/bin/python bench/federated_command.py --rows 50000 # a quicker look

Writes realistic core-data-set rows (coherent answers, ~0.1 % unparsable cells, a share of
records that fail quality rules) to a temporary CSV, streamed, then times in fresh processes:
(a) the floor, the csv module reading the file and nothing else; (b) the reader alone, every
cell typed by its field, no pipeline; (c) the command end to end (read, clean, derive, count,
write the zip). Each is measured by a launcher process so that its peak RSS
(`getrusage(RUSAGE_CHILDREN).ru_maxrss`) is its own. The same at a tenth of the rows shows
whether memory grows with rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casereports.dictionary.shipped import core_dictionary  # noqa: E402
from casereports.ingest.reader import input_fields  # noqa: E402

POOL = 20_000  # distinct records; each output row is one of them with its own pseudonym
BATCH = 10_000

LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "seconds": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_kib": usage.ru_maxrss}))
"""

FLOOR = """
import csv, sys
rows = 0
with open(sys.argv[1], encoding="utf-8-sig", newline="") as stream:
    for _ in csv.reader(stream):
        rows += 1
print(rows)
"""

READER = """
import sys
from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.reader import open_core_csv
rows = 0
with open_core_csv(sys.argv[1], core_dictionary().dictionary) as reader:
    for _ in reader:
        rows += 1
print(rows)
"""


def yes_no(rng: random.Random, yes: float, blank: float = 0.05) -> str:
    draw = rng.random()
    return "" if draw < blank else ("yes" if draw < blank + yes else "no")


def realistic_record(rng: random.Random, columns: list[str], countries: list[str]) -> dict:
    onset = date(2020, 3, 1) + timedelta(days=rng.randrange(700))
    reported = onset + timedelta(days=rng.randrange(1, 60))
    age = rng.choice([rng.randint(18, 75)] * 50 + [rng.randint(0, 17), 130, -1])
    hospital = yes_no(rng, 0.2)
    icu = yes_no(rng, 0.3) if hospital == "yes" else ""
    ventilation = yes_no(rng, 0.2) if hospital == "yes" else ""
    died = "yes" if hospital == "yes" and rng.random() < 0.1 else "no"
    current_dmt = rng.choice(["yes"] * 6 + ["no", "never_treated", ""])
    has_symptoms = yes_no(rng, 0.85)
    record = {column: "" for column in columns}
    record.update(
        covid19_date_reporting=reported.isoformat(),
        covid19_has_symptoms=has_symptoms,
        covid19_suspected_case=yes_no(rng, 0.6),
        covid19_confirmed_case=yes_no(rng, 0.7),
        covid19_country=rng.choice(countries),
        covid19_date_suspected_onset=onset.isoformat(),
        covid19_admission_hospital=hospital,
        covid19_icu_stay=icu,
        covid19_ventilation=ventilation,
        covid19_outcome_recovered="no" if died == "yes" else yes_no(rng, 0.9),
        covid19_outcome_death=died,
        age_years=str(age),
        sex=rng.choice(["female"] * 7 + ["male"] * 3 + ["non-binary", ""]),
        current_smoker=yes_no(rng, 0.15),
        former_smoker=yes_no(rng, 0.2),
        height=str(rng.randint(150, 200)) if rng.random() < 0.7 else "",
        weight=f"{rng.uniform(45, 120):.1f}" if rng.random() < 0.7 else "",
        ms_type=rng.choice(["RRMS"] * 7 + ["SPMS", "PPMS", "CIS", "not_sure", ""]),
        ms_onset_date=(onset - timedelta(days=rng.randrange(300, 12000))).isoformat(),
        edss_value=str(rng.randint(0, 18) / 2) if rng.random() < 0.8 else "",
        current_dmt=current_dmt,
        dmt_glucocorticoid=yes_no(rng, 0.05),
        has_comorbidities=yes_no(rng, 0.3),
        covid_wave=rng.choice(["1", "2", ""]),
    )
    if has_symptoms == "yes":
        for symptom in ("fever", "dry_cough", "fatigue", "loss_smell_taste", "pain"):
            record[f"covid19_sympt_{symptom}"] = yes_no(rng, 0.5)
    if current_dmt in ("yes", "no"):
        record["type_dmt"] = rng.choice(
            ["ocrelizumab", "dimethyl_fumarate", "fingolimod", "natalizumab", "interferons", ""]
        )
        record["dmt_start_date"] = (onset - timedelta(days=rng.randrange(30, 3000))).isoformat()
    if hospital == "yes":
        admitted = onset + timedelta(days=rng.randrange(10))
        record["covid19_admission_hospital_date"] = admitted.isoformat()
        record["covid19_admission_hospital_release"] = (
            admitted + timedelta(days=rng.randrange(-2, 30))
        ).isoformat()
    if rng.random() < 0.02:  # a registry's slips: a day-first date, text in a number
        record[rng.choice(["dmt_start_date", "ms_onset_date"])] = onset.strftime("%d/%m/%Y")
    if rng.random() < 0.01:
        record["height"] = "1,72"
    return record


def write_rows(path: Path, rows: int, seed: int = 2021) -> None:
    """`rows` core-data-set rows: a pool of distinct records, each row with its own id."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    dictionary = core_dictionary().dictionary
    columns = [f.name for f in input_fields(dictionary)]
    countries = [code for code, _ in dictionary.field("covid19_country").choices[:60]]
    pool = []
    for _ in range(min(POOL, rows)):
        record = realistic_record(rng, columns, countries)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([record[c] for c in columns[1:]])
        pool.append(buffer.getvalue())
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(columns) + "\n")
        for start in range(0, rows, BATCH):
            out.write(
                "".join(
                    f"BENCH_{number:08d},{pool[rng.randrange(len(pool))]}"
                    for number in range(start, min(rows, start + BATCH))
                )
            )


def measure(*command: str) -> dict:
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    figures = json.loads(launched.stdout)
    if figures["code"] != 0:
        raise SystemExit(f"{' '.join(command)} exited {figures['code']}")
    return figures


def bench(path: Path, rows: int, out: Path) -> dict[str, dict]:
    python = sys.executable
    return {
        "csv module alone (floor)": measure(python, "-c", FLOOR, str(path)),
        "reader, typed cells": measure(python, "-c", READER, str(path)),
        "gdsi-federated run": measure(
            python,
            "-m",
            "exports.federated",
            "run",
            str(path),
            "--report-source",
            "clinicians",
            "--out",
            str(out),
        ),
    }


def report(rows: int, figures: dict[str, dict]) -> None:
    floor = figures["csv module alone (floor)"]
    print(f"\n{rows:,} rows")
    for name, figure in figures.items():
        seconds, cpu = figure["seconds"], figure["cpu"]
        print(
            f"  {name:26s} wall {seconds:8.2f} s ({seconds / floor['seconds']:5.1f}x floor)  "
            f"cpu {cpu:8.2f} s ({cpu / floor['cpu']:5.1f}x)  {rows / seconds:9,.0f} rows/s  "
            f"peak RSS {figure['peak_kib'] / 1024:7.1f} MiB"
        )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--rows", type=int, default=1_000_000)
    options.add_argument("--keep", action="store_true", help="keep the CSV and zips")
    arguments = options.parse_args()
    small = max(arguments.rows // 10, 1)
    with tempfile.TemporaryDirectory(prefix="gdsi-bench-") as folder:
        work = Path(folder)
        results = {}
        for rows in (small, arguments.rows):
            path = work / f"core_{rows}.csv"
            write_rows(path, rows)
            print(f"wrote {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB", flush=True)
            results[rows] = bench(path, rows, work / f"result_{rows}.zip")
            report(rows, results[rows])
        large, tenth = results[arguments.rows], results[small]
        command = "gdsi-federated run"
        print(
            f"\ncommand peak RSS at {small:,} rows {tenth[command]['peak_kib'] / 1024:.1f} MiB,"
            f" at {arguments.rows:,} rows {large[command]['peak_kib'] / 1024:.1f} MiB"
        )
        if arguments.keep:
            kept = Path(tempfile.mkdtemp(prefix="gdsi-bench-kept-"))
            for item in work.iterdir():
                item.rename(kept / item.name)
            print(f"kept in {kept}")


if __name__ == "__main__":
    main()
