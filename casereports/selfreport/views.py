"""The patient's pages: no account, no cookie beyond the session, no third-party asset.

The session holds where the patient is: the project they started at, when the consent page
was shown (a minimum fill time), the draft they may fill in (after consent or a return code)
and the report they may read (after sending it or typing its receipt code). Every write goes
through `casereports.selfreport.services`; the server's checks are the truth, the page's
script only shows them early.
"""

from __future__ import annotations

import time
from datetime import date

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from casereports import entry
from casereports.audit import AuditContext, new_request_id
from casereports.countries import country_choices, country_name
from casereports.forms import EntryForm
from casereports.i18n.messages import answer_sentence
from casereports.i18n.texts import language_code, texts_for
from casereports.models import Case, CaseStatus
from casereports.selfreport import codes, limits, services
from casereports.selfreport.answers import answered_pages, local_moment
from casereports.selfreport.models import (
    ConsentDocument,
    ExternalInitiative,
    PatientReport,
    SelfReportProject,
)
from casereports.selfreport.pdf import report_pdf
from casereports.services import cases as case_services
from casereports.services.dictionaries import dictionary_of_case
from casereports.textlayers import PATIENTS

SESSION = "selfreport"
HONEYPOT = "website"
PATIENT = "patient"  # the audit channel of the patients' own actions


# --- the session and the audit context --------------------------------------------------------


def _state(request: HttpRequest) -> dict:
    return request.session.setdefault(SESSION, {})


def _remember(request: HttpRequest, **values) -> None:
    state = _state(request)
    state.update(values)
    request.session.modified = True


def patient_context(request: HttpRequest) -> AuditContext:
    """A patient acts without an account; their address is not kept (no personal data)."""
    return AuditContext(
        channel=PATIENT, request_id=getattr(request, "request_id", "") or new_request_id()
    )


def _draft(request: HttpRequest) -> Case | None:
    case_id = _state(request).get("case")
    if not case_id:
        return None
    return (
        Case.objects.select_related("site", "dictionary_version", "patient_report")
        .filter(pk=case_id, status=CaseStatus.DRAFT)
        .first()
    )


def _sent(request: HttpRequest) -> Case | None:
    case_id = _state(request).get("receipt")
    if not case_id:
        return None
    return (
        Case.objects.select_related("site", "dictionary_version", "patient_report", "consent")
        .exclude(status=CaseStatus.DRAFT)
        .filter(pk=case_id)
        .first()
    )


def _forms(case: Case) -> list[str]:
    return entry.entry_forms(dictionary_of_case(case), entry.PATIENT)


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, f"selfreport/{template}", context, status=status)
    response["Cache-Control"] = "no-store"  # a shared computer's back button shows nothing
    return response


def _too_many(request: HttpRequest) -> HttpResponse:
    response = _page(request, "too_many.html", {}, status=429)
    response["Retry-After"] = "60"
    return response


def _not_open(request: HttpRequest) -> HttpResponse:
    return _page(request, "not_open.html", {}, status=404)


def _is_bot(request: HttpRequest) -> bool:
    return bool(request.POST.get(HONEYPOT, "").strip())


# --- start ------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest, site_code: str | None = None) -> HttpResponse:
    project = services.project_for(site_code) if site_code else services.default_project()
    if project is None:
        return _not_open(request)
    country = (request.GET.get("country") or "").upper()[:2]
    if request.method == "POST":
        if limits.over_limit(request, limits.START):
            return _too_many(request)
        if _is_bot(request):
            return _page(request, "refused.html", {}, status=400)
        _remember(request, project=project.pk, consent_shown_at=None)
        return redirect("selfreport:consent")
    context = {
        "project": project,
        "countries": country_choices(language_code()),
        "country": country,
        "country_name": country_name(country, language_code()) if country else "",
        "here": _projects_here(project, country) if country else [],
        "elsewhere": list(ExternalInitiative.objects.filter(active=True, country=country))
        if country
        else [],
        "has_draft": _draft(request) is not None,
        "honeypot": HONEYPOT,
    }
    return _page(request, "start.html", context)


def _projects_here(current: SelfReportProject, country: str) -> list[SelfReportProject]:
    return [p for p in services.projects_in(country) if p.pk != current.pk]


