"""The patient stream in the admin: where patients report, other initiatives per country, and
the consent documents. A consent document patients agreed to is read-only (a change is a new
version); consent records and patient reports are only looked at here (services write them).
Changes made here are on the audit trail."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from casereports import access
from casereports.admin import ReadOnlyAdmin
from casereports.audit import context_for, record_event
from casereports.selfreport.models import (
    ConsentDocument,
    ConsentRecord,
    ExternalInitiative,
    PatientReport,
    SelfReportProject,
)


class AuditedAdmin(admin.ModelAdmin):
    """Every save and delete through the admin appends an audit event in the same transaction."""

    audit_action = ""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record_event(
                context_for(request),
                f"{self.audit_action}.{'changed' if change else 'added'}",
                details={"id": obj.pk, "fields": sorted(form.changed_data), "what": str(obj)},
            )

    def delete_model(self, request: HttpRequest, obj) -> None:
        with transaction.atomic():
            record_event(
                context_for(request),
                f"{self.audit_action}.deleted",
                details={"id": obj.pk, "what": str(obj)},
            )
            super().delete_model(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)


@admin.register(SelfReportProject)
class SelfReportProjectAdmin(AuditedAdmin):
    audit_action = "selfreport.project"
    list_display = ["site", "title", "enabled", "is_default"]
    list_filter = ["enabled", "is_default"]
    autocomplete_fields = ["site"]


@admin.register(ExternalInitiative)
class ExternalInitiativeAdmin(AuditedAdmin):
    audit_action = "selfreport.initiative"
    list_display = ["name", "country", "url", "active"]
    list_filter = ["active", "country"]
    search_fields = ["name", "country"]


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(AuditedAdmin):
    audit_action = "consent.document"
    list_display = ["title", "version_label", "language", "site", "active_from", "agreed_by"]
    list_filter = ["language", "site"]
    fields = [
        "site",
        "language",
        "version_label",
        "title",
        "information",
        "statements",
        "active_from",
    ]

    @admin.display(description="patients who agreed")
    def agreed_by(self, document: ConsentDocument) -> int:
        return document.records.count()

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None and obj.records.exists():
            return self.fields  # agreed to: a new version instead, never a change
        return []

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.records.exists():
            return False
        return super().has_delete_permission(request, obj)


class PatientAdmin(ReadOnlyAdmin):
    """Patient reports and consent records of the sites this user sees."""

    site_path = "case__site"

    def get_queryset(self, request: HttpRequest):
        rows = super().get_queryset(request).select_related("case", "case__site")
        if access.sees_all_sites(request.user):
            return rows
        sites = access.site_ids_with(request.user, access.VIEW_CASES)
        return rows.filter(**{f"{self.site_path}__in": sites})

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, access.ADMINISTER)


@admin.register(PatientReport)
class PatientReportAdmin(PatientAdmin):
    list_display = ["case", "language", "triage", "created_at", "expires_at"]
    list_filter = ["triage", "language"]
    exclude = ["return_code_hash", "receipt_code_hash", "submitted_data"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(PatientAdmin):
    list_display = ["case", "document", "language", "agreed_at", "withdrawn_at"]
    list_filter = ["language", ("withdrawn_at", admin.EmptyFieldListFilter)]
