"""The persona matrix: every page and API endpoint that touches cases, tried by every kind of user.

The matrix is data: ENDPOINTS (what is requested, and what right it needs) and PERSONAS (who
asks, and what they may do at site A, where the case lives). `expected` derives each cell's
outcome from those two declarations, and one test per cell checks it:

- anonymous: web pages send to the login page (with `next=`), the API answers 401; nothing is
  recorded (there is no actor to record);
- a case the persona may not see (another site's user, or a role with no case rights): 404,
  neither the case's name nor its data in the body, and the attempt is on the case's record;
- a list: another site's user sees their own site's items and none of site A's;
- a right the persona lacks: 403, on record;
- a right the persona has: the request succeeds and really reads or changes the case (the
  positive control that proves each URL and body is right).

Every refusal leaves the case, the case count and the memberships as they were, and records
exactly one `permission.denied` event with the persona as actor, on the right channel.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cases.conftest import PASSWORD, context, core_version, make_user, site_a, site_b  # noqa: F401
from cases.helpers import REQUIRED, fill_required
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, reverse
from helpers_auth import verified_login
from rest_framework.test import APIClient

from casereports import entry
from casereports.api import urls as api_urls
from casereports.imports.models import RowImport
from casereports.models import AuditEvent, Case, CaseStatus, Membership, PatientReport, Site
from casereports.services import cases as services
from casereports.services.dictionaries import dictionary_of
from casereports.services.tokens import issue_token
from casereports.urls import urlpatterns as case_urlpatterns
from exports.models import FederatedUpload

pytestmark = pytest.mark.django_db

DENIED = "permission.denied"
MARKER = "persona-matrix-marker-7Qx"  # a value only site A's case holds
MARKER_FIELD = "last_white_blood_cell_unit"  # free text on ms_history, always shown
NEWCOMER = "newcomer"  # an existing user a site manager may add to site A

READ, WRITE, LOCK, MANAGE = "read", "write", "lock", "manage"
UPLOAD = "upload"  # a registry's count tables for site A (not its cases)
TRIAGE = "triage"  # accept, mark duplicate or spam the patients' own reports
IMPORT = "import"  # a registry's rows for site A (its de-identified export)
LOGIN, HIDDEN, FORBIDDEN, UNLISTED, OK = "login", "hidden", "forbidden", "unlisted", "ok"

# What a clinician enters on each entry form (the positive control of its POST).
FORM_VALUES: dict[str, dict[str, str]] = {
    **REQUIRED,
    "ms_history": {**REQUIRED["ms_history"], MARKER_FIELD: MARKER},
    "administrative": {"covid_wave": "2"},
}

# Case states an endpoint needs, so that its positive control can succeed.
DRAFT, COMPLETE, SUBMITTED, LOCKED = "draft", "complete draft", "submitted", "locked"


# --- who asks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    id: str
    role: str | None  # None: anonymous
    site: str | None  # "a" (the case's site) or "b"
    may_at_a: frozenset[str]  # what the persona may do with site A's cases
    may_at_own: frozenset[str]  # ... at the persona's own site

    @property
    def sees_site_a(self) -> bool:
        return READ in self.may_at_a


def _rights(*rights: str) -> frozenset[str]:
    return frozenset(rights)


EVERYTHING = _rights(READ, WRITE, LOCK, MANAGE, TRIAGE)
PERSONAS = [
    Persona("anonymous", None, None, _rights(), _rights()),
    Persona("clinician-other-site", "clinician", "b", _rights(), _rights(READ, WRITE)),
    Persona("manager-other-site", "site_manager", "b", _rights(), EVERYTHING),
    Persona("exporter", "exporter", "a", _rights(), _rights()),
    Persona("analyst", "analyst", "a", _rights(), _rights()),
    Persona(
        "central-data-manager",
        "central_data_manager",
        "b",
        _rights(READ, TRIAGE, IMPORT),
        _rights(READ, TRIAGE, IMPORT),
    ),
    Persona("clinician-own-site", "clinician", "a", _rights(READ, WRITE), _rights(READ, WRITE)),
    Persona("manager-own-site", "site_manager", "a", EVERYTHING, EVERYTHING),
    Persona("registry-uploader", "registry_uploader", "a", _rights(UPLOAD), _rights(UPLOAD)),
    Persona(
        "registry-data-manager",
        "registry_data_manager",
        "a",
        _rights(READ, IMPORT),
        _rights(READ, IMPORT),
    ),
]
PERSONA = {persona.id: persona for persona in PERSONAS}


# --- what is asked -------------------------------------------------------------------------


@dataclass
class World:
    site_a: Site
    site_b: Site
    owner: object  # the site A clinician who entered the case
    case: Case  # at site A
    user: object | None  # the persona's user; None for anonymous
    own_case: Case | None  # a case at the persona's own site, when they may enter one

    def fresh_case(self) -> Case:
        return Case.objects.get(pk=self.case.pk)


Check = Callable[[World, object], None]


@dataclass(frozen=True)
class Endpoint:
    id: str
    url_name: str  # the URL pattern it exercises (for the coverage test)
    method: str
    path: Callable[[World], str]
    needs: str  # READ, WRITE, LOCK, MANAGE or UPLOAD at site A
    # "case": names site A's case; "site": names site A; "list"; "page" (names no site: the
    # persona's own rights decide); "public"
    scope: str
    succeeded: Check  # the positive control
    state: str = DRAFT
    body: Callable[[World], dict] | None = None
    changes: bool = False  # a success writes; otherwise nothing may change
    # For lists: what shows a site's entry in the response (the case name, the site name).
    shown_for: Callable[[World, str], str] | None = None
    api_format: str = "json"  # how an API body is sent (a file upload: multipart)

    @property
    def channel(self) -> str:
        return "api" if self.id.startswith("api-") else "web"


def body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def case_path(name: str, *extra: str) -> Callable[[World], str]:
    return lambda world: reverse(name, args=[world.case.secret_name, *extra])


def site_a_path(name: str) -> Callable[[World], str]:
    return lambda world: f"{reverse(name)}?{urlencode({'site': world.site_a.code})}"


def fixed_path(name: str) -> Callable[[World], str]:
    return lambda world: reverse(name)


def shows(status: int, *texts: Callable[[World], str]) -> Check:
    def check(world: World, response) -> None:
        assert response.status_code == status
        page = body_text(response)
        for text in texts:
            assert text(world) in page

    return check


def case_name(world: World) -> str:
    return world.case.secret_name


def marker(world: World) -> str:
    return MARKER


def case_name_at(world: World, site: str) -> str:
    case = world.case if site == "a" else world.own_case
    return case.secret_name


def site_name_at(world: World, site: str) -> str:
    return (world.site_a if site == "a" else world.site_b).name


def redirected_to(world: World, response, path: str) -> None:
    assert response.status_code == 302, body_text(response)[:500]
    assert urlsplit(response["Location"]).path == path


# Positive controls of the writes: each proves the change really happened.


def form_saved(form: str) -> Check:
    def check(world: World, response) -> None:
        redirected_to(world, response, reverse("cases:form", args=[case_name(world), form]))
        case = world.fresh_case()
        assert case.version == world.case.version + 1
        assert {key: case.data.get(key) for key in FORM_VALUES[form]} == FORM_VALUES[form]
        assert case.last_form == form

    return check


def web_case_created(world: World, response) -> None:
    created = Case.objects.exclude(pk=world.case.pk).get(site=world.site_a)
    assert created.created_by == world.user and created.status == CaseStatus.DRAFT
    first_form = entry.entry_forms(dictionary_of(created.dictionary_version))[0]
    redirected_to(world, response, reverse("cases:form", args=[created.secret_name, first_form]))


def web_submit_resumes(world: World, response) -> None:
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path.startswith(
        reverse("cases:detail", args=[case_name(world)]) + "form/"
    )


def status_became(status: str, *, code: int = 302) -> Check:
    def check(world: World, response) -> None:
        if code == 302:
            redirected_to(world, response, reverse("cases:detail", args=[case_name(world)]))
        else:
            assert response.status_code == code, body_text(response)[:500]
            assert response.json()["status"] == status
        case = world.fresh_case()
        assert case.status == status and case.version == world.case.version + 1

    return check


def member_added(world: World, response) -> None:
    redirected_to(world, response, reverse("cases:members"))
    assert Membership.objects.filter(
        user__username=NEWCOMER, site=world.site_a, role="clinician"
    ).exists()


def audit_csv_exported(world: World, response) -> None:
    shows(200, case_name)(world, response)
    assert response["Content-Type"].startswith("text/csv")


def api_listed(world: World, response) -> None:
    assert response.status_code == 200
    assert case_name(world) in {row["secret_name"] for row in response.json()["results"]}


def api_case_created(world: World, response) -> None:
    assert response.status_code == 201, body_text(response)[:500]
    created = Case.objects.get(secret_name=response.json()["secret_name"])
    assert created.site == world.site_a and created.created_by == world.user


def api_retrieved(world: World, response) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body["secret_name"] == case_name(world) and body["data"][MARKER_FIELD] == MARKER


def api_updated(world: World, response) -> None:
    assert response.status_code == 200, body_text(response)[:500]
    case = world.fresh_case()
    assert case.data["age_years"] == "45" and case.version == world.case.version + 1


@cache
def _result_zip() -> bytes:
    """A registry's result zip of one case, as `gdsi-federated run` writes it."""
    from federated.command_helpers import case, write_csv

    from exports.federated.command import main as federated_command

    with tempfile.TemporaryDirectory(prefix="persona-matrix-") as folder:
        source = write_csv(Path(folder) / "registry.csv", [case()])
        out = Path(folder) / "result.zip"
        arguments = ["run", str(source), "--report-source", "clinicians", "--out", str(out)]
        assert federated_command(arguments) == 0
        return out.read_bytes()


