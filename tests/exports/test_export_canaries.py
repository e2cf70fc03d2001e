"""No export of a profile that removes them carries an identifier, a free-text answer, a note,
or a record id: canaries planted in every such field of 300 records are searched for in every
member of the zip (issue 4, "Never leak")."""

import pytest
from deid_helpers import KEY, OTHER_KEY, csv_rows, export, extended_text, members, records

from casereports.dictionary import read_dictionary
from exports.profiles import PROFILES, Profile

TEXT = extended_text()
DICTIONARY = read_dictionary(TEXT)
COUNT = 300
KEEP_EVERYTHING = Profile(
    name="keep-everything",
    description="test only: removes nothing",
    remove_identifiers=False,
    remove_free_text=False,
    remove_notes=False,
)


def kinds_of_fields() -> dict[str, list[str]]:
    """Found from the dictionary here, not by the code under test."""
    record_id = DICTIONARY.record_id
    free_text = [
        f.name
        for f in DICTIONARY.fields
        if f.name != record_id
        and f.calc_ast is None
        and (
            "@GDSI-FREE-TEXT" in f.action_tags
            or (f.field_type == "text" and not f.validation and not f.choices)
        )
    ]
    return {
        "identifier": [f.name for f in DICTIONARY.fields if f.identifier],
        "free text": free_text,
        "notes": [f.name for f in DICTIONARY.fields if f.field_type == "notes"],
        "derived from free text": ["comment_copy"],
    }


KINDS = kinds_of_fields()
PLANTED = sorted({name for names in KINDS.values() for name in names})


def canary(field: str, number: int) -> str:
    return f"Canary-{PLANTED.index(field):02d}-{number:04d}-ZQ"


def planted_records() -> list[dict[str, str]]:
    rows = records(DICTIONARY, COUNT, seed=99)
    for number, row in enumerate(rows):
        for name in PLANTED:
            row[name] = canary(name, number)
    return rows


ROWS = planted_records()


def test_there_is_a_field_of_every_kind_to_plant_a_canary_in():
    for kind, names in KINDS.items():
        assert names, f"no {kind} field: the canary test would pass vacuously"
    assert len(KINDS["free text"]) >= 6


def leaks(path, needles: list[bytes]) -> list[tuple[str, bytes]]:
    found = []
    raw = path.read_bytes().lower()
    contents = {"(zip bytes)": raw} | {name: data.lower() for name, data in members(path).items()}
    for name, data in contents.items():
        found += [(name, needle) for needle in needles if needle.lower() in data]
    return found


@pytest.mark.parametrize("profile", ["central", "open"])
def test_no_canary_and_no_record_id_is_anywhere_in_the_zip(tmp_path, profile):
    _, path = export(tmp_path, DICTIONARY, TEXT, PROFILES[profile], ROWS)
    assert leaks(path, [b"canary"]) == []
    record_ids = [row[DICTIONARY.record_id].encode() for row in ROWS]
    assert leaks(path, record_ids) == []
    written = csv_rows(members(path)["redcap_records.csv"])
    assert len(written) == COUNT
    assert all(row[name] == "" for row in written for name in PLANTED)


def test_the_search_finds_canaries_when_a_profile_keeps_them(tmp_path):
    _, path = export(tmp_path, DICTIONARY, TEXT, KEEP_EVERYTHING, ROWS)
    found = leaks(path, [canary(name, 7).encode() for name in PLANTED])
    assert {needle for _, needle in found} == {canary(name, 7).encode() for name in PLANTED}
    assert leaks(path, [canary(PLANTED[0], 7).lower().encode()])  # case-insensitive too


def test_the_pseudonym_is_the_same_in_two_exports_with_one_key_and_not_with_another(tmp_path):
    def pseudonyms(key: bytes, name: str) -> list[str]:
        _, path = export(tmp_path, DICTIONARY, TEXT, PROFILES["central"], ROWS, key=key, name=name)
        return [row["secret_name"] for row in csv_rows(members(path)["redcap_records.csv"])]

    first = pseudonyms(KEY, "first.zip")
    assert pseudonyms(KEY, "second.zip") == first
    other = pseudonyms(OTHER_KEY, "other.zip")
    assert len(set(first)) == COUNT
    assert not set(first) & set(other)
