"""Rate limits on the public patient pages, per address and for everyone together.

The numbers (settings.GDSI_PATIENT_RATE_LIMITS, per minute) let a whole clinic behind one
address through: 60 new reports a minute from one address is more than any waiting room.
Wrong return or receipt codes are counted alone ("code"), so guessing stops after a few tries
while people typing their right code are never slowed.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

START, SAVE, SUBMIT, CODE = "start", "save", "submit", "code"


def client_address(group: str, request: HttpRequest) -> str:
    """The patient's address: the connection's, or the one the trusted proxies saw."""
    trusted = settings.GDSI_TRUSTED_PROXIES
    address = request.META.get("REMOTE_ADDR", "")
    if trusted:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= trusted:
            address = forwarded[-trusted]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "unknown"


def _everyone(group: str, request: HttpRequest) -> str:
    return "everyone"


def _limits(action: str) -> list[tuple[object, str]]:
    per_address, total = settings.GDSI_PATIENT_RATE_LIMITS[action]
    return [(client_address, f"{per_address}/m"), (_everyone, f"{total}/m")]


def over_limit(request: HttpRequest, action: str, *, count: bool = True) -> bool:
    """True when this request goes past a limit of `action` (counting it unless `count` is
    False: then only whether the limit is already reached)."""
    refused = False
    for key, rate in _limits(action):
        usage = get_usage(
            request, group=f"selfreport:{action}", key=key, rate=rate, increment=count
        )
        if usage is None:
            continue
        # Counting, the request itself is in the count; only looking, the limit is reached
        # once the count equals it.
        refused |= usage["should_limit"] if count else usage["count"] >= usage["limit"]
    return refused


def count_failure(request: HttpRequest, action: str = CODE) -> None:
    over_limit(request, action, count=True)
