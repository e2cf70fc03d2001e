"""Tokenizer and precedence-climbing parser for REDCap logic (docs/logic.md).

The result is the JSON-ready AST of the spec. Nothing here evaluates or rewrites text: features
we do not support are refused with a `LogicError` that names the feature and the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from casereports.logic.values import DATE_FORMATS

AST = dict[str, Any]

# name -> (minimum, maximum) argument count; None = no maximum.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    "round": (1, 2),
    "roundup": (1, 2),
    "rounddown": (1, 2),
    "abs": (1, 1),
    "sqrt": (1, 1),
    "exponential": (1, 1),
    "log": (1, 2),
    "mod": (2, 2),
    "sum": (1, None),
    "min": (1, None),
    "max": (1, None),
    "mean": (1, None),
    "median": (1, None),
    "stdev": (1, None),
    "isnumber": (1, 1),
    "isinteger": (1, 1),
    "contains": (2, 2),
    "not_contain": (2, 2),
    "starts_with": (2, 2),
    "ends_with": (2, 2),
    "find": (2, 2),
    "left": (2, 2),
    "right": (2, 2),
    "mid": (3, 3),
    "length": (1, 1),
    "trim": (1, 1),
    "upper": (1, 1),
    "lower": (1, 1),
    "replace_text": (3, 3),
    "concat": (1, None),
    "concat_ws": (2, None),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "datediff": (3, 5),
}
DATEDIFF_UNITS = ("y", "M", "d", "h", "m", "s")
KEYWORDS = ("and", "or", "not", "true", "false")
COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
# Binary operators handled by precedence climbing; `^` and the prefixes are handled apart.
BINARY_PRECEDENCE = {"or": 1, "and": 2, **dict.fromkeys(COMPARISONS, 4), "+": 5, "-": 5}
BINARY_PRECEDENCE.update({"*": 6, "/": 6})
NOT_PRECEDENCE = 3
MAX_NESTING = 100  # keeps the recursive parser and engines far from Python's recursion limit
MAX_DEPTH = 200

JAVASCRIPT_WORDS = frozenset(
    {"function", "var", "let", "const", "return", "new", "typeof", "null", "undefined", "else"}
)
INSTANCE_WORDS = frozenset(
    {"current-instance", "previous-instance", "next-instance", "first-instance", "last-instance"}
)
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_]*)(?:\(([^()]*)\))?")
_CODE = re.compile(r"[A-Za-z0-9_]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_EXPONENT = re.compile(r"[eE][-+]?[0-9]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = {"==": "=", "!=": "<>", "<>": "<>", "<=": "<=", ">=": ">="}
_SINGLE = {"=", "<", ">", "+", "-", "*", "/", "^", "(", ")", ","}
_JAVASCRIPT_TOKENS = ("===", "!==", "&&", "||", "=>", ";", "{", "}", "?")
_CURLY_QUOTES = "\u2018\u2019\u201c\u201d"


class LogicError(ValueError):
    """Logic that cannot be parsed or is not supported.

    `position` is the 0-based index into the text (the message says "character position+1");
    `feature` is a short stable name such as "smart variable" or "unknown function".
    """

    def __init__(self, message: str, position: int | None = None, feature: str | None = None):
        if position is not None:
            message = f"{message} (at character {position + 1})"
        super().__init__(message)
        self.message = message
        self.position = position
        self.feature = feature


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, field, name, op, end
    text: str
    position: int
    value: Any = None


def parse(text: str) -> AST:
    """Parse REDCap logic into the AST of docs/logic.md; raise LogicError when refused."""
    if not isinstance(text, str) or not text.strip():
        raise LogicError("the logic is empty", 0 if isinstance(text, str) else None, "empty")
    parser = _Parser(_Tokenizer(text).tokens())
    return parser.parse_all()


def referenced_fields(ast: AST) -> set[str]:
    """Names of the fields an AST reads; a checkbox option `[x(2)]` yields `x`."""
    found: set[str] = set()
    stack = [ast]
    while stack:
        node = stack.pop()
        if node["t"] == "field":
            found.add(node["name"])
        stack.extend(_children(node))
    return found


def _children(node: AST) -> list[AST]:
    if node["t"] in ("neg", "not"):
        return [node["e"]]
    if node["t"] == "bin":
        return [node["l"], node["r"]]
    if node["t"] == "call":
        return list(node["args"])
    return []


def _depth(ast: AST) -> int:
    deepest = 0
    stack = [(ast, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest


def _javascript(token: str, position: int) -> LogicError:
    hint = {"=>": "; did you mean '>='?", "!": "; write 'not' or '<>'"}.get(token, "")
    return LogicError(
        f"this looks like JavaScript, not REDCap logic: '{token}' is not allowed{hint}",
        position,
        "javascript",
    )


class _Tokenizer:
    def __init__(self, text: str):
        self.text = text
        self.index = 0

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while True:
            token = self._next()
            found.append(token)
            if token.kind == "end":
                return found

    def _next(self) -> Token:
        text = self.text
        while self.index < len(text) and text[self.index].isspace():
            self.index += 1
        if self.index >= len(text):
            return Token("end", "", len(text))
        char = text[self.index]
        if char.isascii() and (char.isdigit() or (char == "." and self._peek_digit())):
            return self._number()
        if char in "'\"":
            return self._string(char)
        if char == "[":
            return self._field()
        if char.isascii() and (char.isalpha() or char == "_"):
            return self._name()
        return self._operator()

    def _peek_digit(self) -> bool:
        following = self.text[self.index + 1 : self.index + 2]
        return following.isascii() and following.isdigit()

    def _number(self) -> Token:
        start = self.index
        match = _NUMBER.match(self.text, start)
        assert match is not None  # guaranteed by the caller's look-ahead
        self.index = match.end()
        if _EXPONENT.match(self.text, self.index):
            raise LogicError(
                f"numbers are written without an exponent: '{self._word_from(start)}'",
                start,
                "invalid number",
            )
        following = self.text[self.index : self.index + 1]
        if following == "." or (following.isascii() and (following.isalnum() or following == "_")):
            raise LogicError(f"'{self._word_from(start)}' is not a number", start, "invalid number")
        value = float(match.group())
        if value == float("inf"):
            raise LogicError("the number is too large", start, "invalid number")
        if value.is_integer() and abs(value) < 2**53:
            value = int(value)
        return Token("num", match.group(), start, value)

    def _word_from(self, start: int) -> str:
        end = start
        while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._+-"):
            end += 1
        return self.text[start:end]

    def _string(self, quote: str) -> Token:
        start = self.index
        end = self.text.find(quote, start + 1)
        if end < 0:
            raise LogicError(
                f"the text starting with {quote} is never closed", start, "unterminated string"
            )
        self.index = end + 1
        return Token("str", self.text[start : end + 1], start, self.text[start + 1 : end])

    def _field(self) -> Token:
        start = self.index
        end = self._closing_bracket(start)
        content = self.text[start + 1 : end]
        self.index = end + 1
        if self.text.startswith("[", self.index):
            self._refuse_second_bracket(start, content)
        match = _FIELD.fullmatch(content)
        if match is None:
            raise self._bad_field(content, start)
        name, code = match.groups()
        if code is not None and _CODE.fullmatch(code) is None:
            raise LogicError(
                f"checkbox option code '{code}' in [{content}] must be letters, digits or "
                "underscores",
                start,
                "invalid field reference",
            )
        value = (
            {"t": "field", "name": name}
            if code is None
            else {"t": "field", "name": name, "code": code}
        )
        return Token("field", self.text[start : end + 1], start, value)

    def _closing_bracket(self, start: int) -> int:
        end = self.text.find("]", start + 1)
        inner_open = self.text.find("[", start + 1)
        if end < 0 or 0 <= inner_open < end:
            raise LogicError("'[' is never closed by ']'", start, "unbalanced brackets")
        return end

    def _refuse_second_bracket(self, start: int, first: str) -> None:
        second_start = self.index
        second_end = self._closing_bracket(second_start)
        second = self.text[second_start + 1 : second_end]
        if second.isdigit() or second in INSTANCE_WORDS:
            raise LogicError(
                f"repeating-instance references such as [{first}][{second}] are not supported",
                start,
                "repeating-instance reference",
            )
        raise LogicError(
            f"cross-event references such as [{first}][{second}] are not supported "
            "(the platform has no events)",
            start,
            "cross-event reference",
        )

    @staticmethod
    def _bad_field(content: str, start: int) -> LogicError:
        if "-" in content or ":" in content:
            return LogicError(
                f"smart variables such as [{content}] are not supported", start, "smart variable"
            )
        if not content:
            return LogicError("empty field reference []", start, "invalid field reference")
        return LogicError(
            f"[{content}] is not a field reference: write [name] or [name(code)] with a name of "
            "letters, digits and underscores starting with a letter",
            start,
            "invalid field reference",
        )

    def _name(self) -> Token:
        start = self.index
        match = _NAME.match(self.text, start)
        assert match is not None  # guaranteed by the caller's look-ahead
        self.index = match.end()
        word = match.group()
        if word in JAVASCRIPT_WORDS or self.text.startswith(".", self.index):
            dotted = word + "." if self.text.startswith(".", self.index) else word
            raise _javascript(dotted, start)
        return Token("name", word, start, word.lower())

    def _operator(self) -> Token:
        start = self.index
        text = self.text
        for javascript in _JAVASCRIPT_TOKENS:
            if text.startswith(javascript, start):
                raise _javascript(javascript, start)
        if text.startswith("!", start) and not text.startswith("!=", start):
            raise _javascript("!", start)
        for written, operator in _OPERATORS.items():
            if text.startswith(written, start):
                self.index += len(written)
                return Token("op", written, start, operator)
        char = text[start]
        if char in _SINGLE:
            self.index += 1
            return Token("op", char, start, char)
        raise self._unexpected_character(char, start)

    @staticmethod
    def _unexpected_character(char: str, start: int) -> LogicError:
        if char == "]":
            return LogicError("']' has no matching '['", start, "unbalanced brackets")
        if char in _CURLY_QUOTES:
            return LogicError(
                "curly quotes are not allowed; use straight quotes ' or \"", start, "syntax"
            )
        if char == "%":
            return LogicError("'%' is not an operator; use mod(a, b)", start, "syntax")
        return LogicError(f"unexpected character '{char}'", start, "syntax")


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.index = 0
        self.nesting = 0

    def parse_all(self) -> AST:
        ast = self._expression(0)
        if _depth(ast) > MAX_DEPTH:
            raise LogicError(
                f"the logic is too deeply nested (more than {MAX_DEPTH} levels); "
                "use sum(...) for long additions",
                0,
                "too complex",
            )
        token = self._peek()
        if token.kind != "end":
            if token.value == ")":
                raise LogicError(
                    "')' has no matching '('", token.position, "unbalanced parentheses"
                )
            raise LogicError(
                f"expected an operator or the end of the logic, found '{token.text}'",
                token.position,
                "syntax",
            )
        return ast

    # --- token helpers -------------------------------------------------------------------

    def _peek(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is_op(self, token: Token, *operators: str) -> bool:
        return token.kind == "op" and token.value in operators

    def _binary_operator(self, token: Token) -> str | None:
        if token.kind == "op" and token.value in BINARY_PRECEDENCE:
            return token.value
        if token.kind == "name" and token.value in ("and", "or"):
            return token.value
        return None

    def _enter(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise LogicError("the logic is nested too deeply", token.position, "too complex")

    # --- grammar ---------------------------------------------------------------------------

    def _expression(self, min_precedence: int) -> AST:
        """Precedence climbing over `or`, `and`, comparisons, `+ -` and `* /`."""
        self._enter(self._peek())
        left = self._prefix(min_precedence)
        while True:
            token = self._peek()
            operator = self._binary_operator(token)
            if operator is None or BINARY_PRECEDENCE[operator] < min_precedence:
                break
            self._advance()
            precedence = BINARY_PRECEDENCE[operator]
            right = self._expression(precedence + 1)
            left = {"t": "bin", "op": operator, "l": left, "r": right}
            if operator in COMPARISONS and self._is_op(self._peek(), *COMPARISONS):
                raise LogicError(
                    "comparisons do not chain (a < b < c); combine them with 'and'",
                    self._peek().position,
                    "chained comparison",
                )
        self.nesting -= 1
        return left

    def _prefix(self, min_precedence: int) -> AST:
        token = self._peek()
        if token.kind == "name" and token.value == "not":
            if min_precedence > NOT_PRECEDENCE:
                raise LogicError(
                    "'not' must start a whole condition; put it in parentheses",
                    token.position,
                    "syntax",
                )
            self._advance()
            return {"t": "not", "e": self._expression(NOT_PRECEDENCE)}
        return self._unary()

    def _unary(self) -> AST:
        token = self._peek()
        if self._is_op(token, "-", "+"):
            self._enter(token)
            self._advance()
            operand = self._unary()
            self.nesting -= 1
            return {"t": "neg", "e": operand} if token.value == "-" else operand
        return self._power()

    def _power(self) -> AST:
        base = self._atom()
        if self._is_op(self._peek(), "^"):
            self._advance()
            return {"t": "bin", "op": "^", "l": base, "r": self._unary()}
        return base

    def _atom(self) -> AST:
        token = self._advance()
        if token.kind == "num":
            return {"t": "num", "v": token.value}
        if token.kind == "str":
            return {"t": "str", "v": token.value}
        if token.kind == "field":
            return dict(token.value)
        if token.kind == "name":
            return self._name_atom(token)
        if self._is_op(token, "("):
            return self._parenthesised(token)
        raise self._missing_value(token)

    def _missing_value(self, token: Token) -> LogicError:
        if token.kind == "end":
            return LogicError("the logic ends where a value was expected", token.position, "syntax")
        if self._is_op(token, ")"):
            return LogicError("expected a value before ')'", token.position, "syntax")
        return LogicError(f"expected a value, found '{token.text}'", token.position, "syntax")

    def _parenthesised(self, opening: Token) -> AST:
        inner = self._expression(0)
        closing = self._advance()
        if not self._is_op(closing, ")"):
            if closing.kind == "end":
                raise LogicError(
                    "'(' is never closed by ')'", opening.position, "unbalanced parentheses"
                )
            raise LogicError(
                f"expected ')' or an operator, found '{closing.text}'", closing.position, "syntax"
            )
        return inner

    def _name_atom(self, token: Token) -> AST:
        word = token.value
        if word in ("true", "false"):
            return {"t": "bool", "v": word == "true"}
        if self._is_op(self._peek(), "("):
            return self._call(token)
        if word in KEYWORDS:
            raise LogicError(f"expected a value before '{token.text}'", token.position, "syntax")
        if word in FUNCTIONS:
            raise LogicError(
                f"the function {word} needs parentheses: {word}(...)", token.position, "syntax"
            )
        raise LogicError(
            f"'{token.text}' is not a value: field names go in square brackets, e.g. "
            f"[{token.text}]; text goes in quotes",
            token.position,
            "bare name",
        )

    def _call(self, name: Token) -> AST:
        function = name.value
        if function not in FUNCTIONS:
            raise LogicError(f"unknown function '{name.text}'", name.position, "unknown function")
        opening = self._advance()
        self._enter(opening)
        args = [] if self._is_op(self._peek(), ")") else self._arguments()
        closing = self._advance()
        if not self._is_op(closing, ")"):
            if closing.kind == "end":
                raise LogicError(
                    "'(' is never closed by ')'", opening.position, "unbalanced parentheses"
                )
            raise LogicError(
                f"expected ',' or ')' in {function}(...), found '{closing.text}'",
                closing.position,
                "syntax",
            )
        self.nesting -= 1
        _check_argument_count(function, len(args), name.position)
        if function == "datediff":
            args = _datediff_arguments(args, name.position)
        return {"t": "call", "fn": function, "args": args}

    def _arguments(self) -> list[AST]:
        args = [self._expression(0)]
        while self._is_op(self._peek(), ","):
            self._advance()
            args.append(self._expression(0))
        return args


def _check_argument_count(function: str, count: int, position: int) -> None:
    minimum, maximum = FUNCTIONS[function]
    if minimum <= count and (maximum is None or count <= maximum):
        return
    if maximum is None:
        expected = f"at least {minimum}"
    elif minimum == maximum:
        expected = f"exactly {minimum}"
    else:
        expected = f"{minimum} to {maximum}"
    largest = minimum if maximum is None else maximum
    noun = "argument" if largest == 1 else "arguments"
    raise LogicError(
        f"{function}() takes {expected} {noun}, not {count}",
        position,
        "argument count",
    )


def _datediff_arguments(args: list[AST], position: int) -> list[AST]:
    """Check literal units/format; read REDCap's datediff(a, b, units, true) as signed."""
    if len(args) == 4 and args[3]["t"] == "bool":
        args = [*args[:3], {"t": "str", "v": "ymd"}, args[3]]
    units, date_format = args[2], args[3] if len(args) > 3 else None
    if units["t"] == "str" and units["v"] not in DATEDIFF_UNITS:
        raise LogicError(
            f"datediff units must be one of {', '.join(DATEDIFF_UNITS)}, not '{units['v']}'",
            position,
            "datediff units",
        )
    literal_format = date_format["v"] if date_format and date_format["t"] == "str" else None
    if literal_format is not None and literal_format not in DATE_FORMATS:
        raise LogicError(
            f"datediff date format must be one of {', '.join(DATE_FORMATS)}, "
            f"not '{literal_format}'",
            position,
            "datediff format",
        )
    return args
