"""The shipped core data set dictionary keeps the contract of core-dataset.md and gdsi-analysis."""

import csv
import json
import re
from pathlib import Path

import pytest

from casereports.dictionary import read_dictionary, read_quality_rules
from casereports.logic import evaluate, parse, referenced_fields
from casereports.logic.__main__ import matches  # the conformance runner's rule-8 comparison

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "casereports" / "data"
CORE = DATA / "core_dataset_v1.csv"
RULES = DATA / "core_dataset_v1_quality_rules.csv"
COUNTRIES = DATA / "countries.csv"
CONFORMANCE = ROOT / "tests" / "logic" / "conformance.jsonl"

# The 79 columns of core-dataset.md, in order (fixed by the initiative's CSV exports).
CORE_VARIABLES = [
    "secret_name",
    "covid19_date_reporting",
    "covid19_has_symptoms",
    "covid19_sympt_fever",
    "covid19_sympt_dry_cough",
    "covid19_sympt_fatigue",
    "covid19_sympt_pain",
    "covid19_sympt_sore_throat",
    "covid19_sympt_shortness_breath",
    "covid19_sympt_nasal_congestion",
    "covid19_sympt_chills",
    "covid19_sympt_loss_smell_taste",
    "covid19_sympt_pneumonia",
    "covid19_suspected_case",
    "covid19_self_isolation",
    "covid19_self_isolation_by_self_patient",
    "covid19_self_isolation_date",
    "covid19_self_isolation_duration",
    "covid19_confirmed_case",
    "covid19_date_lab_test",
    "covid19_country",
    "covid19_date_suspected_onset",
    "covid19_admission_hospital",
    "covid19_admission_hospital_date",
    "covid19_admission_hospital_release",
    "covid19_icu_stay",
    "covid19_still_icu_stay",
    "covid19_icu_current_duration",
    "covid19_icu_total_duration",
    "covid19_ventilation",
    "covid19_ventilation_non_invasive",
    "covid19_ventilation_invasive",
    "covid19_ecmo",
    "covid19_outcome_recovered",
    "covid19_outcome_death",
    "covid19_outcome_death_date",
    "age_years",
    "sex",
    "pregnancy",
    "current_smoker",
    "former_smoker",
    "height",
    "weight",
    "is_healthcare_profession",
    "ms_type",
    "ms_onset_date",
    "ms_diagnosis_date",
    "edss_date_diagnosis",
    "edss_value",
    "last_white_blood_cell",
    "last_white_blood_cell_unit",
    "last_lympho_cell",
    "last_lympho_cell_unit",
    "last_b_cell",
    "last_b_cell_unit",
    "current_dmt",
    "type_dmt",
    "type_dmt_other",
    "dmt_start_date",
    "dmt_end_date",
    "dmt_stop_date",
    "dmt_stop_reason",
    "dmt_glucocorticoid",
    "dmt_glucocorticoid_start_date",
    "dmt_glucocorticoid_stop_date",
    "dmt_glucocorticoid_dosage_value",
    "dmt_glucocorticoid_dosage_unit",
    "has_comorbidities",
    "com_cardiovascular_disease",
    "com_hypertension",
    "com_diabetes",
    "com_chronic_liver_disease",
    "com_chronic_kidney_disease",
    "com_neurological_neuromuscular",
    "com_lung_disease",
    "com_immunodeficiency",
    "com_malignancy",
    "com_other",
    "covid_wave",
]

