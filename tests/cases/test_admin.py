"""The Django admin shows cases and the audit trail only as the access module allows."""

import pytest
from helpers_auth import verified_login

from casereports.models import AuditEvent, Membership
from casereports.services import cases as services

from .conftest import context

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_a(core_version, clinician_a, site_a):
    return services.create_case(context(clinician_a), site_a)


@pytest.fixture
def staff_of_site_b(make_user, site_b):
    user = make_user("staff-b", "clinician", site_b)
    user.is_staff = True
    user.save()
    return user


def test_staff_of_another_site_see_neither_the_case_nor_its_events(client, case_a, staff_of_site_b):
    verified_login(client, staff_of_site_b)
    listing = client.get("/admin/casereports/case/")
    assert listing.status_code == 200
    assert case_a.secret_name not in listing.content.decode()
    opened = client.get(f"/admin/casereports/case/{case_a.pk}/change/")
    assert opened.status_code == 302  # the admin's "does not exist" redirect, nothing shown
    denial = AuditEvent.objects.get(action="permission.denied", actor=staff_of_site_b)
    assert denial.case == case_a and denial.details == {"attempted": "admin case page"}
    assert client.get("/admin/casereports/auditevent/").status_code == 403  # not an administrator


def test_an_administrator_opening_a_case_is_on_record_and_cannot_change_it(
    client, case_a, make_user, site_a
):
    admin_user = make_user("admin-1", "administrator", site_a)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    verified_login(client, admin_user)
    page = client.get(f"/admin/casereports/case/{case_a.pk}/change/")
    assert page.status_code == 200 and case_a.secret_name in page.content.decode()
    assert AuditEvent.objects.filter(case=case_a, action="case.viewed", actor=admin_user).exists()
    client.post(f"/admin/casereports/case/{case_a.pk}/change/", {"status": "locked"})
    case_a.refresh_from_db()
    assert case_a.status == "draft"
    assert (
        client.post(f"/admin/casereports/case/{case_a.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/casereports/auditevent/").status_code == 200


def test_a_superuser_without_a_membership_sees_no_cases(client, case_a, make_user):
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    assert not Membership.objects.filter(user=root).exists()
    verified_login(client, root)
    assert client.get(f"/admin/casereports/case/{case_a.pk}/change/").status_code in (302, 403)
    assert case_a.secret_name not in client.get("/admin/casereports/case/").content.decode()
