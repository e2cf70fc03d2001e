"""Read a REDCap data dictionary CSV, collecting every problem instead of stopping at the first."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from casereports.dictionary.action_tags import ActionTagError, parse_action_tags
from casereports.dictionary.model import (
    CHOICE_TYPES,
    FIELD_TYPES,
    FIXED_CHOICES,
    HEADER,
    DataDictionary,
    DictionaryError,
    Field,
    Problem,
)
from casereports.dictionary.validation_types import (
    VALIDATION_TYPES,
    bound_error,
    canonical_validation,
)
from casereports.logic import LogicError, parse, referenced_fields

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FORM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
CHOICE_CODE = re.compile(r"^[A-Za-z0-9_.-]+$")
CHECKBOX_CODE = re.compile(r"^[A-Za-z0-9_]+$")
ALIGNMENTS = {"", "RV", "RH", "LV", "LH"}
Source = str | Path | TextIO


def read_text(source: Source) -> str:
    """The text of a path, an open file or (a string containing a newline) the CSV itself."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        raw = Path(source).read_bytes()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise DictionaryError(
                [Problem(None, None, "encoding", f"the file is not UTF-8 text ({error.reason})")]
            ) from None
    if isinstance(source, str):
        return source.removeprefix("\ufeff")
    return source.read().removeprefix("\ufeff")


def csv_rows(text: str, problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, cells); a CSV syntax error becomes a problem."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as error:
        problems.append(Problem(line, None, "csv", f"the CSV cannot be read here: {error}"))


def read_dictionary(source: Source) -> DataDictionary:
    """Parse and check a dictionary; raises DictionaryError listing every problem."""
    problems: list[Problem] = []
    text = read_text(source)
    rows = csv_rows(text, problems)
    header = next(rows, None)
    if header is None:
        raise DictionaryError([Problem(None, None, "empty", "the file is empty")])
    header_problem = check_header(header[1], HEADER)
    if header_problem:
        raise DictionaryError([header_problem])
    fields = []
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(HEADER):
            problems.append(
                Problem(
                    line,
                    cells[0] if cells else None,
                    "columns",
                    f"has {len(cells)} columns; a dictionary row has {len(HEADER)}",
                )
            )
            continue
        fields.append(read_field(line, cells, problems))
    if not fields and not problems:
        problems.append(Problem(None, None, "empty", "the dictionary has no fields"))
    if fields:
        check_dictionary(fields, problems)
    if problems:
        raise DictionaryError(sorted(problems, key=lambda p: p.row or 0))
    return DataDictionary(fields)


def check_header(cells: list[str], expected: tuple[str, ...]) -> Problem | None:
    found = [cell.strip() for cell in cells]
    if tuple(found) == expected:
        return None
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    details = []
    if missing:
        details.append("missing columns: " + ", ".join(f"'{name}'" for name in missing))
    if unexpected:
        details.append("unexpected columns: " + ", ".join(f"'{name}'" for name in unexpected))
    if not details:
        details.append("the columns are not in REDCap's order")
    return Problem(
        1, None, "header", "the header is not REDCap's 18 columns: " + "; ".join(details)
    )


