"""Administrators keep the patient stream's settings in the admin: the default project, other
initiatives and versioned consent documents, every change on record; a document patients
agreed to cannot be changed or deleted there."""

import pytest
from django.test import Client
from helpers_auth import verified_login

from casereports.models import AuditEvent, ConsentDocument, ExternalInitiative
from selfreport.journey import consent_to_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def administrator(make_user, site_a):
    user = make_user("admin", "administrator", site_a)
    user.is_staff = True
    user.save()
    return user


def test_an_administrator_adds_an_initiative_and_it_is_on_record(client, administrator, project):
    verified_login(client, administrator)
    response = client.post(
        "/admin/casereports/externalinitiative/add/",
        {"name": "MS Society ES", "country": "ES", "url": "https://example.org/es", "active": "on"},
    )
    assert response.status_code == 302
    assert ExternalInitiative.objects.get().name == "MS Society ES"
    event = AuditEvent.objects.get(action="selfreport.initiative.added")
    assert event.actor_username == "admin" and "name" in event.details["fields"]


def test_a_consent_document_patients_agreed_to_is_read_only(
    client, administrator, project, no_fill_delay
):
    consent_to_all(Client())
    agreed = ConsentDocument.objects.get(language="en", records__isnull=False)
    unused = ConsentDocument.objects.get(language="fr")
    verified_login(client, administrator)
    page = client.get(f"/admin/casereports/consentdocument/{agreed.pk}/change/").content.decode()
    assert 'name="title"' not in page  # shown, not editable
    client.post(
        f"/admin/casereports/consentdocument/{agreed.pk}/change/",
        {"title": "Changed behind their back"},
    )
    agreed.refresh_from_db()
    assert agreed.title != "Changed behind their back"
    assert client.get(f"/admin/casereports/consentdocument/{agreed.pk}/delete/").status_code == 403
    editable = client.get(f"/admin/casereports/consentdocument/{unused.pk}/change/")
    assert 'name="title"' in editable.content.decode()


def test_a_clinician_cannot_open_the_patient_settings(client, make_user, site_a, project):
    clinician = make_user("clin", "clinician", site_a)
    clinician.is_staff = True
    clinician.save()
    verified_login(client, clinician)
    assert client.get("/admin/casereports/consentdocument/").status_code == 403
