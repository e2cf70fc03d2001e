"""Queries: the data resolution workflow. A query asks about one field of one case; every step
(opened, answered, closed, reopened) is a row of its own, never changed or deleted.

Imported by `casereports.models`, so the app's migrations own these tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class QueryStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


class ResponseCategory(models.TextChoices):
    CORRECTED = "corrected", _("Corrected")
    CONFIRMED = "confirmed", _("Confirmed as correct")
    CANNOT_OBTAIN = "cannot_obtain", _("Cannot be obtained")
    OTHER = "other", _("Other")


class Query(models.Model):
    """A question about one field of one case, asked by a person or, when a clinician
    confirms a value a quality rule flags, by that rule (`rule_id`)."""

    case = models.ForeignKey("casereports.Case", on_delete=models.PROTECT, related_name="queries")
    field = models.CharField(max_length=100)
    rule_id = models.CharField(max_length=100, blank=True)
    message = models.TextField()
    status = models.CharField(
        max_length=16, choices=QueryStatus.choices, default=QueryStatus.OPEN, db_index=True
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["case", "status"])]
        verbose_name_plural = "queries"

    def __str__(self) -> str:
        return f"query #{self.pk} on {self.field} ({self.status})"


class QueryStep(models.Model):
    """One step of a query: who did what, when, and what they said."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="steps")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=16, choices=ResponseCategory.choices, blank=True)
    text = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    # The case's version after the correction this answer made, when it made one.
    case_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} query #{self.query_id}"
