"""The feed's platform tables at scale, next to one hand-written GROUP BY of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gdsi .venv/bin/python bench/feed_job.py
    ... --sizes 100000,1000000 --sources clinicians,patients

For each size: a throwaway PostgreSQL database (gdsi_bench_feed) gets that many generated cases,
bulk-loaded with COPY by bench/export_scale.py's loader (4 in 5 clinicians); then, per report
source, in one process:
  - the floor: one hand-written `GROUP BY` of the counted cases by the raw stored values the 22
    table values derive from (`data->>'sex'`, `data->>'age_years'`, ...: 20 of them, and the
    pseudonym prefix), with PostgreSQL's default settings;
  - the feed: `exports.feedsql.platform_tables(report_source)` (cleaning, derivations, the 63
    tables, folding into CountTables).
Prints both times and the ratio. Target (issue 5): the feed within 3x of the GROUP BY.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchdb import ROOT, drop_postgres_database, is_postgres, recreate_postgres_database

DATABASE = "gdsi_bench_feed"
LOADER = Path(__file__).resolve().parent / "export_scale.py"
# One raw stored value per derived table value (the feed reads more: the quality rules').
RAW_FIELDS = (
    "covid19_confirmed_case",
    "covid19_suspected_case",
    "covid19_country",
    "current_dmt",
    "type_dmt",
    "age_years",
    "ms_type",
    "sex",
    "edss_value",
    "covid19_admission_hospital",
    "covid19_icu_stay",
    "covid19_ventilation",
    "covid19_outcome_death",
    "current_smoker",
    "weight",
    "ms_onset_date",
    "dmt_glucocorticoid",
    "has_comorbidities",
    "dmt_start_date",
    "covid19_date_suspected_onset",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated case counts")
    parser.add_argument("--sources", default="clinicians,patients", help="report sources")
    parser.add_argument("--keep", action="store_true", help="keep the last bench database")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "")
    if not is_postgres(server):
        print("feed_job needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        raise SystemExit(2)
    results = []
    for size in (int(size) for size in args.sizes.split(",")):
        results += measure(server, size, args.sources, keep=args.keep)
    report(results)


def measure(server: str, size: int, sources: str, *, keep: bool) -> list[dict]:
    url = recreate_postgres_database(server, DATABASE)
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environment["DATABASE_URL"] = url
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(LOADER), "--_load", str(size)], env=environment,
                       check=True)  # fmt: skip
        print(f"loaded {size:,} cases in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        output = subprocess.run(
            [sys.executable, __file__, "--_time", sources],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
        )
        return [{"size": size, **row} for row in json.loads(output.stdout.strip().splitlines()[-1])]
    finally:
        if not keep:
            drop_postgres_database(url)


def report(rows: list[dict]) -> None:
    print("feed platform tables vs one hand-written GROUP BY of the same rows (PostgreSQL)")
    print(
        f"{'cases':>10} {'source':>11} {'counted':>9} {'GROUP BY s':>11} {'feed s':>8} "
        f"{'ratio':>6} {'feed us/case':>13}"
    )
    for row in rows:
        ratio = row["feed"] / row["group_by"]
        print(
            f"{row['size']:>10,} {row['source']:>11} {row['counted']:>9,} "
            f"{row['group_by']:>11.2f} {row['feed']:>8.2f} {ratio:>6.2f} "
            f"{row['feed'] / max(row['counted'], 1) * 1e6:>13.1f}"
        )
    worst = max(row["feed"] / row["group_by"] for row in rows)
    print(f"target: feed <= 3x GROUP BY: {'met' if worst <= 3 else 'NOT met'} (worst {worst:.2f}x)")


# --- child process ----------------------------------------------------------------------------


def hand_group_by(report_source: str) -> str:
    reads = [f"data->>'{name}'" for name in RAW_FIELDS]
    reads.append("split_part(data->>'secret_name', '_', 1)")
    columns = ", ".join(reads)
    return (
        f"SELECT {columns}, count(*) FROM casereports_case "
        f"WHERE report_source = '{report_source}' AND status IN ('submitted', 'locked') "
        f"AND NOT consent_withdrawn GROUP BY {columns}"
    )


def time_feed(sources: list[str]) -> None:
    from benchdb import setup_django

    setup_django(os.environ["DATABASE_URL"])
    from django.db import connection

    from exports.feedsql import counted_cases, platform_tables

    results = []
    for source in sources:
        counted = counted_cases(source).count()
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(hand_group_by(source))
            groups = len(cursor.fetchall())
            group_by = time.perf_counter() - started
        started = time.perf_counter()
        tables = platform_tables(source)
        feed = time.perf_counter() - started
        if tables.total() != counted:
            raise SystemExit(f"the feed counted {tables.total()} of {counted} cases")
        results.append(
            {"source": source, "counted": counted, "groups": groups, "group_by": group_by,
             "feed": feed}
        )  # fmt: skip
        print(f"{source}: GROUP BY {group_by:.2f} s, feed {feed:.2f} s", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--_time":
        sys.path.insert(0, str(ROOT))
        time_feed(sys.argv[2].split(","))
    else:
        main()
