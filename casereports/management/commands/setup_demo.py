"""`python manage.py setup_demo`: a demo site with one user per role, for the quick start.

Development only. Each run gives the demo users fresh random passwords and fresh two-factor
credentials, and prints them: a new, unconfirmed authenticator secret (the first login shows its
QR code and the same secret, to add it to an app) and one recovery code, which passes the
two-factor step once without any app.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.crypto import get_random_string

from casereports.accounts import otp
from casereports.models import Membership, SelfReportProject, Site
from casereports.roles import ROLES
from casereports.selfreport.services import install_shipped_consent

DEMO_SITE = {"code": "demo", "name": "Demo University Hospital", "country": "GB"}
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - no 0/O, 1/l/I


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role_label: str
    password: str
    totp_secret: str
    recovery_code: str


class Command(BaseCommand):
    help = "Create (or refresh) the demo site and one demo user per role, and print their logins."

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("setup_demo refuses to run with GDSI_ENV=production")
        logins = create_demo_users()
        write = self.stdout.write
        write(f"Demo site: {DEMO_SITE['name']} ({DEMO_SITE['code']})")
        write("Patients report at /report/ (the demo site is the initiative's default form).")
        write("Demo logins (development only; everything below is new on every run):")
        write("  username                     password           role")
        for login in logins:
            write(f"  {login.username:<28} {login.password:<18} {login.role_label}")
            write(f"      authenticator secret: {login.totp_secret}")
            write(f"      recovery code:        {login.recovery_code}")
        write(
            "Two-factor authentication: at the first login each user is shown a QR code and the "
            "secret above; add it to an authenticator app and enter its 6-digit code, or enter "
            "the recovery code instead (it works once)."
        )


@transaction.atomic
def create_demo_users() -> list[DemoLogin]:
    site, _ = Site.objects.update_or_create(code=DEMO_SITE["code"], defaults=DEMO_SITE)
    if not SelfReportProject.objects.filter(is_default=True).exists():
        SelfReportProject.objects.update_or_create(site=site, defaults={"is_default": True})
    install_shipped_consent()
    user_model = get_user_model()
    logins = []
    for role in ROLES.values():
        username = f"demo-{role.code.replace('_', '-')}"
        user, _ = user_model.objects.get_or_create(username=username)
        password = get_random_string(16, PASSWORD_ALPHABET)
        user.set_password(password)
        user.is_staff = role.code == "administrator"
        user.is_superuser = role.code == "administrator"
        user.save()
        Membership.objects.get_or_create(user=user, site=site, role=role.code)
        device = otp.restart_enrolment(user)
        (recovery_code,) = otp.replace_recovery_codes(user, count=1)
        logins.append(
            DemoLogin(username, role.label, password, otp.base32_secret(device), recovery_code)
        )
    return logins