# --- information and consent ---------------------------------------------------------------


def _project(request: HttpRequest) -> SelfReportProject | None:
    project_id = _state(request).get("project")
    if not project_id:
        return None
    return (
        SelfReportProject.objects.select_related("site").filter(pk=project_id, enabled=True).first()
    )


def consent_document(project: SelfReportProject, language: str) -> ConsentDocument | None:
    """The version in force in the patient's language, else in English (said on the page)."""
    return ConsentDocument.objects.active_for(project.site, language) or (
        ConsentDocument.objects.active_for(project.site, settings.LANGUAGE_CODE)
    )


@never_cache
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest) -> HttpResponse:
    project = _project(request)
    if project is None:
        return redirect("selfreport:start")
    language = language_code()
    document = consent_document(project, language)
    if document is None:
        return _not_open(request)
    context = {
        "project": project,
        "document": document,
        "statements": list(enumerate(document.statement_list())),
        "other_language": document.language != language,
        "honeypot": HONEYPOT,
        "ticked": set(),
        "missing": [],
    }
    if request.method == "GET":
        _remember(request, consent_shown_at=time.time())
        return _page(request, "consent.html", context)
    if limits.over_limit(request, limits.START):
        return _too_many(request)
    if _is_bot(request) or _too_quick(request):
        return _page(request, "refused.html", {}, status=400)
    if str(request.POST.get("document")) != str(document.pk):
        context["changed"] = True  # a new version came into force while they read
        return _page(request, "consent.html", context, status=409)
    ticked = {int(v) for v in request.POST.getlist("statement") if v.isdigit() and len(v) < 4}
    try:
        case = services.start_report(
            patient_context(request), project, document, language=language, ticked=ticked
        )
    except services.ConsentIncomplete as refused:
        context.update(ticked=ticked, missing=refused.missing)
        return _page(request, "consent.html", context, status=400)
    except case_services.CaseServiceError:
        return _not_open(request)
    _remember(request, case=case.pk, started_at=time.time())
    return redirect("selfreport:form", _forms(case)[0])


def _too_quick(request: HttpRequest) -> bool:
    shown = _state(request).get("consent_shown_at")
    if not shown:
        return True  # posted without the page ever being shown
    return time.time() - float(shown) < settings.GDSI_PATIENT_MIN_FILL_SECONDS


# --- the questionnaire ------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest, form: str) -> HttpResponse:
    case = _draft(request)
    if case is None:
        return redirect("selfreport:start")
    forms = _forms(case)
    if form not in forms:
        raise Http404(_("This questionnaire has no page of that name."))
    texts = texts_for(case.dictionary_version, PATIENTS)
    dictionary = dictionary_of_case(case)
    if request.method == "GET":
        page = EntryForm(dictionary, form, case.data, audience=entry.PATIENT, texts=texts)
        if request.GET.get("check") == "required":
            page.mark_missing(
                entry.missing_required(dictionary, case.data, form=form, audience=entry.PATIENT)
            )
        return _render_form(request, case, form, page, case.version)
    if limits.over_limit(request, limits.SAVE):
        return _too_many(request)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = case.version
    page = EntryForm(
        dictionary, form, case.data, data=request.POST, audience=entry.PATIENT, texts=texts
    )
    try:
        outcome = services.save_page(
            patient_context(request),
            case,
            page.submitted_values(),
            form=form,
            expected_version=version,
            confirmed=page.confirmed_fields(),
        )
    except case_services.InvalidEntry as refused:
        page.show_entry_problems(refused.result)
        return _render_form(request, case, form, page, version, status=400)
    except case_services.StaleVersion as refused:
        return _render_form(request, case, form, page, version, alert=refused.message, status=409)
    except services.ReportClosed:
        return redirect("selfreport:receipt")
    action = request.POST.get("action")
    if action == "later":
        return _finish_later(request, outcome.case)
    if action == "back" and forms.index(form) > 0:
        return redirect("selfreport:form", forms[forms.index(form) - 1])
    if action == "continue":
        following = forms.index(form) + 1
        if following < len(forms):
            return redirect("selfreport:form", forms[following])
        return redirect("selfreport:review")
    return redirect("selfreport:form", form)


