"""Patient self-report: where patients report, what they agreed to, and each report's codes.

Imported by `casereports.models`, so the app's migrations own these tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SelfReportProject(models.Model):
    """A site that takes patients' own reports at `/report/<site code>/`. The one marked
    default is the initiative's own form at `/report/`."""

    site = models.OneToOneField(
        "casereports.Site", on_delete=models.CASCADE, related_name="selfreport_project"
    )
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="The initiative's own form: reports made at /report/ land here."
    )
    title = models.CharField(
        max_length=200, blank=True, help_text="Shown to patients; the site's name when blank."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_project"
            )
        ]
        ordering = ["site__code"]

    def __str__(self) -> str:
        return self.title or self.site.name

    @property
    def display_title(self) -> str:
        return self.title or self.site.name


class ExternalInitiative(models.Model):
    """Another initiative that takes patients' reports in a country (the start page lists it
    beside the sites' own links, as the initiative's website sent people to national projects)."""

    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="Two-letter country code, e.g. ES")
    url = models.URLField(help_text="Its own address (https://...)")
    description = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"


class ConsentDocumentQuerySet(models.QuerySet):
    def active_for(self, site, language: str, *, at=None) -> ConsentDocument | None:
        """The version in force for `site` and `language`: the site's own, else the
        initiative-wide one (no site); the newest already active."""
        at = at or timezone.now()
        candidates = self.filter(language=language, active_from__lte=at)
        for scope in (Q(site=site), Q(site__isnull=True)):
            found = candidates.filter(scope).order_by("-active_from", "-id").first()
            if found is not None:
                return found
        return None


class ConsentDocument(models.Model):
    """One version of the information and consent text, in one language. Never changed once a
    patient agreed to it (the admin makes it read-only then); a new version is a new row."""

    site = models.ForeignKey(
        "casereports.Site",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consent_documents",
        help_text="Blank: the initiative's document, for every site without its own.",
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    version_label = models.CharField(max_length=32, help_text="e.g. 1.0 or 2026-12")
    title = models.CharField(max_length=200)
    information = models.TextField(
        help_text="The information patients read first; a blank line starts a new paragraph."
    )
    statements = models.TextField(
        help_text="One statement per line; the patient must tick each one to continue."
    )
    active_from = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentDocumentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "language", "version_label"], name="unique_consent_version"
            )
        ]
        ordering = ["language", "-active_from"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version_label} ({self.language})"

    def statement_list(self) -> list[str]:
        return [line.strip() for line in self.statements.splitlines() if line.strip()]

    def paragraphs(self) -> list[str]:
        return [part.strip() for part in self.information.split("\n\n") if part.strip()]

    def shown_text(self) -> str:
        """Exactly what the patient reads and ticks, in a canonical form (hashed on record)."""
        lines = [self.title, "", *self.paragraphs(), ""]
        lines += [f"[x] {statement}" for statement in self.statement_list()]
        return "\n".join(lines)


class TriageStatus(models.TextChoices):
    NEW = "new", _("New")
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate")
    SPAM = "spam", _("Spam")


# Reports with these statuses never leave the platform (exports, feeds, dashboards).
WITHHELD_TRIAGE = (TriageStatus.DUPLICATE, TriageStatus.SPAM)


class PatientReport(models.Model):
    """A patient's own report: the case it fills, its return and receipt codes (only their
    SHA-256 is kept) and the central team's triage."""

    case = models.OneToOneField(
        "casereports.Case", on_delete=models.CASCADE, related_name="patient_report"
    )
    language = models.CharField(max_length=8)
    return_code_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    receipt_code_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    triage = models.CharField(
        max_length=16, choices=TriageStatus.choices, default=TriageStatus.NEW, db_index=True
    )
    duplicate_of = models.ForeignKey(
        "casereports.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    possible_duplicates = models.JSONField(default=list, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)
    # The answers as sent, frozen: the PDF snapshot is made from them (by a task right after
    # the submit commits, or on the first download), whatever staff edit in the case later.
    submitted_data = models.JSONField(default=dict, blank=True)
    snapshot = models.FileField(upload_to="patient-receipts/", blank=True)
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"patient report {self.case_id}"


class ConsentRecord(models.Model):
    """What one patient agreed to: the document version, the language, every statement, the
    moment, and the SHA-256 of the exact text shown (kept too, so no later version changes it)."""

    case = models.OneToOneField(
        "casereports.Case", on_delete=models.CASCADE, related_name="consent"
    )
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="records")
    language = models.CharField(max_length=8)
    statements = models.JSONField(default=list)
    shown_text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    agreed_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-agreed_at"]

    def __str__(self) -> str:
        return f"consent to {self.document_id} for case {self.case_id}"
