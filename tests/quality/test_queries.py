"""Quality rules where data is entered, and the data resolution workflow: a clinician cannot
submit an inconsistent case without correcting or justifying it; a justification opens a
query that the central team answers and closes; every step is on record."""

from __future__ import annotations

import pytest
from cases.conftest import context
from cases.helpers import fill_required
from rest_framework.test import APIClient

from casereports.models import AuditEvent, Case, CaseStatus
from casereports.quality import services as queries
from casereports.quality.models import Query, QueryStatus, QueryStep
from casereports.services import cases as services
from casereports.services.tokens import issue_token

pytestmark = pytest.mark.django_db

DISCHARGE_RULE = "Q4_covid19_admission_hospital_release"
INCONSISTENT = {
    "covid19_admission_hospital": "yes",
    "covid19_admission_hospital_date": "2021-02-10",
    "covid19_admission_hospital_release": "2021-02-01",  # before admission
}


@pytest.fixture
def clinician(make_user, site_a, core_version):
    return make_user("clin-a", "clinician", site_a)


@pytest.fixture
def central(make_user, site_b):
    return make_user("central", "central_data_manager", site_b)


def inconsistent_case(user, site) -> Case:
    case = services.create_case(context(user), site)
    case = fill_required(user, case)
    return services.save_form(
        context(user), case, INCONSISTENT, expected_version=case.version, form="covid19"
    ).case


def test_a_failing_rule_does_not_block_a_draft_and_is_kept_as_the_cases_quality(clinician, site_a):
    case = inconsistent_case(clinician, site_a)

    assert case.status == CaseStatus.DRAFT
    assert case.quality_status == "fail"
    assert {"rule": DISCHARGE_RULE, "fields": ["covid19_admission_hospital_release"]} in (
        case.quality_failures
    )


def test_submit_asks_to_correct_or_justify_and_a_justification_opens_a_query(
    clinician, central, site_a
):
    case = inconsistent_case(clinician, site_a)

    with pytest.raises(services.QualityCheckFailed) as refused:
        services.submit_case(context(clinician), case, expected_version=case.version)
    assert [rule.rule_id for rule in refused.value.failing] == [DISCHARGE_RULE]
    assert Case.objects.get(pk=case.pk).status == CaseStatus.DRAFT

    submitted = services.submit_case(
        context(clinician),
        case,
        expected_version=case.version,
        justifications={"covid19_admission_hospital_release": "Readmitted; first stay ended 1 Feb"},
    )

    assert submitted.status == CaseStatus.SUBMITTED and submitted.quality_status == "justified"
    query = Query.objects.get(case=case)
    assert query.rule_id == DISCHARGE_RULE and query.status == QueryStatus.OPEN
    assert query.field == "covid19_admission_hospital_release" and query.opened_by == clinician
    opened = query.steps.get()
    assert opened.category == "confirmed" and "Readmitted" in opened.text
    assert AuditEvent.objects.filter(action="query.opened", case=case).count() == 1

    queries.answer_query(context(central), query, category="confirmed", text="Checked: fine")
    queries.close_query(context(central), query, text="Justification accepted")

    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED and query.closed_at is not None
    assert [s.kind for s in query.steps.all()] == ["opened", "answered", "closed"]
    actions = list(
        AuditEvent.objects.filter(case=case, action__startswith="query.").values_list(
            "action", flat=True
        )
    )
    assert actions == ["query.opened", "query.answered", "query.closed"]


def test_a_corrected_value_needs_no_justification(clinician, site_a):
    case = inconsistent_case(clinician, site_a)
    case = services.save_form(
        context(clinician), case, {"covid19_admission_hospital_release": "2021-02-20"},
        expected_version=case.version, form="covid19",
    ).case  # fmt: skip
    assert case.quality_status == "pass"

    submitted = services.submit_case(context(clinician), case, expected_version=case.version)

    assert submitted.status == CaseStatus.SUBMITTED and not Query.objects.exists()


