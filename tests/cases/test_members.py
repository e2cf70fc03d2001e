"""A site manager manages their own site's members and exports their site's audit trail."""

import csv
import io
import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.models import AuditEvent, Membership
from casereports.services import cases as services
from casereports.services import members as member_services

from .conftest import context
from .helpers import log_in

pytestmark = pytest.mark.django_db

MEMBERS = reverse("cases:members")
AUDIT_CSV = reverse("cases:audit_csv")


def post(client, action: str, **fields):
    return client.post(MEMBERS, {"site": "site-a", "action": action, **fields})


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_manager_sees_their_sites_members(client, manager_a, clinician_a, clinician_b):
    log_in(client, manager_a)
    response = client.get(MEMBERS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "clin-a" in page and "manager-a" in page and "clin-b" not in page


def test_a_manager_adds_changes_and_removes_a_clinician(client, manager_a, make_user, site_a):
    newcomer = make_user("newcomer")
    log_in(client, manager_a)

    added = post(client, "add", username="newcomer", role="clinician")
    assert added.status_code == 302
    membership = Membership.objects.get(user=newcomer, site=site_a)
    assert membership.role == "clinician"
    assert "newcomer is now clinician at site-a." in client.get(MEMBERS).content.decode()

    changed = post(client, "change", membership=membership.pk, role="site_manager")
    assert changed.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "site_manager"

    removed = post(client, "remove", membership=membership.pk)
    assert removed.status_code == 302
    assert not Membership.objects.filter(user=newcomer).exists()

    assert [e.details for e in events("member.added")] == [
        {"username": "newcomer", "role": "clinician", "new_user": False}
    ]
    assert [e.details for e in events("member.role_changed")] == [
        {"username": "newcomer", "role": "site_manager", "previous_role": "clinician"}
    ]
    assert [e.details for e in events("member.removed")] == [
        {"username": "newcomer", "role": "site_manager"}
    ]
    assert all(
        e.actor_username == "manager-a" and e.site_code == "site-a" and e.role == "site_manager"
        for e in AuditEvent.objects.filter(action__startswith="member.")
    )


def test_a_new_user_gets_a_temporary_password_shown_once(client, manager_a, site_a):
    log_in(client, manager_a)
    response = post(client, "create", username="dr-new", role="clinician", email="")
    assert response.status_code == 200
    password = response.context["new_member"].temporary_password
    assert password in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    user = get_user_model().objects.get(username="dr-new")
    assert authenticate(username="dr-new", password=password) == user
    assert Membership.objects.get(user=user).role == "clinician"
    event = events("member.added")[0]
    assert event.details == {"username": "dr-new", "role": "clinician", "new_user": True}
    assert password not in json.dumps(event.details)
    assert password not in client.get(MEMBERS).content.decode()


def test_a_taken_or_unknown_username_is_refused_by_name(client, manager_a, clinician_a):
    log_in(client, manager_a)
    taken = post(client, "create", username="clin-a", role="clinician")
    assert taken.status_code == 400
    assert "Username: &#x27;clin-a&#x27; is taken" in taken.content.decode()
    assert 'value="clin-a"' in taken.content.decode()  # what was typed is kept
    unknown = post(client, "add", username="nobody", role="clinician")
    assert unknown.status_code == 400
    assert "Username: there is no user called &#x27;nobody&#x27;." in unknown.content.decode()
    already = post(client, "add", username="clin-a", role="site_manager")
    assert "already a member of site-a" in already.content.decode()
    assert not events("member.added")


@pytest.mark.parametrize("role", ["administrator", "central_data_manager", "exporter"])
def test_central_roles_cannot_be_granted_here(client, manager_a, make_user, site_a, role):
    make_user("hopeful")
    log_in(client, manager_a)
    response = post(client, "add", username="hopeful", role=role)
    assert response.status_code == 403
    assert "only clinician or site manager" in response.content.decode()
    assert not Membership.objects.filter(user__username="hopeful").exists()
    assert events("permission.denied")[0].details == {"attempted": f"grant role {role}"}


def test_a_central_role_membership_is_not_managed_here(client, manager_a, make_user, site_a):
    exporter = make_user("exporter-a", "exporter", site_a)
    membership = Membership.objects.get(user=exporter)
    log_in(client, manager_a)
    assert "Managed by an administrator" in client.get(MEMBERS).content.decode()
    assert post(client, "remove", membership=membership.pk).status_code == 403
    assert post(client, "change", membership=membership.pk, role="clinician").status_code == 403
    assert Membership.objects.get(pk=membership.pk).role == "exporter"
    attempts = [event.details["attempted"] for event in events("permission.denied")]
    assert attempts == ["remove member (exporter)", "change member role (exporter)"]


def test_the_last_site_manager_cannot_leave(client, manager_a, site_a):
    own = Membership.objects.get(user=manager_a, site=site_a)
    log_in(client, manager_a)
    removed = post(client, "remove", membership=own.pk)
    assert removed.status_code == 400
    assert "the only site manager of site-a" in removed.content.decode()
    demoted = post(client, "change", membership=own.pk, role="clinician")
    assert demoted.status_code == 400
    assert Membership.objects.get(pk=own.pk).role == "site_manager"


def test_with_a_second_manager_one_may_step_down(client, manager_a, make_user, site_a):
    make_user("manager-a2", "site_manager", site_a)
    own = Membership.objects.get(user=manager_a, site=site_a)
    log_in(client, manager_a)
    assert post(client, "change", membership=own.pk, role="clinician").status_code == 302
    assert Membership.objects.get(pk=own.pk).role == "clinician"
    assert client.get(MEMBERS).status_code == 403  # no longer a manager: the next page says so


def test_a_manager_cannot_touch_another_sites_members(client, manager_a, clinician_b, site_b):
    theirs = Membership.objects.get(user=clinician_b)
    log_in(client, manager_a)
    assert post(client, "remove", membership=theirs.pk).status_code == 403
    assert Membership.objects.filter(pk=theirs.pk).exists()
    assert client.get(MEMBERS, {"site": "site-b"}).status_code == 403
    denials = events("permission.denied")
    assert [e.site_code for e in denials] == ["site-b", "site-b"]


def test_clinicians_get_403_on_the_members_page_and_it_is_audited(
    client, clinician_a, manager_a, site_a
):
    log_in(client, clinician_a)
    assert client.get(MEMBERS).status_code == 403
    assert post(client, "add", username="manager-a", role="clinician").status_code == 403
    assert len(events("permission.denied")) == 2
    assert not events("member.added")


def test_a_manager_who_steps_down_loses_their_rights_at_once(manager_a, make_user, site_a):
    make_user("manager-a2", "site_manager", site_a)
    own = Membership.objects.get(user=manager_a)
    assert access.has_permission(manager_a, access.MANAGE_MEMBERS, site_a)  # now cached
    member_services.change_role(context(manager_a), own, "clinician")
    assert not access.has_permission(manager_a, access.MANAGE_MEMBERS, site_a)
    with pytest.raises(services.NotAllowed):
        member_services.remove_member(context(manager_a), own)


# --- the audit trail as CSV ------------------------------------------------------------------


def csv_rows(response) -> list[dict[str, str]]:
    content = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(content)))


