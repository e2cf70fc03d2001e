"""The Python engine and the conformance runner (`python -m casereports.logic check`)."""

import importlib.util
import json
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from casereports.logic import FUNCTIONS, evaluate, parse, to_text

HERE = Path(__file__).parent
CONFORMANCE = HERE / "conformance.jsonl"
REPO = HERE.parent.parent


def run(text, record=None, **options):
    return evaluate(parse(text), record or {}, **options)


def check(path, *extra):
    return subprocess.run(
        [sys.executable, "-m", "casereports.logic", "check", str(path), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def write_cases(tmp_path, *cases):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    return path


# --- the engine ------------------------------------------------------------------------------


def test_today_and_now_can_be_fixed():
    assert run("datediff('2020-01-01', 'today', 'd')", today=date(2020, 1, 31)) == 30
    moment = datetime(2020, 1, 1, 6, 30)
    assert run("datediff('2020-01-01', 'now', 'h')", now=moment) == 6.5
    assert run("datediff('today', 'now', 'm')", now=moment) == 390


def test_bmi_calculation_on_a_record():
    bmi = "round([weight_kg] / ([height_cm] / 100) ^ 2, 1)"
    assert run(bmi, {"weight_kg": "70", "height_cm": "175"}) == 22.9
    assert run(bmi, {"weight_kg": "70"}) == ""


def test_branching_on_a_checkbox_option():
    assert run("[sym(2)] = '1'", {"sym___2": "1"}) is True
    assert run("[sym(2)] = '1'", {"sym___1": "1"}) is False


def test_record_values_that_are_not_strings_are_read_as_text():
    assert run("[x] + 1", {"x": None}) == ""
    assert run("[x] + 1", {"x": 2}) == 3


def test_comparison_results_are_booleans_and_print_as_digits():
    assert run("1 < 2") is True
    assert to_text(run("1 < 2")) == "1"
    assert to_text(run("1 > 2")) == "0"


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (2.5, "2.5"), (1 / 3, "0.333333333333333"), (1e21, "1000000000000000000000")]
    + [(1e-7, "0.0000001"), (-0.0, "0"), (True, "1"), (False, "0"), ("", ""), ("22.10", "22.10")],
)
def test_to_text_follows_rule_9(value, text):
    assert to_text(value) == text


def test_malformed_ast_is_a_logic_error_not_a_crash():
    from casereports.logic import LogicError

    with pytest.raises(LogicError):
        evaluate({"t": "banana"}, {})


# --- the conformance file --------------------------------------------------------------------


def conformance_lines():
    return [json.loads(line) for line in CONFORMANCE.read_text(encoding="utf-8").splitlines()]


def test_conformance_file_is_the_generators_output():
    spec = importlib.util.spec_from_file_location("generate", HERE / "generate_conformance.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert CONFORMANCE.read_text(encoding="utf-8") == generator.render()


def test_conformance_file_covers_every_function_and_operator():
    lines = conformance_lines()
    assert len(lines) >= 340
    evaluated = [line["expr"].lower() for line in lines if not line.get("error")]
    for function in FUNCTIONS:
        calls = [expr for expr in evaluated if re.search(rf"\b{function}\(", expr)]
        assert len(calls) >= 3, f"{function} has only {len(calls)} cases"
    for operator in ["+", "-", "*", "/", "^", "=", "==", "<>", "!=", "<", "<=", ">", ">="]:
        assert any(f" {operator} " in expr for expr in evaluated), operator
    for keyword in ["and", "or", "not"]:
        assert any(f"{keyword} " in expr for expr in evaluated), keyword
    assert sum(1 for line in lines if line.get("error")) >= 10


def test_conformance_file_passes_on_the_python_engine():
    result = check(CONFORMANCE, "--engine", "python")
    last_line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed, 0 failed", last_line), result.stdout[-2000:]
    assert result.returncode == 0


# --- the runner ------------------------------------------------------------------------------


def test_runner_reports_a_wrong_expected_value(tmp_path):
    path = write_cases(
        tmp_path,
        {"expr": "1 + 1", "data": {}, "expected": 2},
        {"expr": "[a] * 2", "data": {"a": "4"}, "expected": 9},
    )
    result = check(path)
    assert result.returncode == 1
    assert "line 2: [a] * 2" in result.stdout
    assert "expected: 9" in result.stdout
    assert "got:      8" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_runner_compares_numbers_as_numbers_and_blank_as_empty(tmp_path):
    path = write_cases(
        tmp_path,
        {"expr": "[x] + 0", "data": {"x": "22.1"}, "expected": "22.1"},
        {"expr": "[x]", "data": {"x": "22.10"}, "expected": 22.1},
        {"expr": "0.1 + 0.2", "data": {}, "expected": 0.3},
        {"expr": "[x] + 1", "data": {}, "expected": ""},
        {"expr": "1 < 2", "data": {}, "expected": True, "group": "ignored key"},
    )
    result = check(path)
    assert result.stdout.strip().splitlines()[-1] == "5 passed, 0 failed"
    assert result.returncode == 0


def test_runner_expects_refusals_on_error_lines(tmp_path):
    path = write_cases(
        tmp_path,
        {"expr": "[event-name]", "data": {}, "error": True, "feature": "smart variable"},
        {"expr": "1 + 1", "data": {}, "error": True},
        {"expr": "1 +", "data": {}, "expected": 1},
    )
    result = check(path)
    assert result.returncode == 1
    assert "line 2: 1 + 1" in result.stdout and "parsed without error" in result.stdout
    assert "line 3: 1 +" in result.stdout and "parse error" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 2 failed"


def test_runner_fails_a_file_without_cases(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    result = check(path)
    assert result.returncode == 1
    assert result.stdout.strip() == "0 passed, 0 failed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"data": {}, "expected": 1}\n', "line 1: 'expr' must be a string"),
        ('{"expr": "1", "data": {"x": 1}, "expected": 1}\n', "string values"),
        ('{"expr": "1", "data": {}}\n', "'expected'"),
    ],
)
def test_runner_refuses_unusable_input(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = check(path)
    assert result.returncode == 2
    assert message in result.stderr


def test_runner_refuses_a_missing_file(tmp_path):
    result = check(tmp_path / "absent.jsonl")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
