"""Row imports at scale: validate and commit a registry's CSV, next to PostgreSQL's own
`COPY FROM` of the same file into a plain table, in the same run.

    .venv/bin/python bench/import_scale.py                  # 100,000 and 1,000,000 rows
    .venv/bin/python bench/import_scale.py --rows 100000    # one size
    .venv/bin/python bench/import_scale.py --quick          # 20,000 rows, for development

PostgreSQL comes from DATABASE_URL (a postgres URL) or 127.0.0.1:5432; the run makes its own
database `gdsi_bench_import_<pid>` and a temporary MEDIA_ROOT, and drops both at the end (also
on Ctrl-C). Tasks run in-process (REDIS_URL is ignored), as a worker would run them.

For each size: realistic core-data-set rows (`casereports.synthetic.random_records`: every
field drawn from the dictionary, with blanks, out-of-range values and junk text, so most rows
fail some quality rule; one row in 200 has a cell the reader cannot read, so it is refused; a
unique secret_name per row) are written to a CSV once and uploaded to a fresh site
(`services.start_import`, timed apart: "upload"); then each step runs in a fresh child process
whose peak resident memory (VmHWM) is that step's alone:
  COPY, validate (`tasks.process`), COPY, commit (`request_commit` + `tasks.process`), COPY.
"COPY" is `COPY <plain table, one text column per CSV column> FROM STDIN (FORMAT csv, HEADER)`
of the same file through psycopg, reading the file included; its three slices bracket the
import's steps, so a change of load on the machine moves both: the table shows their mean and
spread. Then the re-upload: the same file with 1 % of the rows' edss_value changed, uploaded
to the same site, validated and committed between COPY slices of that file.

How to read it: (validate + commit) / COPY against the targets (at most 4x for an upload, 2x
for the re-upload), the peak MiB of each step against 200 MB (and the same at every size), and
the job's counts (new / changed / unchanged / refused) to see that the import did what it
should. Exit status: 0 after printing (targets met or not: this is a measurement), 1 when an
import step failed, 2 when PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from benchdb import CORE, drop_postgres_database, recreate_postgres_database  # noqa: E402
from httpserver import postgres_server  # noqa: E402

DATABASE = f"gdsi_bench_import_{os.getpid()}"  # a name of its own per run
QUICK_ROWS = 20_000
CHANGE_EVERY = 100  # the re-upload changes one row in a hundred
UNREADABLE_EVERY = 200  # one row in 200 has a cell the reader refuses (the row is refused)
UNREADABLE = [
    ("age_years", "forty-four"),
    ("covid19_date_reporting", "2021-13-45"),
    ("sex", "unknown code"),
    ("edss_value", "3,5,1"),
]
TARGET_UPLOAD, TARGET_REUPLOAD, TARGET_PEAK_MB = 4.0, 2.0, 200.0
SEED = 2021
LOAD_BEFORE = os.getloadavg()[0]


@dataclass
class Step:
    """One measured step: wall seconds of the work itself, the child's peak RSS."""

    seconds: float
    peak_mib: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Round:
    """One upload of one file: COPY slices around validate and commit."""

    label: str
    rows: int
    upload_seconds: float
    copies: list[Step]
    validate: Step
    commit: Step
    target: float
    changed_in_file: int = 0

    @property
    def copy_seconds(self) -> float:
        return statistics.mean(step.seconds for step in self.copies)

    @property
    def ratio(self) -> float:
        return (self.validate.seconds + self.commit.seconds) / self.copy_seconds


# --- the run (parent process) ---------------------------------------------------------------


def main() -> None:
    args = parse_arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs
    os.environ.pop("REDIS_URL", None)  # tasks in-process: the children are the workers
    server = postgres_server()  # exits 2 when PostgreSQL cannot be reached
    folder = Path(tempfile.mkdtemp(prefix="gdsi-bench-import-"))
    url = ""
    rounds: list[Round] = []
    try:
        url = recreate_postgres_database(server, DATABASE)
        prepare_django(url, folder / "media")
        for rows in args.rows:
            rounds += measure_size(rows, folder, url)
            report(rounds)  # after each size, so a long run shows its first figures early
    except ImportFailed as failure:
        print(f"import step failed: {failure}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ninterrupted: dropping the bench database", file=sys.stderr)
        sys.exit(130)
    finally:
        clean_up(url, folder)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="row counts"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows only")
    args = parser.parse_args()
    if args.quick:
        args.rows = [QUICK_ROWS]
    return args


