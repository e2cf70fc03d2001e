"""Logins, logouts and two-factor checks on the audit trail (channel web, with IP and request id).

Actions: auth.login, auth.login_failed (with the username that was tried, never the password),
auth.locked_out, auth.logout, auth.otp_enrolled, auth.otp_verified, auth.otp_failed,
auth.recovery_code_used, auth.recovery_codes_replaced. The views call these; no signal does.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from casereports.audit import WEB, context_for, record_event

USERNAME_LIMIT = 150


def _record(request: HttpRequest, action: str, username: str = "", **details: Any) -> None:
    record_event(
        context_for(request, channel=WEB),
        action,
        username=(username or "")[:USERNAME_LIMIT],
        details=details,
    )


def logged_in(request: HttpRequest, *, two_factor_required: bool) -> None:
    _record(request, "auth.login", two_factor_required=two_factor_required)


def login_failed(request: HttpRequest, username: str, reason: str) -> None:
    _record(request, "auth.login_failed", username, reason=reason)


def locked_out(request: HttpRequest, username: str, *, cooloff_minutes: int, refused: bool) -> None:
    """`refused`: a login tried while already locked out (else: this failure locked it)."""
    _record(
        request,
        "auth.locked_out",
        username,
        cooloff_minutes=cooloff_minutes,
        attempt="refused while locked out" if refused else "failure limit reached",
    )


def logged_out(request: HttpRequest) -> None:
    _record(request, "auth.logout")


def otp_enrolled(request: HttpRequest) -> None:
    _record(request, "auth.otp_enrolled", method="totp")


def otp_verified(request: HttpRequest) -> None:
    _record(request, "auth.otp_verified", method="totp")


def otp_failed(request: HttpRequest, *, method: str, reason: str, step: str) -> None:
    _record(request, "auth.otp_failed", method=method, reason=reason, step=step)


def recovery_code_used(request: HttpRequest, *, remaining: int) -> None:
    _record(request, "auth.recovery_code_used", remaining=remaining)


def recovery_codes_replaced(request: HttpRequest, *, count: int) -> None:
    _record(request, "auth.recovery_codes_replaced", count=count)
