"""Row imports: a registry's de-identified export, validated into a report, then committed.

Imported by `casereports.models`, so the app's migrations own these tables. A `RowImport` is a
job row (DESIGN.md: jobs are rows) written only by `casereports.imports.services` and its tasks;
its status moves queued -> validating -> ready -> committing -> done, or to failed or
discarded. Its files (the upload as it came, the refused rows, the per-cell problems, the
quality results) live in Django's storage under `imports/<site code>/<id>/`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportMapping(models.Model):
    """One version of a registry's mapping (its column names, codes and units to the core data
    set), never changed once stored: saving a changed mapping under the same name adds a
    version."""

    site = models.ForeignKey("casereports.Site", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    source_text = models.TextField()
    canonical = models.JSONField()
    fingerprint = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "name", "version"], name="unique_mapping_version"
            )
        ]
        ordering = ["site__code", "name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    VALIDATING = "validating", _("Validating")
    READY = "ready", _("Ready to commit")
    COMMITTING = "committing", _("Committing")
    DONE = "done", _("Committed")
    FAILED = "failed", _("Failed")
    DISCARDED = "discarded", _("Discarded")


# A worker holds the job in these; the sweeper re-sends them when it goes silent.
WORKING = (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.COMMITTING)
FINISHED = (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.DISCARDED)


class RowImport(models.Model):
    CHANNELS = [("web", "web"), ("api", "api"), ("command", "command"), ("redcap", "redcap")]

    site = models.ForeignKey("casereports.Site", on_delete=models.PROTECT, related_name="+")
    report_source = models.CharField(max_length=16)
    channel = models.CharField(max_length=16, choices=CHANNELS)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dictionary_version = models.ForeignKey(
        "casereports.DictionaryVersion", on_delete=models.PROTECT, related_name="+"
    )
    mapping = models.ForeignKey(
        ImportMapping, null=True, blank=True, on_delete=models.PROTECT, related_name="imports"
    )
    original_name = models.CharField(max_length=255)
    file_name = models.CharField(max_length=500)  # in default storage
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    # {"delimiter": ",", "date_format": "auto", "encoding": "", "blank_overwrites": false,
    #  "partial": false}
    options = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True
    )
    commit_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # {"rows_read", "new", "changed", "unchanged", "refused", "absent", "quality_failed"}
    counts = models.JSONField(default=dict)
    report = models.JSONField(default=dict)
    plan_digest = models.CharField(max_length=64, blank=True)
    refused_file = models.CharField(max_length=500, blank=True)
    problems_file = models.CharField(max_length=500, blank=True)
    quality_file = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["site", "-created_at"])]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.site_id}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def can_commit(self) -> bool:
        return self.status == ImportStatus.READY and not self.commit_requested

    @property
    def is_partial(self) -> bool:
        """Some of the registry's records (a REDCap client's push), not its whole export: the
        records it does not hold are not missing."""
        return bool(self.options.get("partial"))

    @property
    def blank_overwrites(self) -> bool:
        return bool(self.options.get("blank_overwrites"))
