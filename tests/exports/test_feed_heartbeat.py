"""A feed whose platform query outlasts the stale period keeps its claim.

The platform's tables are one long query per report source (minutes on a million cases), with
no progress to report while it runs. Without a heartbeat beside it the sweeper would take the
job for lost after GDSI_EXPORT_STALE_SECONDS, start it again, and again, and a large platform's
feed would never finish. The query is made slow here by sleeping around the real one.

The heartbeat needs a second connection that commits while the task's own one is busy, so these
run on PostgreSQL outside a test transaction (`transactional_db`), as a worker runs them.
"""

from __future__ import annotations

import time

import pytest
from cases.conftest import context
from django.db import connection

from exports import feeds, feedsql, services
from exports.models import FeedJob, JobStatus
from exports.tasks import run_feed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STALE_SECONDS = 2


@pytest.fixture
def slow_platform_query(monkeypatch, settings):
    """`slow_platform_query(during)`: each report source's platform query takes one and a half
    stale periods, and `during(job_id)` runs after one and a quarter of the first one, when a
    job that wrote no heartbeat since it started would be taken for lost."""
    if connection.vendor != "postgresql":
        # Never a silent skip in CI: tests/conftest.py refuses to run CI on anything else.
        pytest.skip("a heartbeat beside a running query needs PostgreSQL")
    settings.GDSI_EXPORT_STALE_SECONDS = STALE_SECONDS
    monkeypatch.setattr(feeds, "enqueue_feed", lambda job_id: None)  # the test runs the task
    real = feedsql.platform_tables

    def install(during):
        calls = []

        def slow(report_source, *, cases):
            time.sleep(1.25 * STALE_SECONDS)
            if not calls:
                during(FeedJob.objects.get().pk)
            calls.append(report_source)
            time.sleep(0.25 * STALE_SECONDS)
            return real(report_source, cases=cases)

        monkeypatch.setattr(feedsql, "platform_tables", slow)
        return calls

    return install


def test_a_feed_longer_than_the_stale_period_is_not_taken_for_lost(
    slow_platform_query, administrator, site_a, make_cases, export_dir
):
    make_cases(site_a, 12)
    claims_meanwhile = []
    slow_platform_query(lambda job_id: claims_meanwhile.append(services.claim_job(job_id, FeedJob)))
    feeds.request_feed(context(administrator), "exact")
    job = FeedJob.objects.get()
    assert run_feed(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    assert job.attempts == 1 and job.rows_done == 12
    assert claims_meanwhile == [None]  # a second worker found it alive


def test_a_feed_whose_claim_is_taken_meanwhile_stops_without_a_file(
    slow_platform_query, administrator, site_a, make_cases, export_dir
):
    make_cases(site_a, 3)

    def cancel(job_id: int) -> None:
        FeedJob.objects.filter(pk=job_id).update(status=JobStatus.CANCELLED)

    calls = slow_platform_query(cancel)
    feeds.request_feed(context(administrator), "exact")
    job = FeedJob.objects.get()
    assert run_feed(job.pk) == "lost"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.file_path
    assert calls == ["clinicians"]  # stopped before the second report source's query
    assert not any(export_dir.rglob("*.zip"))
