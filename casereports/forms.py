"""The clinician's case report forms, built from the data dictionary with crispy-forms.

`EntryForm` is one page: the fields of one entry form (instrument) of a dictionary version, each
with the widget its REDCap type and validation call for, laid out for Bootstrap 5. It renders and
reads values only: whether a value is valid, hidden or required is decided by `casereports.entry`
inside the services (the same rules the API and imports use); the errors it returns are put back
on the fields here. `client_spec` is what `entry.js` needs to run branching, calcs and range
checks live in the browser with `logic.js`.

Names in the page, which the browser tests rely on: every question's wrapper is
`id="field-<name>"`; inputs are named by field name (their ids are `input-<name>`); a checkbox
field's options are inputs named `<name>` whose value is the option code (stored as
`<name>___<code>` = "1"/"0"); a soft-range confirmation is the checkbox `confirm__<name>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from crispy_forms.bootstrap import AppendedText, InlineCheckboxes, InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Layout, LayoutObject
from crispy_forms.layout import Field as CrispyField
from django import forms
from django.forms.utils import ErrorDict, flatatt
from django.http import QueryDict
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from casereports import entry
from casereports.dictionary import DataDictionary
from casereports.dictionary.model import Field
from casereports.dictionary.validation_types import (
    DATE_TYPES,
    NUMERIC_TYPES,
    VALIDATORS,
    canonical_validation,
)
from casereports.i18n import messages as entry_messages
from casereports.textlayers import CLINICIANS, PATIENTS, Texts, base_texts

NOT_ON_FORM_TAGS = ("@HIDDEN", "@HIDDEN-FORM")
UPLOAD_NOTE = gettext_lazy("File uploads are not supported here: keep the document at your site.")
CONFIRM_PREFIX = "confirm__"
SLIDER_RANGE = ("0", "100")  # REDCap's default slider scale
SHORT_CHOICE_LABEL = 24  # radios with a few short choices sit on one line


def form_title(form: str) -> str:
    return form.replace("_", " ").strip().capitalize()


def text_audience(audience: str) -> str:
    """The text layers' name for an entry audience."""
    return PATIENTS if audience == entry.PATIENT else CLINICIANS


def on_page(f: Field, audience: str = entry.CLINICIAN) -> bool:
    """Whether the audience's form shows this field at all."""
    if any(tag in f.action_tags for tag in NOT_ON_FORM_TAGS):
        return False
    return not (audience == entry.PATIENT and "@GDSI-CLINICIAN-ONLY" in f.action_tags)


def page_fields(
    dictionary: DataDictionary, form: str, audience: str = entry.CLINICIAN
) -> list[Field]:
    """The fields of `form` the page shows (questions, calcs, texts), in dictionary order."""
    return [f for f in dictionary.fields if f.form == form and on_page(f, audience)]


def input_fields(
    dictionary: DataDictionary, form: str, audience: str = entry.CLINICIAN
) -> list[Field]:
    """The fields of `form` the page has an input for."""
    return [f for f in page_fields(dictionary, form, audience) if entry.is_entered(f, audience)]


answer_sentence = entry_messages.answer_sentence


# --- values between the record and the widgets ---------------------------------------------


def _is_datetime(f: Field) -> bool:
    return canonical_validation(f.validation).startswith("datetime")


def _has_seconds(f: Field) -> bool:
    return canonical_validation(f.validation).startswith("datetime_seconds")


def widget_value(f: Field, record: Mapping[str, str]) -> Any:
    """A stored value as its widget shows it."""
    if f.field_type == "checkbox":
        return [code for code in f.choice_codes() if record.get(f"{f.name}___{code}") == "1"]
    value = record.get(f.name, "")
    if _is_datetime(f):
        return value.replace(" ", "T", 1)
    return value


def stored_text(f: Field, raw: str) -> str:
    """A widget's value as the services expect it (datetime-local sends `T`, maybe seconds)."""
    if not _is_datetime(f) or "T" not in raw:
        return raw
    day, _, clock = raw.partition("T")
    if _has_seconds(f) and len(clock) == 5:
        clock += ":00"
    elif not _has_seconds(f) and len(clock) == 8:
        clock = clock[:5]
    return f"{day} {clock}"


