"""A person with MS reports their own COVID-19 in Chromium on a phone-sized screen: start,
consent, every page with branching and an error, save, come back on another browser with the
return code, send, receipt, PDF, withdraw. Once in Spanish, once in Arabic (right to left), once
with the keyboard alone. axe-core runs at every page state of each journey, and a sweep at
320 px visits every page state in every shipped language.
"""

from __future__ import annotations

import re

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, site_a, ...)
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from casereports.models import AuditEvent, Case, SelfReportProject
from casereports.selfreport.services import install_shipped_consent

from .helpers import watch
from .patient_steps import Audit, Person, expect_focus_on_summary

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 640}  # also what 200 % zoom gives a 640 px window
CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")
ANSWERS = {
    "covid19": [
        ("choose", "covid19_has_symptoms", "yes"),
        ("choose", "covid19_sympt_fever", "yes"),
        ("choose", "covid19_suspected_case", "yes"),
        ("choose", "covid19_confirmed_case", "yes"),
        ("select", "covid19_country", "ES"),
        ("date", "covid19_date_suspected_onset", "2021-03-01"),
        ("choose", "covid19_admission_hospital", "no"),
        ("choose", "covid19_outcome_recovered", "yes"),
    ],
    "demographics": [("fill", "age_years", "44"), ("choose", "sex", "female")],
    "ms_history": [("choose", "ms_type", "RRMS"), ("choose", "current_dmt", "no")],
    "comorbidities": [("choose", "has_comorbidities", "no")],
}
PAGE_URL = re.compile(r"/report/page/(?P<form>[a-z0-9_]+)/")


@pytest.fixture
def project(core_version, site_a, settings):
    settings.GDSI_PATIENT_MIN_FILL_SECONDS = 0  # a test types faster than any person
    install_shipped_consent()
    return SelfReportProject.objects.create(site=site_a, is_default=True)


@pytest.fixture
def fresh_page(browser: Browser):
    """`fresh_page(viewport)`: a page in a new browser context (another device)."""
    contexts = []

    def make(viewport=PHONE) -> Page:
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def answer(person: Person, form: str) -> None:
    page = person.page
    for kind, name, value in ANSWERS[form]:
        if kind == "choose":
            person.choose(name, value)
        elif kind == "select":
            person.select(page.locator(f"#input-{name}"), value)
        elif kind == "date":
            target = page.locator(f"#input-{name}")
            if person.keyboard:
                person._reach(target)
            target.fill(value)
        else:
            person.fill(page.locator(f"#input-{name}"), value)


