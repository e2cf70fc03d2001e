"""Case pages as their users see them: the list, a case's data and history, locking."""

import re

import pytest
from django.urls import reverse

from casereports.models import AuditEvent, Case, CaseStatus
from casereports.services import cases as services

from .conftest import PASSWORD, context
from .helpers import log_in, save, submitted_case

pytestmark = pytest.mark.django_db

LIST = reverse("cases:list")


def names_in(response) -> list[str]:
    return [case.secret_name for case in response.context["page_obj"]]


def new_case(user, site, **forms) -> Case:
    case = services.create_case(context(user), site)
    for form, values in forms.items():
        case = save(user, case, form, values)
    return case


# --- the list --------------------------------------------------------------------------------


def test_the_list_shows_only_the_users_sites_cases(
    client, core_version, clinician_a, clinician_b, site_a, site_b
):
    mine = new_case(clinician_a, site_a)
    theirs = new_case(clinician_b, site_b)
    log_in(client, clinician_a)
    response = client.get(LIST)
    assert response.status_code == 200
    assert names_in(response) == [mine.secret_name]
    page = response.content.decode()
    assert mine.secret_name in page and theirs.secret_name not in page
    assert "site-a" in page and "Site</label>" not in page  # one site: no site filter
    assert "New case" in page


def test_the_new_case_button_starts_a_draft_at_the_users_site(
    client, core_version, clinician_a, site_a
):
    log_in(client, clinician_a)
    page = client.get(LIST).content.decode()
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*new-case.*?</form>', page, re.S)
    assert form and form.group(1) == reverse("cases:new")
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    assert set(fields) == {"csrfmiddlewaretoken", "site"}
    response = client.post(form.group(1), {"site": fields["site"]})
    assert response.status_code == 302
    assert Case.objects.get().site == site_a


def test_search_is_case_insensitive_and_filters_combine(client, core_version, clinician_a, site_a):
    reported_early = new_case(clinician_a, site_a, covid19={"covid19_date_reporting": "2020-04-01"})
    reported_late = new_case(clinician_a, site_a, covid19={"covid19_date_reporting": "2020-09-15"})
    submitted = submitted_case(clinician_a, site_a)
    # An untouched form counts as not started, so "complete" needs the optional one too.
    complete = save(clinician_a, submitted, "administrative", {"covid_wave": "1"}, reason="wave")
    log_in(client, clinician_a)

    fragment = reported_early.secret_name[3:8].lower()
    assert names_in(client.get(LIST, {"q": fragment})) == [reported_early.secret_name]
    assert names_in(client.get(LIST, {"status": "submitted"})) == [submitted.secret_name]
    assert names_in(client.get(LIST, {"completeness": "complete"})) == [complete.secret_name]
    not_started = names_in(client.get(LIST, {"completeness": "not started"}))
    assert set(not_started) == {reported_early.secret_name, reported_late.secret_name}
    in_range = client.get(LIST, {"reported_from": "2020-03-01", "reported_to": "2020-04-01"})
    assert names_in(in_range) == [reported_early.secret_name]
    after = names_in(client.get(LIST, {"reported_from": "2020-09-01"}))
    assert reported_late.secret_name in after and reported_early.secret_name not in after
    page = client.get(LIST, {"reported_to": "2020-12-31", "sort": "-reported"})
    assert names_in(page) == [reported_late.secret_name, reported_early.secret_name]
    assert "2020-09-15" in page.content.decode()


def test_sorting_by_name_and_status_both_ways(client, core_version, clinician_a, site_a):
    drafts = [new_case(clinician_a, site_a) for _ in range(2)]
    submitted = submitted_case(clinician_a, site_a)
    log_in(client, clinician_a)
    by_name = sorted(c.secret_name for c in [*drafts, submitted])
    assert names_in(client.get(LIST, {"sort": "secret_name"})) == by_name
    assert names_in(client.get(LIST, {"sort": "-secret_name"})) == by_name[::-1]
    assert names_in(client.get(LIST, {"sort": "status"}))[-1] == submitted.secret_name
    assert names_in(client.get(LIST, {"sort": "-status"}))[0] == submitted.secret_name
    newest_first = names_in(client.get(LIST))
    assert newest_first[0] == submitted.secret_name


