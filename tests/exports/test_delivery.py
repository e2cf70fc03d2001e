"""Push delivery (a real local HTTP endpoint, a real local S3 endpoint) and scheduled exports."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (dictionary, sites, users)
from cases.conftest import context
from cases.helpers import submitted_case
from django.utils import timezone

from casereports.models import AuditEvent, Membership
from exports import services
from exports.admin import DeliveryTargetForm
from exports.delivery import deliver_export, deliver_job, url_problem
from exports.downloads import job_file
from exports.models import DeliveryAttempt, DeliveryTarget, ExportJob, JobStatus, ScheduledExport
from exports.schedule import run_due_schedules
from exports.tasks import run_export
from gdsi.celery import app

pytestmark = pytest.mark.django_db

SECRET = "a-shared-signing-secret-for-tests-only"  # noqa: S105


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.GDSI_EXPORT_DIR = tmp_path / "exports"
    settings.GDSI_DELIVERY_BACKOFF_SECONDS = 0  # retries at once: no waiting in tests
    return settings.GDSI_EXPORT_DIR


@pytest.fixture
def cases_a(core_version, clinician_a, site_a):
    return [submitted_case(clinician_a, site_a) for _ in range(2)]


class Endpoint:
    """A local HTTP endpoint that checks each push's signature, as a receiver would."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                endpoint.received.append(
                    {
                        "path": self.path,
                        "body": body,
                        "headers": self.headers,  # names are case-insensitive
                        "signature_ok": hmac.compare_digest(
                            self.headers.get("X-GDSI-Signature", ""), f"sha256={expected}"
                        ),
                    }
                )
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gdsi/exports"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def scheduled_job(user, *targets: DeliveryTarget) -> ExportJob:
    """A finished job of a schedule that pushes to `targets`."""
    schedule = ScheduledExport.objects.create(name="weekly central", requested_by=user)
    schedule.targets.set(targets)
    job = services.request_export(context(user), profile="central", scheduled=schedule)
    run_export(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def https_target(url: str, name: str = "central platform") -> DeliveryTarget:
    return DeliveryTarget.objects.create(name=name, kind="https", url=url, secret=SECRET)


def nothing_reveals_the_secret() -> None:
    for attempt in DeliveryAttempt.objects.all():
        assert SECRET not in attempt.detail
    for event in AuditEvent.objects.all():
        assert SECRET not in str(event.details)


# --- HTTPS --------------------------------------------------------------------------------


def test_a_finished_scheduled_job_is_pushed_signed_to_its_https_target(exporter_a, cases_a):
    with Endpoint() as endpoint:
        target = https_target(endpoint.url)
        job = scheduled_job(exporter_a, target)
        outcomes = deliver_job(job)
        assert [outcome.delivered for outcome in outcomes] == [True]
        (push,) = endpoint.received
    assert push["signature_ok"]
    assert push["path"] == "/gdsi/exports"
    assert push["body"] == job_file(job).read_bytes()
    assert push["headers"]["X-GDSI-Job"] == str(job.pk)
    assert (
        push["headers"]["X-GDSI-SHA256"] == job.sha256 == hashlib.sha256(push["body"]).hexdigest()
    )
    attempt = DeliveryAttempt.objects.get(job=job)
    assert attempt.succeeded and attempt.detail == "HTTP 200" and attempt.target == target
    event = AuditEvent.objects.get(action="export.delivered")
    assert event.details["job"] == job.pk and event.details["target"] == "central platform"
    nothing_reveals_the_secret()


def test_the_export_task_queues_the_delivery_once_done_commits(
    exporter_a, cases_a, django_capture_on_commit_callbacks
):
    with Endpoint() as endpoint:
        schedule = ScheduledExport.objects.create(name="weekly", requested_by=exporter_a)
        schedule.targets.set([https_target(endpoint.url)])
        job = services.request_export(context(exporter_a), profile="central", scheduled=schedule)
        with django_capture_on_commit_callbacks() as after_commit:
            run_export(job.pk)
        # One callback: the delivery task's message. It is not run here (with REDIS_URL it
        # would go to a broker no worker reads in this test); the task it sends is run instead.
        assert len(after_commit) == 1
        assert deliver_export(job.pk) == 1
        assert len(endpoint.received) == 1


def test_delivering_again_sends_nothing_twice(exporter_a, cases_a):
    with Endpoint() as endpoint:
        job = scheduled_job(exporter_a, https_target(endpoint.url))
        deliver_job(job)
        assert deliver_job(job) == []
        assert len(endpoint.received) == 1
    assert DeliveryAttempt.objects.filter(job=job).count() == 1


def test_a_failing_endpoint_is_tried_three_times_and_each_try_is_on_record(exporter_a, cases_a):
    with Endpoint(status=503) as endpoint:
        job = scheduled_job(exporter_a, https_target(endpoint.url))
        (outcome,) = deliver_job(job)
        assert len(endpoint.received) == 3
    assert not outcome.delivered and outcome.attempts == 3
    attempts = list(DeliveryAttempt.objects.filter(job=job))
    assert [(a.succeeded, a.detail) for a in attempts] == [(False, "HTTP 503")] * 3
    failures = AuditEvent.objects.filter(action="export.delivery_failed").order_by("id")
    assert [event.details["attempt"] for event in failures] == [1, 2, 3]
    nothing_reveals_the_secret()


def test_a_refusing_endpoint_is_not_asked_again(exporter_a, cases_a):
    with Endpoint(status=401) as endpoint:  # e.g. it does not accept our signature
        job = scheduled_job(exporter_a, https_target(endpoint.url))
        deliver_job(job)
        assert len(endpoint.received) == 1
    assert [a.detail for a in DeliveryAttempt.objects.filter(job=job)] == ["HTTP 401"]


def test_a_redirect_is_not_followed(exporter_a, cases_a):
    with Endpoint(status=302) as endpoint:
        job = scheduled_job(exporter_a, https_target(endpoint.url))
        (outcome,) = deliver_job(job)
        assert len(endpoint.received) == 1
    assert not outcome.delivered
    assert [a.detail for a in DeliveryAttempt.objects.filter(job=job)] == [
        "HTTP 302 (redirects are not followed)"
    ]


def test_an_endpoint_that_is_down_is_recorded_with_the_error(exporter_a, cases_a):
    with Endpoint() as endpoint:
        url = endpoint.url
    job = scheduled_job(exporter_a, https_target(url))  # nothing listens there any more
    (outcome,) = deliver_job(job)
    assert not outcome.delivered
    details = [a.detail for a in DeliveryAttempt.objects.filter(job=job)]
    assert len(details) == 3 and all(detail.startswith("error:") for detail in details)


def test_plain_http_is_refused_except_to_localhost_in_development(exporter_a, cases_a, settings):
    job = scheduled_job(exporter_a, https_target("http://receiver.example.org/in"))
    deliver_job(job)
    (attempt,) = DeliveryAttempt.objects.filter(job=job)
    assert not attempt.succeeded and attempt.detail.startswith("refused: only https://")
    assert url_problem("https://receiver.example.org/in") == ""
    assert url_problem("http://127.0.0.1:8080/in") == ""
    assert "user name or password" in url_problem("https://user:pw@receiver.example.org/")
    settings.PRODUCTION = True
    assert "use https" in url_problem("http://localhost:8080/in")


def test_jobs_asked_for_by_hand_are_pushed_nowhere(exporter_a, cases_a):
    with Endpoint() as endpoint:
        https_target(endpoint.url)
        job = services.request_export(context(exporter_a), profile="central")
        run_export(job.pk)
        job.refresh_from_db()
        assert deliver_job(job) == []
        assert endpoint.received == []


def test_the_target_form_keeps_the_secret_write_only():
    form = DeliveryTargetForm(
        data={"name": "x", "kind": "https", "url": "http://receiver.example.org/", "secret": "s"}
    )
    assert not form.is_valid() and "https" in form.errors["url"][0]
    created = DeliveryTargetForm(
        data={"name": "x", "kind": "https", "url": "https://receiver.example.org/", "secret": "s1"}
    )
    assert created.is_valid(), created.errors
    target = created.save()
    edit = DeliveryTargetForm(
        instance=target,
        data={"name": "x", "kind": "https", "url": "https://receiver.example.org/", "secret": ""},
    )
    assert "s1" not in str(edit["secret"])  # never rendered back
    assert edit.is_valid(), edit.errors
    assert edit.save().secret == "s1"  # an empty field keeps the secret


# --- S3 -----------------------------------------------------------------------------------


@pytest.fixture
def s3_endpoint():
    """moto's S3 server on a local port (a real HTTP S3 API, no AWS account)."""
    import boto3  # declared dependencies (pyproject): missing ones fail here, loudly
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",  # noqa: S106
    )
    client.create_bucket(Bucket="gdsi-inbox")
    yield url, client
    server.stop()


