"""The HTTP benchmarks' server side: PostgreSQL to bench on, a free port, and gunicorn serving
the app with the bench URLs (bench/bench_settings.py) until the block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from benchdb import is_postgres

HERE = Path(__file__).resolve().parent
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


def fail(message: str, status: int) -> None:
    print(message, file=sys.stderr)
    sys.exit(status)


def postgres_server() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    url = configured if is_postgres(configured) else LOCAL_POSTGRES
    import psycopg

    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
    except psycopg.OperationalError as problem:
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else problem
        fail(f"needs PostgreSQL (set DATABASE_URL); cannot connect: {first_line}", 2)
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(
    database_url: str, port: int, workers: int, threads: int, log: Path, env: dict | None = None
):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: no collectstatic for a bench
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "gdsi.wsgi:application",
        "--pythonpath", str(HERE),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--error-logfile", str(log),
    ]  # fmt: skip
    with log.open("ab") as output:  # the app's own errors go there too, not to the report
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", process, log)
        yield
    finally:
        process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop of its own workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    fail(f"gunicorn did not start serving {url}\n{tail}", 1)
