"""Registry files as they come, and running an import's steps as the worker would."""

from __future__ import annotations

import io
from collections.abc import Iterable

from cases.conftest import context
from federated.command_helpers import BASE_CASE

from casereports.imports import services, tasks
from casereports.imports.models import RowImport

# One registry record with the core data set's own names and codes (the federated command's
# hand-checked case); tests vary it.
RECORD = dict(BASE_CASE)


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
