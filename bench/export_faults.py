"""Fault script for export jobs: workers killed mid-export, and Redis restarted under queued jobs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gdsi REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/export_faults.py [--repeat 20] [--cases 10000] [--no-redis]

Needs PostgreSQL and Redis. A throwaway database (gdsi_bench_faults) gets `--cases` generated
cases (bulk-inserted: bench data, not case writes). The workers are real Celery processes
(`celery -A gdsi worker --pool solo`) on a Redis database of their own (`--redis-db`, so
workers of other test runs on the same server never take these messages).

1. Kill (`--repeat` times): start a worker, request an export through the service, wait until
   the worker has written rows, SIGKILL it, start a new worker (with beat, so its sweeper
   re-sends the silent job), and check that the job finished exactly once: status done, one
   zip in the job's directory matching the job's size and sha256, no `.partial` or temporary
   file, exactly one `export.finished` event. After the last repetition a worker runs past the
   broker's visibility timeout, so Redis hands out every killed worker's unacknowledged message
   again; the jobs must stay exactly as they were.
2. Redis restart (unless `--no-redis`), twice: (a) jobs queued with no worker running, (b) a
   worker in the middle of one job with more queued. Redis is stopped with `redis-cli shutdown
   nosave` and started again at once with the command `.ci/run` uses (it keeps nothing on
   disk, so the queue is lost); every job must still finish, once.

Prints one line per repetition and a summary; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from benchdb import ROOT, drop_postgres_database, is_postgres, recreate_postgres_database

DATABASE = "gdsi_bench_faults"
STALE_SECONDS = 3
SWEEP_SECONDS = 1
VISIBILITY_SECONDS = 8
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]  # fmt: skip  - exactly .ci/run's command


@dataclass
class Outcome:
    name: str
    problems: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="kill repetitions (default 20)")
    parser.add_argument("--cases", type=int, default=10000, help="cases (default 10000)")
    parser.add_argument("--redis-db", type=int, default=11, help="Redis database for the run")
    parser.add_argument("--redis-jobs", type=int, default=4, help="jobs per Redis scenario")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis restarts")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if not is_postgres(server) or not redis.startswith("redis://"):
        print("export_faults needs DATABASE_URL=postgres://... and REDIS_URL=redis://...",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    url = recreate_postgres_database(server, DATABASE)
    redis_url = urlunparse(urlparse(redis)._replace(path=f"/{args.redis_db}"))
    with tempfile.TemporaryDirectory(prefix="gdsi-export-faults-") as directory:
        try:
            run = FaultRun(url, redis_url, Path(directory), args)
            outcomes = run.all()
        finally:
            drop_postgres_database(url)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    print(f"\nsummary: {len(outcomes) - len(failed)} of {len(outcomes)} passed")
    for outcome in failed:
        print(f"  FAILED {outcome.name}: {'; '.join(outcome.problems)}")
    raise SystemExit(1 if failed else 0)


def report(outcome: Outcome) -> None:
    verdict = "ok  " if outcome.ok else "FAIL"
    problems = "" if outcome.ok else f" -- {'; '.join(outcome.problems)}"
    print(f"{outcome.name:<34} {verdict} {outcome.notes}{problems}", flush=True)


class FaultRun:
    def __init__(self, database_url: str, redis_url: str, directory: Path, args) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.directory = directory
        self.export_dir = directory / "exports"
        self.args = args
        self.rng = random.Random(args.seed)  # noqa: S311 - when to kill, not a secret
        self.workers: list[subprocess.Popen] = []
        self.jobs_checked: list[int] = []
        os.environ.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            GDSI_EXPORT_DIR=str(self.export_dir),
            DEBUG="false",
            DJANGO_SETTINGS_MODULE="gdsi.settings",
        )
        import django

        django.setup()
        self._prepare()

    # -- set-up ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        import io

        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from casereports.models import Membership, Site

        call_command("migrate", verbosity=0, interactive=False)
        call_command("load_dictionary", str(ROOT / "casereports/data/core_dataset_v1.csv"),
                     stdout=io.StringIO())  # fmt: skip
        site = Site.objects.create(code="faults", name="Fault Hospital", country="GB")
        self.user = get_user_model().objects.create_user("fault-exporter")
        Membership.objects.create(user=self.user, site=site, role="exporter")
        self._load_cases(site)
        self._flush_redis()

    def _load_cases(self, site) -> None:
        from casereports.models import Case, DictionaryVersion
        from casereports.services.dictionaries import dictionary_of
        from casereports.synthetic import random_records

        version = DictionaryVersion.objects.current()
        dictionary = dictionary_of(version)
        cases = []
        for number, record in enumerate(random_records(dictionary, self.args.cases, seed=11)):
            name = f"F_{number:08d}"
            source = "patients" if number % 4 == 3 else "clinicians"
            record.update({dictionary.record_id: name, "report_source": source})
            cases.append(Case(site=site, secret_name=name, report_source=source,
                              status="submitted", dictionary_version=version, data=record,
                              completeness="complete"))  # fmt: skip
        Case.objects.bulk_create(cases, batch_size=1000)

    def _flush_redis(self) -> None:
        """This run's Redis database only (never database 0, which tests and CI use)."""
        if urlparse(self.redis_url).path.strip("/") in ("", "0"):
            raise SystemExit("refusing to flush Redis database 0")
        self._redis("flushdb")

    # -- scenarios ------------------------------------------------------------------------

    def all(self) -> list[Outcome]:
        outcomes = []
        try:
            for repetition in range(1, self.args.repeat + 1):
                outcome = self.kill_and_recover(repetition)
                report(outcome)
                outcomes.append(outcome)
            if self.args.repeat:
                outcome = self.redeliveries()
                report(outcome)
                outcomes.append(outcome)
            if not self.args.no_redis:
                for with_worker in (False, True):
                    outcome = self.redis_restart(with_worker)
                    report(outcome)
                    outcomes.append(outcome)
        finally:
            self.stop_all()
        return outcomes

    def kill_and_recover(self, repetition: int) -> Outcome:
        outcome = self._kill_and_recover(repetition)
        if not outcome.ok:
            outcome.problems.append(self.worker_errors(f"kill{repetition}-"))
        return outcome

    def worker_errors(self, prefix: str) -> str:
        """The error lines (and the frames under them) of the named workers' logs."""
        excerpt = []
        for log in sorted(self.directory.glob(f"worker-{prefix}*.log")):
            lines = log.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines):
                if "ERROR" in line or "CRITICAL" in line:
                    excerpt += [f"[{log.stem}] {line}", *lines[number + 1 : number + 12]]
        return "worker log:\n" + "\n".join(excerpt[-40:]) if excerpt else "worker log: no errors"

    def _kill_and_recover(self, repetition: int) -> Outcome:
        outcome = Outcome(f"kill {repetition}")
        first = self.start_worker(f"kill{repetition}-a")
        job = self.request()
        # A different point each time: somewhere in the first 80% of the rows.
        target = self.rng.randrange(1, max(2, int(0.8 * self.args.cases)))
        running = self.wait(job, lambda j: j.status == "running" and j.rows_done >= target, 90)
        if running is None:
            self.stop(first)
            outcome.problems.append(f"never seen running past row {target} ({job.status})")
            return outcome
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        job.refresh_from_db()
        if job.status != "running":
            outcome.problems.append(f"the export was {job.status} before the kill (too small?)")
            return outcome
        rows_at_kill, killed = job.rows_done, time.monotonic()
        second = self.start_worker(f"kill{repetition}-b", beat=True)
        finished = self.wait(job, lambda j: j.is_finished, 120)
        recovery = time.monotonic() - killed
        self.stop(second)
        if finished is None:
            outcome.problems.append(f"not finished 120 s after the kill ({job.status})")
            return outcome
        outcome.problems += self.check(job, expect_attempts_over=1)
        outcome.notes = (
            f"job {job.pk}: killed at {rows_at_kill}/{job.rows_total} rows, done "
            f"{recovery:.1f} s later, attempts {job.attempts}"
        )
        return outcome

    def redeliveries(self) -> Outcome:
        """Let Redis hand out the killed workers' unacknowledged messages again."""
        from exports.models import ExportJob

        outcome = Outcome("redelivery")
        before = {job.pk: (job.attempts, job.sha256) for job in self._checked_jobs()}
        unacked = int(self._redis("hlen", "unacked") or 0)
        # Old enough to be handed out again by the worker's first look (at its start).
        time.sleep(VISIBILITY_SECONDS + 2)
        worker = self.start_worker("redeliveries")
        deadline = time.monotonic() + 40
        while unacked and time.monotonic() < deadline:
            if int(self._redis("hlen", "unacked") or 0) == 0:
                break
            time.sleep(0.5)
        time.sleep(3)  # the redelivered tasks run (each finds its job done)
        self.stop(worker)
        left = int(self._redis("hlen", "unacked") or 0)
        for job in ExportJob.objects.filter(pk__in=before):
            if (job.attempts, job.sha256) != before[job.pk]:
                outcome.problems.append(f"job {job.pk} changed after a redelivery")
            outcome.problems += self.check(job, expect_attempts_over=1)
        outcome.notes = (
            f"{unacked} unacknowledged message(s) of killed workers, {left} left after a "
            f"worker ran past the {VISIBILITY_SECONDS} s visibility timeout; "
            f"{len(before)} jobs unchanged"
        )
        if unacked and left >= unacked:
            outcome.problems.append("no unacknowledged message was handed out again")
        return outcome

    def redis_restart(self, with_worker: bool) -> Outcome:
        name = "redis restart, worker mid-export" if with_worker else "redis restart, queued"
        outcome = Outcome(name)
        worker = self.start_worker(f"redis-{int(with_worker)}", beat=True) if with_worker else None
        jobs = [self.request() for _ in range(self.args.redis_jobs)]
        if worker is not None:
            if self.wait(jobs[0], lambda j: j.status == "running" and j.rows_done > 0, 90) is None:
                outcome.problems.append("the first job never ran")
        else:
            time.sleep(0.5)
        queued_before = int(self._redis("llen", "celery") or 0)
        downtime = self.restart_redis()
        queued_after = int(self._redis("llen", "celery") or 0)
        if worker is None:
            worker = self.start_worker("redis-after", beat=True)
        deadline = time.monotonic() + 60 + 15 * len(jobs)
        for job in jobs:
            if self.wait(job, lambda j: j.is_finished, max(1, deadline - time.monotonic())) is None:
                outcome.problems.append(f"job {job.pk} not finished ({job.status})")
        self.stop(worker)
        for job in jobs:
            if job.is_finished:
                outcome.problems += self.check(job, expect_attempts_over=0)
        outcome.notes = (
            f"{len(jobs)} jobs; {queued_before} message(s) queued before, {queued_after} after "
            f"the restart; Redis down {downtime:.2f} s; attempts "
            f"{[job.attempts for job in jobs]}"
        )
        return outcome

    # -- checks ---------------------------------------------------------------------------

    def check(self, job, *, expect_attempts_over: int) -> list[str]:
        from casereports.models import AuditEvent

        job.refresh_from_db()
        self.jobs_checked.append(job.pk)
        problems = []
        if job.status != "done":
            return [f"job {job.pk} is {job.status}: {job.error}"]
        if job.attempts <= expect_attempts_over:
            problems.append(f"job {job.pk}: {job.attempts} attempt(s)")
        directory = self.export_dir / str(job.pk)
        files = sorted(p.name for p in directory.iterdir())
        if files != [f"export_{job.pk}.zip"]:
            problems.append(f"job {job.pk}: files {files}")
        stray = [p.name for p in self.export_dir.rglob("*") if p.suffix in (".partial", ".tmp")]
        if stray:
            problems.append(f"partial or temporary files: {stray}")
        content = (self.export_dir / job.file_path).read_bytes()
        if hashlib.sha256(content).hexdigest() != job.sha256 or len(content) != job.file_size:
            problems.append(f"job {job.pk}: the file is not the one the job describes")
        with zipfile.ZipFile(self.export_dir / job.file_path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
        if manifest != job.manifest or manifest["row_counts"]["redcap_records.csv"] != (
            self.args.cases
        ):
            problems.append(f"job {job.pk}: manifest differs or rows missing")
        finished = AuditEvent.objects.filter(action="export.finished", details__job=job.pk)
        if finished.count() != 1:
            problems.append(f"job {job.pk}: {finished.count()} export.finished events")
        return problems

    def _checked_jobs(self):
        from exports.models import ExportJob

        return ExportJob.objects.filter(pk__in=self.jobs_checked, status="done")

    # -- processes ------------------------------------------------------------------------

    def request(self):
        from casereports.audit import AuditContext, new_request_id
        from exports import services

        context = AuditContext(user=self.user, channel="command", request_id=new_request_id())
        return services.request_export(context, profile="central")

    def wait(self, job, condition, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if condition(job):
                return job
            time.sleep(0.02)
        return None

    def start_worker(self, name: str, *, beat: bool = False) -> subprocess.Popen:
        command = [sys.executable, "-m", "celery", "-A", "gdsi", "worker", "--pool", "solo",
                   "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                   "--hostname", f"{name}@faults"]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", str(self.directory / f"beat-{name}")]
        env = {
            **os.environ,
            "GDSI_EXPORT_STALE_SECONDS": str(STALE_SECONDS),
            "GDSI_EXPORT_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "GDSI_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
        }
        log = open(self.directory / f"worker-{name}.log", "wb")  # noqa: SIM115 - the worker's
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.workers.append(worker)
        return worker

    def stop(self, worker: subprocess.Popen) -> None:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    def stop_all(self) -> None:
        for worker in self.workers:
            self.stop(worker)

    # -- Redis ----------------------------------------------------------------------------

    def _redis(self, *command: str) -> str:
        parsed = urlparse(self.redis_url)
        result = subprocess.run(
            ["redis-cli", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 6379),
             "-n", parsed.path.strip("/") or "0", *command],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return result.stdout.strip()

    def _redis_up(self) -> bool:
        return self._redis("ping") == "PONG"

    def restart_redis(self) -> float:
        """Stop the machine's Redis without saving and start it again at once, as .ci/run
        starts it. Returns how long it was down."""
        parsed = urlparse(self.redis_url)
        if parsed.hostname not in ("127.0.0.1", "localhost") or (parsed.port or 6379) != 6379:
            raise SystemExit("the Redis restart scenario only restarts the local Redis on 6379")
        stopped = time.monotonic()
        try:
            self._redis("shutdown", "nosave")
            for _ in range(100):
                if not self._redis_up():
                    break
                time.sleep(0.05)
        finally:
            os.makedirs("/var/lib/redis", exist_ok=True)
            os.makedirs("/var/log/redis", exist_ok=True)
            subprocess.run(REDIS_START, check=True, capture_output=True)
            for _ in range(300):
                if self._redis_up():
                    break
                time.sleep(0.05)
        if not self._redis_up():
            raise SystemExit("Redis did not come back")
        return time.monotonic() - stopped


if __name__ == "__main__":
    main()
