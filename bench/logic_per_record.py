"""Evaluate every branching, calc and quality rule of the core data set for one record.

Prints per-record times for the Python engine (on its own, and as the full clean-and-derive
pipeline, interpreted and compiled), for reading the same records as CSV with Python's csv
module (the federated command's floor), and for the JavaScript engine under node.
"""

import argparse
import csv
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

from casereports.dictionary import read_dictionary, read_quality_rules
from casereports.logic import evaluate
from casereports.rules import RecordPipeline
from casereports.synthetic import random_records

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / "casereports" / "data" / "core_dataset_v1.csv"
RULES = ROOT / "casereports" / "data" / "core_dataset_v1_quality_rules.csv"


def every_ast(dictionary, rules) -> list[dict]:
    asts = [f.branching_ast for f in dictionary.fields if f.branching_ast is not None]
    asts += [f.calc_ast for f in dictionary.fields if f.calc_ast is not None]
    asts += [rule.logic_ast for rule in rules]
    asts += [rule.set_value_ast for rule in rules if rule.set_value_ast is not None]
    return asts


def per_record_us(action, records: list[dict], rounds: int) -> float:
    for record in records:  # warm-up
        action(record)
    started = time.perf_counter()
    for _ in range(rounds):
        for record in records:
            action(record)
    return (time.perf_counter() - started) * 1e6 / (rounds * len(records))


def csv_read_us(records: list[dict], rounds: int) -> float:
    """Python's csv module reading the records back, per row (the cost of any CSV input)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    text = buffer.getvalue()
    started = time.perf_counter()
    for _ in range(rounds):
        for _row in csv.reader(io.StringIO(text)):
            pass
    return (time.perf_counter() - started) * 1e6 / (rounds * (len(records) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    dictionary = read_dictionary(DICTIONARY)
    rules = read_quality_rules(RULES, dictionary)
    asts = every_ast(dictionary, rules)
    records = list(random_records(dictionary, args.records))
    pipeline = RecordPipeline(dictionary, rules)
    print(
        f"core data set: {len(asts)} expressions per record "
        f"({args.records} synthetic records x {args.rounds} rounds)"
    )

    python_us = per_record_us(lambda r: [evaluate(a, r) for a in asts], records, args.rounds)
    print(f"python: every expression       {python_us:9.1f} us/record")
    pipeline_us = per_record_us(pipeline.run, records, args.rounds)
    print(f"python: clean + derive pipeline {pipeline_us:9.1f} us/record")
    compiled = RecordPipeline(dictionary, rules, compiled=True)
    compiled_us = per_record_us(compiled.run, records, args.rounds)
    print(f"python: compiled pipeline       {compiled_us:9.1f} us/record")
    print(f"interpreted / compiled pipeline ratio: {pipeline_us / compiled_us:.1f}")
    csv_us = csv_read_us(records, args.rounds)
    print(f"csv.reader of the same records  {csv_us:9.1f} us/record")
    print(f"compiled pipeline / csv reading ratio: {compiled_us / csv_us:.2f}")

    node = shutil.which("node")
    if node is None:
        print("javascript: node is not installed; skipped")
        return
    payload = json.dumps({"asts": asts, "records": records, "rounds": args.rounds})
    result = subprocess.run(
        [node, str(ROOT / "bench" / "logic_per_record.js")],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
    )
    js_us = json.loads(result.stdout)["perRecordUs"]
    print(f"javascript: every expression   {js_us:9.1f} us/record")
    print(f"javascript / python ratio: {js_us / python_us:.2f}")


if __name__ == "__main__":
    main()