def test_who_may_open_answer_and_close_is_the_access_modules_decision(
    clinician, central, make_user, site_a, site_b
):
    case = inconsistent_case(clinician, site_a)
    other_site = make_user("clin-b", "clinician", site_b)
    analyst = make_user("analyst", "analyst", site_a)
    manager = make_user("manager-a", "site_manager", site_a)

    with pytest.raises(services.NotAllowed):
        queries.open_query(context(clinician), case, field="age_years", message="Age?")
    with pytest.raises(services.NotAllowed):
        queries.open_query(context(analyst), case, field="age_years", message="Age?")
    query = queries.open_query(context(manager), case, field="age_years", message="Is 44 right?")
    with pytest.raises(services.NotAllowed):
        queries.answer_query(context(other_site), query, category="other", text="?")
    queries.answer_query(
        context(clinician), query, category="corrected", text="Fixed", case_version=3
    )
    with pytest.raises(services.NotAllowed):
        queries.close_query(context(clinician), query)
    queries.close_query(context(central), query)
    queries.reopen_query(context(central), query, text="Please look again")

    query.refresh_from_db()
    assert query.status == QueryStatus.OPEN
    assert QueryStep.objects.filter(query=query).count() == 4
    denials = AuditEvent.objects.filter(action="permission.denied", case=case)
    assert denials.count() == 4


def test_a_registry_data_manager_answers_for_imported_records_only(
    clinician, make_user, site_a, central
):
    registry = make_user("registry-a", "registry_data_manager", site_a)
    case = inconsistent_case(clinician, site_a)
    query = queries.open_query(context(central), case, field="age_years", message="Age?")

    with pytest.raises(services.NotAllowed):
        queries.answer_query(context(registry), query, category="other", text="Not ours")
    Case.objects.filter(pk=case.pk).update(registry_record="REG-9")
    query.refresh_from_db()
    queries.answer_query(context(registry), query, category="corrected", text="Next upload")
    assert Query.objects.get(pk=query.pk).status == QueryStatus.ANSWERED


def test_the_api_returns_rule_failures_as_warnings_and_takes_justifications(clinician, site_a):
    case = inconsistent_case(clinician, site_a)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(clinician, 'app').key}")
    url = f"/api/v1/cases/{case.secret_name}/submit/"

    refused = api.post(url, {"version": case.version}, format="json")

    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "quality" and body["errors"] == {}
    assert DISCHARGE_RULE in body["warnings"]["covid19_admission_hospital_release"]
    accepted = api.post(
        url,
        {"version": case.version, "justifications": {DISCHARGE_RULE: "Second admission"}},
        format="json",
    )
    assert accepted.status_code == 200, accepted.content
    assert Query.objects.get(case=case).rule_id == DISCHARGE_RULE


def test_the_case_list_filters_by_quality_and_the_case_page_shows_rules_and_queries(
    verified_client, clinician, central, site_a
):
    flagged = inconsistent_case(clinician, site_a)
    clean = fill_required(clinician, services.create_case(context(clinician), site_a))
    queries.open_query(context(central), flagged, field="age_years", message="Is 44 right?")
    client = verified_client(clinician)

    failing = client.get("/cases/?quality=fail").content.decode()
    assert flagged.secret_name in failing and clean.secret_name not in failing
    passing = client.get("/cases/?quality=pass").content.decode()
    assert clean.secret_name in passing and flagged.secret_name not in passing

    page = client.get(f"/cases/{flagged.secret_name}/").content.decode()
    assert 'data-quality="fail"' in page
    assert "Hospital discharge before admission" in page and DISCHARGE_RULE in page
    assert "Is 44 right?" in page and 'data-query-status="open"' in page