YES_NO = ["yes", "no"]
YES_NO_FIELDS = [
    "covid19_has_symptoms",
    *[name for name in CORE_VARIABLES if name.startswith("covid19_sympt_")],
    "covid19_suspected_case",
    "covid19_self_isolation",
    "covid19_self_isolation_by_self_patient",
    "covid19_confirmed_case",
    "covid19_admission_hospital",
    "covid19_icu_stay",
    "covid19_still_icu_stay",
    "covid19_ventilation",
    "covid19_ventilation_non_invasive",
    "covid19_ventilation_invasive",
    "covid19_ecmo",
    "covid19_outcome_death",
    "pregnancy",
    "current_smoker",
    "former_smoker",
    "is_healthcare_profession",
    "dmt_glucocorticoid",
    "has_comorbidities",
    *[name for name in CORE_VARIABLES if name.startswith("com_") and name != "com_other"],
]
OTHER_CHOICES = {
    "covid19_outcome_recovered": ["yes", "no", "not_applicable"],
    "sex": ["female", "male", "non-binary"],
    "ms_type": ["RRMS", "SPMS", "PPMS", "CIS", "not_sure"],
    "current_dmt": ["yes", "no", "never_treated"],
    "type_dmt": [
        "interferons",
        "glatiramer",
        "natalizumab",
        "ocrelizumab",
        "fingolimod",
        "dimethyl_fumarate",
        "teriflunomide",
        "alemtuzumab",
        "cladribine",
        "siponimod",
        "rituximab",
    ],
    "dmt_stop_reason": [
        "onset_covid",
        "adverse_event",
        "patient_decision",
        "lack_efficacy",
        "pregnancy",
    ],
    "covid_wave": ["1", "2"],
}
REQUIRED = {
    "covid19_date_reporting",
    "covid19_has_symptoms",
    "covid19_suspected_case",
    "covid19_confirmed_case",
    "covid19_country",
    "covid19_admission_hospital",
    "covid19_outcome_recovered",
    "covid19_outcome_death",
    "age_years",
    "sex",
    "ms_type",
    "edss_value",
    "current_dmt",
    "has_comorbidities",
}
CLINICIAN_ONLY = {
    "covid19_outcome_death",
    "covid19_outcome_death_date",
    "last_white_blood_cell",
    "last_white_blood_cell_unit",
    "last_lympho_cell",
    "last_lympho_cell_unit",
    "last_b_cell",
    "last_b_cell_unit",
    "covid_wave",
}
FREE_TEXT = {
    "type_dmt_other",
    "com_other",
    "last_white_blood_cell_unit",
    "last_lympho_cell_unit",
    "last_b_cell_unit",
    "dmt_glucocorticoid_dosage_unit",
}
DERIVED = [
    "covid19_diagnosis",
    "sex_binary",
    "bmi",
    "bmi_in_cat2",
    "age_in_cat",
    "edss_in_cat2",
    "ms_type2",
    "disease_duration",
    "disease_duration_in_cat2",
    "current_or_former_smoker",
    "dmt_type_overall",
    "covid19_outcome_ventilation_or_ICU",
    "covid19_outcome_levels_1",
    "covid19_outcome_levels_2",
    "duration_treatment",
    "duration_treatment_cat1",
    "duration_treatment_cat2",
    "covid_wave1",
    "covid_wave2",
]
COVID_DATES_UNTIL_TODAY = {
    "covid19_date_reporting",
    "covid19_self_isolation_date",
    "covid19_date_lab_test",
    "covid19_date_suspected_onset",
}


@pytest.fixture(scope="module")
def dictionary():
    return read_dictionary(CORE)


@pytest.fixture(scope="module")
def fields(dictionary):
    return {field.name: field for field in dictionary.fields}


@pytest.fixture(scope="module")
def rules(dictionary):
    return read_quality_rules(RULES, dictionary=dictionary)


def field_logic(field) -> str:
    """The logic text of a calc field or an @CALCTEXT field."""
    if field.field_type == "calc":
        return field.calculation
    return field.action_tags["@CALCTEXT"]


def test_the_79_core_variables_come_first_in_the_documented_order(dictionary):
    names = [field.name for field in dictionary.fields]
    assert names[:79] == CORE_VARIABLES
    assert all(field.form == "derived" for field in dictionary.fields[79:])


def test_forms_are_contiguous_and_in_order(dictionary):
    runs = [dictionary.fields[0].form]
    for field in dictionary.fields[1:]:
        if field.form != runs[-1]:
            runs.append(field.form)
    expected = ["covid19", "demographics", "ms_history", "comorbidities", "administrative"]
    assert runs == [*expected, "derived"]
    assert list(dictionary.forms) == runs


@pytest.mark.parametrize("name", YES_NO_FIELDS)
def test_yes_no_questions_store_lower_case_yes_and_no(fields, name):
    assert fields[name].field_type == "radio"
    assert [code for code, _ in fields[name].choices] == YES_NO


@pytest.mark.parametrize("name, codes", sorted(OTHER_CHOICES.items()))
def test_other_choice_fields_keep_the_raw_codes(fields, name, codes):
    assert [code for code, _ in fields[name].choices] == codes


