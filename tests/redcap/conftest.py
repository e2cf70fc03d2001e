"""Fixtures for the REDCap-compatible API: the core dictionary, two sites with a registry data
manager each, REDCap tokens, tasks run in-process and a storage folder of the test's own.

This folder has no __init__.py on purpose: as a package it would be named `redcap` and shadow
PyCap's own `redcap` package, which these tests drive.
"""

import pytest
from cases.conftest import core_version, make_user, site_a, site_b  # noqa: F401

from casereports.services.tokens import issue_token

API = "/redcap/api/"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def tasks_in_process(settings):
    """The import's commit is queued after its transaction; run it in-process, not in Redis."""
    from gdsi.celery import app

    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def registry_a(make_user, site_a, core_version):  # noqa: F811
    return make_user("registry-a", "registry_data_manager", site_a)


@pytest.fixture
def registry_b(make_user, site_b, core_version):  # noqa: F811
    return make_user("registry-b", "registry_data_manager", site_b)


@pytest.fixture
def key_a(registry_a, site_a):  # noqa: F811
    return issue_token(registry_a, "REDCap A", site=site_a, kind="redcap").key


@pytest.fixture
def key_b(registry_b, site_b):  # noqa: F811
    return issue_token(registry_b, "REDCap B", site=site_b, kind="redcap").key
