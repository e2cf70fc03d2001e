"""The dictionary the project ships (the COVID-19 in MS core data set) and version hashes.

Plain Python, so the federated command can name the exact version it ran under with the same
hash the platform stores for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from casereports.dictionary.model import DataDictionary, QualityRule
from casereports.dictionary.quality_rules import quality_rules_to_csv, read_quality_rules
from casereports.dictionary.reader import read_dictionary

DATA = Path(__file__).resolve().parent.parent / "data"
CORE_DICTIONARY = DATA / "core_dataset_v1.csv"
CORE_RULES = DATA / "core_dataset_v1_quality_rules.csv"
CORE_NAME = "core_dataset_v1"


def version_hash(dictionary: DataDictionary, rules_csv: str) -> str:
    """SHA-256 of the canonical dictionary CSV, a NUL, and the canonical quality-rules CSV:
    the `content_hash` of a stored dictionary version."""
    digest = hashlib.sha256()
    digest.update(dictionary.to_csv().encode())
    digest.update(b"\0")
    digest.update(rules_csv.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ShippedDictionary:
    name: str
    dictionary: DataDictionary
    rules: list[QualityRule]
    content_hash: str


@cache
def core_dictionary() -> ShippedDictionary:
    """The shipped core data set dictionary and its quality rules, read once."""
    dictionary = read_dictionary(CORE_DICTIONARY)
    rules = read_quality_rules(CORE_RULES, dictionary)
    return ShippedDictionary(
        CORE_NAME, dictionary, rules, version_hash(dictionary, quality_rules_to_csv(rules))
    )
