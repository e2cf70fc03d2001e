"""The REDCap-compatible API through Django's test client: site isolation, tokens, the audit
trail, and malformed input answered with a 400 that names what is wrong."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from imports.helpers import records
from rest_framework.test import APIClient

from casereports.imports.models import RowImport
from casereports.models import AuditEvent, Case, Membership
from casereports.services.tokens import issue_token, revoke_token

pytestmark = pytest.mark.django_db

API = "/redcap/api/"
NO_PERMISSION = {"error": "You do not have permissions to use the API"}
MARKER = "redcap-marker-5Vw"  # a value only site B's record holds
FREE_TEXT = "last_white_blood_cell_unit"


def call(client, key: str, **params: str):
    """A form-encoded POST, as REDCap's clients send it."""
    body = urlencode({"token": key, **params}, doseq=True)
    return client.post(API, body, content_type="application/x-www-form-urlencoded")


def export(client, key: str, **params: str) -> list[dict[str, str]]:
    response = call(client, key, content="record", format="json", **params)
    assert response.status_code == 200, response.content
    return json.loads(b"".join(response.streaming_content))


def import_json(client, key: str, rows: list[dict[str, str]], **params: str):
    return call(client, key, content="record", format="json", data=json.dumps(rows), **params)


def error_of(response) -> str:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    return body["error"]


# --- sites ---------------------------------------------------------------------------------


def test_a_token_of_site_a_never_sees_or_changes_site_b_records(
    client, key_a, key_b, site_a, site_b
):
    assert import_json(client, key_b, records(2, **{FREE_TEXT: MARKER})).json() == {"count": 2}
    b_pseudonym = Case.objects.get(site=site_b, registry_record="REG-0001").secret_name

    assert export(client, key_a) == []
    for name in ("REG-0001", b_pseudonym):  # B's registry name and B's platform pseudonym
        named = call(client, key_a, content="record", format="json", **{"records[0]": name})
        unknown = call(client, key_a, content="record", format="json", **{"records[0]": "NO-SUCH"})
        assert b"".join(named.streaming_content) == b"".join(unknown.streaming_content) == b"[]"

    same_name = import_json(client, key_a, records(1))
    unknown_name = import_json(client, key_a, [{**records(1)[0], "secret_name": "NEW-9"}])
    b_name = import_json(client, key_a, [{**records(1)[0], "secret_name": b_pseudonym}])
    assert same_name.json() == unknown_name.json() == b_name.json() == {"count": 1}

    assert Case.objects.filter(site=site_b).count() == 2
    for case in Case.objects.filter(site=site_b):
        assert case.data[FREE_TEXT] == MARKER and case.version == 1
    mine = export(client, key_a)
    assert sorted(row["secret_name"] for row in mine) == sorted(["REG-0001", "NEW-9", b_pseudonym])
    assert MARKER not in json.dumps(mine)
    assert {row["secret_name"] for row in export(client, key_b)} == {"REG-0001", "REG-0002"}


def test_a_record_entered_on_the_platform_is_exported_by_its_pseudonym_and_not_imported_over(
    client, key_a, site_a, core_version
):
    entered = Case.objects.create(
        site=site_a, secret_name="C_ENTERED1", dictionary_version=core_version,
        data={**records(1)[0], "secret_name": "C_ENTERED1"},
    )  # fmt: skip
    assert [row["secret_name"] for row in export(client, key_a)] == ["C_ENTERED1"]

    response = import_json(client, key_a, [{**records(1)[0], "secret_name": "C_ENTERED1"}])

    assert response.status_code == 400
    assert error_of(response).startswith('"C_ENTERED1","secret_name","C_ENTERED1","the record')
    assert Case.objects.filter(site=site_a).count() == 1
    entered.refresh_from_db()
    assert entered.version == 1


def test_withdrawn_records_are_not_exported(client, key_a, site_a):
    import_json(client, key_a, records(2))
    Case.objects.filter(site=site_a, registry_record="REG-0001").update(consent_withdrawn=True)

    assert [row["secret_name"] for row in export(client, key_a)] == ["REG-0002"]
    assert export(client, key_a, **{"records[0]": "REG-0001"}) == []


def test_records_are_streamed_a_chunk_at_a_time(client, key_a, monkeypatch):
    from casereports.redcap import export as exporting

    import_json(client, key_a, records(5))
    monkeypatch.setattr(exporting, "CHUNK", 2)

    for fmt in ("json", "csv"):
        response = call(client, key_a, content="record", format=fmt)
        pieces = list(response.streaming_content)
        assert len(pieces) >= 3, fmt  # never the whole export in one piece
    assert len(json.loads(b"".join(call(client, key_a, content="record").streaming_content))) == 5


