"""A registry's count tables uploaded to the platform: checked, stored, replacing the site's
previous upload of the same report source, or refused with a precise message and nothing
stored; every outcome on record. Through the service, the web page and the API."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from cases.conftest import context
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from federated_helpers import make_result_zip, rewrite_zip
from helpers_auth import verified_login
from rest_framework.test import APIClient

from casereports.models import ApiToken, AuditEvent, Membership
from casereports.services.cases import NotAllowed
from casereports.services.tokens import TokenError, issue_token
from exports import feeds
from exports.federated.tables import TABLE_SPECS
from exports.models import FederatedUpload, UploadStatus

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/api/v1/federated/uploads/"
FIRST_TABLE = TABLE_SPECS[0].file_name("clinicians")


@pytest.fixture
def uploader_a(make_user, site_a):
    return make_user("uploader-a", "registry_uploader", site_a)


@pytest.fixture
def uploader_b(make_user, site_b):
    return make_user("uploader-b", "registry_uploader", site_b)


@pytest.fixture
def result_zip(tmp_path, core_version) -> Path:
    """A registry's result zip of 40 clinician records (the dictionary is loaded)."""
    return make_result_zip(tmp_path / "registry", 40)


def upload(user, site, path: Path, report_source=None, token=None) -> feeds.UploadSummary:
    with path.open("rb") as handle:
        return feeds.upload_result(context(user), site, handle, report_source, token=token)


def actions(*names: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__in=names).order_by("pk"))


def stored_files(export_dir: Path) -> list[str]:
    root = export_dir / "federated"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_an_accepted_upload_is_stored_as_sent_and_on_record(
    uploader_a, site_a, result_zip, export_dir
):
    summary = upload(uploader_a, site_a, result_zip)

    stored = summary.upload
    assert (stored.site, stored.report_source, stored.status) == (site_a, "clinicians", "accepted")
    assert stored.uploaded_by == uploader_a
    assert stored.rows_total == 40 and summary.tables == 63 and summary.replaced is None
    content = result_zip.read_bytes()
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert (export_dir / stored.file_path).read_bytes() == content
    assert stored_files(export_dir) == [f"upload_{stored.pk}.zip"]  # no temporary file left
    (event,) = actions("federated.uploaded", "federated.refused")
    assert event.action == "federated.uploaded" and event.site == site_a
    assert event.actor == uploader_a
    assert event.details["rows"] == 40 and event.details["replaced"] is None


def test_a_new_upload_replaces_the_sites_previous_one_of_the_same_report_source_only(
    uploader_a, site_a, tmp_path, core_version
):
    first = upload(uploader_a, site_a, make_result_zip(tmp_path, 40, seed=1)).upload
    patients = upload(
        uploader_a, site_a, make_result_zip(tmp_path, 12, report_source="patients")
    ).upload
    second = upload(uploader_a, site_a, make_result_zip(tmp_path, 25, seed=2))

    assert second.replaced == first and second.upload.rows_total == 25
    first.refresh_from_db()
    assert first.status == UploadStatus.REPLACED and first.replaced_by == second.upload
    patients.refresh_from_db()
    assert patients.status == UploadStatus.ACCEPTED
    assert list(feeds.current_uploads()) == [second.upload, patients]
    assert actions("federated.uploaded")[-1].details["replaced"] == first.pk


def _change_count(text: str, by: int | None = None, to: str | None = None) -> bytes:
    """The table with the count of its first row changed."""
    lines = text.splitlines()
    cells = lines[1].split(",")
    cells[-1] = to if to is not None else str(int(cells[-1]) + by)
    lines[1] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


