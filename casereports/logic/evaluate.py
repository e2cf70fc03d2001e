"""The Python engine: walks the AST of docs/logic.md over one record of REDCap-style strings.

Evaluation never raises for data: blank, text or impossible dates give blank results (rule 2).
Only a malformed AST (not produced by `parse`) raises `LogicError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext
from typing import Any

from casereports.logic.parser import AST, DATEDIFF_UNITS, LogicError
from casereports.logic.values import (
    DATE_FORMATS,
    Value,
    ascii_lower,
    ascii_upper,
    finite_or_blank,
    is_blank,
    is_true,
    parse_date,
    to_decimal,
    to_number,
    to_text,
)

SECONDS_PER_UNIT = {
    "y": 86400 * 365.2425,
    "M": 86400 * 30.44,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
}
TRIMMED = " \t\r\n"


@dataclass(frozen=True)
class _Context:
    record: Mapping[str, Any]
    today: date
    now: datetime


def evaluate(
    ast: AST,
    record: Mapping[str, Any],
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> Value:
    """Evaluate a parsed expression on one record; blank is "".

    `today` and `now` (naive, UTC) default to the current UTC date and time; they give
    datediff's 'today' and 'now'.
    """
    current = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return _evaluate(ast, _Context(record, today or current.date(), current))


def evaluate_many(
    asts: Sequence[AST], records: Sequence[Mapping[str, Any]], **options: Any
) -> list[Value]:
    """Evaluate asts[i] on records[i] (the conformance runner's engine interface)."""
    if len(asts) != len(records):
        raise ValueError(f"{len(asts)} expressions but {len(records)} records")
    return [evaluate(ast, record, **options) for ast, record in zip(asts, records, strict=True)]


def _evaluate(node: AST, context: _Context) -> Value:
    kind = node.get("t")
    if kind in ("num", "str", "bool"):
        return node["v"]
    if kind == "field":
        return _field(node, context.record)
    if kind == "neg":
        operand = to_number(_evaluate(node["e"], context))
        return "" if operand is None else -operand
    if kind == "not":
        return not is_true(_evaluate(node["e"], context))
    if kind == "bin":
        return _binary(node, context)
    if kind == "call":
        return _call(node, context)
    raise LogicError(f"not a logic AST node: {node!r:.80}")


def _field(node: AST, record: Mapping[str, Any]) -> Value:
    code = node.get("code")
    if code is None:
        return _record_text(record.get(node["name"]))
    option = _record_text(record.get(f"{node['name']}___{code}"))
    return "0" if option == "" else option


def _record_text(value: object) -> str:
    return value if isinstance(value, str) else to_text(value)


# --- operators -----------------------------------------------------------------------------


def _binary(node: AST, context: _Context) -> Value:
    operator = node["op"]
    if operator == "and":
        return is_true(_evaluate(node["l"], context)) and is_true(_evaluate(node["r"], context))
    if operator == "or":
        return is_true(_evaluate(node["l"], context)) or is_true(_evaluate(node["r"], context))
    left, right = _evaluate(node["l"], context), _evaluate(node["r"], context)
    if operator in COMPARE:
        return COMPARE[operator](left, right)
    if operator in ARITHMETIC:
        return _arithmetic(ARITHMETIC[operator], left, right)
    raise LogicError(f"unknown operator {operator!r}")


def equals(left: Value, right: Value) -> bool:
    """Rule 3: blank equals blank only; numbers compare as numbers; else exact text."""
    if is_blank(left) or is_blank(right):
        return is_blank(left) and is_blank(right)
    left_number, right_number = to_number(left), to_number(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    return to_text(left) == to_text(right)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Value, Value], bool]:
    """Rule 4: false with a blank side; numeric order when both are numeric; else code points."""

    def compare(left: Value, right: Value) -> bool:
        if is_blank(left) or is_blank(right):
            return False
        left_number, right_number = to_number(left), to_number(right)
        if left_number is not None and right_number is not None:
            return test(left_number, right_number)
        return test(to_text(left), to_text(right))

    return compare