# --- tokens --------------------------------------------------------------------------------


def test_rest_tokens_are_refused_here_and_redcap_tokens_in_the_rest_api(
    client, registry_a, site_a, key_a
):
    rest_key = issue_token(registry_a, "REST", site=site_a).key

    response = call(client, rest_key, content="version")

    assert response.status_code == 403 and response.json() == NO_PERMISSION
    denial = AuditEvent.objects.get(action="permission.denied")
    assert denial.actor == registry_a and denial.channel == "redcap" and denial.site == site_a
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"Token {key_a}")
    assert rest.get("/api/v1/cases/").status_code == 401


def test_unknown_revoked_and_powerless_tokens_get_redcaps_403(client, registry_a, site_a, key_a):
    for key in ("", "0" * 32, key_a.lower()):
        response = call(client, key, content="record", format="json")
        assert response.status_code == 403 and response.json() == NO_PERMISSION
    as_csv = call(client, "0" * 32, content="record", format="csv")
    assert as_csv.status_code == 403
    assert as_csv.content.decode() == "ERROR: You do not have permissions to use the API"
    assert not AuditEvent.objects.filter(action="permission.denied").exists()  # no one to record

    Membership.objects.filter(user=registry_a).update(role="clinician")
    assert call(client, key_a, content="version").status_code == 403
    assert AuditEvent.objects.get(action="permission.denied").actor == registry_a

    Membership.objects.filter(user=registry_a).update(role="registry_data_manager")
    assert call(client, key_a, content="version").status_code == 200
    revoke_token(registry_a.api_tokens.get())
    assert call(client, key_a, content="version").status_code == 403


def test_an_inactive_user_token_is_refused(client, registry_a, key_a):
    registry_a.is_active = False
    registry_a.save()
    assert call(client, key_a, content="version").status_code == 403


def test_get_is_not_allowed(client, key_a):
    response = client.get(API, {"token": key_a, "content": "version"})
    assert response.status_code == 405 and b"POST" in response.content


# --- the audit trail -----------------------------------------------------------------------


def test_every_request_is_on_record_with_the_channel_and_what_it_read(
    client, key_a, registry_a, site_a
):
    assert call(client, key_a, content="version").content == b"14.5.0"
    assert call(client, key_a, content="project", format="json").json()["is_longitudinal"] == 0
    assert call(client, key_a, content="metadata").status_code == 200
    assert import_json(client, key_a, records(3)).json() == {"count": 3}
    assert len(export(client, key_a)) == 3
    assert call(client, key_a, content="nonsense").status_code == 400

    events = AuditEvent.objects.filter(channel="redcap", actor=registry_a, site=site_a)
    actions = list(events.order_by("pk").values_list("action", flat=True))
    assert actions[:3] == [
        "redcap.version_exported",
        "redcap.project_exported",
        "redcap.metadata_exported",
    ]
    assert actions[-2:] == ["redcap.records_exported", "redcap.request_refused"]
    assert {"import.uploaded", "import.commit_requested", "redcap.records_imported"} <= set(actions)
    assert events.get(action="redcap.records_exported").details["count"] == 3
    job = RowImport.objects.get(site=site_a)
    assert job.channel == "redcap" and job.requested_by == registry_a
    assert events.get(action="redcap.records_imported").details["import"] == job.pk


# --- formats -------------------------------------------------------------------------------


def test_csv_import_and_a_formula_safe_csv_export(client, key_a, site_a):
    formula = '=HYPERLINK("http://evil.example","x")'
    lines = [
        "secret_name,age_years,sex," + FREE_TEXT,
        f'REG-7,44,female,"{formula.replace(chr(34), chr(34) * 2)}"',
    ]

    response = call(
        client, key_a, content="record", format="csv", data="\n".join(lines), returnFormat="json"
    )

    assert response.json() == {"count": 1}
    assert Case.objects.get(site=site_a, registry_record="REG-7").data[FREE_TEXT] == formula
    exported = call(client, key_a, content="record", format="csv", **{"fields[0]": FREE_TEXT})
    text = b"".join(exported.streaming_content).decode()
    assert text.splitlines()[1] == f'REG-7,"\'{formula.replace(chr(34), chr(34) * 2)}"'
    assert export(client, key_a)[0][FREE_TEXT] == formula  # JSON is data, not a spreadsheet


def test_a_refused_import_answers_in_the_return_format(client, key_a, site_a):
    response = import_json(client, key_a, records(1, age_years="old"), returnFormat="csv")
    assert response.status_code == 400
    assert response.content.decode().startswith('ERROR: "REG-0001","age_years","old",')
    assert not Case.objects.exists()