def test_a_manager_exports_their_sites_trail_only(
    client, core_version, manager_a, clinician_a, clinician_b, site_a, site_b
):
    mine = services.create_case(context(clinician_a), site_a)
    theirs = services.create_case(context(clinician_b), site_b)
    log_in(client, manager_a)
    response = client.get(AUDIT_CSV, {"site": "site-a"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="audit-site-a-' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert list(rows[0]) == [
        "id", "at", "action", "actor", "role", "site", "case", "channel", "request_id", "ip",
        "details",
    ]  # fmt: skip
    assert {row["site"] for row in rows} == {"site-a"}
    assert mine.secret_name in {row["case"] for row in rows}
    assert theirs.secret_name not in {row["case"] for row in rows}
    created = next(row for row in rows if row["action"] == "case.created")
    assert created["actor"] == "clin-a" and created["at"].endswith("+00:00")
    assert json.loads(created["details"])["report_source"] == "clinicians"
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_username == "manager-a" and exported.site_code == "site-a"
    assert rows[-1]["action"] == "audit.exported" and rows[-1]["id"] == str(exported.pk)


def test_the_export_neutralises_formulas(client, manager_a, site_a):
    hostile = '=HYPERLINK("http://evil.example","click")'
    record_event(AuditContext(channel="web", request_id="r1"), "login.failed", site=site_a,
                 username=hostile)  # fmt: skip
    log_in(client, manager_a)
    rows = csv_rows(client.get(AUDIT_CSV, {"site": "site-a"}))
    assert "'" + hostile in [row["actor"] for row in rows]
    assert hostile not in [row["actor"] for row in rows]


def test_others_cannot_export_and_it_is_audited(
    client, manager_a, clinician_a, make_user, site_a, site_b
):
    log_in(client, clinician_a)
    assert client.get(AUDIT_CSV, {"site": "site-a"}).status_code == 403
    client.logout()
    log_in(client, manager_a)
    assert client.get(AUDIT_CSV, {"site": "site-b"}).status_code == 403
    denials = events("permission.denied")
    assert [(e.actor_username, e.site_code) for e in denials] == [
        ("clin-a", "site-a"),
        ("manager-a", "site-b"),
    ]
    assert not events("audit.exported")
