"""`python manage.py create_api_token USERNAME --name NAME [--site CODE]`: issue an API token,
shown once; with `--site` it acts for that site only (a registry uploader's token)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casereports.models import Site
from casereports.services.tokens import API_KIND, REDCAP_KIND, TokenError, issue_token


class Command(BaseCommand):
    help = (
        "Issue an API token for a user and print it once (only its SHA-256 is stored). "
        "Revoke tokens in the admin (API tokens -> revoke)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the user the token acts as")
        parser.add_argument(
            "--name", required=True, help="what or who uses the token, e.g. 'registry upload'"
        )
        parser.add_argument(
            "--site",
            metavar="CODE",
            help="bind the token to this site (the user must be a member): it then acts for "
            "that site only, e.g. a registry's uploads of count tables",
        )

        parser.add_argument(
            "--redcap",
            action="store_true",
            help="a token for the REDCap-compatible endpoint /redcap/api/ (32 hexadecimal "
            "characters, as REDCap's client libraries expect); needs --site",
        )

    def handle(
        self, *args, username: str, name: str, site: str | None, redcap: bool, **options
    ) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        bound_site = None
        if site:
            bound_site = Site.objects.filter(code=site).first()
            if bound_site is None:
                raise CommandError(f"No site has the code {site!r}.")
        try:
            issued = issue_token(
                user, name, site=bound_site, kind=REDCAP_KIND if redcap else API_KIND
            )
        except TokenError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"Token {issued.token.name!r} for {username}"
            + (f" at site {bound_site.code}" if bound_site else "")
            + f" (prefix {issued.token.prefix}). "
            "Copy it now: it is not stored and cannot be shown again."
        )
        self.stdout.write(issued.key)
