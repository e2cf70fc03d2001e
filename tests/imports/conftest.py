"""Fixtures for row imports: the core dictionary, two sites, registry data managers, and the
site's files in a storage folder of the test's own."""

import pytest
from cases.conftest import context, core_version, make_user, site_a, site_b  # noqa: F401

from imports.helpers import registry_manager


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def manager_a(make_user, site_a, core_version):  # noqa: F811
    return registry_manager(make_user, "registry-a", site_a)


@pytest.fixture
def manager_b(make_user, site_b, core_version):  # noqa: F811
    return registry_manager(make_user, "registry-b", site_b)
