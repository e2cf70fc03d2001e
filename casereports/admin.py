from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from casereports import access
from casereports.audit import context_for
from casereports.models import ApiToken, AuditEvent, Case, DictionaryVersion, Membership, Site
from casereports.roles import ADMINISTER
from casereports.services.cases import record_case_view, record_denial
from casereports.services.tokens import revoke_token


class NoWrites:
    """For rows that only services write: the admin may look, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DictionaryVersion)
class DictionaryVersionAdmin(NoWrites, admin.ModelAdmin):
    """Versions are immutable: they are loaded with `load_dictionary`, only looked at here."""

    list_display = ["name", "short_hash", "form_count", "field_count", "loaded_at"]
    exclude = ["dictionary_csv", "quality_rules_csv"]

    @admin.display(description="hash")
    def short_hash(self, version: DictionaryVersion) -> str:
        return version.content_hash[:12]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "country"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "site", "role"]
    list_filter = ["role", "site"]
    autocomplete_fields = ["user", "site"]


@admin.register(ApiToken)
class ApiTokenAdmin(NoWrites, admin.ModelAdmin):
    """Tokens are issued with `create_api_token` (the key is shown once) and only revoked here."""

    list_display = ["name", "user", "site", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "site", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        context = context_for(request)
        tokens = queryset.select_related("user")
        revoked = sum(revoke_token(token, context=context) for token in tokens)
        self.message_user(request, f"Revoked {revoked} token(s).")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("casereports.change_apitoken")


class ReadOnlyAdmin(NoWrites, admin.ModelAdmin):
    """Rows only the services write: the admin may look, never add, change or delete."""


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Cases as the access module lets this user see them; opening one is audited like the
    case page. Data changes only through the case pages and the API."""

    list_display = ["secret_name", "site", "status", "completeness", "version", "updated_at"]
    list_filter = ["status", "completeness", "report_source"]
    search_fields = ["secret_name"]
    exclude = ["data", "form_statuses"]
    readonly_fields = ["secret_name", "site", "status", "report_source", "version", "updated_at"]

    def get_queryset(self, request: HttpRequest):
        return Case.objects.visible_to(request.user).select_related("site")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, access.VIEW_CASES)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        case = self.get_queryset(request).filter(pk=object_id).first()
        if case is not None:
            record_case_view(context_for(request), case, what="admin")
        else:
            hidden = Case.objects.filter(pk=object_id).select_related("site").first()
            if hidden is not None:  # exists, but not for this user: on record, and "not found"
                record_denial(context_for(request), "admin case page", case=hidden)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The trail, for administrators: events of the sites this user may see (changes carry case
    values), plus events with no site (logins)."""

    list_display = ["id", "at", "action", "actor_username", "role", "site_code", "case_secret_name"]
    list_filter = ["action", "channel"]
    search_fields = ["actor_username", "case_secret_name", "request_id"]

    def get_queryset(self, request: HttpRequest):
        events = super().get_queryset(request)
        if access.sees_all_sites(request.user):
            return events
        sites = access.site_ids_with(request.user, access.VIEW_CASES)
        return events.filter(Q(site_id__in=sites) | Q(site__isnull=True))

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return access.has_permission(request.user, ADMINISTER)


# The patient stream's admin pages (beside the rows they refer to).
from casereports.selfreport import admin as selfreport_admin  # noqa: E402, F401
