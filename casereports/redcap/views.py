"""The one view of the REDCap-compatible API: a POST to /redcap/api/ with `token` and
`content`, answered as REDCap answers (see `casereports.redcap` for what is supported)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from casereports import access
from casereports.audit import AuditContext, context_for, record_event
from casereports.dictionary.model import DataDictionary
from casereports.models import ApiToken, DictionaryVersion
from casereports.redcap import export, importing, metadata
from casereports.redcap.errors import TEXT, Denied, RedcapError, error_response
from casereports.redcap.params import Params
from casereports.redcap.responses import json_response, rows_response
from casereports.roles import VIEW_CASES
from casereports.services import tokens
from casereports.services.cases import record_denial
from casereports.services.dictionaries import dictionary_of

CHANNEL = "redcap"
LONGEST_KEY = 100  # REDCap keys have 32 characters, REST keys 43: refused here on record
CLASSIC_ONLY = {
    "formEventMapping": "You cannot export form/event mappings for classic projects",
    "event": "You cannot export events for classic projects",
    "arm": "You cannot export arms for classic projects",
}
GET_ANSWER = (
    "This is a REDCap-compatible API: POST form-encoded parameters (token, content, format) "
    "to this address, as REDCap's client libraries do.\n"
)


@dataclasses.dataclass(frozen=True)
class Call:
    """One authenticated request: its parameters, token, audit context and dictionary."""

    params: Params
    token: ApiToken
    context: AuditContext
    version: DictionaryVersion

    @property
    def dictionary(self) -> DataDictionary:
        return dictionary_of(self.version)

    def audit(self, action: str, **details: object) -> None:
        record_event(self.context, action, site=self.token.site, details=details)


@csrf_exempt
def api(request: HttpRequest) -> HttpResponse:
    """Every REDCap API call: read the parameters, check the token, answer the `content`;
    any refusal becomes REDCap's error in the client's format (never a 500 for bad input)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"], content=GET_ANSWER, content_type=TEXT)
    answer_format, call = "json", None
    try:
        params = Params.of(request)
        answer_format = params.answer_format()
        call = authenticate(request, params)
        return dispatch(call)
    except RedcapError as error:
        if call is not None and not isinstance(error, Denied):
            call.audit("redcap.request_refused", content=_content(call), error=error.message[:300])
        return error_response(error.message, error.status, answer_format)


def _content(call: Call) -> str:
    return call.params.get("content")[:50]


# --- the token -----------------------------------------------------------------------------


def authenticate(request: HttpRequest, params: Params) -> Call:
    """The request's REDCap token: unrevoked, of an active user, bound to a site where the user
    still imports rows. An unknown token is refused unrecorded (there is no one to record); a
    known token that may not be used here is refused on record."""
    key = params.get("token").strip()
    token = tokens.active_token(key) if 0 < len(key) <= LONGEST_KEY else None
    if token is None:
        raise Denied()
    context = dataclasses.replace(context_for(request, CHANNEL), user=token.user)
    if token.kind != tokens.REDCAP_KIND or token.site_id is None:
        record_denial(context, "REDCap API with a REST API token", site=token.site)
        raise Denied()
    if not access.can_import_rows(token.user, token.site, token):
        record_denial(context, "REDCap API", site=token.site)
        raise Denied()
    version = DictionaryVersion.objects.current()
    if version is None:
        raise RedcapError("No data dictionary is loaded on this server", 503)
    return Call(params, token, context, version)


# --- what the request asks for -------------------------------------------------------------


def dispatch(call: Call) -> HttpResponse:
    content = call.params.get("content").strip()
    handler = HANDLERS.get(content)
    if handler is not None:
        return handler(call)
    if content in CLASSIC_ONLY:
        raise RedcapError(CLASSIC_ONLY[content])
    if not content:
        raise RedcapError('The parameter "content" is missing')
    raise RedcapError(
        'The value of the parameter "content" is not valid: this server supports '
        + ", ".join(sorted(HANDLERS))
    )


def version(call: Call) -> HttpResponse:
    call.audit("redcap.version_exported")
    return HttpResponse(metadata.REDCAP_VERSION, content_type=TEXT)