def upload_body(world: World) -> dict:
    return {"site": world.site_a.code, "file": SimpleUploadedFile("result.zip", _result_zip())}


def counts_uploaded(code: int) -> Check:
    def check(world: World, response) -> None:
        assert response.status_code == code, body_text(response)[:500]
        assert FederatedUpload.objects.get().site == world.site_a

    return check


def uploads_listed(world: World, response) -> None:
    assert response.status_code == 200, body_text(response)[:500]
    assert response.json()["results"] == []  # the world holds no upload; the list's content
    # is tested in tests/exports/test_federated_upload.py


REGISTRY_CSV = b"secret_name,covid19_country,age_years\nREG-1,DE,44\n"


def import_body(world: World) -> dict:
    return {
        "site": world.site_a.code,
        "report_source": "clinicians",
        "file": SimpleUploadedFile("registry.csv", REGISTRY_CSV, content_type="text/csv"),
    }


def rows_uploaded(code: int) -> Check:
    def check(world: World, response) -> None:
        assert response.status_code == code, body_text(response)[:500]
        job = RowImport.objects.get()
        assert job.site == world.site_a and job.requested_by == world.user
        if code == 302:
            redirected_to(world, response, reverse("imports:detail", args=[job.pk]))

    return check


def imports_listed(world: World, response) -> None:
    assert response.status_code == 200, body_text(response)[:500]
    assert response.json()["results"] == []  # the world holds no import; the list's content
    # is tested in tests/imports/test_import_access.py


