"""Registry files as they come, and running an import's steps as the worker would."""

from __future__ import annotations

import io
from collections.abc import Iterable

from cases.conftest import context

from casereports.imports import services, tasks
from casereports.imports.models import RowImport

# One registry record with the core data set's own names and codes; tests vary it.
RECORD = {
    "secret_name": "REG-0001",
    "covid19_date_reporting": "2021-03-01",
    "covid19_has_symptoms": "yes",
    "covid19_sympt_fever": "yes",
    "covid19_suspected_case": "yes",
    "covid19_confirmed_case": "yes",
    "covid19_date_lab_test": "2021-02-03",
    "covid19_country": "DE",
    "covid19_date_suspected_onset": "2021-02-01",
    "covid19_admission_hospital": "yes",
    "covid19_admission_hospital_date": "2021-02-05",
    "covid19_admission_hospital_release": "2021-02-12",
    "covid19_icu_stay": "no",
    "covid19_ventilation": "no",
    "covid19_outcome_recovered": "yes",
    "covid19_outcome_death": "no",
    "age_years": "44",
    "sex": "female",
    "height": "170",
    "weight": "65",
    "ms_type": "RRMS",
    "ms_onset_date": "2005-06-01",
    "ms_diagnosis_date": "2006-01-15",
    "edss_value": "3.5",
    "current_dmt": "yes",
    "type_dmt": "ocrelizumab",
    "dmt_start_date": "2019-10-01",
    "dmt_glucocorticoid": "no",
    "has_comorbidities": "no",
}


def records(count: int, **changes: str) -> list[dict[str, str]]:
    return [{**RECORD, "secret_name": f"REG-{n:04d}", **changes} for n in range(1, count + 1)]


def csv_bytes(
    rows: Iterable[dict[str, str]],
    *,
    columns: list[str] | None = None,
    delimiter: str = ",",
    newline: str = "\n",
    bom: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    rows = list(rows)
    columns = columns or list(rows[0])
    lines = [delimiter.join(columns)]
    for row in rows:
        lines.append(delimiter.join(_cell(row.get(c, ""), delimiter) for c in columns))
    text = newline.join(lines) + newline
    return (("\ufeff" if bom else "") + text).encode(encoding)


def _cell(value: str, delimiter: str) -> str:
    if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def registry_manager(make_user, username: str, site):
    return make_user(username, "registry_data_manager", site)


def upload(
    user, site, content: bytes, *, report_source: str = "clinicians", **options
) -> RowImport:
    """Upload and validate (what the worker does next), returning the job with its report."""
    job = services.start_import(
        context(user),
        site=site,
        upload=io.BytesIO(content),
        original_name=options.pop("name", "registry.csv"),
        report_source=report_source,
        channel="web",
        queue=False,
        **options,
    )
    tasks.process(job.pk)
    job.refresh_from_db()
    return job


def commit(user, job: RowImport) -> RowImport:
    services.request_commit(context(user), job)
    tasks.process(job.pk)
    job.refresh_from_db()
    return job


def import_now(user, site, content: bytes, **options) -> RowImport:
    job = upload(user, site, content, **options)
    assert job.status == "ready", job.error
    return commit(user, job)
