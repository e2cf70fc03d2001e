"""`Authorization: Token <key>`: per-user API tokens (`casereports.services.tokens`)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from casereports.services import tokens

KEYWORD = "Token"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Accepts an unrevoked token of an active user; refuses any other token with 401."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # not ours: another scheme (or the session) may authenticate
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Token <key>', with no spaces in the key."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = tokens.active_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "The token is not valid: it is unknown, revoked, or its user is inactive."
            )
        if token.kind != tokens.API_KIND:
            raise exceptions.AuthenticationFailed(
                "This is a REDCap token: it works only at /redcap/api/, not in this API."
            )
        return token.user, token

    def authenticate_header(self, request) -> str:
        # A WWW-Authenticate value makes DRF answer 401 (not 403) to unauthenticated requests.
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "casereports.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'A per-user API token with the prefix "Token", e.g. `Token 3q2-7w...`. '
                "Issue one with `python manage.py create_api_token USERNAME --name NAME`."
            ),
        }
