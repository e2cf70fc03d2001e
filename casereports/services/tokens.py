"""Per-user API tokens: issue, revoke, and find the token a request presents.

The key is shown once, when issued; only its SHA-256 is stored (with the first 8 characters as
a prefix a person can recognise), so a copy of the database gives no working token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from casereports import access
from casereports.audit import AuditContext, record_event, system_context
from casereports.models import ApiToken, Site

KEY_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
PREFIX_LENGTH = 8
API_KIND, REDCAP_KIND = "api", "redcap"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most once a minute


class TokenError(Exception):
    """A token could not be issued; the message is for the person who asked."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # the only time the key exists outside the client


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_token(
    user,
    name: str,
    *,
    site: Site | None = None,
    context: AuditContext | None = None,
    kind: str = API_KIND,
) -> IssuedToken:
    """A new token for `user`, bound to `site` when given (it then acts for that site only);
    the returned key is not stored anywhere. A REDCap token (`kind="redcap"`) is 32 hexadecimal
    characters, as REDCap's client libraries check, and must be bound to a site."""
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name (what or who will use it).")
    if not user.is_active:
        raise TokenError(f"User {user.get_username()!r} is inactive; no token was issued.")
    if site is not None and not access.permissions_at(user, site.pk):
        raise TokenError(f"User {user.get_username()!r} is no member of site {site.code}.")
    if kind == REDCAP_KIND and site is None:
        raise TokenError("A REDCap token acts for one site: name the site it is for.")
    key = secrets.token_hex(16).upper() if kind == REDCAP_KIND else secrets.token_urlsafe(KEY_BYTES)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            site=site,
            key_hash=hash_key(key),
            prefix=key[:PREFIX_LENGTH],
            kind=kind,
        )
        details = {
            "user": user.get_username(),
            "name": token.name,
            "prefix": token.prefix,
            "kind": kind,
        }
        if site is not None:
            details["site"] = site.code
        record_event(context or system_context(), "api_token.issued", site=site, details=details)
    return IssuedToken(token, key)


def revoke_token(token: ApiToken, *, context: AuditContext | None = None) -> bool:
    """Revoke `token` (no later request with it is accepted). False if it already was."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            record_event(
                context or system_context(),
                "api_token.revoked",
                details={
                    "user": token.user.get_username(),
                    "name": token.name,
                    "prefix": token.prefix,
                },
            )
    token.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)


def active_token(key: str) -> ApiToken | None:
    """The unrevoked token of an active user whose key is `key`, or None. One query (plus an
    update of `last_used_at` at most once a minute per token)."""
    token = (
        ApiToken.objects.select_related("user", "site")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    _note_use(token)
    return token


def _note_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # Requests that read the token at the same moment race here; the condition lets one write.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
