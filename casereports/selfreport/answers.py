"""A report's answers as a patient reads them: per page, each question they answered, in their
language, with dates and numbers written the way their language writes them (stored ISO)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from django.utils.translation import to_locale

from casereports import entry
from casereports.dictionary import DataDictionary
from casereports.dictionary.model import Field
from casereports.dictionary.validation_types import DATE_TYPES, NUMERIC_TYPES, canonical_validation
from casereports.forms import on_page
from casereports.textlayers import Texts


@dataclass(frozen=True)
class Answer:
    name: str
    label: str
    value: str


@dataclass(frozen=True)
class Page:
    form: str
    title: str
    answers: list[Answer]


def babel_locale(language: str) -> str:
    return to_locale(language or "en")


def local_date(text: str, language: str) -> str:
    """An ISO date as the language writes it (a text that is no date stays as it is)."""
    try:
        return format_date(
            date.fromisoformat(text[:10]), format="long", locale=babel_locale(language)
        )
    except (ValueError, TypeError):
        return text


def local_moment(moment: datetime, language: str) -> str:
    return format_datetime(moment, format="medium", locale=babel_locale(language))


def local_number(text: str, language: str) -> str:
    try:
        return format_decimal(Decimal(text), locale=babel_locale(language))
    except (InvalidOperation, ValueError):
        return text


def answer_text(f: Field, data: dict[str, str], texts: Texts, language: str) -> str:
    if f.field_type == "checkbox":
        chosen = [code for code in f.choice_codes() if data.get(f"{f.name}___{code}") == "1"]
        return "; ".join(texts.choice(f, code) for code in chosen)
    value = data.get(f.name, "")
    if not value:
        return ""
    if f.field_type in {"radio", "dropdown", "yesno", "truefalse"}:
        return texts.choice(f, value)
    validation = canonical_validation(f.validation)
    if validation in DATE_TYPES:
        return local_date(value, language)
    if validation in NUMERIC_TYPES:
        unit = texts.unit(f)
        number = local_number(value, language)
        return f"{number} {unit}" if unit else number
    return value


def answered_pages(
    dictionary: DataDictionary, data: dict[str, str], texts: Texts, language: str
) -> list[Page]:
    """Every page of the patients' questionnaire with the questions answered on it."""
    pages = []
    for form in entry.entry_forms(dictionary, entry.PATIENT):
        answers = []
        for f in dictionary.fields:
            if f.form != form or not on_page(f, entry.PATIENT):
                continue
            if not entry.is_entered(f, entry.PATIENT):
                continue
            shown = answer_text(f, data, texts, language)
            if shown:
                answers.append(Answer(f.name, texts.label(f), shown))
        pages.append(Page(form, texts.form_title(form), answers))
    return pages
