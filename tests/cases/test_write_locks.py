"""A case write in progress locks that case only (PostgreSQL row locks).

Found under load (bench/case_submit.py): the write lock also took the case's site row, so
writes at one site queued behind each other and deadlocked with the audit trail's lock (an
audit event's foreign-key check on the site at commit, made while holding the audit head).
"""

import threading

import pytest
from conftest import unavailable
from django.db import connection, connections, transaction

from casereports.models import AuditEvent
from casereports.services import cases as services

from .conftest import context

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def hold_write_lock(user, case, locked: threading.Event, release: threading.Event) -> None:
    """Stand in for a save that is still in its transaction (the services' own locking step)."""
    try:
        with transaction.atomic():
            services._locked_for_write(context(user), case.pk, case.version, "edit case")
            locked.set()
            release.wait(15)
    finally:
        connections.close_all()


def test_others_create_view_and_save_at_the_site_while_a_save_is_in_progress(
    core_version, clinician_a, manager_a, site_a
):
    if connection.vendor != "postgresql":
        unavailable("the test database is not PostgreSQL (set DATABASE_URL)")
    busy = services.create_case(context(clinician_a), site_a)
    other = services.create_case(context(clinician_a), site_a)
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(clinician_a, busy, locked, release))
    holder.start()
    try:
        assert locked.wait(15)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a wait here is the bug: fail, not hang
        created = services.create_case(context(clinician_a), site_a)
        services.record_case_view(context(manager_a), busy)
        services.save_form(
            context(clinician_a),
            other,
            {"sex": "female"},
            form="demographics",
            expected_version=other.version,
        )
    finally:
        release.set()
        holder.join(20)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert AuditEvent.objects.filter(case=created, action="case.created").exists()
    assert AuditEvent.objects.filter(case=busy, action="case.viewed").exists()
    assert AuditEvent.objects.filter(case=other, action="case.changed").exists()
