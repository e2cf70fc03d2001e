"""Loading data dictionaries into immutable versions."""

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.db import IntegrityError, transaction

from casereports.dictionary import DataDictionary, read_dictionary, read_quality_rules
from casereports.dictionary.model import QualityRule
from casereports.dictionary.quality_rules import quality_rules_to_csv
from casereports.dictionary.shipped import version_hash
from casereports.models import Case, DictionaryVersion


@dataclass(frozen=True)
class LoadedDictionary:
    """A dictionary and its quality rules, read and checked, ready to store or to summarise."""

    dictionary: DataDictionary
    rules_csv: str
    rule_count: int

    @property
    def content_hash(self) -> str:
        return version_hash(self.dictionary, self.rules_csv)


def default_rules_path(dictionary_path: Path) -> Path | None:
    """The quality rules that sit beside a dictionary: `<stem>_quality_rules.csv`."""
    candidate = dictionary_path.with_name(f"{dictionary_path.stem}_quality_rules.csv")
    return candidate if candidate.exists() else None


def read_dictionary_files(dictionary_path: Path, rules_path: Path | None) -> LoadedDictionary:
    """Read and check both files; raises DictionaryError listing every problem."""
    dictionary = read_dictionary(dictionary_path)
    if rules_path is None:
        return LoadedDictionary(dictionary, "", 0)
    rules = read_quality_rules(rules_path, dictionary=dictionary)
    return LoadedDictionary(dictionary, quality_rules_to_csv(rules), len(rules))


def store_dictionary(
    loaded: LoadedDictionary, *, name: str = "core", source_filename: str = "", user=None
) -> tuple[DictionaryVersion, bool]:
    """Store a version unless the same content is already stored. Returns (version, created)."""
    content_hash = loaded.content_hash
    existing = DictionaryVersion.objects.filter(content_hash=content_hash).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            version = DictionaryVersion.objects.create(
                name=name,
                content_hash=content_hash,
                dictionary_csv=loaded.dictionary.to_csv(),
                quality_rules_csv=loaded.rules_csv,
                source_filename=source_filename[:255],
                form_count=len(loaded.dictionary.forms),
                field_count=len(loaded.dictionary.fields),
                loaded_by=user,
            )
    except IntegrityError:  # loaded concurrently by someone else: theirs is the version
        return DictionaryVersion.objects.get(content_hash=content_hash), False
    return version, True


@lru_cache(maxsize=16)
def _parse_stored(content_hash: str, dictionary_csv: str) -> DataDictionary:
    return read_dictionary(io.StringIO(dictionary_csv))


def dictionary_of(version: DictionaryVersion) -> DataDictionary:
    """The parsed dictionary of a stored version (parsed once per process)."""
    return _parse_stored(version.content_hash, version.dictionary_csv)


@lru_cache(maxsize=16)
def _dictionary_by_hash(content_hash: str) -> DataDictionary:
    return dictionary_of(DictionaryVersion.objects.get(content_hash=content_hash))


def dictionary_of_case(case) -> DataDictionary:
    """The parsed dictionary a case was entered under, by the version's content hash (one small
    query), so a save does not read the version row with its whole CSV text every time."""
    if Case.dictionary_version.is_cached(case):
        content_hash = case.dictionary_version.content_hash
    else:
        content_hash = (
            DictionaryVersion.objects.filter(pk=case.dictionary_version_id)
            .values_list("content_hash", flat=True)
            .get()
        )
    return _dictionary_by_hash(content_hash)


@lru_cache(maxsize=16)
def _rules_of(content_hash: str, rules_csv: str) -> tuple[QualityRule, ...]:
    if not rules_csv.strip():
        return ()
    return tuple(read_quality_rules(io.StringIO(rules_csv), _dictionary_by_hash(content_hash)))


def quality_rules_of(version: DictionaryVersion) -> tuple[QualityRule, ...]:
    """The quality rules stored with a dictionary version (parsed once per process)."""
    return _rules_of(version.content_hash, version.quality_rules_csv)


@lru_cache(maxsize=16)
def quality_rules_by_hash(content_hash: str) -> tuple[QualityRule, ...]:
    """The quality rules of the version with this content hash (read once per process)."""
    rules_csv = (
        DictionaryVersion.objects.filter(content_hash=content_hash)
        .values_list("quality_rules_csv", flat=True)
        .get()
    )
    return _rules_of(content_hash, rules_csv)


def quality_rules_of_case(case) -> tuple[QualityRule, ...]:
    """The quality rules of the version a case was entered under (as `dictionary_of_case`)."""
    if Case.dictionary_version.is_cached(case):
        return quality_rules_by_hash(case.dictionary_version.content_hash)
    content_hash = (
        DictionaryVersion.objects.filter(pk=case.dictionary_version_id)
        .values_list("content_hash", flat=True)
        .get()
    )
    return quality_rules_by_hash(content_hash)
