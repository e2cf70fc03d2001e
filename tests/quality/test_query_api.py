"""The queries API, tried by every kind of user: who sees which queries, and who may take
which step (the rights are the access module's; refusals are on record)."""

from __future__ import annotations

import pytest
from cases.conftest import context
from cases.helpers import fill_required
from rest_framework.test import APIClient

from casereports.models import AuditEvent
from casereports.quality import services as queries
from casereports.quality.models import Query
from casereports.services import cases as services
from casereports.services.tokens import issue_token

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, 'tests').key}")
    return client


@pytest.fixture
def world(make_user, site_a, site_b, core_version):
    clinician = make_user("clin-a", "clinician", site_a)
    case = fill_required(clinician, services.create_case(context(clinician), site_a))
    people = {
        "clinician": clinician,
        "manager": make_user("manager-a", "site_manager", site_a),
        "central": make_user("central", "central_data_manager", site_b),
        "other_site": make_user("clin-b", "clinician", site_b),
        "analyst": make_user("analyst", "analyst", site_a),
        "registry": make_user("registry-a", "registry_data_manager", site_a),
    }
    query = queries.open_query(context(people["central"]), case, field="age_years", message="44?")
    return case, query, people


@pytest.mark.parametrize(
    ("who", "sees"),
    [("clinician", True), ("manager", True), ("central", True), ("registry", True),
     ("other_site", False), ("analyst", False)],
)  # fmt: skip
def test_the_list_shows_the_queries_of_readable_cases_only(world, who, sees):
    case, query, people = world
    listed = api_for(people[who]).get("/api/v1/queries/").json()["results"]
    assert [row["id"] for row in listed] == ([query.pk] if sees else [])
    detail = api_for(people[who]).get(f"/api/v1/queries/{query.pk}/")
    assert detail.status_code == (200 if sees else 404)
    if not sees:
        assert case.secret_name not in detail.content.decode()


@pytest.mark.parametrize(
    ("who", "status"),
    [("central", 201), ("manager", 201), ("clinician", 403), ("registry", 403),
     ("other_site", 404), ("analyst", 404)],
)  # fmt: skip
def test_opening_a_query(world, who, status):
    case, _, people = world
    sent = api_for(people[who]).post(
        "/api/v1/queries/",
        {"case": case.secret_name, "field": "sex", "message": "Please confirm"},
        format="json",
    )
    assert sent.status_code == status, sent.content
    assert Query.objects.filter(field="sex").exists() == (status == 201)


@pytest.mark.parametrize(
    ("who", "status"),
    [("clinician", 200), ("manager", 200), ("central", 200), ("registry", 403),
     ("other_site", 404), ("analyst", 404)],
)  # fmt: skip
def test_answering_a_query(world, who, status):
    _, query, people = world
    sent = api_for(people[who]).post(
        f"/api/v1/queries/{query.pk}/answer/",
        {"category": "confirmed", "text": "Checked in the notes"},
        format="json",
    )
    assert sent.status_code == status, sent.content
    if status == 200:
        assert sent.json()["status"] == "answered"
        assert sent.json()["steps"][-1]["category"] == "confirmed"


@pytest.mark.parametrize(
    ("who", "status"),
    [("central", 200), ("manager", 200), ("clinician", 403), ("other_site", 404)],
)
def test_closing_and_reopening_a_query(world, who, status):
    _, query, people = world
    client = api_for(people[who])
    closed = client.post(f"/api/v1/queries/{query.pk}/close/", {"text": "ok"}, format="json")
    assert closed.status_code == status
    if status == 200:
        again = client.post(f"/api/v1/queries/{query.pk}/reopen/", {"text": "no"}, format="json")
        assert again.status_code == 200 and again.json()["status"] == "open"
        assert [s["kind"] for s in again.json()["steps"]] == ["opened", "closed", "reopened"]


def test_refusals_are_on_record_and_bad_input_names_the_field(world):
    case, query, people = world
    before = AuditEvent.objects.filter(action="permission.denied").count()
    api_for(people["clinician"]).post(f"/api/v1/queries/{query.pk}/close/", {}, format="json")
    assert AuditEvent.objects.filter(action="permission.denied").count() == before + 1

    bad = api_for(people["clinician"]).post(
        f"/api/v1/queries/{query.pk}/answer/", {"category": "maybe", "text": ""}, format="json"
    )
    assert bad.status_code == 400
    assert {"category", "text"} <= set(bad.json()["errors"])
    unknown = api_for(people["central"]).post(
        "/api/v1/queries/", {"case": case.secret_name, "field": "nope", "message": "?"},
        format="json",
    )  # fmt: skip
    assert unknown.status_code == 422 and "nope" in unknown.json()["message"]


def test_the_schema_documents_the_queries_endpoints(db):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/queries/"])
    for step in ("answer", "close", "reopen"):
        assert "post" in paths[f"/api/v1/queries/{{query_id}}/{step}/"]
