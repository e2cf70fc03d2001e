"""Export jobs through Redis and real Celery worker processes (not eager mode), including a
worker killed with SIGKILL in the middle of an export.

The worker is a subprocess that must read the data this test committed, so the tests use
`transactional_db` and point the worker's DATABASE_URL at pytest's test database. That needs
PostgreSQL (SQLite's test database lives in this process's memory); CI runs them there.
"""

import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cases.conftest import context
from django.conf import settings
from worker_helpers import start_worker as start_celery_worker
from worker_helpers import stop_workers, worker_database_url

from casereports.models import AuditEvent
from exports import services
from exports.models import ExportJob, JobStatus

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 3  # the workers' GDSI_EXPORT_STALE_SECONDS: a killed worker's job is re-sent soon
SWEEP_SECONDS = 1

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(redis_url, export_dir, tmp_path):
    """`start_worker(beat=False)`: a Celery worker process (solo pool) on the test database,
    writing to the test's export folder; with `beat`, it also runs the sweeper every second."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.fail("REDIS_URL is set but the settings still run tasks in-process")
    database_url = worker_database_url()
    started: list[subprocess.Popen] = []

    def start(*, beat: bool = False) -> subprocess.Popen:
        env = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "GDSI_EXPORT_DIR": str(export_dir),
            "GDSI_EXPORT_STALE_SECONDS": str(STALE_SECONDS),
            "GDSI_EXPORT_SWEEP_SECONDS": str(SWEEP_SECONDS),
        }
        schedule = tmp_path / f"beat-{len(started)}" if beat else None
        worker = start_celery_worker(env, schedule)
        started.append(worker)
        return worker

    yield start
    stop_workers(started)


def wait_for(job: ExportJob, done, *, timeout: float, worker=None) -> ExportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done(job):
            return job
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode}")
        time.sleep(0.02)
    pytest.fail(f"export #{job.pk} is {job.status} ({job.rows_done} rows) after {timeout} s")


def files_of(job: ExportJob, export_dir: Path) -> list[str]:
    directory = export_dir / str(job.pk)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_requested_job_goes_from_queued_to_done_in_a_worker_and_matches_its_manifest(
    start_worker, exporter_a, site_a, make_cases, export_dir, read_export
):
    make_cases(site_a, 50)
    worker = start_worker()
    job = services.request_export(context(exporter_a), profile="open")
    assert job.status == JobStatus.QUEUED

    job = wait_for(job, lambda j: j.status in (JobStatus.DONE, JobStatus.FAILED), timeout=90,
                   worker=worker)  # fmt: skip
    manifest, members = read_export(job)
    assert manifest["row_counts"] == job.row_counts
    assert job.row_counts["redcap_records.csv"] == 50 == job.rows_total == job.rows_done
    for name, described in manifest["files"].items():
        if name != "manifest.json":
            assert described["size"] == len(members[name])
    assert files_of(job, export_dir) == [f"export_{job.pk}.zip"]
    assert AuditEvent.objects.filter(action="export.finished").count() == 1


def test_a_worker_killed_mid_export_is_replaced_and_the_job_finishes_exactly_once(
    start_worker, exporter_a, site_a, make_cases, export_dir, read_export
):
    make_cases(site_a, 5000)
    first = start_worker()
    job = services.request_export(context(exporter_a), profile="central")

    job = wait_for(job, lambda j: j.status == JobStatus.RUNNING and j.rows_done > 0, timeout=90,
                   worker=first)  # fmt: skip
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING, "the export finished before the worker was killed"
    assert job.rows_done < job.rows_total
    left = files_of(job, export_dir)
    assert left and f"export_{job.pk}.zip" not in left, "the dead worker's unfinished files"

    second = start_worker(beat=True)  # its sweeper re-sends the silent job
    job = wait_for(job, lambda j: j.is_finished, timeout=120, worker=second)

    assert job.status == JobStatus.DONE, job.error
    assert job.attempts == 2
    manifest, _ = read_export(job)
    assert manifest["row_counts"]["redcap_records.csv"] == 5000
    assert files_of(job, export_dir) == [f"export_{job.pk}.zip"]
    assert AuditEvent.objects.filter(action="export.finished").count() == 1
    assert AuditEvent.objects.get(action="export.finished").details["attempt"] == 2


def test_a_feed_job_runs_in_a_worker_and_a_lost_one_is_picked_up_by_the_sweeper(
    start_worker, administrator, site_a, make_cases, export_dir
):
    from exports import feeds
    from exports.federated.result import read_result_zip
    from exports.models import FeedJob

    make_cases(site_a, 20)
    worker = start_worker(beat=True)
    job = feeds.request_feed(context(administrator), "exact")
    job = wait_for(job, lambda j: j.is_finished, timeout=90, worker=worker)
    assert job.status == JobStatus.DONE, job.error
    tables = read_result_zip(export_dir / job.file_path).tables_by_source
    assert sum(t.total() for t in tables.values()) == 20 == job.rows_done

    # A queued feed whose task message never reached the broker (Redis lost it).
    lost = FeedJob.objects.create(
        requested_by=administrator,
        variant="publication",
        threshold=5,
        filters=job.filters,
        dictionary_version=job.dictionary_version,
        heartbeat_at=job.created_at - timedelta(hours=1),
    )
    lost = wait_for(lost, lambda j: j.is_finished, timeout=90, worker=worker)
    assert lost.status == JobStatus.DONE, lost.error
    assert lost.suppressed_cells > 0
    assert AuditEvent.objects.filter(action="feed.finished").count() == 2


def test_a_sent_patient_reports_pdf_is_made_by_a_worker(
    start_worker, site_a, core_version, tmp_path, monkeypatch, settings
):
    """The submit answers at once; a worker makes the PDF snapshot from the answers as sent."""
    from django.test import Client
    from selfreport.journey import consent_to_all, fill_all, send

    from casereports.models import PatientReport, SelfReportProject
    from casereports.selfreport.services import install_shipped_consent

    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GDSI_PATIENT_MIN_FILL_SECONDS = 0
    install_shipped_consent()
    SelfReportProject.objects.create(site=site_a, is_default=True)
    worker = start_worker()
    patient = Client()
    consent_to_all(patient)
    fill_all(patient)
    send(patient)
    report = PatientReport.objects.get()
    deadline = time.monotonic() + 60
    while not report.snapshot and time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.1)
        report.refresh_from_db()
    assert report.snapshot, "no snapshot after 60 s"
    event = AuditEvent.objects.get(action="patient.snapshot_made")
    assert event.channel == "task" and event.details["sha256"] == report.snapshot_sha256
    assert (tmp_path / "media" / report.snapshot.name).read_bytes().startswith(b"%PDF")
    pdf = patient.get("/report/mine/pdf/")
    assert pdf.content == (tmp_path / "media" / report.snapshot.name).read_bytes()
