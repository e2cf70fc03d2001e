"""What REDCap's API says about a project, from the current data dictionary: the metadata
(the dictionary in REDCap's export keys), the export field names, the instruments, the project
information and the version."""

from __future__ import annotations

from collections.abc import Iterable

from casereports.dictionary.model import DataDictionary, Field
from casereports.dictionary.writer import field_row
from casereports.entry import storage_keys
from casereports.models import DictionaryVersion, Site
from casereports.redcap.errors import RedcapError

# The REDCap version this endpoint answers as: the behaviour it copies is REDCap 14's API.
REDCAP_VERSION = "14.5.0"

# REDCap's metadata export keys, in the order of the data dictionary's 18 columns.
METADATA_KEYS = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)
FIELD_NAME_KEYS = ("original_field_name", "choice_value", "export_field_name")
INSTRUMENT_KEYS = ("instrument_name", "instrument_label")
COMPLETE_SUFFIX = "_complete"


def metadata_rows(fields: Iterable[Field]) -> list[dict[str, str]]:
    """One row per field, as REDCap's "Export Metadata" gives it."""
    return [dict(zip(METADATA_KEYS, field_row(f), strict=True)) for f in fields]


def data_fields(dictionary: DataDictionary) -> list[Field]:
    """Fields that hold data (descriptive fields hold none)."""
    return [f for f in dictionary.fields if f.field_type != "descriptive"]


def export_field_names(fields: Iterable[Field]) -> list[dict[str, str]]:
    """REDCap's "Export List of Export Field Names": a checkbox gives one row per option."""
    rows = []
    for f in fields:
        if f.field_type == "descriptive":
            continue
        codes = f.choice_codes() if f.field_type == "checkbox" else [""]
        for code, key in zip(codes, storage_keys(f), strict=True):
            rows.append(
                {"original_field_name": f.name, "choice_value": code, "export_field_name": key}
            )
    return rows


def instruments(dictionary: DataDictionary) -> list[dict[str, str]]:
    return [
        {"instrument_name": form, "instrument_label": form.replace("_", " ").capitalize()}
        for form in dictionary.forms
    ]


def selected_fields(dictionary: DataDictionary, fields: list[str], forms: list[str]) -> list[Field]:
    """The fields named in `fields` or on a form named in `forms`, in dictionary order (every
    field when neither names anything). A `<form>_complete` name (REDCap's form status, which
    PyCap asks for by default) is accepted and selects nothing; any other unknown name is
    refused as REDCap refuses it."""
    known_forms = set(dictionary.forms)
    _refuse_unknown("forms", [form for form in forms if form not in known_forms])
    statuses = {f"{form}{COMPLETE_SUFFIX}" for form in known_forms}
    unknown = [name for name in fields if name not in dictionary and name not in statuses]
    _refuse_unknown("fields", unknown)
    if not fields and not forms:
        return list(dictionary.fields)
    named, on_forms = set(fields), set(forms)
    return [f for f in dictionary.fields if f.name in named or f.form in on_forms]


def _refuse_unknown(parameter: str, names: list[str]) -> None:
    if names:
        listed = ", ".join(f"'{name}'" for name in names[:20])
        raise RedcapError(
            f'The following values in the parameter "{parameter}" are not valid: {listed}'
        )


def project_info(site: Site, version: DictionaryVersion) -> dict[str, object]:
    """REDCap's "Export Project Info" for the token's site: a classic project (no events, no
    repeating instruments, no auto-numbering), in production."""
    loaded = version.loaded_at.strftime("%Y-%m-%d %H:%M:%S")
    return {
        "project_id": site.pk,
        "project_title": f"GDSI core data set: {site.name}",
        "creation_time": site.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "production_time": loaded,
        "in_production": 1,
        "project_language": "English",
        "purpose": 2,
        "purpose_other": "",
        "project_notes": f"Dictionary {version.name} {version.content_hash[:12]}; site {site.code}",
        "custom_record_label": "",
        "secondary_unique_field": "",
        "is_longitudinal": 0,
        "has_repeating_instruments_or_events": 0,
        "surveys_enabled": 0,
        "scheduling_enabled": 0,
        "record_autonumbering_enabled": 0,
        "randomization_enabled": 0,
        "ddp_enabled": 0,
        "project_irb_number": "",
        "project_grant_number": "",
        "project_pi_firstname": "",
        "project_pi_lastname": "",
        "display_today_now_button": 1,
        "missing_data_codes": "",
        "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }
