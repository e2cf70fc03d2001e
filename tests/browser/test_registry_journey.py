"""A registry's contribution, end to end, in Chromium: issue 5's "done when".

The registry's data manager runs the federated command on a small core-data-set CSV (a fresh
interpreter, as at the registry), inspects the zip, logs in as their site's registry uploader
(password + TOTP), uploads it and sees it accepted with its record count; a zip with one count
changed is refused with the precise reason. Then the site's exporter sees the upload among the
contributions beside the platform's cases, asks for the exact feed, watches it finish and
downloads it: the pooled tables hold the upload's counts under `R_<site code>` beside the
platform's `C_<country>` source. No console error, script error or CSP violation on any page.

The feed's task is run by the test (`run_feed`) rather than on the request's commit, so the
page is seen polling a queued job until it is done whether or not REDIS_URL is set.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, site_a, make_user)
from cases.helpers import submitted_case
from federated.command_helpers import case, rewrite_zip, run_command, write_csv, zip_texts
from playwright.sync_api import Page, expect

from exports import feeds
from exports.federated.result import ResultError, read_result_zip
from exports.federated.tables import TABLE_SPECS, CountTables, central_source
from exports.models import FederatedUpload, FeedJob
from exports.tasks import run_feed

from .helpers import follow_job_row, log_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIRST_TABLE = TABLE_SPECS[0]
TABLE_FILE = FIRST_TABLE.file_name("clinicians")
SOURCE_AT = 1  # `source` among a table's grouping cells
REGISTRY_AGES = ["34", "44", "44", "52", "61", "67", "70"]  # ages 34-70: more than one cell
PLATFORM_CASES = 3
PLATFORM_COUNTRY = "United Kingdom"  # SUBMITTABLE_ANSWERS' covid19_country GB


@pytest.fixture
def feeds_run_by_the_test(monkeypatch, settings, tmp_path) -> None:
    """Files in a temporary folder; no task message on commit: the test runs the feed."""
    settings.GDSI_EXPORT_DIR = tmp_path / "exports"
    monkeypatch.setattr(feeds, "enqueue_feed", lambda job_id: None)


def registry_run(folder: Path) -> Path:
    """The registry's side: `python -m exports.federated run`, then `inspect`."""
    records = [
        case(secret_name=f"REG_{number:04d}", age_years=age)
        for number, age in enumerate(REGISTRY_AGES)
    ]
    source = write_csv(folder / "registry.csv", records)
    ran = run_command(
        "run", source, "--report-source", "clinicians", "--out", "result.zip", cwd=folder
    )
    assert ran.returncode == 0, ran.stderr
    assert f"rows read: {len(REGISTRY_AGES)}, counted as clinicians records" in ran.stdout

    inspected = run_command("inspect", "result.zip", cwd=folder)
    assert inspected.returncode == 0, inspected.stderr
    text = inspected.stdout
    assert f"input rows: {len(REGISTRY_AGES)}" in text
    assert f"report source clinicians: 63 tables, {len(REGISTRY_AGES)} records in each" in text
    assert f"records per diagnosis: confirmed {len(REGISTRY_AGES)}" in text
    table_line = re.search(rf"{re.escape(TABLE_FILE)}: (\d+) cells, total (\d+)", text)
    assert table_line, text
    assert int(table_line[1]) > 1 and int(table_line[2]) == len(REGISTRY_AGES)
    return folder / "result.zip"


def tampered_copy(result: Path) -> tuple[Path, str]:
    """The zip with one count raised by one (hashes redone, as a careful forger would), and
    the reason the checker gives for refusing it."""
    text = zip_texts(result)[TABLE_FILE]
    header, first, *rest = text.splitlines(keepends=True)
    line = first.rstrip("\r\n")
    cells = line.split(",")
    cells[-1] = str(int(cells[-1]) + 1)
    changed = header + ",".join(cells) + first[len(line) :] + "".join(rest)
    forged = rewrite_zip(
        result, result.with_name("forged.zip"), change={TABLE_FILE: changed.encode()}
    )
    with pytest.raises(ResultError) as refused:
        read_result_zip(forged)
    return forged, str(refused.value)


def log_out(page: Page) -> None:
    page.context.clear_cookies()


def upload_zip(page: Page, path: Path) -> None:
    page.get_by_label("Result zip", exact=True).and_(
        page.locator("input[type=file]")
    ).set_input_files(str(path))
    page.get_by_test_id("upload-form").get_by_role("button", name="Upload").click()


def source_totals(tables: CountTables) -> dict[str, int]:
    totals: dict[str, int] = {}
    for cells, count in tables.rows(FIRST_TABLE):
        totals[cells[SOURCE_AT]] = totals.get(cells[SOURCE_AT], 0) + count
    return totals


def cells_of(tables: CountTables, source: str | None, spec) -> list[tuple[tuple[str, ...], int]]:
    """A table's cells of `source` (every source if None), without the source column."""
    return sorted(
        (cells[:SOURCE_AT] + cells[SOURCE_AT + 1 :], count)
        for cells, count in tables.rows(spec)
        if source is None or cells[SOURCE_AT] == source
    )