def test_a_finished_scheduled_job_is_stored_in_s3_compatible_storage(
    exporter_a, cases_a, s3_endpoint
):
    url, client = s3_endpoint
    target = DeliveryTarget.objects.create(
        name="s3 inbox",
        kind="s3",
        url=url,
        bucket="gdsi-inbox/weekly",
        access_key="test-access",
        secret="test-secret",  # noqa: S106
    )
    job = scheduled_job(exporter_a, target)
    (outcome,) = deliver_job(job)
    assert outcome.delivered
    key = f"weekly/gdsi-export-{job.pk}-central.zip"
    stored = client.get_object(Bucket="gdsi-inbox", Key=key)
    assert stored["Body"].read() == job_file(job).read_bytes()
    assert stored["Metadata"]["gdsi-sha256"] == job.sha256
    (attempt,) = DeliveryAttempt.objects.filter(job=job)
    assert attempt.succeeded and attempt.detail == f"stored s3://gdsi-inbox/{key}"
    assert "test-secret" not in str(AuditEvent.objects.get(action="export.delivered").details)


def test_wrong_s3_credentials_are_recorded_as_failed_tries(exporter_a, cases_a, s3_endpoint):
    url, _ = s3_endpoint
    target = DeliveryTarget.objects.create(
        name="s3 inbox", kind="s3", url=url, bucket="no-such-bucket", access_key="a", secret="b"
    )
    job = scheduled_job(exporter_a, target)
    (outcome,) = deliver_job(job)
    assert not outcome.delivered
    details = [a.detail for a in DeliveryAttempt.objects.filter(job=job)]
    assert details == ["error: S3 NoSuchBucket"] * 3


