"""Every write of the patient stream: validate, write, append the audit event, in one transaction.

A patient has no account: holding the report in their session (after consent, or after typing
its return or receipt code) is what lets them change it, so these functions take the case the
view found through the session and check only what the report's state allows. The central
team's triage goes through `casereports.access` like every staff action.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from casereports import access, entry
from casereports.audit import AuditContext, record_event
from casereports.models import Case, CaseStatus, DictionaryVersion
from casereports.selfreport import codes
from casereports.selfreport.models import (
    WITHHELD_TRIAGE,
    ConsentDocument,
    ConsentRecord,
    PatientReport,
    SelfReportProject,
    TriageStatus,
)
from casereports.services.cases import (
    PROGRESS_FIELDS,
    CaseServiceError,
    InvalidEntry,
    NotAllowed,
    SaveOutcome,
    StaleVersion,
    for_write,
    new_secret_name,
    record_denial,
    update_progress,
)
from casereports.services.dictionaries import dictionary_of, dictionary_of_case

logger = logging.getLogger(__name__)
PATIENTS = "patients"
DUPLICATE_KEYS = ("covid19_country", "sex", "age_years", "covid19_diagnosis")
ONSET_KEY = "covid19_date_suspected_onset"
ONSET_SLACK_DAYS = 3


class ConsentIncomplete(CaseServiceError):
    code = "consent_incomplete"

    def __init__(self, missing: list[int]) -> None:
        super().__init__("Every statement must be ticked to take part.")
        self.missing = missing


class ReportClosed(CaseServiceError):
    code = "closed"


@dataclass
class Submitted:
    case: Case
    receipt_code: str


SnapshotMaker = Callable[[Case, PatientReport], bytes]  # casereports.selfreport.pdf


def _expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.GDSI_PATIENT_DRAFT_DAYS)


# --- starting: consent, then the draft --------------------------------------------------------


def start_report(
    context: AuditContext,
    project: SelfReportProject,
    document: ConsentDocument,
    *,
    language: str,
    ticked: Iterable[int],
) -> Case:
    """The patient agreed to every statement of `document`: a new draft at the project's site,
    with the consent on record (version, language, statements, time, hash of the exact text)."""
    statements = document.statement_list()
    ticked = set(ticked)
    missing = [i for i in range(len(statements)) if i not in ticked]
    if missing:
        raise ConsentIncomplete(missing)
    version = DictionaryVersion.objects.current()
    if version is None:
        raise CaseServiceError("No data dictionary is loaded; run load_dictionary first.")
    dictionary = dictionary_of(version)
    values = entry.blank_record(dictionary)
    if "report_source" in values:
        values["report_source"] = PATIENTS
    entry.settle(dictionary, entry.EntryResult(values=values))
    shown = document.shown_text()
    now = timezone.now()
    with transaction.atomic():
        case = Case.objects.create(
            site=project.site,
            secret_name=new_secret_name("P_"),
            report_source=PATIENTS,
            dictionary_version=version,
            data={},
        )
        values[dictionary.record_id] = case.secret_name
        case.data = values
        update_progress(case)
        case.save(update_fields=["data", *PROGRESS_FIELDS])
        PatientReport.objects.create(case=case, language=language, expires_at=_expiry())
        consent = ConsentRecord.objects.create(
            case=case,
            document=document,
            language=document.language,  # the language of the text shown (English fallback)
            statements=statements,
            shown_text=shown,
            text_sha256=hashlib.sha256(shown.encode("utf-8")).hexdigest(),
            agreed_at=now,
        )
        record_event(
            context,
            "case.created",
            case=case,
            details={"report_source": PATIENTS, "dictionary": version.content_hash},
        )
        record_event(
            context,
            "consent.given",
            case=case,
            details={
                "document": document.pk,
                "version": document.version_label,
                "language": language,
                "statements": len(statements),
                "text_sha256": consent.text_sha256,
            },
        )
    return case


# --- filling in -------------------------------------------------------------------------------


def _draft_for_write(case_id: int, expected_version: int | None) -> Case:
    case = for_write(Case.objects).get(pk=case_id)
    if case.status != CaseStatus.DRAFT:
        raise ReportClosed("This report has been sent already; it cannot be changed here.")
    if expected_version is not None and case.version != expected_version:
        raise StaleVersion(
            "This report was saved from another window or device after you opened this page. "
            "Nothing was overwritten: open the page again to see the saved answers."
        )
    return case


def save_page(
    context: AuditContext,
    case: Case,
    submitted: Mapping[str, object],
    *,
    form: str,
    expected_version: int,
    confirmed: Iterable[str] = (),
) -> SaveOutcome:
    """Save one page of the patient's draft; a saved draft lives on for the expiry period."""
    with transaction.atomic():
        case = _draft_for_write(case.pk, expected_version)
        # Rows before the audit head, in every writer of a report: no lock-order deadlock.
        PatientReport.objects.filter(case=case).update(expires_at=_expiry())
        dictionary = dictionary_of_case(case)
        result = entry.apply_entry(
            dictionary, case.data, submitted, form=form, audience=entry.PATIENT, confirmed=confirmed
        )
        if result.errors or result.warnings:
            raise InvalidEntry(result)
        changes = entry.changed_keys(case.data, result.values)
        case.last_form = form
        fields = ["last_form"]
        if changes:
            case.data = result.values
            case.version += 1
            update_progress(case)
            fields += ["data", "version", *PROGRESS_FIELDS, "updated_at"]
            record_event(
                context,
                "case.changed",
                case=case,
                details={
                    "form": form,
                    "reason": "",
                    "version": case.version,
                    "changes": [{"field": k, "old": old, "new": new} for k, old, new in changes],
                    "cleared_by_branching": result.cleared,
                },
            )
        case.save(update_fields=fields)
    return SaveOutcome(case, changes, result.cleared)


