"""The data dictionary as plain data: fields, problems, quality rules."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)

FIELD_TYPES = (
    "text",
    "notes",
    "dropdown",
    "radio",
    "checkbox",
    "yesno",
    "truefalse",
    "calc",
    "file",
    "slider",
    "descriptive",
    "sql",
)
SUPPORTED_FIELD_TYPES = frozenset(FIELD_TYPES) - {"sql"}
CHOICE_TYPES = frozenset({"dropdown", "radio", "checkbox"})
FIXED_CHOICES = {
    "yesno": (("1", "Yes"), ("0", "No")),
    "truefalse": (("1", "True"), ("0", "False")),
}


@dataclass(frozen=True)
class Problem:
    row: int | None
    variable: str | None
    feature: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.variable:
            where += f" ({self.variable})"
        return f"{where}: {self.message}"


class DictionaryError(ValueError):
    """A dictionary or rules file was refused; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass
class Field:
    name: str
    form: str
    field_type: str
    label: str
    section_header: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    calculation: str = ""
    slider_labels: str = ""
    note: str = ""
    validation: str = ""
    min: str = ""
    max: str = ""
    identifier: bool = False
    branching: str = ""
    required: bool = False
    alignment: str = ""
    question_number: str = ""
    matrix_group: str = ""
    matrix_ranking: bool = False
    annotation: str = ""
    action_tags: dict[str, Any] = field(default_factory=dict)
    branching_ast: dict | None = None
    calc_ast: dict | None = None
    row: int | None = None

    @property
    def is_calculated(self) -> bool:
        return self.calc_ast is not None

    @property
    def is_hidden(self) -> bool:
        return "@HIDDEN" in self.action_tags

    def choice_codes(self) -> list[str]:
        return [code for code, _ in self.choices]

    def tag(self, name: str) -> Any:
        return self.action_tags.get(name)


@dataclass
class DataDictionary:
    fields: list[Field]

    @property
    def forms(self) -> list[str]:
        return list(dict.fromkeys(f.form for f in self.fields))

    @property
    def record_id(self) -> str:
        return self.fields[0].name

    def field(self, name: str) -> Field:
        return self._fields_by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self._fields_by_name

    @cached_property
    def _fields_by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def to_csv(self) -> str:
        from casereports.dictionary.writer import dictionary_to_csv

        return dictionary_to_csv(self)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.to_csv().encode("utf-8")).hexdigest()

    def summary(self) -> dict[str, Any]:
        by_type: dict[str, int] = {}
        for f in self.fields:
            by_type[f.field_type] = by_type.get(f.field_type, 0) + 1
        forms: dict[str, int] = {}
        for f in self.fields:
            forms[f.form] = forms.get(f.form, 0) + 1
        return {
            "forms": forms,
            "field_count": len(self.fields),
            "fields_by_type": dict(sorted(by_type.items())),
            "with_branching": sum(1 for f in self.fields if f.branching),
            "calculated": sum(1 for f in self.fields if f.is_calculated),
            "required": sum(1 for f in self.fields if f.required),
            "identifiers": sum(1 for f in self.fields if f.identifier),
        }


@dataclass
class QualityRule:
    rule_id: str
    rule_name: str
    rule_logic: str
    kind: str
    blanks: list[str] = field(default_factory=list)
    set_field: str = ""
    set_value: str = ""
    logic_ast: dict | None = None
    set_value_ast: dict | None = None
    row: int | None = None
