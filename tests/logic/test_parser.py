"""The logic parser: AST shape, refusals with named features and positions, field references."""

import json

import pytest

from casereports.logic import FUNCTIONS, LogicError, parse, referenced_fields
from casereports.logic.evaluate import FUNCTION_IMPLEMENTATIONS


def num(value):
    return {"t": "num", "v": value}


def field(name, code=None):
    return (
        {"t": "field", "name": name} if code is None else {"t": "field", "name": name, "code": code}
    )


def binary(op, left, right):
    return {"t": "bin", "op": op, "l": left, "r": right}


@pytest.mark.parametrize(
    ("text", "ast"),
    [
        ("1.5", num(1.5)),
        ("2", num(2)),
        ("'yes'", {"t": "str", "v": "yes"}),
        ('""', {"t": "str", "v": ""}),
        ("TRUE", {"t": "bool", "v": True}),
        ("[age]", field("age")),
        ("[sym(2)]", field("sym", "2")),
        ("-2^2", {"t": "neg", "e": binary("^", num(2), num(2))}),
        ("2^3^2", binary("^", num(2), binary("^", num(3), num(2)))),
        ("2^-1", binary("^", num(2), {"t": "neg", "e": num(1)})),
        ("1+2*3", binary("+", num(1), binary("*", num(2), num(3)))),
        ("10-2-3", binary("-", binary("-", num(10), num(2)), num(3))),
        ("+5", num(5)),
        ("not [a] = [b]", {"t": "not", "e": binary("=", field("a"), field("b"))}),
        (
            "[a] or [b] and [c]",
            binary("or", field("a"), binary("and", field("b"), field("c"))),
        ),
        ("[a] == 1", binary("=", field("a"), num(1))),
        ("[a] != 1", binary("<>", field("a"), num(1))),
        ("[a] <> 1", binary("<>", field("a"), num(1))),
        ("[a] >= 1", binary(">=", field("a"), num(1))),
        (
            "ROUND([x], 1)",
            {"t": "call", "fn": "round", "args": [field("x"), num(1)]},
        ),
        (
            "datediff([a], [b], 'd', true)",
            {
                "t": "call",
                "fn": "datediff",
                "args": [
                    field("a"),
                    field("b"),
                    {"t": "str", "v": "d"},
                    {"t": "str", "v": "ymd"},
                    {"t": "bool", "v": True},
                ],
            },
        ),
    ],
)
def test_ast_shape(text, ast):
    assert parse(text) == ast


def test_ast_is_plain_json():
    ast = parse("if([sym(1)] = '1' and datediff([d], 'today', 'y') > 5, concat('a', 1.5), -[x])")
    assert json.loads(json.dumps(ast)) == ast


