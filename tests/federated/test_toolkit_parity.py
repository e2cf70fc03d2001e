"""The federated command's 63 tables equal the initiative's 2021 toolkit's, cell for cell.

Three layers:
1. Hand-worked cases: one core-data-set row per category edge of every derived variable and
   per quality rule and repair, with the cells it must be counted under and the variables the
   checks must blank written out by hand (from gdsi-analysis.md and the toolkit's code), for
   the command and for the toolkit (`toolkit_oracle`, corrections off) alike.
2. Two tables written out in full as literal rows.
3. The oracle against the command on all the hand-worked rows and on thousands of random valid
   rows of both report sources: with the corrections on, all 63 tables are equal; with them
   off, exactly the records a correction touches differ, in exactly the cells it changes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from casereports.dictionary.shipped import core_dictionary
from casereports.ingest.reader import input_fields
from exports.federated.run import RunResult, count_csv
from exports.federated.tables import RECORD_KEY, TABLE_SPECS, table_file_names

from . import toolkit_oracle as oracle
from .parity_rows import BASE, CORE_COLUMNS, TODAY, random_rows, write_csv

PROJECT = {"c1": True, "c2": True, "c3": True, "codes_any_case": True}
TOOLKIT: dict[str, bool] = {}
M = "missing"

# The cells BASE is counted under by the command (worked by hand): confirmed case, ocrelizumab,
# age 45, RRMS, female, EDSS 2, not admitted (ICU and ventilation repaired to no), alive, no
# smoker answer, BMI 65/1.7^2 = 22.5, MS for 2021 - 2005 = 16 years, 684 days of treatment by
# onset 2020-11-15, registry wave 2, onset after 2020-10-01.
BASE_CELLS = {
    "covid19_diagnosis": "confirmed",
    "source": M,
    "dmt_type_overall": "currently on ocrelizumab",
    "age_in_cat": "1",
    "ms_type2": "relapsing_remitting",
    "sex_binary": "female",
    "edss_in_cat2": "0",
    "covid19_admission_hospital": "no",
    "covid19_icu_stay": "no",
    "covid19_ventilation": "no",
    "covid19_outcome_death": "no",
    "covid19_outcome_ventilation_or_ICU": "no",
    "covid19_outcome_levels_1": "0",
    "covid19_outcome_levels_2": "0",
    "current_or_former_smoker": M,
    "bmi_in_cat2": "not_overweight",
    "disease_duration_in_cat2": "1",
    "dmt_glucocorticoid": "no",
    "has_comorbidities": "no",
    "duration_treatment_cat1": "1",
    "duration_treatment_cat2": "1",
    "covid_wave1": "2",
    "covid_wave2": "2",
}
NO_SYMPTOMS = {name: "" for name in CORE_COLUMNS if name.startswith("covid19_sympt")}
NO_DISEASE_DURATION = {"disease_duration_in_cat2": M}
NO_TREATMENT_DURATION = {"duration_treatment_cat1": M, "duration_treatment_cat2": M}
NO_ONSET = {**NO_TREATMENT_DURATION, "covid_wave2": M}


@dataclass(frozen=True)
class Case:
    """A row (BASE with `changes`), the cells it is counted under and the variables blanked."""

    name: str
    changes: dict[str, str]
    cells: dict[str, str] = field(default_factory=dict)  # the command's, beyond BASE_CELLS
    toolkit: dict[str, str] = field(default_factory=dict)  # where the raw toolkit differs
    blanked: frozenset[str] = frozenset()
    source: str = "clinicians"

    def row(self) -> dict[str, str]:
        return {**BASE, "secret_name": f"C_{self.name}", **self.changes}

    def project_cells(self) -> dict[str, str]:
        return {**BASE_CELLS, **self.cells}

    def toolkit_cells(self) -> dict[str, str]:
        # Without C3 the toolkit finds no covid_wave1 column: the registry wave is missing.
        return {**BASE_CELLS, **self.cells, "covid_wave1": M, **self.toolkit}


def case(name, changes, cells=None, *, toolkit=None, blanked=(), source="clinicians") -> Case:
    return Case(name, changes, cells or {}, toolkit or {}, frozenset(blanked), source)


AGE_CASES = [
    # Age 0 is no category, and Q5 blanks every date before the reporting year (2021 - 0).
    case(
        "age_0",
        {"age_years": "0"},
        {"age_in_cat": M, **NO_DISEASE_DURATION, **NO_ONSET},
        blanked={
            "covid19_date_suspected_onset",
            "ms_onset_date",
            "ms_diagnosis_date",
            "dmt_start_date",
        },
    ),
    # Age 1: born in 2020, so Q5 blanks MS onset 2005, diagnosis 2006 and DMT start 2019.
    case(
        "age_1",
        {"age_years": "1"},
        {"age_in_cat": "0", **NO_DISEASE_DURATION, **NO_TREATMENT_DURATION},
        blanked={"ms_onset_date", "ms_diagnosis_date", "dmt_start_date"},
    ),
    case("age_17", {"age_years": "17"}, {"age_in_cat": "0"}),  # born 2004: MS onset 2005 passes
    case("age_18", {"age_years": "18"}, {"age_in_cat": "1"}),
    case("age_50", {"age_years": "50"}, {"age_in_cat": "1"}),
    case("age_51", {"age_years": "51"}, {"age_in_cat": "2"}),
    case("age_70", {"age_years": "70"}, {"age_in_cat": "2"}),
    case("age_71", {"age_years": "71"}, {"age_in_cat": "3"}),
    case("age_110", {"age_years": "110"}, {"age_in_cat": "3"}),
    case("age_111", {"age_years": "111"}, {"age_in_cat": M}, blanked={"age_years"}),  # Q8
    case("age_blank", {"age_years": ""}, {"age_in_cat": M}),
    # Age -1 fails Q8, and Q5 (which reads the age before Q8 blanks it) blanks every date of a
    # year before 2021 + 1: the reporting date itself too.
    case(
        "age_minus_1",
        {"age_years": "-1"},
        {"age_in_cat": M, **NO_DISEASE_DURATION, **NO_ONSET},
        blanked={
            "age_years",
            "covid19_date_reporting",
            "covid19_date_suspected_onset",
            "ms_onset_date",
            "ms_diagnosis_date",
            "dmt_start_date",
        },
    ),
]
EDSS_CASES = [
    case("edss_0", {"edss_value": "0"}, {"edss_in_cat2": "0"}),
    case("edss_6", {"edss_value": "6"}, {"edss_in_cat2": "0"}),
    case("edss_6.5", {"edss_value": "6.5"}, {"edss_in_cat2": "1"}),
    case("edss_10", {"edss_value": "10"}, {"edss_in_cat2": "1"}),
    case("edss_10.5", {"edss_value": "10.5"}, {"edss_in_cat2": M}, blanked={"edss_value"}),
    case("edss_minus", {"edss_value": "-0.5"}, {"edss_in_cat2": M}, blanked={"edss_value"}),
    case("edss_blank", {"edss_value": ""}, {"edss_in_cat2": M}),
]
BMI_CASES = [
    case("bmi_30_100cm", {"height": "100", "weight": "30"}, {"bmi_in_cat2": "not_overweight"}),
    case("bmi_30_200cm", {"height": "200", "weight": "120"}, {"bmi_in_cat2": "not_overweight"}),
    case("bmi_30.5", {"height": "100", "weight": "30.5"}, {"bmi_in_cat2": "overweight"}),
    # 86.7 / 1.7^2 is 30 on paper and 30.000000000000004 in floating point, for both.
    case("bmi_float_above", {"height": "170", "weight": "86.7"}, {"bmi_in_cat2": "overweight"}),
    # 76.8 / 1.6^2 is 29.999999999999993.
    case("bmi_float_below", {"height": "160", "weight": "76.8"}, {"bmi_in_cat2": "not_overweight"}),
    case("height_99", {"height": "99"}, {"bmi_in_cat2": M}, blanked={"height"}),
    case("height_211", {"height": "211"}, {"bmi_in_cat2": M}, blanked={"height"}),
    case("height_210", {"height": "210", "weight": "40"}, {"bmi_in_cat2": "not_overweight"}),
    case("weight_29", {"weight": "29"}, {"bmi_in_cat2": M}, blanked={"weight"}),
    case("weight_301", {"weight": "301"}, {"bmi_in_cat2": M}, blanked={"weight"}),
    case("weight_300", {"height": "210", "weight": "300"}, {"bmi_in_cat2": "overweight"}),
    case("height_blank", {"height": ""}, {"bmi_in_cat2": M}),
    case("weight_blank", {"weight": ""}, {"bmi_in_cat2": M}),
]
DISEASE_CASES = [
    case(
        "duration_1",
        {"ms_onset_date": "2020-02-01", "ms_diagnosis_date": ""},
        {"disease_duration_in_cat2": "0"},
    ),
    case(
        "duration_10",
        {"ms_onset_date": "2011-01-01", "ms_diagnosis_date": ""},
        {"disease_duration_in_cat2": "0"},
    ),
    case(
        "duration_11",
        {"ms_onset_date": "2010-12-31", "ms_diagnosis_date": ""},
        {"disease_duration_in_cat2": "1"},
    ),
    # Onset in the reporting year: 0 years is no category. COVID-19 onset 2021-02-01 keeps the
    # MS onset before it; 762 days of treatment.
    case(
        "duration_0",
        {
            "ms_onset_date": "2021-01-01",
            "ms_diagnosis_date": "",
            "covid19_date_suspected_onset": "2021-02-01",
        },
        {"disease_duration_in_cat2": M, "duration_treatment_cat1": "2"},
    ),
    case("ms_onset_blank", {"ms_onset_date": ""}, NO_DISEASE_DURATION),
]
TREATMENT_CASES = [
    case(
        "days_0",
        {"dmt_start_date": "2020-11-15"},
        {"duration_treatment_cat1": "0", "duration_treatment_cat2": "0"},
    ),
    case(
        "days_181",
        {"dmt_start_date": "2020-05-18"},
        {"duration_treatment_cat1": "0", "duration_treatment_cat2": "0"},
    ),
    case("days_182", {"dmt_start_date": "2020-05-17"}, {"duration_treatment_cat1": "0"}),
    case("days_364", {"dmt_start_date": "2019-11-17"}, {"duration_treatment_cat1": "0"}),
    case("days_365", {"dmt_start_date": "2019-11-16"}),
    case("days_729", {"dmt_start_date": "2018-11-17"}),
    case("days_730", {"dmt_start_date": "2018-11-16"}, {"duration_treatment_cat1": "2"}),
    # Started after the onset (and before the report): -5 days is the lowest class of both.
    case(
        "days_minus_5",
        {"dmt_start_date": "2020-11-20"},
        {"duration_treatment_cat1": "0", "duration_treatment_cat2": "0"},
    ),
    case("start_blank", {"dmt_start_date": ""}, NO_TREATMENT_DURATION),
]
WAVE_CASES = [
    case("onset_2020-05-30", {"covid19_date_suspected_onset": "2020-05-30"}, {"covid_wave2": "1"}),
    case("onset_2020-05-31", {"covid19_date_suspected_onset": "2020-05-31"}, {"covid_wave2": M}),
    case("onset_2020-10-01", {"covid19_date_suspected_onset": "2020-10-01"}, {"covid_wave2": M}),
    case("onset_2020-10-02", {"covid19_date_suspected_onset": "2020-10-02"}, {"covid_wave2": "2"}),
    case("onset_blank", {"covid19_date_suspected_onset": ""}, NO_ONSET),
    case("registry_wave_1", {"covid_wave": "1"}, {"covid_wave1": "1"}),  # C3
    case("registry_wave_blank", {"covid_wave": ""}, {"covid_wave1": M}),
]


def dmt(name, current, kind="", other="", expected="", **options) -> Case:
    changes = {"current_dmt": current, "type_dmt": kind, "type_dmt_other": other}
    return case(f"dmt_{name}", changes, {"dmt_type_overall": expected or M}, **options)


DRUGS = {
    "interferons": "currently on interferon",
    "glatiramer": "currently on glatiramer",
    "natalizumab": "currently on natalizumab",
    "ocrelizumab": "currently on ocrelizumab",
    "fingolimod": "currently on fingolimod",
    "dimethyl_fumarate": "currently on dimethyl fumarate",
    "teriflunomide": "currently on teriflunomide",
    "alemtuzumab": "currently on alemtuzumab",
    "cladribine": "currently on cladribine",
    "siponimod": "currently on siponimod",
    "rituximab": "currently on rituximab",
}
NOT_USING = "currently not using any DMT"
ANOTHER = "currently on another drug not listed"
DMT_CASES = [
    dmt("no_information", "", expected="No Information on DMT use"),
    dmt("drug_without_answer", "", "ocrelizumab"),
    dmt("no", "no", expected=NOT_USING),
    dmt("no_with_drug", "no", "natalizumab", expected=NOT_USING),
    dmt("no_with_other", "no", other="ublituximab", expected=NOT_USING),
    dmt("never_treated", "never_treated", expected=NOT_USING, toolkit={"dmt_type_overall": M}),
    dmt(
        "never_treated_other",
        "never_treated",
        other="ublituximab",
        expected=NOT_USING,
        toolkit={"dmt_type_overall": M},
    ),
    *(dmt(code, "yes", code, expected=expected) for code, expected in DRUGS.items()),
    dmt("capital_yes", "Yes", "fingolimod", expected="currently on fingolimod"),
    dmt("other_overrides", "yes", "ocrelizumab", "ublituximab", expected=ANOTHER),
    dmt("other_only", "yes", "", "ublituximab", expected=ANOTHER),
    dmt("none_named", "yes", blanked={"type_dmt"}),  # Q15
    dmt("other_NA", "yes", other="NA", blanked={"type_dmt"}),  # pandas reads NA as blank
    dmt("other_null", "yes", other="null", blanked={"type_dmt"}),
    # "None" is a text for the pandas 1 of 2021 (a marker only from pandas 2.0).
    dmt("other_None", "yes", other="None", expected=ANOTHER),
]


def outcome(name, hospital, icu, ventilation, death, cells, recovered="no", **options) -> Case:
    changes = {
        "covid19_admission_hospital": hospital,
        "covid19_icu_stay": icu,
        "covid19_ventilation": ventilation,
        "covid19_outcome_death": death,
        "covid19_outcome_recovered": recovered,
    }
    return case(f"outcome_{name}", changes, cells, **options)


def levels(first: str, second: str) -> dict[str, str]:
    return {"covid19_outcome_levels_1": first, "covid19_outcome_levels_2": second}


ADMITTED = {"covid19_admission_hospital": "yes"}
OUTCOME_CASES = [
    outcome("home", "no", "", "", "no", {}),  # ICU and ventilation repaired to no
    outcome(
        "ward",
        "yes",
        "no",
        "no",
        "no",
        {**ADMITTED, **levels("1", "1")},
    ),
    outcome(
        "admitted_only",
        "yes",
        "",
        "",
        "no",
        {
            **ADMITTED,
            "covid19_icu_stay": M,
            "covid19_ventilation": M,
            "covid19_outcome_ventilation_or_ICU": M,
            **levels(M, "1"),
        },
    ),
    outcome(
        "ward_icu_no",
        "yes",
        "no",
        "",
        "no",
        {
            **ADMITTED,
            "covid19_ventilation": M,
            "covid19_outcome_ventilation_or_ICU": M,
            **levels("1", "1"),
        },
    ),
    outcome(
        "icu",
        "yes",
        "yes",
        "no",
        "no",
        {
            **ADMITTED,
            "covid19_icu_stay": "yes",
            "covid19_outcome_ventilation_or_ICU": "yes",
            **levels("2", "2"),
        },
    ),
    outcome(
        "ventilated",
        "yes",
        "",
        "yes",
        "no",
        {
            **ADMITTED,
            "covid19_icu_stay": M,
            "covid19_ventilation": "yes",
            "covid19_outcome_ventilation_or_ICU": "yes",
            **levels("2", "2"),
        },
    ),
    outcome(
        "died_in_icu",
        "yes",
        "yes",
        "yes",
        "yes",
        {
            **ADMITTED,
            "covid19_icu_stay": "yes",
            "covid19_ventilation": "yes",
            "covid19_outcome_death": "yes",
            "covid19_outcome_ventilation_or_ICU": "yes",
            **levels("3", "3"),
        },
    ),
    outcome(
        "died_at_home", "no", "", "", "yes", {"covid19_outcome_death": "yes", **levels("3", "3")}
    ),
    # Q14 blanks death and recovery; the levels fall back to not admitted.
    outcome(
        "died_and_recovered",
        "no",
        "",
        "",
        "yes",
        {"covid19_outcome_death": M},
        recovered="yes",
        blanked={"covid19_outcome_death", "covid19_outcome_recovered"},
    ),
    outcome(
        "nothing_known",
        "",
        "",
        "",
        "",
        {
            "covid19_admission_hospital": M,
            "covid19_icu_stay": M,
            "covid19_ventilation": M,
            "covid19_outcome_death": M,
            "covid19_outcome_ventilation_or_ICU": M,
            **levels(M, M),
        },
        recovered="",
    ),
    # Q6 blanks ICU = yes without admission; repair R6 then sets it to no.
    outcome("icu_not_admitted", "no", "yes", "", "no", {}, blanked={"covid19_icu_stay"}),
    outcome("recovered_so_alive", "no", "", "", "", {}, recovered="yes"),  # R7
    outcome("death_unknown", "no", "", "", "", {"covid19_outcome_death": M}),
]


def ventilation(name, hospital, answer, invasive, non_invasive, cells, **options) -> Case:
    changes = {
        "covid19_admission_hospital": hospital,
        "covid19_ventilation": answer,
        "covid19_ventilation_invasive": invasive,
        "covid19_ventilation_non_invasive": non_invasive,
    }
    return case(f"ventilation_{name}", changes, cells, **options)


VENTILATED = {
    "covid19_ventilation": "yes",
    "covid19_outcome_ventilation_or_ICU": "yes",
    **levels("2", "2"),
}
VENTILATION_CASES = [
    # Q7 blanks "no" when invasive is yes; R2 then makes it yes.
    ventilation(
        "no_but_invasive",
        "yes",
        "no",
        "yes",
        "",
        {**ADMITTED, "covid19_icu_stay": M, **VENTILATED},
        blanked={"covid19_ventilation"},
    ),
    # C2: only non-invasive yes. The toolkit's repair looks at invasive twice.
    ventilation(
        "blank_non_invasive_admitted",
        "yes",
        "",
        "",
        "yes",
        {**ADMITTED, "covid19_icu_stay": M, **VENTILATED},
        toolkit={
            "covid19_ventilation": M,
            "covid19_outcome_ventilation_or_ICU": M,
            **levels(M, "1"),
        },
        blanked={"covid19_ventilation"},
    ),
    # Not admitted: the toolkit repairs the blank to no (R3), the project to yes (C2).
    ventilation(
        "blank_non_invasive_home",
        "no",
        "",
        "",
        "yes",
        VENTILATED,
        toolkit={
            "covid19_ventilation": "no",
            "covid19_outcome_ventilation_or_ICU": "no",
            **levels("0", "0"),
        },
        blanked={"covid19_ventilation"},
    ),
    ventilation(
        "no_but_non_invasive_home",
        "no",
        "no",
        "",
        "yes",
        VENTILATED,
        toolkit={
            "covid19_ventilation": "no",
            "covid19_outcome_ventilation_or_ICU": "no",
            **levels("0", "0"),
        },
        blanked={"covid19_ventilation"},
    ),
    ventilation(
        "consistent",
        "yes",
        "yes",
        "yes",
        "no",
        {**ADMITTED, "covid19_icu_stay": M, **VENTILATED},
    ),
]
CLINICIAN_DIAGNOSIS_CASES = [
    case(
        "clinician_suspected",
        {"covid19_suspected_case": "yes", "covid19_confirmed_case": "no"},
        {"covid19_diagnosis": "suspected"},
    ),
    case(
        "clinician_not_suspected",
        {"covid19_suspected_case": "no", "covid19_confirmed_case": "no"},
        {"covid19_diagnosis": "not_suspected"},
    ),
    case(
        "clinician_unknown",
        {"covid19_suspected_case": "", "covid19_confirmed_case": ""},
        {"covid19_diagnosis": "not_suspected"},
    ),
    case(
        "clinician_confirmed",
        {"covid19_suspected_case": "no", "covid19_confirmed_case": "yes"},
        {"covid19_diagnosis": "confirmed"},
    ),
    # A clinician's report needs suspected = yes: symptoms alone do not make it suspected.
    case(
        "clinician_symptoms_only",
        {
            "covid19_suspected_case": "no",
            "covid19_confirmed_case": "no",
            "covid19_sympt_chills": "yes",
        },
        {"covid19_diagnosis": "not_suspected"},
    ),
]


def patient(name, symptoms, suspected, confirmed, diagnosis) -> Case:
    changes = {
        **NO_SYMPTOMS,
        **dict.fromkeys((f"covid19_sympt_{s}" for s in symptoms), "yes"),
        "covid19_suspected_case": suspected,
        "covid19_confirmed_case": confirmed,
    }
    return case(f"patient_{name}", changes, {"covid19_diagnosis": diagnosis}, source="patients")


PATIENT_DIAGNOSIS_CASES = [
    patient("fever_suspected", ["fever"], "yes", "no", "suspected"),
    patient("fever_chills", ["fever", "chills"], "no", "no", "suspected"),
    patient("cough_sore_throat", ["dry_cough", "sore_throat"], "", "", "suspected"),
    patient("smell_pneumonia", ["loss_smell_taste", "pneumonia"], "no", "no", "suspected"),
    patient("smell_congestion", ["loss_smell_taste", "nasal_congestion"], "", "no", "suspected"),
    patient("cough_pain", ["dry_cough", "pain"], "no", "", "suspected"),
    patient(
        "fever_breath_fatigue", ["fever", "shortness_breath", "fatigue"], "no", "no", "suspected"
    ),
    patient("fever_only", ["fever"], "no", "no", "not_suspected"),
    patient("fatigue_suspected", ["fatigue"], "yes", "no", "not_suspected"),
    patient("breath_fatigue", ["shortness_breath", "fatigue"], "yes", "no", "not_suspected"),
    patient("suspected_only", [], "yes", "no", "not_suspected"),
    patient("confirmed", [], "no", "yes", "confirmed"),
    patient("confirmed_with_symptoms", ["fever", "chills"], "yes", "yes", "confirmed"),
]
PERSON_CASES = [
    case("sex_male", {"sex": "male"}, {"sex_binary": "male"}),
    case("sex_non_binary", {"sex": "non-binary"}, {"sex_binary": M}),
    case("sex_blank", {"sex": ""}, {"sex_binary": M}),
    case("ms_spms", {"ms_type": "SPMS"}, {"ms_type2": "progressive_MS"}),
    case("ms_ppms", {"ms_type": "PPMS"}, {"ms_type2": "progressive_MS"}),
    case("ms_cis", {"ms_type": "CIS"}, {"ms_type2": "other"}),
    case("ms_not_sure", {"ms_type": "not_sure"}, {"ms_type2": "other"}),
    case("ms_blank", {"ms_type": ""}, {"ms_type2": M}),
    case("smoker_current", {"current_smoker": "yes"}, {"current_or_former_smoker": "yes"}),
    case("smoker_former", {"former_smoker": "yes"}, {"current_or_former_smoker": "yes"}),
    case(
        "smoker_former_only_known",
        {"current_smoker": "", "former_smoker": "yes"},
        {"current_or_former_smoker": "yes"},
    ),
    case("smoker_unknown", {"current_smoker": "", "former_smoker": ""}),
    # Q13 blanks both.
    case(
        "smoker_both",
        {"current_smoker": "yes", "former_smoker": "yes"},
        blanked={"current_smoker", "former_smoker"},
    ),
    case(
        "comorbidity_repaired",
        {"has_comorbidities": "", "com_diabetes": "yes"},
        {"has_comorbidities": "yes"},
    ),
    # The toolkit's repair reads every com_ column, the free-text com_other too.
    case(
        "comorbidity_other_yes",
        {"has_comorbidities": "", "com_other": "Yes"},
        {"has_comorbidities": "yes"},
    ),
    case(
        "comorbidity_other_text",
        {"has_comorbidities": "", "com_other": "asthma"},
        {"has_comorbidities": M},
    ),
    case(
        "comorbidity_unknown",
        {"has_comorbidities": "", "com_lung_disease": "no"},
        {"has_comorbidities": M},
    ),
    case("comorbidity_yes", {"has_comorbidities": "yes"}, {"has_comorbidities": "yes"}),
    case("glucocorticoid_yes", {"dmt_glucocorticoid": "yes"}, {"dmt_glucocorticoid": "yes"}),
    case("glucocorticoid_blank", {"dmt_glucocorticoid": ""}, {"dmt_glucocorticoid": M}),
    case(
        "pregnant_male",
        {"sex": "male", "pregnancy": "yes"},
        {"sex_binary": "male"},
        blanked={"pregnancy"},
    ),  # Q9
]
QUALITY_CASES = [
    # Q1 blanks the 2018 reporting date, and Q5 (reading it before Q1 blanks it) the onset and
    # the DMT start, which are later than it.
    case(
        "Q1_reported_2018",
        {"covid19_date_reporting": "2018-12-31"},
        {**NO_DISEASE_DURATION, **NO_ONSET},
        blanked={"covid19_date_reporting", "covid19_date_suspected_onset", "dmt_start_date"},
    ),
    case(
        "Q2_no_symptoms_but_fever",
        {"covid19_has_symptoms": "no"},  # BASE has fever
        blanked={"covid19_has_symptoms"},
    ),
    case("R1_symptoms_blank", {"covid19_has_symptoms": ""}),
    # Q3: an onset after today (2026-12-01), even though it is before the reporting date.
    case(
        "Q3_onset_in_future",
        {
            "covid19_date_reporting": "2099-06-01",
            "covid19_date_suspected_onset": "2099-01-01",
            "age_years": "100",  # born 1999: the 2005 MS onset passes Q5
        },
        {"age_in_cat": "3", **NO_ONSET},  # MS for 2099 - 2005 years: still the upper class
        blanked={"covid19_date_suspected_onset"},
    ),
    case(
        "Q3_isolation_2018",
        {"covid19_self_isolation_date": "2018-06-01"},
        blanked={"covid19_self_isolation_date"},
    ),
    case(
        "Q3_lab_test_2018",
        {"covid19_date_lab_test": "2018-12-31"},
        blanked={"covid19_date_lab_test"},
    ),
    case(
        "Q4_released_before_admission",
        {
            "covid19_admission_hospital_date": "2020-11-20",
            "covid19_admission_hospital_release": "2020-11-18",
        },
        blanked={"covid19_admission_hospital_release"},
    ),
    # Q5 blanks a diagnosis before the year of birth (2021 - 45); Q11 reads that diagnosis
    # date before Q5 blanks it and blanks the MS onset, which is after it.
    case(
        "Q5_diagnosis_before_birth",
        {"ms_diagnosis_date": "1970-01-01"},
        NO_DISEASE_DURATION,
        blanked={"ms_diagnosis_date", "ms_onset_date"},
    ),
    case("Q5_dmt_end_after_report", {"dmt_end_date": "2021-04-01"}, blanked={"dmt_end_date"}),
    case(
        "Q5_steroids_before_birth",
        {"dmt_glucocorticoid_start_date": "1960-01-01"},
        blanked={"dmt_glucocorticoid_start_date"},
    ),
    case(
        "Q5_death_date_after_report",
        {"covid19_outcome_death_date": "2021-03-02"},
        blanked={"covid19_outcome_death_date"},
    ),
    case(
        "Q5_edss_date_after_report",
        {"edss_date_diagnosis": "2022-01-01"},
        blanked={"edss_date_diagnosis"},
    ),
    case(
        "Q5_stop_dates_after_report",
        {
            "dmt_stop_date": "2021-05-01",
            "dmt_glucocorticoid_stop_date": "2021-03-02",
            "covid19_admission_hospital_date": "2021-03-05",
        },
        blanked={
            "dmt_stop_date",
            "dmt_glucocorticoid_stop_date",
            "covid19_admission_hospital_date",
        },
    ),
    case("Q5_report_day_itself", {"covid19_date_lab_test": "2021-03-01"}),
    case(
        "Q11_onset_after_diagnosis",
        {"ms_onset_date": "2007-01-01"},
        NO_DISEASE_DURATION,
        blanked={"ms_onset_date"},
    ),
    case(
        "Q11_onset_after_covid",
        {"ms_onset_date": "2020-12-01", "ms_diagnosis_date": ""},
        NO_DISEASE_DURATION,
        blanked={"ms_onset_date"},
    ),
]
# The project reads codes case-insensitively (`No` is `no`); the toolkit lower-cases yes/no in
# its checks and most derivations, but not in three repairs nor in two extra variables.
CASE_CASES = [
    case(
        "case_hospital_No",
        {"covid19_admission_hospital": "No"},
        toolkit={
            "covid19_icu_stay": M,
            "covid19_ventilation": M,
            "covid19_outcome_ventilation_or_ICU": M,
        },
    ),
    case(
        "case_recovered_Yes",
        {"covid19_outcome_recovered": "Yes", "covid19_outcome_death": ""},
        toolkit={"covid19_outcome_death": M},
    ),
    case(
        "case_comorbidities_Yes",
        {"has_comorbidities": "Yes"},
        {"has_comorbidities": "yes"},
        toolkit={"has_comorbidities": "Yes"},
    ),
    case(
        "case_glucocorticoid_NO", {"dmt_glucocorticoid": "NO"}, toolkit={"dmt_glucocorticoid": "NO"}
    ),
    case(
        "case_outcomes_upper",
        {
            "covid19_admission_hospital": "YES",
            "covid19_icu_stay": "Yes",
            "covid19_ventilation": "nO",
            "covid19_outcome_death": "No",
        },
        {
            **ADMITTED,
            "covid19_icu_stay": "yes",
            "covid19_outcome_ventilation_or_ICU": "yes",
            **levels("2", "2"),
        },
    ),
]
CASE_CASES += [
    # The toolkit compares ms_type with the upper-case codes exactly.
    case("case_ms_type_rrms", {"ms_type": "rrms"}, toolkit={"ms_type2": M}),
    case(
        "case_ms_type_Spms",
        {"ms_type": "Spms"},
        {"ms_type2": "progressive_MS"},
        toolkit={"ms_type2": M},
    ),
    # It lower-cases sex and the DMT answers itself.
    case("case_sex_MALE", {"sex": "MALE"}, {"sex_binary": "male"}),
    case(
        "case_dmt_upper",
        {"current_dmt": "YES", "type_dmt": "Natalizumab"},
        {"dmt_type_overall": "currently on natalizumab"},
    ),
]
CASES = [
    *AGE_CASES,
    *EDSS_CASES,
    *BMI_CASES,
    *DISEASE_CASES,
    *TREATMENT_CASES,
    *WAVE_CASES,
    *DMT_CASES,
    *OUTCOME_CASES,
    *VENTILATION_CASES,
    *CLINICIAN_DIAGNOSIS_CASES,
    *PATIENT_DIAGNOSIS_CASES,
    *PERSON_CASES,
    *QUALITY_CASES,
    *CASE_CASES,
]


# --- running both sides -----------------------------------------------------------------------


def command_run(tmp_path: Path, rows, report_source: str) -> RunResult:
    path = write_csv(tmp_path / f"{report_source}.csv", rows)
    return count_csv(path, report_source, today=TODAY)


def command_tables(result: RunResult) -> dict[tuple[str, str], list]:
    return {(spec.extra, spec.outcome): result.tables.rows(spec) for spec in TABLE_SPECS}


def oracle_tables(rows, report_source: str, flags: dict[str, bool]) -> dict[tuple[str, str], list]:
    records = oracle.toolkit_records(rows, report_source, today=TODAY, **flags)
    return oracle.toolkit_tables(records)


def only_record(tables: dict[tuple[str, str], list]) -> dict[str, str]:
    """The 23 cells of the one record the tables count (each table holds it once)."""
    cells: dict[str, str] = {}
    for spec in TABLE_SPECS:
        rows = tables[spec.extra, spec.outcome]
        assert [count for _, count in rows] == [1], spec
        for name, value in zip(spec.grouping, rows[0][0], strict=True):
            assert cells.setdefault(name, value) == value, (spec, name)
    return cells


def blanked_by_command(result: RunResult) -> set[str]:
    return {name for row in result.quality for name in row.blanked}


@pytest.mark.parametrize("worked", CASES, ids=lambda worked: worked.name)
def test_the_command_counts_a_worked_case_where_worked_out_by_hand(worked: Case, tmp_path):
    result = command_run(tmp_path, [worked.row()], worked.source)
    assert only_record(command_tables(result)) == worked.project_cells()
    assert blanked_by_command(result) == worked.blanked


@pytest.mark.parametrize("worked", CASES, ids=lambda worked: worked.name)
def test_the_toolkit_counts_a_worked_case_where_worked_out_by_hand(worked: Case):
    raw = oracle_tables([worked.row()], worked.source, TOOLKIT)
    assert only_record(raw) == worked.toolkit_cells()
    corrected = oracle_tables([worked.row()], worked.source, PROJECT)
    assert only_record(corrected) == worked.project_cells()
    records = oracle.toolkit_records([worked.row()], worked.source, today=TODAY)
    assert set(records[0].failed) == worked.blanked


def test_every_quality_rule_and_category_edge_has_a_worked_case():
    names = {worked.name for worked in CASES}
    for rule in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q11"):
        assert any(name.startswith(rule) for name in names), rule
    blanked = set().union(*(worked.blanked for worked in CASES))
    assert blanked >= {
        "covid19_date_reporting",  # Q1, Q5
        "covid19_has_symptoms",  # Q2
        "covid19_self_isolation_date",  # Q3
        "covid19_date_lab_test",  # Q3
        "covid19_date_suspected_onset",  # Q3, Q5
        "covid19_admission_hospital_release",  # Q4
        "covid19_icu_stay",  # Q6
        "covid19_ventilation",  # Q7
        "age_years",  # Q8
        "pregnancy",  # Q9
        "height",  # Q10
        "weight",  # Q10
        "ms_onset_date",  # Q11
        "edss_value",  # Q12
        "current_smoker",  # Q13
        "covid19_outcome_death",  # Q14
        "type_dmt",  # Q15
    }
    dmt_values = {worked.cells.get("dmt_type_overall") for worked in DMT_CASES}
    assert dmt_values >= {*DRUGS.values(), NOT_USING, ANOTHER, "No Information on DMT use", M}


# --- two tables in full -----------------------------------------------------------------------

AGE_LEVEL2_WAVE2 = ("covid_wave2", "covid19_outcome_levels_2")


def test_the_age_edges_in_full_in_the_wave_by_severity_table(tmp_path):
    rows = [worked.row() for worked in AGE_CASES]
    fixed = ("confirmed", M, "currently on ocrelizumab")
    after_age = ("relapsing_remitting", "female", "0", "0")  # MS type, sex, EDSS, levels_2
    expected = [
        ((*fixed, "0", *after_age, "2"), 2),  # ages 1 and 17
        ((*fixed, "1", *after_age, "2"), 2),  # 18, 50
        ((*fixed, "2", *after_age, "2"), 2),  # 51, 70
        ((*fixed, "3", *after_age, "2"), 2),  # 71, 110
        ((*fixed, M, *after_age, "2"), 2),  # 111, blank
        ((*fixed, M, *after_age, M), 2),  # 0 and -1: Q5 blanked the onset
    ]
    assert command_tables(command_run(tmp_path, rows, "clinicians"))[AGE_LEVEL2_WAVE2] == expected
    assert oracle_tables(rows, "clinicians", TOOLKIT)[AGE_LEVEL2_WAVE2] == expected


def test_the_dmt_branches_in_full_in_the_comorbidity_by_death_table(tmp_path):
    rows = [worked.row() for worked in DMT_CASES]
    # Rows sort by their cells: upper case first, "missing" last.
    drugs = [
        ("currently on alemtuzumab", 1),
        (ANOTHER, 3),
        ("currently on cladribine", 1),
        ("currently on dimethyl fumarate", 1),
        ("currently on fingolimod", 2),  # yes and Yes
        ("currently on glatiramer", 1),
        ("currently on interferon", 1),
        ("currently on natalizumab", 1),
        ("currently on ocrelizumab", 1),
        ("currently on rituximab", 1),
        ("currently on siponimod", 1),
        ("currently on teriflunomide", 1),
    ]
    no_information = ("No Information on DMT use", 1)
    project = [no_information, (NOT_USING, 5), *drugs, (M, 4)]
    toolkit = [no_information, (NOT_USING, 3), *drugs, (M, 6)]  # never_treated falls through (C1)

    def table(dmt_counts):
        return [
            (("confirmed", M, name, "1", "relapsing_remitting", "female", "0", "no", "no"), n)
            for name, n in dmt_counts
        ]

    key = ("has_comorbidities", "covid19_outcome_death")
    assert command_tables(command_run(tmp_path, rows, "clinicians"))[key] == table(project)
    assert oracle_tables(rows, "clinicians", TOOLKIT)[key] == table(toolkit)


def test_a_row_with_a_blank_pseudonym_is_counted_like_the_toolkit(tmp_path):
    """query3_*.py replaced secret_name by a running number: every row was counted."""
    rows = [BASE, {**BASE, "secret_name": ""}, dict.fromkeys(CORE_COLUMNS, "")]
    result = command_run(tmp_path, rows, "clinicians")
    assert command_tables(result) == oracle_tables(rows, "clinicians", PROJECT)
    assert result.tables.total() == 3


def test_a_covid_wave1_column_is_the_registry_wave_printed_as_a_whole_number(tmp_path):
    """C3 accepts the toolkit's own column name. The toolkit printed that column as read_csv
    typed it: with one blank cell the waves became floats, `1.0` and `2.0`; the project prints
    integer categories as `0`, `1`, ... (gdsi-analysis.md section 2)."""
    columns = tuple("covid_wave1" if c == "covid_wave" else c for c in CORE_COLUMNS)
    without_wave = {name: value for name, value in BASE.items() if name != "covid_wave"}
    rows = [
        {**without_wave, "secret_name": f"C_{n}", "covid_wave1": wave}
        for n, wave in enumerate(["1", "2", "2", ""])
    ]
    path = write_csv(tmp_path / "waves.csv", rows, columns=columns)
    result = count_csv(path, "clinicians", today=TODAY)
    key = ("covid_wave1", "covid19_admission_hospital")
    prefix = ("confirmed", M, "currently on ocrelizumab", "1", "relapsing_remitting", "female")

    def table(*counts):
        return [((*prefix, "0", "no", wave), n) for wave, n in counts]

    assert command_tables(result)[key] == table(("1", 1), ("2", 2), (M, 1))
    assert oracle_tables(rows, "clinicians", PROJECT)[key] == table(("1", 1), ("2", 2), (M, 1))
    assert oracle_tables(rows, "clinicians", TOOLKIT)[key] == table(("1.0", 1), ("2.0", 2), (M, 1))


# --- oracle against command -------------------------------------------------------------------

RANDOM_ROWS = 2500
# The variables each correction (and the project's reading of codes) can change.
TOUCHED_CELLS = {
    "c1": {"dmt_type_overall"},
    "c2": {
        "covid19_ventilation",
        "covid19_outcome_ventilation_or_ICU",
        "covid19_outcome_levels_1",
        "covid19_outcome_levels_2",
    },
    "c3": {"covid_wave1"},
    "codes_any_case": {
        "ms_type2",
        "covid19_icu_stay",
        "covid19_ventilation",
        "covid19_outcome_death",
        "covid19_outcome_ventilation_or_ICU",
        "covid19_outcome_levels_1",
        "covid19_outcome_levels_2",
        "has_comorbidities",
        "dmt_glucocorticoid",
    },
}


@dataclass(frozen=True)
class ParityRun:
    report_source: str
    rows: list[dict[str, str]]
    result: RunResult  # the command's
    corrected: list[oracle.ToolkitRecord]  # the oracle's, with the corrections


@pytest.fixture(scope="module", params=["clinicians", "patients"])
def parity_run(request, tmp_path_factory):
    report_source = request.param
    seed = {"clinicians": 2021, "patients": 2022}[report_source]
    rows = [worked.row() for worked in CASES] + random_rows(RANDOM_ROWS, seed)
    result = command_run(tmp_path_factory.mktemp(report_source), rows, report_source)
    corrected = oracle.toolkit_records(rows, report_source, today=TODAY, **PROJECT)
    return ParityRun(report_source, rows, result, corrected)


def test_with_the_corrections_all_63_tables_equal_the_toolkits(parity_run):
    expected = oracle.toolkit_tables(parity_run.corrected)
    ours = command_tables(parity_run.result)
    differing = [key for key in expected if ours[key] != expected[key]]
    assert not differing, differing
    assert parity_run.result.tables.total() == len(parity_run.rows)


def test_the_command_blanks_what_the_toolkit_flagged_record_by_record(parity_run):
    records = parity_run.corrected
    expected = {n: set(r.failed) for n, r in enumerate(records, start=1) if r.failed}
    quality = parity_run.result.quality
    flagged = {row.record_number: set(row.blanked) for row in quality if row.blanked}
    assert flagged == expected


def correction_touches(which: str, row: dict[str, str], corrected: oracle.ToolkitRecord) -> bool:
    """Whether a correction applies to a record, judged from its input as the toolkit read it."""
    read = oracle.as_read(row, codes_any_case=True)  # NA markers blank, codes as stored
    if which == "c1":
        return oracle.low(read["current_dmt"]) == "never_treated"  # the toolkit lower-cases it
    if which == "c2":
        # The repair sees a blank (as entered, or blanked by Q7) with only non-invasive yes.
        blank = read["covid19_ventilation"] is None or "covid19_ventilation" in corrected.failed
        invasive = read["covid19_ventilation_invasive"] == "yes"
        return blank and not invasive and read["covid19_ventilation_non_invasive"] == "yes"
    if which == "c3":
        return read["covid_wave"] is not None
    mixed_case = [
        name
        for name in (
            "covid19_admission_hospital",
            "covid19_outcome_recovered",
            "has_comorbidities",
            "dmt_glucocorticoid",
        )
        if row[name].lower() in ("yes", "no") and row[name] != row[name].lower()
    ]
    if read["ms_type"] is not None and row["ms_type"] != read["ms_type"]:
        mixed_case.append("ms_type")
    return bool(mixed_case)


@pytest.mark.parametrize("which", ["c1", "c2", "c3", "codes_any_case"])
def test_without_a_correction_exactly_the_records_it_touches_differ(parity_run, which):
    rows = parity_run.rows
    flags = {**PROJECT, which: False}
    without = oracle.toolkit_records(rows, parity_run.report_source, today=TODAY, **flags)
    touched = differing = 0
    for row, corrected, raw in zip(rows, parity_run.corrected, without, strict=True):
        changed = {
            name
            for name in RECORD_KEY
            if corrected.cells([name]) != raw.cells([name]) and name != "source"
        }
        applies = correction_touches(which, row, corrected)
        touched += applies
        differing += bool(changed)
        assert changed <= TOUCHED_CELLS[which], (row["secret_name"], changed)
        if which != "codes_any_case":  # a capital letter matters only where it is compared
            assert bool(changed) == applies, (row["secret_name"], changed)
        elif changed:
            assert applies, row["secret_name"]
    assert differing > 10 and touched >= differing, f"the sample hardly exercises {which}"


def test_without_the_corrections_the_untouched_records_count_as_in_the_toolkit(
    parity_run, tmp_path
):
    report_source = parity_run.report_source
    untouched = [
        row
        for row, record in zip(parity_run.rows, parity_run.corrected, strict=True)
        if not any(correction_touches(which, row, record) for which in TOUCHED_CELLS)
    ]
    assert len(untouched) > 300
    result = command_run(tmp_path, untouched, report_source)
    assert command_tables(result) == oracle_tables(untouched, report_source, TOOLKIT)


def test_the_random_rows_exercise_every_rule_and_category(parity_run):
    records = parity_run.corrected
    flagged = Counter(name for record in records for name in set(record.failed))
    for name in (
        "covid19_date_reporting",
        "covid19_has_symptoms",
        "covid19_self_isolation_date",
        "covid19_date_suspected_onset",
        "covid19_admission_hospital_release",
        "covid19_icu_stay",
        "covid19_ventilation",
        "age_years",
        "pregnancy",
        "height",
        "weight",
        "ms_onset_date",
        "edss_value",
        "current_smoker",
        "covid19_outcome_death",
        "type_dmt",
        "dmt_start_date",
    ):
        assert flagged[name] >= 5, name
    seen = {name: Counter(record.cells([name])[0] for record in records) for name in RECORD_KEY}
    assert len(seen["dmt_type_overall"]) == 15
    assert set(seen["age_in_cat"]) == {"0", "1", "2", "3", M}
    assert set(seen["covid19_outcome_levels_1"]) == {"0", "1", "2", "3", M}
    assert set(seen["duration_treatment_cat1"]) == {"0", "1", "2", M}
    assert set(seen["covid_wave2"]) == {"1", "2", M}
    diagnoses = {"confirmed", "suspected", "not_suspected"}
    assert set(seen["covid19_diagnosis"]) == diagnoses


CENTRAL_COUNTRIES = {"GB": "United Kingdom", "FR": "France", "BR": "Brazil", "AU": "Australia"}


def test_on_the_central_platform_the_source_is_the_pseudonym_prefix_and_country(tmp_path):
    rows = random_rows(400, 7)
    for number, row in enumerate(rows):
        row["secret_name"] = ("C_", "P_", "COV3C_", "REG")[number % 4] + row["secret_name"]
    path = write_csv(tmp_path / "platform.csv", rows)
    result = count_csv(path, "clinicians", central=True, today=TODAY)
    records = oracle.toolkit_records(rows, "clinicians", today=TODAY, **PROJECT)
    expected = oracle.toolkit_tables(records, central_countries=CENTRAL_COUNTRIES)
    assert command_tables(result) == expected
    sources = {cells[1] for cells, _ in expected[oracle.TABLES[0]]}
    assert {"C_United Kingdom", "P_missing", "COV3C_Brazil", "REGR_France"} <= sources


# --- the oracle's own description of the input ------------------------------------------------


def test_the_parity_rows_have_the_core_data_set_columns():
    assert tuple(f.name for f in input_fields(core_dictionary().dictionary)) == CORE_COLUMNS


def test_the_oracle_writes_the_63_tables_the_contract_names():
    for report_source in ("clinicians", "patients"):
        names = [oracle.table_file_name(report_source, *key) for key in oracle.TABLES]
        assert names == table_file_names(report_source)
