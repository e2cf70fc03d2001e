"""Delete the patients' drafts that expired (Celery beat does this hourly too)."""

from django.core.management.base import BaseCommand

from casereports.audit import system_context
from casereports.selfreport.services import purge_expired_drafts


class Command(BaseCommand):
    help = "Delete patients' unfinished reports whose time ran out (each deletion is audited)."

    def handle(self, *args, **options) -> None:
        deleted = purge_expired_drafts(system_context())
        self.stdout.write(f"{deleted} expired patient draft(s) deleted")
