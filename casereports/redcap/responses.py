"""Answers in REDCap's formats: JSON arrays of objects, or CSV with a header line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from django.http import HttpResponse

from casereports.redcap.errors import CSV, JSON


def rows_response(rows: Sequence[dict[str, object]], keys: Sequence[str], fmt: str) -> HttpResponse:
    """`rows` as a JSON array, or as CSV with `keys` as its header (REDCap's `\\n` line ends)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([[row.get(key, "") for key in keys] for row in rows])
        return HttpResponse(out.getvalue(), content_type=CSV)
    return json_response(list(rows))


def json_response(value: object, status: int = 200) -> HttpResponse:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body, status=status, content_type=JSON)
