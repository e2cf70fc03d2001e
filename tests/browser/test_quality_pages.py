"""The quality pages in Chromium, as the people who use them: a clinician's submit that asks
to correct or justify, the case page with its rules and queries, a central data manager's
/quality/ page and the imports list; each at 1280 and 390 px with axe-core, no sideways
scroll, and the justification reached and sent with the keyboard alone."""

from __future__ import annotations

import os

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, site_a, make_user)
from cases.conftest import context
from cases.helpers import fill_required
from playwright.sync_api import Page, expect

from casereports.models import Case, CaseStatus
from casereports.quality import services as queries
from casereports.services import cases as services

from .helpers import log_in, watch
from .patient_steps import Audit, Person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INCONSISTENT = {
    "covid19_admission_hospital": "yes",
    "covid19_admission_hospital_date": "2021-02-10",
    "covid19_admission_hospital_release": "2021-02-01",
}


def both_widths(page: Page, audit: Audit, state: str) -> None:
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        audit.check(page, f"{state} at {width}px")
        folder = os.environ.get("GDSI_SCREENSHOTS")
        if folder:
            page.screenshot(path=f"{folder}/{state.replace(' ', '-')}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_clinician_justifies_and_a_central_data_manager_closes_the_query(
    live_server,
    page,
    make_user,
    site_a,
    site_b,
    core_version,  # noqa: F811
):
    server = live_server.url
    clinician = make_user("clin-a", "clinician", site_a)
    central = make_user("central", "central_data_manager", site_b)
    case = fill_required(clinician, services.create_case(context(clinician), site_a))
    case = services.save_form(
        context(clinician), case, INCONSISTENT, expected_version=case.version, form="covid19"
    ).case
    audit = Audit()
    watched = watch(page, server)
    watched.expect_refusal(409, f"/cases/{case.secret_name}/submit/")

    log_in(page, server, clinician, f"/cases/{case.secret_name}/")
    both_widths(page, audit, "case page failing a rule")
    page.get_by_test_id("case-actions").get_by_role("button", name="Submit").click()
    expect(page.get_by_test_id("quality-summary")).to_be_visible()
    both_widths(page, audit, "submit asks to correct or justify")
    person = Person(page, keyboard=True)
    person.fill(page.get_by_label("The answers are right because"), "Readmitted on 10 Feb")
    person.press(page.get_by_test_id("submit-justified"))
    expect(page.get_by_test_id("case-name")).to_contain_text("Submitted")
    assert Case.objects.get(pk=case.pk).status == CaseStatus.SUBMITTED
    page.get_by_role("button", name="Log out").click()

    log_in(page, server, central, "/quality/")
    expect(page.get_by_test_id("open-query")).to_have_count(1)
    expect(page.get_by_test_id("query-steps")).to_contain_text("Readmitted on 10 Feb")
    both_widths(page, audit, "quality page with an open query")
    page.get_by_label("Answer").select_option("confirmed")
    page.get_by_label("Note").fill("Justification accepted")
    page.get_by_test_id("close-query").click()
    expect(page.get_by_test_id("no-open-queries")).to_be_visible()
    both_widths(page, audit, "quality page with no open query")
    assert list(queries.Query.objects.values_list("status", flat=True)) == ["closed"]

    audit.assert_clean()
    watched.assert_clean()


def test_the_imports_list_for_a_registry_data_manager(
    live_server,
    page,
    make_user,
    site_a,
    core_version,  # noqa: F811
):
    manager = make_user("registry-a", "registry_data_manager", site_a)
    audit = Audit()
    log_in(page, live_server.url, manager, "/imports/")
    both_widths(page, audit, "imports list")
    audit.assert_clean()
