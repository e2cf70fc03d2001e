"""Real Celery worker processes for tests: on pytest's own PostgreSQL test database (the
worker must read what the test committed), stopped at the end of the test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def worker_database_url() -> str:
    if connection.vendor != "postgresql":
        # Never a silent skip in CI: tests/conftest.py refuses to run CI on anything else.
        pytest.skip("worker tests share the test database with a worker: run on PostgreSQL")
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "postgres", safe="")
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def start_worker(env: dict[str, str], beat_schedule: Path | None = None) -> subprocess.Popen:
    """A worker (solo pool) with `env` over this process's environment; with a schedule
    file, it also runs Celery beat (the sweepers)."""
    command = [sys.executable, "-m", "celery", "-A", "gdsi", "worker", "--pool", "solo"]
    command += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if beat_schedule is not None:
        command += ["--beat", "--schedule", str(beat_schedule)]
    # A session of its own: the beat process the worker forks outlives a worker the test
    # kills, and is stopped with the whole group at the end.
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        _signal_group(worker, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        _signal_group(worker, signal.SIGKILL)  # whatever of the group is left (a beat)


def _signal_group(worker: subprocess.Popen, sign: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, sign)
