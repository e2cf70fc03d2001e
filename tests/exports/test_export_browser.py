"""An exporter in Chromium: logs in (password + TOTP), asks for each profile, watches the
progress bar reach 100 % without reloading the page, and downloads the zip, with no console
error, CSP violation or request off the app.

The job's task is run by the test (`run_export`) rather than by the request's commit, so the
page is seen polling a queued job until it is done whether or not REDIS_URL is set.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from browser.helpers import follow_job_row, log_in, watch
from cases.conftest import *  # noqa: F403 - the case fixtures (dictionary, sites, users)
from cases.helpers import submitted_case
from playwright.sync_api import Page, expect

from exports import services
from exports.models import ExportJob
from exports.profiles import PROFILES
from exports.tasks import run_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued_by_the_test(monkeypatch):
    """No task message on commit: the test runs each job itself, when it chooses."""
    monkeypatch.setattr(services, "enqueue", lambda job_id: None)


def log_in_as_exporter(page: Page, server: str, user) -> None:
    log_in(page, server, user, "/exports/")
    expect(page.get_by_role("heading", name="Exports", exact=True)).to_be_visible()


def test_an_exporter_asks_for_each_profile_watches_it_finish_and_downloads_it(
    live_server, page, make_user, site_a, clinician_a, core_version, queued_by_the_test, tmp_path
):
    for _ in range(3):
        submitted_case(clinician_a, site_a)
    exporter = make_user("exporter-a", "exporter", site_a)
    server = live_server.url
    watched = watch(page, server)
    log_in_as_exporter(page, server, exporter)

    for name in PROFILES:
        page.get_by_label(name, exact=True).check()
        page.get_by_role("button", name="Ask for the export").click()
        alert = page.get_by_role("alert").filter(has_text=re.compile(rf"\({name}\) is queued"))
        expect(alert).to_be_visible()
        job = ExportJob.objects.filter(requested_by=exporter, profile=name).get()
        row = page.locator(f'[data-job-id="{job.pk}"]')
        follow_job_row(row, lambda: run_export(job.pk))
        expect(row.locator('[data-role="progress-bar"]')).to_have_text("100%")
        expect(row.locator('[data-role="cancel"]')).to_be_hidden()
        job.refresh_from_db()
        expect(row.locator('[data-role="sha256"]')).to_have_text(job.sha256)

        with page.expect_download() as started:
            row.get_by_role("link", name=re.compile("Download")).click()
        saved = Path(tmp_path / f"{name}.zip")
        started.value.save_as(saved)
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == job.sha256
        assert "manifest.json" in zipfile.ZipFile(saved).namelist()

    width = page.locator('[data-role="progress-bar"]').first.evaluate("bar => bar.style.width")
    assert width == "100%"
    watched.assert_clean()
    watched.assert_catches_csp_violations(page)
