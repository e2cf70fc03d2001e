"""REDCap's text validation types: names, and checking/normalising one raw value.

`validate_value(field, raw)` returns `(normalised, error)`: dates in any of REDCap's orders
become ISO `YYYY-MM-DD`, comma decimals become `.`; `error` is a readable sentence or None.
"""

import re
from collections.abc import Callable
from datetime import date, datetime

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{7,20}$")
_INTEGER = re.compile(r"^[-+]?[0-9]+$")
_NUMBER = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_TIME_MM_SS = re.compile(r"^[0-5][0-9]:[0-5][0-9]$")
_ALPHA = re.compile(r"^[A-Za-z]+$")
_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")

LEGACY_NAMES = {"date": "date_ymd", "datetime": "datetime_ymd", "int": "integer", "float": "number"}

DATE_ORDERS = {
    "ymd": ("%Y-%m-%d",),
    "dmy": ("%d-%m-%Y", "%d/%m/%Y"),
    "mdy": ("%m-%d-%Y", "%m/%d/%Y"),
}


def _date(order: str) -> Callable[[str], tuple[str, str | None]]:
    def check(raw: str) -> tuple[str, str | None]:
        parsed = _parse_date(raw, order)
        if parsed is None:
            return raw, f"is not a date ({_date_hint(order)})"
        return parsed.isoformat(), None

    return check


def _parse_date(raw: str, order: str) -> date | None:
    for pattern in ("%Y-%m-%d", *DATE_ORDERS[order]):
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    return None


def _date_hint(order: str) -> str:
    return {"ymd": "YYYY-MM-DD", "dmy": "DD-MM-YYYY", "mdy": "MM-DD-YYYY"}[order]


def _datetime(order: str, seconds: bool) -> Callable[[str], tuple[str, str | None]]:
    time_pattern = "%H:%M:%S" if seconds else "%H:%M"

    def check(raw: str) -> tuple[str, str | None]:
        day, _, clock = raw.partition(" ")
        parsed = _parse_date(day, order)
        try:
            moment = datetime.strptime(clock, time_pattern).time()
        except ValueError:
            moment = None
        if parsed is None or moment is None:
            hint = _date_hint(order) + (" HH:MM:SS" if seconds else " HH:MM")
            return raw, f"is not a date and time ({hint})"
        return f"{parsed.isoformat()} {moment.strftime(time_pattern)}", None

    return check


def _pattern(regex: re.Pattern, what: str) -> Callable[[str], tuple[str, str | None]]:
    def check(raw: str) -> tuple[str, str | None]:
        return (raw, None) if regex.match(raw) else (raw, f"is not {what}")

    return check


def _number(decimals: int | None, comma: bool) -> Callable[[str], tuple[str, str | None]]:
    def check(raw: str) -> tuple[str, str | None]:
        value = raw.replace(",", ".") if comma else raw
        if not _NUMBER.match(value):
            return raw, "is not a number"
        if decimals is not None and len(value.partition(".")[2]) != decimals:
            return raw, f"must have exactly {decimals} decimal place(s)"
        return value, None

    return check


