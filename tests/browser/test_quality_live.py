"""The dictionary's quality rules run live on the clinician's form page, in Chromium.

Every rule of kind "check" of the case's dictionary version comes to the page as a parsed AST
(spec.checks) and runs in logic.js on the record the page knows (every form's saved answers,
this page's inputs on top) as the person types. A failing rule is a warning beside each question
of this page it names ("Please check: ..."), in a polite live region the question's
aria-describedby points to; it never blocks a save. The data-driven test proves the browser and
the server engines agree on every check rule of the core data set, on synthetic records where
the rule fails and where it passes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, clinician_a, ...)
from cases.conftest import context
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from helpers_auth import verified_login
from playwright.sync_api import Page, expect

from casereports.logic import evaluate
from casereports.logic.values import is_true
from casereports.quality.messages import field_labels, rule_message
from casereports.rules import RecordPipeline
from casereports.services import cases as services
from casereports.services.dictionaries import (
    LoadedDictionary,
    dictionary_of,
    quality_rules_of,
    store_dictionary,
)
from casereports.synthetic import SUBMITTABLE_ANSWERS, edge_records, random_records

from .helpers import log_in, watch
from .patient_steps import AXE_SOURCE, AXE_TAGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMISSION = "covid19_admission_hospital_date"
DISCHARGE = "covid19_admission_hospital_release"
DISCHARGE_WORDS = "Please check: Hospital discharge before admission"
ADMISSION_WORDS = (
    "Please check: Date of hospital admission before the year of birth or after the reporting date"
)
# The clock both engines read for 'today' (Q3: "in the future"), pinned so that they cannot
# read it at different moments and so that synthetic dates (2018-2023) can lie in its future.
NOW = datetime(2021, 6, 1, 12, 0, 0)
NOW_MS = int(NOW.replace(tzinfo=UTC).timestamp() * 1000)
RANDOM_RECORDS = 400


def form_url(case, form: str) -> str:
    return reverse("cases:form", args=[case.secret_name, form])


def new_case(user, site, **saved: dict[str, str]):
    """A draft with `saved` answers per form (form name -> values) already saved."""
    case = services.create_case(context(user), site)
    for form, values in saved.items():
        case = services.save_form(
            context(user), case, values, form=form, expected_version=case.version
        ).case
    return case


def open_form(page: Page, server: str, user, case, form: str) -> None:
    log_in(page, server, user, form_url(case, form))
    expect(page.locator("#entry-form")).to_be_visible()


def choose(page: Page, name: str, label: str) -> None:
    page.locator(f"#field-{name}").get_by_label(label, exact=True).check()


def check_rules(version) -> list:
    return [rule for rule in quality_rules_of(version) if rule.kind == "check"]


def assert_axe_clean(page: Page, state: str) -> None:
    """axe-core on the form, where the warnings are (the progress bar above it has a contrast
    fault of its own, templates/cases/entry_progress.html, outside this feature)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # through the DevTools protocol: the page's CSP does not apply
    options = json.dumps({"runOnly": {"type": "tag", "values": AXE_TAGS}})
    result = page.evaluate(f"axe.run(document.getElementById('entry-form'), {options})")
    violations = [
        (violation["id"], [node["target"] for node in violation["nodes"]][:5])
        for violation in result["violations"]
    ]
    assert not violations, f"{state}: {violations}"


# --- the page --------------------------------------------------------------------------------


