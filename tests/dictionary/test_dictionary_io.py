"""Reading, checking and writing REDCap data dictionaries."""

import csv
import io
from pathlib import Path

import pytest

from casereports.dictionary import (
    HEADER,
    DictionaryError,
    read_dictionary,
    read_quality_rules,
    validate_value,
)
from casereports.dictionary.model import FIELD_TYPES

STUDY = Path(__file__).parent / "fixtures" / "study.csv"


def dictionary_text(*rows: dict[str, str]) -> str:
    """A dictionary whose first row is a record id, plus the given rows (by column name)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["record_id", "intake", "", "text", "Record ID"] + [""] * 13)
    for row in rows:
        cells = {"Form Name": "intake", "Field Type": "text", "Field Label": "Q", **row}
        writer.writerow([cells.get(column, "") for column in HEADER])
    return out.getvalue()


def problems_of(text: str) -> list[str]:
    with pytest.raises(DictionaryError) as caught:
        read_dictionary(io.StringIO(text))
    return [str(problem) for problem in caught.value.problems]


def test_a_realistic_study_dictionary_loads_with_every_field_type():
    dictionary = read_dictionary(STUDY)
    assert dictionary.forms == ["enrolment", "baseline"]
    assert {f.field_type for f in dictionary.fields} == set(FIELD_TYPES) - {"sql"}
    sex = dictionary.field("sex")
    assert sex.choices == [("1", "Female"), ("2", "Male"), ("3", "Other")]
    assert dictionary.field("consent").choices == [("1", "Yes"), ("0", "No")]
    assert dictionary.field("pregnant").branching_ast is not None
    assert dictionary.field("bmi").calc_ast is not None
    assert dictionary.field("age_text").calc_ast is not None, "@CALCTEXT was not parsed"
    assert dictionary.field("site").action_tags["@DEFAULT"] == "a1"
    assert dictionary.field("height").action_tags["@GDSI-UNIT"] == "cm"
    assert dictionary.field("mood_3").matrix_ranking
    assert dictionary.field("initials").identifier
    summary = dictionary.summary()
    assert summary["forms"] == {"enrolment": 15, "baseline": 15}
    assert summary["calculated"] == 3


def test_writing_and_reading_back_gives_the_same_dictionary_and_hash():
    dictionary = read_dictionary(STUDY)
    again = read_dictionary(io.StringIO(dictionary.to_csv()))
    assert again.to_csv() == dictionary.to_csv()
    assert again.content_hash == dictionary.content_hash


def test_cosmetic_differences_do_not_make_a_new_version():
    text = STUDY.read_text(encoding="utf-8")
    cosmetic = "\ufeff" + text.replace("1, Female | 2, Male | 3, Other", "1,Female|2,Male|3,Other")
    cosmetic = cosmetic.replace("\n", "\r\n")
    assert (
        read_dictionary(io.StringIO(cosmetic)).content_hash == read_dictionary(STUDY).content_hash
    )


def test_a_real_change_makes_a_new_hash():
    text = STUDY.read_text(encoding="utf-8").replace("Date of birth", "Birth date")
    assert read_dictionary(io.StringIO(text)).content_hash != read_dictionary(STUDY).content_hash


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"Variable / Field Name": "lookup", "Field Type": "sql"},
            "row 3 (lookup): field type 'sql' is not supported",
        ),
        (
            {"Variable / Field Name": "x", "Field Type": "matrix"},
            "row 3 (x): field type 'matrix' is unknown",
        ),
        ({"Variable / Field Name": "2x"}, "row 3 (2x): '2x' is not a valid variable name"),
        (
            {"Variable / Field Name": "x", "Text Validation Type OR Show Slider Number": "foo"},
            "row 3 (x): validation type 'foo' is unknown",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Branching Logic (Show field only if...)": "[event-name] = 'a'",
            },
            "row 3 (x): branching logic: ",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Branching Logic (Show field only if...)": "[visit_1_arm_1][record_id] = '1'",
            },
            "cross-event",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Branching Logic (Show field only if...)": "[nope] = '1'",
            },
            "row 3 (x): branching logic refers to [nope], which is not a field",
        ),
        (
            {"Variable / Field Name": "x", "Field Type": "calc"},
            "row 3 (x): calc field has no calculation",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Field Type": "calc",
                "Choices, Calculations, OR Slider Labels": "function() { return 1; }",
            },
            "JavaScript",
        ),
        (
            {"Variable / Field Name": "x", "Field Type": "radio"},
            "row 3 (x): a radio field needs choices",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Field Type": "radio",
                "Choices, Calculations, OR Slider Labels": "1, A | 1, B",
            },
            "choice code '1' appears twice",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Field Type": "checkbox",
                "Choices, Calculations, OR Slider Labels": "a-b, A",
            },
            "choice code 'a-b' may only use letters, digits and _",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Text Validation Type OR Show Slider Number": "integer",
                "Text Validation Min": "10",
                "Text Validation Max": "2",
            },
            "min 10 is greater than max 2",
        ),
        (
            {
                "Variable / Field Name": "x",
                "Text Validation Type OR Show Slider Number": "date_ymd",
                "Text Validation Min": "yesterday",
            },
            "min 'yesterday' is not a valid date",
        ),
        (
            {"Variable / Field Name": "x", "Required Field?": "yes"},
            "'Required Field?' must be y or blank",
        ),
        (
            {"Variable / Field Name": "x", "Field Annotation": "@CALCTEXT(1 + "},
            "no closing parenthesis",
        ),
        (
            {"Variable / Field Name": "record_id"},
            "row 3 (record_id): duplicate variable name 'record_id' (first at row 2)",
        ),
    ],
)
def test_each_unsupported_or_malformed_row_is_named(row, expected):
    messages = problems_of(dictionary_text(row))
    assert any(expected in message for message in messages), messages


def test_every_problem_is_reported_not_just_the_first():
    messages = problems_of(
        dictionary_text(
            {"Variable / Field Name": "a", "Field Type": "sql"},
            {
                "Variable / Field Name": "b",
                "Branching Logic (Show field only if...)": "[user-name] = 'x'",
            },
            {
                "Variable / Field Name": "c",
                "Field Type": "calc",
                "Choices, Calculations, OR Slider Labels": "x = 1;",
            },
        )
    )
    assert [m.split(":")[0] for m in messages] == ["row 3 (a)", "row 4 (b)", "row 5 (c)"]
    assert "smart variable" in messages[1]


def test_a_split_form_and_a_scattered_matrix_group_are_refused():
    messages = problems_of(
        dictionary_text(
            {"Variable / Field Name": "a", "Form Name": "other"},
            {
                "Variable / Field Name": "b",
                "Field Type": "radio",
                "Choices, Calculations, OR Slider Labels": "1, A",
                "Matrix Group Name": "m",
            },
            {"Variable / Field Name": "c"},
            {
                "Variable / Field Name": "d",
                "Field Type": "radio",
                "Choices, Calculations, OR Slider Labels": "1, A",
                "Matrix Group Name": "m",
            },
        )
    )
    assert any("row 4 (b): form 'intake' is split" in m for m in messages), messages
    assert any("row 6 (d): matrix group 'm' is not adjacent" in m for m in messages), messages


def test_a_calculation_may_not_use_a_later_calculation():
    messages = problems_of(
        dictionary_text(
            {
                "Variable / Field Name": "a",
                "Field Type": "calc",
                "Choices, Calculations, OR Slider Labels": "[b] + 1",
            },
            {
                "Variable / Field Name": "b",
                "Field Type": "calc",
                "Choices, Calculations, OR Slider Labels": "2",
            },
        )
    )
    assert any("row 3 (a): calculation uses calculated field [b]" in m for m in messages)


def test_the_first_field_must_be_the_record_id():
    text = dictionary_text().replace("record_id,intake,,text", "record_id,intake,,radio")
    assert any("first field is the record id" in m for m in problems_of(text))


def test_a_wrong_header_names_the_missing_and_unexpected_columns():
    text = dictionary_text().replace("Field Note", "Notes")
    (message,) = problems_of(text)
    assert "missing columns: 'Field Note'" in message and "unexpected columns: 'Notes'" in message


def test_an_empty_file_and_broken_quoting_are_problems_not_crashes():
    assert problems_of("") == ["file: the file is empty"]
    broken = dictionary_text() + 'x,intake,,text,"unterminated\n'
    assert any("row 3" in m and "CSV" in m for m in problems_of(broken))


@pytest.mark.parametrize(
    ("field_name", "raw", "normalised", "error"),
    [
        ("dob", "31-12-1980", "1980-12-31", None),
        ("dob", "1980-12-31", "1980-12-31", None),
        ("dob", "31-02-1980", "31-02-1980", "is not a date (DD-MM-YYYY)"),
        ("dob", "01-01-1890", "1890-01-01", "must be on or after 1900-01-01"),
        ("enrol_date", "2018-12-31", "2018-12-31", "must be on or after 2019-01-01"),
        ("enrol_date", "2999-01-01", "2999-01-01", "must be on or before"),
        ("seen_at", "12-31-2021 14:05", "2021-12-31 14:05", None),
        ("seen_at_s", "2021-12-31 14:05", "2021-12-31 14:05", "is not a date and time"),
        ("enrol_time", "25:00", "25:00", "is not a time"),
        ("height", "180", "180", None),
        ("height", "180.5", "180.5", "is not a whole number"),
        ("height", "99", "99", "must be at least 100"),
        ("weight", "70.5", "70.5", None),
        ("weight", "70.55", "70.55", "must have exactly 1 decimal place(s)"),
        ("score", "3,25", "3.25", None),
        ("email", "a@b.org", "a@b.org", None),
        ("email", "not-an-address", "not-an-address", "is not an e-mail address"),
        ("phone", "+44 20 7946 0958", "+44 20 7946 0958", None),
        ("initials", "JS", "JS", None),
        ("initials", "J5", "J5", "is not letters only"),
        ("postcode", "12345-6789", "12345-6789", None),
        ("sex", "female", "1", None),
        ("sex", "2", "2", None),
        ("sex", "9", "9", "'9' is not one of the choices (1, 2, 3)"),
        ("weight", "", "", None),
    ],
)
def test_values_are_checked_and_normalised_by_validation_type(field_name, raw, normalised, error):
    field = read_dictionary(STUDY).field(field_name)
    got, got_error = validate_value(field, raw)
    assert got == normalised
    assert got_error == error if error is None else error in got_error


def test_quality_rules_name_the_row_and_the_problem(tmp_path):
    dictionary = read_dictionary(STUDY)
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "rule_id,rule_name,rule_logic,kind,blanks,set_field,set_value\n"
        "R1,Too heavy,[weight] > 250,check,weight,,\n"
        "R2,Fill consent,[consent] = '',repair,,consent,'0'\n"
        "R3,Unknown,[nope] > 1,check,nope,,\n"
        "R4,Bad logic,[weight] >,check,weight,,\n",
        encoding="utf-8",
    )
    with pytest.raises(DictionaryError) as caught:
        read_quality_rules(rules, dictionary)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith("row 4 (R3): refers to [nope]") for m in messages), messages
    assert any(m.startswith("row 5 (R4): rule_logic:") for m in messages), messages
