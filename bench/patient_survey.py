"""A patient society mails its members: bursts of patients reporting at once, next to a minimal
Django view, measured in alternating slices of the same run.

gunicorn serves the app (bench/bench_settings.py: the app's settings plus `bench/insert/`) on
PostgreSQL, in a throwaway database `gdsi_bench_patient_survey_<pid>`, with the core dictionary, a
default patient project and its consent documents. Redis holds the rate-limit counters when
REDIS_URL is set (under a key prefix of this run's own; nothing is flushed).

Each of `--connections` clients (64) is one patient after another, on a keep-alive connection,
from an address of its own (X-Forwarded-For through one trusted proxy, as behind a load
balancer), doing what a browser does: every form sent and its redirect followed. "start": the
start page, start, the consent page, consent; "save": each of the four questionnaire pages
saved and the next page shown; "submit": sending the report and the receipt page. Every
response must be what a browser gets (a 200 page, a 302 to the next step); anything else makes
the run invalid. With REDIS_URL, a Celery worker (its own queue name) makes the PDF snapshots
beside gunicorn, as in production; the run then waits for it to finish them and says how long
that took. Without REDIS_URL the snapshots are made in the request (the embedded default).

The minimal view's slice uses the same client: `POST /bench/insert/` inserts one row.
Slices alternate (survey, insert, survey, insert, ...) so a change of load on the machine moves
both. Exit status: 0 valid figures (target met or not), 1 an invalid run, 2 no PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from benchdb import drop_postgres_database, recreate_postgres_database, setup_django
from httpserver import free_port, gunicorn, postgres_server

from casereports.synthetic import PATIENT_ANSWERS as ANSWERS

DATABASE = f"gdsi_bench_patient_survey_{os.getpid()}"  # a name of its own per run
ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO, TARGET_P95_MS = 0.5, 300.0
LOAD_BEFORE = os.getloadavg()[0]
TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
DOCUMENT = re.compile(rb'name="document" value="(\d+)"')


def prepare(database_url: str) -> None:
    setup_django(database_url)
    from bench_urls import BENCH_TABLE
    from django.db import connection

    from casereports.models import SelfReportProject, Site
    from casereports.selfreport.services import install_shipped_consent

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BENCH_TABLE} (id bigserial PRIMARY KEY, "
            "at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)"
        )
    site = Site.objects.create(code="bench", name="Bench patients", country="GB")
    SelfReportProject.objects.create(site=site, is_default=True)
    install_shipped_consent()


# --- a small HTTP/1.1 client: keep-alive, cookies, one request at a time per connection -----


class Refused(Exception):
    pass


class Connection:
    def __init__(self, host: str, port: int, address: str) -> None:
        self.host, self.port, self.address = host, port, address
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cookies: dict[str, str] = {}

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, form: dict | None = None) -> tuple:
        if self.writer is None:
            await self._open()
        body = urlencode(form or {}, doseq=True).encode() if form is not None else b""
        headers = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"X-Forwarded-For: {self.address}",
            "Accept-Language: es",
            f"Content-Length: {len(body)}",
        ]
        if form is not None:
            headers.append("Content-Type: application/x-www-form-urlencoded")
            headers.append(f"Referer: http://{self.host}:{self.port}{path}")
        if self.cookies:
            headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise Refused("connection closed")
        status = int(status_line.split()[1])
        length, location, close = 0, "", False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "location":
                location = value
            elif name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, content = cookie.partition("=")
                self.cookies[key] = content
            elif name == "connection" and value.lower() == "close":
                close = True
        content = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.writer = None
        return status, location, content


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    reports: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def all(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


async def timed(tally: Tally, kind: str, expect: int, call) -> tuple:
    started = time.perf_counter()
    status, location, content = await call
    tally.add(kind, time.perf_counter() - started)
    if status != expect:
        tally.bad.append(f"{kind}: {status} {content[:200]!r}")
        raise Refused(kind)
    return status, location, content


async def step(connection: Connection, tally: Tally, kind: str, path: str, form: dict) -> bytes:
    """A form sent and its redirect followed, as a browser does; returns the next page."""
    _, location, _ = await timed(tally, kind, 302, connection.request("POST", path, form))
    _, _, page = await timed(tally, kind, 200, connection.request("GET", location))
    return page


async def one_patient(connection: Connection, tally: Tally) -> None:
    connection.cookies.clear()
    _, _, page = await timed(tally, "start", 200, connection.request("GET", "/report/"))
    token = TOKEN.search(page)[1].decode()
    page = await step(
        connection, tally, "start", "/report/", {"csrfmiddlewaretoken": token, "website": ""}
    )
    consent = {
        "csrfmiddlewaretoken": token,
        "website": "",
        "document": DOCUMENT.search(page)[1].decode(),
        "statement": [str(i) for i in range(page.count(b'name="statement"'))],
    }
    await step(connection, tally, "start", "/report/consent/", consent)
    version = 1
    for form, values in ANSWERS.items():
        body = {"csrfmiddlewaretoken": token, "version": str(version), "action": "continue"}
        await step(connection, tally, "save", f"/report/page/{form}/", body | values)
        version += 1
    body = {"csrfmiddlewaretoken": token, "version": str(version)}
    page = await step(connection, tally, "submit", "/report/review/", body)
    if b'data-testid="receipt-code"' not in page:
        tally.bad.append("submit: no receipt code on the receipt page")
        raise Refused("submit")
    tally.reports += 1


async def insert_once(connection: Connection, tally: Tally) -> None:
    await timed(tally, "insert", 201, connection.request("POST", "/bench/insert/", {"x": "1"}))


async def drive(port: int, clients: int, seconds: float, action, prefix: str) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        connection = Connection("127.0.0.1", port, f"10.{number // 250}.{number % 250}.{prefix}")
        while time.monotonic() < deadline:
            try:
                await action(connection, tally)
            except (Refused, ConnectionError, asyncio.IncompleteReadError) as problem:
                tally.bad.append(f"{type(problem).__name__}: {problem}")
                connection.writer = None

    started = time.monotonic()
    await asyncio.gather(*(client(number) for number in range(clients)))
    tally.latencies["_elapsed"] = [time.monotonic() - started]
    return tally


def rate(tally: Tally) -> float:
    elapsed = tally.latencies["_elapsed"][0]
    return (tally.requests - 1) / elapsed


def p95_ms(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94] * 1000 if len(values) > 1 else 0.0


def merge(tallies: list[Tally]) -> Tally:
    merged = Tally()
    elapsed = 0.0
    for tally in tallies:
        for kind, values in tally.latencies.items():
            if kind == "_elapsed":
                elapsed += values[0]
            else:
                merged.latencies.setdefault(kind, []).extend(values)
        merged.bad += tally.bad
        merged.reports += tally.reports
    merged.latencies["_elapsed"] = [elapsed]
    return merged


def report(survey: Tally, insert: Tally, args, sent_in_db: int) -> int:
    print(
        f"patient survey under load: gunicorn {args.workers} workers x {args.threads} thread(s), "
        f"{args.connections} clients, {args.slices} alternating slices of {args.seconds} s each, "
        f"PostgreSQL, {os.cpu_count()} cores (load average before: {LOAD_BEFORE:.1f})"
    )
    survey_rate, insert_rate = rate(survey), rate(insert)
    print(f"  {'':<26}{'requests/s':>11}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}")
    for name, tally, per_second in (
        ("patient survey (all)", survey, survey_rate),
        ("minimal insert view", insert, insert_rate),
    ):
        values = tally.all()
        print(
            f"  {name:<26}{per_second:>11.1f}{len(values):>10d}"
            f"{statistics.median(values) * 1000:>9.1f}{p95_ms(values):>9.1f}"
        )
    for kind in ("start", "save", "submit"):
        values = survey.latencies.get(kind, [])
        if values:
            print(
                f"    {kind:<24}{'':>11}{len(values):>10d}"
                f"{statistics.median(values) * 1000:>9.1f}{p95_ms(values):>9.1f}"
            )
    ratio = survey_rate / insert_rate
    print(f"  survey / minimal view throughput: {ratio:.2f}")
    print(f"  reports sent: {survey.reports} counted by the clients, {sent_in_db} in the database")
    problems = survey.bad + insert.bad
    if sent_in_db < survey.reports:
        problems.append("fewer reports in the database than the clients counted")
    if problems:
        print(f"INVALID RUN ({len(problems)} problems), the figures do not count:")
        for problem in problems[:10]:
            print(f"    {problem}")
        return 1
    met = ratio >= TARGET_RATIO and p95_ms(survey.all()) < TARGET_P95_MS
    print(
        f"  target (throughput >= {TARGET_RATIO:g} x the minimal view's, p95 < "
        f"{TARGET_P95_MS:g} ms, no 5xx): {'met' if met else 'NOT met'}"
    )
    return 0


@contextmanager
def snapshot_worker(database_url: str, env: dict, log: Path):
    """A Celery worker on this run's own queue, when there is a broker (REDIS_URL)."""
    if not os.environ.get("REDIS_URL"):
        yield None
        return
    command = [sys.executable, "-m", "celery", "-A", "gdsi", "worker", "--pool", "solo"]
    command += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    command += ["-Q", env["GDSI_CELERY_QUEUE"]]
    worker_env = {**os.environ, **env, "DATABASE_URL": database_url, "DEBUG": "false"}
    with log.open("ab") as output:
        worker = subprocess.Popen(
            command, env=worker_env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for_snapshots(worker, timeout: float = 600) -> str:
    from casereports.models import PatientReport

    sent = PatientReport.objects.filter(case__status="submitted")
    if worker is None:
        return f"{sent.exclude(snapshot='').count()} made in the requests (no REDIS_URL)"
    started = time.monotonic()
    while time.monotonic() - started < timeout and sent.filter(snapshot="").exists():
        time.sleep(0.5)
    waiting = sent.filter(snapshot="").count()
    made = sent.exclude(snapshot="").count()
    return (
        f"{made} made by the worker, {waiting} still waiting "
        f"{time.monotonic() - started:.1f} s after the load ended"
    )


def sent_reports() -> int:
    from casereports.models import Case

    return Case.objects.filter(report_source="patients", status="submitted").count()


async def measure(port: int, args) -> tuple[Tally, Tally]:
    await drive(port, args.connections, args.warm_up_seconds, one_patient, "1")
    await drive(port, args.connections, args.warm_up_seconds, insert_once, "2")
    surveys, inserts = [], []
    for number in range(args.slices):
        surveys.append(
            await drive(port, args.connections, args.seconds, one_patient, f"{10 + number}")
        )
        inserts.append(await drive(port, args.connections, args.seconds, insert_once, "3"))
    return merge(surveys), merge(inserts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8, help="length of one slice")
    parser.add_argument("--slices", type=int, default=3, help="slices of each load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--warm-up-seconds", type=float, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = recreate_postgres_database(postgres_server(), DATABASE)
    env = {
        "GDSI_CELERY_QUEUE": f"bench-survey-{uuid.uuid4().hex}",
        "GDSI_TRUSTED_PROXIES": "1",
        "GDSI_PATIENT_MIN_FILL_SECONDS": "0",  # the clients answer faster than any person
        "GDSI_RATELIMIT_PREFIX": f"bench-{uuid.uuid4().hex}",
    }
    try:
        prepare(database_url)
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="gdsi-bench-survey-") as folder:
            os.environ["MEDIA_ROOT"] = folder  # the PDF snapshots of this run
            log = Path(folder) / "gunicorn.log"
            with (
                gunicorn(database_url, port, args.workers, args.threads, log, env),
                snapshot_worker(database_url, env, log) as worker,
            ):
                survey, insert = asyncio.run(measure(port, args))
                drained = wait_for_snapshots(worker)
            status = report(survey, insert, args, sent_reports())
            print(f"  PDF snapshots: {drained}")
            if status and log.exists():
                print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_postgres_database(database_url)
    sys.exit(status)


if __name__ == "__main__":
    main()
