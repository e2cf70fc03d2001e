"""Export jobs as rows: requested through the service, run by the task (called directly, in this
process: with REDIS_URL set the broker is never involved here; tests/exports/test_worker.py
covers the real worker).

`request_export` enqueues only after its transaction commits, which a test's transaction never
does, so no message is ever sent from these tests."""

import csv
import io
import threading
from datetime import timedelta

import pytest
from cases.conftest import context
from celery.exceptions import Retry
from django.conf import settings
from django.db import connections
from django.utils import timezone

from casereports.models import AuditEvent, CaseStatus
from casereports.services.cases import NotAllowed
from casereports.services.dictionaries import dictionary_of
from exports import services, tasks
from exports.deidentify import Deidentifier
from exports.models import ExportJob, JobStatus
from exports.profiles import profile_named
from exports.writer import write_export

pytestmark = pytest.mark.django_db


def request(user, **filters) -> ExportJob:
    filters.setdefault("profile", "central")
    return services.request_export(context(user), **filters)


def exported_ids(members: dict[str, bytes], record_id: str) -> list[str]:
    rows = csv.DictReader(io.StringIO(members["redcap_records.csv"].decode("utf-8")))
    return [row[record_id] for row in rows]


def pseudonyms(version, names, profile="central") -> set[str]:
    deidentifier = Deidentifier(
        dictionary_of(version), profile_named(profile), settings.GDSI_EXPORT_KEY.encode()
    )
    return {deidentifier.pseudonym(name) for name in names}


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_a_requested_export_runs_to_done_and_its_file_matches_the_job_and_the_manifest(
    exporter_a,
    site_a,
    make_cases,
    export_dir,
    core_version,
    read_export,
    django_capture_on_commit_callbacks,
):
    clinicians = make_cases(site_a, 30, report_source="clinicians")
    patients = make_cases(site_a, 12, report_source="patients")
    make_cases(site_a, 5, status=CaseStatus.DRAFT)  # not submitted: not in a default export

    with django_capture_on_commit_callbacks() as sent:
        job = request(exporter_a)
    assert len(sent) == 1, "the task is sent once, after the request commits"
    assert job.status == JobStatus.QUEUED
    assert job.filters == {
        "sites": [site_a.pk],
        "report_sources": ["clinicians", "patients"],
        "statuses": ["submitted", "locked"],
        "date_from": "",
        "date_to": "",
    }
    assert job.dictionary_version == core_version

    assert tasks.run_export(job.pk) == "done"

    manifest, members = read_export(job)
    assert job.file_path == f"{job.pk}/export_{job.pk}.zip"
    assert (export_dir / job.file_path).is_file()
    assert job.row_counts == {"core_clinicians.csv": 30, "core_patients.csv": 12,
                              "redcap_records.csv": 42}  # fmt: skip
    assert manifest["row_counts"] == job.row_counts
    assert manifest["job_id"] == job.pk
    assert manifest["filters"] == job.filters
    assert manifest["dictionary_version"]["content_hash"] == core_version.content_hash
    assert job.manifest == manifest
    assert job.rows_total == job.rows_done == 42
    assert job.attempts == 1 and job.started_at and job.finished_at and not job.error
    assert set(exported_ids(members, "secret_name")) == pseudonyms(
        core_version, clinicians + patients
    )
    [requested] = events("export.requested")
    assert requested.actor_username == "exporter-a"
    assert requested.details["job"] == job.pk
    [finished] = events("export.finished")
    assert finished.details["job"] == job.pk and finished.details["sha256"] == job.sha256


def test_an_exporter_of_site_a_gets_only_site_a_and_asking_for_site_b_is_refused_and_audited(
    exporter_a, site_a, site_b, make_cases, core_version, read_export
):
    at_a = make_cases(site_a, 8)
    make_cases(site_b, 9)

    job = request(exporter_a)
    tasks.run_export(job.pk)
    _, members = read_export(job)
    assert set(exported_ids(members, "secret_name")) == pseudonyms(core_version, at_a)

    with pytest.raises(NotAllowed) as refused:
        request(exporter_a, sites=[site_a, site_b])
    assert "site-b" in refused.value.message
    denial = AuditEvent.objects.get(action="permission.denied", actor_username="exporter-a")
    assert denial.site == site_b
    assert ExportJob.objects.count() == 1


def test_an_administrator_exports_every_site(administrator, site_a, site_b, make_cases):
    make_cases(site_a, 3)
    make_cases(site_b, 4)
    job = request(administrator, sites=None)
    assert job.filters["sites"] == [site_a.pk, site_b.pk]
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.row_counts["redcap_records.csv"] == 7


def test_a_clinician_cannot_export_and_the_refusal_is_audited(clinician_a, site_a, make_cases):
    make_cases(site_a, 3)
    with pytest.raises(NotAllowed):
        request(clinician_a)
    with pytest.raises(NotAllowed):
        request(clinician_a, sites=[site_a])
    assert ExportJob.objects.count() == 0
    denials = AuditEvent.objects.filter(action="permission.denied", actor_username="clin-a")
    assert denials.count() == 2