COMPARE: dict[str, Callable[[Value, Value], bool]] = {
    "=": equals,
    "<>": lambda left, right: not equals(left, right),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
}


def _divide(a: float, b: float) -> float | str:
    return "" if b == 0 else a / b


def _power(a: float, b: float) -> float | str:
    try:
        return math.pow(a, b)
    except (ValueError, OverflowError):  # 0^-1, (-8)^(1/3), overflow
        return ""


ARITHMETIC: dict[str, Callable[[float, float], float | str]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "^": _power,
}


def _arithmetic(
    operation: Callable[[float, float], float | str], left: Value, right: Value
) -> float | str:
    a, b = to_number(left), to_number(right)
    if a is None or b is None:
        return ""
    result = operation(a, b)
    return result if result == "" else finite_or_blank(float(result))


# --- functions -----------------------------------------------------------------------------


def _call(node: AST, context: _Context) -> Value:
    name = node["fn"]
    if name == "if":
        condition, then, otherwise = node["args"]
        return _evaluate(then if is_true(_evaluate(condition, context)) else otherwise, context)
    args = [_evaluate(arg, context) for arg in node["args"]]
    if name == "datediff":
        return _datediff(args, context)
    implementation = FUNCTION_IMPLEMENTATIONS.get(name)
    if implementation is None:
        raise LogicError(f"unknown function {name!r}")
    return implementation(*args)


def _numeric(function: Callable[..., float | str]) -> Callable[..., Value]:
    """Wrap a function of numbers: blank when any argument is blank or not numeric."""

    def wrapper(*args: Value) -> Value:
        numbers = [to_number(arg) for arg in args]
        if any(number is None or not math.isfinite(number) for number in numbers):
            return ""
        result = function(*numbers)
        return result if result == "" else finite_or_blank(float(result))

    return wrapper


def _numbers(args: Sequence[Value]) -> list[float]:
    """Aggregates keep only the numeric arguments."""
    return [number for number in map(to_number, args) if number is not None]


def _aggregate(function: Callable[[list[float]], float], minimum: int = 1) -> Callable[..., Value]:
    def wrapper(*args: Value) -> Value:
        numbers = _numbers(args)
        if len(numbers) < minimum:
            return ""
        return finite_or_blank(float(function(numbers)))

    return wrapper


def _sum(numbers: list[float]) -> float:
    total = 0.0
    for number in numbers:  # left to right, as the JavaScript and SQL engines add
        total += number
    return total


def _median(numbers: list[float]) -> float:
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _stdev(numbers: list[float]) -> float:
    mean = _sum(numbers) / len(numbers)
    squares = _sum([(number - mean) ** 2 for number in numbers])
    return math.sqrt(squares / (len(numbers) - 1))


def _rounding(mode: str) -> Callable[..., Value]:
    """round/roundup/rounddown on the 15-significant-digit decimal, so round(2.675, 2) = 2.68."""

    def rounded(number: float, digits: float = 0) -> float:
        places = max(min(int(digits), 400), -400)  # toward zero; beyond ±400 nothing changes
        with localcontext() as precise:
            precise.prec = 1000
            quantum = Decimal(1).scaleb(-places)
            return float(to_decimal(number).quantize(quantum, rounding=mode))

    return _numeric(rounded)


def _log(number: float, base: float | None = None) -> float | str:
    if number <= 0 or (base is not None and (base <= 0 or base == 1)):
        return ""
    if base is None:
        return math.log(number)
    return math.log(number) / math.log(base)


def _exponential(number: float) -> float | str:
    try:
        return math.exp(number)
    except OverflowError:
        return ""


def _text_test(test: Callable[[str, str], bool]) -> Callable[[Value, Value], bool]:
    """contains and friends: ASCII case-insensitive; numbers as rule 9 text."""
    return lambda haystack, needle: test(
        ascii_lower(to_text(haystack)), ascii_lower(to_text(needle))
    )


