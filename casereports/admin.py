from django.contrib import admin
from django.http import HttpRequest

from casereports.audit import context_for
from casereports.models import ApiToken, DictionaryVersion, Membership, Site
from casereports.services.tokens import revoke_token


@admin.register(DictionaryVersion)
class DictionaryVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: they are loaded with `load_dictionary`, only looked at here."""

    list_display = ["name", "short_hash", "form_count", "field_count", "loaded_at"]
    exclude = ["dictionary_csv", "quality_rules_csv"]

    @admin.display(description="hash")
    def short_hash(self, version: DictionaryVersion) -> str:
        return version.content_hash[:12]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `create_api_token` (the key is shown once) and only revoked here."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