def _first_table(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read(FIRST_TABLE).decode()


REFUSALS = {
    # name: (how the zip is spoiled, words the message must hold)
    "tampered-hash": (
        lambda zip_, out: rewrite_zip(
            zip_, out, change={FIRST_TABLE: _change_count(_first_table(zip_), by=1)}, rehash=False
        ),
        f"{FIRST_TABLE}: its sha256 does not match the manifest",
    ),
    "unknown-dictionary": (
        lambda zip_, out: rewrite_zip(
            zip_, out, manifest_edit=lambda m: m["dictionary"].update(hash="f" * 64)
        ),
        "dictionary version ffffffffffff, which this platform does not know",
    ),
    "missing-table": (
        lambda zip_, out: rewrite_zip(zip_, out, change={FIRST_TABLE: None}),
        f"table {FIRST_TABLE} is missing",
    ),
    "negative-count": (
        lambda zip_, out: rewrite_zip(
            zip_, out, change={FIRST_TABLE: _change_count(_first_table(zip_), to="-1")}
        ),
        f"{FIRST_TABLE}, line 2: the count must be a whole number, 0 or more, not '-1'",
    ),
    "inconsistent-totals": (
        lambda zip_, out: rewrite_zip(
            zip_, out, change={FIRST_TABLE: _change_count(_first_table(zip_), by=1)}
        ),
        f"{FIRST_TABLE} counts 41 records",
    ),
    "not-a-zip": (
        lambda zip_, out: out.write_bytes(b"secret_name,age_years\nA,42\n") and out,
        "not a readable zip file",
    ),
}


@pytest.mark.parametrize("spoil", list(REFUSALS))
def test_a_spoiled_zip_is_refused_precisely_and_nothing_is_stored(
    spoil, uploader_a, site_a, result_zip, tmp_path, export_dir
):
    make, words = REFUSALS[spoil]
    spoiled = make(result_zip, tmp_path / "spoiled.zip")

    with pytest.raises(feeds.UploadRefused) as refused:
        upload(uploader_a, site_a, spoiled)

    assert words in refused.value.message
    assert not FederatedUpload.objects.exists()
    assert stored_files(export_dir) == []
    (event,) = actions("federated.uploaded", "federated.refused")
    assert event.action == "federated.refused" and event.site == site_a
    assert event.details["reason"] == refused.value.message
    assert event.details["sha256"] == hashlib.sha256(spoiled.read_bytes()).hexdigest()


def test_a_refused_replacement_keeps_the_previous_upload_pooled(
    uploader_a, site_a, result_zip, tmp_path
):
    kept = upload(uploader_a, site_a, result_zip).upload
    spoiled = rewrite_zip(result_zip, tmp_path / "spoiled.zip", change={FIRST_TABLE: None})
    with pytest.raises(feeds.UploadRefused):
        upload(uploader_a, site_a, spoiled)
    assert list(feeds.current_uploads()) == [kept]


def test_the_chosen_report_source_must_be_the_zips(uploader_a, site_a, result_zip):
    with pytest.raises(feeds.UploadRefused) as refused:
        upload(uploader_a, site_a, result_zip, report_source="patients")
    assert refused.value.message == "The zip holds clinicians tables, not patients as chosen."
    assert not FederatedUpload.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    uploader_a, site_a, result_zip, settings, export_dir
):
    settings.GDSI_FEDERATED_UPLOAD_MAX_BYTES = 1024 * 1024
    too_big = io.BytesIO(b"\0" * (1024 * 1024 + 1))
    with pytest.raises(feeds.UploadRefused) as refused:
        feeds.upload_result(context(uploader_a), site_a, too_big)
    assert "larger than 1 MB" in refused.value.message
    assert stored_files(export_dir) == [] and not FederatedUpload.objects.exists()


# --- who may upload -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "analyst", "exporter", "site_manager"])
def test_only_a_registry_uploader_of_the_site_may_upload(
    role, make_user, site_a, result_zip, export_dir
):
    user = make_user(f"{role}-a", role, site_a)
    with pytest.raises(NotAllowed):
        upload(user, site_a, result_zip)
    assert not FederatedUpload.objects.exists() and stored_files(export_dir) == []
    (denial,) = actions("permission.denied", "federated.uploaded", "federated.refused")
    assert denial.action == "permission.denied" and denial.actor == user
    assert denial.site == site_a


def test_another_sites_uploader_may_not_upload_for_site_a(uploader_b, site_a, result_zip):
    with pytest.raises(NotAllowed):
        upload(uploader_b, site_a, result_zip)
    (denial,) = actions("permission.denied")
    assert denial.actor == uploader_b and denial.site == site_a
    assert not FederatedUpload.objects.exists()