def dictionary_served(world: World, response) -> None:
    assert response.status_code == 200
    assert "age_years" in body_text(response)


def triaged(world: World, response) -> None:
    assert response.status_code == 302, body_text(response)[:500]
    assert urlsplit(response["Location"]).path == reverse("cases:triage")
    assert PatientReport.objects.get(case=world.case).triage == "accepted"


def version_of(world: World) -> dict:
    return {"version": world.case.version}


def entry_endpoints(form: str) -> list[Endpoint]:
    return [
        Endpoint(
            f"web-form-{form}-get",
            "cases:form",
            "get",
            case_path("cases:form", form),
            WRITE,
            "case",
            shows(200, case_name),
        ),
        Endpoint(
            f"web-form-{form}-post",
            "cases:form",
            "post",
            case_path("cases:form", form),
            WRITE,
            "case",
            form_saved(form),
            body=lambda world: {**version_of(world), "action": "save", **FORM_VALUES[form]},
            changes=True,
        ),
    ]


def lock_body(world: World) -> dict:
    return {"password": PASSWORD, "expected_version": world.case.version}


WEB_ENDPOINTS = [
    Endpoint(
        "web-case-list",
        "cases:list",
        "get",
        fixed_path("cases:list"),
        READ,
        "list",
        shows(200, case_name),
        shown_for=case_name_at,
    ),
    Endpoint(
        "web-case-page",
        "cases:detail",
        "get",
        case_path("cases:detail"),
        READ,
        "case",
        shows(200, case_name, marker),
    ),
    Endpoint(
        "web-history",
        "cases:history",
        "get",
        case_path("cases:history"),
        READ,
        "case",
        shows(200, case_name, marker),
    ),
    *(endpoint for form in FORM_VALUES for endpoint in entry_endpoints(form)),
    Endpoint(
        "web-triage-list",
        "cases:triage",
        "get",
        fixed_path("cases:triage"),
        TRIAGE,
        "list",
        shows(200, case_name),
        state=SUBMITTED,
        shown_for=case_name_at,
    ),
    Endpoint(
        "web-triage-post",
        "cases:triage_one",
        "post",
        case_path("cases:triage_one"),
        TRIAGE,
        "case",
        triaged,
        state=SUBMITTED,
        body=lambda world: {"decision": "accepted"},
    ),
    Endpoint(
        "web-new-case-get",
        "cases:new",
        "get",
        fixed_path("cases:new"),
        WRITE,
        "list",
        shows(200, lambda world: world.site_a.name),
        shown_for=site_name_at,
    ),
    Endpoint(
        "web-new-case-post",
        "cases:new",
        "post",
        fixed_path("cases:new"),
        WRITE,
        "site",
        web_case_created,
        body=lambda world: {"site": str(world.site_a.pk)},
        changes=True,
    ),
    Endpoint(
        "web-submit-get",
        "cases:submit",
        "get",
        case_path("cases:submit"),
        WRITE,
        "case",
        web_submit_resumes,
        state=COMPLETE,
    ),
    Endpoint(
        "web-submit-post",
        "cases:submit",
        "post",
        case_path("cases:submit"),
        WRITE,
        "case",
        status_became(CaseStatus.SUBMITTED),
        state=COMPLETE,
        body=version_of,
        changes=True,
    ),
    Endpoint(
        "web-lock-get",
        "cases:lock",
        "get",
        case_path("cases:lock"),
        LOCK,
        "case",
        shows(200, case_name),
        state=SUBMITTED,
    ),
    Endpoint(
        "web-lock-post",
        "cases:lock",
        "post",
        case_path("cases:lock"),
        LOCK,
        "case",
        status_became(CaseStatus.LOCKED),
        state=SUBMITTED,
        body=lock_body,
        changes=True,
    ),
    Endpoint(
        "web-unlock-get",
        "cases:unlock",
        "get",
        case_path("cases:unlock"),
        LOCK,
        "case",
        shows(200, case_name),
        state=LOCKED,
    ),
    Endpoint(
        "web-unlock-post",
        "cases:unlock",
        "post",
        case_path("cases:unlock"),
        LOCK,
        "case",
        status_became(CaseStatus.SUBMITTED),
        state=LOCKED,
        body=lambda world: {**lock_body(world), "reason": "A value was entered wrongly."},
        changes=True,
    ),
    Endpoint(
        "web-members-get",
        "cases:members",
        "get",
        site_a_path("cases:members"),
        MANAGE,
        "site",
        shows(200, lambda world: world.owner.username),
    ),
    Endpoint(
        "web-members-post",
        "cases:members",
        "post",
        fixed_path("cases:members"),
        MANAGE,
        "site",
        member_added,
        body=lambda world: {
            "site": world.site_a.code,
            "action": "add",
            "username": NEWCOMER,
            "role": "clinician",
        },
        changes=True,
    ),
    Endpoint(
        "web-upload-counts-get",
        "exports:federated_upload",
        "get",
        fixed_path("exports:federated_upload"),
        UPLOAD,
        "page",
        shows(200, lambda world: world.site_a.code),
    ),
    Endpoint(
        "web-upload-counts-post",
        "exports:federated_upload",
        "post",
        fixed_path("exports:federated_upload"),
        UPLOAD,
        "site",
        counts_uploaded(200),
        body=upload_body,
    ),
    Endpoint(
        "web-imports-get",
        "imports:list",
        "get",
        fixed_path("imports:list"),
        IMPORT,
        "page",
        shows(200, lambda world: world.site_a.code),
    ),
    Endpoint(
        "web-imports-post",
        "imports:list",
        "post",
        fixed_path("imports:list"),
        IMPORT,
        "site",
        rows_uploaded(302),
        body=import_body,
    ),
    Endpoint(
        "web-audit-csv",
        "cases:audit_csv",
        "get",
        site_a_path("cases:audit_csv"),
        MANAGE,
        "site",
        audit_csv_exported,
    ),
]

