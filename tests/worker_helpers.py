"""Real Celery worker processes for tests: on pytest's own PostgreSQL test database (the
worker must read what the test committed), stopped at the end of the test."""

from __future__ import annotations

import os
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
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
