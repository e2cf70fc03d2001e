"""A site manager's pages: their site's members, and their site's audit trail as CSV.

Writes go through `casereports.services.members`; who may manage which site is decided by
`casereports.access.managed_sites`. Everyone else gets a 403, and the attempt is on record.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from casereports import access
from casereports.audit import AuditContext, context_for, record_event
from casereports.csvsafe import safe_row
from casereports.models import AuditEvent, Membership, Site
from casereports.roles import ROLES
from casereports.services import members as member_services
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial

AUDIT_COLUMNS = (
    "id",
    "at",
    "action",
    "actor",
    "role",
    "site",
    "case",
    "channel",
    "request_id",
    "ip",
    "details",
)
AUDIT_CHUNK = 2000


# --- members -------------------------------------------------------------------------------


def _role_field() -> forms.CharField:
    # A CharField, not a ChoiceField: a role outside the list reaches the service, which
    # refuses it and records the attempt.
    return forms.CharField(
        label=gettext_lazy("Role"),
        max_length=32,
        widget=forms.Select(choices=member_services.grantable_role_choices()),
    )


class AddMemberForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    role = _role_field()


class CreateMemberForm(AddMemberForm):
    email = forms.EmailField(label=gettext_lazy("Email (optional)"), required=False)


class ChangeRoleForm(forms.Form):
    membership = forms.IntegerField(widget=forms.HiddenInput)
    role = _role_field()


class RemoveMemberForm(forms.Form):
    membership = forms.IntegerField(widget=forms.HiddenInput)


ACTION_FORMS = {
    "add": AddMemberForm,
    "create": CreateMemberForm,
    "change": ChangeRoleForm,
    "remove": RemoveMemberForm,
}


def _managed_site(request: HttpRequest, code: str, what: str, *, default_first: bool) -> Site:
    """The managed site named by `code`; with no code, the first managed site when
    `default_first`, else the only one."""
    context = context_for(request)
    managed = list(access.managed_sites(request.user))
    site = next((s for s in managed if s.code == code), None)
    if site is None and not code and (len(managed) == 1 or (managed and default_first)):
        site = managed[0]
    if site is None:
        target = Site.objects.filter(code=code[:32]).first() if code else None
        record_denial(context, what, site=target)
        raise PermissionDenied(_("Only a site manager can do this, and only for their own site."))
    return site


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    site = _managed_site(request, source.get("site", ""), "manage members", default_first=True)
    if request.method == "GET":
        return _members_page(request, site)
    action = request.POST.get("action", "")
    form_class = ACTION_FORMS.get(action)
    if form_class is None:
        error = _("Unknown action '%(action)s'.") % {"action": action[:20]}
        return _members_page(request, site, error=error, status=400)
    form = form_class(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
        return _members_page(request, site, error=problems, status=400, typed=form)
    try:
        return _apply(request, site, action, form.cleaned_data)
    except NotAllowed as refused:
        return _members_page(request, site, error=refused.message, status=403, typed=form)
    except CaseServiceError as refused:
        return _members_page(request, site, error=refused.message, status=400, typed=form)


def _apply(request: HttpRequest, site: Site, action: str, data: dict) -> HttpResponse:
    context = context_for(request)
    if action == "create":
        created = member_services.create_member(
            context, site, data["username"], data["role"], email=data.get("email", "")
        )
        response = _members_page(request, site, new_member=created)
        add_never_cache_headers(response)  # the temporary password must not be kept anywhere
        return response
    if action == "add":
        membership = member_services.add_member(context, site, data["username"], data["role"])
        done = _("%(username)s is now %(role)s at %(site)s.") % {
            "username": membership.user.get_username(),
            "role": _label(membership.role),
            "site": site.code,
        }
    else:
        membership = _membership(data["membership"])
        if action == "change":
            membership = member_services.change_role(context, membership, data["role"])
            done = _("%(username)s is now %(role)s.") % {
                "username": membership.user.get_username(),
                "role": _label(membership.role),
            }
        else:
            member_services.remove_member(context, membership)
            done = _("%(username)s is no longer %(role)s.") % {
                "username": membership.user.get_username(),
                "role": _label(membership.role),
            }
    messages.success(request, done)
    return redirect(f"{reverse('cases:members')}?site={site.code}")


def _membership(pk: int) -> Membership:
    membership = Membership.objects.select_related("user", "site").filter(pk=pk).first()
    if membership is None:
        raise member_services.MemberError(_("That membership no longer exists; reload the page."))
    return membership


def _label(role: str) -> str:
    return ROLES[role].label.lower() if role in ROLES else role


def _members_page(
    request: HttpRequest,
    site: Site,
    *,
    error: str = "",
    status: int = 200,
    new_member: member_services.NewMember | None = None,
    typed: forms.Form | None = None,
) -> HttpResponse:
    """The members page; `typed` is a refused add or create form, shown again as typed."""
    rows = [
        {
            "membership": membership,
            "role_label": ROLES[membership.role].label
            if membership.role in ROLES
            else membership.role,
            "managed_here": membership.role in member_services.GRANTABLE_ROLES,
            "is_self": membership.user_id == request.user.pk,
        }
        for membership in member_services.site_members(site)
    ]
    return render(
        request,
        "cases/members.html",
        {
            "site": site,
            "sites": list(access.managed_sites(request.user)),
            "rows": rows,
            "roles": member_services.grantable_role_choices(),
            "add_form": typed if type(typed) is AddMemberForm else AddMemberForm(),
            "create_form": typed if type(typed) is CreateMemberForm else CreateMemberForm(),
            "error": error,
            "new_member": new_member,
        },
        status=status,
    )


# --- the audit trail as CSV ----------------------------------------------------------------


class _Echo:
    """A file-like object that hands back what csv.writer writes, for streaming."""

    def write(self, value: str) -> str:
        return value


def audit_rows(site: Site, *, up_to: int) -> Iterator[str]:
    """The CSV lines of the site's events (oldest first, up to event `up_to`), each cell safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow(AUDIT_COLUMNS)
    events = AuditEvent.objects.filter(site_id=site.pk, id__lte=up_to).order_by("id")
    for event in events.iterator(chunk_size=AUDIT_CHUNK):
        yield writer.writerow(safe_row(_audit_cells(event)))


def _audit_cells(event: AuditEvent) -> list[object]:
    return [
        event.pk,
        event.at.astimezone(UTC).isoformat(),
        event.action,
        event.actor_username,
        event.role,
        event.site_code,
        event.case_secret_name,
        event.channel,
        event.request_id,
        event.ip or "",
        json.dumps(event.details, sort_keys=True, ensure_ascii=False),
    ]


def _record_export(context: AuditContext, site: Site) -> AuditEvent:
    with transaction.atomic():
        return record_event(
            context, "audit.exported", site=site, details={"format": "csv", "what": "audit trail"}
        )


@login_required
@require_GET
def audit_csv(request: HttpRequest) -> HttpResponse:
    code = request.GET.get("site", "")
    if not code and access.managed_sites(request.user).count() > 1:
        return HttpResponse(
            _("site: choose the site whose audit trail to export (?site=<code>)."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    site = _managed_site(request, code, "export audit trail", default_first=False)
    export = _record_export(context_for(request), site)
    response = StreamingHttpResponse(
        audit_rows(site, up_to=export.pk), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{site.code}-{stamp}.csv"'
    add_never_cache_headers(response)
    return response
