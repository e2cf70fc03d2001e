"""Country names in the reader's language: the codes of casereports/data/countries.csv, named by
the Unicode CLDR through Babel (the English name from the file where CLDR has none)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from babel import Locale
from babel.core import UnknownLocaleError
from django.utils.translation import to_locale

COUNTRIES = Path(__file__).resolve().parent / "data" / "countries.csv"


@cache
def english_names() -> dict[str, str]:
    with COUNTRIES.open(encoding="utf-8") as source:
        return {row["code"]: row["name"] for row in csv.DictReader(source)}


@cache
def _territories(language: str) -> dict[str, str]:
    try:
        return dict(Locale.parse(to_locale(language)).territories)
    except (UnknownLocaleError, ValueError):
        return {}


def country_name(code: str, language: str) -> str:
    code = code.upper()
    return _territories(language).get(code) or english_names().get(code, code)


@cache
def country_choices(language: str) -> list[tuple[str, str]]:
    """(code, name) for every country, sorted by its name in `language`."""
    names = [(code, country_name(code, language)) for code in english_names()]
    return sorted(names, key=lambda pair: pair[1].casefold())
