"""Case pages: the site-scoped list, a case's data and its history, locking and unlocking.

Every query starts from `Case.objects.visible_to(user)`; every write goes through
`casereports.services.cases`. A case the user may not see is a 404 (so its name is not
confirmed), and the attempt is on record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case as CaseWhen
from django.db.models import F, IntegerField, QuerySet, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_GET, require_http_methods

from casereports import access, entry
from casereports.audit import context_for
from casereports.dictionary import DataDictionary
from casereports.dictionary.model import Field
from casereports.forms import form_title
from casereports.i18n.texts import texts_for
from casereports.models import AuditEvent, Case, CaseStatus, DictionaryVersion, Site
from casereports.roles import ROLES
from casereports.services import cases as services
from casereports.services.dictionaries import dictionary_of
from casereports.textlayers import Texts
from casereports.views.lookup import SECRET_NAME_MAX, visible_case

PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 25
COMPLETENESS_CHOICES = [
    (entry.NOT_STARTED, gettext_lazy("Not started")),
    (entry.IN_PROGRESS, gettext_lazy("In progress")),
    (entry.COMPLETE, gettext_lazy("Complete")),
]
QUALITY_CHOICES = [
    ("pass", gettext_lazy("Passes the quality rules")),
    ("fail", gettext_lazy("Fails a quality rule")),
    ("justified", gettext_lazy("Justified (flagged values confirmed)")),
]
QUALITY_LABELS = dict(QUALITY_CHOICES)
# The stored completeness words themselves: the templates translate them as they show them.
COMPLETENESS_WORDS = (
    gettext_noop("not started"),
    gettext_noop("in progress"),
    gettext_noop("complete"),
)
STATUS_ORDER = CaseWhen(
    When(status=CaseStatus.DRAFT, then=Value(0)),
    When(status=CaseStatus.SUBMITTED, then=Value(1)),
    When(status=CaseStatus.LOCKED, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
SORTS = {  # the only orderings a request may ask for
    "secret_name": "secret_name",
    "status": "status_order",
    "updated": "updated_at",
    "reported": "reported",
}
SORT_CHOICES = [(key, key) for key in SORTS] + [(f"-{key}", f"-{key}") for key in SORTS]
DEFAULT_SORT = "-updated"
DATE_HELP = gettext_lazy("enter a date as YYYY-MM-DD, for example 2020-04-30")


# --- the case list -------------------------------------------------------------------------


class CaseFilterForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Secret name"), required=False, max_length=SECRET_NAME_MAX
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *CaseStatus.choices],
    )
    completeness = forms.ChoiceField(
        label=gettext_lazy("Completeness"),
        required=False,
        choices=[("", gettext_lazy("Any completeness")), *COMPLETENESS_CHOICES],
    )
    quality = forms.ChoiceField(
        label=gettext_lazy("Quality"),
        required=False,
        choices=[("", gettext_lazy("Any quality")), *QUALITY_CHOICES],
    )
    reported_from = forms.DateField(
        label=gettext_lazy("Date reported from"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": DATE_HELP},
    )
    reported_to = forms.DateField(
        label=gettext_lazy("Date reported to"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": DATE_HELP},
    )
    site = forms.ChoiceField(label=gettext_lazy("Site"), required=False)
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort"),
        required=False,
        choices=SORT_CHOICES,
        error_messages={
            "invalid_choice": gettext_lazy("'%(value)s' is not a sort order this list offers")
        },
    )

    def __init__(self, data, *, sites: list[Site]) -> None:
        super().__init__(data)
        if len(sites) > 1:
            self.fields["site"].choices = [("", _("All sites"))] + [
                (site.code, f"{site.code} ({site.name})") for site in sites
            ]
        else:
            del self.fields["site"]
        for bound in self.fields.values():
            css = "form-select" if isinstance(bound.widget, forms.Select) else "form-control"
            bound.widget.attrs["class"] = f"{css} {css}-sm"

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("reported_from"), cleaned.get("reported_to")
        if start and end and end < start:
            self.add_error("reported_to", _("must not be before Date reported from"))
        return cleaned


def reporting_date_field() -> str | None:
    """The field that holds the date of the report: the one tagged @TODAY."""
    version = DictionaryVersion.objects.current()
    if version is None:
        return None
    return next((f.name for f in dictionary_of(version).fields if "@TODAY" in f.action_tags), None)


def _sites_seen_by(user) -> list[Site]:
    if access.sees_all_sites(user):
        return list(Site.objects.all())
    return list(Site.objects.filter(pk__in=access.site_ids_with(user, access.VIEW_CASES)))


def _filtered_cases(user, filters: dict, date_field: str | None) -> QuerySet[Case]:
    cases = Case.objects.visible_to(user).select_related("site")
    cases = cases.annotate(
        status_order=STATUS_ORDER,
        # Cast: plain text comparisons (a JSON key's own lookups would compare JSON values).
        reported=Cast(KeyTextTransform(date_field, "data"), TextField())
        if date_field
        else Value(""),
    )
    if filters.get("q"):
        cases = cases.filter(secret_name__icontains=filters["q"].strip())
    if filters.get("status"):
        cases = cases.filter(status=filters["status"])
    if filters.get("completeness"):
        cases = cases.filter(completeness=filters["completeness"])
    if filters.get("quality"):
        cases = cases.filter(quality_status=filters["quality"])
    if filters.get("site"):
        cases = cases.filter(site__code=filters["site"])  # narrows the visible cases only
    start, end = filters.get("reported_from"), filters.get("reported_to")
    if start or end:
        cases = cases.filter(reported__gt="")  # ISO dates compare as text
    if start:
        cases = cases.filter(reported__gte=start.isoformat())
    if end:
        cases = cases.filter(reported__lt=(end + timedelta(days=1)).isoformat())
    return _sorted(cases, filters.get("sort") or DEFAULT_SORT)


def _sorted(cases: QuerySet[Case], sort: str) -> QuerySet[Case]:
    descending = sort.startswith("-")
    column = F(SORTS[sort.lstrip("-")])
    ordering = column.desc(nulls_last=True) if descending else column.asc(nulls_first=True)
    return cases.order_by(ordering, "-id" if descending else "id")


@dataclass(frozen=True)
class SortColumn:
    label: str
    next_sort: str  # the sort a click on the header asks for
    arrow: str


def sort_columns(current: str, *, with_date: bool) -> dict[str, SortColumn]:
    """Header links: a click sorts by that column, a second click reverses it."""
    labels = {
        "secret_name": _("Secret name"),
        "status": _("Status"),
        "updated": _("Last updated"),
    }
    if with_date:
        labels["reported"] = _("Date reported")
    columns = {}
    for key, label in labels.items():
        if current == key:
            columns[key] = SortColumn(label, f"-{key}", "▲")
        elif current == f"-{key}":
            columns[key] = SortColumn(label, key, "▼")
        else:
            columns[key] = SortColumn(label, key, "")
    return columns


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not access.has_permission(user, access.VIEW_CASES):
        services.record_denial(context_for(request), "case list")
        raise PermissionDenied(_("Your role gives no access to case reports."))
    sites = _sites_seen_by(user)
    form = CaseFilterForm(request.GET or None, sites=sites)
    filters: dict = {}
    if form.is_bound:
        form.is_valid()  # the valid filters apply; the invalid ones are reported
        filters = form.cleaned_data
    date_field = reporting_date_field()
    page = Paginator(_filtered_cases(user, filters, date_field), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    sort = filters.get("sort") or DEFAULT_SORT
    return render(
        request,
        "cases/list.html",
        {
            "form": form,
            "page_obj": page,
            "sort": sort,
            "columns": sort_columns(sort, with_date=date_field is not None),
            "show_site": len(sites) > 1,
            "entry_sites": list(access.entry_sites(user)),
            "has_date_field": date_field is not None,
            "queries_waiting": access.queries_waiting_for(user).count(),
        },
    )


# --- one case --------------------------------------------------------------------------------


@dataclass
class DataRow:
    label: str
    value: str


@dataclass
class Section:
    header: str
    rows: list[DataRow] = field(default_factory=list)


@dataclass
class FormSummary:
    name: str
    title: str
    status: str
    sections: list[Section] = field(default_factory=list)
    edit_url: str = ""


def _displayed(f: Field, values: dict[str, str]) -> bool:
    return f.field_type != "descriptive" and not f.is_hidden and entry.is_shown(f, values)


def form_sections(
    dictionary: DataDictionary, form: str, values: dict[str, str], texts: Texts
) -> list[Section]:
    """The form's shown fields, readable in the reader's language, grouped under their section
    headers (a header opens a section that runs to the next header, as in REDCap)."""
    sections = [Section("")]
    for f in dictionary.fields:
        if f.form != form:
            continue
        if f.section_header:
            sections.append(Section(texts.section_header(f)))
        if _displayed(f, values):
            sections[-1].rows.append(
                DataRow(texts.label(f), entry.readable_value(f, values, texts))
            )
    return [section for section in sections if section.rows]


def form_summaries(dictionary: DataDictionary, case: Case, *, editable: bool) -> list[FormSummary]:
    """Each entry form with its status and the values branching shows, as a person reads them."""
    return [
        FormSummary(
            name=form,
            title=texts_for(case.dictionary_version).form_title(form),
            status=case.form_statuses.get(form, entry.NOT_STARTED),
            sections=form_sections(dictionary, form, case.data, texts_for(case.dictionary_version)),
            edit_url=reverse("cases:form", args=[case.secret_name, form]) if editable else "",
        )
        for form in entry.entry_forms(dictionary)
    ]


def resume_url(case: Case, forms: list[str]) -> str:
    """Where a draft continues: the entry views decide when they can, else the last form."""
    from casereports.views import entry as entry_views

    resume = getattr(entry_views, "resume_form", None)
    form = resume(case) if resume is not None else (case.last_form or (forms[0] if forms else ""))
    return reverse("cases:form", args=[case.secret_name, form]) if form else ""


@login_required
@require_GET
def case_detail(request: HttpRequest, secret_name: str) -> HttpResponse:
    case = visible_case(request, secret_name, "view case")
    services.record_case_view(context_for(request), case)
    dictionary = dictionary_of(case.dictionary_version)
    editable = access.can_edit_case(request.user, case) and not case.is_locked
    forms_ = form_summaries(dictionary, case, editable=editable)
    is_draft = case.status == CaseStatus.DRAFT
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "tab": "data",
            "forms": forms_,
            "editable": editable,
            "continue_url": resume_url(case, [f.name for f in forms_])
            if editable and is_draft
            else "",
            "can_submit": editable and is_draft,
            "quality": quality_summary(case, dictionary),
            **_lock_buttons(request.user, case),
        },
    )


def quality_summary(case: Case, dictionary: DataDictionary) -> dict[str, object]:
    """The case's quality status, the rules it fails (by their words) and its queries."""
    from casereports.quality.messages import rule_message
    from casereports.services.dictionaries import quality_rules_of_case

    rules = {rule.rule_id: rule for rule in quality_rules_of_case(case)}
    failing = [
        {
            "rule": item["rule"],
            "message": rule_message(rules[item["rule"]]) if item["rule"] in rules else item["rule"],
            "fields": [dictionary.field(n).label if n in dictionary else n for n in item["fields"]],
            "justified": item["rule"] in case.justified_rules,
        }
        for item in case.quality_failures
    ]
    return {
        "status": case.quality_status,
        "status_label": QUALITY_LABELS.get(case.quality_status, ""),
        "failing": failing,
        "queries": list(case.queries.select_related("opened_by").order_by("-opened_at")),
    }


