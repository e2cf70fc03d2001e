"""Core-data-set CSV rows for the toolkit parity tests: a base case, CSV writing, random rows.

The columns and codes are copied from core-dataset.md (not read from the dictionary), so the
rows are an independent description of the input. Random rows are valid (every value parses as
its field's type) and lean on the category edges and the quality rules.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path

YES_NO = (
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
    "com_cardiovascular_disease",
    "com_hypertension",
    "com_diabetes",
    "com_chronic_liver_disease",
    "com_chronic_kidney_disease",
    "com_neurological_neuromuscular",
    "com_lung_disease",
    "com_immunodeficiency",
    "com_malignancy",
)
CORE_COLUMNS = (
    "secret_name",
    "covid19_date_reporting",
    *YES_NO[:14],
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
    *YES_NO[-10:],
    "com_other",
    "covid_wave",
)
DATES = tuple(c for c in CORE_COLUMNS if "date" in c or c == "covid19_admission_hospital_release")
TYPE_DMT = (
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
)
TODAY = date(2026, 12, 1)  # the runs' "today", so the future-date check is reproducible

# A clean clinician case that passes every rule; tests change a few cells.
BASE: dict[str, str] = {
    **dict.fromkeys(CORE_COLUMNS, ""),
    "secret_name": "C_BASE",
    "covid19_date_reporting": "2021-03-01",
    "covid19_has_symptoms": "yes",
    "covid19_sympt_fever": "yes",
    "covid19_suspected_case": "yes",
    "covid19_confirmed_case": "yes",
    "covid19_country": "GB",
    "covid19_date_suspected_onset": "2020-11-15",
    "covid19_admission_hospital": "no",
    "covid19_outcome_recovered": "yes",
    "covid19_outcome_death": "no",
    "age_years": "45",
    "sex": "female",
    "current_smoker": "no",
    "former_smoker": "no",
    "height": "170",
    "weight": "65",
    "ms_type": "RRMS",
    "ms_onset_date": "2005-06-01",
    "ms_diagnosis_date": "2006-01-10",
    "edss_value": "2",
    "current_dmt": "yes",
    "type_dmt": "ocrelizumab",
    "dmt_start_date": "2019-01-01",
    "dmt_glucocorticoid": "no",
    "has_comorbidities": "no",
    "covid_wave": "2",
}


def write_csv(path: Path, rows: Iterable[Mapping[str, str]], *, columns=CORE_COLUMNS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: row.get(name, "") for name in columns})
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


# --- random valid rows ------------------------------------------------------------------------

AGES = ("0", "1", "17", "18", "50", "51", "70", "71", "110", "111", "-1")
EDSS = tuple(str(x / 2).removesuffix(".0") for x in range(0, 22)) + ("-0.5", "6.5", "6")
BODIES = (("100", "30"), ("200", "120"), ("170", "86.7"), ("99", "80"), ("150", "29"))
TREATMENT_DAYS = (-3, 0, 181, 182, 364, 365, 729, 730, 731)
ONSETS = ("2020-05-30", "2020-05-31", "2020-10-01", "2020-10-02")
MS_TYPES = ("RRMS", "SPMS", "PPMS", "CIS", "not_sure")
OTHER_DMT = ("ublituximab", "NA", "None", "n/a", "ozanimod")
NA_MARKERS = ("NA", "N/A", "null", "NaN", "n/a", "#N/A")  # blank for pandas' read_csv
FREE_TEXT = {"secret_name", "type_dmt_other", "com_other"} | {
    c for c in CORE_COLUMNS if "unit" in c
}
# Typed cells an NA marker may replace (not the country: "NA" is Namibia's code).
NA_TARGETS = tuple(c for c in CORE_COLUMNS if c not in FREE_TEXT and c != "covid19_country")


class RowMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic test data

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options):
        return self.rng.choice(options)

    def yes_no(self) -> str:
        if self.chance(0.25):
            return ""
        return self.any_case(self.pick(("yes", "no")))

    def any_case(self, code: str) -> str:
        """Mostly the code as the data set writes it, sometimes capitalised or upper case."""
        if self.chance(0.92):
            return code
        return self.pick((code.capitalize(), code.upper(), code.lower()))

    def day(self, low: date, high: date) -> date:
        return low + timedelta(days=self.rng.randrange((high - low).days + 1))

    def maybe(self, text: str, blank: float = 0.2) -> str:
        return "" if self.chance(blank) else text

    def row(self, number: int) -> dict[str, str]:
        row = {name: self.yes_no() for name in YES_NO}
        reporting = self.day(date(2018, 11, 1), date(2022, 6, 30))
        onset = (
            date.fromisoformat(self.pick(ONSETS))
            if self.chance(0.15)
            else self.day(reporting - timedelta(days=500), reporting + timedelta(days=20))
        )
        start = onset - timedelta(
            days=self.pick(TREATMENT_DAYS) if self.chance(0.3) else self.rng.randint(-20, 1500)
        )
        ms_onset = date(self.rng.randint(1960, 2022), self.rng.randint(1, 12), 1)
        if self.chance(0.1):
            ms_onset = date(reporting.year - self.pick((0, 1, 10, 11)), 1, 1)
        height, weight = (
            self.pick(BODIES)
            if self.chance(0.2)
            else (str(self.rng.randint(95, 215)), str(self.rng.randint(25, 310) / 2))
        )
        admission = onset + timedelta(days=self.rng.randint(-3, 10))
        row.update(
            secret_name=f"R_{number:06d}",
            covid19_date_reporting=self.maybe(reporting.isoformat(), 0.05),
            covid19_date_suspected_onset=self.maybe(onset.isoformat(), 0.1),
            covid19_self_isolation_date=self.maybe(self.near(onset), 0.5),
            covid19_date_lab_test=self.maybe(self.near(onset), 0.4),
            covid19_admission_hospital_date=self.maybe(admission.isoformat(), 0.6),
            covid19_admission_hospital_release=self.maybe(self.near(admission), 0.6),
            covid19_outcome_death_date=self.maybe(self.near(onset), 0.8),
            covid19_self_isolation_duration=self.maybe(str(self.rng.randint(0, 30)), 0.6),
            covid19_icu_current_duration=self.maybe(str(self.rng.randint(0, 30)), 0.8),
            covid19_icu_total_duration=self.maybe(str(self.rng.randint(0, 30)), 0.8),
            covid19_country=self.maybe(self.pick(("GB", "FR", "BR", "AU")), 0.1),
            covid19_outcome_recovered=self.maybe(
                self.pick(("yes", "no", "not_applicable", "Yes")), 0.2
            ),
            age_years=self.maybe(
                self.pick(AGES) if self.chance(0.3) else str(self.rng.randint(1, 100)), 0.05
            ),
            sex=self.maybe(self.any_case(self.pick(("female", "male", "non-binary"))), 0.05),
            height=self.maybe(height, 0.2),
            weight=self.maybe(weight, 0.2),
            ms_type=self.maybe(self.any_case(self.pick(MS_TYPES)), 0.1),
            ms_onset_date=self.maybe(ms_onset.isoformat(), 0.15),
            ms_diagnosis_date=self.maybe(self.near(ms_onset, 800), 0.3),
            edss_date_diagnosis=self.maybe(self.near(reporting, 300), 0.5),
            edss_value=self.maybe(self.pick(EDSS), 0.2),
            last_white_blood_cell=self.maybe(str(self.rng.randint(0, 9000)), 0.7),
            last_white_blood_cell_unit=self.maybe("cells/uL", 0.7),
            last_lympho_cell=self.maybe(str(self.rng.randint(0, 3000)), 0.7),
            last_lympho_cell_unit=self.maybe("cells/uL", 0.7),
            last_b_cell=self.maybe(str(self.rng.randint(0, 500)), 0.8),
            last_b_cell_unit=self.maybe("cells/uL", 0.8),
            current_dmt=self.maybe(
                self.any_case(self.pick(("yes", "yes", "no", "never_treated"))), 0.1
            ),
            type_dmt=self.maybe(self.any_case(self.pick(TYPE_DMT)), 0.3),
            type_dmt_other=self.maybe(self.pick(OTHER_DMT), 0.85),
            dmt_start_date=self.maybe(start.isoformat(), 0.2),
            dmt_end_date=self.maybe(self.near(onset, 200), 0.7),
            dmt_stop_date=self.maybe(self.near(onset, 400), 0.7),
            dmt_stop_reason=self.maybe(self.pick(("onset_covid", "adverse_event")), 0.8),
            dmt_glucocorticoid_start_date=self.maybe(self.near(onset, 40), 0.8),
            dmt_glucocorticoid_stop_date=self.maybe(self.near(onset, 40), 0.8),
            dmt_glucocorticoid_dosage_value=self.maybe(str(self.rng.randint(1, 1000)), 0.8),
            dmt_glucocorticoid_dosage_unit=self.maybe("mg", 0.8),
            com_other=self.maybe(self.pick(("asthma", "yes", "Yes", "NA")), 0.85),
            covid_wave=self.maybe(self.pick(("1", "2")), 0.4),
        )
        if self.chance(0.01):
            row["covid19_date_suspected_onset"] = "2099-01-01"  # in the future: Q3
        if self.chance(0.05) and row["age_years"]:
            row["age_years"] += ".0"  # as pandas writes a whole-number column with blanks
        if self.chance(0.1):
            row[self.pick(NA_TARGETS)] = self.pick(NA_MARKERS)
        return row

    def near(self, moment: date, spread: int = 30) -> str:
        return (moment + timedelta(days=self.rng.randint(-spread, spread))).isoformat()


def random_rows(count: int, seed: int) -> list[dict[str, str]]:
    maker = RowMaker(seed)
    return [maker.row(number) for number in range(count)]
