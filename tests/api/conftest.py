"""API fixtures: the case fixtures (`tests/cases/conftest.py`) plus clients with real tokens."""

import pytest
from cases.conftest import *  # noqa: F403 - the case fixtures, re-exported for these tests
from rest_framework.test import APIClient

from casereports.services.tokens import issue_token


@pytest.fixture
def client_for(db):
    """An APIClient that sends `Authorization: Token <key>` with a freshly issued token."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, 'tests').key}")
        return client

    return make


@pytest.fixture
def central_manager(make_user, site_b):
    """A read-only role for case data: sees every site, writes none."""
    return make_user("central", "central_data_manager", site_b)
