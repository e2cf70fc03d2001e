from django.contrib import admin
from django.http import HttpRequest

from casereports.models import DictionaryVersion, Membership, Site


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
