"""`python manage.py setup_demo`: a demo site with one user per role, for the quick start.

Development only. Each run gives the demo users fresh random passwords and prints them.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casereports.models import Membership, Site
from casereports.roles import ROLES

DEMO_SITE = {"code": "demo", "name": "Demo University Hospital", "country": "GB"}


class Command(BaseCommand):
    help = "Create (or refresh) the demo site and one demo user per role, and print their logins."

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("setup_demo refuses to run with GDSI_ENV=production")
        logins = create_demo_users()
        self.stdout.write(f"Demo site: {DEMO_SITE['name']} ({DEMO_SITE['code']})")
        self.stdout.write("Demo logins (development only; new passwords on every run):")
        for username, role_label, password in logins:
            self.stdout.write(f"  {username:<28} {password}   {role_label}")


@transaction.atomic
def create_demo_users() -> list[tuple[str, str, str]]:
    site, _ = Site.objects.update_or_create(code=DEMO_SITE["code"], defaults=DEMO_SITE)
    user_model = get_user_model()
    logins = []
    for role in ROLES.values():
        username = f"demo-{role.code.replace('_', '-')}"
        user, _ = user_model.objects.get_or_create(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = role.code == "administrator"
        user.is_superuser = role.code == "administrator"
        user.save()
        Membership.objects.get_or_create(user=user, site=site, role=role.code)
        logins.append((username, role.label, password))
    return logins
