"""The logic AST compiled to SQL for PostgreSQL and SQLite (docs/logic.md, same rules).

Every node compiles to a typed fragment: `bool` (a SQL boolean that is never NULL), `num` (a
double, NULL for blank) or `text` (NULL for blank, never ''). Literals travel as bound
parameters; field names reach SQL only through the caller's `field_sql`. Whatever the data, the
SQL never raises: numbers and dates are tested before they are converted, arithmetic is guarded
against overflow, and dates are turned into day numbers by integer arithmetic, not casts.

An operand that a rule needs several times (a comparison tests blankness, numbers and text) is
bound once in a scalar subquery, `(SELECT ... FROM (SELECT <operand> AS v) AS let)`, so the SQL
grows linearly with the expression, never exponentially.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from casereports.logic.evaluate import SECONDS_PER_UNIT
from casereports.logic.parser import AST, LogicError
from casereports.logic.values import is_numeric_text

POSTGRES = "postgresql"
SQLITE = "sqlite"
DIALECTS = (POSTGRES, SQLITE)
MAX_DOUBLE = "1.7976931348623157e308"
HALF_MAX_DOUBLE = "8.988465674311579e307"
TWO_600 = f"{2.0**600!r}"
TWO_MINUS_475 = f"{2.0**-475!r}"
ZERO_DOUBLE = "CAST(0 AS double precision)"
# Largest x with a finite exp(x), smallest with exp(x) > 0 (glibc, as Python uses).
EXP_MAX = 709.782712893384
EXP_MIN = -745.1332191019411
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_let_names = itertools.count()


@dataclass(frozen=True)
class Sql:
    text: str
    params: tuple = ()


def sql(*parts: str | Sql) -> Sql:
    """Concatenate text and fragments, keeping parameters in the order they appear."""
    text, params = [], []
    for part in parts:
        if isinstance(part, Sql):
            text.append(part.text)
            params.extend(part.params)
        else:
            text.append(part)
    return Sql("".join(text), tuple(params))


def joined(separator: str, fragments: Sequence[Sql]) -> Sql:
    parts: list[str | Sql] = []
    for index, fragment in enumerate(fragments):
        if index:
            parts.append(separator)
        parts.append(fragment)
    return sql(*parts)


# A numeric at or above this becomes an infinite double, at or below the other zero; the exact
# limits are 2^1024 - 2^970 and 2^-1075, rounded here to the side that cannot raise.
NUMERIC_OVERFLOW = "1.7976931348623158079e308"
NUMERIC_UNDERFLOW = "2.4703282292062327208828439643411068618253e-324"


def _numeric_to_double(number: Sql) -> Sql:
    """PostgreSQL numeric to the nearest double, blank beyond the range (a cast would raise)."""
    return sql(
        "CASE WHEN abs(",
        number,
        f") >= {NUMERIC_OVERFLOW} THEN NULL WHEN abs(",
        number,
        f") <= {NUMERIC_UNDERFLOW} THEN CAST(0 AS double precision) ELSE CAST(",
        number,
        " AS double precision) END",
    )


def _cheap(value: Sql) -> bool:
    """Short enough, and free of subqueries, to repeat instead of binding."""
    return "SELECT" not in value.text and len(value.text) <= 120


@dataclass(frozen=True)
class Typed:
    kind: str  # "bool", "num" or "text"
    sql: Sql
    literal: object = None  # the Python value of a number or string literal
    # SQLite arithmetic only: the number may still be infinite. `+ - *` carry infinity and NaN
    # (NULL) exactly as blank would, so the test for it waits until the value leaves the chain
    # of arithmetic: each test nests two calls, and SQLite's parser allows little nesting.
    unbounded: bool = False


class Compiler:
    def __init__(self, field_sql: Callable[[str], str], dialect: str) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        self.field_sql = field_sql
        self.dialect = dialect
        self.pg = dialect == POSTGRES

    # --- literals and parameters ------------------------------------------------------------

    def param(self, value: object) -> Sql:
        return Sql("%s" if self.pg else "?", (value,))

    def number(self, value: float) -> Sql:
        return sql(
            "CAST(", self.param(float(value)), " AS double precision)" if self.pg else " AS REAL)"
        )

    def string(self, value: str) -> Sql:
        return sql("CAST(", self.param(value), " AS text)" if self.pg else " AS TEXT)")

    def boolean(self, value: bool) -> Sql:
        if self.pg:
            return Sql("TRUE" if value else "FALSE")
        return Sql("1" if value else "0")

    def let(self, values: Sequence[Sql], body: Callable[..., Sql]) -> Sql:
        """Bind each value once and build the body from their names."""
        if all(_cheap(value) for value in values):
            return body(*values)
        names = [f"_v{next(_let_names)}" for _ in values]
        columns = joined(
            ", ", [sql(value, f" AS {name}") for value, name in zip(values, names, strict=True)]
        )
        return sql(
            "(SELECT ",
            body(*[Sql(name) for name in names]),
            " FROM (SELECT ",
            columns,
            # OFFSET 0 keeps PostgreSQL from pulling the subquery up and substituting each
            # value back at every use, which multiplies nested bindings at plan time.
            " OFFSET 0) AS _let)" if self.pg else ") AS _let)",
        )

    # --- conversions between the three types --------------------------------------------------

    def is_numeric(self, text: Sql) -> Sql:
        """Rule 1 on a non-NULL text."""
        if self.pg:
            return sql("(", text, " ~ '^[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)$')")

        def shaped(rest: Sql) -> Sql:
            return sql(
                "(",
                rest,
                " <> '' AND ",
                rest,
                " <> '.' AND ",
                rest,
                " NOT GLOB '*[^0-9.]*' AND ",
                rest,
                " NOT GLOB '*.*.*')",
            )

        unsigned = sql("substr(", text, ", 2)")
        return sql(
            "(CASE WHEN substr(",
            text,
            ", 1, 1) IN ('-', '+') THEN ",
            shaped(unsigned),
            " ELSE ",
            shaped(text),
            " END)",
        )

    def text_to_number(self, text: Sql) -> Sql:
        def convert(value: Sql) -> Sql:
            if self.pg:
                return sql(
                    "CASE WHEN ",
                    self.is_numeric(value),
                    " THEN CASE WHEN length(",
                    value,
                    ") < 300 THEN CAST(",
                    value,
                    " AS double precision) ELSE ",
                    self._pg_long_number(value),
                    " END END",
                )
            return self._sqlite_number(value)

        return self.let([text], convert)

    def _pg_long_number(self, value: Sql) -> Sql:
        """A numeric string of 300 characters or more (a plain cast could overflow and raise):
        through numeric, keeping 1100 decimals (beyond any double); blank beyond the range."""
        unsigned = sql("ltrim(", value, ", '+-')")
        whole = sql("ltrim(split_part(", unsigned, ", '.', 1), '0')")
        decimals = sql("left(split_part(", unsigned, ", '.', 2), 1100)")
        number = sql(
            "CAST((CASE WHEN left(",
            value,
            ", 1) = '-' THEN '-' ELSE '' END) || COALESCE(NULLIF(",
            whole,
            ", ''), '0') || '.' || ",
            decimals,
            " || '0' AS numeric)",
        )
        return sql(
            "CASE WHEN length(",
            whole,
            ") > 309 THEN NULL ELSE ",
            _numeric_to_double(number),
            " END",
        )

    def _sqlite_number(self, value: Sql) -> Sql:
        """SQLite's text-to-real conversion is not correctly rounded ('2.561612' gives
        2.5616120000000002), so up to 15 significant digits the string is read as an exact
        integer divided by an exact power of ten: one IEEE rounding, as Python's float().
        One flat CASE: SQLite's parser allows only about 18 nested CASEs in all."""
        digits = sql("ltrim(replace(", value, ", '.', ''), '-+')")
        decimals = sql("max(length(", value, ") - instr(", value, " || '.', '.'), 0)")
        exact = sql("CAST(", digits, " AS INTEGER) / CAST('1e' || ", decimals, " AS REAL)")
        return sql(
            "CASE WHEN NOT ",
            self.is_numeric(value),
            " THEN NULL ",
            "WHEN length(ltrim(",
            digits,
            ", '0')) > 15 OR ",
            decimals,
            " > 22 ",
            "THEN NULLIF(NULLIF(CAST(",
            value,
            " AS REAL), 9e999), -9e999) ",
            "WHEN substr(",
            value,
            ", 1, 1) = '-' THEN -(",
            exact,
            ") ELSE ",
            exact,
            " END",
        )

    def num(self, typed: Typed) -> Sql:
        if typed.kind == "num":
            return typed.sql
        if typed.kind == "bool":  # PostgreSQL would type 1.0 as numeric, which prints 1.0
            one, zero = ("1", "0") if self.pg else ("1.0", "0.0")
            number = sql("(CASE WHEN ", typed.sql, f" THEN {one} ELSE {zero} END)")
            return sql("CAST(", number, " AS double precision)") if self.pg else number
        return self.text_to_number(typed.sql)

    def text(self, typed: Typed) -> Sql:
        """NULL for blank; numbers printed per rule 9; booleans '1'/'0'."""
        if typed.kind == "text":
            return typed.sql
        if typed.kind == "bool":
            return sql("(CASE WHEN ", typed.sql, " THEN '1' ELSE '0' END)")
        return self.format_number(typed.sql)

    def cond(self, typed: Typed) -> Sql:
        """Rule 5 truth as a SQL boolean that is never NULL."""
        if typed.kind == "bool":
            return typed.sql
        return sql("COALESCE(", self.num(typed), " <> 0, ", self.boolean(False), ")")

    def blank(self, typed: Typed) -> Sql:
        if typed.kind == "bool":
            return self.boolean(False)
        return sql("(", typed.sql, " IS NULL)")

    def finite(self, number: Sql) -> Sql:
        """Infinity becomes blank (SQLite reads 9e999 as infinity; NaN is already NULL)."""
        if not self.pg:
            return sql("NULLIF(NULLIF(", number, ", 9e999), -9e999)")
        return self.let(
            [number], lambda v: sql("CASE WHEN abs(", v, f") <= {MAX_DOUBLE} THEN ", v, " END")
        )

    def format_number(self, number: Sql) -> Sql:
        if self.pg:  # float8 -> numeric keeps 15 significant digits; numeric prints plainly
            return sql("CAST(CAST(", number, " AS numeric) AS text)")
        return self.let(
            [number],
            lambda n: self.let(
                [sql("(CASE WHEN ", n, " IS NULL THEN NULL ELSE printf('%.15g', ", n, ") END)")],
                self._sqlite_plain,
            ),
        )

    def _sqlite_plain(self, s: Sql) -> Sql:
        """printf's %g text without its exponent: 1e+20 -> 100000000000000000000."""
        mantissa = sql("substr(", s, ", 1, instr(", s, ", 'e') - 1)")
        exponent = sql("CAST(substr(", s, ", instr(", s, ", 'e') + 1) AS INTEGER)")

        def plain(m: Sql, e: Sql) -> Sql:
            sign = sql("(CASE WHEN substr(", m, ", 1, 1) = '-' THEN '-' ELSE '' END)")
            digits = sql("replace(replace(", m, ", '-', ''), '.', '')")
            return self.let([sign, digits, e], self._sqlite_place_point)

        return sql(
            "(CASE WHEN ",
            s,
            " IS NULL THEN NULL WHEN ",
            s,
            " IN ('-0', '0') THEN '0' ",
            "WHEN instr(",
            s,
            ", 'e') = 0 THEN ",
            s,
            " ELSE ",
            self.let([mantissa, exponent], plain),
            " END)",
        )

    @staticmethod
    def _sqlite_place_point(sign: Sql, digits: Sql, exponent: Sql) -> Sql:
        def zeros(count: Sql) -> Sql:
            return sql("replace(hex(zeroblob(", count, ")), '00', '0')")

        whole = sql(exponent, " + 1")
        large = sql(
            "CASE WHEN length(",
            digits,
            ") <= ",
            whole,
            " THEN ",
            digits,
            " || ",
            zeros(sql(whole, " - length(", digits, ")")),
            " ELSE substr(",
            digits,
            ", 1, ",
            whole,
            ") || '.' || substr(",
            digits,
            ", ",
            whole,
            " + 1) END",
        )
        small = sql("'0.' || ", zeros(sql("-", exponent, " - 1")), " || ", digits)
        return sql(
            sign, " || (CASE WHEN ", exponent, " >= 0 THEN ", large, " ELSE ", small, " END)"
        )

    def nonblank_text(self, typed: Typed) -> Sql:
        """Text for string functions: blank is ''."""
        return sql("COALESCE(", self.text(typed), ", '')")

    def text_result(self, text: Sql) -> Typed:
        return Typed("text", sql("NULLIF(", text, ", '')"))

    # --- nodes -------------------------------------------------------------------------------

    def compile(self, node: AST) -> Typed:
        typed = self.compile_open(node)
        if typed.unbounded:
            return Typed("num", self.finite(typed.sql))
        return typed

    def compile_open(self, node: AST) -> Typed:
        """Like compile, but a SQLite arithmetic result may still be infinite (`unbounded`)."""
        kind = node.get("t")
        if kind == "num":
            return Typed("num", self.number(node["v"]), literal=float(node["v"]))
        if kind == "str":
            text = self.string(node["v"]) if node["v"] != "" else self.null_text()
            return Typed("text", text, literal=node["v"])
        if kind == "bool":
            return Typed("bool", self.boolean(node["v"]))
        if kind == "field":
            return self.field(node)
        if kind == "neg":
            return Typed("num", sql("(-", self.num(self.compile(node["e"])), ")"))
        if kind == "not":
            return Typed("bool", sql("(NOT ", self.cond(self.compile(node["e"])), ")"))
        if kind == "bin":
            return self.binary(node)
        if kind == "call":
            return self.call(node)
        raise LogicError(f"not a logic AST node: {node!r:.80}")

    def null_text(self) -> Sql:
        return Sql("CAST(NULL AS text)" if self.pg else "CAST(NULL AS TEXT)")

    def field(self, node: AST) -> Typed:
        code = node.get("code")
        if code is None:
            return Typed("text", sql("NULLIF(", self.field_sql(node["name"]), ", '')"))
        option = self.field_sql(f"{node['name']}___{code}")
        return Typed("text", sql("COALESCE(NULLIF(", option, ", ''), '0')"))

    def binary(self, node: AST) -> Typed:
        operator = node["op"]
        if not self.pg and operator in ("+", "-", "*", "/", "^"):
            return self.sqlite_arithmetic(operator, node["l"], node["r"])
        left, right = self.compile(node["l"]), self.compile(node["r"])
        if operator in ("and", "or"):
            return Typed(
                "bool", sql("(", self.cond(left), f" {operator.upper()} ", self.cond(right), ")")
            )
        if operator in ("=", "<>"):
            equal = self.equals(left, right)
            return Typed("bool", equal if operator == "=" else sql("(NOT ", equal, ")"))
        if operator in ("<", "<=", ">", ">="):
            return Typed("bool", self.ordered(operator, left, right))
        return Typed("num", self.arithmetic(operator, self.num(left), self.num(right)))

    def equals(self, left: Typed, right: Typed) -> Sql:
        if left.literal is not None and right.literal is None:
            left, right = right, left
        if right.literal is not None and left.literal is None:
            return self.equals_literal(left, right)
        if "text" not in (left.kind, right.kind):
            return self.let(
                [self.num(left), self.num(right)],
                lambda a, b: sql(
                    "(CASE WHEN ",
                    a,
                    " IS NULL OR ",
                    b,
                    " IS NULL THEN (",
                    a,
                    " IS NULL AND ",
                    b,
                    " IS NULL) ELSE ",
                    a,
                    " = ",
                    b,
                    " END)",
                ),
            )
        return self.let(
            [self.num(left), self.num(right), self.text(left), self.text(right)],
            lambda ln, rn, lt, rt: sql(
                "(CASE WHEN ",
                lt,
                " IS NULL OR ",
                rt,
                " IS NULL THEN (",
                lt,
                " IS NULL AND ",
                rt,
                " IS NULL) ",
                "WHEN ",
                ln,
                " IS NOT NULL AND ",
                rn,
                " IS NOT NULL THEN ",
                ln,
                " = ",
                rn,
                " ",
                "ELSE ",
                self.collate(lt),
                " = ",
                self.collate(rt),
                " END)",
            ),
        )

    def equals_literal(self, value: Typed, literal: Typed) -> Sql:
        """Rule 3 against a constant, decided at compile time: a number can only equal a
        number, a non-numeric text only the same text, and '' only a blank."""
        false = self.boolean(False)
        if literal.literal == "":
            return self.blank(value)
        if isinstance(literal.literal, float) or is_numeric_text(literal.literal):
            return sql("COALESCE(", self.num(value), " = ", self.num(literal), ", ", false, ")")
        return sql(
            "COALESCE(", self.collate(self.text(value)), " = ", literal.sql, ", ", false, ")"
        )

    def ordered(self, operator: str, left: Typed, right: Typed) -> Sql:
        if "text" not in (left.kind, right.kind):
            comparison = sql(self.num(left), f" {operator} ", self.num(right))
            return sql("COALESCE(", comparison, ", ", self.boolean(False), ")")
        return self.let(
            [self.num(left), self.num(right), self.text(left), self.text(right)],
            lambda ln, rn, lt, rt: sql(
                "(CASE WHEN ",
                lt,
                " IS NULL OR ",
                rt,
                " IS NULL THEN ",
                self.boolean(False),
                " ",
                "WHEN ",
                ln,
                " IS NOT NULL AND ",
                rn,
                " IS NOT NULL THEN ",
                ln,
                f" {operator} ",
                rn,
                " ",
                "ELSE ",
                self.collate(lt),
                f" {operator} ",
                self.collate(rt),
                " END)",
            ),
        )

    def collate(self, text: Sql) -> Sql:
        return sql(text, ' COLLATE "C"') if self.pg else text

    def sqlite_arithmetic(self, operator: str, left: AST, right: AST) -> Typed:
        """SQLite: NULL propagates, x / 0 is NULL, NaN becomes NULL and overflow is infinity,
        which `compile` turns into blank once the value leaves `+ - *`."""
        carries = operator in "+-*"
        operands = []
        for child in (left, right):
            typed = self.compile_open(child) if carries else self.compile(child)
            operands.append(typed.sql if typed.unbounded else self.num(typed))
        if operator == "^":
            return Typed("num", sql("power(", operands[0], ", ", operands[1], ")"), unbounded=True)
        return Typed(
            "num", sql("(", operands[0], f" {operator} ", operands[1], ")"), unbounded=True
        )

    def arithmetic(self, operator: str, left: Sql, right: Sql) -> Sql:
        if not self.pg:  # NULL propagates, x / 0 is NULL, overflow is infinity: no binding needed
            if operator == "^":
                return self.finite(sql("power(", left, ", ", right, ")"))
            return self.finite(sql("(", left, f" {operator} ", right, ")"))

        def guarded(a: Sql, b: Sql) -> Sql:
            if operator == "/":
                result = sql(
                    "CASE WHEN ",
                    b,
                    " = 0 THEN NULL ELSE ",
                    self.safe(sql(a, " / ", b), a, b, "/"),
                    " END",
                )
            elif operator == "^":
                result = self.power(a, b)
            else:
                result = self.safe(sql(a, f" {operator} ", b), a, b, operator)
            return sql(
                "CASE WHEN ", a, " IS NULL OR ", b, " IS NULL THEN NULL ELSE ", result, " END"
            )

        return self.let([left, right], guarded)

    def safe(self, result: Sql, a: Sql, b: Sql, operator: str) -> Sql:
        """PostgreSQL raises on float overflow and underflow where IEEE would give infinity or
        zero: decide from the magnitudes first, with tests that cannot raise themselves.

        Operands are finite here (PostgreSQL numbers never hold infinity). Overflow is blank,
        underflow is zero, as in the Python engine.
        """
        if not self.pg:
            return self.finite(result)
        if operator in "+-":
            # Only two operands of at least 1, one above 1e300, can overflow; halving them is
            # then exact and tells without overflowing.
            halved = sql("abs(", a, " * 0.5 ", operator, " ", b, " * 0.5)")
            return sql(
                "CASE WHEN abs(",
                a,
                ") <= 1e300 AND abs(",
                b,
                ") <= 1e300 ",
                "OR abs(",
                a,
                ") < 1 OR abs(",
                b,
                ") < 1 THEN ",
                result,
                " WHEN ",
                halved,
                f" <= {HALF_MAX_DOUBLE} THEN ",
                result,
                " END",
            )
        if operator == "*":
            log10 = sql("(log(abs(", a, ")) + log(abs(", b, ")))")
            halved = sql(
                "CASE WHEN abs(",
                a,
                ") >= abs(",
                b,
                ") THEN (",
                a,
                " * 0.5) * ",
                b,
                " ELSE ",
                a,
                " * (",
                b,
                " * 0.5) END",
            )
            scaled = sql(
                "CASE WHEN abs(",
                a,
                ") <= abs(",
                b,
                ") THEN (",
                a,
                f" * {TWO_600}) * ",
                b,
                " ELSE ",
                a,
                " * (",
                b,
                f" * {TWO_600}) END",
            )
            zero = sql(a, " = 0 OR ", b, " = 0")
        else:
            log10 = sql("(log(abs(", a, ")) - log(abs(", b, ")))")
            halved = sql("(", a, " * 0.5) / ", b)
            scaled = sql("(", a, f" * {TWO_600}) / ", b)
            zero = sql(a, " = 0")
        moderate = sql(
            "abs(", a, ") BETWEEN 1e-150 AND 1e150 AND abs(", b, ") BETWEEN 1e-150 AND 1e150"
        )
        # Near the limits a halved (or 2^600-scaled) result cannot overflow (or underflow) and
        # tells exactly whether the true one does.
        return sql(
            "CASE WHEN ",
            zero,
            " OR ",
            moderate,
            " THEN ",
            result,
            " WHEN ",
            log10,
            " BETWEEN -300 AND 308 THEN ",
            result,
            " WHEN ",
            log10,
            " > 308.26 THEN NULL WHEN ",
            log10,
            " < -323.7 THEN ",
            ZERO_DOUBLE,
            " WHEN ",
            log10,
            " > 0 THEN CASE WHEN abs(",
            halved,
            f") <= {HALF_MAX_DOUBLE} THEN ",
            result,
            " END WHEN abs(",
            scaled,
            f") > {TWO_MINUS_475} THEN ",
            result,
            " ELSE ",
            ZERO_DOUBLE,
            " END",
        )

    def power(self, a: Sql, b: Sql) -> Sql:
        """PostgreSQL's power as Python's math.pow: blank where Python raises or overflows.
        (SQLite's pow gives NaN, so NULL, or infinity in those cases by itself.)"""
        exact = sql("power(", a, ", ", b, ")")
        invalid = sql(
            "CASE WHEN ",
            a,
            " = 0 AND ",
            b,
            " < 0 THEN NULL WHEN ",
            a,
            " < 0 AND ",
            b,
            " <> ",
            self.trunc(b),
            " THEN NULL ELSE ",
        )
        # |b * ln|a|| decides overflow (blank) and underflow (zero); its size is first judged by
        # logarithms, as the product itself could overflow or underflow.
        size = sql("(log(abs(", b, ")) + log(abs(ln(abs(", a, ")))))")
        exponent = sql("(", b, " * ln(abs(", a, ")))")
        return sql(
            invalid,
            "CASE WHEN ",
            a,
            " = 0 OR ",
            b,
            " = 0 OR abs(",
            a,
            ") = 1 THEN ",
            exact,
            " WHEN ",
            size,
            " <= 2 THEN ",
            exact,
            " WHEN ",
            size,
            " >= 3 THEN CASE WHEN sign(",
            b,
            ") <> sign(ln(abs(",
            a,
            "))) THEN ",
            ZERO_DOUBLE,
            " END",
            " WHEN ",
            exponent,
            " > 709.7827128933 THEN NULL WHEN ",
            exponent,
            " < -745.1332191 THEN ",
            ZERO_DOUBLE,
            " ELSE ",
            exact,
            " END END",
        )

    def trunc(self, number: Sql) -> Sql:
        return sql("trunc(", number, ")")

    # --- functions ---------------------------------------------------------------------------

    def call(self, node: AST) -> Typed:
        name = node["fn"]
        if name == "if":
            return self.if_(node["args"])
        args = [self.compile(arg) for arg in node["args"]]
        if name == "datediff":
            return Typed("num", self.datediff(args))
        builder = getattr(self, f"fn_{name}", None)
        if builder is None:
            raise LogicError(f"unknown function {name!r}")
        return builder(*args)

    def if_(self, args: list[AST]) -> Typed:
        """if(c1, a, if(c2, b, c)) becomes one flat CASE (deep nesting overflows SQLite)."""
        arms: list[tuple[Typed, Typed]] = []
        node_args = args
        while True:
            condition, then, otherwise = node_args
            arms.append((self.compile(condition), self.compile(then)))
            if otherwise.get("t") == "call" and otherwise.get("fn") == "if":
                node_args = otherwise["args"]
                continue
            last = self.compile(otherwise)
            break
        branches = [then for _, then in arms] + [last]
        # The blank literal '' is blank in any type: if(c, '', [a] / [b]) stays a number.
        kinds = {branch.kind for branch in branches if branch.literal != ""} or {"text"}
        kind = kinds.pop() if len(kinds) == 1 else "num" if kinds == {"bool", "num"} else "text"
        if kind == "bool" and any(branch.literal == "" for branch in branches):
            kind = "num"  # a boolean is never blank; as a number it can be (rule 6)
        convert = {"bool": lambda t: t.sql, "num": self.num, "text": self.text}[kind]
        parts: list[str | Sql] = ["(CASE"]
        for condition, then in arms:
            parts += [" WHEN ", self.cond(condition), " THEN ", convert(then)]
        parts += [" ELSE ", convert(last), " END)"]
        return Typed(kind, sql(*parts))

    def numeric(self, args: Sequence[Typed], body: Callable[..., Sql]) -> Typed:
        """Blank if any argument is blank or not a number."""
        values = [self.num(arg) for arg in args]

        def guarded(*names: Sql) -> Sql:
            blank = joined(" OR ", [sql(name, " IS NULL") for name in names])
            return sql("CASE WHEN ", blank, " THEN NULL ELSE ", body(*names), " END")

        return Typed("num", self.let(values, guarded))

    def fn_abs(self, x: Typed) -> Typed:
        return self.numeric([x], lambda v: sql("abs(", v, ")"))

    def fn_sqrt(self, x: Typed) -> Typed:
        return self.numeric(
            [x], lambda v: sql("CASE WHEN ", v, " < 0 THEN NULL ELSE sqrt(", v, ") END")
        )

    def fn_exponential(self, x: Typed) -> Typed:
        return self.numeric(
            [x],
            lambda v: sql(
                "CASE WHEN ",
                v,
                f" > {EXP_MAX!r} THEN NULL WHEN ",
                v,
                f" < {EXP_MIN!r} THEN 0.0 ELSE exp(",
                v,
                ") END",
            ),
        )

    def fn_log(self, x: Typed, base: Typed | None = None) -> Typed:
        if base is None:
            return self.numeric(
                [x], lambda v: sql("CASE WHEN ", v, " <= 0 THEN NULL ELSE ln(", v, ") END")
            )
        return self.numeric(
            [x, base],
            lambda v, b: sql(
                "CASE WHEN ",
                v,
                " <= 0 OR ",
                b,
                " <= 0 OR ",
                b,
                " = 1 THEN NULL ELSE ln(",
                v,
                ") / ln(",
                b,
                ") END",
            ),
        )

    def fn_mod(self, a: Typed, b: Typed) -> Typed:
        """fmod: exact in both engines (SQLite's mod() is C's fmod)."""

        def mod(x: Sql, y: Sql) -> Sql:
            if not self.pg:
                return sql("CASE WHEN ", y, " = 0 THEN NULL ELSE mod(", x, ", ", y, ") END")
            integers = sql(
                x,
                " = trunc(",
                x,
                ") AND ",
                y,
                " = trunc(",
                y,
                ") AND abs(",
                x,
                ") < 9007199254740992 AND abs(",
                y,
                ") < 9007199254740992",
            )
            return sql(
                "CASE WHEN ",
                y,
                " = 0 THEN NULL WHEN ",
                integers,
                " THEN CAST(mod(CAST(",
                x,
                " AS bigint), CAST(",
                y,
                " AS bigint)) AS double precision)",
                " ELSE CAST(mod(",
                self.exact_numeric(x),
                ", ",
                self.exact_numeric(y),
                ") AS double precision) END",
            )

        return self.numeric([a, b], mod)

    def exact_numeric(self, number: Sql) -> Sql:
        """The exact decimal value of a finite double (PostgreSQL): its integer mantissa m, read
        by scaling with powers of two, times 2^-k = 5^k * 10^-k."""

        def with_shift(v: Sql, k: Sql) -> Sql:
            mantissa = sql(
                "CAST(CAST((",
                v,
                " * power(2::float8, ",
                k,
                " / 2)) * power(2::float8, ",
                k,
                " - ",
                k,
                " / 2) AS bigint) AS numeric)",
            )
            return sql(
                "(CASE WHEN ",
                k,
                " >= 0 THEN ",
                mantissa,
                " * power(5::numeric, ",
                k,
                ") * CAST('1e-' || ",
                k,
                " AS numeric) ELSE ",
                mantissa,
                " * power(2::numeric, -",
                k,
                ") END)",
            )

        def with_value(v: Sql) -> Sql:
            shift = sql(
                "(CASE WHEN ",
                v,
                " = 0 THEN 0 ELSE 53 - CAST(floor(ln(abs(",
                v,
                ")) / ln(2::float8)) AS integer) END)",
            )
            return self.let([v, shift], with_shift)

        return self.let([number], with_value)

    def fn_round(self, x: Typed, digits: Typed | None = None) -> Typed:
        return self.rounding("half", x, digits)

    def fn_roundup(self, x: Typed, digits: Typed | None = None) -> Typed:
        return self.rounding("up", x, digits)

    def fn_rounddown(self, x: Typed, digits: Typed | None = None) -> Typed:
        return self.rounding("down", x, digits)

    def rounding(self, mode: str, x: Typed, digits: Typed | None) -> Typed:
        places = digits if digits is not None else Typed("num", self.number(0))

        def rounded(value: Sql, count: Sql) -> Sql:
            clamp = sql(
                "CAST(trunc(CASE WHEN ",
                count,
                " > 400 THEN 400 WHEN ",
                count,
                " < -400 THEN -400 ELSE ",
                count,
                " END) AS integer)",
            )
            if self.pg:
                return self.let([sql("CAST(", value, " AS numeric)"), clamp], self._pg_round(mode))
            return self.let([value, clamp], self._sqlite_round(mode))

        return self.numeric([x, places], rounded)

    @staticmethod
    def _pg_round(mode: str) -> Callable[[Sql, Sql], Sql]:
        def build(value: Sql, places: Sql) -> Sql:
            if mode == "half":
                result = sql("round(", value, ", ", places, ")")
            elif mode == "down":
                result = sql("trunc(", value, ", ", places, ")")
            else:
                result = sql(
                    "CASE WHEN trunc(",
                    value,
                    ", ",
                    places,
                    ") = ",
                    value,
                    " THEN ",
                    value,
                    " ELSE trunc(",
                    value,
                    ", ",
                    places,
                    ") + sign(",
                    value,
                    ") * power(10::numeric, -",
                    places,
                    ") END",
                )
            return _numeric_to_double(result)

        return build

    def _sqlite_round(self, mode: str) -> Callable[[Sql, Sql], Sql]:
        """Shift the decimal point by an exact power of ten, take printf's 15 significant
        digits (the number as a person reads it), round to a whole number, shift back.
        Written flat: SQLite's parser allows only about 18 nested CASEs in all."""

        def whole(s: Sql) -> Sql:
            if mode == "half":  # SQLite's round(s) is sign(s) * floor(abs(s) + 0.5)
                return sql("round(", s, ")")
            if mode == "up":
                return sql("sign(", s, ") * ceil(abs(", s, "))")
            return sql("trunc(", s, ")")

        def fifteen_digits(number: Sql) -> Sql:
            return sql("CAST(printf('%.15g', ", number, ") AS REAL)")

        def build(value: Sql, places: Sql) -> Sql:
            scale = sql("power(10.0, abs(", places, "))")
            # Beyond 10^308 any non-zero value rounds to 0, or away to infinity (blank).
            beyond = sql("CASE WHEN ", value, " = 0 THEN 0.0 END") if mode == "up" else "0.0"
            shifted = fifteen_digits(sql(value, " / ", scale))
            if mode == "up":  # a tiny value shifted may underflow to 0 but still rounds away
                coarse = sql("sign(", value, ") * max(ceil(abs(", shifted, ")), 1)")
            else:
                coarse = whole(shifted)
            return sql(
                "CASE WHEN ",
                places,
                " < -308 THEN ",
                beyond,
                " WHEN ",
                places,
                " < 0 THEN NULLIF(NULLIF(",
                coarse,
                " * ",
                scale,
                ", 9e999), -9e999)",
                # More than 15 digits before the rounding place: the 15-digit form remains.
                " WHEN abs(",
                value,
                ") * 1e-15 >= 1.0 / ",
                scale,
                " THEN ",
                fifteen_digits(value),
                " ELSE ",
                whole(fifteen_digits(sql(value, " * ", scale))),
                " / ",
                scale,
                " END",
            )

        return build

    def aggregate(
        self, args: Sequence[Typed], body: Callable[[Sql], Sql], minimum: int = 1
    ) -> Typed:
        """Over the numeric arguments only, in a VALUES list."""
        values = joined(" UNION ALL ", [sql("SELECT ", self.num(arg), " AS n") for arg in args])
        numbers = sql("(SELECT n FROM (", values, ") AS _args WHERE n IS NOT NULL)")
        return Typed("num", self.finite(body(numbers)) if minimum else body(numbers))

    def fn_sum(self, *args: Typed) -> Typed:
        return self.folded(args, lambda count, total: total)

    def fn_min(self, *args: Typed) -> Typed:
        return self.extreme("min", args)

    def fn_max(self, *args: Typed) -> Typed:
        return self.extreme("max", args)

    def extreme(self, function: str, args: Sequence[Typed]) -> Typed:
        """min or max ignore NULL (blank) by themselves; no filtering subquery, to nest less."""
        values = joined(" UNION ALL ", [sql("SELECT ", self.num(arg), " AS n") for arg in args])
        return Typed("num", self.finite(sql(f"(SELECT {function}(n) FROM (", values, ") AS _n)")))

    def fn_mean(self, *args: Typed) -> Typed:
        return self.folded(args, lambda count, total: self.arithmetic("/", total, count))

    def fn_median(self, *args: Typed) -> Typed:
        def median(numbers: Sql) -> Sql:
            ranked = sql(
                "(SELECT n, row_number() OVER (ORDER BY n) AS r, count(*) OVER () AS c FROM ",
                numbers,
                " AS _n)",
            )
            middle = sql(" FROM ", ranked, " AS _r WHERE r IN ((c + 1) / 2, (c + 2) / 2)")
            if not self.pg:  # infinity and NaN (NULL) carry to the finite() around the aggregate
                return sql(
                    "(SELECT CASE WHEN count(*) = 1 THEN min(n) ELSE (min(n) + max(n)) / 2.0 END",
                    middle,
                    ")",
                )
            half_sum = self.arithmetic(
                "/", self.arithmetic("+", Sql("_mid.lo"), Sql("_mid.hi")), self.number(2)
            )
            return sql(
                "(SELECT CASE WHEN _mid.c = 1 THEN _mid.lo ELSE ",
                half_sum,
                " END FROM (SELECT count(*) AS c, min(n) AS lo, max(n) AS hi",
                middle,
                ") AS _mid)",
            )

        return self.aggregate(args, median)

    def fn_stdev(self, *args: Typed) -> Typed:
        def stdev(count: Sql, total: Sql, numbers: Sequence[Sql]) -> Sql:
            def with_mean(mean: Sql) -> Sql:
                squares = [
                    self.let(
                        [self.arithmetic("-", n, mean)],
                        lambda deviation: self.arithmetic("*", deviation, deviation),
                    )
                    for n in numbers
                ]
                variance = self.arithmetic(
                    "/", self.sum_left_to_right(numbers, squares), sql("(", count, " - 1)")
                )
                return sql("sqrt(", variance, ")")

            spread = self.let([self.arithmetic("/", total, count)], with_mean)
            return sql("CASE WHEN ", count, " >= 2 THEN ", spread, " END")

        return self.folded(args, stdev, with_numbers=True)

    def folded(
        self, args: Sequence[Typed], body: Callable[..., Sql], with_numbers: bool = False
    ) -> Typed:
        """body(count, total[, numbers]) over the numeric arguments, blank when there are none.

        The total adds left to right from 0, as the Python and JavaScript engines do (SQL's
        sum() may not: SQLite 3.43+ compensates, PostgreSQL raises on overflow)."""

        def build(*numbers: Sql) -> Sql:
            count = joined(
                " + ", [sql("CASE WHEN ", n, " IS NULL THEN 0 ELSE 1 END") for n in numbers]
            )
            count = sql("CAST(", count, " AS double precision)" if self.pg else " AS REAL)")
            total = self.sum_left_to_right(numbers, numbers)
            result = body(count, total, numbers) if with_numbers else body(count, total)
            return sql("CASE WHEN ", count, " > 0 THEN ", self.finite(result), " END")

        return Typed("num", self.let([self.num(arg) for arg in args], build))

    def sum_left_to_right(self, numbers: Sequence[Sql], terms: Sequence[Sql]) -> Sql:
        """0 + term1 + term2 + ..., skipping the terms whose number is blank; a term that is
        blank although its number is not (an overflow) makes the total blank."""
        zero = self.number(0)
        present = [
            sql("(CASE WHEN ", n, " IS NULL THEN ", zero, " ELSE ", term, " END)")
            for n, term in zip(numbers, terms, strict=True)
        ]
        if not self.pg:  # IEEE: infinity and NaN (NULL) carry to the end, where finite() looks
            return sql("(", zero, " + ", joined(" + ", present), ")")
        total = zero
        for term in present:
            total = self.arithmetic("+", total, term)
        return total

    def fn_isnumber(self, x: Typed) -> Typed:
        return Typed("bool", sql("(", self.num(x), " IS NOT NULL)"))

    def fn_isinteger(self, x: Typed) -> Typed:
        return Typed(
            "bool",
            self.let(
                [self.num(x)],
                lambda v: sql("COALESCE(", v, " = trunc(", v, "), ", self.boolean(False), ")"),
            ),
        )

    def lower(self, text: Sql) -> Sql:
        if self.pg:
            return sql(
                "translate(", text, ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
            )
        return sql("lower(", text, ")")  # SQLite's lower() changes ASCII letters only

    def upper(self, text: Sql) -> Sql:
        if self.pg:
            return sql(
                "translate(", text, ", 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
            )
        return sql("upper(", text, ")")

    def position(self, needle: Sql, haystack: Sql) -> Sql:
        return (
            sql("strpos(", haystack, ", ", needle, ")")
            if self.pg
            else sql("instr(", haystack, ", ", needle, ")")
        )

    def fn_contains(self, haystack: Typed, needle: Typed) -> Typed:
        found = self.position(
            self.lower(self.nonblank_text(needle)), self.lower(self.nonblank_text(haystack))
        )
        return Typed("bool", sql("(", found, " > 0)"))

    def fn_not_contain(self, haystack: Typed, needle: Typed) -> Typed:
        return Typed("bool", sql("(NOT ", self.fn_contains(haystack, needle).sql, ")"))

    def fn_starts_with(self, haystack: Typed, needle: Typed) -> Typed:
        return self.let_texts(
            [haystack, needle],
            lambda h, n: Typed("bool", sql("(substr(", h, ", 1, ", self.length(n), ") = ", n, ")")),
        )

    def fn_ends_with(self, haystack: Typed, needle: Typed) -> Typed:
        def ends(h: Sql, n: Sql) -> Typed:
            tail = sql("substr(", h, ", ", self.length(h), " - ", self.length(n), " + 1)")
            return Typed(
                "bool",
                sql(
                    "(",
                    self.length(n),
                    " = 0 OR (",
                    self.length(n),
                    " <= ",
                    self.length(h),
                    " AND ",
                    tail,
                    " = ",
                    n,
                    "))",
                ),
            )

        return self.let_texts([haystack, needle], ends)

    def let_texts(self, args: Sequence[Typed], body: Callable[..., Typed]) -> Typed:
        """Bind lower-cased non-blank texts once (for the case-insensitive tests)."""
        holder: list[str] = []

        def build(*names: Sql) -> Sql:
            result = body(*names)
            holder.append(result.kind)
            return result.sql

        bound = self.let([self.lower(self.nonblank_text(arg)) for arg in args], build)
        return Typed(holder[0], bound)

    def length(self, text: Sql) -> Sql:
        return sql("char_length(", text, ")") if self.pg else sql("length(", text, ")")

    def fn_find(self, needle: Typed, haystack: Typed) -> Typed:
        found = self.position(
            self.lower(self.nonblank_text(needle)), self.lower(self.nonblank_text(haystack))
        )
        return Typed(
            "num", sql("CAST(", found, " AS double precision)" if self.pg else " AS REAL)")
        )

    def count(self, typed: Typed) -> Sql:
        """A whole count for substr: truncated, clamped to what an integer holds."""
        kind = "integer" if self.pg else "INTEGER"
        return self.let(
            [self.num(typed)],
            lambda n: sql(
                "CAST(trunc(CASE WHEN ",
                n,
                " > 1000000000 THEN 1000000000 WHEN ",
                n,
                " < -1000000000 THEN -1000000000 ELSE ",
                n,
                f" END) AS {kind})",
            ),
        )

    def fn_left(self, text: Typed, n: Typed) -> Typed:
        return self.text_result(
            self.let(
                [self.nonblank_text(text), self.count(n)],
                lambda t, c: sql(
                    "CASE WHEN ",
                    c,
                    " IS NULL OR ",
                    c,
                    " <= 0 THEN '' ELSE substr(",
                    t,
                    ", 1, ",
                    c,
                    ") END",
                ),
            )
        )

    def fn_right(self, text: Typed, n: Typed) -> Typed:
        return self.text_result(
            self.let(
                [self.nonblank_text(text), self.count(n)],
                lambda t, c: sql(
                    "CASE WHEN ",
                    c,
                    " IS NULL OR ",
                    c,
                    " <= 0 THEN '' WHEN ",
                    c,
                    " >= ",
                    self.length(t),
                    " THEN ",
                    t,
                    " ELSE substr(",
                    t,
                    ", ",
                    self.length(t),
                    " - ",
                    c,
                    " + 1) END",
                ),
            )
        )

    def fn_mid(self, text: Typed, start: Typed, n: Typed) -> Typed:
        return self.text_result(
            self.let(
                [self.nonblank_text(text), self.count(start), self.count(n)],
                lambda t, s, c: sql(
                    "CASE WHEN ",
                    s,
                    " IS NULL OR ",
                    c,
                    " IS NULL OR ",
                    c,
                    " <= 0 THEN '' ",
                    "ELSE substr(",
                    t,
                    ", CASE WHEN ",
                    s,
                    " < 1 THEN 1 ELSE ",
                    s,
                    " END, ",
                    c,
                    ") END",
                ),
            )
        )

    def fn_length(self, text: Typed) -> Typed:
        return Typed(
            "num",
            sql(
                "CAST(",
                self.length(self.nonblank_text(text)),
                " AS double precision)" if self.pg else " AS REAL)",
            ),
        )

    def fn_trim(self, text: Typed) -> Typed:
        characters = (
            "' ' || chr(9) || chr(13) || chr(10)"
            if self.pg
            else "' ' || char(9) || char(13) || char(10)"
        )
        if self.pg:
            trimmed = sql("btrim(", self.nonblank_text(text), f", {characters})")
        else:
            trimmed = sql("trim(", self.nonblank_text(text), f", {characters})")
        return self.text_result(trimmed)

    def fn_upper(self, text: Typed) -> Typed:
        return self.text_result(self.upper(self.nonblank_text(text)))

    def fn_lower(self, text: Typed) -> Typed:
        return self.text_result(self.lower(self.nonblank_text(text)))

    def fn_replace_text(self, haystack: Typed, search: Typed, replacement: Typed) -> Typed:
        return self.text_result(
            self.let(
                [
                    self.nonblank_text(haystack),
                    self.nonblank_text(search),
                    self.nonblank_text(replacement),
                ],
                lambda h, s, r: sql(
                    "CASE WHEN ",
                    s,
                    " = '' THEN ",
                    h,
                    " ELSE replace(",
                    h,
                    ", ",
                    s,
                    ", ",
                    r,
                    ") END",
                ),
            )
        )

    def fn_concat(self, *args: Typed) -> Typed:
        if not args:
            return Typed("text", self.null_text())
        return self.text_result(joined(" || ", [self.nonblank_text(arg) for arg in args]))

    def fn_concat_ws(self, separator: Typed, *args: Typed) -> Typed:
        if not args:
            return Typed("text", self.null_text())

        def build(sep: Sql, *values: Sql) -> Sql:
            pieces = [
                sql("CASE WHEN ", value, " IS NULL THEN '' ELSE ", sep, " || ", value, " END")
                for value in values
            ]
            joined_text = joined(" || ", pieces)
            return sql("substr(", joined_text, ", ", self.length(sep), " + 1)")

        return self.text_result(
            self.let([self.nonblank_text(separator), *[self.text(a) for a in args]], build)
        )

    # --- dates -------------------------------------------------------------------------------

    def matches_date(self, text: Sql, order: str) -> Sql:
        """Rule 10's shape (digits and separators) for ymd, or for mdy/dmy."""
        if self.pg:
            head = "[0-9]{4}-[0-9]{2}-[0-9]{2}" if order == "ymd" else "[0-9]{2}-[0-9]{2}-[0-9]{4}"
            return sql("(", text, f" ~ '^{head}( [0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}})?)?$')")
        digit = "[0-9]"
        head = (
            f"{digit * 4}-{digit * 2}-{digit * 2}"
            if order == "ymd"
            else f"{digit * 2}-{digit * 2}-{digit * 4}"
        )
        clock = f" {digit * 2}:{digit * 2}"
        shapes = [head, head + clock, head + clock + f":{digit * 2}"]
        return sql("(", joined(" OR ", [sql(text, f" GLOB '{shape}'") for shape in shapes]), ")")

    def integer(self, text: Sql, start: int, length: int) -> Sql:
        kind = "integer" if self.pg else "INTEGER"
        return sql("CAST(substr(", text, f", {start}, {length}) AS {kind})")

    def epoch_seconds(self, text: Sql, date_format: Sql, known_format: str | None) -> Sql:
        """Seconds since 1970 of a date or datetime text, or NULL (never an error).

        ISO is always accepted; `mdy`/`dmy` add their order. When the format is a literal, only
        the orders it allows are compiled."""
        clock = [self.optional_integer(text, start) for start in (12, 15, 18)]
        year_last = self.integer(text, 7, 4)
        orders = {
            "ymd": [self.integer(text, 1, 4), self.integer(text, 6, 2), self.integer(text, 9, 2)],
            "mdy": [year_last, self.integer(text, 1, 2), self.integer(text, 4, 2)],
            "dmy": [year_last, self.integer(text, 4, 2), self.integer(text, 1, 2)],
        }
        parts: list[str | Sql] = ["(CASE"]
        for order, day_parts in orders.items():
            if known_format is not None and order not in ("ymd", known_format):
                continue
            parts.append(" WHEN ")
            if order != "ymd" and known_format is None:
                parts += [date_format, f" = '{order}' AND "]
            parts += [
                self.matches_date(text, order),
                " THEN ",
                self.civil_seconds(*day_parts, *clock),
            ]
        parts.append(" END)")
        return sql(*parts)

    def optional_integer(self, text: Sql, start: int) -> Sql:
        return sql(
            "(CASE WHEN ",
            self.length(text),
            f" >= {start + 1} THEN ",
            self.integer(text, start, 2),
            " ELSE 0 END)",
        )

    def civil_seconds(self, *parts: Sql) -> Sql:
        """Days from the civil calendar by integer arithmetic (no casts that could fail)."""

        def build(y: Sql, m: Sql, d: Sql, hh: Sql, mm: Sql, ss: Sql) -> Sql:
            def divisible(divisor: int) -> Sql:
                return (
                    sql("mod(", y, f", {divisor}) = 0") if self.pg else sql(y, f" % {divisor} = 0")
                )

            leap = sql(
                "((", divisible(4), " AND NOT ", divisible(100), ") OR ", divisible(400), ")"
            )
            month_days = sql(
                "(CASE WHEN ",
                m,
                " = 2 THEN (CASE WHEN ",
                leap,
                " THEN 29 ELSE 28 END) ",
                "WHEN ",
                m,
                " IN (4, 6, 9, 11) THEN 30 ELSE 31 END)",
            )
            valid = sql(
                y,
                " >= 1 AND ",
                m,
                " BETWEEN 1 AND 12 AND ",
                d,
                " >= 1 AND ",
                d,
                " <= ",
                month_days,
                " AND ",
                hh,
                " <= 23 AND ",
                mm,
                " <= 59 AND ",
                ss,
                " <= 59",
            )
            shifted = sql("(", y, " - (CASE WHEN ", m, " <= 2 THEN 1 ELSE 0 END))")
            days = self.let(
                [shifted],
                lambda sy: sql(
                    "((",
                    sy,
                    " / 400) * 146097 + (",
                    sy,
                    " - (",
                    sy,
                    " / 400) * 400) * 365 + (",
                    sy,
                    " - (",
                    sy,
                    " / 400) * 400) / 4 - (",
                    sy,
                    " - (",
                    sy,
                    " / 400) * 400) / 100 + (153 * (",
                    m,
                    " + (CASE WHEN ",
                    m,
                    " > 2 THEN -3 ELSE 9 END)) + 2) / 5 + ",
                    d,
                    " - 1 - 719468)",
                ),
            )
            seconds = sql("(", days, " * 86400.0 + ", hh, " * 3600 + ", mm, " * 60 + ", ss, ")")
            return sql("CASE WHEN ", valid, " THEN ", seconds, " END")

        return self.let(list(parts), build)

    def now_seconds(self) -> Sql:
        if self.pg:
            return Sql("CAST(floor(extract(epoch FROM now())) AS double precision)")
        return Sql("CAST(strftime('%s', 'now') AS REAL)")

    def moment(self, typed: Typed, date_format: Sql, known_format: str | None) -> Sql:
        now = self.now_seconds()
        today = sql("(floor(", now, " / 86400) * 86400)")
        keyword = typed.literal.lower() if isinstance(typed.literal, str) else None
        if keyword == "today":
            return today
        if keyword == "now":
            return now

        def build(text: Sql) -> Sql:
            lowered = self.lower(text)
            return sql(
                "(CASE WHEN ",
                lowered,
                " = 'today' THEN ",
                today,
                " WHEN ",
                lowered,
                " = 'now' THEN ",
                now,
                " ELSE ",
                self.epoch_seconds(text, date_format, known_format),
                " END)",
            )

        return self.let([self.text(typed)], build)

    def datediff(self, args: list[Typed]) -> Sql:
        units = self.nonblank_text(args[2])
        date_format = self.nonblank_text(args[3]) if len(args) > 3 else self.string("ymd")
        known = args[3].literal if len(args) > 3 else "ymd"
        known_format = known if known in ("ymd", "mdy", "dmy") else None
        signed = self.cond(args[4]) if len(args) > 4 else self.boolean(False)
        seconds = " ".join(
            f"WHEN '{unit}' THEN {value!r}" for unit, value in SECONDS_PER_UNIT.items()
        )

        def build(unit: Sql, fmt: Sql, first: Sql, second: Sql, is_signed: Sql) -> Sql:
            per_unit = sql("(CASE ", unit, f" {seconds} END)")
            difference = sql("((", second, " - ", first, ") / ", per_unit, ")")
            return sql(
                "CASE WHEN ",
                fmt,
                " NOT IN ('ymd', 'mdy', 'dmy') OR ",
                first,
                " IS NULL OR ",
                second,
                " IS NULL OR ",
                per_unit,
                " IS NULL THEN NULL WHEN ",
                is_signed,
                " THEN ",
                difference,
                " ELSE abs(",
                difference,
                ") END",
            )

        return self.let(
            [
                units,
                date_format,
                self.moment(args[0], date_format, known_format),
                self.moment(args[1], date_format, known_format),
                signed,
            ],
            build,
        )

    def date_part(self, x: Typed, start: int, length: int) -> Typed:
        def build(text: Sql) -> Sql:
            valid = sql("(", self.epoch_seconds(text, Sql("'ymd'"), "ymd"), " IS NOT NULL)")
            part = self.integer(text, start, length)
            return sql(
                "CASE WHEN ",
                valid,
                " THEN CAST(",
                part,
                " AS double precision)" if self.pg else " AS REAL)",
                " END",
            )

        return Typed("num", self.let([self.text(x)], build))

    def fn_year(self, x: Typed) -> Typed:
        return self.date_part(x, 1, 4)

    def fn_month(self, x: Typed) -> Typed:
        return self.date_part(x, 6, 2)

    def fn_day(self, x: Typed) -> Typed:
        return self.date_part(x, 9, 2)


