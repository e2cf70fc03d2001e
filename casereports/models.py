from django.conf import settings
from django.db import models

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