def _lock_buttons(user, case: Case) -> dict[str, bool]:
    can_lock = access.can_lock_case(user, case)
    return {
        "can_lock": can_lock and case.status == CaseStatus.SUBMITTED,
        "can_unlock": can_lock and case.status == CaseStatus.LOCKED,
    }


# --- history --------------------------------------------------------------------------------

ACTION_WORDS = {
    "case.created": gettext_lazy("Created the case"),
    "case.changed": gettext_lazy("Changed data"),
    "case.submitted": gettext_lazy("Submitted the case"),
    "case.locked": gettext_lazy("Locked the case (signed with their password)"),
    "case.unlocked": gettext_lazy("Unlocked the case (signed with their password)"),
    "permission.denied": gettext_lazy("Was refused access"),
}
CHECKED, UNCHECKED = gettext_lazy("Ticked"), gettext_lazy("Not ticked")


@dataclass
class ChangeRow:
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    event: AuditEvent
    when: str
    action: str
    role: str = ""
    reason: str = ""
    changes: list[ChangeRow] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def describe_action(event: AuditEvent) -> str:
    details = event.details or {}
    if event.action == "case.viewed":
        return _("Viewed the %(what)s") % {"what": details.get("what") or _("case page")}
    if event.action == "case.changed" and details.get("form"):
        return _("Changed data on %(form)s") % {"form": form_title(details["form"])}
    if event.action == "permission.denied" and details.get("attempted"):
        return _("Was refused: %(attempted)s") % {"attempted": details["attempted"]}
    return str(ACTION_WORDS.get(event.action, event.action))


