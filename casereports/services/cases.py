"""Every write to a case: validate, write, append the audit event, in one transaction.

Views, the API and (later) imports and tasks call these functions; nothing else saves a case.
Each function checks the actor's rights through `casereports.access` and takes the version the
actor last saw, so a save made from a stale copy is refused instead of overwriting a change.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from casereports import access, entry
from casereports.audit import AuditContext, record_event
from casereports.dictionary import DataDictionary
from casereports.dictionary.model import QualityRule
from casereports.models import AuditEvent, Case, CaseStatus, DictionaryVersion, Site
from casereports.quality import checks
from casereports.services.dictionaries import (
    dictionary_of,
    dictionary_of_case,
    quality_rules_of_case,
)

SECRET_NAME_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - no 0/O, 1/I: read aloud safely
SECRET_NAME_LENGTH = 10  # 32^10 = 2^50 names: unguessable, and never derived from identity
assert len(SECRET_NAME_ALPHABET) == 32


class CaseServiceError(Exception):
    """A refused write; `message` is written for the person who tried it."""

    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(CaseServiceError):
    code = "permission_denied"


class StaleVersion(CaseServiceError):
    code = "conflict"


class CaseLocked(CaseServiceError):
    code = "locked"


class ReasonRequired(CaseServiceError):
    code = "reason_required"


class BadCredentials(CaseServiceError):
    code = "bad_password"


class InvalidEntry(CaseServiceError):
    code = "invalid"

    def __init__(self, result: entry.EntryResult) -> None:
        count = len(result.errors) + len(result.warnings)
        super().__init__(f"{count} field(s) need attention; nothing was saved")
        self.result = result


@dataclass
class SaveOutcome:
    case: Case
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def new_secret_name(prefix: str = "C_") -> str:
    # 256 is a multiple of the alphabet's 32 letters: each byte picks one uniformly.
    letters = (SECRET_NAME_ALPHABET[byte % 32] for byte in secrets.token_bytes(SECRET_NAME_LENGTH))
    return prefix + "".join(letters)


def _denied(context: AuditContext, message: str, *, site=None, case=None, what: str) -> NotAllowed:
    """Record the denial (in its own transaction, so it stays) and return the error to raise.
    Call it outside the write's transaction, which the raised error rolls back."""
    record_denial(context, what, site=site, case=case)
    return NotAllowed(message)


def _require(context: AuditContext, allowed, case: Case, message: str, what: str) -> None:
    if not allowed(context.user, case):
        raise _denied(context, message, case=case, what=what)


def create_case(context: AuditContext, site: Site, *, report_source: str = "clinicians") -> Case:
    """A new draft at `site`, under the current dictionary version."""
    if not access.has_permission(context.user, access.EDIT_CASES, site):
        raise _denied(context, "You cannot create cases at this site.", site=site, what="create")
    version = DictionaryVersion.objects.current()
    if version is None:
        raise CaseServiceError("No data dictionary is loaded; run load_dictionary first.")
    values = entry.blank_record(dictionary_of(version))
    record = entry.EntryResult(values=values)
    entry.settle(dictionary_of(version), record)
    values["report_source"] = report_source if "report_source" in values else ""
    with transaction.atomic():
        case = Case.objects.create(
            site=site,
            secret_name=new_secret_name("P_" if report_source == "patients" else "C_"),
            report_source=report_source,
            dictionary_version=version,
            data={},
            created_by=context.user,
        )
        values[dictionary_of(version).record_id] = case.secret_name
        case.data = values
        update_progress(case)
        case.save(update_fields=["data", *PROGRESS_FIELDS])
        record_event(
            context,
            "case.created",
            case=case,
            details={"report_source": report_source, "dictionary": version.content_hash},
        )
    return case


def for_write(cases):
    """Lock the case row only (`of`: not the joined site row, which every audit event's
    foreign-key check at commit needs while it holds the audit head: taking it here queued all
    writes of a site and deadlocked under load), and as NO KEY UPDATE, so events that merely
    reference the case (a view, a denial) are not blocked."""
    return (
        cases.select_for_update(no_key=True, of=("self",))
        .select_related("site", "dictionary_version")
        .defer("dictionary_version__dictionary_csv", "dictionary_version__quality_rules_csv")
    )


def _locked_for_write(
    context: AuditContext, case_id: int, expected_version: int, what: str
) -> Case:
    case = for_write(Case.objects).get(pk=case_id)
    if not access.can_edit_case(context.user, case):  # rights changed since the check before
        raise NotAllowed("You cannot change this case.")
    if case.is_locked:
        raise CaseLocked("This case is locked; a site manager must unlock it before any change.")
    if case.version != expected_version:
        raise StaleVersion(
            "Someone else saved this case after you opened it "
            f"(you had version {expected_version}, it is now at version {case.version}). "
            "Nothing was overwritten: reload the case to see their change, then enter yours again."
        )
    return case


def save_form(
    context: AuditContext,
    case: Case,
    submitted: Mapping[str, object],
    *,
    expected_version: int,
    form: str | None = None,
    confirmed: Iterable[str] = (),
    reason: str = "",
) -> SaveOutcome:
    """Save one form's values (all forms when `form` is None) as a draft, or, once the case is
    submitted, as an edit that needs a reason for change."""
    reason = reason.strip()
    _require(context, access.can_edit_case, case, "You cannot change this case.", "edit case")
    with transaction.atomic():
        case = _locked_for_write(context, case.pk, expected_version, "edit case")
        if case.status == CaseStatus.SUBMITTED and not reason:
            raise ReasonRequired("This case has been submitted: give a reason for the change.")
        dictionary = dictionary_of_case(case)
        result = entry.apply_entry(
            dictionary,
            case.data,
            submitted,
            form=form,
            confirmed=confirmed,
            require=case.status == CaseStatus.SUBMITTED,
        )
        if result.errors or result.warnings:
            raise InvalidEntry(result)
        changes = entry.changed_keys(case.data, result.values)
        if form:
            case.last_form = form
        if changes:
            case.data = result.values
            case.version += 1
            update_progress(case)
            case.save(
                update_fields=["data", "version", "last_form", *PROGRESS_FIELDS, "updated_at"]
            )
            record_event(
                context,
                "case.changed",
                case=case,
                details={
                    "form": form or "",
                    "reason": reason,
                    "version": case.version,
                    "changes": [{"field": k, "old": old, "new": new} for k, old, new in changes],
                    "cleared_by_branching": result.cleared,
                },
            )
        elif form:
            case.save(update_fields=["last_form"])
    return SaveOutcome(case, changes, result.cleared)


def audience_of(case: Case) -> str:
    """Whose forms a case is filled in on: a patient's own report has the patients' forms (a
    registry's patient-reported records came through an import, not those forms)."""
    own_report = case.created_by_id is None and not case.registry_record
    return entry.PATIENT if case.report_source == "patients" and own_report else entry.CLINICIAN


def progress_of(
    dictionary: DataDictionary, data: Mapping[str, str], audience: str
) -> tuple[dict[str, str], str]:
    """Each form's status and the case's completeness."""
    statuses = entry.form_statuses(dictionary, data, audience=audience)
    return statuses, entry.overall_status(statuses, entry.optional_forms(dictionary, audience))


def update_progress(case: Case) -> None:
    """Form statuses, completeness and quality status, from the case's data."""
    case.form_statuses, case.completeness = progress_of(
        dictionary_of_case(case), case.data, audience_of(case)
    )
    update_quality(case)


def update_quality(case: Case) -> list[QualityRule]:
    """The check rules the case fails as entered, and its quality status; returns the rules."""
    failing = checks.failing_rules(quality_rules_of_case(case), case.data)
    case.quality_failures = checks.failures_of(failing)
    case.quality_status = checks.quality_status(failing, case.justified_rules)
    return failing


PROGRESS_FIELDS = ["form_statuses", "completeness", "quality_status", "quality_failures"]


class QualityCheckFailed(CaseServiceError):
    """Quality rules flag the case: correct the values, or confirm each with a justification."""

    code = "quality"

    def __init__(self, failing: list[QualityRule]) -> None:
        super().__init__(
            f"{len(failing)} quality check(s) flag this case: correct the values, or confirm "
            "each with a justification (a query is then opened for the central team). "
            "Nothing was submitted."
        )
        self.failing = failing


def submit_case(
    context: AuditContext,
    case: Case,
    *,
    expected_version: int,
    justifications: Mapping[str, str] | None = None,
) -> Case:
    """Draft to submitted: every required field that is shown must have a value, and every
    quality rule the case fails must be confirmed with a justification (by rule id, or by one
    of the fields the rule names), each of which opens a query."""
    _require(context, access.can_edit_case, case, "You cannot submit this case.", "submit case")
    with transaction.atomic():
        case = _locked_for_write(context, case.pk, expected_version, "submit case")
        if case.status != CaseStatus.DRAFT:
            raise CaseServiceError("Only a draft can be submitted; this case already was.")
        if case.completeness != entry.COMPLETE:  # kept up to date by every save
            result = entry.EntryResult(values=dict(case.data))
            for f in entry.missing_required(dictionary_of_case(case), case.data):
                result.add_error(f.name, "is required")
            if result.errors:
                raise InvalidEntry(result)
        _justify(context, case, update_quality(case), justifications or {})
        case.status = CaseStatus.SUBMITTED
        case.submitted_at = timezone.now()
        case.version += 1
        case.save(
            update_fields=[
                "status",
                "submitted_at",
                "version",
                "updated_at",
                "justified_rules",
                *PROGRESS_FIELDS,
            ]
        )
        record_event(context, "case.submitted", case=case, details={"version": case.version})
    return case


