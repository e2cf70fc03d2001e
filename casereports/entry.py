"""Data entry on one record, from the dictionary alone: the server side of the case forms.

`apply_entry` takes a record, the values a user submitted for one form (or for the whole record,
as the API does) and returns the new record with per-field errors, soft-range warnings, the
fields branching hid and cleared, and the calc fields recomputed. The browser runs the same
branching and calc ASTs through `logic.js`; this module decides what is stored.

Plain Python: no Django import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from casereports.dictionary import DataDictionary
from casereports.dictionary.model import Field
from casereports.dictionary.validation_types import NUMERIC_TYPES, range_error, validate_value
from casereports.logic import evaluate, to_text
from casereports.logic.values import is_true
from casereports.textlayers import Texts

CLINICIAN, PATIENT = "clinician", "patient"
# Fields nobody types: the system sets them, or they only display text.
NOT_ENTERED_TYPES = frozenset({"descriptive", "calc", "file"})
SYSTEM_TAGS = ("@HIDDEN", "@GDSI-SYSTEM", "@READONLY", "@CALCTEXT")
MAX_BRANCHING_PASSES = 20


@dataclass
class EntryResult:
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.warnings

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def is_entered(f: Field, audience: str = CLINICIAN) -> bool:
    """Whether a person types this field on the form for `audience`."""
    if f.field_type in NOT_ENTERED_TYPES or any(tag in f.action_tags for tag in SYSTEM_TAGS):
        return False
    return not (audience == PATIENT and "@GDSI-CLINICIAN-ONLY" in f.action_tags)


def entry_forms(dictionary: DataDictionary, audience: str = CLINICIAN) -> list[str]:
    """Forms with at least one field to enter, in dictionary order."""
    return [
        form
        for form in dictionary.forms
        if any(True for _ in form_fields(dictionary, form, audience))
    ]


def form_fields(
    dictionary: DataDictionary, form: str, audience: str = CLINICIAN
) -> Iterable[Field]:
    return (f for f in dictionary.fields if f.form == form and is_entered(f, audience))


def storage_keys(f: Field) -> list[str]:
    """The record keys of a field: `name`, or `name___code` per checkbox option."""
    if f.field_type == "checkbox":
        return [f"{f.name}___{code}" for code in f.choice_codes()]
    return [f.name]


def blank_record(dictionary: DataDictionary, *, today: date | None = None) -> dict[str, str]:
    """A new record: every key blank (checkbox options "0"), @TODAY dates set to today."""
    record: dict[str, str] = {}
    for f in dictionary.fields:
        for key in storage_keys(f):
            record[key] = "0" if f.field_type == "checkbox" else ""
        if "@TODAY" in f.action_tags:
            record[f.name] = (today or date.today()).isoformat()
    return record


def apply_entry(
    dictionary: DataDictionary,
    record: Mapping[str, str],
    submitted: Mapping[str, object],
    *,
    form: str | None = None,
    audience: str = CLINICIAN,
    confirmed: Iterable[str] = (),
    require: bool = False,
    today: date | None = None,
) -> EntryResult:
    """Validate `submitted` (raw values of `form`'s fields, or of every form when None) on top of
    `record`; clear hidden fields; recompute calcs; check required fields when `require`.

    A checkbox arrives as a list of checked codes (or as `name___code` keys). A soft-range value
    outside its range is a warning unless its field name is in `confirmed`.
    """
    result = EntryResult(values=dict(record))
    confirmed = set(confirmed)
    forms = [form] if form is not None else dictionary.forms
    for name in submitted:
        if not _accepts(dictionary, name, forms, audience):
            result.add_error(name, "is not a field you can enter on this form")
    for f in dictionary.fields:
        if f.form in forms and is_entered(f, audience):
            _take_value(f, submitted, result, confirmed, today)
    settle(dictionary, result, today=today)
    if require:
        for f in missing_required(dictionary, result.values, audience=audience, today=today):
            result.add_error(f.name, "is required")
    return result


def _accepts(dictionary: DataDictionary, key: str, forms: list[str], audience: str) -> bool:
    name = key.split("___", 1)[0]
    if name not in dictionary:
        return False
    f = dictionary.field(name)
    return f.form in forms and is_entered(f, audience)


def _take_value(
    f: Field,
    submitted: Mapping[str, object],
    result: EntryResult,
    confirmed: set[str],
    today: date | None,
) -> None:
    if f.field_type == "checkbox":
        checked = _checked_codes(f, submitted)
        if checked is None:
            return
        unknown = checked - set(f.choice_codes())
        if unknown:
            result.add_error(f.name, f"'{sorted(unknown)[0]}' is not one of the choices")
            return
        for code in f.choice_codes():
            result.values[f"{f.name}___{code}"] = "1" if code in checked else "0"
        return
    if f.name not in submitted:
        return
    raw = submitted[f.name]
    if not isinstance(raw, str):
        result.add_error(f.name, "must be text")
        return
    value, error = _validate(f, raw, today)
    if error:
        result.add_error(f.name, error)
        return
    stored = result.values.get(f.name, "")
    result.values[f.name] = value
    warning = soft_range_warning(f, value, today=today)
    # A stored value was confirmed when it was saved: only a new one asks again.
    if warning and f.name not in confirmed and value != stored:
        result.warnings[f.name] = warning


def _checked_codes(f: Field, submitted: Mapping[str, object]) -> set[str] | None:
    if f.name in submitted:
        raw = submitted[f.name]
        if isinstance(raw, str):
            raw = [raw] if raw else []
        if not isinstance(raw, list | tuple) or not all(isinstance(code, str) for code in raw):
            return {"(not a list of codes)"}
        return set(raw)
    option_keys = [key for key in storage_keys(f) if key in submitted]
    if not option_keys:
        return None
    return {key.split("___", 1)[1] for key in option_keys if str(submitted[key]) == "1"}


def _validate(f: Field, raw: str, today: date | None) -> tuple[str, str | None]:
    """Type, choices and (unless soft) range; then the step and the no-later-than-today rule."""
    hard = dataclasses.replace(f, min="", max="") if is_soft_range(f) else f
    value, error = validate_value(hard, raw)
    if error is None and not is_soft_range(f) and value and (f.min or f.max):
        error = range_error(f, value, today=today)  # resolves bounds such as `today`
    if error is None and value:
        error = _step_error(f, value) or _future_error(f, value, today)
    return value, error


def is_soft_range(f: Field) -> bool:
    return "@GDSI-SOFT-RANGE" in f.action_tags


def soft_range_warning(f: Field, value: str, *, today: date | None = None) -> str | None:
    if not value or not is_soft_range(f):
        return None
    problem = range_error(f, value, today=today)
    if problem is None:
        return None
    return f"{problem} (expected {f.min}–{f.max}); please check and confirm"


def _step_error(f: Field, value: str) -> str | None:
    step = f.tag("@GDSI-STEP")
    if not isinstance(step, str) or f.validation not in NUMERIC_TYPES:
        return None
    try:
        if Decimal(value) % Decimal(step) != 0:
            return f"must be a multiple of {step}"
    except InvalidOperation:
        return None
    return None


def _future_error(f: Field, value: str, today: date | None) -> str | None:
    if "@GDSI-MAX-TODAY" in f.action_tags and value[:10] > (today or date.today()).isoformat():
        return "cannot be later than today"
    return None


def is_shown(f: Field, values: Mapping[str, str], *, today: date | None = None) -> bool:
    return f.branching_ast is None or is_true(evaluate(f.branching_ast, values, today=today))


def settle(dictionary: DataDictionary, result: EntryResult, *, today: date | None = None) -> None:
    """Recompute calcs and clear what branching hides, until nothing changes (a cleared value
    can hide further fields)."""
    values = result.values
    for _ in range(MAX_BRANCHING_PASSES):
        changed = False
        for f in dictionary.fields:
            if f.calc_ast is not None:
                computed = to_text(evaluate(f.calc_ast, values, today=today))
                if values.get(f.name, "") != computed:
                    values[f.name] = computed
                    changed = True
            elif not is_shown(f, values, today=today):
                for key in storage_keys(f):
                    empty = "0" if f.field_type == "checkbox" else ""
                    if values.get(key, empty) not in ("", empty):
                        values[key] = empty
                        result.warnings.pop(f.name, None)
                        if f.name not in result.cleared:
                            result.cleared.append(f.name)
                        changed = True
        if not changed:
            return


def has_value(f: Field, values: Mapping[str, str]) -> bool:
    if f.field_type == "checkbox":
        return any(values.get(key) == "1" for key in storage_keys(f))
    return values.get(f.name, "") != ""


def is_required(f: Field, audience: str = CLINICIAN) -> bool:
    return f.required and not (audience == PATIENT and "@GDSI-PATIENT-OPTIONAL" in f.action_tags)


def missing_required(
    dictionary: DataDictionary,
    values: Mapping[str, str],
    *,
    form: str | None = None,
    audience: str = CLINICIAN,
    today: date | None = None,
) -> list[Field]:
    return [
        f
        for f in dictionary.fields
        if (form is None or f.form == form)
        and is_entered(f, audience)
        and is_required(f, audience)
        and is_shown(f, values, today=today)
        and not has_value(f, values)
    ]


NOT_STARTED, IN_PROGRESS, COMPLETE = "not started", "in progress", "complete"


@dataclass(frozen=True)
class _FormPlan:
    """What a form's status depends on, worked out once per dictionary and audience."""

    answered: tuple[Field, ...]  # entered fields (no @TODAY): any value starts the form
    required: tuple[Field, ...]  # entered, required fields: each shown one must have a value


_PLANS: dict[tuple[int, str], tuple[DataDictionary, dict[str, _FormPlan]]] = {}


def _form_plans(dictionary: DataDictionary, audience: str) -> dict[str, _FormPlan]:
    """Each entry form's plan, in dictionary order (kept with the dictionary it was made for,
    so an id the process reuses never finds another dictionary's plan)."""
    key = (id(dictionary), audience)
    cached = _PLANS.get(key)
    if cached is None or cached[0] is not dictionary:
        plans = {}
        for form in entry_forms(dictionary, audience):
            fields = list(form_fields(dictionary, form, audience))
            plans[form] = _FormPlan(
                answered=tuple(f for f in fields if "@TODAY" not in f.action_tags),
                required=tuple(f for f in fields if is_required(f, audience)),
            )
        cached = _PLANS[key] = (dictionary, plans)
    return cached[1]


def _status_of(plan: _FormPlan, values: Mapping[str, str], today: date | None) -> str:
    if not any(has_value(f, values) for f in plan.answered):
        return NOT_STARTED
    for f in plan.required:
        if not has_value(f, values) and is_shown(f, values, today=today):
            return IN_PROGRESS
    return COMPLETE


def form_status(
    dictionary: DataDictionary,
    values: Mapping[str, str],
    form: str,
    *,
    audience: str = CLINICIAN,
    today: date | None = None,
) -> str:
    """`complete` when every shown required field has a value; `not started` when no field has."""
    plan = _form_plans(dictionary, audience).get(form)
    if plan is None:  # a form with nothing to enter
        return NOT_STARTED
    return _status_of(plan, values, today)


def form_statuses(
    dictionary: DataDictionary, values: Mapping[str, str], *, audience: str = CLINICIAN
) -> dict[str, str]:
    return {
        form: _status_of(plan, values, None)
        for form, plan in _form_plans(dictionary, audience).items()
    }


def optional_forms(dictionary: DataDictionary, audience: str = CLINICIAN) -> set[str]:
    """Forms with no required field: left empty, they do not keep a case from being complete."""
    return {form for form, plan in _form_plans(dictionary, audience).items() if not plan.required}


def overall_status(statuses: Mapping[str, str], optional: Iterable[str] = ()) -> str:
    """`complete` when every form is (an optional form may be untouched), `not started` when no
    form is started."""
    if all(status == NOT_STARTED for status in statuses.values()):
        return NOT_STARTED
    optional = set(optional)
    counted = [s for form, s in statuses.items() if not (form in optional and s == NOT_STARTED)]
    return COMPLETE if all(status == COMPLETE for status in counted) else IN_PROGRESS


def changed_keys(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, old, new) for every key whose value differs, in `after`'s order."""
    keys = list(dict.fromkeys([*after, *before]))
    return [
        (key, before.get(key, ""), after.get(key, ""))
        for key in keys
        if before.get(key, "") != after.get(key, "")
    ]


def readable_value(f: Field, values: Mapping[str, str], texts: Texts | None = None) -> str:
    """A value as a person reads it: choice labels instead of codes, units after numbers, in
    the words of `texts` (the dictionary's own without)."""
    choices = texts.choices(f) if texts is not None else f.choices
    if f.field_type == "checkbox":
        labels = [label for code, label in choices if values.get(f"{f.name}___{code}") == "1"]
        return ", ".join(labels)
    value = values.get(f.name, "")
    if value and choices:
        return dict(choices).get(value, value)
    unit = texts.unit(f) if texts is not None else f.tag("@GDSI-UNIT")
    if value and isinstance(unit, str) and unit:
        return f"{value} {unit}"
    return value
