"""The quality page (namespace `quality`, mounted at /quality/): per site and per rule the cases
that fail, the open queries by age with time to close, and the queries themselves, to answer,
close or reopen where they are listed; a CSV of the queries (formula-safe, audited).

It starts from `casereports.access` (the cases and queries the user may read); every step goes
through `casereports.quality.services`.
"""

from __future__ import annotations

import csv
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from casereports import access
from casereports.audit import context_for, record_event
from casereports.csvsafe import safe_row
from casereports.models import Case
from casereports.quality import services
from casereports.quality.models import Query, QueryStatus, ResponseCategory
from casereports.services.cases import CaseServiceError, record_denial

AGE_BUCKETS = ((7, "under 7 days"), (30, "7 to 30 days"), (None, "over 30 days"))
QUERIES_SHOWN = 100


def _cases(request: HttpRequest) -> QuerySet[Case]:
    if not access.has_permission(request.user, access.VIEW_CASES):
        record_denial(context_for(request), "open the quality page")
        raise PermissionDenied(_("The quality page is for those who read cases."))
    cases = Case.objects.visible_to(request.user)
    site = request.GET.get("site", "")
    return cases.filter(site__code=site) if site else cases


def _queries(request: HttpRequest, cases: QuerySet[Case]) -> QuerySet[Query]:
    queries = access.visible_queries(request.user).filter(case__in=cases)
    status = request.GET.get("status", "")
    if status in QueryStatus.values:
        queries = queries.filter(status=status)
    return queries


@login_required
@require_GET
def quality_page(request: HttpRequest) -> HttpResponse:
    cases = _cases(request)
    queries = _queries(request, cases)
    open_queries = queries.exclude(status=QueryStatus.CLOSED)
    return render(
        request,
        "quality/page.html",
        {
            "sites": per_site(cases),
            "rules": per_rule(cases),
            "ages": by_age(open_queries),
            "time_to_close": time_to_close(queries),
            "queries": open_queries.select_related("case__site", "opened_by").order_by("opened_at")[
                :QUERIES_SHOWN
            ],
            "categories": ResponseCategory.choices,
            "site": request.GET.get("site", ""),
            "site_codes": visible_site_codes(request.user),
        },
    )


def visible_site_codes(user) -> list[str]:
    """The codes of the sites whose cases the user reads (for the site filter)."""
    cases = Case.objects.visible_to(user).order_by()
    return sorted(cases.values_list("site__code", flat=True).distinct())


def per_site(cases: QuerySet[Case]) -> list[dict]:
    """Cases per site and quality status (one GROUP BY)."""
    rows = cases.order_by().values("site__code", "quality_status").annotate(n=Count("pk"))
    sites: dict[str, dict] = {}
    for row in rows:
        site = sites.setdefault(row["site__code"], {"site__code": row["site__code"]})
        site[row["quality_status"] or "unchecked"] = row["n"]
    return [sites[code] for code in sorted(sites)]


def per_rule(cases: QuerySet[Case]) -> list[tuple[str, int]]:
    """Cases per rule they fail (justified or not): one query over the failures cases keep."""
    flagged = cases.filter(quality_status__in=["fail", "justified"])
    ids_sql, params = flagged.values("pk").query.sql_with_params()
    table = Case._meta.db_table
    if connection.vendor == "postgresql":
        statement = (
            f"SELECT f->>'rule', COUNT(*) FROM {table} c, "
            "jsonb_array_elements(c.quality_failures) f "
            f"WHERE c.id IN ({ids_sql}) GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    else:
        statement = (
            f"SELECT json_extract(f.value, '$.rule'), COUNT(*) FROM {table} c, "
            "json_each(c.quality_failures) f "
            f"WHERE c.id IN ({ids_sql}) GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [(rule, count) for rule, count in cursor.fetchall()]


def by_age(open_queries: QuerySet[Query]) -> list[tuple[str, int]]:
    now = timezone.now()
    result, newer_than = [], now
    for days, label in AGE_BUCKETS:
        older = open_queries.filter(opened_at__lte=newer_than)
        if days is not None:
            older = older.filter(opened_at__gt=now - timedelta(days=days))
            newer_than = now - timedelta(days=days)
        result.append((_(label), older.count()))
    return result


def time_to_close(queries: QuerySet[Query]) -> str:
    closed = queries.filter(closed_at__isnull=False).values_list("opened_at", "closed_at")
    spans = [end - start for start, end in closed]
    if not spans:
        return ""
    mean = sum(spans, timedelta()) / len(spans)
    return _("%(days).1f days on average, over %(count)d closed queries") % {
        "days": mean.total_seconds() / 86400,
        "count": len(spans),
    }


@login_required
@require_GET
def queries_csv(request: HttpRequest) -> HttpResponse:
    queries = _queries(request, _cases(request)).select_related("case__site", "opened_by")
    with transaction.atomic():
        record_event(context_for(request), "quality.queries_exported", details={
            "site": request.GET.get("site", ""), "status": request.GET.get("status", ""),
            "rows": queries.count(),
        })  # fmt: skip
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="queries.csv"'
    writer = csv.writer(response)
    writer.writerow(["query", "site", "case", "field", "rule", "status", "opened", "closed",
                     "question"])  # fmt: skip
    for query in queries.order_by("opened_at").iterator(chunk_size=1000):
        writer.writerow(
            safe_row(
                [
                    query.pk,
                    query.case.site.code,
                    query.case.secret_name,
                    query.field,
                    query.rule_id,
                    query.status,
                    query.opened_at.isoformat(timespec="seconds"),
                    query.closed_at.isoformat(timespec="seconds") if query.closed_at else "",
                    query.message,
                ]
            )
        )
    return response


@login_required
@require_POST
def query_step(request: HttpRequest, query_id: int, step: str) -> HttpResponse:
    """Answer, close (answer-and-close when an answer is given) or reopen, from the page."""
    query = access.visible_queries(request.user).select_related("case").filter(pk=query_id).first()
    if query is None:
        record_denial(context_for(request), f"{step} query #{query_id}")
        raise Http404
    context = context_for(request)
    text = request.POST.get("text", "")
    try:
        if step == "answer":
            services.answer_query(
                context, query, category=request.POST.get("category", ""), text=text
            )
        elif step == "close":
            if text.strip() and request.POST.get("category"):
                services.answer_query(context, query, category=request.POST["category"], text=text)
            services.close_query(context, query, text=text)
        elif step == "reopen":
            services.reopen_query(context, query, text=text)
        else:
            raise Http404
    except CaseServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("Query #%(number)s: done.") % {"number": query.pk})
    return redirect(request.POST.get("next") or "quality:page")
