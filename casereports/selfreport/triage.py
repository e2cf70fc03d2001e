"""Triage of the patients' own reports (staff): accept, mark duplicate of another case, or mark
spam. Central data managers see every site's; a site manager sees their site's link's.

Decided: a report marked duplicate or spam never leaves the platform (exports, feeds,
dashboards: `Case.objects.shareable()`); a new report counts like an accepted one, so that
the pooled data does not wait for the central team.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from casereports import access
from casereports.audit import context_for
from casereports.models import Case, CaseStatus
from casereports.selfreport import services
from casereports.selfreport.models import TriageStatus
from casereports.services import cases as case_services

PAGE_SIZE = 25


@login_required
@require_http_methods(["GET"])
def triage_list(request: HttpRequest) -> HttpResponse:
    if not access.has_permission(request.user, access.TRIAGE_REPORTS):
        case_services.record_denial(context_for(request), "open patient report triage")
        raise PermissionDenied(_("Your role does not triage patients' reports."))
    status = request.GET.get("status", TriageStatus.NEW)
    if status not in TriageStatus.values and status != "all":
        status = TriageStatus.NEW
    reports = (
        access.triage_cases(request.user)
        .exclude(status=CaseStatus.DRAFT)
        .select_related("site", "patient_report", "patient_report__duplicate_of")
        .order_by("-submitted_at", "-id")
    )
    if status != "all":
        reports = reports.filter(patient_report__triage=status)
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": [*TriageStatus.choices, ("all", _("All"))],
        "choices": TriageStatus.choices,
    }
    return render(request, "selfreport/triage.html", context)


@login_required
@require_POST
def triage_one(request: HttpRequest, secret_name: str) -> HttpResponse:
    case = (
        access.triage_cases(request.user)
        .select_related("site")
        .filter(secret_name=secret_name)
        .first()
    )
    if case is None:
        target = Case.objects.filter(secret_name=secret_name[:40]).first()
        case_services.record_denial(context_for(request), "triage patient report", case=target)
        if target is not None and access.can_view_case(request.user, target):
            raise PermissionDenied(_("Your role does not triage patients' reports."))
        raise Http404(_("No patient report of that name is open to you."))
    try:
        services.triage_report(
            context_for(request),
            case,
            request.POST.get("decision", ""),
            duplicate_of=request.POST.get("duplicate_of", ""),
        )
    except case_services.NotAllowed as refused:
        raise PermissionDenied(refused.message) from refused
    except case_services.CaseServiceError as refused:
        messages.error(request, f"{case.secret_name}: {refused.message}")
    else:
        label = dict(TriageStatus.choices)[request.POST["decision"]]
        messages.success(
            request, _("%(name)s marked: %(status)s.") % {"name": case.secret_name, "status": label}
        )
    back = request.POST.get("back", TriageStatus.NEW)
    return redirect(
        f"{reverse('cases:triage')}?status={back if back in TriageStatus.values else 'all'}"
    )
