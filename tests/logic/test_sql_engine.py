"""The SQL compiler: same answers as the other engines, and no data can make the SQL raise."""

import random

import pytest
from conformance_helpers import assert_conformance_passes

from casereports.logic import evaluate, parse
from casereports.logic.__main__ import matches
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


# --- exactness and the never-raises guarantee at the edges of the double range -----------------

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def run_sql(dialect: str, request: pytest.FixtureRequest, cases: list) -> list:
    dsn = request.getfixturevalue("postgres_dsn") if dialect == "postgresql" else None
    asts = [parse(expression) for expression, _, _ in cases]
    return evaluate_many(asts, [record for _, record, _ in cases], dialect, dsn=dsn)


HUGE = "1" + "0" * 154  # 1e154: two of them multiply to the edge of the double range
EXACT = [
    # SQLite's own text-to-real conversion is one unit off for these
    ("[x] = 2.561612", {"x": "2.561612"}, True),
    ("[x] = 0.011227", {"x": "0.011227"}, True),
    # fmod is exact; a - b * trunc(a / b) is not
    ("mod(10, 0.1)", {}, 0.09999999999999945),
    ("mod([x], 3)", {"x": "100000000000000000"}, 1.0),
    ("mod([x], [y])", {"x": "1" + "0" * 298, "y": "0.00000000001"}, 5.977861604405572e-13),
    # underflow is zero, not blank; a 306-digit number is still a double
    ("[x] * [x]", {"x": "0." + "0" * 199 + "1"}, 0.0),
    ("[x] ^ ([y] * [z])", {"x": "0." + "0" * 297 + "1", "y": HUGE, "z": "1" + "0" * 150}, 0.0),
    ("isnumber([x])", {"x": "1" + "0" * 305}, True),
    ("exponential(709.78)", {}, 1.7928227943945155e308),
    ("exponential(-745.1)", {}, 5e-324),
    # a boolean as a number prints 1, not 1.0 (PostgreSQL typed 1.0 as numeric)
    ("concat(-true, sqrt(true))", {}, "-11"),
    # the blank literal does not turn the other branch into text
    ("if([a] = '', '', [a] / 3)", {"a": "1"}, 1 / 3),
    ("round(0.1 + 0.2, 301)", {}, 0.3),
    ("round([x], 10)", {"x": "1" + "0" * 250}, 1e250),
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_numbers_are_exact_at_the_edges(dialect, request):
    got = run_sql(dialect, request, EXACT)
    assert got == [expected for _, _, expected in EXACT]


OVERFLOWS = [  # non-finite results are blank; PostgreSQL used to raise "value out of range"
    ("sum([x] * [y], [x] * [y])", {"x": HUGE, "y": "17" + "0" * 153}),
    ("mean([x] * [y], [x] * [y])", {"x": HUGE, "y": "17" + "0" * 153}),
    ("median([x] * [y], [x] * [y])", {"x": HUGE, "y": "17" + "0" * 153}),
    ("stdev([x], [y])", {"x": "1" + "0" * 200, "y": "-1"}),
    ("roundup([x] * [y], -308)", {"x": HUGE, "y": "17" + "0" * 153}),
    ("round([x] * [y], -308)", {"x": HUGE, "y": "15" + "0" * 153}),
    ("[x] * [y] + [x] * [y]", {"x": HUGE, "y": "17" + "0" * 153}),
    ("[x] / [y]", {"x": "1" + "0" * 200, "y": "0." + "0" * 150 + "1"}),
    ("2 ^ [x]", {"x": "1" + "0" * 200}),
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_overflow_is_blank_and_never_an_error(dialect, request):
    assert run_sql(dialect, request, [(e, r, "") for e, r in OVERFLOWS]) == [""] * len(OVERFLOWS)


CLINICAL = {  # real calculations, nested deeply enough to hit SQLite's parser limit before 3.46
    "round(141 * (min([scr] / 0.9, 1) ^ -0.411) * (max([scr] / 0.9, 1) ^ -1.209) * (0.993 ^ "
    "rounddown(datediff([dob], [visit], 'y'), 0)) * if([sex] = '2', 1.018, 1), 0)": 113.0,
    "concat('BMI ', round([weight] / (([height] / 100) ^ 2), 1), ' (', "
    "if(round([weight] / (([height]/100)^2), 1) >= 30, 'obese', 'not obese'), ')')": (
        "BMI 22.9 (not obese)"
    ),
    "concat(rounddown(datediff([dob], [visit], 'y'), 0), ' years, ', "
    "rounddown(mod(datediff([dob], [visit], 'M'), 12), 0), ' months')": "40 years, 9 months",
    "round(0.007184 * ([weight] ^ 0.425) * ([height] ^ 0.725), 2)": 1.9,
}
PATIENT = {"weight": "72.5", "height": "178", "scr": "0.82", "dob": "1980-05-17",
           "visit": "2021-03-02", "sex": "2"}  # fmt: skip


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clinical_calculations_agree_with_python(dialect, request):
    cases = [(expression, PATIENT, value) for expression, value in CLINICAL.items()]
    got = run_sql(dialect, request, cases)
    assert got == [evaluate(parse(expression), PATIENT) for expression in CLINICAL]
    assert got == list(CLINICAL.values())


def magnitudes(count: int) -> list[str]:
    """Numeric strings across the whole double range, as long as 307 digits (beyond that
    Python reads infinity and SQL a blank: see the report)."""
    rng = random.Random(1975)
    values = []
    for _ in range(count):
        digits = rng.randint(1, 307)
        sign = rng.choice(["", "-"])
        if rng.random() < 0.5:
            values.append(sign + str(rng.randint(1, 9)) + "0" * (digits - 1))
        else:
            values.append(sign + "0." + "0" * digits + str(rng.randint(1, 99)))
    return values + ["2.5", "-3", "0"]


MAGNITUDE_EXPRESSIONS = [
    "[v] * [w]", "[v] / [w]", "[v] + [w]", "[v] - [w]", "[v] ^ 2", "[v] ^ [w]", "mod([v], [w])",
    "sum([v], [w], [v])", "mean([v], [w])", "median([v], [w])", "stdev([v], [w])",
    "round([v] * [w], 2)", "roundup([v], -300)", "exponential([v])", "log([v], [w])",
    "concat([v] * 1)", "[v] * [w] < [w]", "sqrt([v] * [w])",
]  # fmt: skip


@pytest.mark.parametrize("dialect", DIALECTS)
def test_extreme_magnitudes_never_raise_and_match_python(dialect, request):
    rng = random.Random(2021)
    values = magnitudes(80)
    asts, records = [], []
    for expression in MAGNITUDE_EXPRESSIONS:
        for _ in range(25):
            asts.append(parse(expression))
            records.append({"v": rng.choice(values), "w": rng.choice(values)})
    dsn = request.getfixturevalue("postgres_dsn") if dialect == "postgresql" else None
    got = evaluate_many(asts, records, dialect, dsn=dsn)
    for ast, record, value in zip(asts, records, got, strict=True):
        try:
            expected = evaluate(ast, record)
        except OverflowError:  # the Python engine's stdev squares with **, which raises
            expected = ""
        assert matches(expected, value), (ast, record, value, expected)


def test_compiled_fragments_filter_and_compute_over_columns():
    import sqlite3

    from casereports.logic.sql import column_field_sql, compile_condition, compile_expression

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE cases (age TEXT, weight TEXT, height TEXT)")
    rows = [("17", "60", "170"), ("45", "90", "175"), ("", "70", ""), ("80", "x", "160")]
    connection.executemany("INSERT INTO cases VALUES (?, ?, ?)", rows)
    columns = column_field_sql("sqlite")
    where, where_params = compile_condition(parse("[age] >= 18"), columns, "sqlite")
    bmi, bmi_params = compile_expression(
        parse("round([weight] / ([height] / 100) ^ 2, 1)"), columns, "sqlite"
    )
    got = connection.execute(
        f"SELECT age, {bmi} FROM cases WHERE {where} ORDER BY age", [*bmi_params, *where_params]
    ).fetchall()
    assert got == [("45", 29.4), ("80", None)]  # blank age is not >= 18; 'x' gives a blank BMI
