"""Periodic work of the patient stream (Celery beat runs it; see settings)."""

from __future__ import annotations

from celery import shared_task

from casereports.audit import TASK, system_context


@shared_task(name="casereports.purge_expired_patient_drafts", acks_late=True)
def purge_expired_patient_drafts() -> int:
    from casereports.selfreport.services import purge_expired_drafts

    return purge_expired_drafts(system_context(TASK))