def role_labels(codes: str) -> str:
    """An event's role codes ("clinician,site_manager") as people name them."""
    return ", ".join(
        str(ROLES[code].label) if code in ROLES else code for code in codes.split(",") if code
    )


def readable_change(dictionary: DataDictionary, key: str, old: str, new: str) -> ChangeRow:
    """A changed storage key as a person reads it: the field's label, choice labels for values."""
    name, _sep, option = key.partition("___")
    if name not in dictionary:
        return ChangeRow(key, old, new)
    f = dictionary.field(name)
    if option:
        option_label = dict(f.choices).get(option, option)
        return ChangeRow(
            f"{f.label}: {option_label}",
            str(CHECKED if old == "1" else UNCHECKED),
            str(CHECKED if new == "1" else UNCHECKED),
        )
    return ChangeRow(
        f.label, entry.readable_value(f, {name: old}), entry.readable_value(f, {name: new})
    )


def _field_label(dictionary: DataDictionary, name: str) -> str:
    return dictionary.field(name).label if name in dictionary else name


def history_entry(dictionary: DataDictionary, event: AuditEvent) -> HistoryEntry:
    details = event.details or {}
    return HistoryEntry(
        event=event,
        when=event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        action=describe_action(event),
        role=role_labels(event.role),
        reason=str(details.get("reason") or ""),
        changes=[
            readable_change(dictionary, c["field"], c.get("old", ""), c.get("new", ""))
            for c in details.get("changes", [])
        ],
        cleared=[
            _field_label(dictionary, name) for name in details.get("cleared_by_branching", [])
        ],
    )


