"""Case services: every write validates, saves and is on record, or changes nothing."""

import pytest
from conftest import unavailable
from django.core.management import call_command
from django.db import connection

from casereports import audit
from casereports.models import AuditEvent, CaseStatus
from casereports.services import cases as services

from .conftest import PASSWORD, context
from .helpers import fill_required

pytestmark = pytest.mark.django_db


def test_a_new_case_is_a_draft_with_an_unguessable_name_and_is_on_record(
    core_version, clinician_a, site_a
):
    case = services.create_case(context(clinician_a), site_a)
    other = services.create_case(context(clinician_a), site_a)
    assert case.status == CaseStatus.DRAFT
    assert case.secret_name.startswith("C_") and len(case.secret_name) == 12
    assert case.secret_name != other.secret_name
    assert case.data["secret_name"] == case.secret_name
    assert case.data["covid19_date_reporting"]  # @TODAY
    event = AuditEvent.objects.get(case=case, action="case.created")
    assert event.actor_username == "clin-a" and event.role == "clinician"
    assert event.site_code == "site-a" and event.channel == "web" and event.ip == "127.0.0.1"


def test_a_clinician_of_another_site_cannot_create_or_change_and_is_audited(
    core_version, clinician_a, clinician_b, site_a
):
    with pytest.raises(services.NotAllowed):
        services.create_case(context(clinician_b), site_a)
    case = services.create_case(context(clinician_a), site_a)
    with pytest.raises(services.NotAllowed):
        services.save_form(
            context(clinician_b),
            case,
            {"sex": "male"},
            form="demographics",
            expected_version=case.version,
        )
    assert (
        AuditEvent.objects.filter(action="permission.denied", actor_username="clin-b").count() == 2
    )
    case.refresh_from_db()
    assert case.data["sex"] == ""


def test_hidden_values_are_cleared_and_reported(core_version, clinician_a, site_a):
    case = services.create_case(context(clinician_a), site_a)
    saved = services.save_form(
        context(clinician_a),
        case,
        {
            "covid19_admission_hospital": "yes",
            "covid19_icu_stay": "yes",
            "covid19_icu_total_duration": "4",
        },
        form="covid19",
        expected_version=case.version,
    )
    assert saved.case.data["covid19_icu_total_duration"] == "4"
    saved = services.save_form(
        context(clinician_a),
        saved.case,
        {"covid19_admission_hospital": "no"},
        form="covid19",
        expected_version=saved.case.version,
    )
    assert set(saved.cleared) == {"covid19_icu_stay", "covid19_icu_total_duration"}
    assert saved.case.data["covid19_icu_stay"] == ""
    change = AuditEvent.objects.filter(case=case, action="case.changed").last()
    fields = {c["field"]: (c["old"], c["new"]) for c in change.details["changes"]}
    assert fields["covid19_icu_total_duration"] == ("4", "")


def test_bad_values_name_the_field_and_save_nothing(core_version, clinician_a, site_a):
    case = services.create_case(context(clinician_a), site_a)
    with pytest.raises(services.InvalidEntry) as refused:
        services.save_form(
            context(clinician_a),
            case,
            {"age_years": "forty", "sex": "female"},
            form="demographics",
            expected_version=case.version,
        )
    assert refused.value.result.errors == {"age_years": ["is not a whole number"]}
    case.refresh_from_db()
    assert case.data["sex"] == "" and case.version == 1


def test_soft_range_warns_until_confirmed(core_version, clinician_a, site_a):
    case = services.create_case(context(clinician_a), site_a)
    with pytest.raises(services.InvalidEntry) as refused:
        services.save_form(
            context(clinician_a),
            case,
            {"height": "250"},
            form="demographics",
            expected_version=case.version,
        )
    assert "at most 210" in refused.value.result.warnings["height"]
    saved = services.save_form(
        context(clinician_a),
        case,
        {"height": "250"},
        form="demographics",
        expected_version=case.version,
        confirmed=["height"],
    )
    assert saved.case.data["height"] == "250"
    # the stored, confirmed value is not asked about again when the form is saved again
    again = services.save_form(
        context(clinician_a),
        saved.case,
        {"height": "250", "weight": "80"},
        form="demographics",
        expected_version=saved.case.version,
    )
    assert again.case.data["weight"] == "80"
    with pytest.raises(services.InvalidEntry):  # a new out-of-range value is
        services.save_form(
            context(clinician_a),
            again.case,
            {"height": "260"},
            form="demographics",
            expected_version=again.case.version,
        )


