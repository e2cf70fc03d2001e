"""The exports API with real tokens: ask, list, follow, pull the zip; refusals in the API's one
error shape, each on record."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (dictionary, sites, users)
from cases.helpers import submitted_case
from rest_framework.test import APIClient

from casereports.models import AuditEvent
from exports.models import ExportJob
from exports.tasks import run_export

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/exports/"


@pytest.fixture
def central_platform(make_user, site_a):
    """The central platform's account: an exporter of site A, pulling with a token."""
    return make_user("central-platform", "exporter", site_a)


@pytest.fixture
def cases_a(core_version, clinician_a, site_a):
    return [submitted_case(clinician_a, site_a) for _ in range(2)]


def run(job_id: int) -> None:
    """The task, in this process (the request's transaction never commits in a test)."""
    run_export(job_id)


def denials(user) -> list[str]:
    events = AuditEvent.objects.filter(action="permission.denied", actor=user).order_by("id")
    return [event.details["attempted"] for event in events]


def test_the_central_platform_asks_follows_and_pulls_an_export(
    client_for, central_platform, cases_a, site_a
):
    api = client_for(central_platform)
    created = api.post(EXPORTS, {"profile": "central", "sites": ["site-a"]}, format="json")
    assert created.status_code == 202
    job = created.json()
    assert job["status"] == "queued" and job["progress"] == 0
    assert job["sites"] == ["site-a"] and job["requested_by"] == "central-platform"
    assert job["manifest"] is None and job["download_url"] is None

    run(job["id"])
    detail = api.get(f"{EXPORTS}{job['id']}/").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    assert detail["row_counts"]["core_clinicians.csv"] == 2
    assert detail["manifest"]["profile"]["name"] == "central"
    assert detail["download_url"] == f"{EXPORTS}{job['id']}/download/"

    pulled = api.get(detail["download_url"])
    assert pulled.status_code == 200 and pulled["Content-Type"] == "application/zip"
    assert pulled["Content-Disposition"].startswith("attachment;")
    event = AuditEvent.objects.get(action="export.downloaded")  # before the bytes are read
    assert event.actor == central_platform and event.channel == "api"
    assert event.details["job"] == job["id"]
    body = b"".join(pulled.streaming_content)
    assert hashlib.sha256(body).hexdigest() == detail["sha256"]
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()


def test_the_list_shows_only_your_own_jobs(client_for, central_platform, other_exporter, cases_a):
    mine = client_for(central_platform).post(EXPORTS, {"profile": "open"}, format="json").json()
    client_for(other_exporter).post(EXPORTS, {"profile": "central"}, format="json")
    listed = client_for(central_platform).get(EXPORTS).json()
    assert [job["id"] for job in listed["results"]] == [mine["id"]]
    assert listed["results"][0]["profile"] == "open"


def test_another_exporter_cannot_see_or_pull_someone_elses_job(
    client_for, central_platform, other_exporter, cases_a
):
    job_id = client_for(central_platform).post(EXPORTS, {"profile": "central"}).json()["id"]
    run(job_id)
    api = client_for(other_exporter)
    for url in (f"{EXPORTS}{job_id}/", f"{EXPORTS}{job_id}/download/"):
        refused = api.get(url)
        assert refused.status_code == 404
        assert refused.json()["code"] == "not_found" and set(refused.json()) >= {"errors"}
    assert denials(other_exporter) == [f"view export #{job_id}", f"download export #{job_id}"]
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_a_clinician_cannot_export_through_the_api(client_for, clinician_a, core_version):
    api = client_for(clinician_a)
    listed = api.get(EXPORTS)
    assert listed.status_code == 403 and listed.json()["code"] == "permission_denied"
    created = api.post(EXPORTS, {"profile": "central"}, format="json")
    assert created.status_code == 403 and created.json()["code"] == "permission_denied"
    assert not ExportJob.objects.exists()
    assert denials(clinician_a) == ["export list", "export"]


def test_an_unfinished_job_has_nothing_to_pull(client_for, central_platform, core_version):
    api = client_for(central_platform)
    job_id = api.post(EXPORTS, {"profile": "central"}, format="json").json()["id"]
    refused = api.get(f"{EXPORTS}{job_id}/download/")
    assert refused.status_code == 409 and refused.json()["code"] == "refused"
    assert "queued" in refused.json()["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"profile": "everything"}, "profile"),
        ({"profile": "central", "sites": ["nowhere"]}, "sites"),
        ({"profile": "central", "statuses": ["deleted"]}, "statuses.0"),
        ({"profile": "central", "date_from": "2021-05-01", "date_to": "2021-04-01"}, "date_to"),
        ({"profile": "central", "date_from": "1 May 2021"}, "date_from"),
    ],
)
def test_a_bad_request_names_the_field(client_for, central_platform, core_version, payload, field):
    refused = client_for(central_platform).post(EXPORTS, payload, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "bad_request" and field in body["errors"], body
    assert not ExportJob.objects.exists()


def test_a_site_outside_your_rights_is_refused_and_on_record(
    client_for, central_platform, core_version, site_b
):
    refused = client_for(central_platform).post(
        EXPORTS, {"profile": "central", "sites": ["site-b"]}, format="json"
    )
    assert refused.status_code == 403 and "site-b" in refused.json()["message"]
    assert AuditEvent.objects.filter(
        action="permission.denied", actor=central_platform, site=site_b
    ).exists()


def test_no_token_is_a_401(core_version):
    assert APIClient().get(EXPORTS).status_code == 401


def test_the_schema_documents_the_export_endpoints(client_for, central_platform):
    schema = client_for(central_platform).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/exports/"])
    assert "get" in paths["/api/v1/exports/{job_id}/"]
    download = paths["/api/v1/exports/{job_id}/download/"]["get"]
    assert "application/zip" in download["responses"]["200"]["content"]