def prepare_django(url: str, media: Path) -> None:
    """Point Django at the bench database and media folder, migrate, load the dictionary."""
    media.mkdir()
    os.environ.update(
        DATABASE_URL=url,
        MEDIA_ROOT=str(media),
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="gdsi.settings",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from casereports.services.dictionaries import (
        default_rules_path,
        read_dictionary_files,
        store_dictionary,
    )

    store_dictionary(
        read_dictionary_files(CORE, default_rules_path(CORE)), source_filename=CORE.name
    )


def clean_up(url: str, folder: Path) -> None:
    if url:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        drop_postgres_database(url)
    shutil.rmtree(folder, ignore_errors=True)


def measure_size(rows: int, folder: Path, url: str) -> list[Round]:
    """The upload of `rows` rows to a fresh site, then the re-upload with 1 % changed."""
    from casereports.models import Site

    first, second = folder / f"rows_{rows}.csv", folder / f"rows_{rows}_changed.csv"
    started = time.perf_counter()
    changed = write_files(rows, first, second)
    size_mib = first.stat().st_size / 2**20
    print(
        f"{rows:,} rows: wrote {size_mib:,.0f} MiB twice in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    site = Site.objects.create(code=f"bench-{rows}", name=f"Bench {rows:,}", country="GB")
    upload = measure_round("upload", first, site, url, TARGET_UPLOAD)
    reupload = measure_round("re-upload", second, site, url, TARGET_REUPLOAD)
    reupload.changed_in_file = changed
    for path in (first, second):
        path.unlink()
    return [upload, reupload]


def measure_round(label: str, path: Path, site, url: str, target: float) -> Round:
    upload_seconds, job_id = upload_file(path, site)
    copies = [run_child(url, "copy", str(path))]
    validate = run_child(url, "validate", str(job_id))
    copies.append(run_child(url, "copy", str(path)))
    commit = run_child(url, "commit", str(job_id))
    copies.append(run_child(url, "copy", str(path)))
    rows = copies[0].details["rows"]
    print(f"  {label} of {rows:,} rows measured", file=sys.stderr, flush=True)
    return Round(label, rows, upload_seconds, copies, validate, commit, target)


def upload_file(path: Path, site) -> tuple[float, int]:
    """Store the file and create the job, as the page or the command does (not queued)."""
    from casereports.audit import system_context
    from casereports.imports import services

    started = time.perf_counter()
    with path.open("rb") as upload:
        job = services.start_import(
            system_context("command"),
            site=site,
            upload=upload,
            original_name=path.name,
            report_source="clinicians",
            channel="command",
            queue=False,
            check_rights=False,
        )
    return time.perf_counter() - started, job.pk


class ImportFailed(Exception):
    pass


def run_child(url: str, step: str, argument: str) -> Step:
    """Run one step in a fresh interpreter; it prints one JSON line with its figures."""
    environment = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, argument],
        env=environment,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise ImportFailed(f"{step} exited {done.returncode}\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in figures:
        raise ImportFailed(f"{step}: {figures['error']}")
    return Step(figures.pop("seconds"), figures.pop("peak_kib") / 1024, figures)


# --- the rows --------------------------------------------------------------------------------


def write_files(rows: int, first: Path, second: Path) -> int:
    """`rows` random core-data-set records to `first`; the same with one row in a hundred's
    edss_value changed to another accepted value to `second`. Returns how many changed."""
    from casereports.dictionary import read_dictionary
    from casereports.ingest.header import input_fields
    from casereports.synthetic import random_records

    dictionary = read_dictionary(CORE)
    columns = [f.name for f in input_fields(dictionary)]
    edss = columns.index("edss_value")
    changed = 0
    with (
        first.open("w", encoding="utf-8", newline="") as out_first,
        second.open("w", encoding="utf-8", newline="") as out_second,
    ):
        writers = [csv.writer(out, lineterminator="\n") for out in (out_first, out_second)]
        for writer in writers:
            writer.writerow(columns)
        records = random_records(dictionary, rows, seed=SEED, blank_rate=0.15)
        for number, record in enumerate(records):
            record[dictionary.record_id] = f"BENCH_{number:08d}"
            if number % UNREADABLE_EVERY == 7:  # a registry's slip the reader cannot read
                column, text = UNREADABLE[number // UNREADABLE_EVERY % len(UNREADABLE)]
                record[column] = text
            row = [record.get(name, "") for name in columns]
            writers[0].writerow(row)
            if number % CHANGE_EVERY == CHANGE_EVERY // 2:
                row[edss] = "6.5" if row[edss] != "6.5" else "3"
                changed += 1
            writers[1].writerow(row)
    return changed


# --- the report ------------------------------------------------------------------------------


def report(rounds: list[Round]) -> None:
    print(
        f"\nrow imports vs COPY FROM of the same file into a plain text table (PostgreSQL, "
        f"{os.cpu_count()} cores, load average before {LOAD_BEFORE:.1f}, now "
        f"{os.getloadavg()[0]:.1f})"
    )
    print(
        f"{'':10} {'rows':>10} {'upload s':>9} {'COPY s (spread)':>20} {'validate s':>11} "
        f"{'commit s':>9} {'(v+c)/COPY':>11} {'target':>7}   {'peak MiB COPY/val/commit':>25}"
    )
    for one in rounds:
        seconds = [step.seconds for step in one.copies]
        spread = f"{one.copy_seconds:.2f} ({min(seconds):.2f}-{max(seconds):.2f})"
        peaks = (max(step.peak_mib for step in one.copies), one.validate.peak_mib)
        peaks += (one.commit.peak_mib,)
        verdict = "met" if one.ratio <= one.target else "NOT met"
        print(
            f"{one.label:10} {one.rows:>10,} {one.upload_seconds:>9.2f} {spread:>20} "
            f"{one.validate.seconds:>11.2f} {one.commit.seconds:>9.2f} {one.ratio:>10.2f}x "
            f"{f'<={one.target:g}x':>7} {verdict:<7} "
            f"{' / '.join(f'{peak:.0f}' for peak in peaks):>17}"
        )
    print("counts from the jobs (validation report):")
    for one in rounds:
        counts = one.validate.details.get("counts", {})
        shown = ", ".join(
            f"{key} {counts.get(key, 0):,}"
            for key in ("new", "changed", "unchanged", "refused", "quality_failed")
        )
        extra = f"; rows changed in the file {one.changed_in_file:,}" if one.changed_in_file else ""
        written = one.commit.details.get("status", "?")
        print(f"  {one.label:10} {one.rows:>10,}: {shown}{extra}; commit {written}")
    print_memory_verdict(rounds)


def print_memory_verdict(rounds: list[Round]) -> None:
    peaks: dict[int, float] = {}  # the worst import step per size (upload and re-upload)
    for one in rounds:
        worst = max(one.validate.peak_mib, one.commit.peak_mib)
        peaks[one.rows] = max(peaks.get(one.rows, 0.0), worst)
    highest, lowest = max(peaks.values()), min(peaks.values())
    flat = highest - lowest < 0.1 * highest + 5
    by_size = ", ".join(f"{rows:,} rows {peak:.0f} MiB" for rows, peak in peaks.items())
    verdict = "met" if highest < TARGET_PEAK_MB and (flat or len(peaks) == 1) else "NOT met"
    sizes = "" if len(peaks) > 1 else " (one size: flatness not shown)"
    print(
        f"worker peak (validate or commit): {by_size}; target < {TARGET_PEAK_MB:g} MB and flat:"
        f" {verdict}{sizes}"
    )


# --- the measured steps (child processes) ----------------------------------------------------


def peak_kib() -> int:
    """This process's resident high-water mark (VmHWM: since its exec, unlike ru_maxrss,
    which also counts the parent's memory that a fork brought along)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_copy(path: str) -> dict[str, Any]:
    """COPY the file into a new plain table of text columns; the read and the COPY timed."""
    import psycopg

    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with open(path, encoding="utf-8", newline="") as stream:
        columns = next(csv.reader(stream))
    table = f"bench_copy_{os.getpid()}"
    definition = ", ".join(f'"{name}" text' for name in columns)
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE {table} ({definition})")
        connection.commit()
        started = time.perf_counter()
        with (
            open(path, "rb") as stream,
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            for block in iter(lambda: stream.read(1 << 20), b""):
                copy.write(block)
        connection.commit()
        seconds = time.perf_counter() - started
        rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        connection.execute(f"DROP TABLE {table}")
        connection.commit()
    return {"seconds": seconds, "rows": rows}


def setup_child_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gdsi.settings")
    import django

    django.setup()


def child_validate(job_id: str) -> dict[str, Any]:
    setup_child_django()
    from casereports.imports import tasks
    from casereports.imports.models import RowImport

    started = time.perf_counter()
    outcome = tasks.process(int(job_id))
    seconds = time.perf_counter() - started
    job = RowImport.objects.get(pk=int(job_id))
    if job.status != "ready":
        return {"error": f"validation ended {outcome}, job {job.status}: {job.error}"}
    return {"seconds": seconds, "counts": job.counts}


def child_commit(job_id: str) -> dict[str, Any]:
    setup_child_django()
    from casereports.audit import system_context
    from casereports.imports import services, tasks
    from casereports.imports.models import RowImport

    job = RowImport.objects.get(pk=int(job_id))
    started = time.perf_counter()
    # Tasks run in-process: the commit may already run when the request commits; then the
    # second call is the no-op a duplicate delivery would be.
    services.request_commit(system_context("command"), job, check_rights=False)
    tasks.process(job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "done":
        return {"error": f"commit ended {job.status}: {job.error}"}
    return {"seconds": seconds, "status": job.status}


def run_as_child(step: str, argument: str) -> None:
    steps = {"copy": child_copy, "validate": child_validate, "commit": child_commit}
    figures = steps[step](argument)
    figures["peak_kib"] = peak_kib()
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        run_as_child(sys.argv[2], sys.argv[3])
    else:
        main()
