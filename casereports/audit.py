"""The audit trail: append-only events, each hash-chained to the one before.

`record_event` appends one event inside the caller's transaction (a service's write and its
event commit together or not at all). Appends are serialised by locking the single `AuditHead`
row at the very end of the caller's transaction, so the lock is held only for the insert and the
commit. `verify_chain` recomputes every hash and names the first event that does not match.

On PostgreSQL the table also refuses UPDATE and DELETE (a trigger, migration 0003).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from casereports import access
from casereports.models import AuditEvent, AuditHead, Case, Site
from casereports.services.bulk import insert_rows

GENESIS_HASH = "0" * 64

WEB, API, IMPORT, TASK, COMMAND = "web", "api", "import", "task", "command"


@dataclass(frozen=True)
class AuditContext:
    """Who acts, through which channel, for which request."""

    user: Any = None
    channel: str = WEB
    request_id: str = ""
    ip: str | None = None


def new_request_id() -> str:
    return uuid.uuid4().hex


def client_ip(request) -> str | None:
    address = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def context_for(request, channel: str = WEB) -> AuditContext:
    user = getattr(request, "user", None)
    return AuditContext(
        user=user if user is not None and user.is_authenticated else None,
        channel=channel,
        request_id=getattr(request, "request_id", "") or new_request_id(),
        ip=client_ip(request),
    )


def system_context(channel: str = COMMAND) -> AuditContext:
    return AuditContext(channel=channel, request_id=new_request_id())


def record_event(
    context: AuditContext,
    action: str,
    *,
    site: Site | None = None,
    case: Case | None = None,
    details: dict[str, Any] | None = None,
    username: str = "",
) -> AuditEvent:
    """Append one event. `username` names the actor when there is no user (a failed login)."""
    if case is not None and site is None:
        site = case.site
    user = context.user
    event = AuditEvent(
        at=timezone.now(),
        action=action,
        actor=user,
        actor_username=(user.get_username() if user is not None else username)[:150],
        role=access.role_at(user, site.pk if site else None) if user is not None else "",
        site=site,
        site_code=site.code if site else "",
        case=case,
        case_secret_name=case.secret_name if case else "",
        channel=context.channel,
        request_id=context.request_id[:64],
        ip=context.ip,
        details=details or {},
    )
    # No savepoint: inside a service's transaction the event and the write fail together.
    with transaction.atomic(savepoint=False):
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head, _ = AuditHead.objects.get_or_create(pk=1)
            head = AuditHead.objects.select_for_update().get(pk=1)
        event.previous_hash = head.last_hash
        event.hash = event_hash(event)
        event.save(force_insert=True)
        head.last_hash = event.hash
        head.last_event_id = event.pk
        head.event_count += 1
        head.save(update_fields=["last_hash", "last_event_id", "event_count"])
    return event


def record_events(
    context: AuditContext, site: Site, items: list[tuple[str, Any, dict[str, Any]]]
) -> None:
    """Append one event per (action, case, details), all at `site`, in one locked step of the
    caller's transaction: what `record_event` does, for the thousands of records one import
    writes (the head stays locked until the caller's transaction ends). `case` is anything
    with the case's `pk` and `secret_name`."""
    if not items:
        return
    user = context.user
    common = {
        "actor_id": user.pk if user is not None else None,
        "actor_username": user.get_username()[:150] if user is not None else "",
        "role": access.role_at(user, site.pk) if user is not None else "",
        "site_id": site.pk,
        "site_code": site.code,
        "channel": context.channel,
        "request_id": context.request_id[:64],
        "ip": context.ip,
    }
    now = timezone.now()
    rows = [
        {
            **common,
            "at": now,
            "action": action,
            "case_id": case.pk,
            "case_secret_name": case.secret_name,
            "details": details,
        }
        for action, case, details in items
    ]
    with transaction.atomic(savepoint=False):
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            AuditHead.objects.get_or_create(pk=1)
            head = AuditHead.objects.select_for_update().get(pk=1)
        previous = head.last_hash
        for row in rows:
            row["previous_hash"] = previous
            row["hash"] = previous = _hash_of(row)
        ids = insert_rows(AuditEvent, rows)
        head.last_hash = previous
        head.last_event_id = ids[-1]
        head.event_count += len(ids)
        head.save(update_fields=["last_hash", "last_event_id", "event_count"])


class DeferredEvents:
    """The events of one long transaction (an import's commit), kept in a temporary table as
    they come and appended to the chain by `append()` at its end.

    Appending as they came would take the audit head's lock at the first batch and hold it for
    the whole transaction: every other write of the platform would wait for the import, and a
    clinician's save (which locks its case, then the head) could deadlock with the import
    (which holds the head, then locks the next batch's cases). Appended at the end, the head is
    locked last, as every other write locks it, and only for the append itself. On SQLite,
    which runs one writer at a time, events are appended at once."""

    TABLE = "gdsi_deferred_audit"
    CHUNK = 5000

    def __init__(self, context: AuditContext, site: Site) -> None:
        self.context = context
        self.site = site
        self.deferred = connection.vendor == "postgresql"
        if self.deferred:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {self.TABLE} (seq bigserial PRIMARY KEY, "
                    "action text, case_id bigint, case_secret_name text, details text) "
                    "ON COMMIT DROP"
                )

    def add(self, items: list[tuple[str, Any, dict[str, Any]]]) -> None:
        if not self.deferred:
            record_events(self.context, self.site, items)
            return
        with connection.cursor() as cursor:
            columns = "action, case_id, case_secret_name, details"
            with cursor.cursor.copy(f"COPY {self.TABLE} ({columns}) FROM STDIN") as copy:
                for action, case, details in items:
                    copy.write_row(
                        (action, case.pk, case.secret_name, json.dumps(details, ensure_ascii=False))
                    )

    def append(self) -> None:
        """Chain every kept event, in the order they came (call it last in the transaction)."""
        if not self.deferred:
            return
        after = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT seq, action, case_id, case_secret_name, details FROM {self.TABLE} "
                    "WHERE seq > %s ORDER BY seq LIMIT %s",
                    [after, self.CHUNK],
                )
                rows = cursor.fetchall()
            if not rows:
                return
            after = rows[-1][0]
            record_events(
                self.context,
                self.site,
                [
                    (action, CaseRef(case_id, secret_name), json.loads(details))
                    for _, action, case_id, secret_name, details in rows
                ],
            )


