"""Throwaway databases, a bench site and user, and filled cases for the case benchmarks.

Never touches the app's own database: on PostgreSQL (when DATABASE_URL is a postgres URL) the
benchmarks (re)create a database of their own name on the same server; otherwise a SQLite file
in a temporary directory.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from casereports.synthetic import SUBMITTABLE_ANSWERS

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "casereports" / "data" / "core_dataset_v1.csv"
PROTECTED = {"gdsi", "postgres", "template0", "template1"}

FILLED = SUBMITTABLE_ANSWERS


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def recreate_postgres_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server of `server_url`; returns its URL."""
    import psycopg

    if name in PROTECTED or name == urlparse(server_url).path.lstrip("/"):
        raise SystemExit(f"refusing to recreate database {name!r}: it is not a bench database")
    maintenance = _with_database(server_url, "postgres").replace("postgres://", "postgresql://", 1)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return _with_database(server_url, name)


def drop_postgres_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if name in PROTECTED:
        return
    maintenance = _with_database(url, "postgres").replace("postgres://", "postgresql://", 1)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def throwaway_database(name: str) -> str:
    """A fresh, empty database for one benchmark run; returns its URL."""
    configured = os.environ.get("DATABASE_URL", "")
    if is_postgres(configured):
        return recreate_postgres_database(configured, name)
    directory = tempfile.mkdtemp(prefix=f"{name}-")
    return f"sqlite:///{directory}/{name}.sqlite3"


def setup_django(database_url: str, settings_module: str = "gdsi.settings") -> None:
    """Point Django at the bench database (DEBUG off: no query log) and migrate it."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_dictionary", str(CORE), stdout=io.StringIO())


def bench_clinician(username: str = "bench-clinician"):
    """A site and a clinician of it (plain ORM set-up, not a case write)."""
    from django.contrib.auth import get_user_model

    from casereports.models import Membership, Site

    site, _ = Site.objects.get_or_create(
        code="bench", defaults={"name": "Bench Hospital", "country": "GB"}
    )
    user, _ = get_user_model().objects.get_or_create(username=username)
    Membership.objects.get_or_create(user=user, site=site, role="clinician")
    return site, user


def bench_context(user):
    from casereports.audit import AuditContext, new_request_id

    return AuditContext(user=user, channel="web", request_id=new_request_id(), ip="127.0.0.1")


def filled_case(user, site):
    """A new draft with every required field entered (ready to submit), through the services."""
    from casereports.services import cases

    case = cases.create_case(bench_context(user), site)
    for form, values in FILLED.items():
        case = cases.save_form(
            bench_context(user), case, values, form=form, expected_version=case.version
        ).case
    return case


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
