"""A registry's weekly export, with its own column names, codes and units, turned into the core
data set by a mapping file (TOML or JSON) instead of code; a wrong mapping names its key."""

from __future__ import annotations

import json
import tomllib

import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.mapping import ColumnMapping, MappingError, load_mapping
from casereports.ingest.reader import InputError, open_core_csv

DICTIONARY = core_dictionary().dictionary

MAPPING_TOML = """
name = "Example registry weekly export"
date_format = "dmy"
ignore = ["Ward"]

[columns]
"Patient ID" = "secret_name"
"Date of report" = "covid19_date_reporting"
"Sex" = "sex"
"Age (y)" = "age_years"
"Height (m)" = "height"
"Weight (lb)" = "weight"
"Country" = "covid19_country"

[codes.sex]
"M" = "male"
"F" = "female"
"U" = ""

[units]
height = "m"
weight = "lb"

[constants]
covid19_confirmed_case = "Yes"
"""

EXPORT = (
    "Patient ID,Date of report,Sex,Age (y),Height (m),Weight (lb),Country,Ward,Comment\n"
    "P1,03/02/2021,F,44,1.70,143.3,Deutschland,4B,\n"
    "P2,04/02/2021,m,50,1.825,200,FR,,\n"
    "P3,05/02/2021,U,,1.6,,de,,\n"
    "P4,06/02/2021,X,39,,,IT,,\n"
)


def mapping(text: str = MAPPING_TOML, **options) -> ColumnMapping:
    return load_mapping(text, DICTIONARY, **options)


def read(path, **options):
    with open_core_csv(path, DICTIONARY, **options) as reader:
        return list(reader), reader


def picked(row, *names):
    return [row.values[name] for name in names]


@pytest.mark.parametrize("form", ["toml", "json"])
def test_a_mapping_turns_a_registrys_own_export_into_the_core_data_set(tmp_path, form):
    text = MAPPING_TOML if form == "toml" else json.dumps(tomllib.loads(MAPPING_TOML))
    source = tmp_path / "export.csv"
    source.write_text(EXPORT)

    rows, reader = read(source, mapping=mapping(text))

    fields = ("secret_name", "covid19_date_reporting", "sex", "age_years", "height", "weight")
    assert [picked(row, *fields, "covid19_country") for row in rows] == [
        ["P1", "2021-02-03", "female", "44", "170", "65", "DE"],
        ["P2", "2021-02-04", "male", "50", "182.5", "90.72", "FR"],
        ["P3", "2021-02-05", "", "", "160", "", "DE"],
        ["P4", "2021-02-06", "", "39", "", "", "IT"],
    ]
    assert {row.values["covid19_confirmed_case"] for row in rows} == {"yes"}
    assert rows[3].unparsable == [("Sex", "not one of the codes (female, male, non-binary)")]
    plan = reader.plan
    assert (plan.date_format, plan.date_order_from) == ("dmy", "mapping")
    assert plan.renamed_columns()["Height (m)"] == "height"
    assert plan.ignored_by_mapping == ["Ward"]
    assert plan.unknown_columns == ["Comment"]
    assert plan.constants == {"covid19_confirmed_case": "yes"}
    assert "covid19_confirmed_case" not in plan.missing_columns
    assert plan.describe()["mapping"] == {
        "name": "Example registry weekly export",
        "fingerprint": mapping().fingerprint,
    }
    assert reader.normalisations() == [
        entry("Date of report", "covid19_date_reporting", "day-first date read as YYYY-MM-DD", 4),
        entry("Sex", "sex", "registry code mapped", 3),
        entry("Height (m)", "height", "converted from m to cm", 3),
        entry("Weight (lb)", "weight", "converted from lb to kg", 2),
        entry("Country", "covid19_country", "code read in another letter case", 1),
        entry("Country", "covid19_country", "country name read as its ISO code", 1),
    ]


def entry(column: str, field: str, what: str, count: int) -> dict:
    return {"column": column, "field": field, "what": what, "count": count}


def test_toml_and_json_saying_the_same_have_one_fingerprint():
    from_toml = mapping()
    from_json = mapping(json.dumps(tomllib.loads(MAPPING_TOML), indent=2))
    assert from_toml == from_json
    assert from_toml.fingerprint == from_json.fingerprint
    assert len(from_toml.fingerprint) == 64
    assert from_toml.to_dict()["codes"] == {"sex": {"F": "female", "M": "male", "U": ""}}
    assert from_toml.to_dict()["constants"] == {"covid19_confirmed_case": "yes"}
    assert mapping(MAPPING_TOML.replace('"dmy"', '"mdy"')).fingerprint != from_toml.fingerprint