API_ENDPOINTS = [
    Endpoint(
        "api-case-list",
        "api-cases",
        "get",
        fixed_path("api-cases"),
        READ,
        "list",
        api_listed,
        shown_for=case_name_at,
    ),
    Endpoint(
        "api-case-create",
        "api-cases",
        "post",
        fixed_path("api-cases"),
        WRITE,
        "site",
        api_case_created,
        body=lambda world: {"site": world.site_a.code},
        changes=True,
    ),
    Endpoint(
        "api-case-retrieve",
        "api-case",
        "get",
        case_path("api-case"),
        READ,
        "case",
        api_retrieved,
    ),
    Endpoint(
        "api-case-update",
        "api-case",
        "patch",
        case_path("api-case"),
        WRITE,
        "case",
        api_updated,
        body=lambda world: {**version_of(world), "data": {"age_years": "45"}},
        changes=True,
    ),
    Endpoint(
        "api-case-submit",
        "api-case-submit",
        "post",
        case_path("api-case-submit"),
        WRITE,
        "case",
        status_became(CaseStatus.SUBMITTED, code=200),
        state=COMPLETE,
        body=version_of,
        changes=True,
    ),
    Endpoint(
        "api-upload-counts",
        "api-federated-uploads",
        "post",
        fixed_path("api-federated-uploads"),
        UPLOAD,
        "site",
        counts_uploaded(201),
        body=upload_body,
        api_format="multipart",
    ),
    Endpoint(
        "api-list-uploads",
        "api-federated-uploads",
        "get",
        fixed_path("api-federated-uploads"),
        UPLOAD,
        "page",
        uploads_listed,
    ),
    Endpoint(
        "api-import-rows",
        "api-imports",
        "post",
        fixed_path("api-imports"),
        IMPORT,
        "site",
        rows_uploaded(202),
        body=import_body,
        api_format="multipart",
    ),
    Endpoint(
        "api-list-imports",
        "api-imports",
        "get",
        fixed_path("api-imports"),
        IMPORT,
        "page",
        imports_listed,
    ),
    *(
        Endpoint(name, name, "get", fixed_path(name), READ, "public", dictionary_served)
        for name in ("api-dictionary", "api-dictionary-csv", "api-quality-rules-csv")
    ),
]
ENDPOINTS = WEB_ENDPOINTS + API_ENDPOINTS
# Not about cases: the OpenAPI schema and its docs page are public by design.
NOT_ABOUT_CASES = {"api-schema", "api-docs"}
# Export jobs, not cases: their personas are in tests/exports/ (test_export_pages, test_export_api).
NOT_ABOUT_CASES |= {"api-exports", "api-export", "api-export-download"}
# One import job's endpoints: every role against them in tests/imports/test_import_access.py.
NOT_ABOUT_CASES |= {"api-import", "api-import-commit", "api-import-file", "api-import-mappings"}
# Queries: every role against every step in tests/quality/test_query_api.py.
NOT_ABOUT_CASES |= {
    "api-queries",
    "api-query",
    "api-query-answer",
    "api-query-close",
    "api-query-reopen",
}