def test_an_exports_manifest_counts_the_cases_per_quality_status(clinician, site_a, core_version):
    from exports.models import ExportJob
    from exports.tasks import manifest_fields

    inconsistent_case(clinician, site_a)
    fill_required(clinician, services.create_case(context(clinician), site_a))
    job = ExportJob(
        profile="open",
        filters={"sites": [site_a.pk], "report_sources": [], "statuses": []},
        dictionary_version=core_version,
    )

    assert manifest_fields(job)["quality_status_counts"] == {"fail": 1, "pass": 1}


def test_a_central_data_manager_works_through_a_sites_queries_to_zero_on_the_quality_page(
    verified_client, clinician, central, make_user, site_a
):
    for _ in range(2):
        case = inconsistent_case(clinician, site_a)
        services.submit_case(
            context(clinician), case, expected_version=case.version,
            justifications={DISCHARGE_RULE: "Second admission"},
        )  # fmt: skip
    client = verified_client(central)

    page = client.get(f"/quality/?site={site_a.code}").content.decode()
    assert page.count('data-testid="open-query"') == 2
    assert DISCHARGE_RULE in page  # the failing rule, counted per rule
    for query in Query.objects.all():
        done = client.post(
            f"/quality/queries/{query.pk}/close/",
            {"category": "confirmed", "text": "Justification accepted"},
        )
        assert done.status_code == 302

    page = client.get(f"/quality/?site={site_a.code}").content.decode()
    assert 'data-testid="no-open-queries"' in page
    assert set(Query.objects.values_list("status", flat=True)) == {"closed"}
    assert AuditEvent.objects.filter(action="query.closed").count() == 2
    assert AuditEvent.objects.filter(action="query.answered").count() == 2
    download = client.get("/quality/queries.csv")
    assert download.status_code == 200 and "Second admission" not in download.content.decode()
    assert AuditEvent.objects.filter(action="quality.queries_exported").count() == 1

    outsider = verified_client(make_user("clin-b", "clinician", make_user_site_b()))
    assert 'data-testid="open-query"' not in outsider.get("/quality/").content.decode()


def make_user_site_b():
    from casereports.models import Site

    return Site.objects.get_or_create(code="site-b", defaults={"name": "B", "country": "FR"})[0]


def test_the_landing_page_says_how_many_queries_wait_for_each_user(
    verified_client, clinician, central, site_a
):
    case = inconsistent_case(clinician, site_a)
    query = queries.open_query(context(central), case, field="age_years", message="Age?")

    waiting = verified_client(clinician).get("/cases/").content.decode()
    assert 'data-testid="queries-waiting"' in waiting and "1 query waits for you" in waiting

    queries.answer_query(context(clinician), query, category="confirmed", text="Right")
    assert (
        'data-testid="queries-waiting"'
        not in verified_client(clinician).get("/cases/").content.decode()
    )
    assert "1 query waits for you" in verified_client(central).get("/cases/").content.decode()


def test_the_submit_page_asks_to_correct_or_justify_and_submits_with_the_justification(
    verified_client, clinician, site_a
):
    case = inconsistent_case(clinician, site_a)
    client = verified_client(clinician)
    url = f"/cases/{case.secret_name}/submit/"

    asked = client.post(url, {"version": case.version})

    assert asked.status_code == 409
    page = asked.content.decode()
    assert "Hospital discharge before admission" in page.replace("Date of hospital", "") or (
        DISCHARGE_RULE in page
    )
    assert f'name="justify-{DISCHARGE_RULE}"' in page
    assert f"/cases/{case.secret_name}/form/covid19/" in page  # a link to correct it
    assert Case.objects.get(pk=case.pk).status == CaseStatus.DRAFT

    done = client.post(
        url, {"version": case.version, f"justify-{DISCHARGE_RULE}": "Readmitted after discharge"}
    )

    assert done.status_code == 302
    assert Case.objects.get(pk=case.pk).status == CaseStatus.SUBMITTED
    assert Query.objects.get(case=case).steps.get().text == "Readmitted after discharge"