@login_required
@require_GET
def case_history(request: HttpRequest, secret_name: str) -> HttpResponse:
    case = visible_case(request, secret_name, "view case history")
    services.record_case_view(context_for(request), case, what="history")
    dictionary = dictionary_of(case.dictionary_version)
    events = AuditEvent.objects.filter(case=case).order_by("-id")
    page = Paginator(events, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/history.html",
        {
            "case": case,
            "tab": "history",
            "page_obj": page,
            "entries": [history_entry(dictionary, event) for event in page],
        },
    )


# --- lock and unlock ------------------------------------------------------------------------


class LockForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password", "class": "form-control"}
        ),
        help_text=gettext_lazy("Entering your password signs this action electronically."),
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class UnlockForm(LockForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason for unlocking"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
    )
    field_order = ["reason", "password", "expected_version"]


@login_required
@require_http_methods(["GET", "POST"])
def lock(request: HttpRequest, secret_name: str) -> HttpResponse:
    return _lock_page(request, secret_name, locking=True)


@login_required
@require_http_methods(["GET", "POST"])
def unlock(request: HttpRequest, secret_name: str) -> HttpResponse:
    return _lock_page(request, secret_name, locking=False)


def _lock_page(request: HttpRequest, secret_name: str, *, locking: bool) -> HttpResponse:
    what = "lock case" if locking else "unlock case"
    case = visible_case(request, secret_name, what)
    if not access.can_lock_case(request.user, case):
        services.record_denial(context_for(request), what, case=case)
        raise PermissionDenied(_("Only a site manager of this site can lock or unlock it."))
    form_class = LockForm if locking else UnlockForm
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            status = _apply_lock(request, case, form, locking=locking)
            if status == 302:
                done = _("%(name)s is locked.") if locking else _("%(name)s is unlocked.")
                messages.success(request, done % {"name": case.secret_name})
                return redirect("cases:detail", secret_name=case.secret_name)
        else:
            status = 400
    else:
        form = form_class(initial={"expected_version": case.version})
    ready = case.status == (CaseStatus.SUBMITTED if locking else CaseStatus.LOCKED)
    return render(
        request,
        "cases/lock.html",
        {"case": case, "form": form, "locking": locking, "ready": ready},
        status=status,
    )


def _apply_lock(request: HttpRequest, case: Case, form: forms.Form, *, locking: bool) -> int:
    """Call the service; put its refusal on the form. Returns the response status."""
    data = form.cleaned_data
    context = context_for(request)
    try:
        if locking:
            services.lock_case(
                context, case, password=data["password"], expected_version=data["expected_version"]
            )
        else:
            services.unlock_case(
                context,
                case,
                password=data["password"],
                expected_version=data["expected_version"],
                reason=data["reason"],
            )
    except services.NotAllowed as refused:
        raise PermissionDenied(refused.message) from None
    except services.BadCredentials as refused:
        form.add_error("password", refused.message)
        return 400
    except services.StaleVersion as refused:
        form.add_error(None, refused.message)
        return 409
    except services.CaseServiceError as refused:
        form.add_error(None, refused.message)
        return 400
    return 302