def test_a_registry_uploads_its_tables_and_the_exporter_downloads_them_pooled(
    live_server, page, make_user, site_a, clinician_a, core_version, feeds_run_by_the_test, tmp_path
):
    platform_cases = [submitted_case(clinician_a, site_a) for _ in range(PLATFORM_CASES)]
    uploader = make_user("registry-a", "registry_uploader", site_a)
    exporter = make_user("exporter-a", "exporter", site_a)
    registry = tmp_path / "registry"
    registry.mkdir()
    result = registry_run(registry)
    forged, forged_reason = tampered_copy(result)
    server = live_server.url
    watched = watch(page, server)

    # The registry's data manager uploads the zip, then the forged copy.
    log_in(page, server, uploader, "/exports/federated/upload/")
    expect(page.get_by_role("heading", name="Upload count tables")).to_be_visible()
    expect(page.get_by_test_id("no-uploads")).to_be_visible()
    upload_zip(page, result)
    accepted = page.get_by_test_id("upload-accepted")
    expect(accepted).to_contain_text(f"was accepted for {site_a.code}")
    expect(accepted.get_by_test_id("upload-rows")).to_have_text(str(len(REGISTRY_AGES)))
    expect(accepted.get_by_test_id("upload-report-source")).to_have_text("clinicians")
    expect(accepted.get_by_test_id("upload-tables")).to_have_text(str(len(TABLE_SPECS)))
    expect(accepted.get_by_test_id("upload-replaced")).to_have_text(
        "It is your site's first upload of these tables."
    )
    stored = FederatedUpload.objects.get()
    assert stored.sha256 == hashlib.sha256(result.read_bytes()).hexdigest()
    expect(page.locator(f'[data-upload-id="{stored.pk}"]')).to_contain_text("pooled")

    upload_zip(page, forged)
    refusal = page.get_by_test_id("upload-refused")
    expect(refusal).to_contain_text("The upload was refused; nothing was stored.")
    expect(refusal).to_contain_text(f"The zip was refused: {forged_reason}.")
    assert "counts 8 records" in forged_reason and "says 7 records" in forged_reason
    expect(page.get_by_test_id("upload-accepted")).to_have_count(0)
    assert FederatedUpload.objects.count() == 1
    log_out(page)

    # The site's exporter sees the contributions, asks for the exact feed and downloads it.
    log_in(page, server, exporter, "/exports/feeds/")
    expect(page.get_by_role("heading", name="Federated feeds")).to_be_visible()
    platform_row = page.locator('[data-kind="platform"]').filter(has_text="clinicians")
    expect(platform_row).to_contain_text(f"clinicians{PLATFORM_CASES}")
    upload_row = page.locator('[data-kind="upload"]')
    expect(upload_row).to_have_count(1)
    expect(upload_row).to_contain_text(f"upload #{stored.pk}")
    expect(upload_row.locator("td").nth(1)).to_have_text(site_a.code)
    expect(upload_row.locator("td").nth(3)).to_have_text(str(len(REGISTRY_AGES)))

    page.get_by_label("Exact (for the central team)", exact=True).check()
    page.get_by_role("button", name="Ask for the feed").click()
    job = FeedJob.objects.get(requested_by=exporter)
    expect(
        page.get_by_role("alert").filter(has_text=f"Feed #{job.pk} (exact) is queued")
    ).to_be_visible()
    row = page.locator(f'[data-testid="feed-job"][data-job-id="{job.pk}"]')
    follow_job_row(row, lambda: run_feed(job.pk))
    job.refresh_from_db()
    expect(row.locator('[data-role="sha256"]')).to_have_text(job.sha256)
    with page.expect_download() as started:
        row.get_by_role("link", name=re.compile("Download")).click()
    saved = tmp_path / "feed.zip"
    started.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == job.sha256

    pooled = read_result_zip(saved).tables_by_source["clinicians"]
    registry_tables = read_result_zip(result).tables_by_source["clinicians"]
    upload_label = f"R_{site_a.code}"
    platform_label = central_source(platform_cases[0].secret_name, PLATFORM_COUNTRY)
    assert platform_label.startswith("C_")
    assert source_totals(pooled) == {
        upload_label: len(REGISTRY_AGES),
        platform_label: PLATFORM_CASES,
    }
    for spec in TABLE_SPECS:  # every table: the upload's cells as the registry counted them
        assert cells_of(pooled, upload_label, spec) == cells_of(registry_tables, None, spec), (
            spec.file_name("clinicians")
        )
    assert len(cells_of(pooled, upload_label, FIRST_TABLE)) > 1  # the ages made several cells

    # Chromium logs a page answered with a 4xx as a console error: the refusal's 422 (by
    # design: nothing was stored) must be that one line, and no other error may appear.
    refused_status = (
        "Failed to load resource: the server responded with a status of 422 "
        f"(Unprocessable Entity) ({server}/exports/federated/upload/)"
    )
    assert watched.console_errors.count(refused_status) == 1, watched.console_errors
    watched.console_errors.remove(refused_status)
    watched.assert_clean()
    watched.assert_catches_csp_violations(page)
