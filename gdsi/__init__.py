"""Project package: settings, URLs and the Celery app."""

from gdsi.celery import app as celery_app

__all__ = ["celery_app"]
