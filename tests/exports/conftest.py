"""Fixtures for export tests: the case fixtures, exporters, many cases at once, the export
directory in a temporary folder, and a reader for finished zips."""

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures (core_version, site_a, make_user, ...)

from casereports.models import Case, CaseStatus
from casereports.services.cases import new_secret_name
from casereports.services.dictionaries import dictionary_of
from casereports.synthetic import random_records
from exports.models import ExportJob, JobStatus


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path) -> Path:
    """Every export of a test goes to its own temporary folder."""
    directory = tmp_path / "exports"
    settings.GDSI_EXPORT_DIR = directory
    return directory


@pytest.fixture
def exporter_a(make_user, site_a):
    return make_user("exporter-a", "exporter", site_a)


@pytest.fixture
def other_exporter(make_user, site_a):
    """A second exporter of the same site: may export site A, not see another's jobs."""
    return make_user("exporter-a2", "exporter", site_a)


@pytest.fixture
def administrator(make_user, site_a):
    """Exports every site's cases (an administrator sees all sites)."""
    return make_user("admin", "administrator", site_a)


@pytest.fixture
def make_cases(core_version):
    """`make_cases(site, count, status=..., report_source=..., consent_withdrawn=..., **data)`:
    generated cases, bulk-inserted (test data, like the benchmarks': no case write happens
    here, so the case services are bypassed on purpose). Returns their secret names."""
    dictionary = dictionary_of(core_version)

    def make(
        site,
        count: int,
        *,
        status: str = CaseStatus.SUBMITTED,
        report_source: str | None = None,
        consent_withdrawn: bool = False,
        seed: int = 2021,
        **data: str,
    ) -> list[str]:
        cases = []
        for number, record in enumerate(random_records(dictionary, count, seed=seed)):
            name = new_secret_name()
            source = report_source or ("patients" if number % 4 == 3 else "clinicians")
            record.update(data)
            record[dictionary.record_id] = name
            record["report_source"] = source
            cases.append(
                Case(
                    site=site,
                    secret_name=name,
                    report_source=source,
                    status=status,
                    dictionary_version=core_version,
                    data=record,
                    completeness="complete",
                    consent_withdrawn=consent_withdrawn,
                )
            )
        Case.objects.bulk_create(cases, batch_size=500)
        return [case.secret_name for case in cases]

    return make


@pytest.fixture
def read_export(export_dir):
    """`read_export(job)`: the manifest and every member of a finished job's zip, after checking
    that the file is the one the job describes (size and sha256)."""
    return lambda job: read_finished_export(job, export_dir)


def read_finished_export(job: ExportJob, export_root: Path) -> tuple[dict, dict[str, bytes]]:
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    path = Path(export_root) / job.file_path
    content = path.read_bytes()
    assert len(content) == job.file_size
    assert hashlib.sha256(content).hexdigest() == job.sha256
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    return manifest, members
