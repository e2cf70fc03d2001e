"""Login lockout (django-axes), seen from our login page."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.http import HttpRequest


def is_locked_out(request: HttpRequest, username: str) -> bool:
    """True when this username, from this request's IP, may not try to log in now."""
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def cooloff_minutes() -> int:
    cool_off = get_cool_off()
    return max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0


def client_description(username, ip_address, user_agent, path_info, request) -> str:
    """What axes writes into its log lines about a client: only the path, never the username,
    the IP or the user agent (personal data; the audit trail records who tried)."""
    if isinstance(path_info, list | tuple):
        path_info = path_info[0] if path_info else ""
    return f'{{path_info: "{path_info}"}}'