def issue_return_code(context: AuditContext, case: Case) -> str:
    """A new return code for the draft (an earlier one stops working). Shown once."""
    code = codes.new_code()
    with transaction.atomic():
        case = _draft_for_write(case.pk, None)
        PatientReport.objects.filter(case=case).update(
            return_code_hash=codes.code_hash(code, codes.RETURN), expires_at=_expiry()
        )
        record_event(context, "patient.return_code_issued", case=case)
    return code


def case_for_code(code: str, purpose: str) -> Case | None:
    """The report a return or receipt code opens (a return code only while its draft lives)."""
    if codes.normalise(code) is None:
        return None
    hashed = codes.code_hash(code, purpose)
    found = PatientReport.objects.select_related("case", "case__site")
    if purpose == codes.RETURN:
        report = found.filter(
            return_code_hash=hashed,
            case__status=CaseStatus.DRAFT,
            expires_at__gt=timezone.now(),
        ).first()
    else:
        report = found.filter(receipt_code_hash=hashed).first()
    return report.case if report else None


def record_resumed(context: AuditContext, case: Case, how: str) -> None:
    with transaction.atomic():
        record_event(context, "patient.report_opened", case=case, details={"with": how})


# --- sending ----------------------------------------------------------------------------------


def submit_report(context: AuditContext, case: Case, *, expected_version: int) -> Submitted:
    """Draft to submitted: every required question shown to patients has an answer. Issues the
    receipt code, freezes the answers for the PDF snapshot (made after commit), flags possible
    duplicates."""
    receipt = codes.new_code()
    with transaction.atomic():
        case = _draft_for_write(case.pk, expected_version)
        dictionary = dictionary_of_case(case)
        missing = entry.missing_required(dictionary, case.data, audience=entry.PATIENT)
        if missing:
            result = entry.EntryResult(values=dict(case.data))
            for f in missing:
                result.add_error(f.name, "is required")
            raise InvalidEntry(result)
        case.status = CaseStatus.SUBMITTED
        case.submitted_at = timezone.now()
        case.version += 1
        case.save(update_fields=["status", "submitted_at", "version", "updated_at"])
        report = PatientReport.objects.select_for_update().get(case=case)
        report.return_code_hash = None
        report.receipt_code_hash = codes.code_hash(receipt, codes.RECEIPT)
        report.expires_at = None
        report.possible_duplicates = possible_duplicates(case)
        report.submitted_data = dict(case.data)
        report.save()
        record_event(
            context,
            "case.submitted",
            case=case,
            details={"version": case.version, "possible_duplicates": report.possible_duplicates},
        )
        transaction.on_commit(lambda: _make_snapshot_later(report.pk))
    return Submitted(case, receipt)


