"""Synthetic core-data-set records for tests and benchmarks (never real data).

`random_records` draws every field from its dictionary definition, with blanks and out-of-range
values mixed in so quality rules fire; `edge_records` pins the category edges of
gdsi-analysis.md (age 18/50/70, EDSS 6, BMI 30, treatment durations 182/365/730 days, ...).
"""

import random
from collections.abc import Iterator
from datetime import date, timedelta

from casereports.dictionary import DataDictionary, Field

# A plausible answer to every required clinician question of the core data set, per form: a
# case with all of them (and nothing else) can be submitted.
SUBMITTABLE_ANSWERS: dict[str, dict[str, str]] = {
    "covid19": {
        "covid19_has_symptoms": "yes",
        "covid19_suspected_case": "yes",
        "covid19_confirmed_case": "yes",
        "covid19_country": "GB",
        "covid19_admission_hospital": "no",
        "covid19_outcome_recovered": "yes",
        "covid19_outcome_death": "no",
    },
    "demographics": {"age_years": "44", "sex": "female"},
    "ms_history": {"ms_type": "RRMS", "edss_value": "3.5", "current_dmt": "no"},
    "comorbidities": {"has_comorbidities": "no"},
}

# What a patient answers on each page of the patients' questionnaire to be able to send it.
PATIENT_ANSWERS: dict[str, dict[str, str]] = {
    "covid19": {
        "covid19_date_reporting": "2021-03-10",
        "covid19_has_symptoms": "yes",
        "covid19_sympt_fever": "yes",
        "covid19_suspected_case": "yes",
        "covid19_confirmed_case": "yes",
        "covid19_country": "ES",
        "covid19_date_suspected_onset": "2021-03-01",
        "covid19_admission_hospital": "no",
        "covid19_outcome_recovered": "yes",
    },
    "demographics": {"age_years": "44", "sex": "female"},
    "ms_history": {"ms_type": "RRMS", "current_dmt": "no"},
    "comorbidities": {"has_comorbidities": "no"},
}

EPOCH = date(2018, 6, 1)
SPAN_DAYS = 365 * 5
NUMBER_RANGES = {
    "age_years": (-2, 115),
    "height": (90, 215),
    "weight": (25, 310),
    "edss_value": (0, 11),
}


def random_records(
    dictionary: DataDictionary, count: int, *, seed: int = 2021, blank_rate: float = 0.15
) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic test data, not secrets
    inputs = [f for f in dictionary.fields if f.calc_ast is None and f.field_type != "descriptive"]
    for number in range(count):
        record = {f.name: _value(f, rng, blank_rate) for f in inputs}
        record[dictionary.record_id] = f"SYN_{number:07d}"
        if "report_source" in record:
            record["report_source"] = rng.choice(["clinicians", "patients"])
        yield record


def _value(field: Field, rng: random.Random, blank_rate: float) -> str:
    if rng.random() < blank_rate:
        return ""
    if field.choices:
        return rng.choice(field.choices)[0]
    if field.validation.startswith("date"):
        return (EPOCH + timedelta(days=rng.randrange(SPAN_DAYS))).isoformat()
    if field.validation in {"integer", "number"} or field.validation.startswith("number"):
        low, high = NUMBER_RANGES.get(field.name, (0, 60))
        if field.validation == "integer":
            return str(rng.randint(low, high))
        return str(round(rng.uniform(low, high) * 2) / 2)
    return rng.choice(["", "something", "=HYPERLINK(1)", "mg"])


def edge_records(base: dict[str, str]) -> list[dict[str, str]]:
    """Variants of `base` that sit exactly on each category edge, and blank inputs."""
    onset = date(2020, 11, 15)
    edges: list[dict[str, str]] = []

    def variant(**changes: str) -> None:
        edges.append({**base, **changes})

    for age in ("", "0", "1", "17", "18", "50", "51", "70", "71", "110", "111", "-1"):
        variant(age_years=age)
    for edss in ("", "0", "6", "6.5", "10", "10.5"):
        variant(edss_value=edss)
    for height, weight in (
        ("100", "30"),
        ("100", "30.5"),
        ("200", "120"),
        ("", "80"),
        ("99", "80"),
    ):
        variant(height=height, weight=weight)
    for days in (0, 181, 182, 364, 365, 729, 730, 731):
        start = (onset - timedelta(days=days)).isoformat()
        variant(covid19_date_suspected_onset=onset.isoformat(), dmt_start_date=start)
    for onset_text in ("2020-05-30", "2020-05-31", "2020-06-01", "2020-10-01", "2020-10-02", ""):
        variant(covid19_date_suspected_onset=onset_text)
    for onset_year in ("2021", "2011", "2010", "2022"):
        variant(ms_onset_date=f"{onset_year}-01-01", covid19_date_reporting="2021-03-01")
    for dmt, kind, other in (
        ("", "", ""),
        ("no", "", ""),
        ("never_treated", "", ""),
        ("yes", "ocrelizumab", ""),
        ("yes", "dimethyl_fumarate", ""),
        ("yes", "", "ublituximab"),
        ("yes", "", ""),
    ):
        variant(current_dmt=dmt, type_dmt=kind, type_dmt_other=other)
    for hospital, icu, ventilation, death in (
        ("no", "", "", "no"),
        ("yes", "no", "no", "no"),
        ("yes", "yes", "", "no"),
        ("yes", "", "yes", "yes"),
        ("no", "yes", "", ""),
        ("", "", "", ""),
    ):
        variant(
            covid19_admission_hospital=hospital,
            covid19_icu_stay=icu,
            covid19_ventilation=ventilation,
            covid19_outcome_death=death,
        )
    variant(covid19_has_symptoms="no", covid19_sympt_fever="yes")
    variant(covid19_has_symptoms="", covid19_sympt_fever="yes")
    variant(covid19_ventilation="", covid19_ventilation_non_invasive="yes")
    variant(covid19_outcome_death="yes", covid19_outcome_recovered="yes")
    variant(current_smoker="yes", former_smoker="yes")
    variant(pregnancy="yes", sex="male")
    variant(covid19_date_reporting="2018-12-31")
    variant(report_source="patients", covid19_sympt_fever="yes", covid19_sympt_chills="yes")
    return edges
