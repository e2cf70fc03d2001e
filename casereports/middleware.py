"""Gives every request an id, for the audit trail and the response's `X-Request-ID` header."""

import re

from casereports.audit import new_request_id

_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request.request_id = offered if _ACCEPTED_ID.match(offered) else new_request_id()
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
