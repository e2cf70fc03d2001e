"""Data-quality rules beside a dictionary (REDCap's DQ columns plus blanks and repairs)."""

from __future__ import annotations

import csv
import io

from casereports.dictionary.model import DataDictionary, DictionaryError, Problem, QualityRule
from casereports.dictionary.reader import Source, check_header, csv_rows, read_text
from casereports.logic import LogicError, parse, referenced_fields

RULES_HEADER = ("rule_id", "rule_name", "rule_logic", "kind", "blanks", "set_field", "set_value")
OPTIONAL_COLUMNS = ("real_time_execution",)
KINDS = ("check", "repair")


def read_quality_rules(
    source: Source, dictionary: DataDictionary | None = None
) -> list[QualityRule]:
    """Parse and check a rules file; raises DictionaryError listing every problem."""
    problems: list[Problem] = []
    rows = csv_rows(read_text(source), problems)
    header = next(rows, None)
    if header is None:
        raise DictionaryError([Problem(None, None, "empty", "the rules file is empty")])
    columns = [cell.strip() for cell in header[1]]
    kept = [name for name in columns if name not in OPTIONAL_COLUMNS]
    header_problem = check_header(kept, RULES_HEADER)
    if header_problem:
        raise DictionaryError([header_problem])
    rules: list[QualityRule] = []
    seen: set[str] = set()
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        record = dict(zip(columns, (cell.strip() for cell in cells), strict=False))
        rule = read_rule(line, record, problems, dictionary)
        if rule.rule_id in seen:
            problems.append(Problem(line, rule.rule_id, "duplicate", "rule id appears twice"))
        seen.add(rule.rule_id)
        rules.append(rule)
    if problems:
        raise DictionaryError(problems)
    return rules


def read_rule(
    line: int, record: dict[str, str], problems: list[Problem], dictionary: DataDictionary | None
) -> QualityRule:
    rule = QualityRule(
        rule_id=record.get("rule_id", ""),
        rule_name=record.get("rule_name", ""),
        rule_logic=record.get("rule_logic", ""),
        kind=record.get("kind", "").lower(),
        blanks=record.get("blanks", "").split(),
        set_field=record.get("set_field", ""),
        set_value=record.get("set_value", ""),
        row=line,
    )

    def problem(feature: str, message: str) -> None:
        problems.append(Problem(line, rule.rule_id or None, feature, message))

    if not rule.rule_id:
        problem("rule id", "the rule has no rule_id")
    if rule.kind not in KINDS:
        problem("kind", f"kind must be check or repair, not '{rule.kind}'")
    rule.logic_ast = _parse(rule.rule_logic, "rule_logic", problem)
    if rule.kind == "check" and not rule.blanks:
        problem("blanks", "a check rule must name the variables it blanks")
    if rule.kind == "repair":
        if not rule.set_field or not rule.set_value:
            problem("repair", "a repair rule needs set_field and set_value")
        rule.set_value_ast = _parse(rule.set_value, "set_value", problem)
    if dictionary is not None:
        _check_names(rule, dictionary, problem)
    return rule


def _parse(text: str, column: str, problem) -> dict | None:
    if not text:
        if column == "rule_logic":
            problem("logic", "the rule has no logic")
        return None
    try:
        return parse(text)
    except LogicError as error:
        problem(error.feature or "logic", f"{column}: {error.message}")
        return None


def _check_names(rule: QualityRule, dictionary: DataDictionary, problem) -> None:
    used = set(rule.blanks) | ({rule.set_field} if rule.set_field else set())
    for ast in (rule.logic_ast, rule.set_value_ast):
        if ast is not None:
            used |= referenced_fields(ast)
    for name in sorted(used):
        if name not in dictionary:
            problem("unknown field", f"refers to [{name}], which is not a field of the dictionary")


def quality_rules_to_csv(rules: list[QualityRule]) -> str:
    """The canonical form of a rules file (what its part of a version's hash is taken of)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RULES_HEADER)
    for rule in rules:
        writer.writerow(
            [
                rule.rule_id,
                rule.rule_name,
                rule.rule_logic,
                rule.kind,
                " ".join(rule.blanks),
                rule.set_field,
                rule.set_value,
            ]
        )
    return out.getvalue()
