"""REDCap's "Import Records" through the platform's row import, all or nothing.

The records (a JSON array of objects, or CSV as REDCap takes it) become one upload of the
site's row import (`casereports.imports`): the same reader, checks, report, job row and audit
as an upload on the web page, with channel "redcap". Like REDCap's own import it is all or
nothing: the upload is validated at once, and if any row is refused the job is discarded,
nothing is written, and the answer is REDCap's error body, one `"record","field","value",
"message"` line per problem. Otherwise it is committed at once and the answer is the count (new
plus changed records) or their names.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.http import HttpResponse

from casereports.audit import AuditContext, record_event
from casereports.dictionary.model import DataDictionary
from casereports.entry import storage_keys
from casereports.imports import services, tasks
from casereports.imports.models import FINISHED, ImportStatus, RowImport
from casereports.models import ApiToken, Case
from casereports.redcap.errors import TEXT, Denied, RedcapError, error_response
from casereports.redcap.metadata import COMPLETE_SUFFIX
from casereports.redcap.params import Params
from casereports.redcap.responses import json_response
from casereports.services.cases import NotAllowed

DATE_FORMATS = {"YMD": "ymd", "DMY": "dmy", "MDY": "mdy"}
CSV_DELIMITERS = {",": ",", ";": ";", "tab": "tab", "\t": "tab"}
RETURN_CONTENT = ("count", "ids", "nothing", "auto_ids")
ERROR_LINES = 50  # problems listed in a refusal (the import's report on the platform has all)
COMMIT_WAIT_SECONDS = 300  # when a worker took the commit: how long the request waits for it
NAME_BATCH = 5000
_SEPARATOR = {",": ",", ";": ";", "tab": "\t"}


@dataclass(frozen=True)
class ImportRequest:
    """What the request asks of the import, checked."""

    data_format: str
    answer_format: str
    blank_overwrites: bool
    return_content: str
    date_format: str
    delimiter: str
    report_source: str

    @classmethod
    def of(cls, params: Params) -> ImportRequest:
        if params.get("type", "flat") != "flat":
            raise RedcapError('Only type "flat" is supported: one row per record')
        if params.flag("forceAutoNumber"):
            raise RedcapError(
                "forceAutoNumber is refused: record names are the registry's own, never numbered "
                "by this server"
            )
        return_content = params.choice("returnContent", RETURN_CONTENT, "count")
        if return_content == "auto_ids":
            raise RedcapError("returnContent=auto_ids needs forceAutoNumber, which is refused")
        overwrite = params.choice("overwriteBehavior", ("normal", "overwrite"), "normal")
        date_format = params.choice("dateFormat", tuple(DATE_FORMATS), "YMD")
        delimiter = params.choice("csvDelimiter", tuple(CSV_DELIMITERS), ",")
        source = params.get("reportSource").strip()
        if source and source not in services.REPORT_SOURCES:
            raise RedcapError(f"reportSource must be one of: {', '.join(services.REPORT_SOURCES)}")
        return cls(
            data_format=params.data_format("format"),
            answer_format=params.data_format("returnFormat"),
            blank_overwrites=overwrite == "overwrite",
            return_content=return_content,
            date_format=DATE_FORMATS[date_format],
            delimiter=CSV_DELIMITERS[delimiter],
            report_source=source,
        )


@dataclass
class Table:
    """The records as columns and rows (for the checks), and the file the import stores."""

    header: list[str]
    rows: list[list[str]]
    content: bytes

    def column(self, name: str) -> list[str]:
        if name not in self.header:
            return []
        at = self.header.index(name)
        return [row[at] if at < len(row) else "" for row in self.rows]


# --- the data ------------------------------------------------------------------------------


def table_of(text: str, request: ImportRequest, record_id: str) -> Table:
    if not text.strip():
        raise RedcapError('The parameter "data" is missing or empty: send the records to import')
    if request.data_format == "csv":
        return csv_table(text, request.delimiter)
    return json_table(text, record_id, request.blank_overwrites)


def csv_table(text: str, delimiter: str) -> Table:
    """REDCap's CSV as it came (the import reads it itself); parsed here for the checks."""
    try:
        lines = list(
            csv.reader(io.StringIO(text), delimiter=_SEPARATOR.get(delimiter, ","), strict=True)
        )
    except csv.Error as error:
        raise RedcapError(f'The parameter "data" is not valid CSV: {error}') from None
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if len(lines) < 2:
        raise RedcapError(
            'The parameter "data" holds no records: a header line and rows are needed'
        )
    header = [cell.strip().lstrip("\ufeff") for cell in lines[0]]
    return Table(header, lines[1:], text.encode("utf-8"))


