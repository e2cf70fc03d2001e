"""Login (with lockout), logout, and two-factor verification and enrolment.

After the password, a staff user with a confirmed authenticator is asked for its code (or a
recovery code); one without is sent to enrolment: a QR code and the secret as text, confirmed by
a current code, then ten recovery codes shown once. Each step is on the audit trail
(`casereports.accounts.services`).
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache

from casereports.accounts import lockout, otp, services
from casereports.accounts.forms import CodeForm, EnrolmentForm, LoginForm

NEXT = "next"


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The page for a locked-out login (also axes' AXES_LOCKOUT_CALLABLE)."""
    context = {"minutes": lockout.cooloff_minutes(), "limit": settings.AXES_FAILURE_LIMIT}
    return render(
        request,
        "registration/locked_out.html",
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if lockout.is_locked_out(request, username):
            services.locked_out(
                request, username, cooloff_minutes=lockout.cooloff_minutes(), refused=True
            )
            return lockout_response(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        required = otp.requires_two_factor(self.request.user)
        services.logged_in(self.request, two_factor_required=required)
        if required:
            return redirect(_with_next("two_factor", response.url))
        return response

    def form_invalid(self, form):
        username = form.data.get("username", "")
        services.login_failed(self.request, username, _failure_reason(form))
        if getattr(self.request, "axes_locked_out", False):
            services.locked_out(
                self.request, username, cooloff_minutes=lockout.cooloff_minutes(), refused=False
            )
            return lockout_response(self.request)
        return super().form_invalid(form)


def _failure_reason(form) -> str:
    if form.has_error("username") or form.has_error("password"):
        return "incomplete"
    if form.has_error("__all__", "inactive"):
        return "inactive"
    return "bad_credentials"


@never_cache
def logout(request: HttpRequest) -> HttpResponse:
    """GET asks to confirm; POST (with the CSRF token) logs out."""
    if request.method != "POST":
        return render(request, "registration/logout.html")
    if request.user.is_authenticated:
        services.logged_out(request)
    auth_logout(request)
    messages.success(request, _("You have logged out."))
    response = redirect(settings.LOGOUT_REDIRECT_URL)
    # Drops any unsaved form input the entry pages kept in this browser's sessionStorage.
    response["Clear-Site-Data"] = '"storage"'
    return response


@never_cache
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    user, next_url = request.user, _next_url(request)
    if not otp.needs_verification(user):
        return redirect(next_url)
    device = otp.confirmed_totp_device(user)
    if device is None:
        return redirect(_with_next("two_factor_setup", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = otp.check_code(user, form.cleaned_data["code"], device)
        if result.accepted:
            return _verified(request, result, next_url)
        _refuse(request, form, result, step="verify")
    return render(request, "accounts/two_factor.html", {"form": form, "next": next_url})


@never_cache
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user, next_url = request.user, _next_url(request)
    if not otp.requires_two_factor(user):
        return redirect(next_url)
    if otp.confirmed_totp_device(user) is not None:
        # Never show a confirmed secret again: that would hand it to a password-only session.
        if otp.is_verified(user):
            messages.info(request, _("Two-factor authentication is already set up."))
            return redirect(next_url)
        return redirect(_with_next("two_factor", next_url))
    device = otp.enrolment_device(user)
    form = EnrolmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = otp.check_code(user, form.cleaned_data["code"], device)
        if result.accepted and result.method == otp.TOTP:
            return _enrolled(request, result.device, next_url)
        if result.accepted:
            return _verified(request, result, next_url)
        _refuse(request, form, result, step="enrol")
    secret = otp.base32_secret(device)
    context = {
        "form": form,
        "next": next_url,
        "secret": secret,
        "secret_grouped": otp.grouped(secret),
        "issuer": settings.OTP_TOTP_ISSUER,
        "account": user.get_username(),
        "qr_url": reverse("two_factor_qr"),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@never_cache
@login_required
def two_factor_qr(request: HttpRequest) -> HttpResponse:
    """The enrolment QR code as SVG; only while the user's authenticator is unconfirmed."""
    user = request.user
    if not otp.requires_two_factor(user) or otp.confirmed_totp_device(user) is not None:
        return HttpResponse(status=404)
    svg = otp.qr_code_svg(otp.enrolment_device(user))
    return HttpResponse(svg, content_type="image/svg+xml")


@never_cache
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """How many recovery codes are left; POST replaces them with new ones (shown once)."""
    if request.method == "POST":
        codes = otp.replace_recovery_codes(request.user)
        services.recovery_codes_replaced(request, count=len(codes))
        return _show_codes(request, codes, resolve_url(settings.LOGIN_REDIRECT_URL))
    left = otp.recovery_codes_left(request.user)
    return render(request, "accounts/recovery_codes.html", {"left": left, "codes": None})


def _enrolled(request: HttpRequest, device, next_url: str) -> HttpResponse:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    _mark_verified(request, device)
    codes = otp.replace_recovery_codes(request.user)
    services.otp_enrolled(request)
    return _show_codes(request, codes, next_url)


def _show_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": next_url})


def _verified(request: HttpRequest, result: otp.CodeCheck, next_url: str) -> HttpResponse:
    _mark_verified(request, result.device)
    if result.method == otp.RECOVERY_CODE:
        remaining = otp.recovery_codes_left(request.user)
        services.recovery_code_used(request, remaining=remaining)
        messages.warning(
            request,
            ngettext(
                "You used a recovery code; %(remaining)d left. Each code works only once.",
                "You used a recovery code; %(remaining)d left. Each code works only once.",
                remaining,
            )
            % {"remaining": remaining},
        )
    else:
        services.otp_verified(request)
    return redirect(next_url)


def _mark_verified(request: HttpRequest, device) -> None:
    django_otp.login(request, device)
    request.session.cycle_key()  # a new session id for the newly verified session


def _refuse(request: HttpRequest, form, result: otp.CodeCheck, *, step: str) -> None:
    if result.retry_after is not None:
        seconds = max(1, int((result.retry_after - timezone.now()).total_seconds()) + 1)
        reason = "throttled"
        message = ngettext(
            "Too many wrong codes. Wait %(seconds)d seconds, then try again.",
            "Too many wrong codes. Wait %(seconds)d seconds, then try again.",
            seconds,
        ) % {"seconds": seconds}
    elif result.method == otp.TOTP:
        reason = "wrong_code"
        message = _(
            "That code is not right. Enter the code your app shows now "
            "(and check that the device's clock is correct)."
        )
    else:
        reason = "wrong_code"
        message = _("That recovery code is not right, or it was already used.")
    services.otp_failed(request, method=result.method, reason=reason, step=step)
    form.add_error("code", message)


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get(NEXT) or request.GET.get(NEXT) or ""
    safe = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if candidate and safe else resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({NEXT: next_url})}"