def test_report_source_comes_from_the_records_or_the_parameter(client, key_a, site_a):
    patients = records(1, report_source="patients")
    assert import_json(client, key_a, patients).json() == {"count": 1}
    assert Case.objects.get(site=site_a).report_source == "patients"

    mixed = records(2)
    mixed[0]["report_source"] = "patients"
    mixed[1]["report_source"] = "clinicians"
    assert "separately" in error_of(import_json(client, key_a, mixed))
    other = import_json(client, key_a, patients, reportSource="clinicians")
    assert "separately" in error_of(other)


# --- malformed input -----------------------------------------------------------------------

IMPORT = {"content": "record", "format": "json"}
RECORD_JSON = json.dumps(records(1))

MALFORMED = [
    ({**IMPORT, "data": "{not json"}, "not valid JSON"),
    ({**IMPORT, "data": '{"secret_name": "A"}'}, "must be a JSON array"),
    ({**IMPORT, "data": "[]"}, "holds no records"),
    ({**IMPORT, "data": '["A"]'}, 'Record 1 of "data" is not a JSON object'),
    ({**IMPORT, "data": '[{"secret_name": "A", "age_years": [4]}]'}, "must be text or a number"),
    ({**IMPORT, "data": '[{"secret_name": "A\\u0000"}]'}, "NUL character"),
    ({**IMPORT, "data": "[" * 200_000}, "not valid JSON"),
    ({**IMPORT, "data": "x" * 10 + "\x00"}, 'parameter "data" holds a NUL character'),
    ({**IMPORT, "data": '[{"secret_name": "A", "not_a_field": "1"}]'}, "not_a_field"),
    ({**IMPORT, "data": ""}, "missing or empty"),
    ({**IMPORT, "data": RECORD_JSON, "forceAutoNumber": "true"}, "registry's own"),
    ({**IMPORT, "data": RECORD_JSON, "type": "eav"}, "flat"),
    ({**IMPORT, "data": RECORD_JSON, "overwriteBehavior": "sometimes"}, "overwriteBehavior"),
    ({**IMPORT, "data": RECORD_JSON, "returnContent": "auto_ids"}, "auto_ids"),
    ({**IMPORT, "data": RECORD_JSON, "dateFormat": "YDM"}, "dateFormat"),
    ({"content": "record", "format": "csv", "data": "age_years\n44\n"}, "no secret_name column"),
    ({"content": "record", "format": "csv", "data": 'secret_name\n"A\n'}, "not valid CSV"),
    ({"content": "record", "format": "csv", "data": "secret_name\n\n"}, "holds no records"),
    ({"content": "record", "format": "json", "type": "eav"}, "flat"),
    ({"content": "record", "rawOrLabel": "label"}, "rawOrLabel"),
    ({"content": "record", "fields[0]": "nope"}, '"fields" are not valid'),
    ({"content": "record", "forms[0]": "nope"}, '"forms" are not valid'),
    ({"content": "record", "dateRangeBegin": "yesterday"}, "dateRangeBegin"),
    ({"content": "record", "action": "delete", "records[0]": "A"}, "cannot be deleted"),
    ({"content": "metadata", "data": "[]"}, "Importing"),
    ({"content": "formEventMapping"}, "classic projects"),
    ({"content": "nonsense"}, 'parameter "content" is not valid'),
    ({}, 'parameter "content" is missing'),
]


@pytest.mark.parametrize(("params", "expected"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_requests_are_a_400_naming_what_is_wrong(client, key_a, params, expected):
    response = call(client, key_a, **params)

    assert response.status_code == 400
    assert expected in error_of(response)
    assert not Case.objects.exists()


def test_xml_is_refused_in_redcaps_xml_error_shape(client, key_a):
    response = call(client, key_a, content="metadata", format="xml")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/xml")
    assert "<error>format=xml is not supported by this server: use json or csv</error>" in (
        response.content.decode()
    )


def test_a_body_over_the_upload_limit_is_a_400(client, key_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = import_json(client, key_a, records(100))
    assert response.status_code == 400
    assert "larger than 10000 bytes" in error_of(response)

    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    named = {f"records[{n}]": f"REG-{n}" for n in range(10)}
    response = call(client, key_a, content="record", format="json", **named)
    assert response.status_code == 400
    assert "more than 5 parameters" in error_of(response)


def test_a_body_that_is_not_form_data_is_a_400(client):
    response = client.post(API, b"token=x", content_type="multipart/form-data; boundary=")
    assert response.status_code == 400
    assert "not readable form data" in error_of(response)


def test_overwrite_needs_every_json_record_to_name_the_same_fields(client, key_a):
    rows = records(2)
    del rows[1]["edss_value"]
    response = import_json(client, key_a, rows, overwriteBehavior="overwrite")
    assert response.status_code == 400
    assert "record 2 lacks edss_value" in error_of(response)