def json_table(text: str, record_id: str, blank_overwrites: bool) -> Table:
    """A JSON array of records as a CSV: the union of their keys, the record id first."""
    records = _json_records(text)
    keys: dict[str, None] = {record_id: None}
    for record in records:
        keys.update(dict.fromkeys(record))
    header = list(keys)
    if blank_overwrites:
        _refuse_ragged(records, header, record_id)
    rows = [[record.get(key, "") for key in header] for record in records]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Table(header, rows, out.getvalue().encode("utf-8"))


def _json_records(text: str) -> list[dict[str, str]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise RedcapError(f'The parameter "data" is not valid JSON: {error}') from None
    if not isinstance(value, list):
        raise RedcapError('The parameter "data" must be a JSON array of records (objects)')
    if not value:
        raise RedcapError('The parameter "data" holds no records')
    return [_record(item, number) for number, item in enumerate(value, start=1)]


def _record(item: object, number: int) -> dict[str, str]:
    if not isinstance(item, dict):
        raise RedcapError(f'Record {number} of "data" is not a JSON object')
    if any("\x00" in key for key in item):
        raise RedcapError(f'Record {number} of "data" names a field with a NUL character')
    return {key: _text(value, number, key) for key, value in item.items()}


def _text(value: object, number: int, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if "\x00" in value:
            raise RedcapError(f'Record {number} of "data" holds a NUL character (\\u0000)')
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RedcapError(
        f'Record {number} of "data": the value of "{key[:100]}" must be text or a number'
    )


def _refuse_ragged(records: list[dict[str, str]], header: list[str], record_id: str) -> None:
    """With overwrite, a missing key would become a blank that clears a stored value."""
    expected = set(header) - {record_id}
    for number, record in enumerate(records, start=1):
        missing = sorted(expected - set(record))
        if missing:
            raise RedcapError(
                f"With overwriteBehavior=overwrite every record must name the same fields, so "
                f"that a field left out is never taken for a blank one: record {number} lacks "
                f"{', '.join(missing[:20])}"
            )


# --- checks before the import --------------------------------------------------------------


def check_columns(table: Table, dictionary: DataDictionary) -> None:
    """REDCap refuses a field it does not know; so do we (the reader would ignore it)."""
    if dictionary.record_id not in table.header:
        raise RedcapError(
            f"The data has no {dictionary.record_id} column: the record ID field names each record"
        )
    known = {key for f in dictionary.fields for key in storage_keys(f)}
    known |= {f"{form}{COMPLETE_SUFFIX}" for form in dictionary.forms}
    unknown = [name for name in table.header if name not in known]
    if unknown:
        listed = ", ".join(name[:100] for name in unknown[:20])
        raise RedcapError(
            f"The following fields were not found in the project as real data fields: {listed}"
        )


def report_source_of(request: ImportRequest, table: Table) -> str:
    """`reportSource` when given, else the records' own `report_source` (one value), else
    clinicians. Records of both sources are imported separately."""
    values = {value.strip() for value in table.column("report_source") if value.strip()}
    chosen = request.report_source
    if chosen and values - {chosen}:
        raise RedcapError(
            f"reportSource is {chosen} but some records have another report_source: import "
            "clinicians' and patients' records separately"
        )
    if len(values) > 1:
        raise RedcapError(
            "The records have more than one report_source: import clinicians' and patients' "
            "records separately"
        )
    return chosen or (values.pop() if values else "clinicians")


def platform_record_problems(table: Table, site_id: int, record_id: str) -> list[list[str]]:
    """Records named by the pseudonym of a record entered on the platform at this site (not
    imported): an import would add a second record under that name, so it is refused."""
    names = sorted({name.strip() for name in table.column(record_id) if name.strip()})
    found: set[str] = set()
    for start in range(0, len(names), NAME_BATCH):
        chunk = names[start : start + NAME_BATCH]
        found.update(
            Case.objects.filter(site_id=site_id, registry_record="", secret_name__in=chunk)
            .values_list("secret_name", flat=True)
            .order_by()
        )
    reason = (
        "the record was entered on the platform, not imported: change it on the platform, "
        "not through an import"
    )
    return [[name, record_id, name, reason] for name in sorted(found)]


# --- the import ----------------------------------------------------------------------------


def import_records(
    params: Params, token: ApiToken, context: AuditContext, dictionary: DataDictionary
) -> HttpResponse:
    request = ImportRequest.of(params)
    table = table_of(params.get("data"), request, dictionary.record_id)
    check_columns(table, dictionary)
    source = report_source_of(request, table)
    problems = platform_record_problems(table, token.site_id, dictionary.record_id)
    if problems:
        record_event(
            context,
            "redcap.import_refused",
            site=token.site,
            details={"records": len(problems), "why": "platform records named"},
        )
        return error_response(error_lines(problems), 400, request.answer_format)
    job = _validated(context, token, request, table, source)
    if job.status != ImportStatus.READY:
        return _refused(context, token, job, job.error or "The records could not be read", request)
    if job.counts.get("refused", 0):
        with service_errors(409):
            services.discard(context, job, token=token)
        return _refused(context, token, job, refusal_text(job), request)
    return _committed(context, token, _commit(context, token, job), request)


@contextlib.contextmanager
def service_errors(status: int) -> Iterator[None]:
    """The import service's refusals as REDCap errors (a denial is on record already)."""
    try:
        yield
    except NotAllowed:
        raise Denied() from None
    except services.ImportError_ as error:
        raise RedcapError(error.message, status) from None


def _validated(
    context: AuditContext, token: ApiToken, request: ImportRequest, table: Table, source: str
) -> RowImport:
    with service_errors(400):
        job = services.start_import(
            context,
            site=token.site,
            upload=io.BytesIO(table.content),
            original_name=f"redcap-api-import.{request.data_format}",
            report_source=source,
            channel="redcap",
            delimiter="," if request.data_format == "json" else request.delimiter,
            date_format=request.date_format,
            encoding="utf-8",
            blank_overwrites=request.blank_overwrites,
            token=token,
            queue=False,
        )
    tasks.process(job.pk)
    job.refresh_from_db()
    return job


def _commit(context: AuditContext, token: ApiToken, job: RowImport) -> RowImport:
    with service_errors(409):
        job = services.request_commit(context, job, token=token)
    tasks.process(job.pk)  # "skipped" when a worker (or the eager queue) took it first
    deadline = time.monotonic() + COMMIT_WAIT_SECONDS
    job.refresh_from_db()
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    return job


def _refused(
    context: AuditContext, token: ApiToken, job: RowImport, message: str, request: ImportRequest
) -> HttpResponse:
    record_event(
        context,
        "redcap.import_refused",
        site=token.site,
        details={"import": job.pk, "refused": job.counts.get("refused", 0), "status": job.status},
    )
    return error_response(message, 400, request.answer_format)


def _committed(
    context: AuditContext, token: ApiToken, job: RowImport, request: ImportRequest
) -> HttpResponse:
    if job.status != ImportStatus.DONE:
        message = job.error or (
            f"Import #{job.pk} is still being committed; its report on the platform shows when "
            "it is done"
        )
        status = 409 if job.status == ImportStatus.FAILED else 503
        return error_response(message, status, request.answer_format)
    count = job.counts.get("new", 0) + job.counts.get("changed", 0)
    record_event(
        context,
        "redcap.records_imported",
        site=token.site,
        details={"import": job.pk, "count": count, **_counts(job)},
    )
    return success_response(job, count, request)


def _counts(job: RowImport) -> dict[str, int]:
    return {key: job.counts.get(key, 0) for key in ("new", "changed", "unchanged")}


def success_response(job: RowImport, count: int, request: ImportRequest) -> HttpResponse:
    if request.return_content == "nothing":
        return HttpResponse("", content_type=TEXT)
    if request.return_content == "ids":
        ids = list(
            Case.objects.filter(site_id=job.site_id, source_import=job)
            .order_by("pk")
            .values_list("registry_record", flat=True)
        )
        if request.answer_format == "csv":
            return HttpResponse("".join(f"{name}\n" for name in ids), content_type=TEXT)
        return json_response(ids)
    if request.answer_format == "csv":
        return HttpResponse(str(count), content_type=TEXT)
    return json_response({"count": count})


# --- REDCap's error lines ------------------------------------------------------------------


def error_lines(lines: list[list[str]]) -> str:
    """`"record","field","value","message"` lines, as REDCap lists an import's problems."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(lines)
    return out.getvalue().rstrip("\n")


def refusal_text(job: RowImport) -> str:
    problems = job.report.get("refused", [])[:ERROR_LINES]
    lines = [[p["record"], p["field"], p["value"], p["reason"]] for p in problems]
    refused = job.counts.get("refused", 0)
    listed_rows = len({p["line"] for p in problems})
    if refused > listed_rows:
        lines.append(
            ["", "", "", f"{refused} records were refused in all: the report of import "
             f"#{job.pk} on the platform lists every problem"]
        )  # fmt: skip
    return error_lines(lines)