def _find(needle: Value, haystack: Value) -> float:
    return float(ascii_lower(to_text(haystack)).find(ascii_lower(to_text(needle))) + 1)


def _count(value: Value) -> int | None:
    number = to_number(value)
    return None if number is None or not math.isfinite(number) else int(number)


def _left(text: Value, count: Value) -> str:
    length = _count(count)
    return "" if length is None else to_text(text)[: max(length, 0)]


def _right(text: Value, count: Value) -> str:
    length = _count(count)
    if length is None or length <= 0:
        return ""
    return to_text(text)[-length:]


def _mid(text: Value, start: Value, count: Value) -> str:
    first, length = _count(start), _count(count)
    if first is None or length is None:
        return ""
    first = max(first, 1) - 1
    return to_text(text)[first : first + max(length, 0)]


def _replace_text(haystack: Value, search: Value, replacement: Value) -> str:
    text, pattern = to_text(haystack), to_text(search)
    return text if pattern == "" else text.replace(pattern, to_text(replacement))


def _concat_ws(separator: Value, *args: Value) -> str:
    return to_text(separator).join(to_text(arg) for arg in args if not is_blank(arg))


def _date_part(part: str) -> Callable[[Value], Value]:
    def extract(value: Value) -> Value:
        parsed = parse_date(to_text(value))
        return "" if parsed is None else float(getattr(parsed, part))

    return extract


def _datediff(args: list[Value], context: _Context) -> Value:
    units = to_text(args[2])
    date_format = to_text(args[3]) if len(args) > 3 else "ymd"
    signed = len(args) > 4 and is_true(args[4])
    if units not in DATEDIFF_UNITS or date_format not in DATE_FORMATS:
        return ""
    first = _datediff_moment(args[0], date_format, context)
    second = _datediff_moment(args[1], date_format, context)
    if first is None or second is None:
        return ""
    difference = (second - first).total_seconds() / SECONDS_PER_UNIT[units]
    return difference if signed else abs(difference)


def _datediff_moment(value: Value, date_format: str, context: _Context) -> datetime | None:
    text = to_text(value)
    keyword = ascii_lower(text)
    if keyword == "today":
        return datetime.combine(context.today, time())
    if keyword == "now":
        return context.now
    return parse_date(text, date_format)


FUNCTION_IMPLEMENTATIONS: dict[str, Callable[..., Value]] = {
    "round": _rounding(ROUND_HALF_UP),
    "roundup": _rounding(ROUND_UP),
    "rounddown": _rounding(ROUND_DOWN),
    "abs": _numeric(abs),
    "sqrt": _numeric(lambda x: "" if x < 0 else math.sqrt(x)),
    "exponential": _numeric(_exponential),
    "log": _numeric(_log),
    "mod": _numeric(lambda a, b: "" if b == 0 else math.fmod(a, b)),
    "sum": _aggregate(_sum),
    "min": _aggregate(min),
    "max": _aggregate(max),
    "mean": _aggregate(lambda numbers: _sum(numbers) / len(numbers)),
    "median": _aggregate(_median),
    "stdev": _aggregate(_stdev, minimum=2),
    "isnumber": lambda value: to_number(value) is not None,
    "isinteger": lambda value: (number := to_number(value)) is not None and number.is_integer(),
    "contains": _text_test(lambda haystack, needle: needle in haystack),
    "not_contain": _text_test(lambda haystack, needle: needle not in haystack),
    "starts_with": _text_test(str.startswith),
    "ends_with": _text_test(str.endswith),
    "find": _find,
    "left": _left,
    "right": _right,
    "mid": _mid,
    "length": lambda text: float(len(to_text(text))),
    "trim": lambda text: to_text(text).strip(TRIMMED),
    "upper": lambda text: ascii_upper(to_text(text)),
    "lower": lambda text: ascii_lower(to_text(text)),
    "replace_text": _replace_text,
    "concat": lambda *args: "".join(to_text(arg) for arg in args),
    "concat_ws": _concat_ws,
    "year": _date_part("year"),
    "month": _date_part("month"),
    "day": _date_part("day"),
}
