"""API fixtures: the case fixtures (`tests/cases/conftest.py`); `client_for` (a client with a real
token) is in tests/conftest.py."""

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures, re-exported for these tests


@pytest.fixture
def central_manager(make_user, site_b):
    """A read-only role for case data: sees every site, writes none."""
    return make_user("central", "central_data_manager", site_b)
