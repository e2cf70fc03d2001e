"""The SQL compiler: same answers as the other engines, and no data can make the SQL raise."""

import random

import pytest
from conformance_helpers import assert_conformance_passes

from casereports.logic import evaluate, parse
from casereports.logic.sql import evaluate_many


def test_conformance_file_passes_on_sqlite():
    assert_conformance_passes("sqlite")


def test_conformance_file_passes_on_postgres(postgres_dsn):
    assert_conformance_passes("postgres", postgres_dsn)


NULL_LOGIC = [
    ("[x] <> 5", {"x": ""}, True),
    ("[x] = ''", {}, True),
    ("[a] < 3", {"a": ""}, False),
    ("not ([a] < 3)", {"a": ""}, True),
    ("[a] + 1 = ''", {"a": "abc"}, True),
    ("if([a] > 1, 'big', 'small')", {"a": ""}, "small"),
    ("sum([a], [b], 2)", {"a": "", "b": "x"}, 2),
    ("concat_ws('-', [a], [b], 'c')", {"a": "", "b": "b"}, "b-c"),
]


@pytest.mark.parametrize(("expression", "record", "expected"), NULL_LOGIC)
def test_sql_null_never_leaks_into_logic_on_sqlite(expression, record, expected):
    assert evaluate_many([parse(expression)], [record], "sqlite") == [expected]


def test_sql_null_never_leaks_into_logic_on_postgres(postgres_dsn):
    asts = [parse(expression) for expression, _, _ in NULL_LOGIC]
    records = [record for _, record, _ in NULL_LOGIC]
    expected = [value for _, _, value in NULL_LOGIC]
    assert evaluate_many(asts, records, "postgresql", dsn=postgres_dsn) == expected


def hostile_values(count: int) -> list[str]:
    rng = random.Random(20211)
    pool = [
        "",
        " ",
        "-",
        ".",
        "+.",
        "1e400",
        "9" * 320,
        "-0",
        "0",
        "2021-02-30",
        "2021-13-01",
        "0000-01-01",
        "2020-02-29",
        "2019-02-29",
        "12-31-2021",
        "31-12-2021 25:61",
        "2021-01-01 23:59:60",
        "NaN",
        "inf",
        "-1.5",
        "today",
        "'; DROP TABLE x; --",
        "\u00e9",
    ]
    alphabet = "0123456789-.:+ eE/"
    pool += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(count)]
    return pool


FUNCTIONS = [
    "[v] + 1",
    "[v] * [w]",
    "[v] / [w]",
    "[v] ^ [w]",
    "-[v]",
    "sqrt([v])",
    "log([v], [w])",
    "exponential([v])",
    "mod([v], [w])",
    "round([v], [w])",
    "roundup([v], 2)",
    "rounddown([v])",
    "year([v])",
    "month([v])",
    "day([v])",
    "datediff([v], [w], 'd')",
    "datediff([v], [w], 'y', 'dmy')",
    "datediff([v], 'today', 'M', 'mdy', true)",
    "left([v], [w])",
    "mid([v], [w], [w])",
    "right([v], [w])",
    "isinteger([v])",
    "concat([v] * 1, 'x')",
    "[v] < [w]",
    "[v] = [w]",
    "median([v], [w], 3)",
    "stdev([v], [w])",
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_no_value_makes_the_sql_raise_and_answers_match_python(dialect, request):
    dsn = request.getfixturevalue("postgres_dsn") if dialect == "postgresql" else None
    rng = random.Random(7)
    values = hostile_values(60)
    asts, records = [], []
    for expression in FUNCTIONS:
        ast = parse(expression)
        for _ in range(12):
            asts.append(ast)
            records.append({"v": rng.choice(values), "w": rng.choice(values)})
    got = evaluate_many(asts, records, dialect, dsn=dsn)
    for ast, record, value in zip(asts, records, got, strict=True):
        expected = evaluate(ast, record)
        if isinstance(expected, float) and isinstance(value, float) and expected:
            assert abs(value - expected) <= 1e-9 * abs(expected), (ast, record, value, expected)
        elif isinstance(expected, int | float) and not isinstance(expected, bool):
            assert value == pytest.approx(expected), (ast, record, value, expected)
        else:
            assert value == expected, (ast, record, value, expected)
