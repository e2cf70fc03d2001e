"""De-identification of one record under a profile, and the k-anonymity check across records.

Plain Python (no Django): `Deidentifier(dictionary, profile, key).record(values)` returns the
record as it may leave the platform; `QuasiIdentifierCounter` counts the equivalence classes of
the quasi-identifiers over a first pass and suppresses the rare ones in the second. What each
option does is described for administrators in docs/exports.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from casereports.dictionary import DataDictionary, Field
from casereports.dictionary.validation_types import canonical_validation
from casereports.entry import storage_keys
from casereports.logic import referenced_fields
from exports.profiles import AGE_BANDS, KEEP, REMOVE, SHIFT, Profile

PSEUDONYM_PREFIX = "G_"
PSEUDONYM_LENGTH = 20  # base32 characters: 100 bits of the HMAC
# Each use of the export key hashes under its own label, so a pseudonym says nothing about a
# record's date offset and neither can be computed from the other.
PSEUDONYM_DOMAIN = b"gdsi-export/record-pseudonym/v1\x00"
DATE_SHIFT_DOMAIN = b"gdsi-export/date-shift/v1\x00"

AGE_TAG = "@GDSI-AGE"  # marks the age-in-years field; without it the field named `age_years`
AGE_FIELD_NAME = "age_years"
FREE_TEXT_TAG = "@GDSI-FREE-TEXT"
QUASI_IDENTIFIER_TAG = "@GDSI-QUASI-IDENTIFIER"
# Text validations whose values identify a person: removed with the identifier fields even when
# the dictionary forgot the Identifier? flag.
IDENTIFYING_VALIDATIONS = frozenset(
    {
        "email",
        "phone",
        "phone_australia",
        "ssn",
        "vmrn",
        "mrn_10d",
        "mrn_generic",
        "zipcode",
        "postalcode_australia",
        "postalcode_canada",
        "postalcode_french",
        "postalcode_germany",
    }
)
PARTITION_KEY = "report_source"


def is_date_field(f: Field) -> bool:
    return canonical_validation(f.validation).startswith(("date_", "datetime_"))


def is_free_text(f: Field) -> bool:
    """Text a person types freely: unvalidated text without choices, or tagged @GDSI-FREE-TEXT."""
    if FREE_TEXT_TAG in f.action_tags:
        return True
    plain_text = f.field_type == "text" and not f.validation and not f.choices
    return plain_text and f.calc_ast is None


def is_identifier(f: Field) -> bool:
    return f.identifier or canonical_validation(f.validation) in IDENTIFYING_VALIDATIONS


def age_field(dictionary: DataDictionary) -> Field | None:
    """The age in years: the field tagged @GDSI-AGE, else the field named `age_years`."""
    tagged = [f for f in dictionary.fields if AGE_TAG in f.action_tags]
    if tagged:
        return tagged[0]
    return dictionary.field(AGE_FIELD_NAME) if AGE_FIELD_NAME in dictionary else None


def band_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}-{high}"


def age_band(age: Decimal) -> str:
    """The AGE_BANDS label of an age, or "" for an age below every band."""
    label = ""
    for low, high in AGE_BANDS:
        if age >= low:
            label = band_label(low, high)
    return label


def _hmac(key: bytes, domain: bytes, text: str) -> bytes:
    return hmac.new(key, domain + text.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True)
class FieldPlan:
    """Which fields each option touches, for one dictionary and profile (shown in the manifest)."""

    record_id: str
    removed: tuple[str, ...]
    dates: tuple[str, ...]
    age: str | None
    derived_blanked: tuple[str, ...]
    quasi_identifiers: tuple[str, ...]

    def summary(self, profile: Profile) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "record_id_pseudonymised": profile.pseudonymise_record_id,
            "removed_fields": list(self.removed),
            "date_fields": list(self.dates),
            "dates": profile.dates,
            "max_date_shift_days": profile.max_date_shift_days if profile.dates == SHIFT else 0,
            "age_field": self.age,
            "age_top_coded_above": profile.top_code_age_at if self.age else None,
            "age_bands": bool(self.age and profile.age_bands),
            "derived_fields_blanked": list(self.derived_blanked),
            "quasi_identifiers": list(self.quasi_identifiers),
        }


@dataclass(frozen=True)
class RowLayout:
    """A record as a row: a list of text values, one per position, and where the profile's
    changes fall in it (positions, worked out once, so a record costs no lookups by name).

    `keys` says what each position holds as read: a storage key of the record, or None for a
    field the profile writes blank (removed or derived from a changed field), which is never
    read at all. The first len(`names`) positions are the output, `names` their keys; positions
    past them are read only (the record id, when the output leaves it out)."""

    keys: tuple[str | None, ...]
    names: tuple[str, ...]
    record_id: int  # where the record id is read
    pseudonym: int | None  # where the record id's pseudonym goes
    dates: tuple[int, ...]  # dates to shift or remove
    age: int | None  # the age to top-code or band
    partition: int  # the report source


class Deidentifier:
    """Applies one profile to records of one dictionary with the export key."""

    def __init__(self, dictionary: DataDictionary, profile: Profile, key: bytes) -> None:
        if not key:
            raise ValueError("export key: it is empty; set GDSI_EXPORT_KEY")
        if profile.dates not in (KEEP, SHIFT, REMOVE):
            raise ValueError(f"profile {profile.name}: dates must be keep, shift or remove")
        if profile.max_date_shift_days < 0:
            raise ValueError(f"profile {profile.name}: max_date_shift_days must be >= 0")
        self.dictionary = dictionary
        self.profile = profile
        self._key = key
        self.plan = self._plan()
        self._field_of_key = {
            key: f.name
            for f in dictionary.fields
            if f.field_type != "descriptive"
            for key in storage_keys(f)
        }
        quasi = set(self.plan.quasi_identifiers)
        #: The whole record: every storage key in dictionary order, then `report_source` when
        #: the dictionary has no field of that name.
        self.layout = self._layout(list(self._field_of_key))
        #: Only the quasi-identifiers and the report source (the k-anonymity first pass).
        self.quasi_layout = self._layout(
            [key for key, name in self._field_of_key.items() if name in quasi]
        )

    # -- the plan ---------------------------------------------------------------------------

    def _plan(self) -> FieldPlan:
        dictionary, profile = self.dictionary, self.profile
        record_id = dictionary.record_id
        removed = [f.name for f in dictionary.fields[1:] if self._removes(f)]
        dates = [f.name for f in dictionary.fields if is_date_field(f) and f.name not in removed]
        age = age_field(dictionary)
        age_name = age.name if age is not None and age.name not in removed else None
        for name in profile.quasi_identifiers:
            if name not in dictionary:
                raise ValueError(
                    f"profile {profile.name}: quasi-identifier '{name}' is not a field"
                )
        changed = set(removed)
        if profile.pseudonymise_record_id:
            changed.add(record_id)
        if profile.dates != KEEP:
            changed.update(dates)
        if age_name and (profile.top_code_age_at is not None or profile.age_bands):
            changed.add(age_name)
        if profile.k_anonymity:
            changed.update(profile.quasi_identifiers)
        return FieldPlan(
            record_id=record_id,
            removed=tuple(removed),
            dates=tuple(dates),
            age=age_name,
            derived_blanked=tuple(self._derived_from(changed)),
            quasi_identifiers=tuple(self._quasi_identifiers(removed)),
        )

    def _layout(self, output: list[str]) -> RowLayout:
        """The row of the storage keys `output` (plus the report source): which positions are
        read, and where the record id, the dates and the age are."""
        plan, profile = self.plan, self.profile
        names = output if PARTITION_KEY in output else [*output, PARTITION_KEY]
        blanked = set(plan.removed) | set(plan.derived_blanked)
        # The report source is the case's own, even where the dictionary's field is blanked.
        keys: list[str | None] = [
            None if self._field_of_key.get(key) in blanked and key != PARTITION_KEY else key
            for key in names
        ]
        if plan.record_id not in keys:
            keys.append(plan.record_id)
        date_names = set(plan.dates) if profile.dates != KEEP else set()
        changes_age = profile.top_code_age_at is not None or profile.age_bands
        return RowLayout(
            keys=tuple(keys),
            names=tuple(names),
            record_id=keys.index(plan.record_id),
            pseudonym=(
                names.index(plan.record_id)
                if profile.pseudonymise_record_id and plan.record_id in names
                else None
            ),
            dates=tuple(
                position
                for position, key in enumerate(keys[: len(names)])
                if key is not None and self._field_of_key.get(key) in date_names
            ),
            age=keys.index(plan.age) if changes_age and plan.age in keys[: len(names)] else None,
            partition=names.index(PARTITION_KEY),
        )

    def _removes(self, f: Field) -> bool:
        profile = self.profile
        if f.calc_ast is not None or f.field_type == "descriptive":
            return False
        if f.field_type == "file":
            return True  # uploaded documents never leave the platform
        return (
            (profile.remove_identifiers and is_identifier(f))
            or (profile.remove_free_text and is_free_text(f))
            or (profile.remove_notes and f.field_type == "notes")
        )

    def _derived_from(self, changed: set[str]) -> list[str]:
        """Calc fields reading (directly or through other calcs) a field the profile changes:
        their stored value was computed from the original and could give it away."""
        tainted = set(changed)
        blanked: list[str] = []
        grew = True
        while grew:
            grew = False
            for f in self.dictionary.fields:
                if f.calc_ast is None or f.name in tainted:
                    continue
                if referenced_fields(f.calc_ast) & tainted:
                    tainted.add(f.name)
                    blanked.append(f.name)
                    grew = True
        order = {f.name: index for index, f in enumerate(self.dictionary.fields)}
        return sorted(blanked, key=order.__getitem__)

    def _quasi_identifiers(self, removed: list[str]) -> list[str]:
        """The profile's quasi-identifiers; without any, the dictionary's non-date ones (dates
        single out nearly everyone, so a class count over them says nothing)."""
        if self.profile.quasi_identifiers:
            return list(self.profile.quasi_identifiers)
        return [
            f.name
            for f in self.dictionary.fields
            if QUASI_IDENTIFIER_TAG in f.action_tags
            and not is_date_field(f)
            and f.name not in removed
        ]

    # -- one record -------------------------------------------------------------------------

    def pseudonym(self, record_id: str) -> str:
        digest = _hmac(self._key, PSEUDONYM_DOMAIN, record_id)
        encoded = base64.b32encode(digest[:15]).decode("ascii")  # 15 bytes: 24 characters
        return PSEUDONYM_PREFIX + encoded[:PSEUDONYM_LENGTH]

    def date_offset(self, record_id: str) -> int:
        """Days added to every date of the record: in [-max, +max], never 0 unless max is 0."""
        most = self.profile.max_date_shift_days
        if most == 0:
            return 0
        digest = _hmac(self._key, DATE_SHIFT_DOMAIN, record_id)
        drawn = int.from_bytes(digest[:8], "big") % (2 * most)  # 0 .. 2*max-1
        return drawn - most if drawn < most else drawn - most + 1

    def record(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The record as the profile lets it out: every storage key of the dictionary (checkbox
        options as `name___code`), plus `report_source`. Other keys of `values` are dropped."""
        return self._as_dict(values, self.layout)

    def quasi_identifiers_of(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Only the quasi-identifiers as `record` would export them, and the report source: all
        the k-anonymity count of the first pass needs."""
        return self._as_dict(values, self.quasi_layout)

    def _as_dict(self, values: Mapping[str, Any], layout: RowLayout) -> dict[str, str]:
        row = self.transform(row_of(values, layout.keys), layout)
        return dict(zip(layout.names, row, strict=False))  # the read-only tail is left out

    def transform(self, row: list[str], layout: RowLayout) -> list[str]:
        """De-identify `row` (laid out as `layout.keys`, read as text) in place; returns it.
        Blanked fields are already blank: they were never read."""
        record_id = row[layout.record_id]
        if not record_id:
            raise ValueError(f"record: {self.plan.record_id} (the record id) is blank")
        if layout.dates:
            offset = self.date_offset(record_id) if self.profile.dates == SHIFT else 0
            for position in layout.dates:
                if row[position]:
                    row[position] = self._date(row[position], offset)
        if layout.pseudonym is not None:
            row[layout.pseudonym] = self.pseudonym(record_id)
        if layout.age is not None:
            row[layout.age] = self._age(row[layout.age])
        return row

    def _date(self, text: str, offset: int) -> str:
        if self.profile.dates == REMOVE:
            return ""
        if offset == 0:
            return text
        day, separator, clock = text.partition(" ")
        try:
            shifted = date.fromisoformat(day) + timedelta(days=offset)
        except (ValueError, OverflowError):
            return ""  # not a stored ISO date: it cannot be shifted, so it is not exported
        return shifted.isoformat() + separator + clock

    def _age(self, text: str) -> str:
        profile = self.profile
        if not text or (profile.top_code_age_at is None and not profile.age_bands):
            return text
        try:
            age = Decimal(text)
        except InvalidOperation:
            return ""  # an age that is not a number cannot be top-coded or banded
        if not age.is_finite():
            return ""
        if profile.top_code_age_at is not None and age > profile.top_code_age_at:
            age = Decimal(profile.top_code_age_at + 1)
            text = str(profile.top_code_age_at + 1)
        return age_band(age) if profile.age_bands else text


def row_of(values: Mapping[str, Any], keys: Iterable[str | None]) -> list[str]:
    """The row of a record given as a mapping: the text of each key ("" when the record has no
    value, or the key is None)."""
    get = values.get
    return [_text(get(key)) if key is not None else "" for key in keys]


def _text(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


# -- k-anonymity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassPositions:
    """How to read a row's equivalence class: `read(row)` gives (report source, *values of the
    quasi-identifiers); `quasi` are the positions suppression blanks."""

    read: Callable[[Sequence[str]], tuple[str, ...]]
    quasi: tuple[int, ...]


class QuasiIdentifierCounter:
    """Equivalence classes of the quasi-identifier tuple, per report source (each source is its
    own file, so a reader always knows it).

    A tuple whose values are all blank is not a class: it identifies no one (that is where
    suppressed records go). Memory grows with the number of classes, never with the records.
    """

    def __init__(self, quasi_identifiers: Iterable[str], k: int | None) -> None:
        self.quasi_identifiers = tuple(quasi_identifiers)
        if k is not None and k < 1:
            raise ValueError("k-anonymity: k must be at least 1")
        self.k = k
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.blank_records = 0
        self.written: Counter[tuple[str, ...]] = Counter()

    def class_of(self, record: Mapping[str, str]) -> tuple[str, ...] | None:
        values = tuple(record.get(name, "") for name in self.quasi_identifiers)
        if not any(values):
            return None
        return (record.get(PARTITION_KEY, ""), *values)

    def positions(self, names: Sequence[str]) -> ClassPositions:
        """Where the class of a row laid out as `names` is (see `RowLayout.names`)."""
        quasi = tuple(
            names.index(name) if name in names else None for name in self.quasi_identifiers
        )
        partition = names.index(PARTITION_KEY)
        if quasi and None not in quasi:
            read = operator.itemgetter(partition, *quasi)
        else:  # a quasi-identifier the row does not have reads as blank, as in `class_of`

            def read(row: Sequence[str]) -> tuple[str, ...]:
                return (row[partition], *(row[at] if at is not None else "" for at in quasi))

        return ClassPositions(read, tuple(at for at in quasi if at is not None))

    def add_row(self, row: Sequence[str], at: ClassPositions) -> None:
        """`add` for a row."""
        found = at.read(row)
        if any(found[1:]):
            self.counts[found] += 1
        else:
            self.blank_records += 1

    def suppress_row(self, row: list[str], at: ClassPositions) -> None:
        """`suppress` for a row, in place."""
        found = at.read(row)
        if not any(found[1:]):
            return
        if self.k and self.counts[found] < self.k:
            for position in at.quasi:
                row[position] = ""
        else:
            self.written[found] += 1

    def add(self, record: Mapping[str, str]) -> None:
        """First pass: count the record's class."""
        found = self.class_of(record)
        if found is None:
            self.blank_records += 1
        else:
            self.counts[found] += 1

    def suppress(self, record: dict[str, str]) -> dict[str, str]:
        """Second pass: blank the quasi-identifiers of a record whose class is smaller than k.

        A record the first pass did not see counts as a class of 0 and is suppressed too; the
        classes actually written are counted so `check_written` can prove the result."""
        found = self.class_of(record)
        if found is not None and self.k and self.counts[found] < self.k:
            for name in self.quasi_identifiers:
                record[name] = ""
            found = None
        if found is not None:
            self.written[found] += 1
        return record

    def rare_classes(self) -> dict[tuple[str, ...], int]:
        if not self.k:
            return {}
        return {found: n for found, n in self.counts.items() if n < self.k}

    def check_written(self) -> None:
        """Raise if a class written in the second pass is smaller than k (the records changed
        between the passes): such an export must not leave."""
        if not self.k:
            return
        small = sum(1 for n in self.written.values() if n < self.k)
        if small:
            raise RecordsChanged(
                f"k-anonymity: {small} class(es) of the written records are smaller than "
                f"k={self.k}: the records changed between the two passes; run the export again"
            )

    def report(self) -> dict[str, Any]:
        """The disclosure report: counts only, never a value."""
        rare = self.rare_classes()
        kept = [n for found, n in self.counts.items() if found not in rare]
        suppressed_records = sum(rare.values())
        suppressed_values = sum(
            n * sum(1 for value in found[1:] if value) for found, n in rare.items()
        )
        return {
            "k": self.k,
            "quasi_identifiers": list(self.quasi_identifiers),
            "partitioned_by": PARTITION_KEY,
            "records": sum(self.counts.values()) + self.blank_records,
            "classes_before": len(self.counts),
            "smallest_class_before": min(self.counts.values(), default=None),
            "classes_after": len(kept),
            "smallest_class_after": min(kept, default=None),
            "records_suppressed": suppressed_records,
            "values_suppressed": suppressed_values,
            "records_without_quasi_identifiers": self.blank_records + suppressed_records,
        }


class RecordsChanged(RuntimeError):
    """The second pass saw records the first pass counted differently."""
