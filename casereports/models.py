from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casereports.roles import ROLE_CHOICES


class DictionaryVersionQuerySet(models.QuerySet):
    def current(self, name: str = "core") -> "DictionaryVersion | None":
        return self.filter(name=name).order_by("-loaded_at", "-id").first()


class DictionaryVersion(models.Model):
    """One loaded data dictionary (plus its quality rules), never changed once stored.

    `content_hash` is the SHA-256 of the canonical dictionary CSV followed by the canonical
    quality-rules CSV, so loading the same content twice finds the existing version.
    """

    name = models.SlugField(max_length=64, default="core")
    content_hash = models.CharField(max_length=64, unique=True)
    dictionary_csv = models.TextField()
    quality_rules_csv = models.TextField(blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    form_count = models.PositiveIntegerField()
    field_count = models.PositiveIntegerField()
    loaded_at = models.DateTimeField(auto_now_add=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = DictionaryVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-loaded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.content_hash[:12]}"


class Site(models.Model):
    """A hospital or registry that reports cases."""

    code = models.SlugField(max_length=32, unique=True, help_text="Short code, e.g. UCLH")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "role"], name="unique_membership")
        ]
        ordering = ["site__code", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} - {self.role} at {self.site.code}"


REPORT_SOURCES = [
    ("clinicians", _("Clinician report")),
    ("patients", _("Patient self-report")),
]


class CaseStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    LOCKED = "locked", _("Locked")


class CaseQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CaseQuerySet":
        """The cases `user` may read; the one place this is decided is `casereports.access`."""
        from casereports.access import visible_cases

        return visible_cases(user, self)

    def shareable(self) -> "CaseQuerySet":
        """Cases that may leave the platform (exports, feeds, dashboards): consent not
        withdrawn, and no patient report triaged as a duplicate or as spam."""
        from casereports.selfreport.models import WITHHELD_TRIAGE

        return self.filter(consent_withdrawn=False).exclude(
            patient_report__triage__in=WITHHELD_TRIAGE
        )


class Case(models.Model):
    """One case report. Written only through `casereports.services.cases`.

    `data` maps field names to values as REDCap exports them (strings, "" for blank,
    `name___code` for checkbox options). `version` rises by one on every write, so a save made
    from an older copy is refused instead of overwriting someone else's change.
    """

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="cases")
    secret_name = models.CharField(max_length=40, unique=True)
    report_source = models.CharField(max_length=16, choices=REPORT_SOURCES, default="clinicians")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.DRAFT)
    dictionary_version = models.ForeignKey(
        DictionaryVersion, on_delete=models.PROTECT, related_name="cases"
    )
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    last_form = models.CharField(max_length=100, blank=True)
    # Kept by the services on every write, so lists can filter and sort on them.
    form_statuses = models.JSONField(default=dict)
    completeness = models.CharField(max_length=16, default="not started", db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    consent_withdrawn = models.BooleanField(default=False)
    # A registry's record: its own pseudonym (matched per site on every upload), the import
    # that last wrote it and the version that import left, so an edit made on the platform
    # since then shows in the next upload's diff; and the upload it was missing from, if any.
    registry_record = models.CharField(max_length=100, blank=True)
    source_import = models.ForeignKey(
        "casereports.RowImport", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    imported_version = models.PositiveIntegerField(null=True, blank=True)
    absent_from_import = models.ForeignKey(
        "casereports.RowImport", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # Quality: "pass", "fail" or "justified" (every failing rule confirmed with a reason), the
    # failing rules ([{"rule", "fields"}]) and the rules a justification confirmed; kept by the
    # services on every write.
    quality_status = models.CharField(max_length=16, blank=True, db_index=True)
    quality_failures = models.JSONField(default=list)
    justified_rules = models.JSONField(default=list)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["site", "status"]),
            models.Index(fields=["site", "-updated_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "registry_record"],
                condition=~models.Q(registry_record=""),
                name="unique_registry_record_per_site",
            )
        ]

    def __str__(self) -> str:
        return self.secret_name

    @property
    def is_locked(self) -> bool:
        return self.status == CaseStatus.LOCKED


class AuditEvent(models.Model):
    """One append-only audit event, hash-chained to the one before (`casereports.audit`).

    `actor_username`, `site_code` and `case_secret_name` are copies so that the trail still reads
    when a user, site or case is gone; no foreign key may cascade into this table.
    """

    at = models.DateTimeField()
    action = models.CharField(max_length=40, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+",
    )  # fmt: skip
    actor_username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=32, blank=True)
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )  # fmt: skip
    site_code = models.CharField(max_length=32, blank=True)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="audit_events",
    )  # fmt: skip
    case_secret_name = models.CharField(max_length=40, blank=True)
    channel = models.CharField(max_length=16)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["case", "id"]), models.Index(fields=["site", "id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_username or '-'}"


class ApiToken(models.Model):
    """A per-user API token. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # A site-bound token acts for that site only (a registry's uploads); never widened to null.
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    # "api": the REST API's token; "redcap": 32 hexadecimal characters, as REDCap's client
    # libraries expect, accepted only at /redcap/api/ and always bound to one site.
    kind = models.CharField(max_length=8, default="api")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class AuditHead(models.Model):
    """The end of the audit chain (one row): appends lock it, `verify_audit` compares with it,
    so removing the newest events is detected too."""

    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_event_id = models.BigIntegerField(default=0)
    event_count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit head at event {self.last_event_id}"


# The patient self-report's tables belong to this app (and its migrations).
from casereports.imports.models import ImportMapping, RowImport  # noqa: E402, F401
from casereports.quality.models import Query, QueryStep  # noqa: E402, F401
from casereports.selfreport.models import (  # noqa: E402, F401
    ConsentDocument,
    ConsentRecord,
    ExternalInitiative,
    PatientReport,
    SelfReportProject,
)