def read_field(line: int, cells: list[str], problems: list[Problem]) -> Field:
    values = [cell.strip() for cell in cells]
    name, form, section, kind, label, choices, note, validation = values[:8]
    low, high, identifier, branching, required, alignment, number = values[8:15]
    matrix_group, ranking, annotation = values[15:18]
    kind = kind.lower()
    field = Field(
        name=name,
        form=form,
        field_type=kind,
        label=cells[4],
        section_header=cells[2],
        note=cells[6],
        validation=validation,
        min=low,
        max=high,
        branching=branching,
        alignment=alignment,
        question_number=number,
        matrix_group=matrix_group,
        annotation=annotation,
        row=line,
    )

    def problem(feature: str, message: str) -> None:
        problems.append(Problem(line, name or None, feature, message))

    if not NAME.match(name):
        problem(
            "variable name",
            f"'{name}' is not a valid variable name (letters, "
            "digits and underscores, starting with a letter)",
        )
    if not FORM_NAME.match(form):
        problem(
            "form name",
            f"form name '{form}' is not valid (lower-case letters, digits, underscores)",
        )
    if kind == "sql":
        problem("sql field", "field type 'sql' is not supported (it runs SQL on the REDCap server)")
    elif kind not in FIELD_TYPES:
        problem("field type", f"field type '{kind}' is unknown")
    field.identifier = _flag(identifier, "Identifier?", problem)
    field.required = _flag(required, "Required Field?", problem)
    field.matrix_ranking = _flag(ranking, "Matrix Ranking?", problem)
    if alignment not in ALIGNMENTS:
        problem("alignment", f"custom alignment '{alignment}' is not one of RV, RH, LV, LH")
    _read_choices(field, choices, problem)
    _read_validation(field, problem)
    try:
        field.action_tags = parse_action_tags(annotation)
    except ActionTagError as error:
        problem("action tag", str(error))
    field.branching_ast = _logic(branching, "branching logic", problem)
    calctext = field.action_tags.get("@CALCTEXT")
    if kind == "calc":
        field.calc_ast = _logic(field.calculation, "calculation", problem)
        if not field.calculation:
            problem("calc", "calc field has no calculation")
    elif isinstance(calctext, str):
        field.calc_ast = _logic(calctext, "@CALCTEXT", problem)
    elif calctext is True:
        problem("action tag", "@CALCTEXT needs its logic in parentheses: @CALCTEXT(...)")
    return field


def _flag(value: str, column: str, problem) -> bool:
    if value.lower() in {"", "n"}:
        return False
    if value.lower() == "y":
        return True
    problem("flag", f"'{column}' must be y or blank, not '{value}'")
    return False


def _read_choices(field: Field, text: str, problem) -> None:
    kind = field.field_type
    if kind == "calc":
        field.calculation = text
    elif kind == "slider":
        field.slider_labels = text
    elif kind in FIXED_CHOICES:
        field.choices = list(FIXED_CHOICES[kind])
    elif kind in CHOICE_TYPES:
        field.choices = parse_choices(text, kind, problem)
    elif text and kind not in {"descriptive", "sql"}:
        problem("choices", f"a {kind} field takes no choices")


def parse_choices(text: str, kind: str, problem) -> list[tuple[str, str]]:
    if not text:
        problem("choices", f"a {kind} field needs choices ('code, label | code, label')")
        return []
    choices: list[tuple[str, str]] = []
    seen: set[str] = set()
    pattern = CHECKBOX_CODE if kind == "checkbox" else CHOICE_CODE
    for part in text.split("|"):
        code, comma, label = part.partition(",")
        code, label = code.strip(), label.strip()
        if not comma or not code:
            problem("choices", f"choice '{part.strip()}' is not 'code, label'")
            continue
        if not pattern.match(code):
            problem(
                "choices",
                f"choice code '{code}' may only use letters, digits and _"
                + ("" if kind == "checkbox" else " . -"),
            )
            continue
        if code in seen:
            problem("choices", f"choice code '{code}' appears twice")
            continue
        seen.add(code)
        choices.append((code, label))
    return choices


def _read_validation(field: Field, problem) -> None:
    validation = canonical_validation(field.validation)
    if not field.validation:
        if (field.min or field.max) and field.field_type != "slider":
            problem("range", "min/max need a validation type")
        return
    if field.field_type == "slider" or (field.field_type, validation) == ("file", "signature"):
        return  # REDCap's flags: show a slider's number; a file field that is a signature
    if field.field_type != "text":
        problem("validation", f"a {field.field_type} field cannot have validation")
        return
    if validation not in VALIDATION_TYPES:
        problem("validation", f"validation type '{field.validation}' is unknown")
        return
    field.validation = validation
    for column, bound in (("min", field.min), ("max", field.max)):
        error = bound_error(validation, bound)
        if error:
            problem("range", f"{column} '{bound}' {error}")
    if field.min and field.max and _bounds_reversed(validation, field.min, field.max):
        problem("range", f"min {field.min} is greater than max {field.max}")