def resolved_bound(f: Field, bound: str, today: date | None = None) -> str:
    """A min/max as ISO text (`today` resolved, dates in any REDCap order made ISO)."""
    if not bound:
        return ""
    if bound.lower() in {"today", "now"}:
        return (today or date.today()).isoformat()
    validation = canonical_validation(f.validation)
    if validation in VALIDATORS and validation not in NUMERIC_TYPES:
        normalised, error = VALIDATORS[validation](bound)
        return bound if error else normalised
    return bound


# --- widgets ---------------------------------------------------------------------------------


class SliderInput(forms.Widget):
    """A range input for a REDCap slider. A slider has no blank position, so the value travels
    in a hidden input that stays blank until the person moves the slider (entry.js keeps the
    two in step); "Clear" makes it blank again."""

    def __init__(self, labels: list[str], show_number: bool, low: str, high: str) -> None:
        super().__init__()
        self.labels, self.show_number, self.low, self.high = labels, show_number, low, high

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = self.build_attrs(self.attrs, attrs)
        input_id = attrs.pop("id", f"input-{name}")
        disabled = bool(attrs.get("disabled"))
        value = "" if value is None else str(value)
        labels = format_html_join(
            "", '<span class="gdsi-slider-label">{}</span>', ((label,) for label in self.labels)
        )
        shown = value if value else gettext("not answered")
        number = (
            format_html('<output class="ms-2" data-slider-number="{}">{}</output>', name, shown)
            if self.show_number
            else format_html('<span class="visually-hidden" data-slider-number="{}"></span>', name)
        )
        return format_html(
            '<input type="hidden" name="{name}" value="{value}" data-slider-value="{name}">'
            '<div class="d-flex align-items-center gap-2">'
            '<input type="range" class="form-range" id="{id}" min="{low}" max="{high}" '
            'value="{position}" data-slider-for="{name}"{disabled}>{number}'
            '<button type="button" class="btn btn-link btn-sm" data-slider-clear="{name}"'
            "{disabled}>{clear}</button></div>"
            '<div class="d-flex justify-content-between small text-body-secondary">{labels}</div>',
            name=name,
            value=value,
            id=input_id,
            low=self.low,
            high=self.high,
            position=value or self.low,
            disabled=SafeString(" disabled") if disabled else "",
            number=number,
            labels=labels,
            clear=gettext("Clear"),
        )

    def value_from_datadict(self, data, files, name):
        return data.get(name, "")