def _make_snapshot_later(report_id: int) -> None:
    from casereports.selfreport.tasks import make_patient_snapshot

    make_patient_snapshot.delay(report_id)


def ensure_snapshot(
    context: AuditContext, report_id: int, snapshot: SnapshotMaker
) -> PatientReport:
    """The report's PDF snapshot, made once from the answers as sent (idempotent: a second
    call, from the task or a download, finds it made). The file is stored before the row
    names it; a failed write leaves no file behind."""
    with transaction.atomic():
        # Only the report's row: locking the joined site row too would wait on (and deadlock
        # with) every case written at that site while it holds the audit head.
        report = (
            PatientReport.objects.select_for_update(of=("self",))
            .select_related("case", "case__site", "case__dictionary_version")
            .get(pk=report_id)
        )
        if report.snapshot or report.case.status == CaseStatus.DRAFT:
            return report
        pdf = snapshot(report.case, report)
        name = default_storage.save(
            f"patient-receipts/{report.case.secret_name}.pdf", ContentFile(pdf)
        )
        try:
            report.snapshot.name = name
            report.snapshot_sha256 = hashlib.sha256(pdf).hexdigest()
            report.save(update_fields=["snapshot", "snapshot_sha256"])
            record_event(
                context,
                "patient.snapshot_made",
                case=report.case,
                details={"sha256": report.snapshot_sha256, "bytes": len(pdf)},
            )
        except BaseException:
            default_storage.delete(name)
            raise
    return report


def possible_duplicates(case: Case) -> list[str]:
    """Other reports of the same person's COVID-19, by what a patient and a clinician both
    report: same country, sex, age and diagnosis, onset within a few days, reported within the
    window. Both are kept; triage decides."""
    data = case.data
    if not all(data.get(key) for key in (*DUPLICATE_KEYS, ONSET_KEY)):
        return []
    since = timezone.now() - timedelta(days=settings.GDSI_DUPLICATE_WINDOW_DAYS)
    candidates = (
        Case.objects.exclude(pk=case.pk)
        .exclude(status=CaseStatus.DRAFT)
        .filter(created_at__gte=since)
        .filter(**{f"data__{key}": data[key] for key in DUPLICATE_KEYS})
        .values_list("secret_name", "data")
    )
    onset = _day(data[ONSET_KEY])
    found = []
    for secret_name, other in candidates[:200]:
        other_onset = _day(other.get(ONSET_KEY, ""))
        if onset and other_onset and abs((onset - other_onset).days) <= ONSET_SLACK_DAYS:
            found.append(secret_name)
    return sorted(found)[:20]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


# --- after sending ----------------------------------------------------------------------------


def withdraw_consent(context: AuditContext, case: Case, *, reason: str = "") -> Case:
    """The patient takes their report back: it leaves every later export, feed and dashboard."""
    reason = reason.strip()[:2000]
    with transaction.atomic():
        case = for_write(Case.objects).get(pk=case.pk)
        consent = ConsentRecord.objects.select_for_update().filter(case=case).first()
        if case.consent_withdrawn:
            return case
        case.consent_withdrawn = True
        case.version += 1
        case.save(update_fields=["consent_withdrawn", "version", "updated_at"])
        if consent is not None:
            consent.withdrawn_at = timezone.now()
            consent.withdrawal_reason = reason
            consent.save(update_fields=["withdrawn_at", "withdrawal_reason"])
        record_event(
            context,
            "consent.withdrawn",
            case=case,
            details={"reason_given": bool(reason), "version": case.version},
        )
    return case