# --- public API ------------------------------------------------------------------------------


def compile_value(ast: AST, field_sql: Callable[[str], str], dialect: str) -> tuple[str, list]:
    """A SQL expression for the value (NULL for blank) and its parameters."""
    compiled = Compiler(field_sql, dialect).compile(ast)
    return compiled.sql.text, list(compiled.sql.params)


def compile_expression(ast: AST, field_sql: Callable[[str], str], dialect: str) -> tuple[str, list]:
    """The name the helpers agreed on (see `compile_value`)."""
    return compile_value(ast, field_sql, dialect)


def compile_condition(ast: AST, field_sql: Callable[[str], str], dialect: str) -> tuple[str, list]:
    """A SQL boolean (never NULL) that is true when the logic is true (rule 5)."""
    compiler = Compiler(field_sql, dialect)
    condition = compiler.cond(compiler.compile(ast))
    return condition.text, list(condition.params)


def compile_text(ast: AST, field_sql: Callable[[str], str], dialect: str) -> tuple[str, list]:
    """The value as text, exactly like `to_text` ('' for blank, never NULL)."""
    compiler = Compiler(field_sql, dialect)
    text = sql("COALESCE(", compiler.text(compiler.compile(ast)), ", '')")
    return text.text, list(text.params)


def _checked_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a field name")
    return name


