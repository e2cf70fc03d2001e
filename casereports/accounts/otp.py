"""Two-factor authentication with django-otp: who needs it, their authenticator (TOTP) device,
their recovery codes (one static device of single-use tokens), and checking a code.

Every staff user needs it: anyone with a staff role at some site (`casereports.roles`) and
Django staff or superusers. A user has at most one TOTP device. Until it is confirmed (by a
code from the app) the user is sent to enrolment, which shows its QR code and secret; once
confirmed, the secret is never shown again.
"""

from __future__ import annotations

import io
import re
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime

import segno
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from casereports import access

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10

TOTP = "totp"
RECOVERY_CODE = "recovery_code"

_TOTP_CODE = re.compile(r"^\d{6}$")


def requires_two_factor(user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_staff or user.is_superuser or access.is_staff_role(user))


def is_verified(user) -> bool:
    """True when this session passed two-factor authentication (django-otp's middleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def needs_verification(user) -> bool:
    return requires_two_factor(user) and not is_verified(user)


def confirmed_totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolment_device(user) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on first need (with a random key)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def restart_enrolment(user) -> TOTPDevice:
    """Drop every TOTP device of the user and give them a new, unconfirmed one."""
    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def base32_secret(device: TOTPDevice) -> str:
    """The key as authenticator apps take it when typed in (RFC 4648 base32, no padding)."""
    return b32encode(device.bin_key).decode("ascii").rstrip("=")


def grouped(secret: str, size: int = 4) -> str:
    return " ".join(secret[i : i + size] for i in range(0, len(secret), size))


def qr_code_svg(device: TOTPDevice) -> bytes:
    """The device's otpauth:// URL as a QR code, an SVG document."""
    buffer = io.BytesIO()
    segno.make(device.config_url, error="m").save(
        buffer, kind="svg", scale=6, border=4, light="#ffffff", title="Authenticator QR code"
    )
    return buffer.getvalue()


@transaction.atomic
def replace_recovery_codes(user, count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """New single-use recovery codes for the user; every earlier one stops working."""
    device = StaticDevice.objects.filter(user=user, name=RECOVERY_DEVICE_NAME).first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    device.token_set.all().delete()
    codes = _distinct_tokens(count)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _distinct_tokens(count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(StaticToken.random_token())
    return sorted(codes)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(
        device__user=user, device__name=RECOVERY_DEVICE_NAME, device__confirmed=True
    ).count()


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code the user typed."""

    method: str  # TOTP or RECOVERY_CODE: what the code looked like
    device: TOTPDevice | StaticDevice | None = None  # the device that accepted it
    retry_after: datetime | None = None  # set when too many wrong codes were entered

    @property
    def accepted(self) -> bool:
        return self.device is not None


def normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def check_code(user, code: str, totp_device: TOTPDevice | None) -> CodeCheck:
    """Check a 6-digit code against `totp_device`, anything else against the user's recovery
    codes (a recovery code is used up when accepted). Both kinds of device slow down guessing:
    after each wrong code the next try must wait 1, 2, 4, ... seconds."""
    code = normalise(code)
    if _TOTP_CODE.match(code):
        if totp_device is None:
            return CodeCheck(TOTP)
        return _verify(TOTPDevice, totp_device.pk, code, TOTP)
    device = StaticDevice.objects.filter(
        user=user, name=RECOVERY_DEVICE_NAME, confirmed=True
    ).first()
    if device is None or not code:
        return CodeCheck(RECOVERY_CODE)
    return _verify(StaticDevice, device.pk, code, RECOVERY_CODE)


def _verify(model, device_id: int, code: str, method: str) -> CodeCheck:
    with transaction.atomic():
        device = model.objects.select_for_update().get(pk=device_id)
        allowed, why = device.verify_is_allowed()
        if not allowed:
            return CodeCheck(method, retry_after=(why or {}).get("locked_until"))
        if device.verify_token(code):
            return CodeCheck(method, device=device)
    return CodeCheck(method)
