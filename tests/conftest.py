"""Shared fixtures. Tests that need a real service skip on a bare laptop and fail in CI.

CI (`.ci/run`) sets GDSI_REQUIRE_SERVICES=1 (and CI=true): then a missing PostgreSQL, Redis,
node or Chromium is a failure, never a silent skip.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

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


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (never a browser that Playwright downloads)."""
    path = os.environ.get("GDSI_CHROMIUM") or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        unavailable("Chromium is not installed (apt-get install chromium, or set GDSI_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str):
    """Headless Chromium through Playwright's sync API, one per test module.

    Playwright's sync API runs its asyncio loop in a greenlet on the test's own thread, so from
    start() to stop() that thread "has a running event loop" and Django refuses ORM calls from it
    (SynchronousOnlyOperation: fixtures creating users, the live_server flush). The calls really
    are synchronous, so DJANGO_ALLOW_ASYNC_UNSAFE is set exactly while Playwright runs and
    restored afterwards; module scope ends the loop before tests of other modules run.
    launch() gives Chromium a fresh throwaway profile (--user-data-dir in a temp dir, removed on
    close), so no state leaks in from a previous run.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    """A page in a new browser context (own cookies and storage) for each test."""
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def verified_client(client):
    """`verified_client(user)`: the test's `client`, logged in as `user` with a session that
    passed two-factor authentication (required of every staff user; see tests/helpers_auth.py)."""
    from helpers_auth import verified_login

    def login(user):
        verified_login(client, user)
        return client

    return login


@pytest.fixture
def client_for(db):
    """An APIClient that sends `Authorization: Token <key>` with a freshly issued token."""

    from rest_framework.test import APIClient

    from casereports.services.tokens import issue_token

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, 'tests').key}")
        return client

    return make