class ListSelect(forms.Select):
    """A dropdown whose options are written in one pass: Django's Select renders a template
    per option, which for a list of every country took most of a page's time."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (code, SafeString(" selected") if str(code) == chosen else "", label)
                for code, label in self.choices
            ),
        )
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(attrs), options)


def _number_step(f: Field, validation: str) -> str:
    step = f.tag("@GDSI-STEP")
    if isinstance(step, str) and step:
        return step
    if validation == "integer":
        return "1"
    decimals = _decimals(validation)
    return f"{10**-decimals:.{decimals}f}" if decimals else "any"


def _decimals(validation: str) -> int | None:
    for places in range(1, 5):
        if validation.startswith(f"number_{places}dp"):
            return places
    return None


def _text_widget(f: Field) -> forms.Widget:
    validation = canonical_validation(f.validation)
    hard = not entry.is_soft_range(f)
    low, high = resolved_bound(f, f.min), resolved_bound(f, f.max)
    if "@GDSI-MAX-TODAY" in f.action_tags:
        high = min(filter(None, [high, date.today().isoformat()]))
    if validation.startswith("datetime"):
        attrs = {"type": "datetime-local"}
        if validation.startswith("datetime_seconds"):
            attrs["step"] = "1"
        return forms.DateTimeInput(attrs=attrs)
    if validation in DATE_TYPES:
        attrs = {"type": "date", **({"min": low} if low and hard else {})}
        attrs.update({"max": high} if high and hard else {})
        return forms.DateInput(attrs=attrs)
    if validation == "time":
        return forms.TimeInput(attrs={"type": "time"})
    if validation in NUMERIC_TYPES and "comma" not in validation:
        attrs = {"step": _number_step(f, validation), "inputmode": "decimal"}
        if hard:
            attrs.update({key: value for key, value in (("min", low), ("max", high)) if value})
        return forms.NumberInput(attrs=attrs)
    if validation in NUMERIC_TYPES:
        return forms.TextInput(attrs={"inputmode": "decimal"})
    if validation == "email":
        return forms.EmailInput()
    if validation.startswith("phone"):
        return forms.TextInput(attrs={"type": "tel", "autocomplete": "off"})
    return forms.TextInput(attrs={"autocomplete": "off"})


def _django_field(f: Field, texts: Texts, audience: str) -> forms.Field:
    common: dict[str, Any] = {
        "label": texts.label(f),
        # shown with a marker; enforced on submit only
        "required": entry.is_required(f, audience),
        "help_text": escape(texts.note(f)),
    }
    kind = f.field_type
    choices = texts.choices(f)
    if kind == "checkbox":
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind in {"radio", "yesno", "truefalse"}:
        return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if kind == "dropdown":
        return forms.ChoiceField(
            choices=[("", gettext("— choose —")), *choices], widget=ListSelect, **common
        )
    if kind == "notes":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    if kind == "slider":
        labels = [part.strip() for part in f.slider_labels.split("|") if part.strip()]
        low, high = f.min or SLIDER_RANGE[0], f.max or SLIDER_RANGE[1]
        show_number = f.validation.strip().lower() == "number"
        return forms.CharField(widget=SliderInput(labels, show_number, low, high), **common)
    return forms.CharField(widget=_text_widget(f), **common)


def _inline(f: Field) -> bool:
    if f.alignment in {"RH", "LH"}:
        return True
    if f.alignment or f.field_type not in {"radio", "yesno", "truefalse"}:
        return False
    return len(f.choices) <= 3 and all(len(label) <= SHORT_CHOICE_LABEL for _, label in f.choices)


# --- layout ----------------------------------------------------------------------------------


class Markup(LayoutObject):
    """Ready-made HTML in the layout (built with format_html, so dictionary text is escaped;
    crispy's HTML object would run dictionary text through the template engine)."""

    def __init__(self, html: SafeString) -> None:
        self.fields: list = []
        self.html = html

    def render(self, form, context, **kwargs) -> SafeString:
        return self.html


class SoftRangeWarning(LayoutObject):
    """The warning and the "I confirm this value" box of a soft-range field."""

    def __init__(self, name: str) -> None:
        self.fields: list = []
        self.name = name

    def render(self, form, context, **kwargs) -> SafeString:
        warning = form.entry_warnings.get(self.name, "")
        confirmed = form.is_bound and form.data.get(CONFIRM_PREFIX + self.name) == "1"
        return format_html(
            '<div class="gdsi-soft-warning soft-warning alert alert-warning py-2 mb-3" '
            'data-warning-for="{name}" data-server-warning="{server}"{hidden}>'
            '<p class="mb-1" data-warning-text>{text}</p>'
            '<div class="form-check"><input class="form-check-input" type="checkbox" '
            'name="{prefix}{name}" id="confirm-{name}" value="1"{checked}>'
            '<label class="form-check-label" for="confirm-{name}">{confirm}</label>'
            "</div></div>",
            name=self.name,
            prefix=CONFIRM_PREFIX,
            server="1" if warning else "",
            hidden=SafeString("") if warning or confirmed else SafeString(" hidden"),
            text=answer_sentence(warning) if warning else "",
            checked=SafeString(" checked") if confirmed else "",
            confirm=gettext("I confirm this value"),
        )


class FieldErrors(LayoutObject):
    """A question's error messages, one block for every widget (crispy's own block for inline
    radios sits where Bootstrap never shows it); entry.js writes its live messages here too."""

    def __init__(self, name: str) -> None:
        self.fields: list = []
        self.name = name

    def render(self, form, context, **kwargs) -> SafeString:
        errors = form.errors.get(self.name, [])
        return format_html(
            '<div class="invalid-feedback gdsi-error{shown}" id="error-{name}" '
            'data-error-for="{name}" data-server-error="{server}" aria-live="polite">'
            "{messages}</div>",
            shown=" d-block" if errors else "",
            name=self.name,
            server="1" if errors else "",
            messages=format_html_join(" ", "<span>{}</span>", ((error,) for error in errors)),
        )


def _question(f: Field, texts: Texts) -> LayoutObject:
    unit = texts.unit(f)
    if unit and f.field_type == "text":
        control: LayoutObject = AppendedText(f.name, unit)
    elif _inline(f):
        control = InlineCheckboxes(f.name) if f.field_type == "checkbox" else InlineRadios(f.name)
    else:
        control = CrispyField(f.name)
    parts = [control, FieldErrors(f.name)]
    if entry.is_soft_range(f):
        parts.append(SoftRangeWarning(f.name))
    return Div(*parts, css_id=f"field-{f.name}", css_class="gdsi-field", data_field=f.name)


def _display(f: Field, record: Mapping[str, str], texts: Texts) -> Markup:
    """A field the page shows without an input: text, a computed value, a read-only value."""
    if f.field_type == "descriptive":
        body = format_html('<p class="mb-1">{}</p>', texts.label(f))
    elif f.field_type == "file":
        body = format_html(
            '<div class="form-label">{}</div><p class="text-body-secondary mb-0">{}</p>',
            texts.label(f),
            UPLOAD_NOTE,
        )
    else:
        unit = texts.unit(f)
        value = (
            record.get(f.name, "")
            if f.calc_ast is not None
            else entry.readable_value(f, record, texts)
        )
        body = format_html(
            '<div class="form-label">{label}</div><div class="d-flex gap-1">'
            '<output id="calc-{name}" class="fw-semibold" data-output-for="{name}" '
            'aria-live="polite">{value}</output>{unit}</div>',
            label=texts.label(f),
            name=f.name,
            value=value,
            unit=format_html("<span>{}</span>", unit) if unit else "",
        )
    note = format_html('<div class="form-text">{}</div>', texts.note(f)) if f.note else ""
    kind = "calc" if f.calc_ast is not None else f.field_type
    return Markup(
        format_html(
            '<div id="field-{name}" class="gdsi-field gdsi-{kind} mb-3" data-field="{name}">'
            "{body}{note}</div>",
            name=f.name,
            kind=kind,
            body=body,
            note=note,
        )
    )


def _sections(
    fields: Iterable[Field], record: Mapping[str, str], texts: Texts, audience: str
) -> list[LayoutObject]:
    sections: list[list] = [["", []]]
    for f in fields:
        if f.section_header:
            sections.append([texts.section_header(f), []])
        sections[-1][1].append(
            _question(f, texts) if entry.is_entered(f, audience) else _display(f, record, texts)
        )
    layout = []
    for header, items in sections:
        if not items:
            continue
        heading = (
            Markup(format_html('<h2 class="h5 mt-4 mb-3 pb-1 border-bottom">{}</h2>', header))
            if header
            else Markup(SafeString(""))
        )
        layout.append(Div(heading, *items, css_class="gdsi-section"))
    return layout


# --- the form --------------------------------------------------------------------------------


class EntryForm(forms.Form):
    """One entry form of a case: renders the dictionary's questions and reads what was typed."""

    use_required_attribute = False  # required is enforced on submit, never blocks a draft

    def __init__(
        self,
        dictionary: DataDictionary,
        form_name: str,
        record: Mapping[str, str],
        *,
        data: QueryDict | None = None,
        read_only: bool = False,
        audience: str = entry.CLINICIAN,
        texts: Texts | None = None,
    ) -> None:
        self.dictionary, self.form_name, self.record = dictionary, form_name, record
        self.audience = audience
        self.texts = texts or base_texts(dictionary, text_audience(audience))
        self.inputs = input_fields(dictionary, form_name, audience)
        initial = {f.name: widget_value(f, record) for f in self.inputs}
        super().__init__(data=data, initial=initial, auto_id="input-%s")
        for f in self.inputs:
            self.fields[f.name] = _django_field(f, self.texts, audience)
            self.fields[f.name].disabled = read_only
            described = [f"error-{f.name}"] + ([f"input-{f.name}_helptext"] if f.note else [])
            self.fields[f.name].widget.attrs["aria-describedby"] = " ".join(described)
        self.entry_warnings: dict[str, str] = {}
        self.read_only = read_only

    def full_clean(self) -> None:
        """No Django validation: the services validate (see the module docstring)."""
        self._errors = ErrorDict()
        self.cleaned_data = {}

    @property
    def helper(self) -> FormHelper:
        helper = FormHelper(self)
        helper.form_tag = False
        helper.disable_csrf = True
        helper.form_show_errors = False  # FieldErrors shows them, under every kind of widget
        helper.layout = Layout(
            *_sections(
                page_fields(self.dictionary, self.form_name, self.audience),
                self.record,
                self.texts,
                self.audience,
            )
        )
        return helper

    def submitted_values(self) -> dict[str, object]:
        """Every input of the page as the services take it; a blank or absent input is blank."""
        assert self.data is not None, "only a bound form has submitted values"
        values: dict[str, object] = {}
        for f in self.inputs:
            if f.field_type == "checkbox":
                values[f.name] = self.data.getlist(f.name)
            else:
                values[f.name] = stored_text(f, self.data.get(f.name, ""))
        return values

    def show_errors_as_invalid(self) -> None:
        """aria-invalid on every input whose question has an error (screen readers say so)."""
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"

    def confirmed_fields(self) -> list[str]:
        return [
            f.name
            for f in self.inputs
            if entry.is_soft_range(f) and self.data.get(CONFIRM_PREFIX + f.name) == "1"
        ]

    def show_entry_problems(self, result: entry.EntryResult) -> None:
        """Put the services' errors and soft-range warnings on the questions."""
        for name, messages in result.errors.items():
            name = name.split("___", 1)[0]
            if name in self.fields:
                self.add_error(name, [answer_sentence(message) for message in messages])
        self.show_errors_as_invalid()
        self.entry_warnings.update(
            {name: message for name, message in result.warnings.items() if name in self.fields}
        )

    def mark_missing(self, fields: Iterable[Field]) -> None:
        for f in fields:
            if f.name in self.fields:
                self.add_error(f.name, answer_sentence("is required"))
        self.show_errors_as_invalid()

    def problems(self) -> list[dict[str, str]]:
        """For the summary at the top: each question that needs attention, in page order."""
        listed = []
        for f in self.inputs:
            label = self.texts.label(f)
            if f.name in self.errors:
                listed.append({"name": f.name, "label": label, "text": self.errors[f.name][0]})
            elif f.name in self.entry_warnings:
                text = answer_sentence(self.entry_warnings[f.name])
                listed.append({"name": f.name, "label": label, "text": text})
        return listed

    def client_spec(self) -> dict[str, Any]:
        """What entry.js needs: this page's questions and every branching and calc AST."""
        return {
            "fields": [
                _client_field(f, self.texts, self.audience)
                for f in page_fields(self.dictionary, self.form_name, self.audience)
            ],
            "messages": entry_messages.client_messages(),
            "logic": [
                {
                    "name": f.name,
                    "keys": entry.storage_keys(f),
                    "checkbox": f.field_type == "checkbox",
                    "branching": f.branching_ast,
                    "calc": f.calc_ast,
                }
                for f in self.dictionary.fields
                if f.branching_ast is not None or f.calc_ast is not None
            ],
            "readOnly": self.read_only,
        }


def _client_field(f: Field, texts: Texts, audience: str) -> dict[str, Any]:
    validation = canonical_validation(f.validation)
    step = f.tag("@GDSI-STEP")
    unit = texts.unit(f)
    return {
        "name": f.name,
        "label": texts.label(f),
        "type": f.field_type,
        "entered": entry.is_entered(f, audience),
        "validation": validation,
        "kind": (
            "number"
            if validation in NUMERIC_TYPES
            else "datetime"
            if validation.startswith("datetime")
            else "date"
            if validation in DATE_TYPES
            else "text"
        ),
        "integer": validation == "integer",
        "comma": "comma" in validation,
        "decimals": _decimals(validation),
        "min": resolved_bound(f, f.min),
        "max": resolved_bound(f, f.max),
        "rawMin": f.min,
        "rawMax": f.max,
        "soft": entry.is_soft_range(f),
        "maxToday": "@GDSI-MAX-TODAY" in f.action_tags,
        "step": step if isinstance(step, str) and validation in NUMERIC_TYPES else "",
        "required": entry.is_required(f, audience),
        "keys": entry.storage_keys(f),
        "codes": f.choice_codes(),
        "branching": f.branching_ast,
        "calc": f.calc_ast,
        "unit": unit,
    }
