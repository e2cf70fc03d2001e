"""Load a generated 2,500-field REDCap dictionary with long logic: time and peak memory.

Prints the figures; the baseline in the same run is Python's csv module reading the same file
(the floor any dictionary loader pays).
"""

import argparse
import csv
import io
import time
import tracemalloc

from casereports.dictionary import read_dictionary
from casereports.dictionary.model import HEADER

FORMS = 25
FIELDS_PER_FORM = 100
CHOICES = "1, Yes | 0, No | 9, Unknown"


def generated_dictionary(forms: int = FORMS, per_form: int = FIELDS_PER_FORM) -> str:
    """A dictionary of every common type; each form's later fields carry long branching/calcs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerow(["record_id", "form_0", "", "text", "Record ID"] + [""] * 13)
    for form in range(forms):
        names: list[str] = []
        for index in range(per_form):
            name = f"f{form}_{index}"
            row = [name, f"form_{form}", "", "", f"Question {form}.{index}"] + [""] * 13
            kind = index % 5
            if kind == 0:
                row[3], row[5] = "radio", CHOICES
            elif kind == 1:
                row[3], row[7], row[8], row[9] = "text", "integer", "0", "120"
            elif kind == 2:
                row[3], row[7] = "text", "date_ymd"
            elif kind == 3:
                row[3], row[5] = "checkbox", CHOICES
            else:
                numbers = [n for n in names[-12:] if int(n.rsplit("_", 1)[1]) % 5 == 1]
                row[3] = "calc"
                row[5] = " + ".join(f"[{n}]" for n in numbers) or "1"
            if names and kind != 4:
                radios = [n for n in names[-20:] if int(n.rsplit("_", 1)[1]) % 5 == 0]
                row[11] = " or ".join(f"([{n}] = '1' and [{n}] <> '9')" for n in radios)
            names.append(name)
            writer.writerow(row)
    return out.getvalue()


def measure(label: str, action) -> tuple[float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    print(f"{label:<34} {elapsed * 1000:9.1f} ms   peak {peak / 2**20:7.1f} MiB")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--forms", type=int, default=FORMS)
    parser.add_argument("--fields-per-form", type=int, default=FIELDS_PER_FORM)
    args = parser.parse_args()
    text = generated_dictionary(args.forms, args.fields_per_form)
    rows = text.count("\n") - 1
    logic_chars = sum(len(r[5]) + len(r[11]) for r in csv.reader(io.StringIO(text)))
    print(
        f"dictionary: {rows} fields, {len(text) / 1024:.0f} KiB, {logic_chars} characters of logic"
    )
    floor, _ = measure("csv module read (floor)", lambda: list(csv.reader(io.StringIO(text))))
    loaded, _ = measure(
        "read_dictionary (parse + check)", lambda: read_dictionary(io.StringIO(text))
    )
    dictionary = read_dictionary(io.StringIO(text))
    measure("write canonical CSV", dictionary.to_csv)
    print(f"load / floor ratio: {loaded / floor:.1f}x")


if __name__ == "__main__":
    main()
