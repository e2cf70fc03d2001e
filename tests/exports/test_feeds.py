"""The pooled federated feed: a job row that pools the platform's count tables (both report
sources, in the database) with every accepted upload, cell by cell, each upload as its own
source; exact, or the publication variant with small cells suppressed. Run by calling
`exports.tasks.run_feed(job.id)` in this process (a test's transaction never commits, so no
task is sent; tests/exports/test_worker.py runs one in a real worker).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from cases.conftest import context
from django.urls import reverse
from django.utils import timezone
from federated_helpers import make_result_zip, tables_of
from helpers_auth import verified_login

from casereports.models import AuditEvent, CaseStatus
from casereports.services.cases import NotAllowed
from exports import feeds, services
from exports.downloads import link_token
from exports.federated.result import read_result_zip
from exports.federated.suppress import suppress
from exports.federated.tables import REPORT_SOURCES, TABLE_SPECS, CountTables
from exports.feedsql import platform_tables
from exports.models import ExportJob, FeedJob, JobStatus
from exports.tasks import run_feed

pytestmark = pytest.mark.django_db

SOURCE_AT = 1  # `source` among a table's grouping cells
LINK = re.compile(r"^/exports/feeds/(\d+)/file/([^/]+)/$")


@pytest.fixture
def uploader_b(make_user, site_b):
    return make_user("uploader-b", "registry_uploader", site_b)


@pytest.fixture
def analyst_a(make_user, site_a):
    return make_user("analyst-a", "analyst", site_a)


@pytest.fixture
def registry_b(uploader_b, site_b, tmp_path, core_version) -> feeds.UploadSummary:
    """Site B's registry: a first clinicians upload (replaced), then the pooled one."""
    folder = tmp_path / "registry-b"
    first = make_result_zip(folder, 15, seed=11)
    with first.open("rb") as handle:
        feeds.upload_result(context(uploader_b), site_b, handle)
    pooled = make_result_zip(folder, 40, seed=12)
    with pooled.open("rb") as handle:
        return feeds.upload_result(context(uploader_b), site_b, handle)


