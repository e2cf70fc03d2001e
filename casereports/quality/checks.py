"""Which of a dictionary's quality rules a record fails, as the clinician entered it.

Every `check` rule is evaluated on the record as it is (not after earlier rules blanked their
variables, as the analysis pipeline does): a clinician is told about each inconsistency they
can see. Plain Python: no Django import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from casereports.dictionary.model import QualityRule
from casereports.logic import evaluate
from casereports.logic.values import is_true


def check_rules(rules: Iterable[QualityRule]) -> list[QualityRule]:
    return [rule for rule in rules if rule.kind == "check" and rule.logic_ast is not None]


def failing_rules(
    rules: Iterable[QualityRule], values: Mapping[str, str], *, today: date | None = None
) -> list[QualityRule]:
    """The check rules `values` fails, in the rules' order."""
    return [
        rule
        for rule in check_rules(rules)
        if is_true(evaluate(rule.logic_ast, values, today=today))
    ]


def quality_status(failing: list[QualityRule], justified: Iterable[str]) -> str:
    """`pass`; `justified` when every failing rule was confirmed with a justification;
    otherwise `fail`."""
    if not failing:
        return "pass"
    justified = set(justified)
    return "justified" if all(rule.rule_id in justified for rule in failing) else "fail"


def failures_of(failing: list[QualityRule]) -> list[dict[str, object]]:
    """What a case keeps of its failing rules: each rule and the fields it names."""
    return [{"rule": rule.rule_id, "fields": list(rule.blanks)} for rule in failing]
