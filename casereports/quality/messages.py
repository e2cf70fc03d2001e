"""The words a clinician reads for a quality rule that a record fails.

A rule's `rule_name` is written for the analysis team: it starts with the rule's code ("Q4
hospital discharge before admission") and some name variables ("Q5 covid19_date_lab_test before
the year of birth ..."). `rule_message` drops the code, puts each variable's label in place of
its name when labels are given, and upper-cases the first letter: "Hospital discharge before
admission", "Date of the confirming test before the year of birth ...". The text stays in the
rules file's language (English); a page puts its own translated lead ("Please check:") before it.

Plain Python: no Django import, so the browser's live checks and the server say the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol

# A leading rule code: one to three capitals and a number ("Q4", "R12", "QC3.1"), then a space
# or a separator ("Q4: ...", "Q4 - ..."). Words such as "COVID19" or "A1c" are not codes.
RULE_CODE = re.compile(r"^\s*[A-Z]{1,3}[0-9]+(?:\.[0-9]+)?(?:\s*[:.)\u2013-])?\s+")
# A variable name in the text: a word with an underscore (plain words such as "height" or
# "pregnancy" stay as written, they read better than the question's label).
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?![A-Za-z0-9_])")
LABEL_END = " \t?:."


class NamedRule(Protocol):
    rule_id: str
    rule_name: str


class Labelled(Protocol):
    name: str
    label: str


def field_labels(fields: Iterable[Labelled]) -> dict[str, str]:
    """Variable name -> label, for `rule_message` (pass a dictionary's `fields`)."""
    return {f.name: f.label for f in fields if f.label}


def rule_message(rule: NamedRule, labels: Mapping[str, str] | None = None) -> str:
    """The rule's name without its leading code, first letter upper-cased; with `labels`,
    variable names in it read as their labels. A name that is only a code gives the rule id."""
    name = " ".join((rule.rule_name or "").split())
    text = RULE_CODE.sub("", name + " ", count=1).strip() if name else ""
    if not text:
        text = rule.rule_id or name
    if labels:
        text = VARIABLE.sub(lambda match: _label(match.group(0), labels), text)
    return text[:1].upper() + text[1:]


def _label(name: str, labels: Mapping[str, str]) -> str:
    label = " ".join(labels.get(name, "").split()).rstrip(LABEL_END)
    return label or name
