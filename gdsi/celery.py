"""The Celery application. Without REDIS_URL, tasks run in-process (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gdsi.settings")

app = Celery("gdsi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="gdsi.ping")
def ping() -> str:
    """Round trip through the broker and a worker; used by tests and operators."""
    return "pong"
