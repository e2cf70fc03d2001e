"""The platform runs: settings from the environment, health, demo setup, production guards."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from casereports.models import Membership, Site
from casereports.roles import ROLES

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "GDSI_ENV"}}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True
    )


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] in {"ok", "in-process"}


@pytest.mark.django_db
def test_healthz_fails_when_the_broker_is_down(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0", GDSI_HEALTH_TIMEOUT_SECONDS=1):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")


def test_production_refuses_to_start_without_a_real_secret_key():
    result = run_python("import gdsi.settings", GDSI_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_key():
    result = run_python(
        "import gdsi.settings",
        GDSI_ENV="production",
        SECRET_KEY="development-only-secret-key-never-use-in-production",
    )
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_checklist():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **os.environ,
            "GDSI_ENV": "production",
            "SECRET_KEY": "x" * 20 + "-a-long-random-production-key-" + "y" * 20,
            "GDSI_EXPORT_KEY": "e" * 20 + "-an-export-key-" + "f" * 20,
            "ALLOWED_HOSTS": "gdsi.example.org",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_boolean_setting_names_the_variable():
    result = run_python("import gdsi.settings", DEBUG="maybe")
    assert "DEBUG must be true or false" in result.stderr


@pytest.mark.django_db
def test_setup_demo_creates_a_site_and_one_login_per_role(capsys):
    call_command("setup_demo")
    output = capsys.readouterr().out
    site = Site.objects.get(code="demo")
    assert {m.role for m in Membership.objects.filter(site=site)} == set(ROLES)
    for role in ROLES:
        assert f"demo-{role.replace('_', '-')}" in output


@pytest.mark.django_db
def test_demo_logins_work(client, capsys):
    call_command("setup_demo")
    line = next(line for line in capsys.readouterr().out.splitlines() if "demo-clinician " in line)
    username, password = line.split()[:2]
    assert client.login(username=username, password=password)


def test_production_refuses_to_start_without_an_export_key():
    result = run_python(
        "import gdsi.settings",
        GDSI_ENV="production",
        SECRET_KEY="x" * 20 + "-a-long-random-production-key-" + "y" * 20,
    )
    assert result.returncode != 0
    assert "GDSI_EXPORT_KEY must be set" in result.stderr
