"""The browser's JavaScript engine, under node, agrees with the conformance file."""

import subprocess
from pathlib import Path

from conformance_helpers import assert_conformance_passes

from casereports.logic import parse
from casereports.logic.jsengine import evaluate_many

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def js(expression: str, **data: str):
    return evaluate_many([parse(expression)], [data])[0]


def test_conformance_file_passes_on_the_javascript_engine(node_binary):
    assert_conformance_passes("js")


def test_blank_never_equals_zero_and_ordering_with_blank_is_false(node_binary):
    assert js("[x] = 0", x="") is False
    assert js("[x] <> 5", x="") is True
    assert js("[x] < 3", x="") is False
    assert js("not ([x] < 3)", x="") is True


def test_numbers_print_like_the_server(node_binary):
    assert js("concat('n=', 0.1 + 0.2)") == "n=0.3"
    assert js("concat('n=', 10 / 4)") == "n=2.5"
    assert js("concat('n=', [a] * 1)", a="3.0") == "n=3"


def test_rounding_is_decimal_half_away_from_zero(node_binary):
    assert js("round(2.675, 2)") == 2.68
    assert js("round(-2.5)") == -3
    assert js("rounddown(-2.99, 1)") == -2.9
    assert js("roundup(1234, -2)") == 1300


def test_impossible_dates_are_blank_and_datediff_counts_days(node_binary):
    assert js("datediff('2021-02-30', '2021-03-01', 'd')") == ""
    assert js("datediff('2020-02-28', '2020-03-01', 'd')") == 2
    assert js("datediff('2020-03-01', '2020-02-28', 'd', 'ymd', true)") == -2


def test_the_browser_module_exposes_a_global_without_node_modules(node_binary):
    module = ROOT / "casereports/static/casereports/logic.js"
    script = (
        "const vm = require('vm'); const fs = require('fs');"
        "const sandbox = {window: {}}; vm.createContext(sandbox);"
        f"vm.runInContext(fs.readFileSync({str(module)!r}, 'utf8'), sandbox);"
        "const ast = {t: 'bin', op: '=', l: {t: 'field', name: 'a'}, r: {t: 'str', v: 'yes'}};"
        "process.stdout.write(String(sandbox.window.GDSILogic.evaluate(ast, {a: 'yes'})));"
    )
    result = subprocess.run([node_binary, "-e", script], capture_output=True, text=True)
    assert result.stdout == "true", result.stderr
