"""Case endpoints: site isolation, read-only roles, the same validation as the forms, one error
shape, and everything on record with channel `api`."""

import pytest
from cases.helpers import REQUIRED

from casereports.models import AuditEvent, Case, CaseStatus
from casereports.services import cases as services

from .conftest import PASSWORD, context

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
ALL_REQUIRED = {name: value for values in REQUIRED.values() for name, value in values.items()}


def url(case: Case, suffix: str = "") -> str:
    return f"{CASES}{case.secret_name}/{suffix}"


def new_case(user, site, data: dict | None = None) -> Case:
    case = services.create_case(context(user), site)
    if data:
        case = services.save_form(context(user), case, data, expected_version=case.version).case
    return case


def denials(username: str) -> list[str]:
    return [
        event.details["attempted"]
        for event in AuditEvent.objects.filter(action="permission.denied", actor_username=username)
    ]


def test_the_list_shows_only_the_users_sites_cases_without_data(
    core_version, clinician_a, clinician_b, site_a, site_b, client_for
):
    own = new_case(clinician_a, site_a)
    new_case(clinician_b, site_b)
    response = client_for(clinician_a).get(CASES)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["secret_name"] == own.secret_name and row["site"] == "site-a"
    assert set(row) == {
        "secret_name",
        "site",
        "status",
        "completeness",
        "version",
        "report_source",
        "created_at",
        "updated_at",
    }


def test_the_list_filters_by_status_site_and_search_and_refuses_an_unknown_status(
    core_version, central_manager, clinician_a, clinician_b, site_a, site_b, client_for
):
    draft = new_case(clinician_a, site_a)
    submitted = new_case(clinician_a, site_a, ALL_REQUIRED)
    services.submit_case(context(clinician_a), submitted, expected_version=submitted.version)
    other = new_case(clinician_b, site_b)
    client = client_for(central_manager)

    def names(query: str) -> set[str]:
        response = client.get(CASES + query)
        assert response.status_code == 200
        return {row["secret_name"] for row in response.json()["results"]}

    assert names("") == {draft.secret_name, submitted.secret_name, other.secret_name}
    assert names("?status=submitted") == {submitted.secret_name}
    assert names("?site=site-b") == {other.secret_name}
    assert names(f"?search={draft.secret_name[2:8].lower()}") == {draft.secret_name}
    response = client.get(CASES + "?status=archived")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and "status" in response.json()["errors"]


def test_the_list_is_paginated_by_fifty(core_version, clinician_a, site_a, client_for):
    for _ in range(51):
        new_case(clinician_a, site_a)
    client = client_for(clinician_a)
    first = client.get(CASES).json()
    assert first["count"] == 51 and len(first["results"]) == 50 and first["next"]
    assert len(client.get(CASES + "?page=2").json()["results"]) == 1
    assert client.get(CASES + "?page=9").status_code == 404


def test_retrieve_returns_the_data_and_is_on_record_with_channel_api(
    core_version, clinician_a, site_a, client_for
):
    case = new_case(clinician_a, site_a, {"age_years": "44"})
    response = client_for(clinician_a).get(url(case), HTTP_X_REQUEST_ID="api-test-request-1")
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["age_years"] == "44" and body["data"]["secret_name"] == case.secret_name
    assert body["version"] == case.version
    assert body["dictionary_version"] == core_version.content_hash
    assert body["form_statuses"]["demographics"] == "in progress"
    event = AuditEvent.objects.filter(action="case.viewed").get()
    assert event.case_id == case.pk and event.channel == "api"
    assert event.details == {"what": "api"} and event.request_id == "api-test-request-1"
    assert event.actor_username == "clin-a"


def test_another_sites_case_is_not_found_and_every_attempt_is_audited(
    core_version, clinician_a, clinician_b, site_a, client_for
):
    case = new_case(clinician_a, site_a, {"age_years": "44"})
    client = client_for(clinician_b)
    responses = [
        client.get(url(case)),
        client.patch(url(case), {"version": case.version, "data": {"age_years": "99"}}),
        client.post(url(case, "submit/"), {"version": case.version}),
    ]
    for response in responses:
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert case.secret_name not in response.content.decode()
    assert denials("clin-b") == ["view case", "edit case", "submit case"]
    assert AuditEvent.objects.filter(action="permission.denied", channel="api").count() == 3
    case.refresh_from_db()
    assert case.data["age_years"] == "44"
    assert not AuditEvent.objects.filter(action="case.viewed").exists()
    # A name that does not exist at all is a plain 404, with nothing to put on record.
    assert client.get(f"{CASES}C_NOSUCHCASE/").status_code == 404
    assert len(denials("clin-b")) == 3


