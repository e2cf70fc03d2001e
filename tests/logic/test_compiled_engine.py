"""The compiled engine gives exactly the interpreter's results.

The shared conformance file must pass on it, and on every conformance case and on thousands of
random expressions over awkward values its result must be the interpreter's own value, of the
same Python type (or the same exception).
"""

import json
import math
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from casereports.logic import FUNCTIONS, LogicError, evaluate, parse
from casereports.logic.__main__ import check_cases, read_cases
from casereports.logic.compiled import (
    BOOL,
    FLOAT,
    NUMBLANK,
    RESULT_KINDS,
    STR,
    compile_logic,
    evaluate_compiled,
    evaluate_many,
)
from casereports.logic.evaluate import FUNCTION_IMPLEMENTATIONS

HERE = Path(__file__).parent
CONFORMANCE = HERE / "conformance.jsonl"
TODAY = date(2021, 3, 1)
NOW = datetime(2021, 3, 1, 6, 30, 15)

AWKWARD_VALUES = [
    "", "0", "-0", "1", "2.5", "18", "-3", "+3", "5.", ".5", " 5", "1e3", "abc", "ABC", "yes",
    "no", "#N/A", "2020-05-31", "2021-02-30", "2020-01-01 10:30", "31-12-2020", "12-31-2020",
    "today", "Now", "1" + "0" * 200, "9" * 400, "-" + "9" * 400, "0.1", "110", "111",
]  # fmt: skip
LITERALS = [
    "0", "1", "2.5", "18", "100", ".5", "''", "'yes'", "'abc'", "'10'", "'2020-05-31'",
    "'today'", "'now'", "' 5'", "'-0'", "true", "false",
]  # fmt: skip
FIELDS = ["[a]", "[b]", "[c]", "[d]", "[cb(1)]", "[cb(2)]"]
BINARY = ["+", "-", "*", "/", "^", "=", "<>", "<", "<=", ">", ">=", "and", "or"]


def same(expected: object, got: object) -> bool:
    """Identical values: same type and equal (NaN equals NaN)."""
    if type(expected) is not type(got):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(got)
    return expected == got


def outcome(function, *args, **kwargs) -> tuple[str, object]:
    try:
        return "value", function(*args, **kwargs)
    except Exception as problem:  # the interpreter raises for a few data (stdev overflow)
        return "raises", type(problem)


def assert_same_outcome(ast, record, **options) -> None:
    expected = outcome(evaluate, ast, record, **options)
    got = outcome(evaluate_compiled, ast, record, **options)
    assert expected[0] == got[0] and same(expected[1], got[1]), (ast, record, expected, got)


# --- the conformance file ------------------------------------------------------------------


def test_conformance_file_passes_on_the_compiled_engine():
    cases = read_cases(str(CONFORMANCE))
    failures = check_cases(cases, evaluate_many)
    assert len(cases) >= 900
    assert not failures, [(f.case.line, f.case.expr, f.got) for f in failures[:10]]


@pytest.mark.parametrize("options", [{"today": TODAY, "now": NOW}, {}])
def test_every_conformance_case_gives_the_interpreters_exact_value(options):
    lines = [json.loads(line) for line in CONFORMANCE.read_text(encoding="utf-8").splitlines()]
    compared = 0
    for line in lines:
        try:
            ast = parse(line["expr"])
        except LogicError:
            continue
        assert_same_outcome(ast, line["data"], **options)
        compared += 1
    assert compared >= 900


# --- random expressions ----------------------------------------------------------------------


def random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(FIELDS + LITERALS)
    choice = rng.random()
    if choice < 0.4:
        left, right = random_expression(rng, depth - 1), random_expression(rng, depth - 1)
        return f"({left} {rng.choice(BINARY)} {right})"
    if choice < 0.5:
        return f"({rng.choice(['-', 'not '])}({random_expression(rng, depth - 1)}))"
    if choice < 0.6:
        parts = [random_expression(rng, depth - 1) for _ in range(3)]
        return f"if({', '.join(parts)})"
    if choice < 0.7:
        dates = [rng.choice(FIELDS + ["'today'", "'now'", "'2020-01-01'", "'x'"]) for _ in "12"]
        units = rng.choice(["'d'", "'y'", "'M'", "'h'", "'m'", "'s'", "[c]"])
        date_format = rng.choice(["", ", 'ymd'", ", 'dmy'", ", 'mdy'"])
        signed = rng.choice(["", ", true", ", false", f", {rng.choice(FIELDS)}"])
        signed = signed if date_format else signed.replace(", ", ", 'ymd', ", 1)
        return f"datediff({dates[0]}, {dates[1]}, {units}{date_format}{signed})"
    function = rng.choice([name for name in FUNCTIONS if name not in ("if", "datediff")])
    minimum, maximum = FUNCTIONS[function]
    count = rng.randint(minimum, maximum if maximum is not None else minimum + 2)
    args = ", ".join(random_expression(rng, depth - 1) for _ in range(count))
    return f"{function}({args})"


def random_record(rng: random.Random) -> dict[str, str]:
    names = ["a", "b", "c", "d", "cb___1", "cb___2"]
    return {name: rng.choice(AWKWARD_VALUES) for name in names if rng.random() < 0.9}


def test_random_expressions_give_the_interpreters_exact_results():
    rng = random.Random(20211201)
    for _ in range(2500):
        ast = parse(random_expression(rng, rng.randint(1, 4)))
        for _ in range(4):
            assert_same_outcome(ast, random_record(rng), today=TODAY, now=NOW)


