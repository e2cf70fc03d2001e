"""With REDIS_URL, tasks go through Redis to a real Celery worker process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def celery_worker(redis_url):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.fail("REDIS_URL is set but the settings still run tasks in-process")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gdsi",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
    )
    yield worker
    worker.terminate()
    worker.wait(timeout=30)


def test_a_task_round_trips_through_redis_and_a_worker(celery_worker):
    from gdsi.celery import ping

    result = ping.delay()
    assert result.get(timeout=60) == "pong"
    assert celery_worker.poll() is None, "the worker died"


def test_without_redis_tasks_run_in_process(settings):
    from gdsi.celery import app, ping

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        assert ping.delay().get() == "pong"
    finally:
        app.conf.task_always_eager = not os.environ.get("REDIS_URL")
