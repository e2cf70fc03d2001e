"""`python manage.py create_api_token USERNAME --name NAME`: issue an API token, shown once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casereports.services.tokens import TokenError, issue_token


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

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        try:
            issued = issue_token(user, name)
        except TokenError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"Token {issued.token.name!r} for {username} (prefix {issued.token.prefix}). "
            "Copy it now: it is not stored and cannot be shown again."
        )
        self.stdout.write(issued.key)
