"""Fixtures for case tests: the core dictionary loaded, two sites, a user per role and site."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from casereports.audit import AuditContext
from casereports.models import Membership, Site
from casereports.services.dictionaries import (
    default_rules_path,
    read_dictionary_files,
    store_dictionary,
)

CORE = Path(__file__).resolve().parents[2] / "casereports" / "data" / "core_dataset_v1.csv"
PASSWORD = "correct horse battery staple 42"  # noqa: S105 - test users only


@pytest.fixture
def core_version(db):
    loaded = read_dictionary_files(CORE, default_rules_path(CORE))
    version, _ = store_dictionary(loaded, source_filename=CORE.name)
    return version


@pytest.fixture
def site_a(db):
    return Site.objects.create(code="site-a", name="Hospital A", country="GB")


@pytest.fixture
def site_b(db):
    return Site.objects.create(code="site-b", name="Hospital B", country="FR")


@pytest.fixture
def make_user(db):
    def make(username: str, role: str | None = None, site: Site | None = None):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        if role:
            Membership.objects.create(user=user, site=site, role=role)
        return user

    return make


@pytest.fixture
def clinician_a(make_user, site_a):
    return make_user("clin-a", "clinician", site_a)


@pytest.fixture
def manager_a(make_user, site_a):
    return make_user("manager-a", "site_manager", site_a)


@pytest.fixture
def clinician_b(make_user, site_b):
    return make_user("clin-b", "clinician", site_b)


def context(user) -> AuditContext:
    return AuditContext(user=user, channel="web", request_id="test-request", ip="127.0.0.1")