def test_a_site_bound_token_uploads_for_its_own_site_only(make_user, site_a, site_b, result_zip):
    both = make_user("uploader-ab", "registry_uploader", site_a)
    Membership.objects.create(user=both, site=site_b, role="registry_uploader")
    token = issue_token(both, "registry A", site=site_a).token

    with pytest.raises(NotAllowed):
        upload(both, site_b, result_zip, token=token)
    assert upload(both, site_a, result_zip, token=token).upload.site == site_a
    assert upload(both, site_b, result_zip).upload.site == site_b  # the web page: no token


def test_a_token_is_bound_only_to_a_site_of_its_user(make_user, site_a, site_b):
    user = make_user("uploader-only-a", "registry_uploader", site_a)
    with pytest.raises(TokenError, match="no member of site site-b"):
        issue_token(user, "wrong site", site=site_b)


def test_create_api_token_binds_the_token_to_the_site_named(uploader_a, site_a, capsys):
    call_command("create_api_token", "uploader-a", "--name", "registry", "--site", "site-a")
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=uploader_a)
    assert token.site == site_a and key.startswith(token.prefix)
    event = AuditEvent.objects.get(action="api_token.issued")
    assert event.details["site"] == "site-a"


# --- the web page ---------------------------------------------------------------------------


def test_the_upload_page_accepts_a_zip_and_shows_what_was_stored_and_replaced(
    uploader_a, site_a, result_zip, tmp_path, verified_client
):
    client = verified_client(uploader_a)
    page = client.get(reverse("exports:federated_upload"))
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.content

    first = _post_zip(client, site_a, result_zip)
    assert first.status_code == 200
    text = first.content.decode()
    assert 'data-testid="upload-accepted"' in text
    assert '<span data-testid="upload-rows">40</span>' in text
    assert '<span data-testid="upload-report-source">clinicians</span>' in text
    assert '<span data-testid="upload-tables">63</span>' in text
    assert "first upload" in text

    again = _post_zip(client, site_a, make_result_zip(tmp_path, 25, seed=3)).content.decode()
    previous = FederatedUpload.objects.get(status=UploadStatus.REPLACED)
    assert f"It replaces upload #{previous.pk}" in again and "(40 records)" in again


def test_the_upload_page_shows_the_precise_refusal_and_stores_nothing(
    uploader_a, site_a, result_zip, tmp_path, verified_client
):
    spoiled = rewrite_zip(result_zip, tmp_path / "spoiled.zip", change={FIRST_TABLE: None})
    response = _post_zip(verified_client(uploader_a), site_a, spoiled)
    assert response.status_code == 422
    text = response.content.decode()
    assert 'data-testid="upload-refused"' in text
    assert f"table {FIRST_TABLE} is missing" in text
    assert not FederatedUpload.objects.exists()


def test_the_upload_page_refuses_a_site_the_uploader_does_not_upload_for(
    uploader_a, site_b, result_zip, verified_client
):
    response = _post_zip(verified_client(uploader_a), site_b, result_zip)
    assert response.status_code == 403
    (denial,) = actions("permission.denied")
    assert denial.actor == uploader_a and denial.site == site_b
    assert not FederatedUpload.objects.exists()


@pytest.mark.parametrize("role", ["clinician", "analyst", "exporter"])
def test_the_upload_page_is_for_registry_uploaders_only(role, make_user, site_a, client):
    user = make_user(f"{role}-a", role, site_a)
    verified_login(client, user)
    assert client.get(reverse("exports:federated_upload")).status_code == 403
    (denial,) = actions("permission.denied")
    assert denial.actor == user