@pytest.mark.parametrize("profile", ["central", "open"])
def test_cases_whose_patient_withdrew_consent_are_in_no_export(
    profile, exporter_a, site_a, make_cases, core_version, read_export
):
    kept = make_cases(site_a, 20, sex="female")
    withdrawn = make_cases(site_a, 6, consent_withdrawn=True, seed=7)
    job = request(exporter_a, profile=profile)
    tasks.run_export(job.pk)
    _, members = read_export(job)
    ids = set(exported_ids(members, "secret_name"))
    assert ids == pseudonyms(core_version, kept, profile)
    assert not ids & pseudonyms(core_version, withdrawn, profile)
    assert job.rows_total == 20


def test_running_the_task_twice_leaves_one_file_and_one_finished_event(
    exporter_a, site_a, make_cases, export_dir
):
    make_cases(site_a, 10)
    job = request(exporter_a)
    assert tasks.run_export(job.pk) == "done"
    job.refresh_from_db()
    first_sha = job.sha256
    assert tasks.run_export(job.pk) == "skipped"
    job.refresh_from_db()
    assert job.sha256 == first_sha and job.attempts == 1
    assert [p.name for p in (export_dir / str(job.pk)).iterdir()] == [f"export_{job.pk}.zip"]
    assert len(events("export.finished")) == 1


def test_a_failing_writer_leaves_the_job_failed_with_a_readable_error_and_no_file(
    exporter_a, site_a, make_cases, export_dir, monkeypatch
):
    make_cases(site_a, 40)

    def failing_writer(**arguments):
        real = arguments["records"]

        def records():
            for number, record in enumerate(real()):
                if number == 25:
                    raise RuntimeError("a value no one may read: Jane Doe")
                yield record

        return write_export(**{**arguments, "records": records})

    monkeypatch.setattr(tasks, "write_export", failing_writer)
    job = request(exporter_a)
    assert tasks.run_export(job.pk) == "failed"

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "The export failed (RuntimeError); the worker's log has the details."
    assert not job.file_path and not job.sha256 and job.finished_at
    assert list((export_dir / str(job.pk)).iterdir()) == []
    [failed] = events("export.failed")
    assert failed.details["job"] == job.pk and "Jane" not in str(failed.details)
    assert not events("export.finished")


def test_a_transient_failure_is_retried_and_then_recorded_as_failed(
    exporter_a, site_a, make_cases, export_dir, settings
):
    make_cases(site_a, 5)
    settings.GDSI_EXPORT_DIR = export_dir / "not-a-directory"
    export_dir.mkdir()
    settings.GDSI_EXPORT_DIR.write_text("a file where the export folder should be")
    job = request(exporter_a)

    with pytest.raises(Retry):
        tasks.run_export.apply(args=[job.pk])  # as a worker would run it: sent again later
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and not job.error

    with pytest.raises(OSError):
        tasks.run_export.apply(args=[job.pk], retries=tasks.MAX_RETRIES)  # the last try
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 2
    assert job.error == "The export file could not be written: Not a directory."
    assert events("export.failed")[0].details["error"] == job.error

    settings.GDSI_EXPORT_DIR.unlink()
    retried = request(exporter_a)
    assert tasks.run_export(retried.pk) == "done"


def test_a_stale_file_of_a_dead_attempt_is_removed_before_the_export_starts(
    exporter_a, site_a, make_cases, export_dir, read_export
):
    make_cases(site_a, 5)
    job = request(exporter_a)
    directory = export_dir / str(job.pk)
    directory.mkdir(parents=True)
    (directory / f"export_{job.pk}.attempt1.partial").write_bytes(b"half a zip")
    (directory / f"export_{job.pk}.zip").write_bytes(b"not this job's file")
    tasks.run_export(job.pk)
    read_export(job)
    assert sorted(p.name for p in directory.iterdir()) == [f"export_{job.pk}.zip"]


def test_a_job_is_claimed_once_and_a_silent_worker_loses_it(exporter_a, site_a, make_cases):
    make_cases(site_a, 5)
    job = request(exporter_a)
    claimed = services.claim_job(job.pk)
    assert claimed.status == JobStatus.RUNNING and claimed.attempts == 1
    assert services.claim_job(job.pk) is None, "a live worker holds it"
    assert tasks.run_export(job.pk) == "skipped"

    stale = timezone.now() - timedelta(seconds=settings.GDSI_EXPORT_STALE_SECONDS + 1)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    assert tasks.run_export(job.pk) == "done"
    job.refresh_from_db()
    assert job.attempts == 2
    # The first worker, had it survived, can change nothing any more.
    assert not services.mark_progress(job.pk, 1, 3)
    assert not services.mark_failed(context(None), job.pk, 1, "late")
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and len(events("export.finished")) == 1


