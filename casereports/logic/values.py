"""Value helpers shared by the Python engine and the runner (docs/logic.md, rules 1, 5, 6, 9, 10).

Every engine must agree with these definitions; the conformance file pins them down.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal

Value = bool | float | int | str

NUMERIC_TEXT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
SIGNIFICANT_DIGITS = 15
DATE_FORMATS = ("ymd", "mdy", "dmy")

_TIME = r"(?: ([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?"
_DATE_PATTERNS = {
    "ymd": re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})" + _TIME),
    "mdy": re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})" + _TIME),
    "dmy": re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})" + _TIME),
}
# Where year, month and day sit among a pattern's first three groups.
_DATE_ORDER = {"ymd": (0, 1, 2), "mdy": (2, 0, 1), "dmy": (2, 1, 0)}
_ASCII_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_TO_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_blank(value: object) -> bool:
    """Blank is the empty string (or a missing value); a space is text, not blank."""
    return value is None or value == ""


def is_numeric_text(text: str) -> bool:
    """Rule 1: optional sign, digits with an optional `.` part, no spaces, no exponent."""
    return NUMERIC_TEXT.fullmatch(text) is not None


def to_number(value: object) -> float | None:
    """The numeric value of a number, a boolean (rule 6) or a numeric string; else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and is_numeric_text(value):
        return float(value)
    return None


def is_true(value: object) -> bool:
    """Rule 5: true, a non-zero number or a non-zero numeric string."""
    number = to_number(value)
    return number is not None and number != 0


def finite_or_blank(number: float) -> float | str:
    """Overflow and other non-finite results are blank, as in every engine."""
    return number if math.isfinite(number) else ""


def to_decimal(number: float) -> Decimal:
    """The number as a person reads it: rounded to 15 significant digits (rules 9 and rounding)."""
    return Decimal(format(number, f".{SIGNIFICANT_DIGITS}g"))


def format_number(number: float) -> str:
    """Rule 9: 15 significant digits, plain notation, no trailing zeros, `-0` prints `0`."""
    if not math.isfinite(number):
        return ""
    decimal = to_decimal(number)
    if decimal == 0:
        return "0"
    text = format(decimal, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_text(value: object) -> str:
    """A value as text: booleans `1`/`0`, numbers per rule 9, blank `""`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return format_number(float(value))
    return str(value)


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, so Python, JavaScript and SQL (C collation) agree."""
    return text.translate(_ASCII_TO_LOWER)


def ascii_upper(text: str) -> str:
    return text.translate(_ASCII_TO_UPPER)


def parse_date(text: str, date_format: str = "ymd") -> datetime | None:
    """Rule 10: `YYYY-MM-DD` with optional ` HH:MM[:SS]`; `mdy`/`dmy` also accept their order.

    Returns None for anything else, including impossible dates such as 2021-02-30.
    """
    candidates = ["ymd"] if date_format == "ymd" else ["ymd", date_format]
    for name in candidates:
        match = _DATE_PATTERNS[name].fullmatch(text)
        if match is None:
            continue
        parts = match.groups()
        year, month, day = (int(parts[index]) for index in _DATE_ORDER[name])
        hour, minute, second = (int(part) if part else 0 for part in parts[3:])
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    return None
