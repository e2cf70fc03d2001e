"""The export page, its progress JSON, downloads by expiring signed links, and the admin pages.

Jobs run by calling `exports.tasks.run_export(job.id)` after the request (in a test the
request's transaction never commits, so no task is sent; with REDIS_URL set none could run).
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (dictionary, sites, users)
from cases.conftest import context
from cases.helpers import submitted_case
from django.core import signing
from helpers_auth import verified_login

from casereports.models import AuditEvent, Membership
from exports import services
from exports.downloads import LINK_SALT, link_token
from exports.models import DeliveryTarget, ExportJob, JobStatus, ScheduledExport
from exports.profiles import PROFILES
from exports.tasks import run_export

pytestmark = pytest.mark.django_db

LINK = re.compile(r"^/exports/(\d+)/file/([^/]+)/$")


@pytest.fixture
def administrator(make_user, site_a):
    user = make_user("admin-1", "administrator", site_a)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def cases_a(core_version, clinician_a, site_a):
    return [submitted_case(clinician_a, site_a) for _ in range(3)]


def finished(job: ExportJob) -> ExportJob:
    run_export(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def request_job(user, **filters) -> ExportJob:
    return services.request_export(
        context(user), profile=filters.pop("profile", "central"), **filters
    )


def denials(user) -> list[str]:
    events = AuditEvent.objects.filter(action="permission.denied", actor=user).order_by("id")
    return [event.details["attempted"] for event in events]


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


# --- the page -----------------------------------------------------------------------------


def test_an_exporter_asks_for_an_export_and_follows_it_to_done(
    client, exporter_a, cases_a, site_a, site_b
):
    verified_login(client, exporter_a)
    page = client.get("/exports/")
    text = page.content.decode()
    assert page.status_code == 200
    for profile in PROFILES.values():
        assert profile.description in text
    assert "site-a" in text and "site-b" not in text  # only the sites they may export
    assert 'href="/exports/"' in text  # the navigation offers Exports

    sent = client.post("/exports/", {"profile": "central", "statuses": ["submitted"]})
    assert sent.status_code == 302
    job = ExportJob.objects.get(requested_by=exporter_a)
    assert job.filters["sites"] == [site_a.pk] and job.filters["statuses"] == ["submitted"]

    listed = client.get("/exports/").content.decode()
    assert f'data-job-id="{job.pk}"' in listed and "Queued" in listed
    assert client.get(f"/exports/{job.pk}/status.json").json()["status"] == "queued"

    finished(job)
    status = client.get(f"/exports/{job.pk}/status.json").json()
    assert status["status"] == "done" and status["progress"] == 100 and status["finished"]
    assert status["sha256"] == job.sha256 and status["row_counts"]["core_clinicians.csv"] == 3
    assert status["download_url"] == f"/exports/{job.pk}/download/"
    done_page = client.get("/exports/").content.decode()
    assert job.sha256 in done_page and "Download" in done_page


def test_the_page_has_no_inline_script_or_style(client, exporter_a, cases_a):
    finished(request_job(exporter_a))
    verified_login(client, exporter_a)
    text = client.get("/exports/").content.decode()
    assert "style=" not in text
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text))
    assert "casereports/exports" in text  # the progress script


def test_a_refused_request_names_the_field_and_makes_no_job(client, exporter_a, site_b):
    verified_login(client, exporter_a)
    dates = client.post(
        "/exports/", {"profile": "central", "date_from": "2021-05-01", "date_to": "2021-04-01"}
    )
    assert dates.status_code == 400 and "Reported until" in dates.content.decode()
    other_site = client.post("/exports/", {"profile": "central", "sites": [site_b.pk]})
    assert other_site.status_code == 403
    assert "site-b" in other_site.content.decode()
    assert not ExportJob.objects.exists()
    assert AuditEvent.objects.filter(
        action="permission.denied", actor=exporter_a, site=site_b
    ).exists()


def test_a_clinician_gets_no_export_page_and_the_attempt_is_on_record(
    client, clinician_a, exporter_a, cases_a
):
    job = finished(request_job(exporter_a))
    verified_login(client, clinician_a)
    assert 'href="/exports/"' not in client.get("/cases/").content.decode()
    assert client.get("/exports/").status_code == 403
    assert client.post("/exports/", {"profile": "central"}).status_code == 403
    assert client.get(f"/exports/{job.pk}/download/").status_code == 403
    assert denials(clinician_a) == ["exports page", "exports page", "download"]
    assert not ExportJob.objects.filter(requested_by=clinician_a).exists()


def test_an_exporter_can_cancel_a_queued_job(client, exporter_a, core_version):
    job = request_job(exporter_a)
    verified_login(client, exporter_a)
    assert client.post(f"/exports/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert 'data-role="download" hidden' in client.get("/exports/").content.decode()


def export_urls(job: ExportJob, owner) -> list[tuple[str, str]]:
    """(method, url) of every export page (names from exports/urls.py)."""
    return [
        ("get", "/exports/"),
        ("post", "/exports/"),
        ("get", f"/exports/{job.pk}/status.json"),
        ("post", f"/exports/{job.pk}/cancel/"),
        ("get", f"/exports/{job.pk}/download/"),
        ("get", f"/exports/{job.pk}/file/{link_token(job, owner)}/"),
    ]


def test_the_persona_checks_cover_every_export_page(exporter_a, core_version):
    from django.urls import resolve

    from exports.urls import urlpatterns

    job = request_job(exporter_a)
    checked = {resolve(url).url_name for _, url in export_urls(job, exporter_a)}
    # The federated pages' personas are in test_feeds.py and test_federated_upload.py.
    names = {pattern.name for pattern in urlpatterns}
    assert checked == {name for name in names if not name.startswith(("feed", "federated"))}


def test_anonymous_users_are_sent_to_log_in_from_every_export_page(client, exporter_a, cases_a):
    job = finished(request_job(exporter_a))
    for method, url in export_urls(job, exporter_a):
        response = getattr(client, method)(url, {"profile": "central"} if method == "post" else {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


@pytest.mark.parametrize("role", ["clinician", "site_manager", "analyst", "central_data_manager"])
def test_roles_without_the_export_right_are_refused_every_export_page_on_record(
    client, make_user, site_a, exporter_a, cases_a, role
):
    job = finished(request_job(exporter_a))
    user = make_user(f"no-export-{role}", role, site_a)
    verified_login(client, user)
    urls = export_urls(job, exporter_a)
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 403, url
    assert len(denials(user)) == len(urls)
    assert not AuditEvent.objects.filter(action__startswith="export.", actor=user).exists()
    job.refresh_from_db()
    assert job.status == JobStatus.DONE


# --- downloads ----------------------------------------------------------------------------


def test_download_redirects_to_a_signed_link_that_streams_the_zip_on_record(
    client, exporter_a, cases_a
):
    job = finished(request_job(exporter_a))
    verified_login(client, exporter_a)
    redirect = client.get(f"/exports/{job.pk}/download/")
    assert redirect.status_code == 302
    match = LINK.match(redirect["Location"])
    assert match and int(match.group(1)) == job.pk

    response = client.get(redirect["Location"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    # On record before the first byte is read.
    event = AuditEvent.objects.get(action="export.downloaded")
    assert event.actor == exporter_a and event.channel == "web"
    assert event.details["job"] == job.pk
    body = streamed(response)
    assert hashlib.sha256(body).hexdigest() == job.sha256
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()


def test_another_exporter_cannot_download_someone_elses_job(
    client, exporter_a, other_exporter, cases_a
):
    job = finished(request_job(exporter_a))
    owners_link = f"/exports/{job.pk}/file/{link_token(job, exporter_a)}/"
    verified_login(client, other_exporter)
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    assert client.get(owners_link).status_code == 404
    assert client.get(f"/exports/{job.pk}/status.json").status_code == 404
    assert f'data-job-id="{job.pk}"' not in client.get("/exports/").content.decode()
    assert denials(other_exporter) == [f"download export #{job.pk}"] * 2 + [
        f"status of export #{job.pk}"
    ]
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_a_link_made_for_one_user_does_not_work_for_another(
    client, exporter_a, administrator, cases_a
):
    job = finished(request_job(exporter_a))
    verified_login(client, administrator)  # may see the job, but the link is the exporter's
    refused = client.get(f"/exports/{job.pk}/file/{link_token(job, exporter_a)}/")
    assert refused.status_code == 403
    assert "made for another user" in refused.content.decode()
    assert denials(administrator) == [f"download export #{job.pk}: link other_user"]


def test_an_expired_link_is_refused_with_a_clear_message_and_on_record(
    client, exporter_a, cases_a, settings, monkeypatch
):
    job = finished(request_job(exporter_a))
    settings.GDSI_DOWNLOAD_LINK_SECONDS = 60
    with monkeypatch.context() as past:
        past.setattr(time, "time", lambda: 1_000_000_000.0)  # a link made in 2001
        token = link_token(job, exporter_a)
    verified_login(client, exporter_a)
    refused = client.get(f"/exports/{job.pk}/file/{token}/")
    assert refused.status_code == 403
    text = refused.content.decode()
    assert "expired" in text and "1 minute" in text
    assert denials(exporter_a) == [f"download export #{job.pk}: link expired"]
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_an_altered_link_is_refused(client, exporter_a, cases_a):
    job = finished(request_job(exporter_a))
    verified_login(client, exporter_a)
    token = link_token(job, exporter_a)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_salt = signing.TimestampSigner(salt="another-purpose").sign(f"{job.pk}.{exporter_a.pk}")
    for bad in (altered, other_salt):
        refused = client.get(f"/exports/{job.pk}/file/{bad}/")
        assert refused.status_code == 403 and "not valid" in refused.content.decode()
    assert LINK_SALT != "another-purpose"
    assert denials(exporter_a) == [f"download export #{job.pk}: link invalid"] * 2


def test_losing_the_export_right_withdraws_the_file(client, exporter_a, cases_a, site_a):
    job = finished(request_job(exporter_a))
    verified_login(client, exporter_a)
    link = client.get(f"/exports/{job.pk}/download/")["Location"]
    Membership.objects.filter(user=exporter_a).update(role="analyst")
    assert client.get(link).status_code == 403
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_an_administrator_sees_and_downloads_every_job(client, exporter_a, administrator, cases_a):
    job = finished(request_job(exporter_a))
    verified_login(client, administrator)
    page = client.get("/exports/").content.decode()
    assert f'data-job-id="{job.pk}"' in page and "exporter-a" in page
    link = client.get(f"/exports/{job.pk}/download/")["Location"]
    body = streamed(client.get(link))
    assert hashlib.sha256(body).hexdigest() == job.sha256
    assert AuditEvent.objects.get(action="export.downloaded").actor == administrator


# --- admin --------------------------------------------------------------------------------


def test_the_export_admin_pages_load_for_an_administrator(
    client, administrator, exporter_a, cases_a
):
    job = finished(request_job(exporter_a))
    verified_login(client, administrator)
    for url in (
        "/admin/exports/exportjob/",
        f"/admin/exports/exportjob/{job.pk}/change/",
        "/admin/exports/deliverytarget/",
        "/admin/exports/deliverytarget/add/",
        "/admin/exports/deliveryattempt/",
        "/admin/exports/scheduledexport/",
        "/admin/exports/scheduledexport/add/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/exports/exportjob/add/").status_code == 403
    assert (
        client.post(f"/admin/exports/exportjob/{job.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert ExportJob.objects.filter(pk=job.pk).exists()


def test_an_administrator_sets_up_a_weekly_schedule_and_a_target_in_the_admin(
    client, administrator, exporter_a, site_a
):
    verified_login(client, administrator)
    added = client.post(
        "/admin/exports/deliverytarget/add/",
        {
            "name": "central",
            "kind": "https",
            "url": "https://central.example.org/in",
            "secret": "the-signing-secret",
            "enabled": "on",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    target = DeliveryTarget.objects.get(name="central")
    assert target.secret == "the-signing-secret"
    for url in (
        "/admin/exports/deliverytarget/",
        f"/admin/exports/deliverytarget/{target.pk}/change/",
    ):
        page = client.get(url).content.decode()
        assert "the-signing-secret" not in page, url
    assert "•••••••• (set)" in client.get("/admin/exports/deliverytarget/").content.decode()

    scheduled = client.post(
        "/admin/exports/scheduledexport/add/",
        {
            "name": "weekly central",
            "requested_by": exporter_a.pk,
            "profile": "central",
            "every_days": "7",
            "enabled": "on",
            "sites": [site_a.pk],
            "statuses": ["submitted"],
            "targets": [target.pk],
        },
    )
    assert scheduled.status_code == 302, scheduled.content.decode()[:2000]
    schedule = ScheduledExport.objects.get(name="weekly central")
    assert schedule.filters == {
        "sites": [site_a.pk],
        "report_sources": [],
        "statuses": ["submitted"],
    }
    assert list(schedule.targets.all()) == [target]


def test_the_schedule_admin_refuses_a_user_without_the_export_right(
    client, administrator, clinician_a
):
    verified_login(client, administrator)
    refused = client.post(
        "/admin/exports/scheduledexport/add/",
        {"name": "weekly", "requested_by": clinician_a.pk, "profile": "central", "every_days": "7"},
    )
    assert refused.status_code == 200 and not ScheduledExport.objects.exists()


def test_a_superuser_without_the_administrator_role_sees_no_export_admin(client, make_user):
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    verified_login(client, root)
    assert client.get("/admin/exports/exportjob/").status_code == 403
    assert "exportjob" not in client.get("/admin/").content.decode()