def test_submit_needs_required_fields_then_edits_need_a_reason(core_version, clinician_a, site_a):
    case = services.create_case(context(clinician_a), site_a)
    with pytest.raises(services.InvalidEntry) as refused:
        services.submit_case(context(clinician_a), case, expected_version=case.version)
    assert "age_years" in refused.value.result.errors
    case = fill_required(clinician_a, case)
    case = services.submit_case(context(clinician_a), case, expected_version=case.version)
    assert case.status == CaseStatus.SUBMITTED
    with pytest.raises(services.ReasonRequired):
        services.save_form(
            context(clinician_a),
            case,
            {"age_years": "45"},
            form="demographics",
            expected_version=case.version,
        )
    saved = services.save_form(
        context(clinician_a),
        case,
        {"age_years": "45"},
        form="demographics",
        expected_version=case.version,
        reason="typo in age",
    )
    event = AuditEvent.objects.filter(case=case, action="case.changed").last()
    assert event.details["reason"] == "typo in age"
    assert event.details["changes"] == [{"field": "age_years", "old": "44", "new": "45"}]
    assert saved.case.version == case.version + 1


def test_the_second_of_two_concurrent_saves_is_refused(
    core_version, clinician_a, site_a, make_user
):
    other = make_user("clin-a2", "clinician", site_a)
    case = services.create_case(context(clinician_a), site_a)
    opened_at = case.version
    services.save_form(
        context(clinician_a), case, {"sex": "male"}, form="demographics", expected_version=opened_at
    )
    with pytest.raises(services.StaleVersion, match="Nothing was overwritten"):
        services.save_form(
            context(other), case, {"sex": "female"}, form="demographics", expected_version=opened_at
        )
    case.refresh_from_db()
    assert case.data["sex"] == "male"


def test_lock_needs_the_managers_password_and_stops_edits(
    core_version, clinician_a, manager_a, site_a
):
    case = fill_required(clinician_a, services.create_case(context(clinician_a), site_a))
    case = services.submit_case(context(clinician_a), case, expected_version=case.version)
    with pytest.raises(services.NotAllowed):
        services.lock_case(
            context(clinician_a), case, password=PASSWORD, expected_version=case.version
        )
    with pytest.raises(services.BadCredentials):
        services.lock_case(
            context(manager_a), case, password="wrong", expected_version=case.version
        )
    case = services.lock_case(
        context(manager_a), case, password=PASSWORD, expected_version=case.version
    )
    assert case.status == CaseStatus.LOCKED
    with pytest.raises(services.CaseLocked):
        services.save_form(
            context(clinician_a),
            case,
            {"age_years": "50"},
            form="demographics",
            expected_version=case.version,
            reason="x",
        )
    case = services.unlock_case(
        context(manager_a),
        case,
        password=PASSWORD,
        expected_version=case.version,
        reason="correction requested",
    )
    assert case.status == CaseStatus.SUBMITTED
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions[-2:] == ["case.locked", "case.unlocked"]


def test_the_chain_verifies_and_names_a_tampered_event(core_version, clinician_a, site_a, capsys):
    case = services.create_case(context(clinician_a), site_a)
    fill_required(clinician_a, case)
    assert audit.verify_chain().intact
    victim = AuditEvent.objects.filter(action="case.changed").first()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a superuser can switch the trigger off
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE casereports_auditevent SET actor_username = 'someone-else' WHERE id = %s",
            [victim.pk],
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    report = audit.verify_chain()
    assert report.broken_event_id == victim.pk
    with pytest.raises(SystemExit):
        call_command("verify_audit")
    assert f"event {victim.pk}" in capsys.readouterr().err


def test_removing_the_newest_event_is_detected(core_version, clinician_a, site_a):
    services.create_case(context(clinician_a), site_a)
    last = AuditEvent.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM casereports_auditevent WHERE id = %s", [last.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    assert not audit.verify_chain().intact


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_audit_rows(core_version, clinician_a, site_a):
    if connection.vendor != "postgresql":
        unavailable("the test database is not PostgreSQL (set DATABASE_URL)")
    from django.db import DatabaseError, transaction

    services.create_case(context(clinician_a), site_a)
    for statement in (
        "UPDATE casereports_auditevent SET action = 'x'",
        "DELETE FROM casereports_auditevent",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


def test_a_case_is_complete_without_its_optional_forms(core_version, clinician_a, site_a):
    case = services.create_case(context(clinician_a), site_a)
    assert case.completeness == "not started"
    case = services.save_form(
        context(clinician_a),
        case,
        {"sex": "male"},
        form="demographics",
        expected_version=case.version,
    ).case
    assert case.completeness == "in progress"
    case = fill_required(clinician_a, case)
    assert case.form_statuses["administrative"] == "not started"  # no required field on it
    assert case.completeness == "complete"


def test_wrong_signatures_are_recorded_and_then_blocked(
    core_version, clinician_a, manager_a, site_a
):
    case = fill_required(clinician_a, services.create_case(context(clinician_a), site_a))
    case = services.submit_case(context(clinician_a), case, expected_version=case.version)
    for _ in range(services.SIGNATURE_ATTEMPTS):
        with pytest.raises(services.BadCredentials, match="not right"):
            services.lock_case(
                context(manager_a), case, password="guess", expected_version=case.version
            )
    with pytest.raises(services.BadCredentials, match="blocked"):
        services.lock_case(
            context(manager_a), case, password=PASSWORD, expected_version=case.version
        )
    assert AuditEvent.objects.filter(action="auth.signature_failed", case=case).count() == 5
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
