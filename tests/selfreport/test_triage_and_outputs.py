"""What leaves the platform: a withdrawn report, a duplicate and spam are in no later export,
feed or count; new and accepted reports are. Triage is for central data managers (every site)
and site managers (their site), on record."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
from cases.conftest import context
from django.test import Client
from helpers_auth import verified_login

from casereports.models import AuditEvent, Case, PatientReport
from casereports.selfreport import services
from exports import feeds, tasks
from exports import services as export_services
from exports.feedsql import counted_cases
from exports.queries import job_cases
from selfreport.journey import PATIENT_ANSWERS, consent_to_all, fill_all, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path) -> Path:
    settings.GDSI_EXPORT_DIR = tmp_path / "exports"
    return settings.GDSI_EXPORT_DIR


def sent_report(project, **changes) -> Case:
    """A patient's report, sent through the pages (a client of its own)."""
    client = Client()
    consent_to_all(client)
    if changes:
        from selfreport.journey import save_page

        for form, values in PATIENT_ANSWERS.items():
            save_page(client, form, {**values, **changes.get(form, {})})
    else:
        fill_all(client)
    send(client)
    return Case.objects.get(pk=client.session["selfreport"]["receipt"])


@pytest.fixture
def central(make_user, site_b):
    return make_user("central", "central_data_manager", site_b)


@pytest.fixture
def manager_a(make_user, site_a):
    return make_user("manager-a", "site_manager", site_a)


@pytest.fixture
def manager_b(make_user, site_b):
    return make_user("manager-b", "site_manager", site_b)


def exported_rows(user, export_dir) -> list[dict]:
    job = export_services.request_export(context(user), profile="central")
    assert tasks.run_export(job.pk) == "done"
    job.refresh_from_db()
    with zipfile.ZipFile(Path(export_dir) / job.file_path) as archive:
        text = archive.read("redcap_records.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_withdrawn_duplicate_and_spam_reports_leave_every_later_output(
    project, make_user, site_a, central, export_dir, no_fill_delay
):
    exporter = make_user("exporter", "administrator", site_a)
    kept = sent_report(project)
    accepted = sent_report(project)
    withdrawn = sent_report(project)
    duplicate = sent_report(project)
    spam = sent_report(project)
    before = exported_rows(exporter, export_dir)
    assert len(before) == 5
    assert counted_cases("patients").count() == 5

    services.withdraw_consent(context(None), withdrawn)
    services.triage_report(context(central), accepted, "accepted")
    services.triage_report(context(central), duplicate, "duplicate", duplicate_of=kept.secret_name)
    services.triage_report(context(central), spam, "spam")

    after = exported_rows(exporter, export_dir)
    assert len(after) == 2  # the new one and the accepted one
    assert set(counted_cases("patients").values_list("pk", flat=True)) == {kept.pk, accepted.pk}
    job = feeds.request_feed(context(exporter), "exact")
    assert set(feeds.feed_cases(job).values_list("pk", flat=True)) == {kept.pk, accepted.pk}
    export_job = export_services.request_export(context(exporter), profile="open")
    assert set(job_cases(export_job).values_list("pk", flat=True)) == {kept.pk, accepted.pk}
    feed = feeds.request_feed(context(exporter), "exact")
    from exports.tasks import run_feed

    assert run_feed(feed.pk) == "done"
    feed.refresh_from_db()
    assert feed.row_counts == {"clinicians: platform": 0, "patients: platform": 2}


def test_central_data_managers_triage_every_site_and_each_decision_is_on_record(
    project, central, no_fill_delay, client
):
    report = sent_report(project)
    verified_login(client, central)
    page = client.get("/cases/patient-reports/").content.decode()
    assert report.secret_name in page
    response = client.post(
        f"/cases/patient-reports/{report.secret_name}/", {"decision": "spam", "back": "new"}
    )
    assert response.status_code == 302
    assert PatientReport.objects.get(case=report).triage == "spam"
    event = AuditEvent.objects.get(action="patient.triaged")
    assert event.details["to"] == "spam" and event.details["withheld"] is True
    assert event.actor_username == "central"
    row = f'data-testid="triage-{report.secret_name}"'
    assert row not in client.get("/cases/patient-reports/").content.decode()
    assert row in client.get("/cases/patient-reports/?status=spam").content.decode()


def test_a_site_manager_triages_only_their_sites_link(
    project, manager_a, manager_b, no_fill_delay, client
):
    report = sent_report(project)  # lands at site A
    verified_login(client, manager_b)
    page = client.get("/cases/patient-reports/").content.decode()
    assert f'data-testid="triage-{report.secret_name}"' not in page
    refused = client.post(f"/cases/patient-reports/{report.secret_name}/", {"decision": "accepted"})
    assert refused.status_code == 404
    assert PatientReport.objects.get(case=report).triage == "new"
    assert AuditEvent.objects.filter(action="permission.denied", case=report).exists()
    verified_login(client, manager_a)
    client.post(f"/cases/patient-reports/{report.secret_name}/", {"decision": "accepted"})
    assert PatientReport.objects.get(case=report).triage == "accepted"


def test_a_clinician_cannot_open_triage(project, make_user, site_a, client):
    clinician = make_user("clin", "clinician", site_a)
    verified_login(client, clinician)
    assert client.get("/cases/patient-reports/").status_code == 403


def test_a_duplicate_must_name_a_case_the_manager_can_see(project, central, no_fill_delay):
    report = sent_report(project)
    with pytest.raises(services.CaseServiceError, match="Name the case"):
        services.triage_report(context(central), report, "duplicate", duplicate_of="P_NOPE")
    assert PatientReport.objects.get(case=report).triage == "new"


def test_the_same_persons_second_report_is_flagged_as_a_possible_duplicate(project, no_fill_delay):
    first = sent_report(project)
    second = sent_report(project, covid19={"covid19_date_suspected_onset": "2021-03-03"})
    other = sent_report(project, demographics={"age_years": "61", "sex": "female"})
    assert PatientReport.objects.get(case=first).possible_duplicates == []
    assert PatientReport.objects.get(case=second).possible_duplicates == [first.secret_name]
    assert PatientReport.objects.get(case=other).possible_duplicates == []
