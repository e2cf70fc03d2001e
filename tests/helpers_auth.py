"""Logging staff users in past two-factor authentication, for tests.

Every staff user (any membership, Django staff, superusers) must pass two-factor authentication
before any page but login/2FA/logout; a plain `client.force_login(user)` is redirected to
/accounts/two-factor/ (and /api/ answers 403 `otp_required`). Use instead:

    from helpers_auth import verified_login, totp_code

    verified_login(client, user)      # force_login + a confirmed TOTP device marked verified
    client.get("/cases/")             # 200, not a redirect

or the `verified_client` fixture (tests/conftest.py): `verified_client(user)` returns the test's
`client`, logged in and verified.

A browser test (Playwright) passes 2FA through the real pages: give the user a confirmed TOTP
device with `device = confirmed_device(user)`, log in on /accounts/login/, then fill the
"Code" field on /accounts/two-factor/ with `totp_code(device)` and submit. (For a demo-like user
with an unconfirmed device, the first login shows /accounts/two-factor/setup/; the secret is in
`[data-testid=totp-secret]`'s `data-secret` attribute, or read the device from the database and
enter `totp_code(device)` there; or enter a recovery code from `recovery_code(user)`.)
"""

from __future__ import annotations

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from casereports.accounts import otp


def confirmed_device(user) -> TOTPDevice:
    """The user's confirmed TOTP device, created (confirmed) if they have none."""
    device = otp.confirmed_totp_device(user)
    if device is None:
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=otp.TOTP_DEVICE_NAME, confirmed=True)
    return device


def verified_login(client, user) -> TOTPDevice:
    """Log `user` in on the Django test `client` with a session that passed two-factor
    authentication (what `django_otp.login` records after a correct code)."""
    device = confirmed_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def totp_code(device: TOTPDevice, at: float | None = None) -> str:
    """The 6-digit code the device's app would show now, as the server will accept it: a code
    is accepted once, so when the current time step was already used, the next step's code is
    given (the server accepts one step of drift)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    if totp.t() <= device.last_t:
        totp.time += device.step * (device.last_t + 1 - totp.t())
    return f"{totp.token():0{device.digits}d}"


def recovery_code(user) -> str:
    """A fresh single recovery code for `user` (replaces their others)."""
    (code,) = otp.replace_recovery_codes(user, count=1)
    return code
