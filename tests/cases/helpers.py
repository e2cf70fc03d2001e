"""Shared helpers for case tests: cases made through the services, and logged-in test clients."""

from casereports.models import Case
from casereports.services import cases as services

from .conftest import context

REQUIRED = {  # every required clinician field of the core data set, with a plausible value
    "covid19": {
        "covid19_has_symptoms": "yes",
        "covid19_suspected_case": "yes",
        "covid19_confirmed_case": "yes",
        "covid19_country": "GB",
        "covid19_admission_hospital": "no",
        "covid19_outcome_recovered": "yes",
        "covid19_outcome_death": "no",
    },
    "demographics": {"age_years": "44", "sex": "female"},
    "ms_history": {"ms_type": "RRMS", "edss_value": "3.5", "current_dmt": "no"},
    "comorbidities": {"has_comorbidities": "no"},
}


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
