"""REDCap's error answers: `{"error": "..."}` in JSON, `ERROR: ...` for CSV, `<hash><error>`
for XML, in the format the client asked its answer in (`returnFormat`, else `format`)."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from django.http import HttpResponse

NO_PERMISSION = "You do not have permissions to use the API"


class RedcapError(Exception):
    """A refused request: `message` is sent to the client with HTTP `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Denied(RedcapError):
    """No usable token: REDCap's 403."""

    def __init__(self, message: str = NO_PERMISSION) -> None:
        super().__init__(message, 403)


def error_response(message: str, status: int, answer_format: str = "json") -> HttpResponse:
    """The error in the client's answer format (JSON unless it asked for CSV or XML)."""
    if answer_format == "csv":
        return HttpResponse(f"ERROR: {message}", status=status, content_type=TEXT)
    if answer_format == "xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8" ?>\n'
            f"<hash>\n  <error>{escape(message)}</error>\n</hash>"
        )
        return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")
    body = json.dumps({"error": message}, ensure_ascii=False)
    return HttpResponse(body, status=status, content_type=JSON)


JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
CSV = "text/csv; charset=utf-8"
