"""Export jobs and their delivery, as rows (DESIGN.md: jobs are rows).

An `ExportJob` is written only by `exports.services` and the task in `exports.tasks`; its status
moves queued -> running -> done / failed / cancelled. A job's file is written under a temporary
name and renamed when complete, so `file_path` names a whole file or nothing.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casereports.models import REPORT_SOURCES, DictionaryVersion, Site


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """What every job row has: who asked, the status machine, the claim (`attempts`), progress,
    and the finished file (relative to GDSI_EXPORT_DIR) with its checksum and manifest."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True)  # relative to GDSI_EXPORT_DIR
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running worker's last sign

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress_percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))


class ExportJob(Job):
    profile = models.CharField(max_length=32)
    # {"sites": [site ids], "report_sources": [...], "statuses": [...],
    #  "date_from": "YYYY-MM-DD" | "", "date_to": "YYYY-MM-DD" | ""}; sites are always explicit,
    # resolved from the requester's export rights when the job is made.
    filters = models.JSONField(default=dict)
    dictionary_version = models.ForeignKey(
        DictionaryVersion, on_delete=models.PROTECT, related_name="+"
    )
    row_counts = models.JSONField(default=dict)  # file name -> data rows
    scheduled_export = models.ForeignKey(
        "ScheduledExport", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"export #{self.pk} ({self.profile}, {self.status})"


class DeliveryTarget(models.Model):
    """Where finished exports are pushed: an HTTPS endpoint (HMAC-signed POST) or S3-compatible
    storage. The secret is for signing (HTTPS) or the storage's secret key (S3)."""

    class Kind(models.TextChoices):
        HTTPS = "https", "HTTPS endpoint"
        S3 = "s3", "S3-compatible storage"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    url = models.URLField(help_text="HTTPS endpoint, or the S3 endpoint URL")
    bucket = models.CharField(max_length=200, blank=True)
    access_key = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=200, help_text="signing secret, or S3 secret key")
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class DeliveryAttempt(models.Model):
    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="deliveries")
    target = models.ForeignKey(DeliveryTarget, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField(default=False)
    detail = models.TextField(blank=True)  # status code or error, never the secret

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{'delivered' if self.succeeded else 'failed'} to {self.target_id} at {self.at}"


class ScheduledExport(models.Model):
    """An export made on a schedule (Celery beat checks every hour; weekly by default)."""

    name = models.CharField(max_length=100, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    profile = models.CharField(max_length=32, default="central")
    filters = models.JSONField(default=dict, blank=True)
    every_days = models.PositiveIntegerField(default=7)
    targets = models.ManyToManyField(DeliveryTarget, blank=True)
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class FeedVariant(models.TextChoices):
    EXACT = "exact", _("Exact (for the central team)")
    PUBLICATION = "publication", _("Publication (small cells suppressed)")


class FeedJob(Job):
    """The pooled federated count tables: the platform's own (per report source) plus every
    accepted upload, summed cell by cell (`exports.feeds`). `rows_done`/`rows_total` count the
    records of the contributions pooled so far."""

    variant = models.CharField(
        max_length=16, choices=FeedVariant.choices, default=FeedVariant.EXACT
    )
    threshold = models.PositiveIntegerField(default=5)  # publication: smallest cell shown
    # {"sites": [site ids]}: whose cases and uploads the feed pools (the requester's export
    # rights when the job was made; every site for an administrator).
    filters = models.JSONField(default=dict)
    dictionary_version = models.ForeignKey(
        DictionaryVersion, on_delete=models.PROTECT, related_name="+"
    )
    # "<report source>: <contribution label>" -> records counted, as the job page shows them.
    row_counts = models.JSONField(default=dict)
    suppressed_cells = models.PositiveIntegerField(default=0)  # publication: cells hidden

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"feed #{self.pk} ({self.variant}, {self.status})"


class UploadStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    REPLACED = "replaced", _("Replaced")


class FederatedUpload(models.Model):
    """A registry's result zip (count tables only), checked and stored; written only by
    `exports.feeds.upload_result`. The latest accepted upload of a site and report source is
    the one pooled; an older one is `replaced` (kept, with what replaced it)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="federated_uploads")
    report_source = models.CharField(max_length=16, choices=REPORT_SOURCES)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    file_path = models.CharField(max_length=500)  # relative to GDSI_EXPORT_DIR
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    rows_total = models.PositiveBigIntegerField(default=0)
    dictionary_hash = models.CharField(max_length=64)
    manifest = models.JSONField(default=dict)  # the zip's manifest.json
    status = models.CharField(
        max_length=16, choices=UploadStatus.choices, default=UploadStatus.ACCEPTED
    )
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced"
    )

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "report_source"],
                condition=models.Q(status="accepted"),
                name="one_accepted_upload_per_site_and_source",
            )
        ]

    def __str__(self) -> str:
        return f"upload #{self.pk} ({self.site_id}, {self.report_source}, {self.status})"
