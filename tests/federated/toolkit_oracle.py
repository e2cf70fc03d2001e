"""The initiative's 2021 toolkit, reimplemented in plain Python as a test oracle.

Written from reading the toolkit (MS-DATA-ALLIANCE/COVID19-GDSI2021: `MSDA_Query/query3_*.py`,
`MSDA_Query/querries.py` compute_tables, `data_quality/scripts/utils_cleaning.py` clean_data and
repair_data, `data_quality/scripts/cleaning_functions.py`, `data_quality/scripts/utils.py`
clean_dates and enhance_data), NOT from the project's dictionary or rules: it must be able to
disagree with them. No pandas; each pandas step is spelled out per record.

What it reproduces, on a list of raw CSV row dicts (as `csv.DictReader` gives them):

- Reading (`pd.read_csv` of pandas 1.x): an empty cell and pandas' NA markers (`NA`, `N/A`,
  `null`, `nan`, ...: `PANDAS_NA`) are blank in every column, free text included (`None` is
  text: it became a marker in pandas 2.0, after the initiative). Every column whose
  name contains `date` is a date (`pd.to_datetime(errors="coerce")`); age, height, weight and
  EDSS are numbers. The record id is replaced by a running number, so every row is counted,
  a blank `secret_name` too.
- Cleaning all at once (`clean_data`): every check reads the same copy of the record, in which
  cells of only spaces are blank too; the variables of every failing check are then blanked in
  the record as read, and the repairs run on that, in the toolkit's order. `failed` lists the
  flagged variables in the toolkit's order (its "fail: names" QA status).
- Case: the checks and most derivations lower-case yes/no (and sex, current_dmt, type_dmt);
  three repairs compare exactly (`covid19_admission_hospital == "no"` for ventilation and ICU,
  `covid19_outcome_recovered == "yes"` for death), `ms_type` is compared exactly (`RRMS`), and
  `has_comorbidities` and `dmt_glucocorticoid` reach the tables as written. `codes_any_case=True`
  first writes every yes/no cell outside free text in lower case and every `ms_type` as its
  code, as the project's reader stores codes whatever their case (core-dataset.md: raw codes
  are fixed; gdsi-analysis.md: yes/no tests ignore case).
- `enhance_data` and `compute_tables`: derived variables with the toolkit's category edges and
  overrides, integer categories printed `0`, `1`, ..., blanks `missing`, the outcome columns as
  lower-cased by the toolkit, `source` `missing` (the registry's run).
- Corrections (gdsi-analysis.md section 4) as flags: `c1` (never_treated is not using a DMT),
  `c2` (the ventilation repair tests invasive or non-invasive), `c3` (the registry's wave from
  `covid_wave`, or from `covid_wave1` when there is no `covid_wave`). Without `c3` the wave is
  read only from a `covid_wave1` column.

Input domain, and toolkit behaviour deliberately NOT reproduced (the project's command blanks
and reports an unparsable value instead; these are not equalities to test):

- Values must parse as their field's type: ISO `YYYY-MM-DD` dates (pd.to_datetime would also
  read `05/03/2020` as 3 May and other formats), plain decimal numbers (`float()`; pandas'
  own float parser and its inference of a column's type are not modelled: one text cell in
  `age_years` makes the toolkit's age comparisons raise; a whole number may be written
  `44.0`), the core data set's codes in any case (see `codes_any_case`), pandas' NA markers.
  An unparsable cell, for the toolkit, is blank (coerced), a text that fails the checks (a
  choice cell `maybe` or `None` prints as written), or a crash; the oracle treats an
  unparsable date or number as blank.
- Cells with leading or trailing spaces: the toolkit's checks see a cell of only spaces as
  blank but its repairs and derivations see it as a value (`type_dmt_other` of spaces is
  "another drug", a choice cell of spaces prints as spaces). The oracle follows the toolkit
  here, but such cells are outside the domain: the project strips typed cells and treats a
  free-text cell of spaces as blank (repair R5).
- A column with no value in any row: the toolkit stops (`.str.lower()` on a float column) for
  the outcome, smoker and DMT columns; the oracle counts the rows.
- Input columns beyond the 79 of the core data set (an existing `covid_wave2` or
  `year_reporting` column is used by the toolkit as it is) and rows longer than the header
  (the toolkit's reader refuses them). A `covid_wave1` column is modelled: without `c3` the
  toolkit prints its values as read_csv typed the column (`1.0` once a cell is blank).
- The central platform's rows carried English country names; the core data set carries ISO
  codes, which the oracle's `central_countries` maps to those names. (The code of Namibia,
  `NA`, would be a pandas NA marker: the project counts it as Namibia.)
- `now` in the checks of dates in the future is `today` at midnight (the toolkit took the
  local time; a date of today passes both).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

# pandas.read_csv's default NA markers in pandas 1.x, which the toolkit ran on in 2021
# (pandas/_libs/parsers.pyx STR_NA_VALUES; "None" joined them only in pandas 2.0).
PANDAS_NA = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "n/a",
        "nan",
        "null",
    }
)
FREE_TEXT = frozenset(
    {
        "secret_name",
        "type_dmt_other",
        "com_other",
        "last_white_blood_cell_unit",
        "last_lympho_cell_unit",
        "last_b_cell_unit",
        "dmt_glucocorticoid_dosage_unit",
    }
)
NUMBERS = ("age_years", "height", "weight", "edss_value")
MS_TYPES = {code.lower(): code for code in ("RRMS", "SPMS", "PPMS", "CIS", "not_sure")}
# Q3: dates checked against 2019 and now (clean_covid19_self_isolation_date and the next two).
COVID_DATES = (
    "covid19_self_isolation_date",
    "covid19_date_lab_test",
    "covid19_date_suspected_onset",
)
FIRST_SYMPTOMS = (
    "covid19_sympt_fever",
    "covid19_sympt_dry_cough",
    "covid19_sympt_loss_smell_taste",
)
OTHER_SYMPTOMS = (
    "covid19_sympt_sore_throat",
    "covid19_sympt_shortness_breath",
    "covid19_sympt_pneumonia",
    "covid19_sympt_fatigue",
    "covid19_sympt_pain",
    "covid19_sympt_nasal_congestion",
    "covid19_sympt_chills",
)
# create_dmt_overall: type_dmt code -> the drug as the category names it.
LISTED_DMTS = {
    "interferons": "interferon",
    "glatiramer": "glatiramer",
    "natalizumab": "natalizumab",
    "ocrelizumab": "ocrelizumab",
    "fingolimod": "fingolimod",
    "dimethyl_fumarate": "dimethyl fumarate",
    "teriflunomide": "teriflunomide",
    "alemtuzumab": "alemtuzumab",
    "cladribine": "cladribine",
    "siponimod": "siponimod",
    "rituximab": "rituximab",
}
WAVE1_END = date(2020, 5, 31)  # onset before it: wave 1
WAVE2_START = date(2020, 10, 1)  # onset after it: wave 2

# compute_tables
STRATIFICATION = (
    "covid19_admission_hospital",
    "covid19_icu_stay",
    "covid19_ventilation",
    "covid19_outcome_death",
    "covid19_outcome_ventilation_or_ICU",
    "covid19_outcome_levels_1",
    "covid19_outcome_levels_2",
)
MAIN_VARS = ("dmt_type_overall", "age_in_cat", "ms_type2", "sex_binary", "edss_in_cat2")
EXTRA_VARS = (
    "current_or_former_smoker",
    "bmi_in_cat2",
    "disease_duration_in_cat2",
    "dmt_glucocorticoid",
    "has_comorbidities",
    "duration_treatment_cat1",
    "duration_treatment_cat2",
    "covid_wave1",
    "covid_wave2",
)
TABLES = tuple((extra, outcome) for extra in EXTRA_VARS for outcome in STRATIFICATION)
MISSING = "missing"
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_WHOLE = re.compile(r"[-+]?[0-9]+")

Value = str | int | float | date | None


@dataclass
class ToolkitRecord:
    """One row after the toolkit's cleaning and enhance_data, and what its checks flagged."""

    values: dict[str, Value]
    failed: list[str] = field(default_factory=list)

    def cells(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(printed(self.values.get(name)) for name in names)


def printed(value: Value) -> str:
    """A grouping value as `fillna("missing").to_csv()` writes it."""
    if value is None or value == "":
        return MISSING
    return str(value)


# --- reading ----------------------------------------------------------------------------------


def as_read(row: Mapping[str, str], codes_any_case: bool) -> dict[str, str | None]:
    record: dict[str, str | None] = {}
    for name, raw in row.items():
        value = None if raw is None or raw in PANDAS_NA else raw
        if codes_any_case and name not in FREE_TEXT and low(value) in ("yes", "no"):
            value = value.lower()
        if codes_any_case and name == "ms_type" and low(value) in MS_TYPES:
            value = MS_TYPES[low(value)]
        record[name] = value
    return record


def as_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    match = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def as_number(value: object) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def typed(record: dict[str, str | None]) -> dict[str, Value]:
    """Dates and numbers as the toolkit's frame holds them."""
    values: dict[str, Value] = dict(record)
    for name, value in record.items():
        if "date" in name or name == "covid19_admission_hospital_release":
            values[name] = as_date(value)
        elif name in NUMBERS:
            values[name] = as_number(value)
    return values


def low(value: Value) -> str:
    """`astype(str).str.lower()`: text lower-cased; a blank never equals yes or no."""
    return value.lower() if isinstance(value, str) else ""


def is_blank_for_checks(value: Value) -> bool:
    """clean_data's copy: NA, or a text of only spaces (`replace(regex=r"^\\s*$")`)."""
    return value is None or (isinstance(value, str) and value.strip() == "")


# --- clean_data -------------------------------------------------------------------------------


def failed_variables(v: Mapping[str, Value], today: date) -> list[str]:
    """Every check on the same unblanked copy, in clean_data's order."""
    failed: list[str] = []
    reporting = v.get("covid19_date_reporting")
    age = v.get("age_years")
    if isinstance(reporting, date) and reporting.year < 2019:
        failed.append("covid19_date_reporting")
    symptoms = [name for name in v if name.startswith("covid19_sympt")]
    if low(v.get("covid19_has_symptoms")) == "no" and any(low(v[s]) == "yes" for s in symptoms):
        failed.append("covid19_has_symptoms")
    for name in COVID_DATES:
        moment = v.get(name)
        if isinstance(moment, date) and (moment.year < 2019 or moment > today):
            failed.append(name)
    release, admission = (
        v.get("covid19_admission_hospital_release"),
        v.get("covid19_admission_hospital_date"),
    )
    if isinstance(release, date) and isinstance(admission, date) and release < admission:
        failed.append("covid19_admission_hospital_release")
    failed.extend(dates_outside_life(v, reporting, age))
    if low(v.get("covid19_icu_stay")) == "yes" and low(v.get("covid19_admission_hospital")) == "no":
        failed.append("covid19_icu_stay")
    ventilation = v.get("covid19_ventilation")
    kinds_yes = "yes" in (
        low(v.get("covid19_ventilation_invasive")),
        low(v.get("covid19_ventilation_non_invasive")),
    )
    if kinds_yes and (ventilation is None or low(ventilation) == "no"):
        failed.append("covid19_ventilation")
    if age is not None and (age < 0 or age > 110):
        failed.append("age_years")
    if low(v.get("pregnancy")) == "yes" and low(v.get("sex")) == "male":
        failed.append("pregnancy")
    height, weight = as_number(v.get("height")), as_number(v.get("weight"))
    if height is not None and (height < 100 or height > 210):
        failed.append("height")
    if weight is not None and (weight < 30 or weight > 300):
        failed.append("weight")
    if ms_onset_too_late(v):
        failed.append("ms_onset_date")
    edss = as_number(v.get("edss_value"))
    if edss is not None and (edss < 0 or edss > 10):
        failed.append("edss_value")
    if low(v.get("former_smoker")) == "yes" and low(v.get("current_smoker")) == "yes":
        failed.extend(["former_smoker", "current_smoker"])
    if low(v.get("covid19_outcome_death")) == "yes" and low(v.get("covid19_outcome_recovered")) == (
        "yes"
    ):
        failed.extend(["covid19_outcome_death", "covid19_outcome_recovered"])
    if (
        v.get("type_dmt") is None
        and v.get("type_dmt_other") is None
        and low(v.get("current_dmt")) == "yes"
    ):
        failed.append("type_dmt")
    return failed


def dates_outside_life(v: Mapping[str, Value], reporting: Value, age: Value) -> list[str]:
    """check_all_dates: every `date` column, the reporting date itself included."""
    if not isinstance(reporting, date):
        return []
    failed = []
    for name, moment in v.items():
        if "date" not in name or not isinstance(moment, date):
            continue
        before_birth = age is not None and moment.year < reporting.year - age
        if before_birth or moment > reporting:
            failed.append(name)
    return failed


def ms_onset_too_late(v: Mapping[str, Value]) -> bool:
    onset = v.get("ms_onset_date")
    if not isinstance(onset, date):
        return False
    later = (v.get("ms_diagnosis_date"), v.get("covid19_date_suspected_onset"))
    return any(isinstance(other, date) and onset > other for other in later)


def repaired(v: dict[str, Value], *, c2: bool) -> None:
    """repair_data on the record with its flagged variables blanked, in the toolkit's order."""
    symptoms = [name for name in v if name.startswith("covid19_sympt")]
    if v.get("covid19_has_symptoms") is None and any(low(v[s]) == "yes" for s in symptoms):
        v["covid19_has_symptoms"] = "yes"
    ventilation_kinds = ["covid19_ventilation_invasive"]
    if c2:
        ventilation_kinds.append("covid19_ventilation_non_invasive")
    if v.get("covid19_ventilation") is None:
        if any(low(v.get(kind)) == "yes" for kind in ventilation_kinds):
            v["covid19_ventilation"] = "yes"
        elif v.get("covid19_admission_hospital") == "no":  # exact: not lower-cased
            v["covid19_ventilation"] = "no"
    comorbidities = [name for name in v if name.startswith("com_")]  # com_other too
    if v.get("has_comorbidities") is None and any(low(v[c]) == "yes" for c in comorbidities):
        v["has_comorbidities"] = "yes"
    if isinstance(v.get("sex"), str):
        v["sex"] = v["sex"].lower()
    if v.get("type_dmt_other") == "":
        v["type_dmt_other"] = None
    if v.get("covid19_icu_stay") is None and v.get("covid19_admission_hospital") == "no":
        v["covid19_icu_stay"] = "no"
    if v.get("covid19_outcome_recovered") == "yes":  # exact
        v["covid19_outcome_death"] = "no"
    for name in ("height", "weight"):
        v[name] = as_number(v.get(name))


# --- enhance_data -----------------------------------------------------------------------------


def enhanced(v: dict[str, Value], report_source: str, *, c1: bool, c3: bool) -> None:
    v["report_source"] = report_source
    v["covid19_diagnosis"] = diagnosis(v, report_source)
    for name in (
        "covid19_ventilation",
        "covid19_icu_stay",
        "covid19_admission_hospital",
        "covid19_outcome_death",
        "current_smoker",
        "former_smoker",
    ):
        if isinstance(v.get(name), str):
            v[name] = v[name].lower()
    v["sex_binary"] = v.get("sex") if v.get("sex") in ("male", "female") else None
    v["bmi_in_cat2"] = bmi_category(v.get("height"), v.get("weight"))
    v["edss_in_cat2"] = edss_category(as_number(v.get("edss_value")))
    v["age_in_cat"] = age_category(v.get("age_years"))
    v["disease_duration_in_cat2"] = disease_duration_category(
        v.get("covid19_date_reporting"), v.get("ms_onset_date")
    )
    v["ms_type2"] = ms_type_group(v.get("ms_type"))
    smoker = "yes" in (v.get("current_smoker"), v.get("former_smoker"))
    v["current_or_former_smoker"] = "yes" if smoker else None
    v["dmt_type_overall"] = dmt_overall(v, c1=c1)
    ventilation, icu = v.get("covid19_ventilation"), v.get("covid19_icu_stay")
    v["covid19_outcome_ventilation_or_ICU"] = ventilation_or_icu(ventilation, icu)
    v["covid19_outcome_levels_1"] = outcome_level(v, strict_admission=True)
    v["covid19_outcome_levels_2"] = outcome_level(v, strict_admission=False)
    onset, start = v.get("covid19_date_suspected_onset"), v.get("dmt_start_date")
    days = (onset - start).days if isinstance(onset, date) and isinstance(start, date) else None
    v["duration_treatment_cat1"] = banded(days, (365, 730))
    v["duration_treatment_cat2"] = banded(days, (182,))
    v["covid_wave1"] = registry_wave(v, c3=c3)
    v["covid_wave2"] = onset_wave(onset)


def diagnosis(v: Mapping[str, Value], report_source: str) -> str:
    def yes(name: str) -> bool:
        return low(v.get(name)) == "yes"

    result = "not_suspected"
    if report_source == "patients":
        first = any(yes(name) for name in FIRST_SYMPTOMS)
        if first and (yes("covid19_suspected_case") or any(yes(s) for s in OTHER_SYMPTOMS)):
            result = "suspected"
    elif "clinician" in report_source and yes("covid19_suspected_case"):
        result = "suspected"
    if yes("covid19_confirmed_case"):
        result = "confirmed"
    return result


def bmi_category(height: Value, weight: Value) -> str | None:
    if not isinstance(height, float) or not isinstance(weight, float):
        return None
    metres = height / 100
    bmi = weight / (metres * metres)  # numpy's `** 2` squares by multiplying
    return "not_overweight" if bmi <= 30 else "overweight"


def edss_category(edss: float | None) -> int | None:
    if edss is None or edss < 0:
        return None
    return 0 if edss <= 6 else 1


def age_category(age: Value) -> int | None:
    if not isinstance(age, float) or age <= 0:
        return None
    if age < 18:
        return 0
    if age <= 50:
        return 1
    return 2 if age <= 70 else 3


def disease_duration_category(reporting: Value, onset: Value) -> int | None:
    if not isinstance(reporting, date) or not isinstance(onset, date):
        return None
    years = reporting.year - onset.year
    if years <= 0:
        return None
    return 0 if years <= 10 else 1


def ms_type_group(ms_type: Value) -> str | None:
    if ms_type == "RRMS":  # exact, not lower-cased
        return "relapsing_remitting"
    if ms_type in ("SPMS", "PPMS"):
        return "progressive_MS"
    if ms_type in ("CIS", "", "not_sure"):
        return "other"
    return None


def dmt_overall(v: Mapping[str, Value], *, c1: bool) -> str | None:
    current, kind = v.get("current_dmt"), v.get("type_dmt")
    current_code = low(current)
    result = None
    if current is None and kind is None:
        result = "No Information on DMT use"
    not_using = ("no", "no, but was in the past", *(("never_treated",) if c1 else ()))
    if current_code in not_using:
        result = "currently not using any DMT"
    if current_code == "yes" and low(kind) in LISTED_DMTS:
        result = "currently on " + LISTED_DMTS[low(kind)]
    if current_code == "yes" and v.get("type_dmt_other") is not None:
        result = "currently on another drug not listed"
    return result


def ventilation_or_icu(ventilation: Value, icu: Value) -> str | None:
    if "yes" in (ventilation, icu):
        return "yes"
    if ventilation == "no" and icu == "no":
        return "no"
    return None


def outcome_level(v: Mapping[str, Value], *, strict_admission: bool) -> int | None:
    """Later lines override earlier ones, as in create_covid19_outcome_levels_1/_2."""
    hospital, icu = v.get("covid19_admission_hospital"), v.get("covid19_icu_stay")
    ventilation = v.get("covid19_ventilation")
    level = None
    if hospital == "no":
        level = 0
    if hospital == "yes" and (not strict_admission or "no" in (icu, ventilation)):
        level = 1
    if "yes" in (icu, ventilation):
        level = 2
    if v.get("covid19_outcome_death") == "yes":
        level = 3
    return level


def banded(days: int | None, edges: tuple[int, ...]) -> int | None:
    """0 below the first edge, 1 from it below the next, ...; negative days are 0."""
    if days is None:
        return None
    return sum(1 for edge in edges if days >= edge)


def registry_wave(v: Mapping[str, Value], *, c3: bool) -> Value:
    if c3 and "covid_wave" in v:
        return v["covid_wave"]
    return v.get("covid_wave1")


def onset_wave(onset: Value) -> int | None:
    if not isinstance(onset, date):
        return None
    if onset < WAVE1_END:
        return 1
    if onset > WAVE2_START:
        return 2
    return None


# --- the whole run ----------------------------------------------------------------------------


def toolkit_records(
    rows: Iterable[Mapping[str, str]],
    report_source: str,
    *,
    c1: bool = False,
    c2: bool = False,
    c3: bool = False,
    codes_any_case: bool = False,
    today: date | None = None,
) -> list[ToolkitRecord]:
    """query3_{report_source}.py up to compute_tables, one record per row."""
    today = today or date.today()
    rows = list(rows)
    waves = toolkit_wave_column(rows) if not c3 else {}
    records = []
    for number, row in enumerate(rows):
        read = typed(as_read(row, codes_any_case))
        if waves:
            read["covid_wave1"] = waves[number]
        checked = {k: (None if is_blank_for_checks(x) else x) for k, x in read.items()}
        failed = failed_variables(checked, today)
        for name in failed:
            read[name] = None
        repaired(read, c2=c2)
        enhanced(read, report_source, c1=c1, c3=c3)
        records.append(ToolkitRecord(read, failed))
    return records


def toolkit_wave_column(rows: list[Mapping[str, str]]) -> dict[int, str | None]:
    """A `covid_wave1` column as read_csv types it: whole numbers with a blank become floats
    (`1.0`), whole numbers alone stay `1`, anything else stays text."""
    if not rows or "covid_wave1" not in rows[0]:
        return {}
    cells = [None if row["covid_wave1"] in PANDAS_NA else row["covid_wave1"] for row in rows]
    present = [cell for cell in cells if cell is not None]
    if present and all(_WHOLE.fullmatch(cell) for cell in present):
        written = str if len(present) == len(cells) else (lambda cell: str(float(cell)))
        return {
            n: None if cell is None else written(str(int(cell))) for n, cell in enumerate(cells)
        }
    return dict(enumerate(cells))


def central_source(values: Mapping[str, Value], countries: Mapping[str, str] | None) -> Value:
    if countries is None:
        return None
    country = values.get("covid19_country")
    name = countries[country] if isinstance(country, str) else MISSING
    return str(values.get("secret_name")).split("_")[0] + "_" + name


def toolkit_tables(
    records: Iterable[ToolkitRecord], *, central_countries: Mapping[str, str] | None = None
) -> dict[tuple[str, str], list[tuple[tuple[str, ...], int]]]:
    """compute_tables: per (extra, outcome), the sorted (9 cells, count) of occurring cells.

    A registry's run has no source (printed missing). `central_countries` (country code ->
    the English name the platform's rows carried) gives the central platform's source: the
    record id up to its first `_`, `_`, the country (`missing` when blank).
    """
    prefix = ("covid19_diagnosis", "source", *MAIN_VARS)
    by_record: Counter[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = Counter()
    for record in records:
        record.values["source"] = central_source(record.values, central_countries)
        by_record[record.cells(prefix), record.cells(STRATIFICATION), record.cells(EXTRA_VARS)] += 1
    tables: dict[tuple[str, str], Counter[tuple[str, ...]]] = {key: Counter() for key in TABLES}
    for (first, outcomes, extras), count in by_record.items():
        for (extra, outcome), table in tables.items():
            cell = (
                *first,
                outcomes[STRATIFICATION.index(outcome)],
                extras[EXTRA_VARS.index(extra)],
            )
            table[cell] += count
    return {key: sorted(counter.items()) for key, counter in tables.items()}


def table_file_name(report_source: str, extra: str, outcome: str) -> str:
    return f"{report_source}_query3_{extra}_{outcome}.csv"
