"""REDCap's "Export Records" (flat, raw codes) over the token's site.

Only the site's own records are read, never another site's, and withdrawn ones never. The
record-id field holds the registry's own record name for a record that came by import (so what
was imported exports under the same name), the platform's pseudonym otherwise. The cases are
read `CHUNK` at a time from a server-side cursor and written as they come, so an export of
100,000 records never holds them all in memory. CSV cells pass through `casereports.csvsafe`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from casereports.csvsafe import safe_row, safe_texts
from casereports.dictionary.model import DataDictionary, Field
from casereports.entry import storage_keys
from casereports.models import Case, Site
from casereports.redcap.errors import CSV, JSON, RedcapError
from casereports.redcap.params import Params

CHUNK = 500
DATE_RANGE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def columns_of(dictionary: DataDictionary, fields: Iterable[Field]) -> list[str]:
    """The export's columns: the record id first, then each field's keys in dictionary order
    (a checkbox as `name___code` per option; descriptive fields hold no data)."""
    record_id = dictionary.record_id
    keys = [
        key
        for f in fields
        if f.name != record_id and f.field_type != "descriptive"
        for key in storage_keys(f)
    ]
    return [record_id, *keys]


def site_records(cases: QuerySet[Case], site: Site, params: Params) -> QuerySet[Case]:
    """The site's records the request names (`records`, `dateRangeBegin/End`), withdrawn
    ones left out, in a stable order."""
    cases = cases.filter(site_id=site.pk, consent_withdrawn=False)
    names = params.list_of("records")
    if names:
        cases = cases.filter(
            Q(registry_record__in=names) | Q(registry_record="", secret_name__in=names)
        )
    begin, end = _moment(params, "dateRangeBegin"), _moment(params, "dateRangeEnd")
    if begin is not None:
        cases = cases.filter(updated_at__gte=begin)
    if end is not None:
        cases = cases.filter(updated_at__lte=end)
    return cases.order_by("pk")


def _moment(params: Params, name: str) -> datetime | None:
    value = params.get(name).strip()
    if not value:
        return None
    for pattern in DATE_RANGE_FORMATS:
        try:
            return timezone.make_aware(datetime.strptime(value, pattern))
        except ValueError:
            continue
    raise RedcapError(f'The value of the parameter "{name}" is not valid: use YYYY-MM-DD HH:MM:SS')


def record_name(case: Case) -> str:
    return case.registry_record or case.secret_name


def _values(case: Case, columns: list[str]) -> list[str]:
    data = case.data
    values = [record_name(case)]
    for key in columns[1:]:
        value = data.get(key, "")
        values.append(value if isinstance(value, str) else ("" if value is None else str(value)))
    return values


def _cases(cases: QuerySet[Case]) -> Iterator[Case]:
    return cases.only("pk", "secret_name", "registry_record", "data").iterator(chunk_size=CHUNK)


def json_chunks(cases: QuerySet[Case], columns: list[str]) -> Iterator[str]:
    """A JSON array of one object per record, a chunk of records per piece."""
    yield "["
    separator = ""
    batch: list[str] = []
    for case in _cases(cases):
        row = dict(zip(columns, _values(case, columns), strict=True))
        batch.append(separator + json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        separator = ","
        if len(batch) == CHUNK:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + "]"


def csv_chunks(cases: QuerySet[Case], columns: list[str], delimiter: str) -> Iterator[str]:
    """CSV with a header line, formula-safe cells, a chunk of records per piece."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(safe_row(columns))
    for count, case in enumerate(_cases(cases), start=1):
        writer.writerow(safe_texts(_values(case, columns)))
        if count % CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def records_response(
    cases: QuerySet[Case], columns: list[str], fmt: str, delimiter: str = ","
) -> StreamingHttpResponse:
    if fmt == "csv":
        return StreamingHttpResponse(csv_chunks(cases, columns, delimiter), content_type=CSV)
    return StreamingHttpResponse(json_chunks(cases, columns), content_type=JSON)
