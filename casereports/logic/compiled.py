"""The compiled engine: logic ASTs turned into Python functions with the interpreter's results.

`compile_logic(ast)` generates Python source from a parsed AST, compiles it once and returns a
function of a record; `compile_pipeline(...)` generates ONE function for a whole record pipeline
(checks, repairs, calculated fields). The source is generated from the AST, never from the
user's text: field names and other user strings enter it only as `repr()` literals, and every
identifier in it is made here.

Semantics are those of `casereports.logic.evaluate` (docs/logic.md). The generated code is
specialised only where that is provably identical for the operand kinds it knows statically:
- a field always reads as a string, so `[x] = 'yes'` is `x == 'yes'`, `[x] = ''` is `x == ''`
  and `[x] < 18` is a numeric comparison with a text fallback, as rule 4 says;
- conditions (if, and, or, not, checks) use Python truth values equal to `is_true`;
- numbers travel as `float | None` between arithmetic nodes, so blank is `None` there;
- pure conversions of strings (to_number, year(), parse_date for datediff, to_text of a float
  ...) are memoised in bounded dictionaries filled by the interpreter's own helpers; those of a
  field are looked up once into local variables when the function starts, and again after a
  pipeline step writes the field (a blanked field's are constants);
- an arithmetic sub-expression of fields that occurs more than once (bmi, year(x) - [age]) is
  computed once the same way;
- sub-expressions without fields or datediff are evaluated once, by the interpreter, at compile
  time.
Code that could skip evaluating an operand is not used around stdev (the one function that can
raise on data), so an exception surfaces exactly where the interpreter raises it.
Anything else calls the interpreter's helpers (`equals`, `FUNCTION_IMPLEMENTATIONS`, ...). An
expression too deep for Python's compiler falls back to the interpreter itself.

Two deliberate, documented differences: a malformed AST (not produced by `parse`) is refused
with `LogicError` when compiled, not when an unlucky branch is evaluated; and the wall clock
for datediff's 'today'/'now' is read when needed rather than once per expression (they differ
only if a second or midnight passes in between). Non-string record values are read as text
once, when the function starts, instead of at each reference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from operator import itemgetter
from time import time as wall_clock
from typing import Any

from casereports.logic.evaluate import (
    ARITHMETIC,
    COMPARE,
    FUNCTION_IMPLEMENTATIONS,
    SECONDS_PER_UNIT,
    _arithmetic,
    _Context,
    _datediff,
    _power,
    _record_text,
    equals,
    evaluate,
)
from casereports.logic.parser import AST, DATEDIFF_UNITS, LogicError
from casereports.logic.values import (
    DATE_FORMATS,
    Value,
    ascii_lower,
    is_blank,
    is_true,
    parse_date,
    to_number,
    to_text,
)

CACHE_LIMIT = 50_000  # entries per memo; a full memo is emptied and refills
COMPILED_LIMIT = 2_000  # compiled expressions kept by `evaluate`

BOOL, STR, FLOAT, NUMBLANK, ANY = "bool", "str", "float", "float or blank", "any"
# The Python type of each function's result, read from evaluate.py (a test pins them).
RESULT_KINDS = {
    **dict.fromkeys(
        ["round", "roundup", "rounddown", "abs", "sqrt", "exponential", "log", "mod"], NUMBLANK
    ),
    **dict.fromkeys(["sum", "min", "max", "mean", "median", "stdev"], NUMBLANK),
    **dict.fromkeys(["year", "month", "day", "datediff"], NUMBLANK),
    **dict.fromkeys(["isnumber", "isinteger", "contains", "not_contain"], BOOL),
    **dict.fromkeys(["starts_with", "ends_with"], BOOL),
    **dict.fromkeys(["find", "length"], FLOAT),
    **dict.fromkeys(["left", "right", "mid", "trim", "upper", "lower", "replace_text"], STR),
    **dict.fromkeys(["concat", "concat_ws"], STR),
}
NUMERIC_KINDS = (FLOAT, NUMBLANK)
# Functions that can raise on data (stdev squares its deviations with `**`): code that might
# skip evaluating an operand is not used around them, so errors surface exactly as interpreted.
RAISING_FUNCTIONS = frozenset({"stdev"})
PYTHON_ORDER = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
COMPARE_NAMES = {"=": "eq", "<>": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
ARITHMETIC_OPERATORS = ("+", "-", "*", "/", "^")
_NOT_CONSTANT = object()
_UNSET = object()  # no value known at compile time
_TEMPORARY_NAME = "t"


def _memo(compute: Callable[[Any], Any]) -> tuple[dict[Any, Any], Callable[[Any], Any]]:
    """A bounded memo of a pure function of one hashable argument: (table, fill).

    Generated code reads the plain dict (Python's fastest lookup) and calls fill on a miss.
    """
    table: dict[Any, Any] = {}

    def fill(key: Any) -> Any:
        if len(table) >= CACHE_LIMIT:
            table.clear()
        result = table[key] = compute(key)
        return result

    return table, fill


def _utc_now() -> datetime:
    """The interpreter's default `now`: naive UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class _UtcMidnight:
    """Midnight of the current UTC date, reading the date only near a change of day.

    Between one second after a UTC midnight and one second before the next, the date that
    `_utc_now()` would give cannot change, so `time.time()` (the same clock) is enough.
    """

    def __init__(self) -> None:
        self.since = self.until = 0.0
        self.midnight = datetime.min

    def __call__(self) -> datetime:
        seconds = wall_clock()
        if not self.since <= seconds < self.until:
            midnight = datetime.combine(_utc_now().date(), time())
            start = midnight.replace(tzinfo=UTC).timestamp()
            self.since, self.until, self.midnight = start + 1, start + 86400 - 1, midnight
            if not self.since <= wall_clock() < self.until:  # too near a change of day
                self.since = self.until = 0.0
        return self.midnight


_utc_midnight = _UtcMidnight()
_MIDNIGHTS, _midnight_of = _memo(lambda day: datetime.combine(day, time()))


def _midnight(today: date | None, now: datetime | None) -> datetime:
    """datediff's 'today' moment, defaulted as `evaluate` defaults it."""
    if today is not None:
        return _MIDNIGHTS.get(today) or _midnight_of(today)
    if now is not None:
        return _midnight_of(now.date())
    return _utc_midnight()


def _moment_memo_entry(date_format: str) -> Callable[[str], datetime | str | None]:
    """A string's datediff moment, with the keywords left for the caller to resolve."""

    def moment(text: str) -> datetime | str | None:
        keyword = ascii_lower(text)
        if keyword in ("today", "now"):
            return keyword
        return parse_date(text, date_format)

    return moment


def _resolve_keyword(keyword: str, today: date | None, now: datetime | None) -> datetime:
    if keyword == "today":
        return _midnight(today, now)
    return now or _utc_now()


def _datediff_generic(args: list[Value], today: date | None, now: datetime | None) -> Value:
    current = now or _utc_now()
    return _datediff(args, _Context({}, today or current.date(), current))


def _power_number(base: float, exponent: float) -> float | None:
    result = _power(base, exponent)
    return None if result == "" or not math.isfinite(result) else result


def _number_of_result(function: Callable[[Any], Value]) -> Callable[[Any], float | None]:
    return lambda argument: to_number(function(argument))


def _memo_functions() -> dict[str, Callable[[Any], Any]]:
    """The memoised functions, by the name of their table in generated code."""
    functions: dict[str, Callable[[Any], Any]] = {"_N": to_number, "_T": to_text}
    for function, implementation in FUNCTION_IMPLEMENTATIONS.items():
        functions[f"_memo_{function}"] = implementation
        functions[f"_memo_number_{function}"] = _number_of_result(implementation)
    for date_format in DATE_FORMATS:
        functions[f"_moment_{date_format}"] = _moment_memo_entry(date_format)
    return functions


MEMO_FUNCTIONS = _memo_functions()


def _runtime() -> dict[str, Any]:
    """The names generated code may use; user text never becomes one of them."""
    names: dict[str, Any] = {
        "_to_number": to_number,
        "_to_text": to_text,
        "_is_true": is_true,
        "_equals": equals,
        "_record_text": _record_text,
        "_join": "".join,
        "_datetime": datetime,
        "_midnight": _midnight,
        "_resolve": _resolve_keyword,
        "_datediff_generic": _datediff_generic,
        "_power_number": _power_number,
        "_evaluate": evaluate,
    }
    for operator, name in COMPARE_NAMES.items():
        names[f"_compare_{name}"] = COMPARE[operator]
    for function, implementation in FUNCTION_IMPLEMENTATIONS.items():
        names[f"_fn_{function}"] = implementation
    for name, function in MEMO_FUNCTIONS.items():
        names[name], names[f"{name}_fill"] = _memo(function)
    return names


_RUNTIME = _runtime()  # memos are shared: their functions are pure


@dataclass(frozen=True)
class _Derived:
    local: str
    code: str
    variables: frozenset[str]  # the field variables it is computed from
    blank_value: Any  # a memo's value once its field is blanked; _UNSET if not a memo
    on_miss: str = ""  # a memo's code when its table lacks the key
    memo: str = ""
    argument: str = ""


@dataclass(frozen=True)
class _Expr:
    code: str
    kind: str


class _Generator:
    """Python expressions for AST nodes; fields become local variables named f0, f1, ..."""

    def __init__(self, namespace: dict[str, Any], *, today_name: str, now_name: str) -> None:
        self.namespace = namespace
        self.fields: dict[str, str] = {}
        self.temporaries = 0
        self.needs_today_moment = False
        self.today_name = today_name
        self.now_name = now_name
        self._constants: dict[int, Any] = {}
        self.derived: dict[Any, _Derived] = {}  # memoised values kept in locals d0, d1, ...
        self.repeated: dict[str, int] = {}  # how often each arithmetic sub-expression occurs

    # --- names -------------------------------------------------------------------------------

    def field_variable(self, key: str) -> str:
        if key not in self.fields:
            self.fields[key] = f"f{len(self.fields)}"
        return self.fields[key]

    def temporary(self) -> str:
        self.temporaries += 1
        return f"{_TEMPORARY_NAME}{self.temporaries}"

    def bind(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def literal(self, value: Any) -> str:
        if value is None or isinstance(value, bool | str):
            return repr(value)
        if isinstance(value, int | float) and math.isfinite(value):
            return f"({value!r})"
        return self.bind(value)

    def memo(self, memo: str, argument: str) -> str:
        """memo(argument); of a field, a local variable computed when the field changes."""
        variable = _field_of_read(argument)
        if variable is None:
            first, later = self.once(argument)
            return f"({memo}[{later}] if {first} in {memo} else {memo}_fill({later}))"
        key = (memo, argument)
        if key not in self.derived:
            blank = "0" if _is_field_read(argument) else ""  # what a blanked field reads as
            self.derived[key] = _Derived(
                f"d{len(self.derived)}",
                f"{memo}[{argument}]",
                frozenset({variable}),
                MEMO_FUNCTIONS[memo](blank),
                f"{memo}_fill({argument})",
                memo,
                argument,
            )
        return self.derived[key].local

    def shared(self, node: AST, build: Callable[[], str]) -> str:
        """A repeated arithmetic sub-expression of fields, computed when one of them changes."""
        key = json.dumps(node, sort_keys=True)
        if self.repeated.get(key, 0) < 2 or not _is_safe(node):
            return build()
        if ("shared", key) not in self.derived:
            code = build()
            variables = frozenset(self.fields[k] for k in _field_keys(node))
            local = f"d{len(self.derived)}"
            self.derived[("shared", key)] = _Derived(local, code, variables, _UNSET)
        return self.derived[("shared", key)].local

    def once(self, code: str) -> tuple[str, str]:
        """(first use, later uses) of an expression evaluated once."""
        if code.isidentifier() or _is_field_read(code) or _is_number_literal(code):
            return code, code
        temporary = self.temporary()
        return f"({temporary} := {code})", temporary

    # --- analysis -----------------------------------------------------------------------------

    def constant(self, node: AST) -> Any:
        """The value of a sub-expression without fields or datediff, else _NOT_CONSTANT."""
        key = id(node)
        if key not in self._constants:
            value = _NOT_CONSTANT
            if _is_constant_expression(node):
                try:
                    value = evaluate(node, {})
                except Exception:  # evaluated at run time instead, where it raises the same
                    value = _NOT_CONSTANT
            self._constants[key] = value
        return self._constants[key]

    def kind(self, node: AST) -> str:
        value = self.constant(node)
        if value is not _NOT_CONSTANT:
            return _constant_kind(value)
        t = node.get("t")
        if t == "field":
            return STR
        if t == "neg":
            return NUMBLANK
        if t == "not":
            return BOOL
        if t == "bin":
            operator = node.get("op")
            return NUMBLANK if operator in ARITHMETIC_OPERATORS else BOOL
        if t == "call":
            if node.get("fn") == "if" and len(node.get("args", ())) == 3:
                then, otherwise = self.kind(node["args"][1]), self.kind(node["args"][2])
                return then if then == otherwise else ANY
            return RESULT_KINDS.get(node.get("fn"), ANY)
        return ANY

    # --- the four views of a node ------------------------------------------------------------

    def value(self, node: AST) -> _Expr:
        """Code for the node's value, exactly as `evaluate` returns it."""
        constant = self.constant(node)
        if constant is not _NOT_CONSTANT:
            return _Expr(self.literal(constant), _constant_kind(constant))
        t = node.get("t")
        if t == "field":
            return _Expr(self._read_field(node), STR)
        if t == "neg" or (t == "bin" and node.get("op") in ARITHMETIC_OPERATORS):
            return _Expr(self._blank_for_none(self.number(node)), NUMBLANK)
        if t == "not":
            return _Expr(f"(not {self.condition(node['e'])[0]})", BOOL)
        if t == "bin":
            return _Expr(self._binary_boolean(node), BOOL)
        if t == "call":
            return self._call_value(node)
        raise LogicError(f"not a logic AST node: {node!r:.80}")

    def number(self, node: AST) -> str:
        """Code for to_number(value): a float, or None for blank and text."""
        constant = self.constant(node)
        if constant is not _NOT_CONSTANT:
            return self.literal(to_number(constant))
        t = node.get("t")
        if t == "field":
            return self.memo("_N", self._read_field(node))
        if t == "neg":
            return self.shared(node, lambda: self._negation(node))
        if t == "bin" and node.get("op") in ARITHMETIC_OPERATORS:
            return self.shared(node, lambda: self._arithmetic(node))
        if t == "call":
            special = self._call_number(node)
            if special is not None:
                return special
        return self._number_of_value(self.value(node))

    def condition(self, node: AST) -> tuple[str, bool]:
        """Code whose Python truth is is_true(value), and whether it is always a bool."""
        constant = self.constant(node)
        if constant is not _NOT_CONSTANT:
            return repr(is_true(constant)), True
        t = node.get("t")
        if t == "not":
            return f"(not {self.condition(node['e'])[0]})", True
        if t == "bin" and node.get("op") == "or":
            return self._disjunction(node)
        if t == "bin" and node.get("op") == "and":
            left, left_bool = self.condition(node["l"])
            right, right_bool = self.condition(node["r"])
            return f"({left} {node['op']} {right})", left_bool and right_bool
        if t == "call" and node.get("fn") == "if" and len(node.get("args", ())) == 3:
            test = self.condition(node["args"][0])[0]
            then, then_bool = self.condition(node["args"][1])
            otherwise, otherwise_bool = self.condition(node["args"][2])
            return f"({then} if {test} else {otherwise})", then_bool and otherwise_bool
        if t == "neg" or (t == "bin" and node.get("op") in ARITHMETIC_OPERATORS):
            return self.number(node), False  # None and 0.0 are false, like blank and 0
        value = self.value(node)
        if value.kind == BOOL:
            return value.code, True
        if value.kind == STR:
            return self.memo("_N", value.code), False
        if value.kind in NUMERIC_KINDS:
            return value.code, False  # "" and 0.0 are false; any other float is true
        return f"_is_true({value.code})", True

    def text(self, node: AST) -> str:
        """Code for to_text(value)."""
        constant = self.constant(node)
        if constant is not _NOT_CONSTANT:
            return repr(to_text(constant))
        if node.get("t") == "call" and node.get("fn") == "if" and len(node.get("args", ())) == 3:
            test = self.condition(node["args"][0])[0]
            then, otherwise = self.text(node["args"][1]), self.text(node["args"][2])
            return f"({then} if {test} else {otherwise})"
        value = self.value(node)
        if value.kind == STR:
            return value.code
        if value.kind == BOOL:
            return f"('1' if {value.code} else '0')"
        if value.kind in NUMERIC_KINDS:
            return self.memo("_T", value.code)
        return f"_to_text({value.code})"

    # --- pieces -------------------------------------------------------------------------------

    def _read_field(self, node: AST) -> str:
        code = node.get("code")
        if code is None:
            return self.field_variable(node["name"])
        key = f"{node['name']}___{code}"
        return f"({self.field_variable(key)} or '0')"

    def _blank_for_none(self, number: str) -> str:
        first, later = self.once(number)
        return f"('' if {first} is None else {later})"

    def _negation(self, node: AST) -> str:
        first, later = self.once(self.number(node["e"]))
        return f"(None if {first} is None else -{later})"

    def _number_of_value(self, value: _Expr) -> str:
        if value.kind == BOOL:
            return f"(1.0 if {value.code} else 0.0)"
        if value.kind == STR:
            return self.memo("_N", value.code)
        if value.kind == FLOAT:
            return value.code
        if value.kind == NUMBLANK:
            first, later = self.once(value.code)
            return f"(None if {first} == '' else {later})"
        return f"_to_number({value.code})"

    def _arithmetic(self, node: AST) -> str:
        operator = node["op"]
        if _may_raise(node["r"]):  # the interpreter evaluates both sides before either test
            left, right = self.value(node["l"]).code, self.value(node["r"]).code
            operation = self.bind(_arithmetic_number(operator))
            return f"{operation}({left}, {right})"
        left_first, left = self.once(self.number(node["l"]))
        right_first, right = self.once(self.number(node["r"]))
        if "None" in (left, right) and not _may_raise(node):
            return "None"  # a blank or text literal: blank whatever the other side
        result = self.temporary()
        tests = [f"{code} is None" for code in (left_first, right_first)]
        tests = [test for test in tests if not _is_number_literal(test[: -len(" is None")])]
        if operator == "/" and not (_is_number_literal(right) and float(right[1:-1]) != 0):
            tests.append(f"{right} == 0")
        if operator == "^":
            operation = f"_power_number({left}, {right})"
        else:
            operation = (
                f"({result} if ({result} := {left} {operator} {right}) - {result} == 0 else None)"
            )
        return f"(None if {' or '.join(tests)} else {operation})" if tests else operation

    def _disjunction(self, node: AST) -> tuple[str, bool]:
        """a or b or ...; runs of `[x] = 'text'` on one field become one `x in {...}` test."""
        operands, pending = [], [node]
        while pending:  # left to right, as `or` evaluates
            current = pending.pop()
            if current.get("t") == "bin" and current.get("op") == "or":
                pending += [current["r"], current["l"]]
            else:
                operands.append(current)
        codes: list[tuple[str, bool]] = []
        run_field, run_texts = None, []

        def close_run() -> None:
            if len(run_texts) == 1:
                codes.append((f"({run_field} == {run_texts[0]!r})", True))
            elif run_texts:
                codes.append((f"({run_field} in {{{', '.join(map(repr, run_texts))}}})", True))
            run_texts.clear()

        for operand in operands:
            test = self._text_equality_test(operand)
            if test is None or test[0] != run_field:
                close_run()
            if test is None:
                codes.append(self.condition(operand))
                run_field = None
            else:
                run_field = test[0]
                run_texts.append(test[1])
        close_run()
        return f"({' or '.join(code for code, _ in codes)})", all(exact for _, exact in codes)

    def _text_equality_test(self, node: AST) -> tuple[str, str] | None:
        """(field code, text) when node is `[x] = 'text'` and that is plain string equality."""
        if node.get("t") != "bin" or node.get("op") != "=":
            return None
        left, right = node["l"], node["r"]
        if self.constant(left) is not _NOT_CONSTANT:
            left, right = right, left
        constant = self.constant(right)
        if left.get("t") != "field" or not isinstance(constant, str):
            return None
        if constant != "" and to_number(constant) is not None:
            return None
        return self._read_field(left), constant

    def _binary_boolean(self, node: AST) -> str:
        operator = node["op"]
        if operator in ("and", "or"):
            code, is_bool = self.condition(node)
            return code if is_bool else f"bool({code})"
        if operator in ("=", "<>"):
            simple = self._simple_equality(node["l"], node["r"], operator == "<>")
            if simple is not None:
                return simple
            equal = self._equality(node["l"], node["r"])
            return equal if operator == "=" else f"(not {equal})"
        if operator in PYTHON_ORDER:
            return self._ordering(operator, node["l"], node["r"])
        raise LogicError(f"unknown operator {operator!r}")

    def _simple_equality(self, left: AST, right: AST, negated: bool) -> str | None:
        """A field against a constant: one Python comparison, `!=` for `<>`."""
        if self.constant(left) is not _NOT_CONSTANT:
            left, right = right, left
        constant = self.constant(right)
        if constant is _NOT_CONSTANT or self.constant(left) is not _NOT_CONSTANT:
            return None
        if self.kind(left) != STR:
            return None
        equal = "!=" if negated else "=="
        number = to_number(constant)
        text = self.value(left).code
        if is_blank(constant):
            return f"({text} {equal} '')"
        if number is None:  # non-blank text that is not a number: plain string equality
            return f"({text} {equal} {self.literal(constant)})"
        # text that is not a number never equals one
        return f"({self.memo('_N', text)} {equal} {self.literal(number)})"

    def _equality(self, left: AST, right: AST) -> str:
        special = self._special_equality(left, right)
        if special is not None:
            return special
        return f"_equals({self.value(left).code}, {self.value(right).code})"

    def _special_equality(self, left: AST, right: AST) -> str | None:
        if self.constant(left) is not _NOT_CONSTANT:
            left, right = right, left  # equals is symmetric
        constant = self.constant(right)
        kind = self.kind(left)
        if constant is _NOT_CONSTANT:
            right_kind = self.kind(right)
            if kind == STR and right_kind == STR:
                return self._string_equality(self.value(left).code, self.value(right).code)
            if kind in NUMERIC_KINDS and right_kind in NUMERIC_KINDS:
                # float or None on both sides (None = blank): == is rule 3; both are evaluated
                return f"({self.number(left)} == {self.number(right)})"
            return None
        if self.constant(left) is not _NOT_CONSTANT:
            return None
        number = to_number(constant)
        if kind == STR:
            text = self.value(left).code
            if is_blank(constant):
                return f"({text} == '')"
            if number is None:  # non-blank text that is not a number: plain string equality
                return f"({text} == {self.literal(constant)})"
            # text that is not a number never equals one
            return f"({self.memo('_N', text)} == {self.literal(number)})"
        if kind in NUMERIC_KINDS:
            if is_blank(constant):  # blank equals blank only
                return f"({self.number(left)} is None)"
            if number is not None:
                return f"({self.number(left)} == {self.literal(number)})"
        return None

    def _string_equality(self, left: str, right: str) -> str | None:
        if not (_is_simple(left) and _is_simple(right)):
            return None
        a_first, a = self.once(self.memo("_N", left))
        b_first, b = self.once(self.memo("_N", right))
        both_numbers = f"{a_first} is not None and {b_first} is not None"
        return f"({a} == {b} if {both_numbers} else {left} == {right})"

    def _ordering(self, operator: str, left: AST, right: AST) -> str:
        special = self._special_ordering(operator, left, right)
        if special is not None:
            return special
        name = COMPARE_NAMES[operator]
        return f"_compare_{name}({self.value(left).code}, {self.value(right).code})"

    def _special_ordering(self, operator: str, left: AST, right: AST) -> str | None:
        if self.constant(left) is not _NOT_CONSTANT:
            left, right, operator = right, left, MIRRORED[operator]
        python = PYTHON_ORDER[operator]
        constant = self.constant(right)
        kind = self.kind(left)
        if constant is _NOT_CONSTANT:
            return self._ordering_of_variables(python, left, right)
        if self.constant(left) is not _NOT_CONSTANT or is_blank(constant):
            return None
        number, text = to_number(constant), to_text(constant)
        if kind == STR:
            first, later = self.once(self.value(left).code)
            # a blank side is false; "" > text and "" >= text are false anyway
            needs_guard = python in ("<", "<=") or not text

            def text_order(x: str, y: str) -> str:
                guard = f"{x} != '' and " if needs_guard else ""
                return f"({guard}{y} {python} {self.literal(text)})"

            if number is None:
                return text_order(first, later) if needs_guard else text_order("", first)
            number_first, number_later = self.once(self.memo("_N", first))
            numeric = f"{number_first} is not None"
            otherwise = text_order(later, later)
            order = f"{number_later} {python} {self.literal(number)}"
            return f"({order} if {numeric} else {otherwise})"
        if kind in NUMERIC_KINDS and number is not None:
            value_first, value = self.once(self.number(left))
            return f"({value_first} is not None and {value} {python} {self.literal(number)})"
        return None

    def _ordering_of_variables(self, python: str, left: AST, right: AST) -> str | None:
        left_kind, right_kind = self.kind(left), self.kind(right)
        if left_kind == STR and right_kind == STR:
            x, y = self.value(left).code, self.value(right).code
            if not (_is_simple(x) and _is_simple(y)):
                return None
            a_first, a = self.once(self.memo("_N", x))
            b_first, b = self.once(self.memo("_N", y))
            both_numbers = f"{a_first} is not None and {b_first} is not None"
            order = f"({a} {python} {b} if {both_numbers} else {x} {python} {y})"
            return f"({x} != '' and {y} != '' and {order})"
        if left_kind in NUMERIC_KINDS and right_kind in NUMERIC_KINDS and not _may_raise(right):
            a_first, a = self.once(self.number(left))
            b_first, b = self.once(self.number(right))
            return f"({a_first} is not None and {b_first} is not None and {a} {python} {b})"
        return None

    # --- calls --------------------------------------------------------------------------------

    def _call_value(self, node: AST) -> _Expr:
        function, args = node.get("fn"), node.get("args")
        if not isinstance(args, list):
            raise LogicError(f"not a logic AST node: {node!r:.80}")
        if function == "if":
            if len(args) != 3:
                raise LogicError("if() takes exactly 3 arguments")
            test = self.condition(args[0])[0]
            then, otherwise = self.value(args[1]), self.value(args[2])
            return _Expr(f"({then.code} if {test} else {otherwise.code})", self.kind(node))
        if function == "datediff":
            number = self._datediff_number(args)
            if number is not None:
                return _Expr(self._blank_for_none(number), NUMBLANK)
            values = ", ".join(self.value(arg).code for arg in args)
            return _Expr(
                f"_datediff_generic([{values}], {self.today_name}, {self.now_name})", NUMBLANK
            )
        if function not in FUNCTION_IMPLEMENTATIONS:
            raise LogicError(f"unknown function {function!r}")
        kind = RESULT_KINDS.get(function, ANY)
        if len(args) == 1 and self.kind(args[0]) == STR:
            return _Expr(self.memo(f"_memo_{function}", self.value(args[0]).code), kind)
        values = ", ".join(self.value(arg).code for arg in args)
        return _Expr(f"_fn_{function}({values})", kind)

    def _call_number(self, node: AST) -> str | None:
        function, args = node.get("fn"), node.get("args")
        if not isinstance(args, list):
            return None
        if function == "if" and len(args) == 3:
            test = self.condition(args[0])[0]
            return f"({self.number(args[1])} if {test} else {self.number(args[2])})"
        if function == "datediff":
            return self._datediff_number(args)
        if function in FUNCTION_IMPLEMENTATIONS and len(args) == 1 and self.kind(args[0]) == STR:
            return self.memo(f"_memo_number_{function}", self.value(args[0]).code)
        return None

    def _datediff_number(self, args: list[AST]) -> str | None:
        """datediff with literal units and format on strings; None when not this case."""
        if len(args) < 3 or any(_may_raise(arg) for arg in args):
            return None
        constants = [self.constant(arg) for arg in args]
        units = constants[2]
        date_format = constants[3] if len(args) > 3 else "ymd"
        if units is _NOT_CONSTANT or date_format is _NOT_CONSTANT:
            return None
        units, date_format = to_text(units), to_text(date_format)
        if units not in DATEDIFF_UNITS or date_format not in DATE_FORMATS:
            return None
        moments = [self._moment(arg, date_format) for arg in args[:2]]
        if any(moment is None for moment in moments):
            return None
        if any(moment == "None" for moment in moments):
            return "None"  # a literal that is not a date: blank, as interpreted
        (first_code, first), (second_code, second) = map(self.once, moments)
        seconds = self.literal(SECONDS_PER_UNIT[units])
        difference = f"({second} - {first}).total_seconds() / {seconds}"
        signed = "False" if len(args) <= 4 else self.condition(args[4])[0]
        if signed == "True":
            result = f"({difference})"
        elif signed == "False":
            result = f"abs({difference})"
        else:
            result = f"(({difference}) if {signed} else abs({difference}))"
        blank = [
            f"{code} is None"
            for code in (first_code, second_code)
            if not (code == "today_moment" or code.startswith("_k"))  # a datetime, not None
        ]
        return f"(None if {' or '.join(blank)} else {result})" if blank else result

    def _moment(self, node: AST, date_format: str) -> str | None:
        """Code for a datediff moment (datetime or None); None when not specialised."""
        constant = self.constant(node)
        today, now = self.today_name, self.now_name
        if constant is not _NOT_CONSTANT:
            text = to_text(constant)
            keyword = ascii_lower(text)
            if keyword == "today":
                self.needs_today_moment = True
                return "today_moment"
            if keyword == "now":
                return f"_resolve('now', {today}, {now})"
            parsed = parse_date(text, date_format)
            return "None" if parsed is None else self.bind(parsed)
        if self.kind(node) != STR:
            return None
        first, moment = self.once(self.memo(f"_moment_{date_format}", self.value(node).code))
        return f"(_resolve({moment}, {today}, {now}) if {first}.__class__ is str else {moment})"


def _arithmetic_number(operator: str) -> Callable[[Value, Value], float | None]:
    """The interpreter's arithmetic on evaluated operands, as float or None."""
    operation = ARITHMETIC[operator]
    return lambda left, right: to_number(_arithmetic(operation, left, right))


def _constant_kind(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, str):
        return STR
    if isinstance(value, float):
        return FLOAT
    return ANY


def _is_field_read(code: str) -> bool:
    """f3 or (f3 or '0'): the code a field reference becomes."""
    return code.startswith("(f") and code.endswith(" or '0')") and code[1:-8].isidentifier()


def _field_of_read(code: str) -> str | None:
    """The field variable a field read's code reads, or None for other code."""
    if code.isidentifier() and code.startswith("f"):
        return code
    if _is_field_read(code):
        return code[1:-8]
    return None


def _is_number_literal(code: str) -> bool:
    """(12.5), the code `literal` makes for a finite number."""
    if not (code.startswith("(") and code.endswith(")")):
        return False
    try:
        return math.isfinite(float(code[1:-1]))
    except ValueError:
        return False


def _is_simple(code: str) -> bool:
    return code.isidentifier() or _is_field_read(code)


def _children(node: AST) -> list[AST]:
    t = node.get("t")
    if t in ("neg", "not"):
        return [node.get("e")]
    if t == "bin":
        return [node.get("l"), node.get("r")]
    if t == "call" and isinstance(node.get("args"), list):
        return list(node["args"])
    return []


def _walk(node: AST) -> list[AST]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        found.append(current)
        stack.extend(_children(current))
    return found


def _is_constant_expression(node: AST) -> bool:
    return all(
        n.get("t") != "field" and not (n.get("t") == "call" and n.get("fn") == "datediff")
        for n in _walk(node)
    )


def _may_raise(node: AST) -> bool:
    return any(n.get("t") == "call" and n.get("fn") in RAISING_FUNCTIONS for n in _walk(node))


def _is_safe(node: AST) -> bool:
    """Pure and never raising, so it may be evaluated before (or without) being needed."""
    return all(
        n.get("t") in ("num", "str", "bool", "field", "neg", "bin", "call")
        and not (n.get("t") == "call" and n.get("fn") in ("datediff", *RAISING_FUNCTIONS))
        for n in _walk(node)
    )


def _field_key(node: AST) -> str:
    code = node.get("code")
    return node["name"] if code is None else f"{node['name']}___{code}"


def _field_keys(node: AST) -> set[str]:
    return {_field_key(n) for n in _walk(node) if n.get("t") == "field"}


def _count_arithmetic(asts: Sequence[AST]) -> dict[str, int]:
    """How often each arithmetic sub-expression occurs (repeated ones are computed once)."""
    counts: dict[str, int] = {}
    for ast in asts:
        for node in _walk(ast):
            if node.get("t") == "neg" or (
                node.get("t") == "bin" and node.get("op") in ARITHMETIC_OPERATORS
            ):
                key = json.dumps(node, sort_keys=True)
                counts[key] = counts.get(key, 0) + 1
    return counts


_COMBINED: dict[tuple[str, ...], str] = {}


def _combined_memo(generator: _Generator, memos: tuple[str, ...]) -> str:
    """A memo of several memoised functions of one string at once: one lookup, a tuple."""
    if memos not in _COMBINED:
        functions = [MEMO_FUNCTIONS[memo] for memo in memos]
        name = f"_combined{len(_COMBINED)}"
        _RUNTIME[name], _RUNTIME[f"{name}_fill"] = _memo(
            lambda text: tuple(function(text) for function in functions)
        )
        _COMBINED[memos] = name
    name = _COMBINED[memos]
    generator.namespace[name] = _RUNTIME[name]
    generator.namespace[f"{name}_fill"] = _RUNTIME[f"{name}_fill"]
    return name


def _derived_lines(
    generator: _Generator, indent: str, ready: set[str], changed: str | None, blank: bool
) -> list[str]:
    """(Re)compute the memoised locals: all that `ready` variables allow, or those of `changed`."""
    lines: list[str] = []
    lookups: list[_Derived] = []  # memo lookups, in one try: a KeyError means a miss
    computed: list[str] = []

    def flush() -> None:
        if not lookups:
            return
        by_argument: dict[str, list[_Derived]] = {}
        for derived in lookups:
            by_argument.setdefault(derived.argument, []).append(derived)
        hits, misses = [], []
        for argument, group in by_argument.items():
            if len(group) == 1:
                hits.append(f"{group[0].local} = {group[0].code}")
                misses.append(f"{group[0].local} = {group[0].on_miss}")
                continue
            combined = _combined_memo(generator, tuple(d.memo for d in group))
            targets = ", ".join(d.local for d in group)
            hits.append(f"{targets} = {combined}[{argument}]")
            misses.append(f"{targets} = {combined}_fill({argument})")
        lines.append(f"{indent}try:")
        lines.extend(f"{indent}    {line}" for line in hits)
        lines.append(f"{indent}except KeyError:")
        lines.extend(f"{indent}    {line}" for line in misses)
        lookups.clear()

    for derived in generator.derived.values():
        if not derived.variables <= ready:
            continue
        if changed is not None and changed not in derived.variables:
            continue
        if blank and derived.blank_value is not _UNSET:
            lines.append(f"{indent}{derived.local} = {generator.literal(derived.blank_value)}")
        elif derived.on_miss:
            lookups.append(derived)
        else:
            computed.append(f"{indent}{derived.local} = {derived.code}")
    flush()  # memos depend on fields only; computed values may use them, in creation order
    return lines + computed


# --- building functions --------------------------------------------------------------------


def _field_loads(generator: _Generator, mapping: str, loaded: set[str] | None = None) -> list[str]:
    """Read every referenced key once; non-string values are read as the interpreter reads them.

    One itemgetter call reads them all when every key is present (a CSV row has them all).
    """
    fields = {k: v for k, v in generator.fields.items() if loaded is None or k in loaded}
    lines = _loads(generator, fields, mapping) if fields else []
    return lines + _derived_lines(generator, "    ", set(fields.values()), None, False)


def _loads(generator: _Generator, fields: dict[str, str], mapping: str) -> list[str]:
    keys = list(fields)
    variables = ", ".join(fields.values())
    getter = generator.bind(itemgetter(*keys))
    if len(keys) == 1:
        fast = [f"        {variables} = {getter}({mapping})", f"        _join(({variables},))"]
    else:
        fast = [f"        {variables} = read = {getter}({mapping})", "        _join(read)"]
    lines = [
        "    try:",
        f"        if {mapping}.__class__ is not dict:",
        "            raise TypeError",
    ]
    # A missing key reads as blank, as record.get(key) -> None -> "" in the interpreter.
    lines += [*fast, "    except (KeyError, TypeError):", f"        get = {mapping}.get"]
    lines += [f"        {var} = get({key!r}, '')" for key, var in fields.items()]
    lines += ["        try:", f"            _join(({variables},))", "        except TypeError:"]
    lines += [f"            {var} = _record_text({var})" for var in fields.values()]
    return lines


def _compiles(code: str) -> bool:
    try:
        compile(code, "<logic>", "eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return False
    return True


def _generate(build: Callable[[], str]) -> str | None:
    """Generated code for one expression, or None when Python cannot take it (too deep)."""
    try:
        code = build()
    except RecursionError:
        return None
    return code if _compiles(code) else None


def _define(source: str, namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    exec(compile(source, f"<compiled logic {name}>", "exec"), namespace)  # noqa: S102 - generated from the AST
    return namespace[name]


@dataclass(frozen=True)
class CompiledLogic:
    """One expression as a Python function; call it like `evaluate`."""

    function: Callable[[Mapping[str, Any], date | None, datetime | None], Value]
    source: str

    def __call__(
        self, record: Mapping[str, Any], *, today: date | None = None, now: datetime | None = None
    ) -> Value:
        return self.function(record, today, now)


def compile_logic(ast: AST) -> CompiledLogic:
    """Compile a parsed expression; LogicError for a malformed AST."""
    namespace = dict(_RUNTIME)
    generator = _Generator(namespace, today_name="today", now_name="now")
    generator.repeated = _count_arithmetic([ast])
    code = _generate(lambda: generator.value(ast).code)
    if code is None:
        ast_name = generator.bind(ast)
        code = f"_evaluate({ast_name}, record, today=today, now=now)"
        generator.fields.clear()
        generator.needs_today_moment = False
    lines = ["def logic(record, today, now):"]
    lines += _field_loads(generator, "record")
    if generator.needs_today_moment:
        lines.append("    today_moment = _midnight(today, now)")
    lines.append(f"    return {code}")
    source = "\n".join(lines) + "\n"
    return CompiledLogic(_define(source, namespace, "logic"), source)


_COMPILED: dict[str, CompiledLogic] = {}


def evaluate_compiled(
    ast: AST,
    record: Mapping[str, Any],
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> Value:
    """`evaluate` through the compiled engine (expressions compiled once and kept)."""
    key = json.dumps(ast, sort_keys=True)
    compiled = _COMPILED.get(key)
    if compiled is None:
        if len(_COMPILED) >= COMPILED_LIMIT:
            _COMPILED.clear()
        compiled = _COMPILED[key] = compile_logic(ast)
    return compiled(record, today=today, now=now)


def evaluate_many(
    asts: Sequence[AST], records: Sequence[Mapping[str, Any]], **options: Any
) -> list[Value]:
    """Evaluate asts[i] on records[i] (the conformance runner's engine interface)."""
    if len(asts) != len(records):
        raise ValueError(f"{len(asts)} expressions but {len(records)} records")
    return [
        evaluate_compiled(ast, record, **options) for ast, record in zip(asts, records, strict=True)
    ]


# --- the record pipeline -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    condition: AST
    blanks: Sequence[str]
    failure: Any  # appended to the failures when the condition is true


@dataclass(frozen=True)
class Repair:
    condition: AST
    field: str
    value: AST
    repair: Any  # appended to the repairs when the condition is true


@dataclass(frozen=True)
class Calculation:
    field: str
    value: AST


@dataclass(frozen=True)
class CompiledPipeline:
    function: Callable[[Mapping[str, Any], date | None, datetime | None], Any]
    source: str
    interpreted_steps: int  # expressions too deep for Python's compiler, run by the interpreter

    def __call__(
        self, record: Mapping[str, Any], today: date | None = None, now: datetime | None = None
    ) -> Any:
        return self.function(record, today, now)


@dataclass(frozen=True)
class _Written:
    indent: str
    variable: str
    blank: bool
    always: bool  # written whatever the record (a calculation), not under a condition


class _PipelineWriter:
    def __init__(self) -> None:
        self.namespace = dict(_RUNTIME)
        self.generator = _Generator(self.namespace, today_name="today", now_name="now")
        self.body: list[str | _Written] = []
        self.interpreted = 0

    def condition(self, ast: AST) -> str:
        code = _generate(lambda: self.generator.condition(ast)[0])
        if code is None:
            self.interpreted += 1
            return f"_is_true(_evaluate({self.generator.bind(ast)}, values, today=today, now=now))"
        return code

    def text(self, ast: AST) -> str:
        code = _generate(lambda: self.generator.text(ast))
        if code is None:
            self.interpreted += 1
            return f"_to_text(_evaluate({self.generator.bind(ast)}, values, today=today, now=now))"
        return code

    def store(self, field: str, indent: str, code: str) -> None:
        """values[field] = code, keeping the field's local variable and its memos in step."""
        target = f"values[{field!r}]"
        variable = self.generator.fields.get(field)
        if variable is None:
            self.body.append(f"{indent}{target} = {code}")
            return
        self.body.append(f"{indent}{variable} = {target} = {code}")
        self.body.append(_Written(indent, variable, code == "''", indent == "    "))

    def lines(self, loaded: set[str]) -> list[str]:
        """The body, each write followed by the memos it changes (known only at the end).

        A memo is computed once all its fields hold values: read from the record, or written
        by a calculation (which always writes).
        """
        ready = {self.generator.fields[key] for key in loaded}
        lines = []
        for entry in self.body:
            if isinstance(entry, str):
                lines.append(entry)
                continue
            available = ready | {entry.variable}
            lines += _derived_lines(
                self.generator, entry.indent, available, entry.variable, entry.blank
            )
            if entry.always:
                ready.add(entry.variable)
        return lines

    def check(self, step: Check) -> None:
        self.body.append(f"    if {self.condition(step.condition)}:")
        for field in step.blanks:
            self.store(field, "        ", "''")
        self.body.append(f"        failures.append({self.generator.bind(step.failure)})")

    def repair(self, step: Repair) -> None:
        self.body.append(f"    if {self.condition(step.condition)}:")
        self.store(step.field, "        ", self.text(step.value))
        self.body.append(f"        repairs.append({self.generator.bind(step.repair)})")

    def calculation(self, step: Calculation) -> None:
        self.store(step.field, "    ", self.text(step.value))


def compile_pipeline(
    checks: Sequence[Check],
    repairs: Sequence[Repair],
    calculations: Sequence[Calculation],
    result: Callable[[dict[str, Any], list[Any], list[Any]], Any],
) -> CompiledPipeline:
    """One function running every check, then every repair, then every calculation.

    Each step sees the record as the earlier steps left it. The function returns
    `result(values, failures, repairs)`; values are a copy of the record with blanked, repaired
    and calculated fields written as text.
    """
    writer = _PipelineWriter()
    # Register every key read first, so that earlier writes keep its variable current. A key
    # that a calculation writes before any step reads it is not read from the record at all.
    steps: list[tuple[list[AST], str | None]] = [([step.condition], None) for step in checks]
    steps += [([step.condition, step.value], None) for step in repairs]
    steps += [([step.value], step.field) for step in calculations]
    writer.generator.repeated = _count_arithmetic([ast for asts, _ in steps for ast in asts])
    calculated: set[str] = set()
    loaded: set[str] = set()
    for asts, written in steps:
        for node in (node for ast in asts for node in _walk(ast) if node.get("t") == "field"):
            writer.generator.value(node)
            key = node["name"] if node.get("code") is None else f"{node['name']}___{node['code']}"
            if key not in calculated:
                loaded.add(key)
        if written is not None:
            calculated.add(written)
    for check in checks:
        writer.check(check)
    for repair in repairs:
        writer.repair(repair)
    for calculation in calculations:
        writer.calculation(calculation)
    result_name = writer.generator.bind(result)
    lines = ["def pipeline(record, today, now):", "    values = dict(record)"]
    lines += _field_loads(writer.generator, "values", loaded)
    if writer.generator.needs_today_moment:
        lines.append("    today_moment = _midnight(today, now)")
    lines += ["    failures = []", "    repairs = []", *writer.lines(loaded)]
    lines.append(f"    return {result_name}(values, failures, repairs)")
    source = "\n".join(lines) + "\n"
    return CompiledPipeline(
        _define(source, writer.namespace, "pipeline"), source, writer.interpreted
    )
