"""Exports in the Django admin, for administrators (the `administer` right, from the access
module; being a Django superuser is not enough, as for cases).

Jobs and delivery attempts are written only by the services and tasks: read-only here. Delivery
targets keep their secret write-only (never shown, only "set"); scheduled exports are edited
here and started by Celery beat (`exports.schedule`), or at once with the "Run now" action.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from casereports import access
from casereports.admin import NoWrites
from casereports.audit import context_for
from casereports.models import REPORT_SOURCES, CaseStatus, Site
from casereports.roles import ADMINISTER, EXPORT_DATA
from casereports.services.cases import CaseServiceError
from exports import services
from exports.delivery import url_problem
from exports.models import (
    DeliveryAttempt,
    DeliveryTarget,
    ExportJob,
    FederatedUpload,
    FeedJob,
    ScheduledExport,
)
from exports.profiles import PROFILES

MASK = "•" * 8


class AdministratorsOnly(admin.ModelAdmin):
    """Shown to administrators only, whatever Django permissions say."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.has_permission(request.user, ADMINISTER) and super().has_module_permission(
            request
        )

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, ADMINISTER) and super().has_view_permission(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return access.has_permission(request.user, ADMINISTER) and super().has_add_permission(
            request
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, ADMINISTER) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, ADMINISTER) and super().has_delete_permission(
            request, obj
        )


class ReadOnly(NoWrites, AdministratorsOnly):
    pass


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["at", "target", "succeeded", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnly):
    list_display = [
        "id",
        "profile",
        "status",
        "progress",
        "requested_by",
        "rows_total",
        "file_size",
        "created_at",
        "finished_at",
        "scheduled_export",
    ]
    list_filter = ["status", "profile"]
    search_fields = ["id", "requested_by__username", "sha256"]
    fields = [
        "id",
        "requested_by",
        "profile",
        "filters",
        "dictionary_version",
        "status",
        "progress",
        "rows_done",
        "rows_total",
        "row_counts",
        "file_path",
        "file_size",
        "sha256",
        "error",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "scheduled_export",
        "manifest",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("requested_by", "scheduled_export")

    @admin.display(description="progress")
    def progress(self, job: ExportJob) -> str:
        return f"{job.progress_percent}%"


@admin.register(FeedJob)
class FeedJobAdmin(ReadOnly):
    list_display = ["id", "variant", "threshold", "status", "requested_by", "rows_total"]
    list_display += ["suppressed_cells", "file_size", "created_at", "finished_at"]
    list_filter = ["status", "variant"]
    search_fields = ["id", "requested_by__username", "sha256"]
    fields = ["id", "requested_by", "variant", "threshold", "filters", "dictionary_version"]
    fields += ["status", "rows_done", "rows_total", "row_counts", "suppressed_cells"]
    fields += ["file_path", "file_size", "sha256", "error", "attempts", "created_at"]
    fields += ["started_at", "finished_at", "heartbeat_at", "manifest"]
    readonly_fields = fields


@admin.register(FederatedUpload)
class FederatedUploadAdmin(ReadOnly):
    """Uploads are made by registries (web page or API) through `exports.feeds` only."""

    list_display = ["id", "site", "report_source", "status", "rows_total", "uploaded_by"]
    list_display += ["uploaded_at", "replaced_by"]
    list_filter = ["status", "report_source", "site"]
    search_fields = ["id", "site__code", "sha256"]
    fields = ["id", "site", "report_source", "status", "replaced_by", "uploaded_by"]
    fields += ["uploaded_at", "rows_total", "file_path", "file_size", "sha256"]
    fields += ["dictionary_hash", "manifest"]
    readonly_fields = fields


class DeliveryTargetForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=200,
        assume_scheme="https",
        help_text="The HTTPS endpoint, or the S3 endpoint URL (https://; plain http only to "
        "localhost in development).",
    )
    secret = forms.CharField(
        label="Secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="HTTPS: the key of the X-GDSI-Signature HMAC; S3: the secret access key. "
        "Never shown again; leave empty to keep the current one.",
    )

    class Meta:
        model = DeliveryTarget
        fields = ["name", "kind", "url", "bucket", "access_key", "secret", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret", "")
        if secret:
            return secret
        if self.instance.pk and self.instance.secret:
            return self.instance.secret  # kept as it was
        raise forms.ValidationError("a secret is required")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == DeliveryTarget.Kind.S3:
            for name in ("bucket", "access_key"):
                if not cleaned.get(name):
                    self.add_error(name, "required for S3-compatible storage")
        return cleaned


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(AdministratorsOnly):
    form = DeliveryTargetForm
    list_display = ["name", "kind", "url", "bucket", "masked_secret", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "url"]

    @admin.display(description="secret")
    def masked_secret(self, target: DeliveryTarget) -> str:
        return f"{MASK} (set)" if target.secret else "(not set)"


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnly):
    list_display = ["at", "job", "target", "succeeded", "detail"]
    list_filter = ["succeeded", "target"]
    fields = ["at", "job", "target", "succeeded", "detail"]
    readonly_fields = fields