def json_field_sql(column: str, dialect: str) -> Callable[[str], str]:
    """Fields read from a JSON column: jsonb `->>` on PostgreSQL, json_extract on SQLite."""
    column = _checked_name(column)
    if dialect == POSTGRES:
        return lambda name: f"({column} ->> '{_checked_name(name)}')"
    return lambda name: f"json_extract({column}, '$.\"{_checked_name(name)}\"')"


def column_field_sql(dialect: str) -> Callable[[str], str]:
    """Fields that are columns of the row (quoted identifiers)."""
    return lambda name: f'"{_checked_name(name)}"'


def evaluate_many(
    asts: Sequence[AST],
    records: Sequence[Mapping[str, str]],
    dialect: str = SQLITE,
    dsn: str | None = None,
) -> list[object]:
    """Evaluate asts[i] on records[i] in the database; one connection, rolled back."""
    if len(asts) != len(records):
        raise ValueError(f"{len(asts)} expressions but {len(records)} records")
    read = json_field_sql("data", dialect)
    compilers = [Compiler(read, dialect) for _ in asts]
    compiled = [compiler.compile(ast) for compiler, ast in zip(compilers, asts, strict=True)]
    with _connect(dialect, dsn) as connection:
        cursor = connection.cursor()
        if dialect == POSTGRES:  # JIT-compiling one-row queries only costs time
            cursor.execute("SET LOCAL jit = off")
        json_type = "jsonb" if dialect == POSTGRES else "TEXT"
        cursor.execute(
            f"CREATE TEMPORARY TABLE logic_records (id integer PRIMARY KEY, data {json_type})"
        )
        placeholder = "%s" if dialect == POSTGRES else "?"
        cursor.executemany(
            f"INSERT INTO logic_records VALUES ({placeholder}, {placeholder})",
            [(index, json.dumps(dict(record))) for index, record in enumerate(records)],
        )
        results = []
        for index, typed in enumerate(compiled):
            cursor.execute(
                f"SELECT {typed.sql.text} FROM logic_records WHERE id = {index}", typed.sql.params
            )
            results.append(_python_value(typed.kind, cursor.fetchone()[0]))
        connection.rollback()
    return results


def _python_value(kind: str, value: object) -> object:
    if value is None:
        return ""
    if kind == "bool":
        return bool(value)
    if kind == "num":
        return float(value)
    return value


def _connect(dialect: str, dsn: str | None):
    if dialect == SQLITE:
        import sqlite3

        return _closing(sqlite3.connect(":memory:"))
    import os

    import psycopg

    default = os.environ.get("GDSI_LOGIC_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    if not default.startswith("postgres"):
        default = "postgresql://postgres@127.0.0.1:5432/postgres"
    return psycopg.connect(dsn or default)


class _closing:
    """sqlite3's connection context manager commits but does not close; this closes."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, *exc_info) -> None:
        self.connection.close()