def expect_language(page: Page, language: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", language)
    expect(html).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")


def walk_journey(server: str, fresh_page, language: str, keyboard: bool) -> Case:
    audit = Audit()
    page = fresh_page()
    watched = watch(page, server)
    person = Person(page, keyboard)

    page.goto(f"{server}/report/?lang={language}")
    expect_language(page, language)
    audit.check(page, "start")
    person.select(page.locator("#input-country"), "ES")
    person.press(page.get_by_test_id("show-projects"))
    expect(page.get_by_test_id("initiatives")).to_be_visible()
    audit.check(page, "start with a country")
    person.press(page.get_by_test_id("start-report"))

    expect(page.get_by_test_id("give-consent")).to_be_visible()
    expect_language(page, language)
    audit.check(page, "consent")
    watched.expect_refusal(400, "/report/consent/")
    person.press(page.get_by_test_id("give-consent"))  # nothing ticked
    expect_focus_on_summary(page)
    audit.check(page, "consent refused")
    statements = page.locator('input[name="statement"]')
    for index in range(statements.count()):
        person.tick(statements.nth(index))
    person.press(page.get_by_test_id("give-consent"))

    # Page 1: branching, live, before any save.
    expect(page).to_have_url(re.compile(r"/report/page/covid19/$"))
    fever = page.locator("#field-covid19_sympt_fever")
    expect(fever).to_be_hidden()
    person.choose("covid19_has_symptoms", "yes")
    expect(fever).to_be_visible()
    answer(person, "covid19")
    audit.check(page, "page covid19")
    person.press(page.get_by_test_id("save-continue"))

    # Page 2: an error, live and from the server.
    expect(page).to_have_url(re.compile(r"/report/page/demographics/$"))
    age = page.locator("#input-age_years")
    person.fill(age, "200")
    person.choose("sex", "female")
    expect(age).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-age_years")).not_to_be_empty()
    audit.check(page, "page demographics, live error")
    watched.expect_refusal(400, "/report/page/demographics/")
    person.press(page.get_by_test_id("save-continue"))
    expect_focus_on_summary(page)
    expect(age).to_have_attribute("aria-invalid", "true")
    audit.check(page, "page demographics, refused")
    person.fill(age, "44")
    person.press(page.get_by_test_id("save-continue"))

    # Page 3, then save and come back later on another device.
    expect(page).to_have_url(re.compile(r"/report/page/ms_history/$"))
    answer(person, "ms_history")
    audit.check(page, "page ms_history")
    person.press(page.get_by_test_id("save-later"))
    code = page.get_by_test_id("return-code").inner_text().strip()
    assert CODE.fullmatch(code)
    audit.check(page, "return code")
    with page.expect_download() as download:
        person.press(page.get_by_test_id("download-code"))
    assert code in download.value.path().read_text()
    watched.assert_clean()

    phone = fresh_page()
    watched = watch(phone, server)
    person = Person(phone, keyboard)
    phone.goto(f"{server}/report/return/?lang={language}")
    audit.check(phone, "return")
    watched.expect_refusal(400, "/report/return/")
    person.fill(phone.locator("#input-code"), "AAAA-AAAA-AAAA-AAAA")
    person.press(phone.get_by_test_id("use-code"))
    expect_focus_on_summary(phone)
    audit.check(phone, "return refused")
    person.fill(phone.locator("#input-code"), code.lower())
    person.press(phone.get_by_test_id("use-code"))
    phone.wait_for_url(PAGE_URL)  # back where the report stopped
    while (found := PAGE_URL.search(phone.url)) is not None:
        form = found["form"]
        expect(phone.locator("#entry-form")).to_be_visible()
        if form == "comorbidities":
            answer(person, form)
            audit.check(phone, f"page {form}")
        person.press(phone.get_by_test_id("save-continue"))
        phone.wait_for_url(re.compile(r"/report/(page/(?!" + form + r"/)|review/)"))

    expect(phone.get_by_test_id("send-report")).to_be_visible()
    audit.check(phone, "review")
    person.press(phone.get_by_test_id("send-report"))
    receipt = phone.get_by_test_id("receipt-code").inner_text().strip()
    assert CODE.fullmatch(receipt) and receipt != code
    audit.check(phone, "receipt")
    with phone.expect_download() as download:
        person.press(phone.get_by_test_id("download-pdf"))
    assert download.value.path().read_bytes().startswith(b"%PDF")

    phone.goto(f"{server}/report/mine/")
    audit.check(phone, "my report")
    person.press(phone.get_by_test_id("withdraw-link"))
    phone.wait_for_url(re.compile(r"/report/mine/withdraw/$"))
    expect(phone.locator("#input-confirm")).to_be_visible()
    audit.check(phone, "withdraw")
    person.tick(phone.locator("#input-confirm"))
    person.press(phone.get_by_test_id("withdraw"))
    expect(phone.get_by_test_id("withdrawn")).to_be_visible()
    expect_language(phone, language)
    audit.check(phone, "withdrawn")
    watched.assert_clean()
    audit.assert_clean()
    return Case.objects.get(report_source="patients")


@pytest.mark.parametrize(
    ("language", "keyboard"), [("es", False), ("ar", False), ("en", True)], ids=str
)
def test_a_patient_reports_comes_back_sends_and_withdraws(
    live_server, fresh_page, project, make_user, site_b, language, keyboard, client
):
    case = walk_journey(live_server.url, fresh_page, language, keyboard)
    assert case.status == "submitted" and case.consent_withdrawn
    assert case.data["age_years"] == "44" and case.data["covid19_country"] == "ES"
    assert case.patient_report.language == language
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    for action in (
        "case.created",
        "consent.given",
        "patient.return_code_issued",
        "patient.report_opened",
        "case.submitted",
        "patient.downloaded",
        "consent.withdrawn",
    ):
        assert action in actions, action

    from helpers_auth import verified_login

    central = make_user("central", "central_data_manager", site_b)
    verified_login(client, central)
    page = client.get("/cases/patient-reports/").content.decode()
    assert f'data-testid="triage-{case.secret_name}"' in page


def visit_every_state(page: Page, server: str, language: str, audit: Audit) -> None:
    """Every page state a patient can meet, quickly (the journeys above check the behaviour)."""
    person = Person(page)

    def at(path: str, state: str) -> None:
        page.goto(f"{server}{path}")
        expect_language(page, language)
        audit.check(page, state)

    page.goto(f"{server}/report/?lang={language}")
    audit.check(page, "start")
    at("/report/?country=FR", "start with a country")
    at("/report/?country=AQ", "start with a country without projects")
    at("/report/nowhere/", "not open")
    at("/report/return/", "return")
    person.press(page.get_by_test_id("use-code"))
    audit.check(page, "return refused")
    at("/report/mine/", "receipt code")
    person.press(page.get_by_test_id("use-code"))
    audit.check(page, "receipt code refused")
    page.goto(f"{server}/report/")
    person.press(page.get_by_test_id("start-report"))
    audit.check(page, "consent")
    person.press(page.get_by_test_id("give-consent"))
    audit.check(page, "consent refused")
    statements = page.locator('input[name="statement"]')
    for index in range(statements.count()):
        statements.nth(index).check()
    person.press(page.get_by_test_id("give-consent"))
    for form, _ in ANSWERS.items():
        page.goto(f"{server}/report/page/{form}/")
        audit.check(page, f"page {form}")
        if form == "demographics":
            page.locator("#input-age_years").fill("-5")
            audit.check(page, "live error")
            person.press(page.get_by_test_id("save-continue"))
            audit.check(page, "refused page")
            page.locator("#input-age_years").fill("")
        answer(person, form)
        person.press(page.get_by_test_id("save-continue"))
    at("/report/page/covid19/?check=required", "page with required marked")
    at("/report/review/", "review")
    page.goto(f"{server}/report/page/covid19/")
    person.press(page.get_by_test_id("save-later"))
    audit.check(page, "return code")
    page.goto(f"{server}/report/review/")
    person.press(page.get_by_test_id("send-report"))
    audit.check(page, "receipt")
    at("/report/receipt/", "receipt seen again")
    at("/report/mine/", "my report")
    at("/report/mine/withdraw/", "withdraw")
    person.press(page.get_by_test_id("withdraw"))
    audit.check(page, "withdraw refused")
    person.tick(page.locator("#input-confirm"))
    person.press(page.get_by_test_id("withdraw"))
    audit.check(page, "withdrawn")
    at("/report/mine/", "my withdrawn report")


@pytest.mark.parametrize("language", [code for code, _ in settings.LANGUAGES])
def test_every_patient_page_state_passes_axe_at_320px_in_every_language(
    live_server, fresh_page, project, language, settings
):
    from casereports.models import ExternalInitiative

    ExternalInitiative.objects.create(name="Registre", country="FR", url="https://example.org")
    audit = Audit()
    page = fresh_page(NARROW)
    visit_every_state(page, live_server.url, language, audit)
    settings.GDSI_PATIENT_RATE_LIMITS = {**settings.GDSI_PATIENT_RATE_LIMITS, "start": (0, 0)}
    page.goto(f"{live_server.url}/report/")
    page.get_by_test_id("start-report").click()
    expect(page.get_by_test_id("rate-limited")).to_be_visible()
    audit.check(page, "rate limited")
    audit.assert_clean()
    assert len(audit.checked) >= 25