# --- schedules ----------------------------------------------------------------------------


def test_beat_looks_for_due_scheduled_exports():
    entry = app.conf.beat_schedule["exports: run scheduled exports"]
    assert entry["task"] == "exports.run_scheduled_exports"
    app.loader.import_default_modules()
    assert "exports.run_scheduled_exports" in app.tasks


def test_a_due_schedule_starts_an_export_as_its_user_once_a_period(exporter_a, site_a, cases_a):
    weekly = ScheduledExport.objects.create(
        name="weekly", requested_by=exporter_a, filters={"statuses": ["submitted"]}
    )
    assert weekly.every_days == 7
    (job,) = run_due_schedules()
    assert job.requested_by == exporter_a and job.scheduled_export == weekly
    assert job.filters["sites"] == [site_a.pk] and job.filters["statuses"] == ["submitted"]
    requested = AuditEvent.objects.get(action="export.requested")
    assert requested.actor == exporter_a and requested.channel == "task"
    assert run_due_schedules() == []  # not due again within the week
    weekly.refresh_from_db()
    week_later = weekly.last_run_at + timedelta(days=7)
    assert len(run_due_schedules(now=week_later)) == 1
    assert run_due_schedules(now=week_later + timedelta(days=6)) == []


def test_a_disabled_schedule_does_not_run(exporter_a, core_version):
    ScheduledExport.objects.create(name="off", requested_by=exporter_a, enabled=False)
    assert run_due_schedules() == []


def test_a_schedule_whose_user_lost_the_export_right_is_refused_on_record(exporter_a, core_version):
    schedule = ScheduledExport.objects.create(name="weekly", requested_by=exporter_a)
    Membership.objects.filter(user=exporter_a).update(role="analyst")
    assert run_due_schedules() == []
    assert not ExportJob.objects.exists()
    assert AuditEvent.objects.filter(action="permission.denied", actor=exporter_a).exists()
    schedule.refresh_from_db()
    assert schedule.last_run_at is not None  # not retried (and refused) every hour
    assert run_due_schedules(now=timezone.now() + timedelta(hours=1)) == []
