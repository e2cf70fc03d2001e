"""Shared helpers for case tests: cases made through the services, and logged-in test clients."""

from casereports.models import Case
from casereports.services import cases as services
from casereports.synthetic import SUBMITTABLE_ANSWERS

from .conftest import context

REQUIRED = SUBMITTABLE_ANSWERS  # every required clinician field, with a plausible value


def fill_required(user, case: Case) -> Case:
    """Save every required field, form by form, as `user`."""
    for form, values in REQUIRED.items():
        case = services.save_form(
            context(user), case, values, form=form, expected_version=case.version
        ).case
    return case


def submitted_case(user, site) -> Case:
    """A new case with every required field filled, submitted by `user`."""
    case = fill_required(user, services.create_case(context(user), site))
    return services.submit_case(context(user), case, expected_version=case.version)


def save(user, case: Case, form: str, values: dict, *, reason: str = "") -> Case:
    return services.save_form(
        context(user), case, values, form=form, expected_version=case.version, reason=reason
    ).case


def log_in(client, user) -> None:
    """Log `user` in on the test client with a session past two-factor authentication
    (the security helpers' `verified_login`, tests/helpers_auth.py)."""
    from helpers_auth import verified_login

    verified_login(client, user)
