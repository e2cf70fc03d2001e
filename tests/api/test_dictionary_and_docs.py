"""The dictionary as JSON and as REDCap CSV, the OpenAPI schema and its docs page, sessions."""

import io
import json
import re
import secrets

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.validation import validate_schema
from helpers_auth import verified_login
from rest_framework.test import APIClient

from casereports.dictionary import read_dictionary, read_quality_rules
from casereports.models import ApiToken, AuditEvent, Case, DictionaryVersion
from casereports.services.dictionaries import LoadedDictionary, dictionary_of
from casereports.services.tokens import issue_token

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_dictionary_json_describes_every_field(core_version, clinician_a, client_for):
    response = client_for(clinician_a).get("/api/v1/dictionary/")
    assert response.status_code == 200
    body = response.json()
    dictionary = dictionary_of(core_version)
    assert body["hash"] == core_version.content_hash and body["name"] == "core"
    assert body["forms"] == dictionary.forms
    assert [f["name"] for f in body["fields"]] == [f.name for f in dictionary.fields]
    fields = {f["name"]: f for f in body["fields"]}
    icu = fields["covid19_icu_stay"]
    assert icu["form"] == "covid19" and icu["type"] == "radio"
    assert icu["choices"] == [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}]
    assert icu["branching"] == "[covid19_admission_hospital] = 'yes'"
    assert icu["branching_ast"]["l"] == {"t": "field", "name": "covid19_admission_hospital"}
    height = fields["height"]
    assert (height["validation"], height["min"], height["max"]) == ("number", "100", "210")
    assert height["action_tags"]["@GDSI-SOFT-RANGE"] is True
    assert height["action_tags"]["@GDSI-UNIT"] == "cm"
    assert fields["covid19_admission_hospital"]["required"] is True
    calculated = [f for f in body["fields"] if f["calc_ast"] is not None]
    assert calculated and all(f["type"] == "calc" or f["action_tags"] for f in calculated)


def test_the_dictionary_csv_loads_back_to_the_same_content(core_version, clinician_a, client_for):
    client = client_for(clinician_a)
    response = client.get("/api/v1/dictionary.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="core_dictionary_')
    reloaded = read_dictionary(io.StringIO(response.content.decode("utf-8")))
    assert reloaded.content_hash == dictionary_of(core_version).content_hash

    rules = client.get("/api/v1/dictionary/quality-rules.csv")
    assert rules.status_code == 200 and rules["Content-Type"].startswith("text/csv")
    rules_csv = rules.content.decode("utf-8")
    assert read_quality_rules(io.StringIO(rules_csv), dictionary=reloaded)
    # Both files together are the stored version: same content hash.
    assert LoadedDictionary(reloaded, rules_csv, 0).content_hash == core_version.content_hash


def test_csv_is_served_to_a_client_that_accepts_only_csv(core_version, clinician_a, client_for):
    response = client_for(clinician_a).get("/api/v1/dictionary.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response.content.decode().startswith("Variable / Field Name,")


def test_without_a_loaded_dictionary_the_endpoints_say_so(clinician_a, client_for):
    assert not DictionaryVersion.objects.exists()
    client = client_for(clinician_a)
    for url in ["/api/v1/dictionary/", "/api/v1/dictionary.csv"]:
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["message"] == "No data dictionary is loaded."


def test_the_schema_is_valid_openapi_with_the_case_paths_and_the_error_shape(db):
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/cases/"])
    assert {"get", "patch"} <= set(paths["/api/v1/cases/{secret_name}/"])
    assert "post" in paths["/api/v1/cases/{secret_name}/submit/"]
    assert {"/api/v1/dictionary/", "/api/v1/dictionary.csv"} <= set(paths)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message", "errors", "warnings"}
    patch = paths["/api/v1/cases/{secret_name}/"]["patch"]["responses"]
    for status in ["400", "403", "404", "409", "422", "423"]:
        ref = patch[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"


def test_the_docs_page_has_no_inline_script(db):
    client = APIClient()
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == 3
    for attributes, body in scripts:
        assert 'src="' in attributes and body.strip() == ""
    assert "<style" not in html and "style=" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script_url = re.search(r'<script src="([^"]*\?script[^"]*)"', html).group(1)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_a_verified_session_reads_and_writes_with_csrf(core_version, clinician_a):
    client = APIClient(enforce_csrf_checks=True)
    verified_login(client, clinician_a)
    assert client.get("/api/v1/cases/").status_code == 200
    refused = client.post("/api/v1/cases/", {"site": "site-a"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert not Case.objects.exists()
    forged = secrets.token_hex(16)  # a token the session does not hold is refused too
    client.cookies["csrftoken"] = forged
    assert (
        client.post("/api/v1/cases/", {"site": "site-a"}, HTTP_X_CSRFTOKEN=forged).status_code
        == 403
    )
    # The token lives in the session (no CSRF cookie): a page of the app hands it out.
    page = client.get("/cases/new/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    assert "csrftoken" not in client.cookies or client.cookies["csrftoken"].value == forged
    created = client.post("/api/v1/cases/", {"site": "site-a"}, HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201
    browsable = client.get("/api/v1/cases/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and created.json()["secret_name"] in browsable.text


def test_a_token_needs_no_csrf(core_version, clinician_a):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(clinician_a, 'x').key}")
    assert client.post("/api/v1/cases/", {"site": "site-a"}).status_code == 201


def test_an_admin_revokes_a_token_in_the_admin(clinician_a, client):
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    issued = issue_token(clinician_a, "laptop")
    verified_login(client, admin)
    changelist = "/admin/casereports/apitoken/"
    page = client.get(changelist)
    assert page.status_code == 200 and issued.token.prefix in page.text
    assert client.get(f"{changelist}{issued.token.pk}/change/").status_code == 200  # read only
    response = client.post(
        changelist, {"action": "revoke", "_selected_action": [issued.token.pk]}, follow=True
    )
    assert "Revoked 1 token(s)." in response.text
    assert ApiToken.objects.get().revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor_username == "root" and event.details["prefix"] == issued.token.prefix
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    assert api.get("/api/v1/cases/").status_code == 401


def test_the_schema_documents_the_row_import_endpoints(db):
    schema = json.loads(APIClient().get("/api/v1/schema/?format=json").content)
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/imports/"])
    upload = paths["/api/v1/imports/"]["post"]
    fields = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    fields = schema["components"]["schemas"][fields["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"file", "report_source", "date_format", "mapping", "blank_overwrites"} <= set(fields)
    assert "202" in upload["responses"] and "422" in upload["responses"]
    assert "get" in paths["/api/v1/imports/{job_id}/"]
    assert "post" in paths["/api/v1/imports/{job_id}/commit/"]
    assert "get" in paths["/api/v1/imports/{job_id}/files/{kind}.csv"]
    assert "post" in paths["/api/v1/imports/mappings/"]