# --- specifics -------------------------------------------------------------------------------


def test_declared_result_kinds_are_the_interpreters_types():
    allowed = {BOOL: (bool,), STR: (str,), FLOAT: (float,), NUMBLANK: (float, str)}
    samples = ["", "2", "-1.5", "abc", "2020-05-31", True, 3.0]
    rng = random.Random(5)
    for name, kind in RESULT_KINDS.items():
        if name == "datediff":
            continue
        minimum, maximum = FUNCTIONS[name]
        for _ in range(60):
            count = rng.randint(minimum, maximum if maximum is not None else minimum + 2)
            result = FUNCTION_IMPLEMENTATIONS[name](*(rng.choice(samples) for _ in range(count)))
            assert isinstance(result, allowed[kind]), (name, result)
            assert kind != NUMBLANK or not isinstance(result, str) or result == ""


def test_a_field_compared_with_text_is_plain_string_equality():
    compiled = compile_logic(parse("[x] = 'yes' and [y] <> ''"))
    assert "== 'yes'" in compiled.source
    assert "_equals" not in compiled.source
    assert compiled({"x": "yes", "y": "1"}) is True
    assert compiled({"x": "yes "}) is False


def test_record_values_that_are_not_strings_are_read_as_text():
    compiled = compile_logic(parse("[x] + 1"))
    assert compiled({"x": None}) == ""
    assert compiled({"x": 2}) == 3
    assert compiled({}) == ""


def test_today_and_now_are_those_given_or_the_clock():
    assert evaluate_compiled(parse("datediff('2020-01-01', 'today', 'd')"), {}, today=TODAY) == (
        425
    )
    since_midnight = parse("datediff('today', [x], 's')")
    assert evaluate_compiled(since_midnight, {"x": "now"}, now=NOW) == 6 * 3600 + 30 * 60 + 15
    clock = evaluate_compiled(parse("datediff('2020-01-01', 'today', 'd')"), {})
    assert clock == (datetime.now(UTC).date() - date(2020, 1, 1)).days


def test_field_names_reach_the_code_only_as_string_literals():
    hostile = "x'] or __import__('os').system('false') or ['"
    ast = {"t": "bin", "op": "=", "l": {"t": "field", "name": hostile}, "r": {"t": "str", "v": "1"}}
    compiled = compile_logic(ast)
    assert repr(hostile) in compiled.source
    assert compiled({hostile: "1"}) is True
    assert compiled({"x": "1"}) is False


def test_an_expression_too_deep_for_python_falls_back_to_the_interpreter():
    text = " + ".join(["[a]"] * 190)
    ast = parse(text)
    compiled = compile_logic(ast)
    assert "_evaluate(" in compiled.source
    assert compiled({"a": "1"}) == evaluate(ast, {"a": "1"}) == 190


def test_a_malformed_ast_is_a_logic_error_when_compiled():
    with pytest.raises(LogicError):
        compile_logic({"t": "banana"})
    with pytest.raises(LogicError):
        compile_logic({"t": "call", "fn": "nope", "args": []})


# --- whole pipelines of random rules -------------------------------------------------------


def random_pipelines(rng: random.Random, compiled: bool):
    from casereports.dictionary.model import DataDictionary, Field, QualityRule
    from casereports.rules import RecordPipeline

    def expression() -> dict:
        text = random_expression(rng, rng.randint(1, 3))
        return parse(text.replace("[d]", rng.choice(["[d]", "[z]", "[w]"])))

    rules = [
        QualityRule(f"Q{n}", "", "", "check", rng.sample(["a", "b", "c", "cb___1", "z"], 2))
        for n in range(6)
    ]
    rules += [QualityRule(f"R{n}", "", "", "repair", [], rng.choice("abcz")) for n in range(3)]
    for rule in rules:
        rule.logic_ast = expression()
        rule.set_value_ast = expression() if rule.kind == "repair" else None
    calculated = ["z", "c", "w", "z"]
    fields = [Field("record_id", "f", "text", "")]
    fields += [Field(name, "f", "calc", "", calc_ast=expression()) for name in calculated[:3]]
    return RecordPipeline(DataDictionary(fields), rules, compiled=compiled)


def test_random_pipelines_give_the_interpreters_records():
    for seed in range(40):
        interpreted = random_pipelines(random.Random(seed), compiled=False)
        compiled = random_pipelines(random.Random(seed), compiled=True)
        rng = random.Random(seed)
        for _ in range(60):
            record = random_record(rng) | {"z": rng.choice(AWKWARD_VALUES)}
            expected = outcome(interpreted.run, record, today=TODAY, now=NOW)
            got = outcome(compiled.run, record, today=TODAY, now=NOW)
            assert expected == got, (seed, record)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_pipeline_uses_the_moment_it_is_given(compiled):
    from casereports.dictionary.model import DataDictionary, Field
    from casereports.rules import RecordPipeline

    seconds = parse("datediff([start], 'now', 's')")
    fields = [Field("record_id", "f", "text", ""), Field("age", "f", "calc", "", calc_ast=seconds)]
    pipeline = RecordPipeline(DataDictionary(fields), [], compiled=compiled)
    result = pipeline.run({"start": "2021-03-01 06:00"}, today=TODAY, now=NOW)
    assert result.values["age"] == str(30 * 60 + 15)
