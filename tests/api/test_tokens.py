"""API tokens: required, shown once, stored hashed, refused once revoked or the user inactive."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from casereports.models import ApiToken, AuditEvent
from casereports.services import tokens

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_without_credentials_every_endpoint_answers_401_in_the_error_shape(core_version):
    client = APIClient()
    for url in [CASES, f"{CASES}C_ABCDEFGHJK/", "/api/v1/dictionary/", "/api/v1/dictionary.csv"]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
        assert response.json() == {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "errors": {},
            "warnings": {},
        }
    assert client.post(CASES, {"site": "x"}).status_code == 401


def test_a_token_is_stored_only_as_its_hash_and_authenticates_its_user(clinician_a):
    issued = tokens.issue_token(clinician_a, "laptop")
    stored = ApiToken.objects.get()
    assert len(issued.key) >= 43
    assert stored.key_hash == tokens.hash_key(issued.key) != issued.key
    assert stored.prefix == issued.key[:8]
    assert not ApiToken.objects.filter(key_hash__contains=issued.key).exists()
    response = with_key(issued.key).get(CASES)
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="api_token.issued")
    assert event.details == {
        "user": "clin-a",
        "name": "laptop",
        "prefix": stored.prefix,
        "kind": "api",
    }


def test_unknown_revoked_and_inactive_user_tokens_are_refused(clinician_a, manager_a):
    assert with_key("not-a-real-token").get(CASES).status_code == 401
    revoked = tokens.issue_token(clinician_a, "old")
    assert tokens.revoke_token(revoked.token) is True
    assert tokens.revoke_token(revoked.token) is False  # already revoked: no second event
    response = with_key(revoked.key).get(CASES)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1

    inactive = tokens.issue_token(manager_a, "manager")
    manager_a.is_active = False
    manager_a.save()
    assert with_key(inactive.key).get(CASES).status_code == 401


def test_a_malformed_authorization_header_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token two parts")
    assert client.get(CASES).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(clinician_a):
    issued = tokens.issue_token(clinician_a, "laptop")
    client = with_key(issued.key)
    client.get(CASES)
    first_use = ApiToken.objects.get().last_used_at
    assert first_use is not None
    client.get(CASES)
    assert ApiToken.objects.get().last_used_at == first_use
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get(CASES)
    assert ApiToken.objects.get().last_used_at > first_use


def test_the_command_prints_the_token_once_and_it_works(clinician_a, capsys):
    call_command("create_api_token", "clin-a", "--name", "registry upload")
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert "cannot be shown again" in captured.err and key not in captured.err
    assert ApiToken.objects.get().name == "registry upload"
    assert with_key(key).get(CASES).status_code == 200


def test_the_command_names_an_unknown_or_inactive_user(clinician_a):
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_api_token", "nobody", "--name", "x")
    clinician_a.is_active = False
    clinician_a.save()
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", "clin-a", "--name", "x")
    assert not ApiToken.objects.exists()