def _render_form(
    request: HttpRequest,
    case: Case,
    form: str,
    page: EntryForm,
    version: int,
    *,
    alert: str = "",
    status: int = 200,
) -> HttpResponse:
    forms = _forms(case)
    position = forms.index(form)
    spec = page.client_spec()
    spec.update(
        {
            "secretName": "",  # no copy of a patient's answers is kept in the browser
            "form": form,
            "version": version,
            "storagePrefix": "",
            "today": date.today().isoformat(),
            "clearStored": "",
            "noStorage": True,
        }
    )
    context = {
        "case": case,
        "form_name": form,
        "form_title": page.texts.form_title(form),
        "page": page,
        "version": version,
        "step_number": position + 1,
        "step_count": len(forms),
        "steps": [page.texts.form_title(name) for name in forms],
        "is_first": position == 0,
        "is_last": position == len(forms) - 1,
        "problems": page.problems() if page.is_bound or request.GET.get("check") else [],
        "alert": alert,
        "spec": spec,
        "record": case.data,
        "expires_at": case.patient_report.expires_at,
    }
    return _page(request, "form.html", context, status=status)


def _finish_later(request: HttpRequest, case: Case) -> HttpResponse:
    code = services.issue_return_code(patient_context(request), case)
    expires = PatientReport.objects.values_list("expires_at", flat=True).get(case=case)
    context = {"code": code, "expires": local_moment(expires, language_code())}
    return _page(request, "return_code.html", context)


@require_POST
def code_download(request: HttpRequest) -> HttpResponse:
    """The code on the page just shown, as a text file to keep (needs no script). Served only
    for the code that opens this session's report, so the address echoes nothing else."""
    kind = request.POST.get("kind")
    code = request.POST.get("code", "")
    state = _state(request)
    purpose = codes.RETURN if kind == "return" else codes.RECEIPT
    case = services.case_for_code(code, purpose)
    wanted = state.get("case") if purpose == codes.RETURN else state.get("receipt")
    if case is None or case.pk != wanted:
        return _page(request, "refused.html", {}, status=400)
    if purpose == codes.RETURN:
        text = _("Your return code for your COVID-19 report: %(code)s\n") % {"code": code}
        text += _("Open %(url)s and type it to continue your report.\n") % {
            "url": request.build_absolute_uri(reverse("selfreport:return"))
        }
    else:
        text = _("Your receipt code for your COVID-19 report: %(code)s\n") % {"code": code}
        text += _("Open %(url)s and type it to see, download or withdraw your report.\n") % {
            "url": request.build_absolute_uri(reverse("selfreport:mine"))
        }
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{purpose}-code.txt"'
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def return_with_code(request: HttpRequest) -> HttpResponse:
    context: dict = {"error": ""}
    if request.method == "GET":
        return _page(request, "return.html", context)
    if limits.over_limit(request, limits.CODE, count=False):
        return _too_many(request)
    case = services.case_for_code(request.POST.get("code", ""), codes.RETURN)
    if case is None:
        limits.count_failure(request)
        context["error"] = _(
            "That return code does not open a report. Check it and try again: codes have 16 "
            "letters and digits. A report not finished within %(days)s days is deleted."
        ) % {"days": settings.GDSI_PATIENT_DRAFT_DAYS}
        return _page(request, "return.html", context, status=400)
    services.record_resumed(patient_context(request), case, "return code")
    request.session.cycle_key()
    _remember(request, case=case.pk, project=None, started_at=time.time())
    return redirect("selfreport:form", _resume_form(case))


def _resume_form(case: Case) -> str:
    forms = _forms(case)
    return next(
        (form for form in forms if case.form_statuses.get(form) != entry.COMPLETE), forms[-1]
    )


