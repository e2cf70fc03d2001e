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

from django.db import transaction
from django.utils import timezone

from casereports import access
from casereports.models import AuditEvent, AuditHead, Case, Site
from casereports.services.bulk import insert_all

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
    context: AuditContext, site: Site, items: list[tuple[str, Case, dict[str, Any]]]
) -> None:
    """Append one event per (action, case, details), all at `site`, in one locked step of the
    caller's transaction: what `record_event` does, for the thousands of records one import
    writes (the head stays locked until the caller's transaction ends)."""
    if not items:
        return
    user = context.user
    username = user.get_username()[:150] if user is not None else ""
    role = access.role_at(user, site.pk) if user is not None else ""
    now = timezone.now()
    events = [
        AuditEvent(
            at=now,
            action=action,
            actor=user,
            actor_username=username,
            role=role,
            site=site,
            site_code=site.code,
            case=case,
            case_secret_name=case.secret_name,
            channel=context.channel,
            request_id=context.request_id[:64],
            ip=context.ip,
            details=details,
        )
        for action, case, details in items
    ]
    with transaction.atomic(savepoint=False):
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            AuditHead.objects.get_or_create(pk=1)
            head = AuditHead.objects.select_for_update().get(pk=1)
        previous = head.last_hash
        for event in events:
            event.previous_hash = previous
            event.hash = previous = event_hash(event)
        insert_all(events)
        head.last_hash = previous
        head.last_event_id = events[-1].pk
        head.event_count += len(events)
        head.save(update_fields=["last_hash", "last_event_id", "event_count"])


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and every recorded column, in a fixed canonical form."""
    content = {
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "role": event.role,
        "site_id": event.site_id,
        "site_code": event.site_code,
        "case_id": event.case_id,
        "case_secret_name": event.case_secret_name,
        "channel": event.channel,
        "request_id": event.request_id,
        "ip": event.ip or "",
        "details": event.details,
        "previous_hash": event.previous_hash,
    }
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
