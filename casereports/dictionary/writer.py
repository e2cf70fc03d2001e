"""Write a dictionary back out as canonical REDCap CSV (the form its content hash is taken of)."""

import csv
import io

from casereports.dictionary.model import CHOICE_TYPES, HEADER, DataDictionary, Field


def dictionary_to_csv(dictionary: DataDictionary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for field in dictionary.fields:
        writer.writerow(field_row(field))
    return out.getvalue()


def field_row(field: Field) -> list[str]:
    return [
        field.name,
        field.form,
        field.section_header,
        field.field_type,
        field.label,
        choices_cell(field),
        field.note,
        field.validation,
        field.min,
        field.max,
        "y" if field.identifier else "",
        field.branching,
        "y" if field.required else "",
        field.alignment,
        field.question_number,
        field.matrix_group,
        "y" if field.matrix_ranking else "",
        field.annotation,
    ]


def choices_cell(field: Field) -> str:
    if field.field_type == "calc":
        return field.calculation
    if field.field_type == "slider":
        return field.slider_labels
    if field.field_type in CHOICE_TYPES:
        return " | ".join(f"{code}, {label}" for code, label in field.choices)
    return ""