def test_an_order_named_by_the_caller_wins_over_the_mappings(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text(EXPORT)
    rows, reader = read(source, mapping=mapping(), date_format="mdy")
    assert (reader.plan.date_format, reader.plan.date_order_from) == ("mdy", "given")
    assert rows[0].values["covid19_date_reporting"] == "2021-03-02"


def test_the_record_id_may_be_renamed_and_the_delimiter_is_found_by_its_new_name(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("Patient ID;Age (y)\nP1;44,5\n")
    text = '[columns]\n"Patient ID" = "secret_name"\n"Age (y)" = "age_years"\n'
    (row,), reader = read(source, mapping=mapping(text))
    assert reader.plan.delimiter == ";"
    assert picked(row, "secret_name", "age_years") == ["P1", "44.5"]
    assert reader.plan.absent_mapped_columns == []


def test_a_file_column_and_a_mapped_column_feeding_one_field_are_refused(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("secret_name,sex,Gender\nP1,female,F\n")
    with pytest.raises(InputError, match="the columns sex and Gender both feed the field sex"):
        read(source, mapping=mapping('[columns]\n"Gender" = "sex"\n'))


def test_an_ignored_column_feeds_nothing_even_when_named_like_a_field(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("secret_name,sex,Gender\nP1,female,M\n")
    text = 'ignore = ["sex"]\n[columns]\n"Gender" = "sex"\n[codes.sex]\n"M" = "male"\n'
    (row,), reader = read(source, mapping=mapping(text))
    assert row.values["sex"] == "male"
    assert reader.plan.ignored_by_mapping == ["sex"]


def test_a_constant_for_a_field_the_file_has_is_refused(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("secret_name,covid19_country\nP1,DE\n")
    with pytest.raises(InputError, match="the mapping gives covid19_country one value"):
        read(source, mapping=mapping('[constants]\ncovid19_country = "FR"\n'))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[columns]\n"Sex" = "sexx"\n', "columns.Sex: sexx is not a field of the core data set "),
        ('[columns]\n"Sex" = "sexx"\n', "(did you mean sex?)"),
        ('[columns]\n"BMI" = "bmi"\n', "columns.BMI: bmi is derived (the pipeline computes it)"),
        (
            '[columns]\n"Sex" = "sex"\n"Gender" = "sex"\n',
            'columns.Gender: sex is already fed by the column "Sex"',
        ),
        ('[codes.sex]\n"M" = "man"\n', 'codes.sex.M: "man" is not a code of sex (female, male'),
        ('[codes.age_years]\n"old" = "90"\n', "codes.age_years: age_years has no codes to map to"),
        ('[codes.sexe]\n"M" = "male"\n', "codes.sexe: sexe is not a field"),
        ('[units]\nheight = "stone"\n', 'units.height: the unit "stone" is not known; known'),
        ('[units]\nweight = "m"\n', "units.weight: weight is measured in kg, which m does not"),
        ('[units]\nage_years = "m"\n', "units.age_years: age_years is measured in years"),
        ('date_format = "dym"\n', "date_format: must be one of auto, ymd, dmy, mdy"),
        ("colums = {}\n", "colums: unknown key (known: name, date_format, columns"),
        ('ignore = "Ward"\n', "ignore: must be a list of column names"),
        ('ignore = ["Sex"]\n[columns]\n"Sex" = "sex"\n', 'ignore: "Sex" is also mapped'),
        ('[constants]\nsex = "x"\n', 'constants.sex: "x" is not one of the codes'),
        ('[constants]\nreport_source = "patients"\n', "constants.report_source: the report"),
        ("[columns\n", "not valid TOML: "),
        ('{"columns": {"Sex": }}', "line 1: not valid JSON"),
        ('{"columns": {"Age (y)": 3}}', 'columns."Age (y)": must be a text in quotes'),
    ],
)
def test_a_wrong_mapping_is_refused_naming_the_key_and_what_is_wrong(text, message):
    with pytest.raises(MappingError) as refused:
        mapping(text, filename="registry.toml")
    assert str(refused.value).startswith("registry.toml: ")
    assert message in str(refused.value)


def test_a_toml_syntax_error_names_its_line():
    with pytest.raises(MappingError, match=r"line 3"):
        mapping('name = "x"\n[columns]\n"Sex" = \n')
