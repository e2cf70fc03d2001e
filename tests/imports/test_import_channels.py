"""The same import through the page, the API and the command, and a registry's own columns
and codes turned into the core data set by a mapping file alone."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from casereports.imports import tasks
from casereports.imports.models import ImportMapping, ImportStatus, RowImport
from casereports.models import AuditEvent, Case
from casereports.services.tokens import issue_token
from imports.helpers import csv_bytes, import_now, records, upload

pytestmark = pytest.mark.django_db


def latest_job() -> RowImport:
    return RowImport.objects.order_by("-pk").first()


def test_a_data_manager_uploads_reads_the_report_commits_and_downloads_the_refused_rows(
    verified_client, manager_a, site_a
):
    client = verified_client(manager_a)
    rows = records(4)
    rows[3]["sex"] = "unknown-code"
    page = client.get(reverse("imports:list"))
    assert page.status_code == 200 and b"Upload an export" in page.content

    sent = client.post(
        reverse("imports:list"),
        {
            "site": site_a.code,
            "report_source": "clinicians",
            "file": SimpleUploadedFile("weekly.csv", csv_bytes(rows), content_type="text/csv"),
            "date_format": "auto",
        },
    )
    job = latest_job()
    assert sent.status_code == 302 and sent["Location"] == reverse("imports:detail", args=[job.pk])
    assert client.get(sent["Location"]).status_code == 200  # queued: the page says so
    tasks.process(job.pk)  # what the worker does

    report = client.get(reverse("imports:detail", args=[job.pk]))
    text = report.content.decode()
    assert 'data-count="new">3<' in text and 'data-count="refused">1<' in text
    assert "unknown-code" in text  # the uploader sees their own value and why it was refused
    assert 'data-testid="commit"' in text
    assert Case.objects.count() == 0

    client.post(reverse("imports:action", args=[job.pk, "commit"]))
    tasks.process(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and Case.objects.filter(site=site_a).count() == 3
    committed = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "What was committed" in committed and 'data-testid="commit"' not in committed

    refused = client.get(reverse("imports:file", args=[job.pk, "refused"]))
    assert refused.status_code == 200
    body = b"".join(refused.streaming_content).decode()
    assert body.splitlines()[0].startswith("secret_name,") and "unknown-code" in body
    assert AuditEvent.objects.filter(action="import.downloaded", site=site_a).count() == 1
    assert AuditEvent.objects.filter(action="import.viewed", site=site_a).exists()


def test_the_api_uploads_polls_and_commits_with_a_token_bound_to_the_site(manager_a, site_a):
    client = APIClient()
    key = issue_token(manager_a, "registry script", site=site_a).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    sent = client.post(
        reverse("api-imports"),
        {"report_source": "clinicians", "file": SimpleUploadedFile("w.csv", csv_bytes(records(5)))},
        format="multipart",
    )
    assert sent.status_code == 202, sent.content
    assert sent.json()["status"] == "queued" and sent.json()["site"] == site_a.code
    job_id = sent.json()["id"]
    tasks.process(job_id)

    detail = client.get(reverse("api-import", args=[job_id])).json()
    assert detail["status"] == "ready" and detail["counts"]["new"] == 5
    assert detail["report"]["file"]["delimiter"] == ","
    assert client.post(reverse("api-import-commit", args=[job_id])).status_code == 202
    tasks.process(job_id)
    assert client.get(reverse("api-import", args=[job_id])).json()["status"] == "done"
    assert Case.objects.filter(site=site_a, registry_record__startswith="REG-").count() == 5
    quality = client.get(reverse("api-import-file", args=[job_id, "quality"]))
    assert quality.status_code == 200 and quality["Content-Type"].startswith("text/csv")


def test_a_bad_option_is_refused_naming_it_and_nothing_is_stored(manager_a, site_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(manager_a, 't', site=site_a).key}")
    sent = client.post(
        reverse("api-imports"),
        {
            "report_source": "clinicians",
            "encoding": "no-such-encoding",
            "file": SimpleUploadedFile("w.csv", csv_bytes(records(1))),
        },
        format="multipart",
    )
    assert sent.status_code == 422
    assert sent.json()["code"] == "invalid" and "no-such-encoding" in sent.json()["message"]
    assert not RowImport.objects.exists()


def test_another_sites_import_is_not_there_for_the_page_the_api_or_its_files(
    verified_client, manager_a, manager_b, site_a, site_b
):
    job = import_now(manager_a, site_a, csv_bytes(records(2)))
    client = verified_client(manager_b)
    for url in (
        reverse("imports:detail", args=[job.pk]),
        reverse("imports:status", args=[job.pk]),
        reverse("imports:file", args=[job.pk, "refused"]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("imports:action", args=[job.pk, "discard"])).status_code == 404
    listed = client.get(reverse("imports:list")).content.decode()
    assert "registry.csv" not in listed and f'data-import-id="{job.pk}"' not in listed

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(manager_b, 'b', site=site_b).key}")
    assert api.get(reverse("api-import", args=[job.pk])).status_code == 404
    assert api.post(reverse("api-import-commit", args=[job.pk])).status_code == 404
    assert api.get(reverse("api-import-file", args=[job.pk, "problems"])).status_code == 404
    assert api.get(reverse("api-imports")).json()["results"] == []
    sent = api.post(
        reverse("api-imports"),
        {"site": site_a.code, "report_source": "clinicians",
         "file": SimpleUploadedFile("w.csv", csv_bytes(records(1)))},
        format="multipart",
    )  # fmt: skip
    assert sent.status_code == 403
    denials = AuditEvent.objects.filter(action="permission.denied", actor=manager_b)
    assert denials.count() == 8


def test_a_token_bound_to_one_site_imports_only_there_though_its_user_imports_at_two(
    make_user, site_a, site_b, core_version
):
    from casereports.models import Membership

    both = make_user("registry-ab", "registry_data_manager", site_a)
    Membership.objects.create(user=both, site=site_b, role="registry_data_manager")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(both, 'a only', site=site_a).key}")
    sent = api.post(
        reverse("api-imports"),
        {"site": site_b.code, "report_source": "clinicians",
         "file": SimpleUploadedFile("w.csv", csv_bytes(records(1)))},
        format="multipart",
    )  # fmt: skip
    assert sent.status_code == 403 and not RowImport.objects.exists()


def test_a_clinician_has_no_imports(verified_client, make_user, site_a):
    clinician = make_user("clin-a", "clinician", site_a)
    assert verified_client(clinician).get(reverse("imports:list")).status_code == 403


def test_the_command_validates_and_commits_the_same_way(manager_a, site_a, tmp_path, capsys):
    path = tmp_path / "registry.csv"
    path.write_bytes(csv_bytes(records(3)))

    call_command("import_core_csv", str(path), "--site", site_a.code,
                 "--report-source", "clinicians", "--commit")  # fmt: skip

    out = capsys.readouterr().out
    assert "new: 3" in out and "committed: import #" in out
    assert Case.objects.filter(site=site_a).count() == 3
    assert latest_job().channel == "command"


def test_the_command_dry_run_writes_nothing_and_a_bad_site_is_refused(
    site_a, core_version, tmp_path, capsys
):
    path = tmp_path / "registry.csv"
    path.write_bytes(csv_bytes(records(2)))
    call_command("import_core_csv", str(path), "--site", site_a.code,
                 "--report-source", "clinicians", "--dry-run")  # fmt: skip
    assert "dry run: nothing was written" in capsys.readouterr().out
    assert not Case.objects.exists() and latest_job().status == ImportStatus.DISCARDED
    with pytest.raises(CommandError) as refused:
        call_command("import_core_csv", str(path), "--site", "nowhere",
                     "--report-source", "clinicians")  # fmt: skip
    assert refused.value.returncode == 2 and "nowhere" in str(refused.value)


REGISTRY_MAPPING = """
name = "Registro SM: weekly export"
date_format = "dmy"
ignore = ["Reparto"]