def project(call: Call) -> HttpResponse:
    _refuse_import(call, "project settings")
    fmt = call.params.data_format()
    info = metadata.project_info(call.token.site, call.version)
    call.audit("redcap.project_exported")
    if fmt == "csv":
        return rows_response([info], list(info), fmt)
    return json_response(info)


def metadata_export(call: Call) -> HttpResponse:
    _refuse_import(call, "a data dictionary (the central team loads it)")
    fmt = call.params.data_format()
    fields = _selected(call)
    call.audit("redcap.metadata_exported", fields=len(fields))
    return rows_response(metadata.metadata_rows(fields), metadata.METADATA_KEYS, fmt)


def field_names(call: Call) -> HttpResponse:
    fmt = call.params.data_format()
    named = call.params.get("field").strip()
    fields = metadata.selected_fields(call.dictionary, [named] if named else [], [])
    call.audit("redcap.field_names_exported")
    rows = metadata.export_field_names(fields)
    return rows_response(rows, metadata.FIELD_NAME_KEYS, fmt)


def instruments(call: Call) -> HttpResponse:
    _refuse_import(call, "instruments")
    fmt = call.params.data_format()
    call.audit("redcap.instruments_exported")
    return rows_response(metadata.instruments(call.dictionary), metadata.INSTRUMENT_KEYS, fmt)


def record(call: Call) -> HttpResponse:
    action = call.params.get("action").strip() or (
        "import" if call.params.has("data") else "export"
    )
    if action == "import":
        return importing.import_records(call.params, call.token, call.context, call.dictionary)
    if action == "export":
        return records_export(call)
    if action == "delete":
        raise RedcapError("Records cannot be deleted through this API: ask the central team")
    raise RedcapError('The value of the parameter "action" is not valid: use export or import')


def records_export(call: Call) -> HttpResponse:
    params = call.params
    fmt = params.data_format()
    _refuse_unsupported_export(params)
    user, site = call.token.user, call.token.site
    if not (
        access.sees_all_sites(call.token.user) or access.has_permission(user, VIEW_CASES, site)
    ):
        record_denial(call.context, "REDCap record export", site=site)
        raise Denied()
    columns = export.columns_of(call.dictionary, _selected(call))
    cases = export.site_records(access.visible_cases(user), site, params)
    call.audit("redcap.records_exported", count=cases.count(), fields=len(columns))
    return export.records_response(cases, columns, fmt, _export_delimiter(params))


def _refuse_unsupported_export(params: Params) -> None:
    if params.get("type", "flat").strip() not in ("", "flat"):
        raise RedcapError('Only type "flat" is supported: one row per record, not "eav"')
    if params.get("rawOrLabel", "raw").strip() not in ("", "raw"):
        raise RedcapError("Only rawOrLabel=raw is supported: read the labels from the metadata")
    if params.get("rawOrLabelHeaders", "raw").strip() not in ("", "raw"):
        raise RedcapError("Only rawOrLabelHeaders=raw is supported")
    if params.get("filterLogic").strip():
        raise RedcapError("filterLogic is not supported: filter the exported records yourself")
    if params.list_of("events"):
        raise RedcapError("This is a classic project: it has no events")


def _export_delimiter(params: Params) -> str:
    value = params.get("csvDelimiter").strip() or ","
    delimiters = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
    if value not in delimiters:
        raise RedcapError('The value of the parameter "csvDelimiter" is not valid: use , ; or tab')
    return delimiters[value]


def _selected(call: Call) -> list:
    params = call.params
    return metadata.selected_fields(
        call.dictionary, params.list_of("fields"), params.list_of("forms")
    )


def _refuse_import(call: Call, what: str) -> None:
    if call.params.has("data"):
        raise RedcapError(f"Importing {what} is not supported by this server")


HANDLERS: dict[str, Callable[[Call], HttpResponse]] = {
    "version": version,
    "project": project,
    "metadata": metadata_export,
    "exportFieldNames": field_names,
    "instrument": instruments,
    "record": record,
}
