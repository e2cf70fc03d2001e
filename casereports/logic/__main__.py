"""Conformance runner: `python -m casereports.logic check FILE --engine python|js|postgres|sqlite`.

FILE holds JSON lines `{"expr": ..., "data": {...}, "expected": ...}` (other keys are ignored).
A line with `"error": true` expects the parser to refuse the expression; an optional
`"feature"` then also checks `LogicError.feature`. Prints each failure and a last line
`N passed, M failed`.
Exit status: 0 all passed, 1 a failure or no cases, 2 unusable input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from casereports.logic.parser import LogicError, parse
from casereports.logic.values import is_blank, to_number

ENGINES = ("python", "js", "postgres", "sqlite")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RELATIVE_TOLERANCE = 1e-9

Engine = Callable[[list[dict], list[dict[str, str]]], list[object]]


class UnusableInput(Exception):
    """The file or the engine cannot be used at all (exit status 2)."""


@dataclass
class Case:
    line: int
    expr: str
    data: dict[str, str]
    expected: Any = None
    error: bool = False
    feature: str | None = None
    ast: dict | None = None


@dataclass
class Failure:
    case: Case
    got: str


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _argument_parser().parse_args(argv)
    try:
        cases = read_cases(arguments.file, arguments.group)
        engine = load_engine(arguments.engine)
    except UnusableInput as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    failures = check_cases(cases, engine)
    for failure in failures:
        print(_describe(failure))
    passed = len(cases) - len(failures)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures or not cases else 0


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m casereports.logic")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run a conformance file against an engine")
    check.add_argument("file", help="JSON lines with expr, data and expected")
    check.add_argument("--engine", choices=ENGINES, default="python")
    check.add_argument("--group", help="only the cases whose group is GROUP")
    return parser


# --- reading ---------------------------------------------------------------------------------


def read_cases(path: str, group: str | None = None) -> list[Case]:
    """Read and validate the conformance file; UnusableInput names the bad line."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as problem:
        raise UnusableInput(f"cannot read {path}: {problem}") from problem
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry = _json_object(line, number)
        if group is None or entry.get("group") == group:
            cases.append(_case(entry, number))
    return cases


def _json_object(line: str, number: int) -> dict:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as problem:
        raise UnusableInput(f"line {number}: not JSON: {problem}") from problem
    if not isinstance(entry, dict):
        raise UnusableInput(f"line {number}: expected a JSON object")
    return entry


def _case(entry: dict, number: int) -> Case:
    expr, data = entry.get("expr"), entry.get("data", {})
    if not isinstance(expr, str):
        raise UnusableInput(f"line {number}: 'expr' must be a string")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UnusableInput(f"line {number}: 'data' must be an object of string values")
    error, feature = entry.get("error", False), entry.get("feature")
    if not isinstance(error, bool) or not isinstance(feature, str | None):
        raise UnusableInput(f"line {number}: 'error' must be true or false, 'feature' a string")
    if error:
        return Case(number, expr, data, error=True, feature=feature)
    expected = entry.get("expected")
    if "expected" not in entry or not isinstance(expected, bool | int | float | str):
        raise UnusableInput(f"line {number}: 'expected' must be a boolean, number or string")
    return Case(number, expr, data, expected=expected)


# --- engines ---------------------------------------------------------------------------------


def load_engine(name: str) -> Engine:
    """Import the engine's module only when asked, so `python` runs without the others."""
    module_name = {
        "python": "casereports.logic.evaluate",
        "js": "casereports.logic.jsengine",
        "postgres": "casereports.logic.sql",
        "sqlite": "casereports.logic.sql",
    }[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as problem:
        raise UnusableInput(f"the {name} engine cannot be loaded: {problem}") from problem
    if name == "postgres":
        dsn = postgres_dsn()
        return lambda asts, records: module.evaluate_many(asts, records, "postgresql", dsn=dsn)
    if name == "sqlite":
        return lambda asts, records: module.evaluate_many(asts, records, "sqlite")
    return module.evaluate_many


def postgres_dsn() -> str:
    configured = os.environ.get("GDSI_LOGIC_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    return configured if configured.startswith("postgres") else DEFAULT_POSTGRES_URL


# --- checking --------------------------------------------------------------------------------


def check_cases(cases: list[Case], engine: Engine) -> list[Failure]:
    """Parse every case, evaluate the parsed ones in one batch, and collect the failures."""
    failures: list[Failure] = []
    to_evaluate: list[Case] = []
    for case in cases:
        failure = _parse_case(case)
        if failure is not None:
            failures.append(failure)
        elif not case.error:
            to_evaluate.append(case)
    for case, got in zip(to_evaluate, _run(engine, to_evaluate), strict=True):
        if isinstance(got, _EngineError):
            failures.append(Failure(case, f"engine error: {got.message}"))
        elif not matches(case.expected, got):
            failures.append(Failure(case, _show(got)))
    return sorted(failures, key=lambda failure: failure.case.line)


def _parse_case(case: Case) -> Failure | None:
    try:
        case.ast = parse(case.expr)
    except LogicError as problem:
        if not case.error:
            return Failure(case, f"parse error: {problem.message}")
        if case.feature is not None and problem.feature != case.feature:
            return Failure(case, f"parse error of feature {problem.feature!r}: {problem.message}")
        return None
    if case.error:
        return Failure(case, "parsed without error")
    return None


@dataclass
class _EngineError:
    message: str


def _run(engine: Engine, cases: list[Case]) -> list[object]:
    """One batch; if the batch fails, case by case so one bad case cannot hide the others."""
    if not cases:
        return []
    asts = [case.ast for case in cases]
    records = [case.data for case in cases]
    try:
        return _one_result_per_case(engine(asts, records), len(cases))
    except Exception:  # any engine failure: retry case by case so it names the culprit
        return [_run_one(engine, ast, record) for ast, record in zip(asts, records, strict=True)]


def _run_one(engine: Engine, ast: dict | None, record: dict[str, str]) -> object:
    try:
        return _one_result_per_case(engine([ast], [record]), 1)[0]
    except Exception as problem:  # reported as this case's failure, not a crash
        return _EngineError(f"{type(problem).__name__}: {problem}")


def _one_result_per_case(results: Sequence[object], count: int) -> list[object]:
    if len(results) != count:
        raise ValueError(f"the engine returned {len(results)} results for {count} cases")
    return list(results)


def matches(expected: object, got: object) -> bool:
    """Rule 8: numbers as numbers (relative tolerance 1e-9), blank equals "", else exact.

    Booleans and the numbers 1/0 are interchangeable (rule 6), as SQLite has no boolean type.
    """
    if is_blank(expected):
        return is_blank(got)
    expected_number = _number_of(expected)
    if expected_number is not None:
        got_number = _number_of(got)
        if isinstance(expected, bool) and isinstance(got, str):
            return False
        return got_number is not None and math.isclose(
            expected_number, got_number, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12
        )
    return isinstance(got, str) and got == expected


def _number_of(value: object) -> float | None:
    if isinstance(value, bool | str):
        return to_number(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _show(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _describe(failure: Failure) -> str:
    case = failure.case
    if case.error:
        expected = "a parse error" + (f" ({case.feature})" if case.feature else "")
    else:
        expected = _show(case.expected)
    return f"line {case.line}: {case.expr}\n  expected: {expected}\n  got:      {failure.got}"


if __name__ == "__main__":
    sys.exit(main())