class ScheduledExportForm(forms.ModelForm):
    profile = forms.ChoiceField(
        choices=[(name, f"{name}: {profile.description}") for name, profile in PROFILES.items()]
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.order_by("code"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every site the requesting user may export when it runs.",
    )
    report_sources = forms.MultipleChoiceField(
        choices=REPORT_SOURCES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: both.",
    )
    statuses = forms.MultipleChoiceField(
        choices=CaseStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: submitted and locked cases.",
    )

    class Meta:
        model = ScheduledExport
        fields = ["name", "requested_by", "profile", "every_days", "targets", "enabled"]
        help_texts = {
            "requested_by": "The export runs as this user, with their export rights.",
            "every_days": "Days between two runs (7: weekly).",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        filters = self.instance.filters or {}
        self.fields["sites"].initial = filters.get("sites", [])
        self.fields["report_sources"].initial = filters.get("report_sources", [])
        self.fields["statuses"].initial = filters.get("statuses", [])
        self.fields["requested_by"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, memberships__role__in=_export_roles())
            .distinct()
        )

    def clean_every_days(self) -> int:
        days = self.cleaned_data["every_days"]
        if days < 1:
            raise forms.ValidationError("must be at least 1")
        return days

    def clean_requested_by(self):
        user = self.cleaned_data["requested_by"]
        if not access.has_permission(user, EXPORT_DATA):
            raise forms.ValidationError(f"{user.get_username()} has no export right")
        return user

    def clean(self):
        cleaned = super().clean()
        user, sites = cleaned.get("requested_by"), cleaned.get("sites") or []
        if user is not None and sites:
            allowed = set(access.export_site_ids(user))
            outside = [site.code for site in sites if site.pk not in allowed]
            if outside:
                self.add_error(
                    "sites", f"{user.get_username()} may not export {', '.join(outside)}"
                )
        return cleaned

    def save(self, commit: bool = True) -> ScheduledExport:
        schedule = super().save(commit=False)
        schedule.filters = {
            "sites": sorted(site.pk for site in self.cleaned_data.get("sites") or []),
            "report_sources": list(self.cleaned_data.get("report_sources") or []),
            "statuses": list(self.cleaned_data.get("statuses") or []),
        }
        if commit:
            schedule.save()
            self.save_m2m()
        return schedule


def _export_roles() -> list[str]:
    from casereports.roles import ROLES

    return [code for code, role in ROLES.items() if EXPORT_DATA in role.permissions]


@admin.register(ScheduledExport)
class ScheduledExportAdmin(AdministratorsOnly):
    form = ScheduledExportForm
    list_display = ["name", "profile", "every_days", "requested_by", "enabled", "last_run_at"]
    list_filter = ["enabled", "profile"]
    search_fields = ["name"]
    filter_horizontal = ["targets"]
    readonly_fields = ["last_run_at"]
    fieldsets = [
        (None, {"fields": ["name", "requested_by", "profile", "every_days", "enabled"]}),
        ("Filters", {"fields": ["sites", "report_sources", "statuses"]}),
        ("Delivery", {"fields": ["targets", "last_run_at"]}),
    ]
    actions = ["run_now"]

    @admin.action(description="Run the selected schedules now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset) -> None:
        """As the administrator who pressed the button (with their rights, on their record);
        the finished job goes to the schedule's targets. The beat's rhythm is unchanged."""
        started = 0
        for schedule in queryset:
            filters = schedule.filters or {}
            try:
                services.request_export(
                    context_for(request),
                    profile=schedule.profile,
                    sites=filters.get("sites") or [],
                    report_sources=filters.get("report_sources") or [],
                    statuses=filters.get("statuses") or [],
                    scheduled=schedule,
                )
            except CaseServiceError as refused:
                self.message_user(request, f"{schedule.name}: {refused.message}", messages.ERROR)
                continue
            started += 1
        self.message_user(request, f"Started {started} export(s).")