def test_an_unknown_sort_is_refused_by_name_and_the_list_still_shows(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    log_in(client, clinician_a)
    response = client.get(LIST, {"sort": "data__age_years"})
    assert response.status_code == 200
    assert "Sort: &#x27;data__age_years&#x27; is not a sort order" in response.content.decode()
    assert names_in(response) == [case.secret_name]


def test_pages_of_25_keep_the_query_string(client, core_version, clinician_a, site_a):
    for _ in range(26):
        services.create_case(context(clinician_a), site_a)
    log_in(client, clinician_a)
    first = client.get(LIST, {"status": "draft", "sort": "secret_name"})
    assert len(names_in(first)) == 25
    page = first.content.decode()
    assert "Page 1 of 2" in page
    assert "?status=draft&amp;sort=secret_name&amp;page=2" in page
    second = client.get(LIST, {"status": "draft", "sort": "secret_name", "page": "2"})
    assert len(names_in(second)) == 1
    assert names_in(second)[0] > names_in(first)[-1]


def test_a_bad_date_filter_gets_a_message_naming_the_filter(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    log_in(client, clinician_a)
    response = client.get(LIST, {"reported_from": "2020-13-45", "status": "draft"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Date reported from: enter a date as YYYY-MM-DD" in page
    assert names_in(response) == [case.secret_name]  # the valid filters still apply
    backwards = client.get(LIST, {"reported_from": "2020-05-01", "reported_to": "2020-04-01"})
    assert "Date reported to: must not be before Date reported from" in backwards.content.decode()


def test_a_user_who_sees_several_sites_can_filter_by_site(
    client, core_version, clinician_a, clinician_b, site_a, site_b, make_user
):
    a = new_case(clinician_a, site_a)
    b = new_case(clinician_b, site_b)
    central = make_user("central", "central_data_manager", site_a)
    log_in(client, central)
    everything = client.get(LIST)
    assert set(names_in(everything)) == {a.secret_name, b.secret_name}
    assert "All sites" in everything.content.decode()
    assert "New case" not in everything.content.decode()  # may read, may not enter
    assert names_in(client.get(LIST, {"site": "site-b"})) == [b.secret_name]


@pytest.mark.parametrize("role", ["exporter", "analyst"])
def test_roles_without_case_rights_get_403_and_it_is_audited(
    client, core_version, make_user, site_a, role
):
    user = make_user(f"user-{role}", role, site_a)
    log_in(client, user)
    assert client.get(LIST).status_code == 403
    denial = AuditEvent.objects.get(action="permission.denied", actor_username=user.username)
    assert denial.details == {"attempted": "case list"}


def test_anonymous_users_are_sent_to_login(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a)
    for url in (
        LIST,
        reverse("cases:detail", args=[case.secret_name]),
        reverse("cases:history", args=[case.secret_name]),
        reverse("cases:lock", args=[case.secret_name]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


# --- the case page ---------------------------------------------------------------------------


def test_the_case_page_shows_readable_labels_and_records_the_view(
    client, core_version, clinician_a, site_a
):
    case = new_case(
        clinician_a,
        site_a,
        covid19={"covid19_has_symptoms": "yes", "covid19_sympt_fever": "no"},
        ms_history={"ms_type": "RRMS"},
        demographics={"age_years": "44"},
    )
    log_in(client, clinician_a)
    response = client.get(reverse("cases:detail", args=[case.secret_name]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Did the person have symptoms of COVID-19?" in page
    assert '<dd class="col-sm-7">Yes</dd>' in page
    assert "Relapsing-remitting MS (RRMS)" in page and ">RRMS<" not in page
    assert "44 years" in page
    assert "Multiple sclerosis" in page  # a section header
    assert "Fever" in page  # shown, since symptoms = yes
    assert case.dictionary_version.content_hash[:12] in page
    assert reverse("cases:form", args=[case.secret_name, "demographics"]) in page  # Edit
    assert reverse("cases:submit", args=[case.secret_name]) in page
    assert "Continue" in page and "Lock</a>" not in page
    view = AuditEvent.objects.get(case=case, action="case.viewed")
    assert view.actor_username == clinician_a.username and view.details == {"what": "case page"}


def test_fields_hidden_by_branching_are_not_shown(client, core_version, clinician_a, site_a):
    case = new_case(clinician_a, site_a, covid19={"covid19_has_symptoms": "no"})
    log_in(client, clinician_a)
    page = client.get(reverse("cases:detail", args=[case.secret_name])).content.decode()
    assert "Did the person have symptoms of COVID-19?" in page
    assert "Dry cough" not in page


def test_a_user_of_another_site_gets_404_and_it_is_audited(
    client, core_version, clinician_a, clinician_b, site_a
):
    case = new_case(clinician_a, site_a)
    log_in(client, clinician_b)
    for name in ("cases:detail", "cases:history", "cases:lock", "cases:unlock"):
        assert client.get(reverse(name, args=[case.secret_name])).status_code == 404
    denials = AuditEvent.objects.filter(action="permission.denied", actor_username="clin-b")
    assert denials.count() == 4
    assert all(event.case_id == case.pk and event.site_code == "site-a" for event in denials)
    assert not AuditEvent.objects.filter(action="case.viewed", actor_username="clin-b").exists()


def test_an_unknown_case_is_a_404_on_record(client, core_version, clinician_a):
    log_in(client, clinician_a)
    assert client.get(reverse("cases:detail", args=["C_NOSUCHCASE"])).status_code == 404
    denial = AuditEvent.objects.get(action="permission.denied")
    assert denial.case_id is None and denial.details == {"attempted": "view case C_NOSUCHCASE"}


def test_a_locked_case_offers_no_edit_and_the_manager_can_unlock(
    client, core_version, clinician_a, manager_a, site_a
):
    case = submitted_case(clinician_a, site_a)
    case = services.lock_case(
        context(manager_a), case, password=PASSWORD, expected_version=case.version
    )
    log_in(client, clinician_a)
    page = client.get(reverse("cases:detail", args=[case.secret_name])).content.decode()
    assert "This case is locked" in page
    assert reverse("cases:form", args=[case.secret_name, "demographics"]) not in page
    client.logout()
    log_in(client, manager_a)
    page = client.get(reverse("cases:detail", args=[case.secret_name])).content.decode()
    assert reverse("cases:unlock", args=[case.secret_name]) in page


# --- history ---------------------------------------------------------------------------------


def test_history_shows_who_changed_what_and_why_newest_first(
    client, core_version, clinician_a, site_a
):
    case = submitted_case(clinician_a, site_a)
    save(clinician_a, case, "demographics", {"age_years": "45"}, reason="typo in age")
    log_in(client, clinician_a)
    response = client.get(reverse("cases:history", args=[case.secret_name]))
    assert response.status_code == 200
    entries = response.context["entries"]
    assert entries[0].action == "Viewed the history"  # viewing it is on record
    change = entries[1]
    assert change.event.actor_username == "clin-a" and change.event.role == "clinician"
    assert change.reason == "typo in age"
    assert [(c.label, c.old, c.new) for c in change.changes] == [
        ("Age at COVID-19 (years)", "44 years", "45 years")
    ]
    page = response.content.decode()
    assert "Reason:</span> typo in age" in page
    assert "Changed data on Demographics" in page and "Submitted the case" in page
    assert " UTC</time>" in page
    assert AuditEvent.objects.filter(
        case=case, action="case.viewed", details__what="history"
    ).exists()


def test_history_uses_choice_labels_for_old_and_new_values(
    client, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a, ms_history={"ms_type": "RRMS"})
    save(clinician_a, case, "ms_history", {"ms_type": "SPMS"})
    log_in(client, clinician_a)
    entries = client.get(reverse("cases:history", args=[case.secret_name])).context["entries"]
    labelled = [(c.label, c.old, c.new) for c in entries[1].changes]
    assert ("Type of MS", "Relapsing-remitting MS (RRMS)", "Secondary progressive MS (SPMS)") in (
        labelled
    )


# --- lock and unlock -------------------------------------------------------------------------


def lock_url(case: Case, action: str = "lock") -> str:
    return reverse(f"cases:{action}", args=[case.secret_name])


def test_locking_needs_the_right_password(client, core_version, clinician_a, manager_a, site_a):
    case = submitted_case(clinician_a, site_a)
    log_in(client, manager_a)
    form = client.get(lock_url(case))
    assert form.status_code == 200 and 'type="password"' in form.content.decode()
    wrong = client.post(lock_url(case), {"password": "not it", "expected_version": case.version})
    assert wrong.status_code == 400
    assert "Your password: That password is not right" in wrong.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    right = client.post(lock_url(case), {"password": PASSWORD, "expected_version": case.version})
    assert right.status_code == 302 and right["Location"] == reverse(
        "cases:detail", args=[case.secret_name]
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.LOCKED
    locked = AuditEvent.objects.get(case=case, action="case.locked")
    assert locked.actor_username == "manager-a" and locked.details["signed"] is True


def test_unlocking_needs_a_reason_and_the_password(
    client, core_version, clinician_a, manager_a, site_a
):
    case = submitted_case(clinician_a, site_a)
    case = services.lock_case(
        context(manager_a), case, password=PASSWORD, expected_version=case.version
    )
    log_in(client, manager_a)
    no_reason = client.post(
        lock_url(case, "unlock"), {"password": PASSWORD, "expected_version": case.version}
    )
    assert no_reason.status_code == 400
    assert "Reason for unlocking: This field is required." in no_reason.content.decode()
    done = client.post(
        lock_url(case, "unlock"),
        {"password": PASSWORD, "expected_version": case.version, "reason": "late lab result"},
    )
    assert done.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert AuditEvent.objects.get(case=case, action="case.unlocked").details["reason"] == (
        "late lab result"
    )


def test_a_stale_lock_is_refused_clearly(client, core_version, clinician_a, manager_a, site_a):
    case = submitted_case(clinician_a, site_a)
    opened_at = case.version
    save(clinician_a, case, "demographics", {"age_years": "46"}, reason="new information")
    log_in(client, manager_a)
    response = client.post(lock_url(case), {"password": PASSWORD, "expected_version": opened_at})
    assert response.status_code == 409
    assert "The case changed since you opened it" in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED


def test_a_draft_cannot_be_locked(client, core_version, clinician_a, manager_a, site_a):
    case = new_case(clinician_a, site_a)
    log_in(client, manager_a)
    page = client.get(lock_url(case)).content.decode()
    assert "Only a submitted case can be locked" in page and 'type="password"' not in page
    response = client.post(lock_url(case), {"password": PASSWORD, "expected_version": 1})
    assert response.status_code == 400
    assert "Only a submitted case can be locked." in response.content.decode()


def test_a_clinician_cannot_lock_and_it_is_audited(client, core_version, clinician_a, site_a):
    case = submitted_case(clinician_a, site_a)
    log_in(client, clinician_a)
    assert client.get(lock_url(case)).status_code == 403
    response = client.post(lock_url(case), {"password": PASSWORD, "expected_version": case.version})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert (
        AuditEvent.objects.filter(
            case=case, action="permission.denied", actor_username="clin-a"
        ).count()
        == 2
    )
