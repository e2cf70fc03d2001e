"""A patient's journey through the test client: the answers a patient gives, and steps."""

from __future__ import annotations

import re

from casereports.models import Case
from casereports.synthetic import PATIENT_ANSWERS

CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")


def consent_to_all(client, lang: str = "en"):
    """Start at /report/ and agree to every statement; returns the response (a redirect to
    the first page)."""
    client.post(f"/report/?lang={lang}", {"website": ""})
    page = client.get("/report/consent/")
    count = page.content.decode().count('name="statement"')
    document = re.search(r'name="document" value="(\d+)"', page.content.decode())[1]
    return client.post(
        "/report/consent/", {"document": document, "statement": [str(i) for i in range(count)]}
    )


def current_case(client) -> Case:
    return Case.objects.get(pk=client.session["selfreport"]["case"])


def save_page(client, form: str, values: dict[str, str], action: str = "continue"):
    case = current_case(client)
    return client.post(
        f"/report/page/{form}/", {**values, "version": str(case.version), "action": action}
    )


def fill_all(client) -> Case:
    for form, values in PATIENT_ANSWERS.items():
        response = save_page(client, form, values)
        assert response.status_code == 302, response.content.decode()[:3000]
    return current_case(client)


def send(client) -> str:
    """Send the report from the review page; returns the receipt code shown once."""
    case = current_case(client)
    response = client.post("/report/review/", {"version": str(case.version)})
    assert response.status_code == 302, response.content.decode()[:2000]
    receipt = client.get("/report/receipt/").content.decode()
    return CODE.search(receipt)[0]