# --- review and send ---------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest) -> HttpResponse:
    case = _draft(request)
    if case is None:
        return redirect("selfreport:start")
    dictionary = dictionary_of_case(case)
    texts = texts_for(case.dictionary_version, PATIENTS)
    language = language_code()
    missing = entry.missing_required(dictionary, case.data, audience=entry.PATIENT)
    status = 200
    alert = ""
    if request.method == "POST":
        if limits.over_limit(request, limits.SUBMIT):
            return _too_many(request)
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        try:
            sent = services.submit_report(patient_context(request), case, expected_version=version)
        except case_services.InvalidEntry:
            status = 400
        except case_services.StaleVersion as refused:
            alert, status = refused.message, 409
        except services.ReportClosed:
            return redirect("selfreport:receipt")
        else:
            request.session.cycle_key()
            _remember(request, case=None, receipt=sent.case.pk, receipt_code=sent.receipt_code)
            return redirect("selfreport:receipt")
    context = {
        "case": case,
        "pages": answered_pages(dictionary, case.data, texts, language),
        "missing": [
            {
                "label": texts.label(f),
                "url": reverse("selfreport:form", args=[f.form]) + "?check=required",
                "text": answer_sentence("is required"),
                "form": texts.form_title(f.form),
            }
            for f in missing
        ],
        "alert": alert,
        "tried": request.method == "POST",
        "version": case.version,
        "forms": [(form, texts.form_title(form)) for form in _forms(case)],
    }
    return _page(request, "review.html", context, status=status)


@never_cache
def receipt(request: HttpRequest) -> HttpResponse:
    """Right after sending: the receipt code, shown this once."""
    case = _sent(request)
    if case is None:
        return redirect("selfreport:mine")
    state = _state(request)
    code = state.pop("receipt_code", None)
    request.session.modified = True
    return _page(request, "receipt.html", {"case": case, "code": code})


# --- the patient's own report, later ------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def mine(request: HttpRequest) -> HttpResponse:
    """Type the receipt code (or come from sending): see what was reported, download it,
    withdraw."""
    if request.method == "POST":
        if limits.over_limit(request, limits.CODE, count=False):
            return _too_many(request)
        case = services.case_for_code(request.POST.get("code", ""), codes.RECEIPT)
        if case is None:
            limits.count_failure(request)
            error = _("That receipt code does not open a report. Check it and try again.")
            return _page(request, "receipt_code.html", {"error": error}, status=400)
        request.session.cycle_key()
        _remember(request, receipt=case.pk, case=None)
        services.record_resumed(patient_context(request), case, "receipt code")
        return redirect("selfreport:mine")
    case = _sent(request)
    if case is None:
        return _page(request, "receipt_code.html", {"error": ""})
    language = language_code()
    texts = texts_for(case.dictionary_version, PATIENTS)
    context = {
        "case": case,
        "pages": answered_pages(dictionary_of_case(case), case.data, texts, language),
        "sent_on": local_moment(case.submitted_at, language) if case.submitted_at else "",
        "withdrawn": case.consent_withdrawn,
        "withdrawn_on": (
            local_moment(case.consent.withdrawn_at, language)
            if case.consent_withdrawn and hasattr(case, "consent") and case.consent.withdrawn_at
            else ""
        ),
    }
    case_services.record_case_view(patient_context(request), case, what="patient's own report")
    return _page(request, "mine.html", context)


@never_cache
def pdf(request: HttpRequest) -> HttpResponse:
    case = _sent(request)
    if case is None:
        return redirect("selfreport:mine")
    report = services.ensure_snapshot(patient_context(request), case.patient_report.pk, report_pdf)
    with report.snapshot.open("rb") as stored:
        content = stored.read()
    services.record_download(patient_context(request), case, "pdf snapshot")
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="covid19-report-{case.secret_name}.pdf"'
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest) -> HttpResponse:
    case = _sent(request)
    if case is None:
        return redirect("selfreport:mine")
    if request.method == "POST" and not case.consent_withdrawn:
        if request.POST.get("confirm") != "1":
            context = {"case": case, "error": _("Tick the box to confirm that you withdraw.")}
            return _page(request, "withdraw.html", context, status=400)
        case = services.withdraw_consent(
            patient_context(request), case, reason=request.POST.get("reason", "")
        )
        return _page(request, "withdrawn.html", {"case": case})
    if case.consent_withdrawn:
        return _page(request, "withdrawn.html", {"case": case})
    return _page(request, "withdraw.html", {"case": case, "error": ""})
