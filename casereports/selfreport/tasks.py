"""Periodic work of the patient stream (Celery beat runs it; see settings)."""

from __future__ import annotations

from celery import shared_task

from casereports.audit import TASK, system_context


@shared_task(name="casereports.purge_expired_patient_drafts", acks_late=True)
def purge_expired_patient_drafts() -> int:
    from casereports.selfreport.services import purge_expired_drafts

    return purge_expired_drafts(system_context(TASK))


@shared_task(
    name="casereports.make_patient_snapshot",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def make_patient_snapshot(report_id: int) -> str:
    """The PDF snapshot of a sent patient report (idempotent; a download makes it too)."""
    from casereports.selfreport.models import PatientReport
    from casereports.selfreport.pdf import report_pdf
    from casereports.selfreport.services import ensure_snapshot

    if not PatientReport.objects.filter(pk=report_id).exists():
        return "gone"
    ensure_snapshot(system_context(TASK), report_id, report_pdf)
    return "done"