def test_a_read_only_role_reads_every_site_but_cannot_write(
    core_version, central_manager, clinician_a, site_a, client_for
):
    case = new_case(clinician_a, site_a, {"age_years": "44"})
    client = client_for(central_manager)
    assert client.get(CASES).json()["count"] == 1
    assert client.get(url(case)).json()["data"]["age_years"] == "44"
    refused = [
        client.patch(url(case), {"version": case.version, "data": {"age_years": "50"}}),
        client.post(url(case, "submit/"), {"version": case.version}),
        client.post(CASES, {"site": "site-a"}),
        client.post(CASES, {"site": "site-a", "data": {"age_years": "50"}}),
    ]
    for response in refused:
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "permission_denied" and body["message"]
    assert denials("central") == ["edit case", "submit case", "create", "create"]
    assert Case.objects.count() == 1
    case.refresh_from_db()
    assert case.data["age_years"] == "44"


def test_create_with_data_saves_it_and_is_on_record(core_version, clinician_a, client_for):
    response = client_for(clinician_a).post(
        CASES, {"site": "site-a", "data": {"age_years": "44", "sex": "female"}}
    )
    assert response.status_code == 201
    body = response.json()
    case = Case.objects.get(secret_name=body["secret_name"])
    assert case.status == CaseStatus.DRAFT and case.site.code == "site-a"
    assert case.data["age_years"] == "44" and case.data["sex"] == "female"
    assert body["version"] == case.version and body["data"]["sex"] == "female"
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", "channel"))
    assert actions == [("case.created", "api"), ("case.changed", "api")]


def test_create_without_data_makes_an_empty_draft(core_version, clinician_a, client_for):
    response = client_for(clinician_a).post(CASES, {"site": "site-a"})
    assert response.status_code == 201
    assert response.json()["completeness"] == "not started"
    assert Case.objects.count() == 1


def test_create_with_invalid_data_creates_nothing_and_names_each_field(
    core_version, clinician_a, client_for
):
    response = client_for(clinician_a).post(
        CASES,
        {"site": "site-a", "data": {"age_years": "abc", "sex": "robot", "no_such_field": "1"}},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"age_years", "sex", "no_such_field"}
    assert all(isinstance(m, list) and m for m in body["errors"].values())
    assert Case.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="case.").exists()


