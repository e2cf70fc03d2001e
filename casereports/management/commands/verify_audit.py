"""`python manage.py verify_audit`: recompute the audit trail's hash chain.

Exits 0 when every event matches, 1 naming the first event that does not.
"""

from django.core.management.base import BaseCommand

from casereports.audit import verify_chain


class Command(BaseCommand):
    help = "Check that no audit event was changed or removed; name the first broken event."

    def handle(self, *args, **options) -> None:
        report = verify_chain()
        if report.intact:
            self.stdout.write(f"audit trail intact: {report.checked} events verified")
            return
        self.stderr.write(
            f"audit trail BROKEN at event {report.broken_event_id}: {report.reason} "
            f"({report.checked} events before it verified)"
        )
        raise SystemExit(1)