def test_the_upload_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("exports:federated_upload"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not actions("permission.denied")


def _post_zip(client: Client, site, path: Path):
    with path.open("rb") as handle:
        return client.post(reverse("exports:federated_upload"), {"site": site.code, "file": handle})


# --- the API --------------------------------------------------------------------------------


def token_client(user, site=None) -> APIClient:
    client = APIClient()
    key = issue_token(user, "registry", site=site).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _api_upload(client: APIClient, path: Path, **fields):
    with path.open("rb") as handle:
        return client.post(UPLOAD_URL, {"file": handle, **fields}, format="multipart")


def test_the_api_stores_an_upload_with_a_site_bound_token_and_answers_its_summary(
    uploader_a, site_a, result_zip
):
    response = _api_upload(token_client(uploader_a, site_a), result_zip)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["upload"]["site"] == "site-a" and body["upload"]["rows_total"] == 40
    assert body["upload"]["report_source"] == "clinicians" and body["tables"] == 63
    assert body["replaced"] is None
    assert AuditEvent.objects.get(action="federated.uploaded").channel == "api"


def test_the_api_answers_a_refusal_in_the_one_error_shape(uploader_a, site_a, result_zip, tmp_path):
    spoiled = rewrite_zip(
        result_zip, tmp_path / "bad.zip", manifest_edit=lambda m: m["dictionary"].update(hash="0")
    )
    response = _api_upload(token_client(uploader_a, site_a), spoiled)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and "does not know" in body["message"]
    assert body["errors"] == {"file": [body["message"]]} and body["warnings"] == {}
    assert not FederatedUpload.objects.exists()


def test_a_site_bound_token_cannot_upload_for_another_site(make_user, site_a, site_b, result_zip):
    both = make_user("uploader-ab", "registry_uploader", site_a)
    Membership.objects.create(user=both, site=site_b, role="registry_uploader")
    response = _api_upload(token_client(both, site_a), result_zip, site="site-b")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    (denial,) = actions("permission.denied")
    assert denial.site == site_b and denial.channel == "api"
    assert not FederatedUpload.objects.exists()


@pytest.mark.parametrize("role", ["clinician", "analyst"])
def test_the_api_refuses_users_who_are_not_uploaders(role, make_user, site_a, result_zip):
    user = make_user(f"{role}-a", role, site_a)
    response = _api_upload(token_client(user), result_zip, site="site-a")
    assert response.status_code == 403
    assert actions("permission.denied")[0].actor == user
    assert not FederatedUpload.objects.exists()


def test_another_sites_uploader_token_cannot_upload_for_site_a(
    uploader_b, site_a, site_b, result_zip
):
    response = _api_upload(token_client(uploader_b, site_b), result_zip, site="site-a")
    assert response.status_code == 403
    (denial,) = actions("permission.denied")
    assert denial.actor == uploader_b and denial.site == site_a
    assert not FederatedUpload.objects.exists()


def test_the_api_asks_for_credentials(result_zip):
    response = _api_upload(APIClient(), result_zip)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_the_api_lists_the_registrys_uploads_newest_first_with_what_is_pooled(
    uploader_a, uploader_b, site_a, site_b, tmp_path, core_version
):
    first = upload(uploader_a, site_a, make_result_zip(tmp_path / "1", 40, seed=1)).upload
    second = upload(uploader_a, site_a, make_result_zip(tmp_path / "2", 25, seed=2)).upload
    upload(uploader_b, site_b, make_result_zip(tmp_path / "b", 9, seed=3))

    response = token_client(uploader_a, site_a).get(UPLOAD_URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2  # site B's upload is not site A's registry's business
    listed = [(u["id"], u["site"], u["rows_total"], u["status"]) for u in body["results"]]
    assert listed == [
        (second.pk, "site-a", 25, "accepted"),
        (first.pk, "site-a", 40, "replaced"),
    ]
    assert body["results"][0]["sha256"] == second.sha256
    assert body["results"][0]["uploaded_by"] == "uploader-a"


def test_a_site_bound_token_lists_its_own_sites_uploads_only(
    make_user, site_a, site_b, tmp_path, core_version
):
    both = make_user("uploader-ab", "registry_uploader", site_a)
    Membership.objects.create(user=both, site=site_b, role="registry_uploader")
    upload(both, site_a, make_result_zip(tmp_path / "a", 5, seed=4))
    upload(both, site_b, make_result_zip(tmp_path / "b", 6, seed=5))

    bound = token_client(both, site_b).get(UPLOAD_URL).json()
    assert [u["site"] for u in bound["results"]] == ["site-b"]
    unbound = token_client(both).get(UPLOAD_URL).json()
    assert sorted(u["site"] for u in unbound["results"]) == ["site-a", "site-b"]


@pytest.mark.parametrize("role", ["clinician", "exporter"])
def test_the_upload_list_is_for_registry_uploaders_only(role, make_user, site_a):
    user = make_user(f"{role}-a", role, site_a)
    response = token_client(user).get(UPLOAD_URL)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    (denial,) = actions("permission.denied")
    assert denial.actor == user and denial.channel == "api"
    assert APIClient().get(UPLOAD_URL).status_code == 401
