"""A country as a registry writes it, read as its ISO 3166 alpha-2 code.

The table is built once per process, the first time a file has a country column: the names and
aliases of casereports/data/countries.csv (the curated spellings, which win), ISO alpha-3 codes,
pycountry's official and common names, and the Unicode CLDR name of every country in the
languages of `LANGUAGES` (through Babel). Names are compared folded (`fold`): case-folded,
without accents, punctuation or extra spaces. A folded name that two sources give to two
different countries is dropped rather than guessed.

Plain Python: no Django import. Babel and pycountry are the project's dependencies, but the
federated command may be installed without them (`pip install --no-deps`): then the table holds
the curated spellings of countries.csv alone.
"""

from __future__ import annotations

import csv
import pickle
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import chain
from pathlib import Path
from types import ModuleType

COUNTRIES_CSV = Path(__file__).resolve().parents[1] / "data" / "countries.csv"

# Languages spoken in the initiative's countries (CLDR codes).
LANGUAGES = (
    "en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "is", "pl", "cs", "sk",
    "sl", "hr", "sr", "bs", "hu", "ro", "bg", "el", "tr", "ru", "uk", "lt", "lv", "et", "ar",
    "fa", "he", "hi", "ja", "zh", "ko", "ca", "sq", "mk", "ka", "hy", "az", "kk", "id", "ms",
    "th", "vi", "ga", "cy", "eu", "gl", "mt", "lb", "be",
)  # fmt: skip

_DROPPED = re.compile(r"[.'’]")  # U.S.A. is USA, d'Ivoire is dIvoire on both sides
_PARENTHESIS = re.compile(r"\s*\([^)]*\)")
_ASCII_SPACED = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """`text` as names are compared: case-folded, accents and punctuation gone, single spaces."""
    text = _DROPPED.sub("", text.replace("&", " and "))
    if text.isascii():
        return " ".join(_ASCII_SPACED.sub(" ", text.lower()).split())
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(map(_kept, decomposed.casefold()))
    return " ".join(kept.split())


def _kept(char: str) -> str:
    """The character itself if it is part of a word (letters, digits and the vowel signs of
    scripts such as Devanagari), nothing if it is an accent, a space otherwise."""
    if char.isalnum():
        return char
    if unicodedata.combining(char):
        return ""
    return char if unicodedata.category(char)[0] == "M" else " "


@dataclass(frozen=True)
class CountryTable:
    """Folded alpha-3 codes and folded names, each to its alpha-2 code."""

    alpha3: dict[str, str]
    names: dict[str, str]

    def restricted(self, codes: Iterable[str]) -> CountryTable:
        """The table without the countries that are not among `codes`."""
        allowed = set(codes)
        return CountryTable(
            {k: v for k, v in self.alpha3.items() if v in allowed},
            {k: v for k, v in self.names.items() if v in allowed},
        )


@cache
def country_table() -> CountryTable:
    countries = _pycountry()
    alpha3 = {fold(c.alpha_3): c.alpha_2 for c in countries.countries} if countries else {}
    names = _unambiguous(chain(_pycountry_names(countries), _cldr_names()))
    names.update(_curated_names())
    return CountryTable(alpha3, names)


def _curated_names() -> dict[str, str]:
    with COUNTRIES_CSV.open(encoding="utf-8") as source:
        return {
            fold(spelling): row["code"]
            for row in csv.DictReader(source)
            for spelling in [row["name"], *row["aliases"].split(" | ")]
            if spelling.strip()
        }


def _pycountry() -> ModuleType | None:
    try:
        import pycountry
    except ImportError:
        return None
    return pycountry


def _pycountry_names(countries: ModuleType | None) -> Iterator[tuple[str, str]]:
    for country in countries.countries if countries else ():
        for attribute in ("name", "official_name", "common_name"):
            if name := getattr(country, attribute, None):
                yield name, country.alpha_2


def _cldr_names() -> Iterator[tuple[str, str]]:
    try:
        from babel.localedata import resolve_locale_filename
    except ImportError:
        return
    for language in LANGUAGES:
        for code, name in _territories(resolve_locale_filename(language)).items():
            if len(code) == 2 and code.isalpha():
                yield name, code
                yield _PARENTHESIS.sub("", name), code  # "Myanmar (Burma)" is Myanmar too


def _territories(data_file: str | Path) -> dict[str, str]:
    """CLDR's names of the territories in Babel's data file of one language alone: Babel's own
    loader would keep every locale it loads in memory (50 MB for these)."""
    with open(data_file, "rb") as data:
        return pickle.load(data).get("territories", {})  # noqa: S301 - Babel's packaged CLDR


def _unambiguous(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    ambiguous: set[str] = set()
    for name, code in dict.fromkeys(pairs):  # the same spelling in many languages: fold it once
        key = fold(name)
        if key and found.setdefault(key, code) != code:
            ambiguous.add(key)
    for key in ambiguous:
        del found[key]
    return found
