"""The Celery application. Without REDIS_URL, tasks run in-process (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gdsi.settings")

app = Celery("gdsi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def schedule_periodic_tasks(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    # Re-sends export jobs whose worker died or whose message was lost (exports.tasks).
    sender.add_periodic_task(
        float(settings.GDSI_EXPORT_SWEEP_SECONDS),
        sender.signature("exports.sweep_stale_exports"),
        name="exports: sweep stale jobs",
    )


@app.task(name="gdsi.ping")
def ping() -> str:
    """Round trip through the broker and a worker; used by tests and operators."""
    return "pong"
