"""Request and response shapes of the API. Values are strings, as REDCap exports them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casereports import entry
from casereports.dictionary import DataDictionary, Field
from casereports.models import Case, CaseStatus, DictionaryVersion, Site

COMPLETENESS_CHOICES = [entry.NOT_STARTED, entry.IN_PROGRESS, entry.COMPLETE]


class ErrorSerializer(serializers.Serializer):
    """The body of every refusal (see `casereports.api.errors`)."""

    code = serializers.CharField(
        help_text="invalid, bad_request, conflict, refused, locked, reason_required, "
        "permission_denied, not_found, not_authenticated, authentication_failed, ..."
    )
    message = serializers.CharField(help_text="For the person who tried; names what to do.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name -> messages. Empty when the refusal is not about fields.",
    )
    warnings = serializers.DictField(
        child=serializers.CharField(),
        help_text="Field name -> soft-range warning: resend with the field in `confirmed`.",
    )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
        "description": 'Field name -> value as text ("" clears it). A checkbox is a list of '
        'checked codes, or one `name___code` key per option with "1" or "0". Only the '
        "fields given are changed.",
        "example": {"age_years": "44", "sex": "female"},
    }
)
class EntryValuesField(serializers.DictField):
    """Submitted values; their types and contents are checked by the same validation as the
    forms (`casereports.entry`), which names each field it refuses."""

    child = serializers.JSONField()


class CaseSummarySerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True, help_text="Site code")

    class Meta:
        model = Case
        fields = [
            "secret_name",
            "site",
            "status",
            "completeness",
            "version",
            "report_source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CaseDetailSerializer(CaseSummarySerializer):
    data = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        read_only=True,
        help_text='Field name -> value as text; checkbox options as `name___code` = "1"/"0".',
    )
    form_statuses = serializers.DictField(
        child=serializers.ChoiceField(choices=COMPLETENESS_CHOICES),
        read_only=True,
        help_text="Form name -> not started / in progress / complete.",
    )
    dictionary_version = serializers.CharField(
        source="dictionary_version.content_hash",
        read_only=True,
        help_text="Content hash of the dictionary version the case is entered under.",
    )

    class Meta(CaseSummarySerializer.Meta):
        fields = [
            *CaseSummarySerializer.Meta.fields,
            "last_form",
            "submitted_at",
            "locked_at",
            "dictionary_version",
            "form_statuses",
            "data",
        ]
        read_only_fields = fields


class CaseSavedSerializer(CaseDetailSerializer):
    cleared = serializers.SerializerMethodField(
        help_text="Fields whose values were cleared because branching now hides them."
    )

    class Meta(CaseDetailSerializer.Meta):
        fields = [*CaseDetailSerializer.Meta.fields, "cleared"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_cleared(self, case: Case) -> list[str]:
        return list(self.context.get("cleared", []))


class CaseFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    completeness = serializers.ChoiceField(choices=COMPLETENESS_CHOICES, required=False)
    site = serializers.CharField(required=False, max_length=32, help_text="Site code")
    search = serializers.CharField(
        required=False, max_length=40, help_text="Part of the secret name"
    )


class CaseCreateSerializer(serializers.Serializer):
    site = serializers.CharField(max_length=32, help_text="Code of the site the case belongs to")
    data = EntryValuesField(required=False)
    confirmed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Fields whose out-of-range (soft) values you have checked.",
    )

    def validate_site(self, code: str) -> Site:
        site = Site.objects.filter(code=code).first()
        if site is None:
            raise serializers.ValidationError(f"No site has the code {code!r}.")
        return site


class CaseUpdateSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="The case version you read; a stale one is refused (409)."
    )
    data = EntryValuesField()
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Reason for change: required once the case is submitted.",
    )
    confirmed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Fields whose out-of-range (soft) values you have checked.",
    )


class CaseSubmitSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="The case version you read; a stale one is refused (409)."
    )
    justifications = serializers.DictField(
        child=serializers.CharField(max_length=4000, allow_blank=True),
        required=False,
        help_text="Rule id (or a field the rule names) -> why the flagged value is right. Each "
        "quality rule the case fails must be corrected or justified; a justification opens a "
        "query for the central team. Refused with 422 `quality` (warnings per field) otherwise.",
    )


class ChoiceSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class DictionaryFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    form = serializers.CharField()
    type = serializers.CharField(source="field_type", help_text="REDCap field type")
    label = serializers.CharField()
    section_header = serializers.CharField()
    note = serializers.CharField()
    choices = serializers.SerializerMethodField()
    validation = serializers.CharField(help_text="REDCap validation type, e.g. date_ymd")
    min = serializers.CharField()
    max = serializers.CharField()
    required = serializers.BooleanField()
    identifier = serializers.BooleanField()
    branching = serializers.CharField(help_text="Branching logic as written in the dictionary")
    branching_ast = serializers.JSONField(allow_null=True, help_text="Parsed branching logic")
    calculation = serializers.CharField(help_text="Calculation as written (calc fields)")
    calc_ast = serializers.JSONField(allow_null=True, help_text="Parsed calculation")
    annotation = serializers.CharField(help_text="Field Annotation as written")
    action_tags = serializers.DictField(
        child=serializers.JSONField(), help_text="Tag -> its value, or true"
    )

    @extend_schema_field(ChoiceSerializer(many=True))
    def get_choices(self, f: Field) -> list[dict[str, str]]:
        return [{"code": code, "label": label} for code, label in f.choices]


class DictionarySerializer(serializers.Serializer):
    name = serializers.CharField()
    hash = serializers.CharField(help_text="Content hash of this dictionary version")
    loaded_at = serializers.DateTimeField()
    forms = serializers.ListField(child=serializers.CharField())
    fields = DictionaryFieldSerializer(many=True)


def dictionary_document(version: DictionaryVersion, dictionary: DataDictionary) -> dict[str, Any]:
    return DictionarySerializer(
        {
            "name": version.name,
            "hash": version.content_hash,
            "loaded_at": version.loaded_at,
            "forms": dictionary.forms,
            "fields": dictionary.fields,
        }
    ).data