def _justify(
    context: AuditContext, case: Case, failing: list[QualityRule], justifications: Mapping
) -> None:
    """Open a query for each newly justified rule; refuse when a failing rule has none."""
    given = {key: str(text).strip() for key, text in justifications.items() if str(text).strip()}
    new = [rule for rule in failing if rule.rule_id not in case.justified_rules]
    missing = [rule for rule in new if not _justification(rule, given)]
    if missing:
        raise QualityCheckFailed(missing)
    if not new:
        return
    from casereports.quality.services import open_rule_query  # queries use the case services

    for rule in new:
        open_rule_query(context, case, rule, _justification(rule, given)[:4000])
        case.justified_rules = [*case.justified_rules, rule.rule_id]
    update_quality(case)


def _justification(rule: QualityRule, given: Mapping[str, str]) -> str:
    return given.get(rule.rule_id) or next((given[f] for f in rule.blanks if f in given), "")


SIGNATURE_ATTEMPTS = 5
SIGNATURE_WINDOW = timedelta(minutes=15)


def _confirm_password(context: AuditContext, password: str, case: Case) -> None:
    """The e-signature: the actor's own password again. Wrong passwords are on record, and after
    SIGNATURE_ATTEMPTS of them within SIGNATURE_WINDOW no signature is accepted for a while
    (the login lockout does not see these, as they are not logins)."""
    user = context.user
    if user is None:
        raise BadCredentials("Log in to sign.")
    recent_failures = AuditEvent.objects.filter(
        action="auth.signature_failed",
        actor=user,
        at__gte=timezone.now() - SIGNATURE_WINDOW,
    ).count()
    if recent_failures >= SIGNATURE_ATTEMPTS:
        raise BadCredentials(
            "Too many wrong passwords: signing is blocked for 15 minutes. The case was not changed."
        )
    if authenticate(username=user.get_username(), password=password) is None:
        with transaction.atomic():
            record_event(context, "auth.signature_failed", case=case)
        raise BadCredentials("That password is not right; the case was not changed.")


def lock_case(context: AuditContext, case: Case, *, password: str, expected_version: int) -> Case:
    """A site manager locks a submitted case, signing with their password."""
    return _set_lock(context, case, password, expected_version, lock=True)


def unlock_case(
    context: AuditContext, case: Case, *, password: str, expected_version: int, reason: str
) -> Case:
    if not reason.strip():
        raise ReasonRequired("Give a reason for unlocking the case.")
    return _set_lock(context, case, password, expected_version, lock=False, reason=reason.strip())


def _set_lock(
    context: AuditContext,
    case: Case,
    password: str,
    expected_version: int,
    *,
    lock: bool,
    reason: str = "",
) -> Case:
    what = "lock case" if lock else "unlock case"
    message = "Only a site manager of this site can lock or unlock it."
    _require(context, access.can_lock_case, case, message, what)
    with transaction.atomic():
        case = for_write(Case.objects).get(pk=case.pk)
        if case.version != expected_version:
            raise StaleVersion("The case changed since you opened it; reload and try again.")
        if lock and case.status != CaseStatus.SUBMITTED:
            raise CaseServiceError("Only a submitted case can be locked.")
        if not lock and case.status != CaseStatus.LOCKED:
            raise CaseServiceError("This case is not locked.")
    _confirm_password(context, password, case)  # outside the lock: password hashing is slow
    with transaction.atomic():
        case = for_write(Case.objects).get(pk=case.pk)
        if case.version != expected_version:
            raise StaleVersion("The case changed since you opened it; reload and try again.")
        case.status = CaseStatus.LOCKED if lock else CaseStatus.SUBMITTED
        case.locked_at = timezone.now() if lock else None
        case.version += 1
        case.save(update_fields=["status", "locked_at", "version", "updated_at"])
        record_event(
            context,
            "case.locked" if lock else "case.unlocked",
            case=case,
            details={"version": case.version, "reason": reason, "signed": True},
        )
    return case


def record_case_view(context: AuditContext, case: Case, *, what: str = "case page") -> None:
    """Reading case data is on record too."""
    with transaction.atomic():
        record_event(context, "case.viewed", case=case, details={"what": what})


def record_denial(context: AuditContext, what: str, *, site=None, case=None) -> None:
    with transaction.atomic():
        record_event(
            context, "permission.denied", site=site, case=case, details={"attempted": what}
        )
