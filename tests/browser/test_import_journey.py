"""A registry's weekly export, end to end in Chromium (issue 11's "done when").

The registry's data manager logs in (password + TOTP), uploads the registry's export as it
comes (`;`-separated, a BOM, CR line endings, day-first dates, English country names, an extra
column), reads the report while the page follows the job, commits, changes ten rows and uploads
again, and sees exactly those ten records in the diff; after the second commit the records are
in an export's rows. Every page state passes axe-core, with no console error, script error or
CSP violation.

The worker's steps are run by the test (`tasks.process`), so the page is seen following a
queued job whether or not REDIS_URL is set.
"""

from __future__ import annotations

import os

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, site_a, make_user)
from imports.helpers import csv_bytes, records
from playwright.sync_api import Page, expect

from casereports.imports import services as import_services
from casereports.imports import tasks
from casereports.imports.models import RowImport
from casereports.models import Case
from exports.queries import records_of

from .helpers import log_in, watch
from .patient_steps import Audit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLUMNS_WITH_EXTRA = [*records(1)[0], "registry_notes"]


def registry_export(changed: set[str] = frozenset()) -> bytes:
    rows = records(30, covid19_country="Germany", covid19_date_reporting="25/03/2021")
    for row in rows:
        row["registry_notes"] = "seen in clinic"
        if row["secret_name"] in changed:
            row["edss_value"] = "6.5"
    return csv_bytes(rows, columns=COLUMNS_WITH_EXTRA, delimiter=";", newline="\r", bom=True)


def upload(page: Page, server: str, path) -> RowImport:
    page.goto(f"{server}/imports/")
    page.get_by_label("Report source").select_option("clinicians")
    page.get_by_label("Registry export (CSV)").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_test_id("import-working")).to_be_visible()
    return RowImport.objects.order_by("-pk").first()


def worker_runs(page: Page, job: RowImport, status: str) -> None:
    tasks.process(job.pk)
    expect(page.get_by_test_id("import-status")).to_have_attribute(
        "data-status", status, timeout=15_000
    )


def test_a_data_manager_uploads_commits_and_uploads_again_with_ten_changes(
    live_server,
    page,
    make_user,
    site_a,
    core_version,
    tmp_path,
    settings,  # noqa: F811
    monkeypatch,
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # The test is the worker: no task message on commit (without REDIS_URL it would run at once).
    monkeypatch.setattr(import_services, "_queue_after_commit", lambda job_id: None)
    manager = make_user("registry-a", "registry_data_manager", site_a)
    server = live_server.url
    audit = Audit()
    watching = watch(page, server)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, server, manager, "/imports/")
    audit.check(page, "imports page")

    first = tmp_path / "export-week-1.csv"
    first.write_bytes(registry_export())
    job = upload(page, server, first)
    audit.check(page, "import queued")
    worker_runs(page, job, "ready")
    counts = page.get_by_test_id("import-counts")
    expect(counts.locator('[data-count="new"]')).to_have_text("30")
    expect(counts.locator('[data-count="refused"]')).to_have_text("0")
    expect(page.get_by_test_id("normalisations")).to_contain_text("covid19_country")
    expect(page.get_by_test_id("import-columns")).to_contain_text("registry_notes")
    audit.check(page, "report of a first upload")

    page.get_by_test_id("commit").click()
    expect(page.get_by_test_id("import-working")).to_be_visible()
    worker_runs(page, job, "done")
    expect(page.get_by_role("heading", name="What was committed")).to_be_visible()
    audit.check(page, "committed")
    assert Case.objects.filter(site=site_a).count() == 30

    changed = {f"REG-{n:04d}" for n in range(3, 13)}
    second = tmp_path / "export-week-2.csv"
    second.write_bytes(registry_export(changed))
    job = upload(page, server, second)
    worker_runs(page, job, "ready")
    expect(page.get_by_test_id("import-counts").locator('[data-count="changed"]')).to_have_text(
        "10"
    )
    diff = page.get_by_test_id("import-diff")
    shown = set(diff.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.record)"))
    assert shown == changed
    expect(diff).to_contain_text("6.5")
    audit.check(page, "report with a diff")

    snapshot(page, "import-report-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    audit.check(page, "report with a diff at 390px")
    snapshot(page, "import-report-390")
    page.get_by_test_id("commit").click()
    worker_runs(page, job, "done")

    edss = {c.registry_record: c.data["edss_value"] for c in Case.objects.filter(site=site_a)}
    assert {name for name, value in edss.items() if value == "6.5"} == changed
    exported = list(records_of_site(site_a))
    assert len(exported) == 30 and {r["covid19_country"] for r in exported} == {"DE"}
    audit.assert_clean()
    watching.assert_clean()


def snapshot(page: Page, name: str) -> None:
    """A full-page screenshot for a person to look at, when GDSI_SCREENSHOTS names a folder."""
    folder = os.environ.get("GDSI_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def records_of_site(site):
    """The rows an export of the site would hold (the export's own query)."""
    from exports.models import ExportJob

    job = ExportJob(
        profile="open",
        filters={"sites": [site.pk], "report_sources": [], "statuses": [], "date_from": "",
                 "date_to": ""},
        dictionary_version=site.cases.first().dictionary_version,
    )  # fmt: skip
    return records_of(job)()
