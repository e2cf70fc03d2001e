"""Scheduled exports: Celery beat runs `run_scheduled_exports` every hour; each enabled
`ScheduledExport` whose `every_days` have passed since its last run asks for an export through
`exports.services.request_export`, as its `requested_by` user (their export rights apply, and a
refusal is on record), and the finished job is pushed to the schedule's targets
(`exports.delivery`).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from casereports.audit import TASK, AuditContext, system_context
from casereports.services.cases import CaseServiceError, NotAllowed
from exports import services
from exports.models import ExportJob, ScheduledExport

logger = logging.getLogger(__name__)


def is_due(schedule: ScheduledExport, now: datetime) -> bool:
    if not schedule.enabled:
        return False
    last = schedule.last_run_at
    return last is None or last + timedelta(days=schedule.every_days) <= now


def schedule_context(schedule: ScheduledExport) -> AuditContext:
    """The beat's own request id, acting as the user the schedule was set up for."""
    return dataclasses.replace(system_context(TASK), user=schedule.requested_by)


def start_schedule(schedule: ScheduledExport, now: datetime | None = None) -> ExportJob | None:
    """Ask for the schedule's export now. A permanent refusal (the user lost their export
    rights) still counts as this period's run, so it is not retried and refused every hour."""
    now = now or timezone.now()
    filters = schedule.filters or {}
    try:
        job = services.request_export(
            schedule_context(schedule),
            profile=schedule.profile,
            sites=filters.get("sites") or [],
            report_sources=filters.get("report_sources") or [],
            statuses=filters.get("statuses") or [],
            date_from=None,
            date_to=None,
            scheduled=schedule,
        )
    except NotAllowed as refused:
        logger.warning("scheduled export %s refused: %s", schedule.pk, refused.message)
        job = None
    ScheduledExport.objects.filter(pk=schedule.pk).update(last_run_at=now)
    return job


def _claim_due(now: datetime) -> list[ScheduledExport]:
    """The due schedules, locked, so that two beats running at once start each only once
    (there are a handful of schedules: the due test is plain Python)."""
    schedules = (
        ScheduledExport.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(enabled=True)
        .select_related("requested_by")
        .order_by("pk")
    )
    return [schedule for schedule in schedules if is_due(schedule, now)]


def run_due_schedules(now: datetime | None = None) -> list[ExportJob]:
    now = now or timezone.now()
    started = []
    with transaction.atomic():
        for schedule in _claim_due(now):
            try:
                job = start_schedule(schedule, now)
            except CaseServiceError as failure:  # not a refusal: try again at the next beat
                logger.warning("scheduled export %s failed: %s", schedule.pk, failure.message)
                continue
            if job is not None:
                started.append(job)
    return started


@shared_task(name="exports.run_scheduled_exports")
def run_scheduled_exports() -> list[int]:
    """Beat's entry point: starts every due schedule; answers the new jobs' ids."""
    return [job.pk for job in run_due_schedules()]