def test_a_discharge_before_admission_is_flagged_beside_the_discharge_date(
    live_server, page: Page, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    watched = watch(page, live_server.url)
    open_form(page, live_server.url, clinician_a, case, "covid19")
    region = page.locator(f"#quality-{DISCHARGE}")
    discharge = page.locator(f"#input-{DISCHARGE}")
    # The region is there (and empty) before anything fails, so what appears in it is announced.
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_be_empty()
    expect(discharge).to_have_attribute("aria-describedby", re.compile(rf"\bquality-{DISCHARGE}\b"))
    expect(discharge).to_have_attribute("aria-describedby", re.compile(rf"\berror-{DISCHARGE}\b"))

    asked = len(watched.server_calls)
    choose(page, "covid19_admission_hospital", "Yes")
    page.locator(f"#input-{ADMISSION}").fill("2021-03-10")
    discharge.fill("2021-03-05")
    expect(region).to_have_text(DISCHARGE_WORDS)
    expect(region.get_by_test_id("quality-warning")).to_have_attribute(
        "data-rule", "Q4_covid19_admission_hospital_release"
    )
    # Only the question the rule names: not the admission date it compares with.
    expect(page.locator(f"#quality-{ADMISSION}")).to_be_empty()
    # A warning, not an error: the answer is not marked invalid.
    expect(discharge).not_to_have_attribute("aria-invalid", "true")
    assert watched.server_calls[asked:] == [], "the quality check asked the server"
    assert_axe_clean(page, "discharge before admission")

    discharge.fill("2021-03-15")
    expect(region).to_be_empty()
    expect(page.get_by_test_id("quality-warning")).to_have_count(0)
    assert_axe_clean(page, "corrected")

    # Never blocks: the draft saves with the rule failing, and the page says so again on load.
    discharge.fill("2021-03-01")
    expect(region).to_have_text(DISCHARGE_WORDS)
    page.get_by_test_id("save-draft").click()
    expect(page.get_by_role("alert").filter(has_text="Draft saved: COVID-19.")).to_be_visible()
    case.refresh_from_db()
    assert case.data[DISCHARGE] == "2021-03-01"
    expect(page.locator(f"#quality-{DISCHARGE}")).to_have_text(DISCHARGE_WORDS)
    assert_axe_clean(page, "saved with a failing rule")
    watched.assert_clean()


def test_rules_read_other_forms_answers_and_show_only_beside_this_pages_questions(
    live_server, page: Page, core_version, clinician_a, site_a
):
    case = new_case(
        clinician_a,
        site_a,
        covid19={"covid19_date_reporting": "2021-03-01"},
        demographics={"age_years": "1", "current_smoker": "yes"},
    )
    watched = watch(page, live_server.url)
    open_form(page, live_server.url, clinician_a, case, "covid19")
    regions = page.locator("[data-quality-for]")
    names = set(regions.evaluate_all("nodes => nodes.map(n => n.dataset.qualityFor)"))
    dictionary = dictionary_of(core_version)
    named = {name for rule in check_rules(core_version) for name in rule.blanks}
    on_page = {f.name for f in dictionary.fields if f.form == "covid19"}
    assert names == named & on_page
    assert "age_years" not in names  # a demographics question: its rules show nothing here

    # One year old in 2021, so born in 2020 at the earliest: an admission in 2019 is before
    # birth. The age comes from the demographics form, saved, not from this page.
    choose(page, "covid19_admission_hospital", "Yes")
    admission = page.locator(f"#input-{ADMISSION}")
    admission.fill("2019-06-01")
    expect(page.locator(f"#quality-{ADMISSION}")).to_have_text(ADMISSION_WORDS)
    admission.fill("2021-02-20")
    expect(page.locator(f"#quality-{ADMISSION}")).to_be_empty()

    # Two rules on one question each show their words; a question hidden by branching (and so
    # emptied) carries none.
    page.locator(f"#input-{ADMISSION}").fill("2021-04-01")  # after the report: Q5
    page.locator(f"#input-{DISCHARGE}").fill("2021-03-20")  # before the admission: Q4
    expect(page.locator(f"#quality-{ADMISSION}")).to_have_text(ADMISSION_WORDS)
    expect(page.locator(f"#quality-{DISCHARGE}")).to_have_text(DISCHARGE_WORDS)
    assert_axe_clean(page, "two questions flagged")
    choose(page, "covid19_admission_hospital", "No")
    expect(page.locator(f"#field-{DISCHARGE}")).to_be_hidden()
    expect(page.locator(f"#quality-{DISCHARGE}")).to_be_empty()
    expect(page.locator(f"#quality-{ADMISSION}")).to_be_empty()
    watched.assert_clean()


# --- the two engines on every check rule -----------------------------------------------------


def python_fails(rule, record: dict[str, str]) -> bool:
    return is_true(evaluate(rule.logic_ast, record, today=NOW.date(), now=NOW))


def test_every_check_rule_fails_and_passes_alike_in_the_browser_and_on_the_server(
    live_server, page: Page, core_version, clinician_a, site_a
):
    case = new_case(clinician_a, site_a)
    open_form(page, live_server.url, clinician_a, case, "covid19")
    spec = json.loads(page.locator("#entry-spec").text_content())
    rules = check_rules(core_version)
    assert len(rules) == 31
    dictionary = dictionary_of(core_version)
    labels = field_labels(dictionary.fields)
    # What the page was given is each check rule, its parsed AST, its fields and its words.
    assert [check["rule_id"] for check in spec["checks"]] == [rule.rule_id for rule in rules]
    for check, rule in zip(spec["checks"], rules, strict=True):
        assert check["ast"] == json.loads(json.dumps(rule.logic_ast))
        assert check["blanks"] == rule.blanks
        assert check["message"] == rule_message(rule, labels)

    base = {**{k: v for values in SUBMITTABLE_ANSWERS.values() for k, v in values.items()}}
    records = list(random_records(dictionary, RANDOM_RECORDS, seed=12)) + edge_records(base)
    in_browser = page.evaluate(
        """([checks, records, now]) => checks.map((check) => records.map(
             (record) => GDSILogic.isTrue(GDSILogic.evaluate(check.ast, record, {now: now}))))""",
        [spec["checks"], records, NOW_MS],
    )
    for rule, browser in zip(rules, in_browser, strict=True):
        server = [python_fails(rule, record) for record in records]
        disagree = [records[i] for i, (a, b) in enumerate(zip(server, browser)) if a != b]
        assert not disagree, f"{rule.rule_id}: the engines disagree on {disagree[:2]}"
        failing = next((r for r, fails in zip(records, server, strict=True) if fails), None)
        passing = next((r for r, fails in zip(records, server, strict=True) if not fails), None)
        assert failing is not None, f"{rule.rule_id}: no synthetic record fails it"
        assert passing is not None, f"{rule.rule_id}: no synthetic record passes it"
        # The analysis pipeline, with this rule alone, says the same of both records.
        pipeline = RecordPipeline(dictionary, [rule])
        assert pipeline.run(failing, today=NOW.date(), now=NOW).qa_status == f"fail: {rule.rule_id}"
        assert pipeline.run(passing, today=NOW.date(), now=NOW).qa_status == "pass"


# --- the cost of the page --------------------------------------------------------------------


def test_the_form_page_costs_no_query_per_rule(client, core_version, clinician_a, site_a):
    """The rules are parsed once per version and process: a page with 31 check rules runs the
    same queries as a page of a version with none."""
    with_rules = new_case(clinician_a, site_a)
    bare = LoadedDictionary(dictionary_of(core_version), "", 0)
    store_dictionary(bare, source_filename="no-rules.csv")
    without_rules = new_case(clinician_a, site_a)
    assert with_rules.dictionary_version_id != without_rules.dictionary_version_id
    verified_login(client, clinician_a)

    def page_queries(case) -> tuple[int, int]:
        client.get(form_url(case, "covid19"))  # the caches warmed for this version
        with CaptureQueriesContext(connection) as queries:
            response = client.get(form_url(case, "covid19"))
        assert response.status_code == 200
        spec = json.loads(
            re.search(
                r'<script id="entry-spec" type="application/json">(.*?)</script>',
                response.content.decode(),
                re.S,
            ).group(1)
        )
        return len(queries), len(spec["checks"])

    counted, checks = page_queries(with_rules)
    bare_counted, bare_checks = page_queries(without_rules)
    assert (checks, bare_checks) == (31, 0)
    assert counted == bare_counted