def test_create_at_an_unknown_site_or_with_a_bad_body_is_a_bad_request(
    core_version, clinician_a, client_for
):
    client = client_for(clinician_a)
    response = client.post(CASES, {"site": "nowhere"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"site": ["No site has the code 'nowhere'."]}
    response = client.post(CASES, {"site": "site-a", "data": ["age_years"]})
    assert response.status_code == 400 and "data" in response.json()["errors"]
    response = client.post(CASES, "not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert Case.objects.count() == 0


def test_a_value_that_is_not_text_is_refused_by_field(core_version, clinician_a, client_for):
    response = client_for(clinician_a).post(CASES, {"site": "site-a", "data": {"age_years": 44}})
    assert response.status_code == 422
    assert response.json()["errors"] == {"age_years": ["must be text"]}


def test_patch_saves_values_and_reports_what_branching_cleared(
    core_version, clinician_a, site_a, client_for
):
    case = new_case(clinician_a, site_a)
    client = client_for(clinician_a)
    saved = client.patch(
        url(case),
        {
            "version": case.version,
            "data": {"covid19_admission_hospital": "yes", "covid19_icu_stay": "yes"},
        },
    )
    assert saved.status_code == 200
    version = saved.json()["version"]
    assert version == case.version + 1 and saved.json()["cleared"] == []
    hidden = client.patch(
        url(case), {"version": version, "data": {"covid19_admission_hospital": "no"}}
    )
    assert hidden.status_code == 200
    assert "covid19_icu_stay" in hidden.json()["cleared"]
    case.refresh_from_db()
    assert case.data["covid19_icu_stay"] == ""


def test_a_soft_range_value_is_a_warning_until_confirmed(
    core_version, clinician_a, site_a, client_for
):
    case = new_case(clinician_a, site_a)
    client = client_for(clinician_a)
    response = client.patch(url(case), {"version": case.version, "data": {"height": "250"}})
    assert response.status_code == 422
    assert response.json()["errors"] == {} and "height" in response.json()["warnings"]
    response = client.patch(
        url(case), {"version": case.version, "data": {"height": "250"}, "confirmed": ["height"]}
    )
    assert response.status_code == 200 and response.json()["data"]["height"] == "250"


def test_patch_with_a_stale_version_is_a_conflict_and_overwrites_nothing(
    core_version, clinician_a, manager_a, site_a, client_for
):
    case = new_case(clinician_a, site_a)
    stale = case.version
    first = client_for(manager_a).patch(url(case), {"version": stale, "data": {"age_years": "44"}})
    assert first.status_code == 200
    second = client_for(clinician_a).patch(
        url(case), {"version": stale, "data": {"age_years": "55"}}
    )
    assert second.status_code == 409
    assert (
        second.json()["code"] == "conflict"
        and "Nothing was overwritten" in (second.json()["message"])
    )
    case.refresh_from_db()
    assert case.data["age_years"] == "44"


def test_patch_without_version_is_a_bad_request(core_version, clinician_a, site_a, client_for):
    case = new_case(clinician_a, site_a)
    response = client_for(clinician_a).patch(url(case), {"data": {"age_years": "44"}})
    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": "The request is not valid; see errors.",
        "errors": {"version": ["This field is required."]},
        "warnings": {},
    }


def test_after_submit_a_change_needs_a_reason(core_version, clinician_a, site_a, client_for):
    case = new_case(clinician_a, site_a, ALL_REQUIRED)
    case = services.submit_case(context(clinician_a), case, expected_version=case.version)
    client = client_for(clinician_a)
    refused = client.patch(url(case), {"version": case.version, "data": {"age_years": "45"}})
    assert refused.status_code == 422
    assert refused.json()["code"] == "reason_required"
    assert list(refused.json()["errors"]) == ["reason"]
    accepted = client.patch(
        url(case),
        {"version": case.version, "data": {"age_years": "45"}, "reason": "typo in age"},
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "submitted"
    event = AuditEvent.objects.filter(action="case.changed").last()
    assert event.details["reason"] == "typo in age" and event.channel == "api"


def test_submit_with_missing_fields_lists_them_and_keeps_the_draft(
    core_version, clinician_a, site_a, client_for
):
    case = new_case(clinician_a, site_a, {"age_years": "44"})
    response = client_for(clinician_a).post(url(case, "submit/"), {"version": case.version})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert {"sex", "ms_type", "covid19_has_symptoms"} <= set(body["errors"])
    assert "age_years" not in body["errors"]
    assert body["errors"]["sex"] == ["is required"]
    case.refresh_from_db()
    assert case.status == CaseStatus.DRAFT


def test_submit_a_complete_case(core_version, clinician_a, site_a, client_for):
    case = new_case(clinician_a, site_a, ALL_REQUIRED)
    client = client_for(clinician_a)
    response = client.post(url(case, "submit/"), {"version": case.version})
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert response.json()["version"] == case.version + 1
    event = AuditEvent.objects.get(action="case.submitted")
    assert event.channel == "api" and event.case_id == case.pk
    again = client.post(url(case, "submit/"), {"version": case.version + 1})
    assert again.status_code == 409 and again.json()["code"] == "refused"


def test_a_locked_case_refuses_changes_with_423(
    core_version, clinician_a, manager_a, site_a, client_for
):
    case = new_case(clinician_a, site_a, ALL_REQUIRED)
    case = services.submit_case(context(clinician_a), case, expected_version=case.version)
    case = services.lock_case(
        context(manager_a), case, password=PASSWORD, expected_version=case.version
    )
    response = client_for(clinician_a).patch(
        url(case), {"version": case.version, "data": {"age_years": "45"}, "reason": "fix"}
    )
    assert response.status_code == 423
    assert response.json()["code"] == "locked"


def test_submitting_costs_a_bounded_number_of_queries(
    core_version, clinician_a, site_a, client_for, django_assert_max_num_queries
):
    cases = [new_case(clinician_a, site_a, ALL_REQUIRED) for _ in range(2)]
    client = client_for(clinician_a)
    client.get(CASES)  # the token's once-a-minute last_used_at write happens here
    for case in cases:  # the second submit must cost no more than the first
        with django_assert_max_num_queries(16):
            assert client.post(url(case, "submit/"), {"version": case.version}).status_code == 200