def finished(job: FeedJob) -> FeedJob:
    assert run_feed(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def feed_zip(job: FeedJob, export_dir: Path) -> Path:
    path = export_dir / job.file_path
    content = path.read_bytes()
    assert len(content) == job.file_size
    assert hashlib.sha256(content).hexdigest() == job.sha256
    return path


def relabelled(tables: CountTables, label: str) -> CountTables:
    """A registry's tables with `source` set to the upload's label (independently of pool)."""
    out = CountTables(tables.report_source)
    for spec, table in tables.items():
        out.add_table_rows(
            spec,
            (
                ((*cells[:SOURCE_AT], label, *cells[SOURCE_AT + 1 :]), n)
                for cells, n in table.items()
            ),
        )
    return out


def expected_pool(job: FeedJob, uploads: dict[str, list[tuple[Path, str]]]) -> dict:
    """The platform's tables of the job's cases plus each upload's, cell by cell."""
    expected = {}
    for source in REPORT_SOURCES:
        tables = platform_tables(source, cases=feeds.feed_cases(job).filter(report_source=source))
        for path, label in uploads.get(source, []):
            tables.merge(relabelled(tables_of(path, source), label))
        expected[source] = tables
    return expected


def test_the_exact_feed_is_the_platform_plus_every_accepted_upload_cell_by_cell(
    administrator, site_a, site_b, make_cases, registry_b, export_dir, tmp_path
):
    make_cases(site_a, 30)
    make_cases(site_b, 10, seed=5)
    make_cases(site_a, 4, status=CaseStatus.DRAFT)  # drafts are not counted
    make_cases(site_a, 3, consent_withdrawn=True)  # nor withdrawn consent
    job = feeds.request_feed(context(administrator), "exact")
    assert job.filters == {"sites": sorted([site_a.pk, site_b.pk])}

    job = finished(job)

    result = read_result_zip(feed_zip(job, export_dir))  # the exact feed is a valid result zip
    pooled_upload = registry_b.upload
    upload_zip = export_dir / pooled_upload.file_path
    expected = expected_pool(job, {"clinicians": [(upload_zip, "R_site-b")]})
    assert set(result.tables_by_source) == set(REPORT_SOURCES)
    for source in REPORT_SOURCES:
        for spec in TABLE_SPECS:
            got = result.tables_by_source[source].rows(spec)
            assert got == expected[source].rows(spec), spec.file_name(source)
    platform = {s: feeds.feed_cases(job).filter(report_source=s).count() for s in REPORT_SOURCES}
    assert sum(platform.values()) == 40
    clinicians = result.tables_by_source["clinicians"]
    assert clinicians.total() == platform["clinicians"] + 40
    upload_cells = [cells for cells, _ in clinicians.rows(TABLE_SPECS[0])]
    assert sum(n for cells, n in clinicians.rows(TABLE_SPECS[0]) if cells[1] == "R_site-b") == 40
    assert all(cells[SOURCE_AT] != "missing" for cells in upload_cells)

    sources = result.manifest["sources"]
    assert [(s["kind"], s["report_source"], s["rows"]) for s in sources] == [
        ("platform", "clinicians", platform["clinicians"]),
        ("platform", "patients", platform["patients"]),
        ("upload", "clinicians", 40),
    ]
    assert sources[2]["site"] == "site-b" and sources[2]["upload"] == pooled_upload.pk
    assert sources[2]["dated"] == pooled_upload.uploaded_at.isoformat()
    assert all(source["dated"] for source in sources)
    assert result.manifest["variant"] == "exact"
    assert [c["id"] for c in result.manifest["corrections"]] == ["C1", "C2", "C3"]
    assert job.row_counts == {
        "clinicians: platform": platform["clinicians"],
        "patients: platform": platform["patients"],
        "clinicians: R_site-b": 40,
    }
    assert job.rows_done == job.rows_total == 80
    finished_event = AuditEvent.objects.get(action="feed.finished")
    assert finished_event.details["sha256"] == job.sha256
    assert AuditEvent.objects.get(action="feed.requested").actor == administrator


def test_an_exporters_feed_counts_only_the_sites_they_may_export(
    exporter_a, site_a, site_b, make_cases, registry_b, export_dir
):
    make_cases(site_a, 12)
    make_cases(site_b, 9, seed=3)
    job = finished(feeds.request_feed(context(exporter_a)))

    result = read_result_zip(feed_zip(job, export_dir))
    assert job.filters == {"sites": [site_a.pk]}
    assert sum(t.total() for t in result.tables_by_source.values()) == 12
    assert [source["kind"] for source in result.manifest["sources"]] == ["platform", "platform"]


def test_the_publication_feed_suppresses_small_cells_and_says_how_many(
    administrator, site_a, make_cases, registry_b, export_dir
):
    make_cases(site_a, 30)
    exact = finished(feeds.request_feed(context(administrator), "exact"))
    job = finished(feeds.request_feed(context(administrator), "publication", 5))

    pooled = read_result_zip(feed_zip(exact, export_dir)).tables_by_source
    with zipfile.ZipFile(feed_zip(job, export_dir)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    expected_hidden = sum(suppress(tables, 5).suppressed for tables in pooled.values())
    assert expected_hidden > 0
    assert manifest["suppressed_cells"] == job.suppressed_cells == expected_hidden
    assert manifest["suppression"]["clinicians"]["threshold"] == 5
    assert manifest["rows_total"] == {s: t.total() for s, t in pooled.items()}
    hidden = 0
    for source, tables in pooled.items():
        for spec in TABLE_SPECS:
            rows = list(csv.reader(io.StringIO(files[spec.file_name(source)])))[1:]
            exact_cells = dict(tables.rows(spec))
            assert [tuple(row[1:-1]) for row in rows] == list(exact_cells)  # same cells listed
            for row in rows:
                count = row[-1]
                if count == "":
                    hidden += 1
                else:
                    assert int(count) >= 5 and int(count) == exact_cells[tuple(row[1:-1])]
    assert hidden == expected_hidden


def test_a_publication_threshold_defaults_to_the_setting(administrator, core_version, settings):
    settings.GDSI_PUBLICATION_THRESHOLD = 7
    assert feeds.request_feed(context(administrator), "publication").threshold == 7
    assert feeds.request_feed(context(administrator), "exact").threshold == 0


@pytest.mark.parametrize(
    ("variant", "threshold", "field"),
    [
        ("sorted", None, "variant"),
        ("publication", "0", "threshold"),
        ("publication", "x", "threshold"),
    ],
)
def test_a_bad_feed_request_names_the_field_and_makes_no_job(
    variant, threshold, field, administrator, core_version
):
    with pytest.raises(services.InvalidExportRequest) as refused:
        feeds.request_feed(context(administrator), variant, threshold)
    assert list(refused.value.errors) == [field]
    assert not FeedJob.objects.exists()


@pytest.mark.parametrize("role", ["clinician", "analyst", "registry_uploader", "site_manager"])
def test_only_exporters_and_administrators_ask_for_feeds(role, make_user, site_a, core_version):
    user = make_user(f"{role}-a", role, site_a)
    with pytest.raises(NotAllowed):
        feeds.request_feed(context(user), "publication")
    assert not FeedJob.objects.exists()
    denial = AuditEvent.objects.get(action="permission.denied")
    assert denial.actor == user and denial.details["attempted"] == "feed"


def test_a_stored_upload_changed_on_disk_fails_the_feed_without_values(
    administrator, registry_b, export_dir
):
    path = export_dir / registry_b.upload.file_path
    path.write_bytes(path.read_bytes() + b"\0")
    job = feeds.request_feed(context(administrator))
    assert run_feed(job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and not job.file_path
    assert (
        job.error == f"Upload #{registry_b.upload.pk}'s stored file no longer matches its sha256."
    )
    assert sorted(p.name for p in (export_dir / "feeds" / str(job.pk)).iterdir()) == []


def test_a_feed_is_run_once_whatever_the_deliveries(administrator, core_version):
    job = feeds.request_feed(context(administrator))
    assert run_feed(job.pk) == "done"
    assert run_feed(job.pk) == "skipped"
    assert AuditEvent.objects.filter(action="feed.finished").count() == 1


def test_the_sweeper_resends_a_silent_feed_job(administrator, core_version):
    silent = feeds.request_feed(context(administrator))
    fresh = feeds.request_feed(context(administrator))
    FeedJob.objects.filter(pk=silent.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.jobs_to_resend(FeedJob) == [silent.pk]
    assert fresh.pk not in services.jobs_to_resend(FeedJob)
    assert services.jobs_to_resend() == []  # export jobs are apart


# --- pages and downloads ----------------------------------------------------------------------


def test_an_exporter_asks_for_a_feed_sees_the_contributions_and_downloads_it(
    client, exporter_a, site_a, make_cases, export_dir, core_version
):
    make_cases(site_a, 6, report_source="clinicians")
    verified_login(client, exporter_a)
    page = client.get("/exports/feeds/").content.decode()
    assert 'data-testid="feed-form"' in page and 'data-kind="platform"' in page
    assert "<td>clinicians</td><td>6</td>" in page
    assert "style=" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))

    assert client.post("/exports/feeds/", {"variant": "exact"}).status_code == 302
    job = finished(FeedJob.objects.get(requested_by=exporter_a))
    status = client.get(f"/exports/feeds/{job.pk}/status.json").json()
    assert (
        status["status"] == "done"
        and status["download_url"] == f"/exports/feeds/{job.pk}/download/"
    )

    redirect = client.get(f"/exports/feeds/{job.pk}/download/")
    assert redirect.status_code == 302 and LINK.match(redirect["Location"])
    response = client.get(redirect["Location"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == job.sha256
    assert f"gdsi-feed-{job.pk}-exact.zip" in response["Content-Disposition"]
    (event,) = AuditEvent.objects.filter(action="feed.downloaded")
    assert event.actor == exporter_a and event.details["sha256"] == job.sha256


def test_an_analyst_downloads_a_publication_feed_but_never_the_exact_one(
    client, administrator, analyst_a, core_version
):
    exact = finished(feeds.request_feed(context(administrator), "exact"))
    publication = finished(feeds.request_feed(context(administrator), "publication"))
    verified_login(client, analyst_a)
    page = client.get("/exports/feeds/").content.decode()
    assert 'data-testid="feed-form"' not in page and 'data-kind="platform"' not in page
    assert f'data-job-id="{publication.pk}"' in page and f'data-job-id="{exact.pk}"' not in page

    link = client.get(f"/exports/feeds/{publication.pk}/download/")["Location"]
    assert client.get(link).status_code == 200
    assert AuditEvent.objects.get(action="feed.downloaded").actor == analyst_a
    assert client.get(f"/exports/feeds/{exact.pk}/download/").status_code == 404
    assert client.post("/exports/feeds/", {"variant": "exact"}).status_code == 403
    attempts = AuditEvent.objects.filter(action="permission.denied", actor=analyst_a)
    assert [e.details["attempted"] for e in attempts.order_by("pk")] == [
        f"download feed #{exact.pk}",
        "feed",
    ]


def test_another_exporter_cannot_fetch_an_exact_feed_nor_use_its_link(
    client, exporter_a, other_exporter, core_version
):
    job = finished(feeds.request_feed(context(exporter_a)))
    verified_login(client, other_exporter)
    assert client.get(f"/exports/feeds/{job.pk}/download/").status_code == 404
    stolen = link_token(job, exporter_a)
    assert client.get(f"/exports/feeds/{job.pk}/file/{stolen}/").status_code == 404
    assert not AuditEvent.objects.filter(action="feed.downloaded").exists()


def test_an_export_link_does_not_open_the_feed_of_the_same_number(
    client, administrator, core_version
):
    job = finished(feeds.request_feed(context(administrator)))
    export_like = ExportJob(pk=job.pk)
    verified_login(client, administrator)
    response = client.get(f"/exports/feeds/{job.pk}/file/{link_token(export_like, administrator)}/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="feed.downloaded").exists()


@pytest.mark.parametrize("role", ["clinician", "registry_uploader"])
def test_the_feeds_pages_refuse_users_without_aggregate_rights(
    role, client, make_user, site_a, administrator, core_version
):
    job = finished(feeds.request_feed(context(administrator), "publication"))
    user = make_user(f"{role}-a", role, site_a)
    verified_login(client, user)
    for url in feed_urls(job, administrator):
        method = client.post if url == "/exports/feeds/#post" else client.get
        assert method(url.removesuffix("#post")).status_code == 403, url
    assert AuditEvent.objects.filter(action="permission.denied", actor=user).count() == 5
    assert not AuditEvent.objects.filter(action="feed.downloaded").exists()
    assert FeedJob.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in_from_every_feed_page(
    client, administrator, core_version
):
    job = finished(feeds.request_feed(context(administrator)))
    for url in feed_urls(job, administrator):
        response = client.get(url.removesuffix("#post"))
        assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not AuditEvent.objects.filter(action="permission.denied").exists()


def feed_urls(job: FeedJob, owner) -> list[str]:
    return [
        "/exports/feeds/",
        "/exports/feeds/#post",
        f"/exports/feeds/{job.pk}/status.json",
        f"/exports/feeds/{job.pk}/download/",
        f"/exports/feeds/{job.pk}/file/{link_token(job, owner)}/",
    ]


def test_the_persona_checks_cover_every_feed_page(administrator, core_version):
    from django.urls import resolve

    from exports.urls import urlpatterns

    job = feeds.request_feed(context(administrator))
    checked = {resolve(url.removesuffix("#post")).url_name for url in feed_urls(job, administrator)}
    checked.add("federated_upload")  # its personas: test_federated_upload.py
    names = {pattern.name for pattern in urlpatterns}
    assert checked == {name for name in names if name.startswith(("feed", "federated"))}