def expected(endpoint: Endpoint, persona: Persona) -> str:
    if persona.role is None:
        return LOGIN
    if endpoint.needs in persona.may_at_a:
        return OK
    if endpoint.scope == "case" and not persona.sees_site_a:
        return HIDDEN  # a case you may not see is not confirmed to exist
    if endpoint.scope == "list" and endpoint.needs in persona.may_at_own:
        return UNLISTED
    return FORBIDDEN


def cells() -> list:
    """One (endpoint, persona) pair per cell; public endpoints need only the anonymous check
    and the positive control."""
    pairs = []
    for endpoint in ENDPOINTS:
        for persona in PERSONAS:
            if endpoint.scope == "public" and persona.id not in ("anonymous", "clinician-own-site"):
                continue
            pairs.append(pytest.param(endpoint, persona, id=f"{endpoint.id}[{persona.id}]"))
    return pairs


# --- the world each cell runs in -------------------------------------------------------------


@pytest.fixture(autouse=True)
def quick_password_hashing(settings):
    """The matrix makes some 500 users; hashing their passwords the production way took half
    its time, and password strength is no part of what it checks."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def build_world(endpoint: Endpoint, persona: Persona, a_site: Site, b_site: Site, new_user):
    """Site A's case (entered by the persona when it is site A's clinician), the persona's
    user, and a case of its own site when it may enter one there."""
    user = None
    if persona.role:
        user = new_user(persona.id, persona.role, a_site if persona.site == "a" else b_site)
    at_site_a = persona.site == "a"
    clinician_a = at_site_a and persona.role == "clinician"
    owner = user if clinician_a else new_user("clin-a", "clinician", a_site)
    manager_a = user if at_site_a and LOCK in persona.may_at_a else None
    case = case_in_state(endpoint.state, owner, a_site, manager_a, new_user)
    own_case = None
    if persona.site == "b" and WRITE in persona.may_at_own:
        own_case = services.create_case(context(user), b_site)
        if endpoint.state == SUBMITTED:
            own_case = fill_required(user, own_case)
            own_case = services.submit_case(
                context(user), own_case, expected_version=own_case.version
            )
    # Every case is also a patient's report to triage (the triage pages list only those).
    for reported in filter(None, (case, own_case)):
        PatientReport.objects.create(case=reported, language="en")
    get_user_model().objects.create_user(NEWCOMER)
    return World(a_site, b_site, owner, case, user, own_case)


def case_in_state(state: str, owner, a_site: Site, manager, new_user) -> Case:
    """Site A's case, holding MARKER, in the state the endpoint's positive control needs."""
    case = services.create_case(context(owner), a_site)
    if state != DRAFT:
        case = fill_required(owner, case)
    case = services.save_form(
        context(owner),
        case,
        {MARKER_FIELD: MARKER},
        form="ms_history",
        expected_version=case.version,
    ).case
    if state in (SUBMITTED, LOCKED):
        case = services.submit_case(context(owner), case, expected_version=case.version)
    if state == LOCKED:
        manager = manager or new_user("manager-a", "site_manager", a_site)
        case = services.lock_case(
            context(manager), case, password=PASSWORD, expected_version=case.version
        )
    return case


def client_of(endpoint: Endpoint, user):
    if endpoint.channel == "api":
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, 'matrix').key}")
        return client
    client = Client()
    if user is not None:
        verified_login(client, user)
    return client


def send(client, endpoint: Endpoint, world: World):
    request = getattr(client, endpoint.method)
    body = endpoint.body(world) if endpoint.body else None
    if endpoint.channel == "api" and body is not None:
        return request(endpoint.path(world), body, format=endpoint.api_format)
    if body is not None:
        return request(endpoint.path(world), body)
    return request(endpoint.path(world))


def snapshot(world: World) -> tuple:
    """What no refused request (and no read) may change."""
    case = world.fresh_case()
    memberships = sorted(Membership.objects.values_list("user_id", "site_id", "role"))
    return case.version, case.status, case.data, Case.objects.count(), memberships


# --- the outcomes ----------------------------------------------------------------------------


def check_login(endpoint: Endpoint, world: World, response, events: list[AuditEvent]) -> None:
    if endpoint.channel == "api":
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == "Token"
    else:
        assert response.status_code == 302
        location = urlsplit(response["Location"])
        assert location.path == reverse("login")
        assert parse_qs(location.query)["next"] == [endpoint.path(world)]
    assert events == []  # the login redirect: no actor, nothing recorded


def the_denial(endpoint: Endpoint, world: World, events: list[AuditEvent]) -> AuditEvent:
    assert [event.action for event in events] == [DENIED]
    (denial,) = events
    assert denial.actor_id == world.user.pk
    assert denial.actor_username == world.user.username
    assert denial.channel == endpoint.channel
    if endpoint.scope == "case":
        assert denial.case_id == world.case.pk  # on the case's record, seen by its site
    if endpoint.scope in ("case", "site"):
        assert denial.site_id == world.site_a.pk
    return denial


def check_hidden(endpoint: Endpoint, world: World, response, events: list[AuditEvent]) -> None:
    assert response.status_code == 404
    page = body_text(response)
    assert world.case.secret_name not in page and MARKER not in page
    if endpoint.channel == "api":
        assert response.json()["code"] == "not_found"
    the_denial(endpoint, world, events)


def check_forbidden(endpoint: Endpoint, world: World, response, events: list[AuditEvent]) -> None:
    assert response.status_code == 403
    assert MARKER not in body_text(response)
    if endpoint.channel == "api":
        assert response.json()["code"] == "permission_denied"
    the_denial(endpoint, world, events)


def check_unlisted(endpoint: Endpoint, world: World, response, events: list[AuditEvent]) -> None:
    assert response.status_code == 200
    page = body_text(response)
    assert endpoint.shown_for(world, "b") in page  # the list works: the persona's own site
    assert endpoint.shown_for(world, "a") not in page
    assert MARKER not in page
    assert DENIED not in [event.action for event in events]


def check_ok(endpoint: Endpoint, world: World, response, events: list[AuditEvent]) -> None:
    endpoint.succeeded(world, response)
    assert DENIED not in [event.action for event in events]


CHECKS = {
    LOGIN: check_login,
    HIDDEN: check_hidden,
    FORBIDDEN: check_forbidden,
    UNLISTED: check_unlisted,
    OK: check_ok,
}


@pytest.mark.parametrize(("endpoint", "persona"), cells())
def test_persona_matrix(endpoint, persona, core_version, site_a, site_b, make_user):  # noqa: F811
    world = build_world(endpoint, persona, site_a, site_b, make_user)
    client = client_of(endpoint, world.user)
    before = snapshot(world)
    denials_before = AuditEvent.objects.filter(action=DENIED).count()
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = send(client, endpoint, world)

    outcome = expected(endpoint, persona)
    events = list(AuditEvent.objects.filter(id__gt=last_event).order_by("id"))
    CHECKS[outcome](endpoint, world, response, events)
    denials = AuditEvent.objects.filter(action=DENIED).count() - denials_before
    assert denials == (1 if outcome in (HIDDEN, FORBIDDEN) else 0)
    if outcome == OK and endpoint.changes:
        assert snapshot(world) != before
    else:
        assert snapshot(world) == before


# --- the matrix covers every URL ----------------------------------------------------------------


def _names(patterns: list[URLPattern], namespace: str = "") -> set[str]:
    return {f"{namespace}{pattern.name}" for pattern in patterns}


def test_the_matrix_covers_every_case_page_and_api_endpoint():
    covered = {endpoint.url_name for endpoint in ENDPOINTS}
    assert _names(case_urlpatterns, "cases:") <= covered
    assert _names(api_urls.urlpatterns) - NOT_ABOUT_CASES <= covered


def test_the_matrix_posts_every_entry_form(core_version):  # noqa: F811
    assert list(FORM_VALUES) == entry.entry_forms(dictionary_of(core_version))


def test_the_expected_outcomes_read_as_the_rules_say():
    """A few cells spelled out, so that a change to the derivation shows as a plain failure."""
    endpoint = {endpoint.id: endpoint for endpoint in ENDPOINTS}
    assert expected(endpoint["web-case-page"], PERSONA["clinician-other-site"]) == HIDDEN
    assert expected(endpoint["web-case-page"], PERSONA["exporter"]) == HIDDEN
    assert expected(endpoint["web-case-page"], PERSONA["central-data-manager"]) == OK
    assert expected(endpoint["api-case-update"], PERSONA["central-data-manager"]) == FORBIDDEN
    assert expected(endpoint["web-lock-post"], PERSONA["clinician-own-site"]) == FORBIDDEN
    assert expected(endpoint["web-case-list"], PERSONA["exporter"]) == FORBIDDEN
    assert expected(endpoint["api-case-list"], PERSONA["manager-other-site"]) == UNLISTED
    assert expected(endpoint["web-members-post"], PERSONA["manager-other-site"]) == FORBIDDEN
    assert expected(endpoint["api-case-create"], PERSONA["anonymous"]) == LOGIN
