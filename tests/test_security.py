"""Security: login lockout, two-factor authentication for staff, the audit trail of logins,
Content-Security-Policy, the production deploy checklist, and logs free of personal data."""

import base64
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from helpers_auth import confirmed_device, recovery_code, totp_code, verified_login

from casereports.accounts import otp
from casereports.audit import AuditContext
from casereports.models import AuditEvent, Membership, Site
from casereports.services import cases as case_services
from casereports.services.dictionaries import (
    default_rules_path,
    read_dictionary_files,
    store_dictionary,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "casereports" / "data" / "core_dataset_v1.csv"
PASSWORD = "a long test password 4 staff"
LOGIN, TWO_FACTOR, SETUP = (
    "/accounts/login/",
    "/accounts/two-factor/",
    "/accounts/two-factor/setup/",
)
QR, LOGOUT = "/accounts/two-factor/qr.svg", "/accounts/logout/"
LOCKED_TEXT = "too many failed attempts; try again in 15 minutes"


@pytest.fixture
def site():
    return Site.objects.create(code="sec", name="Security Hospital", country="GB")


@pytest.fixture
def clinician(site):
    user = get_user_model().objects.create_user(username="sec-clinician", password=PASSWORD)
    Membership.objects.create(user=user, site=site, role="clinician")
    return user


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser(username="sec-admin", password=PASSWORD)


def log_in(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def actions(*names):
    return list(
        AuditEvent.objects.filter(action__in=names).order_by("id").values_list("action", flat=True)
    )


def last_event(action):
    return AuditEvent.objects.filter(action=action).latest("id")


def is_sent_to_two_factor(response):
    return response.status_code == 302 and response["Location"].startswith(TWO_FACTOR)


# --- login and lockout ---------------------------------------------------------------------


def test_login_page_is_ours_and_logs_a_non_staff_user_straight_in(client):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert b"Log in" in page.content and b'name="password"' in page.content
    get_user_model().objects.create_user(username="no-role", password=PASSWORD)
    response = log_in(client, "no-role")
    assert response.status_code == 302
    assert not response["Location"].startswith(TWO_FACTOR)
    event = last_event("auth.login")
    assert event.actor_username == "no-role" and event.channel == "web"
    assert event.ip == "127.0.0.1" and event.request_id == response["X-Request-ID"]
    assert event.details == {"two_factor_required": False}


def test_a_wrong_password_is_audited_with_the_username_and_never_the_password(client, clinician):
    response = log_in(client, "sec-clinician", "not-the-password-77")
    assert response.status_code == 200
    assert b"do not match an account" in response.content
    event = last_event("auth.login_failed")
    assert event.actor is None and event.actor_username == "sec-clinician"
    assert event.details == {"reason": "bad_credentials"} and event.ip == "127.0.0.1"
    assert event.request_id == response["X-Request-ID"]
    assert "not-the-password-77" not in str(AuditEvent.objects.values_list("details"))


def test_five_failures_lock_out_the_username_from_that_ip_for_15_minutes(client, clinician):
    for _ in range(4):
        assert log_in(client, "sec-clinician", "wrong").status_code == 200
    fifth = log_in(client, "sec-clinician", "wrong")
    assert fifth.status_code == 429
    assert LOCKED_TEXT in fifth.content.decode().lower()

    refused = log_in(client, "sec-clinician")  # the right password, while locked out
    assert refused.status_code == 429 and LOCKED_TEXT in refused.content.decode().lower()
    assert "_auth_user_id" not in client.session
    assert actions("auth.login_failed", "auth.locked_out", "auth.login") == [
        *["auth.login_failed"] * 5,
        "auth.locked_out",
        "auth.locked_out",
    ]
    attempts = [e.details["attempt"] for e in AuditEvent.objects.filter(action="auth.locked_out")]
    assert attempts == ["failure limit reached", "refused while locked out"]
    assert last_event("auth.locked_out").actor_username == "sec-clinician"

    # The lock is on the username *and* IP: the same user from another address gets in.
    elsewhere = log_in(client, "sec-clinician", REMOTE_ADDR="192.0.2.10")
    assert is_sent_to_two_factor(elsewhere)


def test_the_lockout_ends_after_the_cool_off(client, clinician):
    for _ in range(5):
        log_in(client, "sec-clinician", "wrong")
    assert log_in(client, "sec-clinician").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert is_sent_to_two_factor(log_in(client, "sec-clinician"))


def test_a_successful_login_resets_the_failure_count(client, clinician):
    for _ in range(4):
        log_in(client, "sec-clinician", "wrong")
    assert is_sent_to_two_factor(log_in(client, "sec-clinician"))
    client.post(LOGOUT)
    for _ in range(4):
        assert log_in(client, "sec-clinician", "wrong").status_code == 200


def test_logout_is_audited_and_ends_the_session(client, clinician):
    verified_login(client, clinician)
    assert client.get(LOGOUT).status_code == 200  # GET only asks to confirm
    assert "_auth_user_id" in client.session
    response = client.post(LOGOUT)
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert response["Clear-Site-Data"] == '"storage"'  # unsaved entry input leaves the browser
    assert "_auth_user_id" not in client.session
    event = last_event("auth.logout")
    assert event.actor == clinician and event.ip == "127.0.0.1"


def test_the_session_cookie_ends_with_the_browser_and_expires_after_30_idle_minutes(
    client, clinician
):
    response = log_in(client, "sec-clinician")
    cookie = response.cookies["sessionid"]
    assert cookie["expires"] == "" and cookie["max-age"] == ""  # a browser-session cookie
    assert cookie["httponly"]
    assert client.session.get_expiry_age() == 30 * 60


# --- two-factor authentication required ----------------------------------------------------


def test_a_staff_login_is_sent_to_enrolment(client, clinician):
    response = log_in(client, "sec-clinician")
    assert is_sent_to_two_factor(response)
    assert last_event("auth.login").details == {"two_factor_required": True}
    verify = client.get(response["Location"])
    assert verify.status_code == 302 and verify["Location"].startswith(SETUP)


def test_an_unverified_staff_user_cannot_reach_cases_admin_or_the_api(client, clinician, superuser):
    client.force_login(clinician)
    response = client.get("/cases/")
    assert is_sent_to_two_factor(response)
    assert response["Location"] == f"{TWO_FACTOR}?next=%2Fcases%2F"
    assert is_sent_to_two_factor(client.get("/"))
    assert is_sent_to_two_factor(client.get("/accounts/two-factor/recovery-codes/"))
    api = client.get("/api/v1/cases/")
    assert api.status_code == 403 and api.json()["code"] == "otp_required"
    assert client.get("/healthz").status_code == 200
    assert not is_sent_to_two_factor(client.get("/static/casereports/site.css"))

    client.force_login(superuser)
    assert is_sent_to_two_factor(client.get("/admin/"))
    assert is_sent_to_two_factor(client.get("/admin/auth/user/"))


def test_anonymous_api_requests_are_left_to_the_api(client):
    response = client.get("/api/v1/cases/")
    assert not (response.status_code == 403 and b"otp_required" in response.content)


def test_the_admin_logs_in_and_out_through_our_pages(client, superuser):
    response = client.get("/admin/login/?next=/admin/auth/user/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=%2Fadmin%2Fauth%2Fuser%2F"
    verified_login(client, superuser)
    assert client.get("/admin/").status_code == 200
    logout = client.post("/admin/logout/")
    assert logout.status_code == 307 and logout["Location"] == LOGOUT


def test_enrolment_shows_qr_and_secret_then_confirms_with_a_code_and_shows_recovery_codes(
    client, clinician
):
    log_in(client, "sec-clinician")
    page = client.get(f"{SETUP}?next=/cases/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=clinician, confirmed=False)
    secret = otp.base32_secret(device)
    html = page.content.decode()
    assert f'data-secret="{secret}"' in html and otp.grouped(secret) in html
    assert f'src="{QR}"' in html and "data:" not in html

    qr = client.get(QR)
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content and b"<script" not in qr.content

    done = client.post(SETUP, {"code": totp_code(device), "next": "/cases/"})
    assert done.status_code == 200
    codes = re.findall(
        r'<li class="list-group-item font-monospace">(\w+)</li>', done.content.decode()
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    assert otp.recovery_codes_left(clinician) == 10
    device.refresh_from_db()
    assert device.confirmed
    assert last_event("auth.otp_enrolled").actor == clinician

    assert client.get("/").status_code == 200  # verified now
    assert client.get(QR).status_code == 404  # a confirmed secret is never shown again
    assert client.get(SETUP).status_code == 302


def test_enrolment_refuses_a_wrong_code(client, clinician):
    log_in(client, "sec-clinician")
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=clinician)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    response = client.post(SETUP, {"code": wrong})
    assert response.status_code == 200 and b"That code is not right" in response.content
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert last_event("auth.otp_failed").details == {
        "method": "totp",
        "reason": "wrong_code",
        "step": "enrol",
    }


def test_a_user_with_an_authenticator_cannot_enrol_a_new_one_before_verifying(client, clinician):
    confirmed_device(clinician)
    log_in(client, "sec-clinician")
    assert is_sent_to_two_factor(client.get(SETUP))
    assert client.get(QR).status_code == 404
    assert client.get(TWO_FACTOR).status_code == 200


def test_a_wrong_code_fails_and_is_audited_then_the_right_code_verifies(client, clinician):
    device = confirmed_device(clinician)
    log_in(client, "sec-clinician")
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    refused = client.post(TWO_FACTOR, {"code": wrong, "next": "/cases/"})
    assert refused.status_code == 200 and b"That code is not right" in refused.content
    event = last_event("auth.otp_failed")
    assert event.actor == clinician and event.details["reason"] == "wrong_code"
    assert is_sent_to_two_factor(client.get("/"))

    throttled = client.post(TWO_FACTOR, {"code": totp_code(device)})  # at once: must wait
    assert b"Too many wrong codes" in throttled.content
    assert last_event("auth.otp_failed").details["reason"] == "throttled"

    with override_settings(OTP_TOTP_THROTTLE_FACTOR=0):
        accepted = client.post(TWO_FACTOR, {"code": totp_code(device), "next": "/cases/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/cases/"
    assert last_event("auth.otp_verified").actor == clinician
    assert client.get("/").status_code == 200


def test_a_recovery_code_verifies_once(client, clinician):
    confirmed_device(clinician)
    code = recovery_code(clinician)
    log_in(client, "sec-clinician")
    accepted = client.post(TWO_FACTOR, {"code": code.upper(), "next": "/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/"
    assert last_event("auth.recovery_code_used").details == {"remaining": 0}
    assert client.get("/").status_code == 200

    client.post(LOGOUT)
    log_in(client, "sec-clinician")
    again = client.post(TWO_FACTOR, {"code": code})
    assert b"already used" in again.content
    assert is_sent_to_two_factor(client.get("/"))


def test_verified_login_helper_passes_two_factor(client, clinician, verified_client):
    assert verified_client(clinician).get("/").status_code == 200
    assert totp_code(confirmed_device(clinician)).isdigit()


# --- the demo logins -------------------------------------------------------------------------


def demo_login(output: str, username: str) -> dict[str, str]:
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if line.split()[:1] == [username])
    return {
        "password": lines[index].split()[1],
        "secret": lines[index + 1].split(":", 1)[1].strip(),
        "recovery": lines[index + 2].split(":", 1)[1].strip(),
    }


def test_a_demo_user_enrols_with_the_printed_secret(client, capsys):
    call_command("setup_demo")
    login = demo_login(capsys.readouterr().out, "demo-clinician")
    assert is_sent_to_two_factor(log_in(client, "demo-clinician", login["password"]))
    page = client.get(SETUP)
    assert f'data-secret="{login["secret"]}"' in page.content.decode()
    key = base64.b32decode(login["secret"] + "=" * (-len(login["secret"]) % 8))
    code = TOTP(key).token()
    done = client.post(SETUP, {"code": f"{code:06d}"})
    assert done.status_code == 200 and b"Recovery codes" in done.content
    assert client.get("/").status_code == 200


def test_a_demo_user_passes_two_factor_with_the_printed_recovery_code(client, capsys):
    call_command("setup_demo")
    login = demo_login(capsys.readouterr().out, "demo-site-manager")
    log_in(client, "demo-site-manager", login["password"])
    response = client.post(SETUP, {"code": login["recovery"], "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_setup_demo_replaces_devices_and_codes_when_run_again(capsys):
    call_command("setup_demo")
    first = demo_login(capsys.readouterr().out, "demo-clinician")
    call_command("setup_demo")
    second = demo_login(capsys.readouterr().out, "demo-clinician")
    assert first["secret"] != second["secret"] and first["recovery"] != second["recovery"]
    user = get_user_model().objects.get(username="demo-clinician")
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert otp.recovery_codes_left(user) == 1


# --- Content-Security-Policy -----------------------------------------------------------------


def csp_directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


def inline_scripts(html: str) -> list[str]:
    return [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]


def test_pages_carry_a_strict_content_security_policy(client, clinician, superuser):
    log_in(client, "sec-clinician")
    pages = [client.get(LOGIN), client.get(SETUP), client.get(TWO_FACTOR, follow=True)]
    verified_login(client, superuser)
    pages += [client.get(path) for path in ("/admin/", "/admin/auth/user/", "/")]
    pages.append(client.get("/admin/axes/accessattempt/"))  # where a lockout is lifted
    for page in pages:
        assert page.status_code == 200
        directives = csp_directives(page)
        assert directives["script-src"] == "script-src 'self'"
        assert directives["style-src"] == "style-src 'self'"
        assert directives["default-src"] == "default-src 'self'"
        assert directives["frame-ancestors"] == "frame-ancestors 'none'"
        assert directives["object-src"] == "object-src 'none'"
        assert "unsafe-inline" not in page["Content-Security-Policy"]
        html = page.content.decode()
        assert inline_scripts(html) == [], page.request["PATH_INFO"]
        assert " style=" not in html and "<style" not in html


# --- production settings ---------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings():
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        "GDSI_ENV": "production",
        "SECRET_KEY": base64.b64encode(os.urandom(45)).decode(),
        "GDSI_EXPORT_KEY": base64.b64encode(os.urandom(33)).decode(),
        "ALLOWED_HOSTS": "gdsi.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


# --- no personal data in logs ----------------------------------------------------------------

DISTINCT_TEXT = "Zyxquorbium-Comorbidity-4471"
DISTINCT_DMT = "Qwelvantix-Drug-9913"
DISTINCT_USERNAME = "vorpal-tangerine-login-5528"
DISTINCT_PASSWORD = "pw-snarkhunt-6631-secret"


def test_no_personal_data_or_form_values_reach_the_logs(client, clinician, caplog):
    caplog.set_level(logging.DEBUG)
    loaded = read_dictionary_files(CORE, default_rules_path(CORE))
    store_dictionary(loaded, source_filename=CORE.name)
    context = AuditContext(user=clinician, channel="web", request_id="log-test", ip="127.0.0.1")
    case = case_services.create_case(context, clinician.memberships.get().site)
    values = {
        "has_comorbidities": "yes",
        "com_other": DISTINCT_TEXT,
        "current_dmt": "yes",
        "type_dmt_other": DISTINCT_DMT,
    }
    saved = case_services.save_form(context, case, values, expected_version=case.version)
    assert saved.case.data["com_other"] == DISTINCT_TEXT

    verified_login(client, clinician)
    for form in ("comorbidities", "ms_history"):
        response = client.post(f"/cases/{case.secret_name}/form/{form}/", values)
        assert response.status_code < 500
    client.post(LOGOUT)
    for _ in range(6):  # failures, then a lockout
        log_in(client, DISTINCT_USERNAME, DISTINCT_PASSWORD)
    assert last_event("auth.locked_out").actor_username == DISTINCT_USERNAME

    logged = caplog.text + "".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "logging was not captured"
    for distinctive in (DISTINCT_TEXT, DISTINCT_DMT, DISTINCT_USERNAME, DISTINCT_PASSWORD):
        assert distinctive not in logged
    assert "sec-clinician" not in logged


def test_totp_code_helper_matches_what_the_server_accepts(clinician):
    device = confirmed_device(clinician)
    assert device.verify_token(totp_code(device))
    assert device.verify_token(totp_code(device))  # the next step's code after the first
    assert not device.verify_token(f"{(int(totp_code(device)) + 1) % 1_000_000:06d}")