@dataclass(frozen=True)
class CaseRef:
    """A case's id and name: all an event needs of it."""

    pk: int
    secret_name: str


HASHED = (
    "action",
    "actor_id",
    "actor_username",
    "role",
    "site_id",
    "site_code",
    "case_id",
    "case_secret_name",
    "channel",
    "request_id",
    "details",
    "previous_hash",
)


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and every recorded column, in a fixed canonical form."""
    return _hash_of({name: getattr(event, name) for name in (*HASHED, "at", "ip")})


def _hash_of(columns: dict[str, Any]) -> str:
    content = {name: columns[name] for name in HASHED}
    content["at"] = columns["at"].astimezone(UTC).isoformat(timespec="microseconds")
    content["ip"] = columns["ip"] or ""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_event_id: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return not self.reason


def verify_chain() -> ChainReport:
    """Recompute the chain from the first event; stop at the first event that does not match."""
    previous_hash = GENESIS_HASH
    previous_id = 0
    checked = 0
    for event in _events_in_order():
        if event.previous_hash != previous_hash:
            reason = "does not follow the event before it (an event was removed or altered)"
            return ChainReport(checked, event.pk, reason)
        if event_hash(event) != event.hash:
            return ChainReport(checked, event.pk, "its content does not match its hash")
        previous_hash, previous_id = event.hash, event.pk
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    expected_count = head.event_count if head else 0
    expected_last = head.last_hash if head else GENESIS_HASH
    if checked != expected_count or previous_hash != expected_last:
        return ChainReport(
            checked,
            previous_id or None,
            f"the trail ends after {checked} events but {expected_count} were written "
            "(events at the end were removed)",
        )
    return ChainReport(checked)


def _events_in_order() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("id").iterator(chunk_size=2000)