@pytest.mark.parametrize(
    ("text", "feature", "words", "position"),
    [
        ("[event-name] = 'x'", "smart variable", "[event-name]", 0),
        ("[user-name] <> ''", "smart variable", "smart variables", 0),
        ("[x] + [aggregate-sum:age]", "smart variable", "[aggregate-sum:age]", 6),
        ("[age:value] > 5", "smart variable", "smart variables", 0),
        ("[event_1_arm_1][age] > 5", "cross-event reference", "cross-event", 0),
        ("[age][2] > 5", "repeating-instance reference", "repeating-instance", 0),
        ("[age][previous-instance]", "repeating-instance reference", "repeating-instance", 0),
        ("1 + frobnicate([x])", "unknown function", "unknown function 'frobnicate'", 4),
        ("__import__('os')", "unknown function", "__import__", 0),
        ("Math.round([x])", "javascript", "looks like JavaScript", 0),
        ("[a] = 1 && [b] = 2", "javascript", "'&&'", 8),
        ("[a] = 1 || [b] = 2", "javascript", "'||'", 8),
        ("[a] = 1;", "javascript", "';'", 7),
        ("{ [a] }", "javascript", "'{'", 0),
        ("[a] }", "javascript", "'}'", 4),
        ("[a] => 1", "javascript", "did you mean '>='", 4),
        ("!([a] = 1)", "javascript", "'!'", 0),
        ("[a] === 1", "javascript", "'==='", 4),
        ("function f() { return 1 }", "javascript", "'function'", 0),
        ("var x = 1", "javascript", "'var'", 0),
        ("return 1", "javascript", "'return'", 0),
        ("", "empty", "empty", 0),
        ("  \n ", "empty", "empty", 0),
        ("(1 + 2", "unbalanced parentheses", "never closed", 0),
        ("round(1 + 2", "unbalanced parentheses", "never closed", 5),
        ("1 + 2)", "unbalanced parentheses", "no matching '('", 5),
        ("[age > 5", "unbalanced brackets", "never closed", 0),
        ("age] > 5", "unbalanced brackets", "no matching '['", 3),
        ("round(1, 2, 3)", "argument count", "round() takes 1 to 2 arguments, not 3", 0),
        ("if(1, 2)", "argument count", "if() takes exactly 3 arguments, not 2", 0),
        ("abs()", "argument count", "abs() takes exactly 1 argument, not 0", 0),
        ("sum()", "argument count", "sum() takes at least 1 argument, not 0", 0),
        ("datediff([a], [b])", "argument count", "datediff() takes 3 to 5 arguments", 0),
        ("1 < 2 < 3", "chained comparison", "do not chain", 6),
        ("age > 5", "bare name", "[age]", 0),
        ("[x] = 'yes", "unterminated string", "never closed", 6),
        ("1e5 > 3", "invalid number", "exponent", 0),
        ("datediff([a], [b], 'days')", "datediff units", "'days'", 0),
        ("datediff([a], [b], 'd', 'iso')", "datediff format", "'iso'", 0),
        ("[a] = 1 and", "syntax", "ends where a value was expected", 11),
        ("[a] % 2", "syntax", "mod(a, b)", 4),
        ("1 + not 1", "syntax", "'not'", 4),
        ("[a] = \u201cyes\u201d", "syntax", "curly quotes", 6),
        ("[sym(1,2)]", "invalid field reference", "checkbox option code '1,2'", 0),
        ("[]", "invalid field reference", "empty field reference", 0),
    ],
)
def test_refusals_name_the_feature_and_position(text, feature, words, position):
    with pytest.raises(LogicError) as caught:
        parse(text)
    error = caught.value
    assert error.feature == feature
    assert words in error.message
    assert error.position == position
    assert f"at character {position + 1}" in str(error)


def test_javascript_message_says_it_is_not_redcap_logic():
    with pytest.raises(LogicError, match="this looks like JavaScript, not REDCap logic"):
        parse("[a] == 1 && [b] == 2")


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(LogicError) as caught:
        parse("(" * 500 + "1" + ")" * 500)
    assert caught.value.feature == "too complex"
    with pytest.raises(LogicError) as caught:
        parse(" + ".join(["[a]"] * 400))
    assert caught.value.feature == "too complex"


def test_long_but_reasonable_logic_parses():
    assert parse(" + ".join(f"[f{i}]" for i in range(150)))["t"] == "bin"


def test_referenced_fields_names_checkbox_fields_once():
    ast = parse(
        "[a] = 1 and ([sym(1)] = '1' or [sym(2)] = '1') and datediff([d1], 'today', 'y') > 5"
    )
    assert referenced_fields(ast) == {"a", "sym", "d1"}


def test_referenced_fields_of_a_literal_is_empty():
    assert referenced_fields(parse("1 + 2")) == set()


def test_every_function_has_a_python_implementation():
    assert set(FUNCTIONS) == set(FUNCTION_IMPLEMENTATIONS) | {"if", "datediff"}


def test_function_names_are_stored_lower_case():
    assert parse("CONCAT_WS(' ', 'a', 'b')")["fn"] == "concat_ws"


def test_logic_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse("foo(1)")