[columns]
"ID paziente" = "secret_name"
"Data segnalazione" = "covid19_date_reporting"
"Sesso" = "sex"
"Eta" = "age_years"
"Altezza" = "height"
"Paese" = "covid19_country"
"Forma SM" = "ms_type"
"Ricovero" = "covid19_admission_hospital"

[codes.sex]
"M" = "male"
"F" = "female"

[codes.ms_type]
"RR" = "RRMS"
"SP" = "SPMS"

[codes.covid19_admission_hospital]
"S" = "yes"
"N" = "no"

[units]
height = "m"
"""

REGISTRY_FILE = (
    "ID paziente;Data segnalazione;Sesso;Eta;Altezza;Paese;Forma SM;Ricovero;Reparto\n"
    "IT-001;03/02/2021;F;51;1,68;Italia;RR;N;Neuro 2\n"
    "IT-002;14/11/2020;M;38;1,82;Italia;SP;S;Neuro 1\n"
)


def test_a_registry_file_with_its_own_names_and_codes_is_read_through_a_mapping_alone(
    manager_a, site_a, tmp_path, capsys
):
    path, mapping = tmp_path / "export.csv", tmp_path / "registro.toml"
    path.write_text(REGISTRY_FILE, encoding="utf-8")
    mapping.write_text(REGISTRY_MAPPING, encoding="utf-8")

    arguments = ["--site", site_a.code, "--report-source", "clinicians", "--mapping", str(mapping)]
    call_command("import_core_csv", str(path), *arguments, "--commit")

    cases = {c.registry_record: c.data for c in Case.objects.filter(site=site_a)}
    assert cases["IT-001"]["sex"] == "female" and cases["IT-002"]["ms_type"] == "SPMS"
    assert cases["IT-001"]["covid19_date_reporting"] == "2021-02-03"
    assert float(cases["IT-001"]["height"]) == pytest.approx(168)
    assert cases["IT-002"]["covid19_country"] == "IT"
    assert cases["IT-002"]["covid19_admission_hospital"] == "yes"
    job = latest_job()
    assert job.mapping.name == "registro.toml" and job.mapping.version == 1
    assert job.report["mapping"]["fingerprint"] == job.mapping.fingerprint

    # The same mapping next week is the same version; a changed one is the next.
    call_command("import_core_csv", str(path), "--site", site_a.code,
                 "--report-source", "clinicians", "--mapping", str(mapping))  # fmt: skip
    assert latest_job().mapping_id == job.mapping_id and latest_job().counts["unchanged"] == 2
    mapping.write_text(REGISTRY_MAPPING.replace('"SP" = "SPMS"', '"SP" = "SPMS"\n"PP" = "PPMS"'))
    call_command("import_core_csv", str(path), "--site", site_a.code,
                 "--report-source", "clinicians", "--mapping", str(mapping))  # fmt: skip
    assert latest_job().mapping.version == 2
    assert ImportMapping.objects.filter(site=site_a).count() == 2


def test_a_mapping_that_names_an_unknown_field_is_refused_naming_it(
    verified_client, manager_a, site_a
):
    client = verified_client(manager_a)
    sent = client.post(
        reverse("imports:save_mapping"),
        {
            "site": site_a.code,
            "name": "broken",
            "file": SimpleUploadedFile("m.toml", b'[columns]\n"Sex" = "gender"\n'),
        },
        follow=True,
    )
    assert "gender" in sent.content.decode()
    assert not ImportMapping.objects.exists()


def test_an_upload_through_a_saved_mapping_records_it(manager_a, site_a):
    from cases.conftest import context

    from casereports.imports import services

    mapping = services.save_mapping(
        context(manager_a), site_a, name="registro", text=REGISTRY_MAPPING
    )
    job = upload(manager_a, site_a, REGISTRY_FILE.encode(), mapping=mapping)
    assert job.status == ImportStatus.READY, job.error
    assert job.counts["new"] == 2 and job.mapping == mapping
    assert job.report["file"]["unknown_columns"] == []


def test_an_imported_records_page_names_its_registry_record_and_upload(
    verified_client, manager_a, site_a
):
    job = import_now(manager_a, site_a, csv_bytes(records(1)))
    case = Case.objects.get(site=site_a)

    page = verified_client(manager_a).get(reverse("cases:detail", args=[case.secret_name]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "REG-0001" in text and f"upload #{job.pk}" in text


@pytest.mark.postgres
def test_the_command_piped_into_head_imports_everything_and_exits_quietly(
    transactional_db, site_a, core_version, tmp_path, media_root
):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the command's process shares the test database: run on PostgreSQL")
    db = connection.settings_dict
    path = tmp_path / "registry.csv"
    path.write_bytes(csv_bytes(records(40)))
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}"
        f":{db.get('PORT') or 5432}/{db['NAME']}",
        "MEDIA_ROOT": str(media_root),
    }
    env.pop("REDIS_URL", None)
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "manage.py", "import_core_csv", str(path), "--site", site_a.code,
               "--report-source", "clinicians", "--commit"]  # fmt: skip
    piped = subprocess.run(
        f"{' '.join(command)} | head -1", shell=True, cwd=root, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    assert piped.stdout.startswith("import #")
    assert Case.objects.filter(site=site_a).count() == 40
