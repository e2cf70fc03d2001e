"""Two-factor authentication is required of every staff user before anything else.

An authenticated staff user whose session has not passed two-factor authentication is sent to
verification (or enrolment) from every page but the login, logout and two-factor pages, static
files and /healthz; under /api/ such a session gets 403 JSON `{"code": "otp_required"}`.
Anonymous requests pass (pages ask for a login themselves; API tokens are checked by DRF).

The Django admin's own login and logout pages are replaced by ours, so that admin logins are
locked out, audited and asked for the second factor like any other.
"""

from __future__ import annotations

from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from casereports.accounts import otp

OPEN_URL_NAMES = ("login", "logout", "two_factor", "two_factor_setup", "two_factor_qr")
API_PREFIX = "/api/"
OTP_REQUIRED = {
    "code": "otp_required",
    "message": (
        "This session has not passed two-factor authentication. Complete it in the browser at "
        "/accounts/two-factor/, or use an API token."
    ),
}


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    @cached_property
    def open_paths(self) -> frozenset[str]:
        return frozenset(reverse(name) for name in OPEN_URL_NAMES)

    @cached_property
    def open_prefixes(self) -> tuple[str, ...]:
        static = "/" + settings.STATIC_URL.lstrip("/")
        return (static, "/healthz")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self._admin_entry(request) or self._unverified(request)
        return response or self.get_response(request)

    def _admin_entry(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path_info
        if path == reverse("admin:login"):
            next_url = request.GET.get("next") or reverse("admin:index")
            return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_url})}")
        if path == reverse("admin:logout"):
            return HttpResponseRedirect(reverse("logout"), status=307)  # keeps POST and its token
        return None

    def _unverified(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path_info
        if path in self.open_paths or path.startswith(self.open_prefixes):
            return None
        if not otp.needs_verification(request.user):
            return None
        if path.startswith(API_PREFIX):
            return JsonResponse(OTP_REQUIRED, status=403)
        query = {"next": request.get_full_path()} if request.method == "GET" else {}
        target = reverse("two_factor") + (f"?{urlencode(query)}" if query else "")
        return HttpResponseRedirect(target)
