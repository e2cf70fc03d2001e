"""De-identifying one record: pseudonyms, date shifts, ages, removed fields, derived values."""

import csv
import io
from datetime import date

import pytest
from deid_helpers import KEY, OTHER_KEY, core_dictionary, records

from casereports.dictionary import read_dictionary
from exports.deidentify import Deidentifier, is_free_text
from exports.profiles import PROFILES, Profile

DICTIONARY = core_dictionary()
CENTRAL, OPEN = PROFILES["central"], PROFILES["open"]
DATE_FIELDS = [f.name for f in DICTIONARY.fields if f.validation.startswith("date")]


def one(profile=CENTRAL, key=KEY, **values):
    record = {**records(DICTIONARY, 1)[0], **values}
    return Deidentifier(DICTIONARY, profile, key).record(record)


def test_the_pseudonym_is_stable_for_a_key_and_unrelated_under_another():
    first = one(secret_name="C_ABC123")["secret_name"]
    assert first == one(secret_name="C_ABC123")["secret_name"]
    assert first.startswith("G_") and len(first) == 22
    assert "ABC123" not in first
    assert one(secret_name="C_ABC124")["secret_name"] != first
    assert one(key=OTHER_KEY, secret_name="C_ABC123")["secret_name"] != first


def test_the_date_offset_is_not_the_pseudonym_under_another_name():
    deidentifier = Deidentifier(DICTIONARY, OPEN, KEY)
    offsets = {deidentifier.date_offset(f"C_{n}") for n in range(2000)}
    assert offsets == set(range(-15, 0)) | set(range(1, 16))  # every offset, never 0
    assert Deidentifier(DICTIONARY, OPEN, OTHER_KEY).date_offset("C_1") in offsets


def test_every_date_of_a_record_moves_by_the_same_days_so_intervals_survive():
    values = {name: "2021-03-10" for name in DATE_FIELDS}
    values["covid19_admission_hospital_release"] = "2021-03-24"
    out = one(OPEN, **values)
    shift = date.fromisoformat(out["covid19_date_reporting"]) - date(2021, 3, 10)
    assert 1 <= abs(shift.days) <= 15
    for name in DATE_FIELDS:
        expected = date(2021, 3, 24 if name == "covid19_admission_hospital_release" else 10)
        assert date.fromisoformat(out[name]) - expected == shift, name


def test_dates_are_kept_by_central_and_can_be_removed():
    assert one(CENTRAL, ms_onset_date="2010-05-01")["ms_onset_date"] == "2010-05-01"
    no_dates = Profile(name="no-dates", description="", dates="remove")
    out = one(no_dates, ms_onset_date="2010-05-01")
    assert all(out[name] == "" for name in DATE_FIELDS)


@pytest.mark.parametrize(
    ("age", "central", "open_band"),
    [
        ("0", "0", "0-17"),
        ("17", "17", "0-17"),
        ("18", "18", "18-29"),
        ("49", "49", "40-49"),
        ("79", "79", "70-79"),
        ("80", "80", "80+"),
        ("89", "89", "80+"),
        ("90", "90", "80+"),
        ("104", "90", "80+"),
        ("-1", "-1", ""),
        ("", "", ""),
        ("old", "", ""),
    ],
)
def test_ages_are_top_coded_at_90_in_central_and_banded_in_open(age, central, open_band):
    assert one(CENTRAL, age_years=age)["age_years"] == central
    assert one(OPEN, age_years=age)["age_years"] == open_band


def test_free_text_fields_are_the_unvalidated_text_ones_and_the_tagged_ones():
    free = {f.name for f in DICTIONARY.fields if is_free_text(f)} - {"secret_name"}
    assert free == {
        "last_white_blood_cell_unit",
        "last_lympho_cell_unit",
        "last_b_cell_unit",
        "type_dmt_other",
        "dmt_glucocorticoid_dosage_unit",
        "com_other",
    }
    out = one(CENTRAL, com_other="lives at 1 High Street", type_dmt_other="trial drug X")
    assert out["com_other"] == "" and out["type_dmt_other"] == ""
    assert "com_other" in out, "a removed field keeps its (blank) column"


def test_a_derived_value_computed_from_a_changed_field_is_blanked():
    out = one(OPEN, age_in_cat="3", dmt_type_overall="currently on another drug", bmi="22.5")
    assert out["age_in_cat"] == ""  # from the age, banded in open
    assert out["dmt_type_overall"] == ""  # from type_dmt_other, free text
    assert out["bmi"] == "22.5"  # from height and weight, which no profile changes


def test_other_keys_of_the_case_do_not_leave_and_the_report_source_does():
    out = one(CENTRAL, report_source="patients", site_code="site-a", consent_withdrawn=False)
    assert out["report_source"] == "patients"
    assert "site_code" not in out and "consent_withdrawn" not in out


def test_a_record_without_its_id_is_refused_by_name():
    with pytest.raises(ValueError, match="secret_name"):
        one(secret_name="")


def test_an_empty_key_is_refused():
    with pytest.raises(ValueError, match="GDSI_EXPORT_KEY"):
        Deidentifier(DICTIONARY, CENTRAL, b"")


def test_the_first_pass_sees_the_quasi_identifiers_as_the_record_exports_them():
    deidentifier = Deidentifier(DICTIONARY, OPEN, KEY)
    for row in records(DICTIONARY, 50):
        full = deidentifier.record(row)
        quasi = deidentifier.quasi_identifiers_of(row)
        assert quasi == {name: full[name] for name in [*OPEN.quasi_identifiers, "report_source"]}


def test_a_datetime_moves_by_the_records_offset_and_keeps_its_time_of_day():
    rows = list(csv.reader(io.StringIO(DICTIONARY.to_csv())))
    for row in rows:
        if row[0] == "covid19_admission_hospital_date":
            row[7:10] = ["datetime_ymd", "", ""]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    dictionary = read_dictionary(text.getvalue())
    record = records(dictionary, 1)[0] | {
        "covid19_date_reporting": "2021-01-10",
        "covid19_admission_hospital_date": "2021-01-10 14:35",
    }
    out = Deidentifier(dictionary, OPEN, KEY).record(record)
    day, clock = out["covid19_admission_hospital_date"].split(" ")
    assert clock == "14:35"
    assert day == out["covid19_date_reporting"] != "2021-01-10"
