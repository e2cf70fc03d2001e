"""The cost of the audit trail on a case save: the same draft saves with and without audit.

Runs on PostgreSQL when DATABASE_URL is a postgres URL (in a throwaway database `gdsi_bench` on
that server, dropped afterwards), otherwise on a throwaway SQLite file. Each save goes through
`casereports.services.cases.save_form` on its own pre-created draft (one form, 7 fields
changed). The two modes alternate in rounds, each round starting with the other mode, so a
warming cache or a growing table does not favour either.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

from benchdb import (
    FILLED,
    bench_clinician,
    bench_context,
    drop_postgres_database,
    is_postgres,
    percentile,
    setup_django,
    throwaway_database,
)

FORM = "covid19"
CHANGED_FIELDS: set[int] = set()  # fields changed per save, entered and derived


@contextmanager
def audit_switched_off():
    """BENCH ONLY: replace the services' record_event with a no-op for the "without audit" mode.
    Never do this outside a benchmark: a case write without its audit event breaks the trail's
    promise (and verify_audit would not notice, as nothing is chained)."""
    from casereports.services import cases

    original = cases.record_event
    cases.record_event = lambda *args, **kwargs: None
    try:
        yield
    finally:
        cases.record_event = original


def timed_saves(user, drafts) -> list[float]:
    """Save the form on each draft; the time of each save in ms."""
    from casereports.services import cases

    times = []
    for case in drafts:
        context = bench_context(user)
        started = time.perf_counter()
        outcome = cases.save_form(
            context, case, FILLED[FORM], form=FORM, expected_version=case.version
        )
        times.append((time.perf_counter() - started) * 1000)
        if not outcome.changes:
            raise SystemExit("a timed save changed nothing, so it recorded no event")
        CHANGED_FIELDS.add(len(outcome.changes))
    return times


def run(saves: int, rounds: int) -> dict[str, list[float]]:
    from casereports.services import cases

    site, user = bench_clinician()
    per_round = max(1, saves // rounds)
    # Audit stays on while the drafts are created: only the timed saves differ.
    drafts = [cases.create_case(bench_context(user), site) for _ in range(2 * per_round * rounds)]
    results: dict[str, list[float]] = {"with audit": [], "without audit": []}
    for number in range(rounds):
        batch = drafts[2 * per_round * number : 2 * per_round * (number + 1)]
        modes = ["with audit", "without audit"]
        if number % 2:
            modes.reverse()
        for mode, chunk in zip(modes, (batch[:per_round], batch[per_round:]), strict=True):
            if mode == "with audit":
                results[mode] += timed_saves(user, chunk)
            else:
                with audit_switched_off():
                    results[mode] += timed_saves(user, chunk)
    return results


def report(results: dict[str, list[float]], backend: str) -> None:
    print(
        f"audit cost of a draft save ({backend}; form {FORM}, "
        f"{'/'.join(map(str, sorted(CHANGED_FIELDS)))} fields changed per save, "
        f"with derived ones)"
    )
    means = {}
    for mode, times in results.items():
        ordered = sorted(times)
        means[mode] = statistics.fmean(ordered)
        print(
            f"  {mode:<14} {len(ordered):5d} saves   mean {means[mode]:6.2f} ms"
            f"   p95 {percentile(ordered, 0.95):6.2f} ms"
        )
    ratio = means["with audit"] / means["without audit"]
    extra = means["with audit"] - means["without audit"]
    print(f"  with / without audit: {ratio:.2f}x (audit adds {extra:.2f} ms per save)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--saves", type=int, default=2000, help="timed saves per mode")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL bench database")
    args = parser.parse_args()
    url = throwaway_database("gdsi_bench")
    try:
        setup_django(url)
        warm_up()
        results = run(args.saves, args.rounds)
        report(results, "PostgreSQL" if is_postgres(url) else "SQLite")
    finally:
        from django.db import connections

        connections.close_all()
        if not is_postgres(url):
            shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
        elif not args.keep:
            drop_postgres_database(url)


def warm_up() -> None:
    """One save of each kind before timing: imports, the dictionary cache, prepared plans."""
    from casereports.services import cases

    site, user = bench_clinician()
    for switched_off in (False, True):
        case = cases.create_case(bench_context(user), site)
        if switched_off:
            with audit_switched_off():
                timed_saves(user, [case])
        else:
            timed_saves(user, [case])


if __name__ == "__main__":
    main()
