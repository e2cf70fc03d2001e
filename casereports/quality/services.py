"""Every step of a query: open, answer, close, reopen. Each checks the actor's rights through
`casereports.access`, writes the query and its step, and appends the audit event, in one
transaction. Nothing is ever deleted; a closed query can be reopened.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.dictionary.model import QualityRule
from casereports.models import Case
from casereports.quality.messages import field_labels, rule_message
from casereports.quality.models import Query, QueryStatus, QueryStep, ResponseCategory
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from casereports.services.dictionaries import dictionary_of_case

TEXT_LIMIT = 4000


class QueryRefused(CaseServiceError):
    """The query's state does not allow the step; `message` says why."""


class InvalidQuery(QueryRefused):
    code = "invalid"


def _text(text: str, what: str, *, required: bool = True) -> str:
    text = (text or "").strip()
    if required and not text:
        raise InvalidQuery(f"Write {what}.")
    if len(text) > TEXT_LIMIT:
        raise InvalidQuery(f"Keep {what} under {TEXT_LIMIT} characters.")
    return text


def _deny(context: AuditContext, case: Case, what: str) -> NotAllowed:
    record_denial(context, what, case=case)
    return NotAllowed("You cannot do this with queries on this case.")


def _step(query: Query, kind: str, context: AuditContext, **fields) -> QueryStep:
    return QueryStep.objects.create(query=query, kind=kind, by=context.user, **fields)


def _audit(context: AuditContext, action: str, query: Query, **details) -> None:
    record_event(
        context,
        action,
        case=query.case,
        details={"query": query.pk, "field": query.field, "rule": query.rule_id, **details},
    )


def open_query(context: AuditContext, case: Case, *, field: str, message: str) -> Query:
    """A person asks about one field of the case."""
    if not access.can_manage_queries(context.user, case):
        raise _deny(context, case, "open query")
    message = _text(message, "the question")
    if field not in dictionary_of_case(case):
        raise InvalidQuery(f"The case has no field {field!r}.")
    with transaction.atomic():
        query = Query.objects.create(
            case=case, field=field, message=message, opened_by=context.user
        )
        _step(query, QueryStep.Kind.OPENED, context, text=message)
        _audit(context, "query.opened", query, message=message)
    return query


def open_rule_query(
    context: AuditContext, case: Case, rule: QualityRule, justification: str
) -> Query:
    """A clinician confirmed a value a quality rule flags, with a justification: the query is
    opened for the central team to review (call it inside the submit's transaction)."""
    field = rule.blanks[0] if rule.blanks else ""
    labels = field_labels(dictionary_of_case(case).fields)  # the words the form page showed
    query = Query.objects.create(
        case=case, field=field, rule_id=rule.rule_id, message=rule_message(rule, labels),
        opened_by=context.user,
    )  # fmt: skip
    _step(
        query,
        QueryStep.Kind.OPENED,
        context,
        category=ResponseCategory.CONFIRMED,
        text=justification,
        case_version=case.version,
    )
    _audit(context, "query.opened", query, justification=justification, automatic=True)
    return query


def answer_query(
    context: AuditContext,
    query: Query,
    *,
    category: str,
    text: str,
    case_version: int | None = None,
) -> Query:
    """An answer: corrected (with the case's version after the correction), confirmed as
    correct, cannot be obtained, or other; with words."""
    if not access.can_answer_query(context.user, query.case):
        raise _deny(context, query.case, "answer query")
    if category not in ResponseCategory.values:
        raise InvalidQuery(f"category must be one of: {', '.join(ResponseCategory.values)}")
    text = _text(text, "the answer")
    with transaction.atomic():
        query = _locked(query)
        if query.status == QueryStatus.CLOSED:
            raise QueryRefused("This query is closed; reopen it to answer again.")
        query.status = QueryStatus.ANSWERED
        query.save(update_fields=["status", "updated_at"])
        _step(query, QueryStep.Kind.ANSWERED, context, category=category, text=text,
              case_version=case_version)  # fmt: skip
        _audit(context, "query.answered", query, category=category, text=text,
               case_version=case_version)  # fmt: skip
    return query


def close_query(context: AuditContext, query: Query, *, text: str = "") -> Query:
    if not access.can_manage_queries(context.user, query.case):
        raise _deny(context, query.case, "close query")
    text = _text(text, "a note", required=False)
    with transaction.atomic():
        query = _locked(query)
        if query.status == QueryStatus.CLOSED:
            raise QueryRefused("This query is already closed.")
        query.status = QueryStatus.CLOSED
        query.closed_at = timezone.now()
        query.save(update_fields=["status", "closed_at", "updated_at"])
        _step(query, QueryStep.Kind.CLOSED, context, text=text)
        _audit(context, "query.closed", query, text=text)
    return query


def reopen_query(context: AuditContext, query: Query, *, text: str) -> Query:
    if not access.can_manage_queries(context.user, query.case):
        raise _deny(context, query.case, "reopen query")
    text = _text(text, "why it is reopened")
    with transaction.atomic():
        query = _locked(query)
        if query.status != QueryStatus.CLOSED:
            raise QueryRefused("Only a closed query can be reopened.")
        query.status = QueryStatus.OPEN
        query.closed_at = None
        query.save(update_fields=["status", "closed_at", "updated_at"])
        _step(query, QueryStep.Kind.REOPENED, context, text=text)
        _audit(context, "query.reopened", query, text=text)
    return query


def _locked(query: Query) -> Query:
    return (
        Query.objects.select_for_update(of=("self",)).select_related("case__site").get(pk=query.pk)
    )