def test_every_core_choice_field_is_checked(fields):
    choice_fields = {
        name
        for name in CORE_VARIABLES
        if fields[name].field_type in ("radio", "dropdown", "checkbox", "yesno", "truefalse")
    }
    assert choice_fields == set(YES_NO_FIELDS) | set(OTHER_CHOICES) | {"covid19_country"}


def test_country_is_an_iso_code_dropdown_matching_countries_csv(fields):
    with COUNTRIES.open(encoding="utf-8") as handle:
        countries = {row["code"]: row for row in csv.DictReader(handle)}
    country = fields["covid19_country"]
    assert country.field_type == "dropdown"
    assert dict(country.choices) == {code: row["name"] for code, row in countries.items()}
    assert len(countries) == 249
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in countries)
    assert countries["GB"]["name"] == "United Kingdom"
    assert "UK" in countries["GB"]["aliases"].split(" | ")
    assert "USA" in countries["US"]["aliases"].split(" | ")


def test_country_names_and_aliases_map_to_one_code_each():
    spellings: dict[str, str] = {}
    with COUNTRIES.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            aliases = [alias for alias in row["aliases"].split(" | ") if alias]
            for spelling in [row["name"], *aliases]:
                key = spelling.casefold()
                assert spellings.setdefault(key, row["code"]) == row["code"], spelling


def test_required_flags(fields):
    assert {name for name in CORE_VARIABLES if fields[name].required} == REQUIRED


def test_edss_is_required_for_clinicians_only(fields):
    assert "@GDSI-PATIENT-OPTIONAL" in fields["edss_value"].action_tags


def test_clinician_only_fields(dictionary):
    tagged = {f.name for f in dictionary.fields if "@GDSI-CLINICIAN-ONLY" in f.action_tags}
    assert tagged == CLINICIAN_ONLY


def test_every_patient_visible_field_has_patient_wording(dictionary):
    for field in dictionary.fields:
        hidden = field.form == "derived" or "@GDSI-CLINICIAN-ONLY" in field.action_tags
        label = field.action_tags.get("@GDSI-PATIENT-LABEL")
        if hidden:
            assert label is None, field.name
        else:
            assert isinstance(label, str) and label.strip(), field.name


def test_patient_wording_is_plain(fields):
    def label(name):
        return fields[name].action_tags["@GDSI-PATIENT-LABEL"]

    assert label("covid19_admission_hospital") == "Were you admitted to hospital?"
    assert "PCR or antigen" in label("covid19_confirmed_case")
    assert label("covid19_sympt_pain") == "Aches and pains"
    assert "tell you that you had pneumonia" in label("covid19_sympt_pneumonia")


def test_quasi_identifiers_are_age_sex_country_and_every_date(dictionary):
    dates = {f.name for f in dictionary.fields if f.validation == "date_ymd"}
    tagged = {f.name for f in dictionary.fields if "@GDSI-QUASI-IDENTIFIER" in f.action_tags}
    assert tagged == {"age_years", "sex", "covid19_country"} | dates
    assert len(dates) == 15


def test_free_text_fields_are_tagged_and_nothing_is_a_direct_identifier(dictionary):
    tagged = {f.name for f in dictionary.fields if "@GDSI-FREE-TEXT" in f.action_tags}
    assert tagged == FREE_TEXT
    assert not [f.name for f in dictionary.fields if f.identifier]


def test_covid_dates_run_from_2019_and_some_until_today(dictionary):
    for field in dictionary.fields:
        if field.validation != "date_ymd" or not field.name.startswith("covid19_"):
            continue
        assert field.min == "2019-01-01", field.name
        until_today = field.name in COVID_DATES_UNTIL_TODAY
        assert (field.max == "today") is until_today, field.name
        assert ("@GDSI-MAX-TODAY" in field.action_tags) is until_today, field.name


def test_numeric_ranges_units_and_steps(fields):
    age, edss = fields["age_years"], fields["edss_value"]
    assert (age.validation, age.min, age.max) == ("integer", "0", "110")
    assert (edss.validation, edss.min, edss.max) == ("number", "0", "10")
    assert edss.action_tags["@GDSI-STEP"] == "0.5"
    assert fields["height"].action_tags["@GDSI-UNIT"] == "cm"
    assert fields["weight"].action_tags["@GDSI-UNIT"] == "kg"
    assert (fields["height"].min, fields["height"].max) == ("100", "210")
    assert (fields["weight"].min, fields["weight"].max) == ("30", "300")