def test_the_sweeper_resends_silent_running_jobs_and_lost_queued_ones_once_a_period(
    exporter_a, core_version
):
    long_ago = timezone.now() - timedelta(seconds=settings.GDSI_EXPORT_STALE_SECONDS + 5)
    silent = request(exporter_a)
    services.claim_job(silent.pk)
    lost = request(exporter_a)
    fresh = request(exporter_a)
    finished = request(exporter_a)
    ExportJob.objects.filter(pk__in=[silent.pk, lost.pk]).update(heartbeat_at=long_ago)
    ExportJob.objects.filter(pk=finished.pk).update(status=JobStatus.DONE, heartbeat_at=long_ago)

    assert sorted(services.jobs_to_resend()) == sorted([silent.pk, lost.pk])
    assert fresh.pk not in services.jobs_to_resend()
    assert services.jobs_to_resend() == [silent.pk], "the queued one was just re-sent"


def test_a_cancelled_job_is_not_run_and_a_finished_one_cannot_be_cancelled(
    exporter_a, site_a, make_cases, export_dir
):
    make_cases(site_a, 3)
    job = request(exporter_a)
    services.cancel_export(context(exporter_a), job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert tasks.run_export(job.pk) == "skipped"
    assert not (export_dir / str(job.pk)).exists()
    assert events("export.cancelled")[0].details == {"job": job.pk}

    done = request(exporter_a)
    tasks.run_export(done.pk)
    with pytest.raises(services.ExportFinished):
        services.cancel_export(context(exporter_a), done)


def test_another_sites_exporter_cannot_cancel(exporter_a, make_user, site_b, core_version):
    job = request(exporter_a)
    with pytest.raises(NotAllowed):
        services.cancel_export(context(make_user("exporter-b", "exporter", site_b)), job)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


@pytest.mark.parametrize(
    ("filters", "field", "message"),
    [
        ({"profile": "everything"}, "profile", "'everything' is not a profile"),
        ({"date_from": "2020-13-01"}, "date_from", "'2020-13-01' is not a date (YYYY-MM-DD)"),
        ({"date_to": "1 May 2020"}, "date_to", "'1 May 2020' is not a date (YYYY-MM-DD)"),
        ({"date_from": "2021-01-02", "date_to": "2021-01-01"}, "date_to", "is before date_from"),
        ({"statuses": ["final"]}, "statuses", "'final' is not one of draft, submitted, locked"),
        ({"report_sources": ["registry"]}, "report_sources", "'registry' is not one of"),
        ({"sites": [987654]}, "sites", "there is no site with id 987654"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_field(exporter_a, filters, field, message):
    with pytest.raises(services.InvalidExportRequest) as refused:
        request(exporter_a, **filters)
    assert refused.value.message.startswith(f"{field}: ")
    assert message in refused.value.errors[field][0]
    assert ExportJob.objects.count() == 0


def test_the_date_range_is_on_the_date_reported(exporter_a, site_a, make_cases, core_version):
    make_cases(site_a, 2, covid19_date_reporting="2020-03-31")
    inside = make_cases(site_a, 3, covid19_date_reporting="2020-04-01", seed=1)
    inside += make_cases(site_a, 2, covid19_date_reporting="2020-06-30", seed=2)
    make_cases(site_a, 4, covid19_date_reporting="2020-07-01", seed=3)
    job = request(exporter_a, date_from="2020-04-01", date_to="2020-06-30", statuses=["submitted"])
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.rows_total == len(inside) == job.row_counts["redcap_records.csv"]


@pytest.mark.django_db(transaction=True)
def test_a_job_cancelled_while_it_runs_stops_and_leaves_no_file(
    exporter_a, site_a, make_cases, export_dir, monkeypatch
):
    """The cancel comes from another connection (a web request), as it would in production.
    Here the request really commits, so its task message is held back: the test runs it."""
    monkeypatch.setattr(services, "enqueue", lambda job_id: None)
    make_cases(site_a, 2500)
    job = request(exporter_a)

    def cancel_elsewhere():
        try:
            services.cancel_export(context(exporter_a), job)
        finally:
            connections.close_all()

    def writer_cancelled_midway(**arguments):
        real = arguments["records"]

        def records():
            for number, record in enumerate(real()):
                if number == 1200:  # between two progress updates
                    request_thread = threading.Thread(target=cancel_elsewhere)
                    request_thread.start()
                    request_thread.join()
                yield record

        return write_export(**{**arguments, "records": records})

    monkeypatch.setattr(tasks, "write_export", writer_cancelled_midway)
    assert tasks.run_export(job.pk) == "lost"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.file_path
    assert list((export_dir / str(job.pk)).iterdir()) == []
    assert events("export.cancelled") and not events("export.finished")
    assert not events("export.failed")
