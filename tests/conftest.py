"""Shared fixtures. Tests that need a real service skip on a bare laptop and fail in CI.

CI (`.ci/run`) sets GDSI_REQUIRE_SERVICES=1 (and CI=true): then a missing PostgreSQL, Redis or
node is a failure, never a silent skip.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def services_required() -> bool:
    return bool(os.environ.get("GDSI_REQUIRE_SERVICES") or os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if services_required():
        pytest.fail(f"{reason} (required in CI)", pytrace=False)
    pytest.skip(reason)


def postgres_url() -> str:
    configured = os.environ.get("GDSI_LOGIC_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    return configured if configured.startswith("postgres") else DEFAULT_POSTGRES_URL


def _port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    if services_required() and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("In CI the suite must run on PostgreSQL: set DATABASE_URL")


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    url = postgres_url()
    if not _port_open(url, 5432):
        unavailable(f"PostgreSQL is not reachable at {urlparse(url).netloc}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        unavailable("REDIS_URL is not set")
    if not _port_open(url, 6379):
        unavailable(f"Redis is not reachable at {urlparse(url).netloc}")
    return url


@pytest.fixture(scope="session")
def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    return node
