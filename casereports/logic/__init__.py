"""REDCap logic: one parser, one AST, engines that agree (docs/logic.md). No Django here."""

from casereports.logic.evaluate import evaluate
from casereports.logic.parser import FUNCTIONS, LogicError, parse, referenced_fields
from casereports.logic.values import to_text

__all__ = ["FUNCTIONS", "LogicError", "evaluate", "parse", "referenced_fields", "to_text"]