def test_height_and_weight_ranges_are_soft_age_and_edss_hard(dictionary):
    soft = {f.name for f in dictionary.fields if "@GDSI-SOFT-RANGE" in f.action_tags}
    assert soft == {"height", "weight"}


def test_branching_follows_the_documented_conditions(fields):
    assert fields["covid19_sympt_chills"].branching == "[covid19_has_symptoms] = 'yes'"
    assert fields["pregnancy"].branching == "[sex] = 'female'"
    assert fields["former_smoker"].branching == "[current_smoker] = 'no'"
    assert fields["dmt_stop_reason"].branching == "[current_dmt] = 'no'"
    assert fields["covid19_ecmo"].branching == "[covid19_ventilation] = 'yes'"
    assert fields["com_other"].branching == "[has_comorbidities] = 'yes'"


def test_report_source_is_a_hidden_system_field(fields):
    source = fields["report_source"]
    assert source.form == "derived"
    assert [code for code, _ in source.choices] == ["clinicians", "patients"]
    assert "@HIDDEN" in source.action_tags
    assert "@GDSI-SYSTEM" in source.action_tags


def test_every_derived_variable_is_present_hidden_and_computed(dictionary):
    derived = [f for f in dictionary.fields if f.form == "derived" and f.name != "report_source"]
    assert [f.name for f in derived] == DERIVED
    for field in derived:
        assert "@HIDDEN" in field.action_tags, field.name
        assert field.calc_ast is not None, field.name


def test_derived_variables_only_reference_earlier_fields(dictionary):
    earlier: set[str] = set()
    for field in dictionary.fields:
        if field.calc_ast is not None:
            assert referenced_fields(field.calc_ast) <= earlier, field.name
        earlier.add(field.name)


def test_quality_rules_cover_q1_to_q15_then_repairs(rules):
    checks = [rule for rule in rules if rule.kind == "check"]
    families = {re.match(r"(Q\d+)_", rule.rule_id).group(1) for rule in checks}
    assert families == {f"Q{n}" for n in range(1, 16)}
    kinds = [rule.kind for rule in rules]
    assert kinds == sorted(kinds)  # every check before the first repair
    q5 = {rule.rule_id for rule in rules if rule.rule_id.startswith("Q5_")}
    assert len(q5) == 14
    assert "Q5_covid19_admission_hospital_release" not in q5  # its name lacks "date"


def test_no_check_reads_a_variable_an_earlier_check_blanked(rules):
    """Sequential checks must give the toolkit's all-at-once result."""
    blanked: set[str] = set()
    for rule in (rule for rule in rules if rule.kind == "check"):
        reads = referenced_fields(parse(rule.rule_logic))
        blanks = set(rule.blanks.split()) if isinstance(rule.blanks, str) else set(rule.blanks)
        assert not (reads & blanked) - blanks, rule.rule_id
        blanked |= blanks


def test_ventilation_repair_tests_invasive_or_non_invasive(rules):
    repair = next(rule for rule in rules if rule.rule_id == "R2_covid19_ventilation")
    reads = referenced_fields(parse(repair.rule_logic))
    assert {"covid19_ventilation_invasive", "covid19_ventilation_non_invasive"} <= reads


def _conformance_cases() -> list[dict]:
    with CONFORMANCE.open(encoding="utf-8") as handle:
        cases = [json.loads(line) for line in handle if line.strip()]
    return [case for case in cases if case.get("group", "").startswith("core:")]


def test_conformance_expressions_are_the_shipped_ones(dictionary, rules):
    shipped = {f.name: field_logic(f) for f in dictionary.fields if f.calc_ast is not None}
    shipped |= {rule.rule_id: rule.rule_logic for rule in rules}
    cases = _conformance_cases()
    assert len(cases) >= 120
    for case in cases:
        name = case["group"].removeprefix("core:")
        assert case["expr"] == shipped[name], case["group"]
    assert {case["group"].removeprefix("core:") for case in cases} == set(shipped)


@pytest.mark.parametrize("case", _conformance_cases(), ids=lambda case: case["group"])
def test_conformance_case_on_the_python_engine(case):
    result = evaluate(parse(case["expr"]), case["data"])
    assert matches(case["expected"], result), (case, result)
