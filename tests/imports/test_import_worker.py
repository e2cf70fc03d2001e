"""Imports through Redis and real Celery worker processes, including a worker killed with
SIGKILL in the middle of a commit: the commit is one transaction, so nothing of it remains,
and the sweeper hands the job to another worker, which commits it exactly once.

The worker reads the data this test committed, so the test uses `transactional_db` on
PostgreSQL and points the worker at pytest's test database and media folder.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cases.conftest import context
from django.conf import settings
from worker_helpers import start_worker as start_celery_worker
from worker_helpers import stop_workers, worker_database_url

from casereports.audit import verify_chain
from casereports.imports import services
from casereports.imports.models import ImportStatus, RowImport
from casereports.models import AuditEvent, Case
from imports.helpers import csv_bytes, records

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 2

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(redis_url, media_root, tmp_path):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.fail("REDIS_URL is set but the settings still run tasks in-process")
    database_url = worker_database_url()
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(media_root),
            "GDSI_IMPORT_STALE_SECONDS": str(STALE_SECONDS),
            "GDSI_IMPORT_SWEEP_SECONDS": "1",
        }
        worker = start_celery_worker(env, tmp_path / f"beat-{len(started)}")
        started.append(worker)
        return worker

    yield start
    stop_workers(started)


def wait_for(job: RowImport, done, *, timeout: float) -> RowImport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done(job):
            return job
        time.sleep(0.05)
    pytest.fail(f"import #{job.pk} is {job.status} ({job.rows_done} rows) after {timeout} s")


def test_a_worker_killed_mid_commit_leaves_nothing_and_the_job_commits_once_later(
    start_worker, manager_a, site_a
):
    worker = start_worker()
    content = csv_bytes(records(20_000))
    job = services.start_import(
        context(manager_a),
        site=site_a,
        upload=io.BytesIO(content),
        original_name="big.csv",
        report_source="clinicians",
        channel="api",
    )
    job = wait_for(
        job, lambda j: j.status in (ImportStatus.READY, ImportStatus.FAILED), timeout=120
    )
    assert job.status == ImportStatus.READY, job.error
    assert job.counts["new"] == 20_000

    services.request_commit(context(manager_a), job)
    wait_for(job, lambda j: j.status == ImportStatus.COMMITTING, timeout=60)
    time.sleep(1.5)  # well into writing: the commit of 20,000 records takes several seconds
    assert RowImport.objects.get(pk=job.pk).status == ImportStatus.COMMITTING
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    assert Case.objects.filter(site=site_a).count() == 0  # nothing half-applied
    assert not AuditEvent.objects.filter(action="case.created").exists()
    assert verify_chain().intact

    start_worker()  # its sweeper sees the silent job and sends it again
    job = wait_for(job, lambda j: j.status in (ImportStatus.DONE, ImportStatus.FAILED), timeout=180)
    assert job.status == ImportStatus.DONE, job.error
    assert job.attempts == 3  # validate, the killed commit, the commit that finished
    assert Case.objects.filter(site=site_a).count() == 20_000
    assert AuditEvent.objects.filter(action="case.created").count() == 20_000
    assert AuditEvent.objects.filter(action="import.committed").count() == 1
    assert verify_chain().intact
