"""Fixtures for the patient stream: the dictionary, a default project with its consent document,
and rate-limit counters of the test's own (a fresh key prefix: the shared Redis is never
flushed)."""

import uuid

import pytest
from cases.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    core_version,
    make_user,
    site_a,
    site_b,
)
from django.conf import settings
from django.test import override_settings

from casereports.models import SelfReportProject
from casereports.selfreport.services import install_shipped_consent


@pytest.fixture(autouse=True)
def own_rate_counters():
    caches = {**settings.CACHES}
    caches["ratelimit"] = {**caches["ratelimit"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    with override_settings(CACHES=caches):
        yield


@pytest.fixture
def no_fill_delay(settings):
    settings.GDSI_PATIENT_MIN_FILL_SECONDS = 0


@pytest.fixture
def project(core_version, site_a):  # noqa: F811
    install_shipped_consent()
    return SelfReportProject.objects.create(site=site_a, is_default=True)


@pytest.fixture
def clinic_project(core_version, site_b):  # noqa: F811
    install_shipped_consent()
    return SelfReportProject.objects.create(site=site_b, title="Clinique B patients")
