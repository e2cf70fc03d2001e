"""Quality rules, repairs and derivations on one record, from the dictionary alone.

The order is the initiative's: every `check` rule in file order (a failing rule blanks its
variables, and later rules see the record as earlier ones left it), then every `repair` in file
order, then every calculated field (`calc` or `@CALCTEXT`) in dictionary order. The same steps
compile to one SQL query in `casereports.rules_sql`, with identical results.

Plain Python: no Django import, so the federated command can use it on a laptop.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from casereports.dictionary import DataDictionary
from casereports.dictionary.model import Field, QualityRule
from casereports.logic import evaluate, to_text
from casereports.logic.compiled import (
    Calculation,
    Check,
    CompiledPipeline,
    Repair,
    compile_pipeline,
)
from casereports.logic.values import is_true


@dataclass(frozen=True)
class RuleFailure:
    rule_id: str
    blanked: tuple[str, ...]


@dataclass
class ProcessedRecord:
    values: dict[str, str]
    failures: list[RuleFailure] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    @property
    def qa_status(self) -> str:
        """The toolkit's record status: "pass", or "fail: " and the rules that failed."""
        if not self.failures:
            return "pass"
        return "fail: " + " ".join(failure.rule_id for failure in self.failures)


def calculated_fields(dictionary: DataDictionary) -> list[Field]:
    """Fields whose value the platform computes, in dictionary order."""
    return [f for f in dictionary.fields if f.calc_ast is not None]


class RecordPipeline:
    """Cleans and derives records of one dictionary version with its quality rules."""

    def __init__(
        self, dictionary: DataDictionary, rules: list[QualityRule], *, compiled: bool = False
    ) -> None:
        self.dictionary = dictionary
        self.checks = [rule for rule in rules if rule.kind == "check"]
        self.repairs = [rule for rule in rules if rule.kind == "repair"]
        self.calculations = calculated_fields(dictionary)
        self.compiled = self._compile() if compiled else None
        self._compiled_run = self.compiled.function if self.compiled else None

    def _compile(self) -> CompiledPipeline:
        """The same steps as one generated Python function (casereports.logic.compiled)."""
        checks = [
            Check(rule.logic_ast, rule.blanks, RuleFailure(rule.rule_id, tuple(rule.blanks)))
            for rule in self.checks
        ]
        repairs = [
            Repair(rule.logic_ast, rule.set_field, rule.set_value_ast, rule.rule_id)
            for rule in self.repairs
        ]
        calculations = [Calculation(calc.name, calc.calc_ast) for calc in self.calculations]
        return compile_pipeline(checks, repairs, calculations, ProcessedRecord)

    def run(
        self,
        record: Mapping[str, str],
        *,
        today: date | None = None,
        now: datetime | None = None,
    ) -> ProcessedRecord:
        """Checks, then repairs, then calculations; `today`/`now` default to the clock."""
        if self._compiled_run is not None:
            return self._compiled_run(record, today, now)
        result = ProcessedRecord(values=dict(record))
        values = result.values
        for rule in self.checks:
            if is_true(evaluate(rule.logic_ast, values, today=today, now=now)):
                for name in rule.blanks:
                    values[name] = ""
                result.failures.append(RuleFailure(rule.rule_id, tuple(rule.blanks)))
        for rule in self.repairs:
            if is_true(evaluate(rule.logic_ast, values, today=today, now=now)):
                value = evaluate(rule.set_value_ast, values, today=today, now=now)
                values[rule.set_field] = to_text(value)
                result.repairs.append(rule.rule_id)
        for calc in self.calculations:
            values[calc.name] = to_text(evaluate(calc.calc_ast, values, today=today, now=now))
        return result
