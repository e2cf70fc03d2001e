"""One error shape for every refusal of the API (set as REST_FRAMEWORK's EXCEPTION_HANDLER).

    {"code": "...", "message": "...", "errors": {"field": ["..."]}, "warnings": {"field": "..."}}

`errors` and `warnings` are always present (empty when the refusal is not about fields).

| status | code | when |
| --- | --- | --- |
| 400 | bad_request, parse_error | the request is malformed (no `version`, not JSON, ...) |
| 401 | not_authenticated, authentication_failed | no credentials; unknown or revoked token |
| 403 | permission_denied | the user's role or site does not allow it (audited) |
| 404 | not_found | no such case, or one the user may not see (audited) |
| 409 | conflict | `version` is stale: someone saved after you read; nothing was overwritten |
| 409 | refused | the case is not in a state that allows it (e.g. submitting twice) |
| 422 | invalid | values fail the dictionary's checks: per-field `errors`, and soft-range |
|     |         | `warnings` (resend with the field in `confirmed`); nothing was saved |
| 422 | reason_required | the case was submitted: an edit needs a `reason` |
| 422 | quality | on submit, quality rules flag the case: `warnings` per field (rule message |
|     |         | and id); correct the values or send `justifications`, which open queries |
| 423 | locked | the case is locked by a site manager |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from casereports.services import cases as services

SERVICE_STATUS: dict[type[services.CaseServiceError], int] = {
    services.InvalidEntry: status.HTTP_422_UNPROCESSABLE_ENTITY,
    services.QualityCheckFailed: status.HTTP_422_UNPROCESSABLE_ENTITY,
    services.ReasonRequired: status.HTTP_422_UNPROCESSABLE_ENTITY,
    services.StaleVersion: status.HTTP_409_CONFLICT,
    services.CaseLocked: status.HTTP_423_LOCKED,
    services.NotAllowed: status.HTTP_403_FORBIDDEN,
    services.BadCredentials: status.HTTP_403_FORBIDDEN,
}
CODE_STATUS = {"invalid": status.HTTP_422_UNPROCESSABLE_ENTITY}  # e.g. an import's bad option
REFUSED_STATUS = status.HTTP_409_CONFLICT  # any other refused write: the case's state forbids it


def error_body(
    code: str,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    warnings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "errors": dict(errors or {}),
        "warnings": dict(warnings or {}),
    }


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, services.CaseServiceError):
        set_rollback()
        return _service_error(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)  # keeps WWW-Authenticate and Retry-After
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = _api_error(exc)
    return response


def _service_error(exc: services.CaseServiceError) -> Response:
    errors: dict[str, list[str]] = {}
    warnings: dict[str, str] = {}
    if isinstance(exc, services.InvalidEntry):
        errors = {name: list(messages) for name, messages in exc.result.errors.items()}
        warnings = dict(exc.result.warnings)
    elif isinstance(exc, services.ReasonRequired):
        errors = {"reason": [exc.message]}
    elif isinstance(exc, services.QualityCheckFailed):
        warnings = quality_warnings(exc.failing)
    code = exc.code if type(exc) is not services.CaseServiceError else "refused"
    body = error_body(code, exc.message, errors, warnings)
    answer = SERVICE_STATUS.get(type(exc)) or CODE_STATUS.get(exc.code, REFUSED_STATUS)
    return Response(body, status=answer)


def quality_warnings(failing) -> dict[str, str]:
    """Each field a failing rule names -> the rule's message and id (justify by either)."""
    from casereports.quality.messages import rule_message

    warnings: dict[str, str] = {}
    for rule in failing:
        for name in rule.blanks or [rule.rule_id]:
            text = f"{rule_message(rule)} (rule {rule.rule_id})"
            warnings[name] = f"{warnings[name]}; {text}" if name in warnings else text
    return warnings


def _api_error(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return error_body("bad_request", "The request is not valid; see errors.", errors)
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    return error_body(str(code), str(detail))


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": [...]}, nested keys joined with dots."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    name = prefix or "non_field_errors"
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            return {name: [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            for field, messages in flatten_errors(item, f"{name}.{index}").items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {name: [str(detail)]}
