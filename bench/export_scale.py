"""The `central` export at scale, next to a raw COPY of the same rows and columns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gdsi .venv/bin/python bench/export_scale.py
    ... --sizes 100000,1000000

For each size: a throwaway PostgreSQL database (gdsi_bench_export) gets that many generated cases
(bulk-loaded with COPY: bench data, not case writes, so the services are bypassed on purpose);
then, in the same run,
  - the raw floor: `COPY (SELECT <the 79 core columns> FROM cases WHERE <the job's filter>)
    TO STDOUT WITH CSV` into a file;
  - the export: `exports.tasks.run_export(job_id)` in a separate worker process, timed, with its
    peak resident memory (ru_maxrss).
Prints both times, the ratio and the worker's peak memory. Targets (issue 4): export at most 3x
the raw COPY; peak memory under 150 MB and the same at both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import (
    CORE,
    ROOT,
    drop_postgres_database,
    is_postgres,
    recreate_postgres_database,
    setup_django,
)

DATABASE = "gdsi_bench_export"
DISTINCT_RECORDS = 20_000  # generated once, cycled with fresh record ids
BATCH = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated case counts")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "")
    if not is_postgres(server):
        print("export_scale needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        raise SystemExit(2)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    for size in sizes:
        rows.append(measure(server, size))
    report(rows)


def measure(server: str, size: int) -> dict:
    url = recreate_postgres_database(server, DATABASE)
    try:
        subprocess.run(
            [sys.executable, __file__, "--_load", str(size)],
            env={**{k: v for k, v in os.environ.items() if k != "REDIS_URL"}, "DATABASE_URL": url},
            check=True,
        )
        with tempfile.TemporaryDirectory(prefix="gdsi-export-bench-") as directory:
            copy_seconds = _run_child(url, directory, "--_copy")["seconds"]
            export = _run_child(url, directory, "--_export")
        return {"size": size, "copy": copy_seconds, **export}
    finally:
        drop_postgres_database(url)


def _run_child(url: str, directory: str, mode: str) -> dict:
    # No REDIS_URL: the task runs in this child process, which is the worker being measured.
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environment.update(DATABASE_URL=url, GDSI_EXPORT_DIR=directory)
    output = subprocess.run(
        [sys.executable, __file__, mode],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def report(rows: list[dict]) -> None:
    print("central export vs raw COPY of the same rows and 79 columns (PostgreSQL, same run)")
    print(f"{'cases':>10} {'COPY s':>8} {'export s':>9} {'ratio':>6} {'worker peak MiB':>16}")
    for row in rows:
        ratio = row["seconds"] / row["copy"]
        print(
            f"{row['size']:>10,} {row['copy']:>8.2f} {row['seconds']:>9.2f} "
            f"{ratio:>6.2f} {row['peak_mib']:>16.1f}"
        )
    worst_ratio = max(row["seconds"] / row["copy"] for row in rows)
    peaks = [row["peak_mib"] for row in rows]
    same_memory = max(peaks) - min(peaks) < 0.1 * max(peaks) + 5
    print(
        f"targets: export <= 3x COPY: {'met' if worst_ratio <= 3 else 'NOT met'} "
        f"(worst {worst_ratio:.2f}x); peak < 150 MB and flat: "
        f"{'met' if max(peaks) < 150 and same_memory else 'NOT met'}"
    )


# --- child processes ------------------------------------------------------------------------


def load_cases(size: int) -> None:
    """`size` submitted cases at one site, bulk-loaded with COPY (bench data only)."""
    setup_django(os.environ["DATABASE_URL"])
    from django.db import connection

    from casereports.dictionary import read_dictionary
    from casereports.models import DictionaryVersion, Site
    from casereports.synthetic import random_records

    dictionary = read_dictionary(CORE)
    pool = list(random_records(dictionary, DISTINCT_RECORDS, seed=7, blank_rate=0.1))
    site = Site.objects.create(code="bench", name="Bench Hospital", country="GB")
    version = DictionaryVersion.objects.current()
    columns = (
        "site_id, secret_name, report_source, status, dictionary_version_id, data, version, "
        "last_form, form_statuses, completeness, created_at, updated_at, consent_withdrawn"
    )
    with connection.cursor() as cursor:
        raw = cursor.connection
        for start in range(0, size, BATCH):
            with raw.cursor().copy(f"COPY casereports_case ({columns}) FROM STDIN") as copy:
                for number in range(start, min(size, start + BATCH)):
                    record = dict(pool[number % DISTINCT_RECORDS])
                    record["secret_name"] = f"B_{number:09d}"
                    source = "patients" if number % 5 == 0 else "clinicians"
                    record["report_source"] = source
                    copy.write_row(
                        (site.pk, record["secret_name"], source, "submitted", version.pk,
                         json.dumps(record), 2, "", "{}", "complete", "now", "now", False)
                    )  # fmt: skip
        raw.commit()
        cursor.execute("ANALYZE casereports_case")
    print(f"loaded {size:,} cases", file=sys.stderr)


def raw_copy() -> None:
    setup_django(os.environ["DATABASE_URL"])
    from django.db import connection

    from casereports.dictionary import read_dictionary

    names = [f.name for f in read_dictionary(CORE).fields if f.form != "derived"]
    # jsonb_to_record reads each row's JSON once (79 `data->>` would detoast it 79 times).
    selected = ", ".join(f'r."{name}"' for name in names)
    record_type = ", ".join(f'"{name}" text' for name in names)
    query = (
        f"COPY (SELECT {selected} FROM casereports_case c, "
        f"jsonb_to_record(c.data) AS r({record_type}) WHERE NOT c.consent_withdrawn "
        "ORDER BY c.id) TO STDOUT WITH CSV HEADER"
    )
    target = Path(os.environ["GDSI_EXPORT_DIR"]) / "raw_copy.csv"
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    with target.open("wb") as out, raw.cursor().copy(query) as copy:
        for block in copy:
            out.write(block)
    print(json.dumps({"seconds": time.perf_counter() - started}))


def export() -> None:
    """Request a central export as an administrator and run the task in this process."""
    setup_django(os.environ["DATABASE_URL"])
    from django.contrib.auth import get_user_model

    from casereports.audit import AuditContext, new_request_id
    from casereports.models import Membership, Site
    from exports import services, tasks
    from exports.models import ExportJob

    user = get_user_model().objects.create_user("bench-admin")
    Membership.objects.create(user=user, site=Site.objects.get(code="bench"), role="administrator")
    context = AuditContext(user=user, channel="command", request_id=new_request_id())
    started = time.perf_counter()
    # In-process tasks: the export runs when the request commits; the second call is the
    # idempotent no-op a duplicate delivery would be.
    job = services.request_export(
        context, profile="central", sites=None, report_sources=None, statuses=None,
        date_from="", date_to="",
    )  # fmt: skip
    tasks.run_export(job.pk)
    seconds = time.perf_counter() - started
    job = ExportJob.objects.get(pk=job.pk)
    if job.status != "done":
        raise SystemExit(f"export failed: {job.error}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "rows": job.rows_done}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--_"):
        sys.path.insert(0, str(ROOT))
        {"--_load": lambda: load_cases(int(sys.argv[2])), "--_copy": raw_copy,
         "--_export": export}[sys.argv[1]]()  # fmt: skip
    else:
        main()