VALIDATORS: dict[str, Callable[[str], tuple[str, str | None]]] = {
    **{f"date_{order}": _date(order) for order in DATE_ORDERS},
    **{f"datetime_{order}": _datetime(order, False) for order in DATE_ORDERS},
    **{f"datetime_seconds_{order}": _datetime(order, True) for order in DATE_ORDERS},
    "time": _pattern(_TIME, "a time (HH:MM)"),
    "time_mm_ss": _pattern(_TIME_MM_SS, "a duration (MM:SS)"),
    "integer": _pattern(_INTEGER, "a whole number"),
    "number": _number(None, False),
    "number_comma_decimal": _number(None, True),
    **{f"number_{n}dp": _number(n, False) for n in range(1, 5)},
    **{f"number_{n}dp_comma_decimal": _number(n, True) for n in range(1, 5)},
    "email": _pattern(_EMAIL, "an e-mail address"),
    "phone": _pattern(_PHONE, "a telephone number"),
    "phone_australia": _pattern(
        re.compile(r"^\(?0[0-9]\)?[0-9 ]{8,9}$"), "an Australian phone number"
    ),
    "postalcode_australia": _pattern(re.compile(r"^[0-9]{4}$"), "an Australian postcode"),
    "postalcode_canada": _pattern(
        re.compile(r"^[A-Za-z][0-9][A-Za-z] ?[0-9][A-Za-z][0-9]$"), "a Canadian postal code"
    ),
    "postalcode_french": _pattern(re.compile(r"^[0-9]{5}$"), "a French postal code"),
    "postalcode_germany": _pattern(re.compile(r"^[0-9]{5}$"), "a German postal code"),
    "zipcode": _pattern(_ZIP, "a US ZIP code"),
    "ssn": _pattern(re.compile(r"^[0-9]{3}-[0-9]{2}-[0-9]{4}$"), "a social security number"),
    "vmrn": _pattern(re.compile(r"^[0-9]{1,10}$"), "a medical record number"),
    "mrn_10d": _pattern(re.compile(r"^[0-9]{10}$"), "a 10-digit medical record number"),
    "mrn_generic": _pattern(re.compile(r"^[A-Za-z0-9-]{1,30}$"), "a medical record number"),
    "alpha_only": _pattern(_ALPHA, "letters only"),
    "letters_only": _pattern(_ALPHA, "letters only"),
}

VALIDATION_TYPES = frozenset(VALIDATORS)
DATE_TYPES = frozenset(name for name in VALIDATORS if name.startswith("date"))
NUMERIC_TYPES = frozenset(
    name for name in VALIDATORS if name.startswith("number") or name == "integer"
)


def canonical_validation(name: str) -> str:
    return LEGACY_NAMES.get(name, name)


def validate_value(field, raw: str) -> tuple[str, str | None]:
    """Check one value of a field against its type, validation, choices and hard range."""
    value = raw.strip()
    if value == "":
        return "", None
    if field.choices and field.field_type in {"dropdown", "radio"}:
        return _choice(field, value)
    validation = canonical_validation(field.validation)
    if field.field_type != "text" or validation not in VALIDATORS:
        return value, None
    normalised, error = VALIDATORS[validation](value)
    if error is None:
        error = range_error(field, normalised)
    return normalised, error


def _choice(field, value: str) -> tuple[str, str | None]:
    by_lower = {code.lower(): code for code, _ in field.choices}
    by_label = {label.lower(): code for code, label in field.choices}
    code = by_lower.get(value.lower()) or by_label.get(value.lower())
    if code is None:
        return value, f"'{value}' is not one of the choices ({', '.join(field.choice_codes())})"
    return code, None


def range_error(field, value: str, *, today: date | None = None) -> str | None:
    """A sentence if `value` (already normalised) is outside the field's min/max."""
    low, high = (_bound(field, bound, today) for bound in (field.min, field.max))
    validation = canonical_validation(field.validation)
    if validation in NUMERIC_TYPES:
        number = float(value)
        if low is not None and _NUMBER.match(low) and number < float(low):
            return f"must be at least {low}"
        if high is not None and _NUMBER.match(high) and number > float(high):
            return f"must be at most {high}"
    elif validation in DATE_TYPES or validation.startswith("datetime"):
        if low is not None and value < low:
            return f"must be on or after {low}"
        if high is not None and value[:10] > high:
            return f"must be on or before {high}"
    return None


def _bound(field, bound: str, today: date | None) -> str | None:
    if not bound:
        return None
    if bound.lower() in {"today", "now"}:
        return (today or date.today()).isoformat()
    validation = canonical_validation(field.validation)
    if validation in DATE_TYPES:
        return _date(validation.rsplit("_", 1)[1])(bound)[0]
    return bound


def bound_error(validation: str, bound: str) -> str | None:
    """Why a min/max value does not suit the validation type, or None."""
    validation = canonical_validation(validation)
    if not bound or bound.lower() in {"today", "now"}:
        return None
    if validation in NUMERIC_TYPES:
        return None if _NUMBER.match(bound.replace(",", ".")) else "is not a number"
    if validation in DATE_TYPES or validation.startswith("datetime"):
        checker = VALIDATORS[validation]
        return None if checker(bound)[1] is None else "is not a valid date for this validation"
    return None