def record_download(context: AuditContext, case: Case, what: str) -> None:
    with transaction.atomic():
        record_event(context, "patient.downloaded", case=case, details={"what": what})


def purge_expired_drafts(context: AuditContext, *, now=None) -> int:
    """Delete the patients' drafts nobody came back to before they expired (each on record)."""
    now = now or timezone.now()
    expired = list(
        Case.objects.filter(
            status=CaseStatus.DRAFT,
            patient_report__expires_at__lt=now,
        ).values_list("pk", flat=True)
    )
    deleted = 0
    for case_id in expired:
        with transaction.atomic():
            case = for_write(Case.objects).filter(pk=case_id, status=CaseStatus.DRAFT).first()
            if case is None:
                continue
            record_event(
                context,
                "patient.draft_expired",
                case=case,
                details={"created_at": case.created_at.isoformat(), "version": case.version},
            )
            case.delete()
            deleted += 1
    return deleted


# --- triage (staff) ---------------------------------------------------------------------------


def triage_report(
    context: AuditContext,
    case: Case,
    status: str,
    *,
    duplicate_of: str = "",
) -> PatientReport:
    """Accept a new patient report, mark it a duplicate of another case, or mark it spam."""
    if not access.can_triage(context.user, case.site_id):
        record_denial(context, "triage patient report", case=case)
        raise NotAllowed("You cannot triage reports of this site.")
    if status not in TriageStatus.values:
        raise CaseServiceError("Choose accept, duplicate or spam.")
    original = None
    if status == TriageStatus.DUPLICATE:
        original = (
            access.visible_cases(context.user)
            .exclude(pk=case.pk)
            .filter(secret_name=duplicate_of.strip().upper()[:40])
            .first()
        )
        if original is None:
            raise CaseServiceError(
                "Name the case this report duplicates by its pseudonym (a case you can see)."
            )
    with transaction.atomic():
        report = PatientReport.objects.select_for_update().get(case=case)
        before = report.triage
        report.triage = status
        report.duplicate_of = original
        report.triaged_by = context.user
        report.triaged_at = timezone.now()
        report.save(update_fields=["triage", "duplicate_of", "triaged_by", "triaged_at"])
        record_event(
            context,
            "patient.triaged",
            case=case,
            details={
                "from": before,
                "to": status,
                "duplicate_of": original.secret_name if original else "",
                "withheld": status in WITHHELD_TRIAGE,
            },
        )
    return report


def default_project() -> SelfReportProject | None:
    return (
        SelfReportProject.objects.select_related("site")
        .filter(is_default=True, enabled=True)
        .first()
    )


def project_for(site_code: str) -> SelfReportProject | None:
    return (
        SelfReportProject.objects.select_related("site")
        .filter(site__code=site_code, enabled=True)
        .first()
    )


def projects_in(country: str) -> list[SelfReportProject]:
    return list(
        SelfReportProject.objects.select_related("site").filter(enabled=True, site__country=country)
    )


CONSENT_DATA = Path(__file__).resolve().parent.parent / "data" / "consent"


def install_shipped_consent(stem: str = "initiative_v1") -> int:
    """The initiative-wide consent document shipped with the project, in every language it
    is written in (an administrator adds a site's own or a later version in the admin).
    An existing version is never changed. Returns the number of documents created."""
    created = 0
    for path in sorted(CONSENT_DATA.glob(f"{stem}.*.json")):
        language = path.name[len(stem) + 1 : -len(".json")]
        content = json.loads(path.read_text(encoding="utf-8"))
        _, made = ConsentDocument.objects.get_or_create(
            site=None,
            language=language,
            version_label=content["version_label"],
            defaults={
                "title": content["title"],
                "information": content["information"],
                "statements": "\n".join(content["statements"]),
                "active_from": timezone.now(),
            },
        )
        created += made
    return created