def _bounds_reversed(validation: str, low: str, high: str) -> bool:
    if bound_error(validation, low) or bound_error(validation, high):
        return False
    if {low.lower(), high.lower()} & {"today", "now"}:
        return False
    if validation.startswith(("number", "integer")):
        return float(low.replace(",", ".")) > float(high.replace(",", "."))
    return low > high if validation.endswith("ymd") else False


def _logic(text: str, what: str, problem) -> dict | None:
    if not text:
        return None
    try:
        return parse(text)
    except LogicError as error:
        problem(error.feature or "logic", f"{what}: {error.message}")
        return None


def check_dictionary(fields: list[Field], problems: list[Problem]) -> None:
    _check_record_id(fields[0], problems)
    _check_unique_names(fields, problems)
    _check_contiguous_forms(fields, problems)
    _check_matrix_groups(fields, problems)
    _check_references(fields, problems)


def _check_record_id(first: Field, problems: list[Problem]) -> None:
    if first.field_type != "text" or first.branching:
        problems.append(
            Problem(
                first.row,
                first.name,
                "record id",
                "the first field is the record id: it must be a text field without branching logic",
            )
        )


def _check_unique_names(fields: list[Field], problems: list[Problem]) -> None:
    first_row: dict[str, int | None] = {}
    for field in fields:
        if field.name in first_row:
            problems.append(
                Problem(
                    field.row,
                    field.name,
                    "duplicate",
                    f"duplicate variable name '{field.name}' "
                    f"(first at row {first_row[field.name]})",
                )
            )
        else:
            first_row[field.name] = field.row


def _check_contiguous_forms(fields: list[Field], problems: list[Problem]) -> None:
    finished: set[str] = set()
    previous = None
    for field in fields:
        if field.form != previous:
            if field.form in finished:
                problems.append(
                    Problem(
                        field.row,
                        field.name,
                        "form order",
                        f"form '{field.form}' is split: its fields must be contiguous",
                    )
                )
            if previous is not None:
                finished.add(previous)
            previous = field.form


def _check_matrix_groups(fields: list[Field], problems: list[Problem]) -> None:
    groups: dict[str, Field] = {}
    previous_group = ""
    for field in fields:
        group = field.matrix_group
        if group:
            first = groups.get(group)
            if first is None:
                groups[group] = field
                if field.field_type not in {"radio", "checkbox", "yesno", "truefalse"}:
                    problems.append(
                        Problem(
                            field.row,
                            field.name,
                            "matrix group",
                            f"matrix group '{group}' needs radio or checkbox fields",
                        )
                    )
            elif previous_group != group:
                problems.append(
                    Problem(
                        field.row,
                        field.name,
                        "matrix group",
                        f"matrix group '{group}' is not adjacent (it started at row {first.row})",
                    )
                )
            elif first.choices != field.choices or first.form != field.form:
                problems.append(
                    Problem(
                        field.row,
                        field.name,
                        "matrix group",
                        f"fields of matrix group '{group}' must share one form "
                        "and the same choices",
                    )
                )
        previous_group = group


def _check_references(fields: list[Field], problems: list[Problem]) -> None:
    position = {field.name: index for index, field in enumerate(fields)}
    for index, field in enumerate(fields):
        for what, ast in (
            ("branching logic", field.branching_ast),
            ("calculation", field.calc_ast),
        ):
            if ast is None:
                continue
            for name in sorted(referenced_fields(ast)):
                if name not in position:
                    problems.append(
                        Problem(
                            field.row,
                            field.name,
                            "unknown field",
                            f"{what} refers to [{name}], which is not a field of this dictionary",
                        )
                    )
                elif (
                    what == "calculation"
                    and fields[position[name]].calc_ast is not None
                    and position[name] >= index
                ):
                    problems.append(
                        Problem(
                            field.row,
                            field.name,
                            "calculation order",
                            f"calculation uses calculated field [{name}], "
                            "which must come before it",
                        )
                    )
