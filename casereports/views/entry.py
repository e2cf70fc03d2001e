"""The clinician's data entry: start a case, fill its forms page by page, submit it.

Every page works on a case the user may see (`Case.objects.visible_to`); a case they may not
see is a 404 and one they may see but not change is a 403, both on record. Every write goes
through `casereports.services.cases`, which validates with the same rules as the API.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from casereports import access, entry
from casereports.audit import context_for
from casereports.dictionary import DataDictionary
from casereports.forms import EntryForm
from casereports.i18n.texts import texts_for
from casereports.models import Case, CaseStatus, Site
from casereports.quality.messages import field_labels, rule_message
from casereports.services import cases as services
from casereports.services.dictionaries import dictionary_of, quality_rules_of_case
from casereports.textlayers import Texts
from casereports.views.lookup import visible_case

CLEARED_KEY = "entry_cleared"  # session: the questions the last save cleared, shown once
SAVED_KEY = "entry_saved"  # session: the form whose unsaved copy in the browser can go
STORAGE_PREFIX = "gdsi-entry"
CHECK_REQUIRED = "required"


# --- finding the case ------------------------------------------------------------------------


def _editable_case(request: HttpRequest, secret_name: str, what: str) -> Case:
    case = visible_case(request, secret_name, what)
    if not access.can_edit_case(request.user, case):
        services.record_denial(context_for(request), what, case=case)
        raise PermissionDenied(_("Your role lets you read this case, not change it."))
    return case


def forms_of(case: Case) -> tuple[DataDictionary, list[str]]:
    dictionary = dictionary_of(case.dictionary_version)
    return dictionary, entry.entry_forms(dictionary)


def live_checks(case: Case, dictionary: DataDictionary) -> list[dict]:
    """The `check` rules of the case's dictionary version as entry.js runs them: the parsed AST
    (never text to evaluate), the fields a failure is shown beside, and the words shown there.
    The rules are parsed once per version and process (`quality_rules_of_case`), so the page
    costs no query per rule."""
    labels = field_labels(dictionary.fields)
    return [
        {
            "rule_id": rule.rule_id,
            "message": rule_message(rule, labels),
            "blanks": list(rule.blanks),
            "ast": rule.logic_ast,
        }
        for rule in quality_rules_of_case(case)
        if rule.kind == "check" and rule.logic_ast is not None
    ]


def resume_form(case: Case) -> str:
    """Where a draft continues: the form last saved, else the first form not complete."""
    _dictionary, forms = forms_of(case)
    if case.last_form in forms:
        return case.last_form
    return next(
        (form for form in forms if case.form_statuses.get(form) != entry.COMPLETE),
        forms[0] if forms else "",
    )


def _form_url(case: Case, form: str, *, check: str = "") -> str:
    url = reverse("cases:form", args=[case.secret_name, form])
    return f"{url}?check={check}" if check else url


def _posted_version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        return None


# --- a new case ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def new_case(request: HttpRequest) -> HttpResponse:
    sites = list(access.entry_sites(request.user))
    if not sites:
        services.record_denial(context_for(request), "create case", site=_posted_site(request))
        raise PermissionDenied(_("You are not a member of a site where you can enter cases."))
    if request.method == "GET":
        return render(request, "cases/new.html", {"sites": sites})
    site = _chosen_site(request, sites)
    if site is None:
        error = _("Choose the site the case is reported at.")
        return render(request, "cases/new.html", {"sites": sites, "error": error}, status=400)
    try:
        case = services.create_case(context_for(request), site)
    except services.NotAllowed as refused:
        raise PermissionDenied(refused.message) from refused
    except services.CaseServiceError as refused:
        context = {"sites": sites, "error": refused.message}
        return render(request, "cases/new.html", context, status=503)
    _dictionary, forms = forms_of(case)
    messages.success(
        request,
        _("Case %(name)s started at %(site)s, as a draft.")
        % {"name": case.secret_name, "site": site.name},
    )
    return redirect(_form_url(case, forms[0]))


def _chosen_site(request: HttpRequest, sites: list[Site]) -> Site | None:
    posted = request.POST.get("site", "")
    if not posted and len(sites) == 1:
        return sites[0]
    chosen = next((site for site in sites if str(site.pk) == posted), None)
    if chosen is None and posted:
        services.record_denial(
            context_for(request), f"create case at site {posted[:20]}", site=_posted_site(request)
        )
        raise PermissionDenied(_("You cannot create cases at that site."))
    return chosen


def _posted_site(request: HttpRequest) -> Site | None:
    """The existing site a refused create names, so that the attempt is on its record."""
    posted = request.POST.get("site", "")
    if not (posted.isascii() and posted.isdigit() and len(posted) <= 18):
        return None
    return Site.objects.filter(pk=int(posted)).first()


# --- one form of a case ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def edit_form(request: HttpRequest, secret_name: str, form: str) -> HttpResponse:
    what = "edit case" if request.method == "POST" else "open entry form"
    case = _editable_case(request, secret_name, what)
    dictionary, forms = forms_of(case)
    if form not in forms:
        raise Http404(_("This case has no form of that name."))
    if request.method == "POST":
        return _save(request, case, dictionary, form)
    services.record_case_view(context_for(request), case, what=f"entry form {form}")
    page = EntryForm(
        dictionary,
        form,
        case.data,
        read_only=case.is_locked,
        texts=texts_for(case.dictionary_version),
    )
    if request.GET.get("check") == CHECK_REQUIRED and not case.is_locked:
        page.mark_missing(entry.missing_required(dictionary, case.data, form=form))
    return _render(request, case, form, page, version=case.version)


def _save(request: HttpRequest, case: Case, dictionary: DataDictionary, form: str) -> HttpResponse:
    version = _posted_version(request)
    if version is None:
        return HttpResponseBadRequest(_("The form came without its version; reload the page."))
    page = EntryForm(
        dictionary, form, case.data, data=request.POST, texts=texts_for(case.dictionary_version)
    )
    before = dict(case.data)
    try:
        outcome = services.save_form(
            context_for(request),
            case,
            page.submitted_values(),
            form=form,
            expected_version=version,
            confirmed=page.confirmed_fields(),
            reason=request.POST.get("reason", ""),
        )
    except services.InvalidEntry as refused:
        page.show_entry_problems(refused.result)
        return _render(request, case, form, page, version=version)
    except services.ReasonRequired as refused:
        return _render(request, case, form, page, version=version, reason_error=refused.message)
    except services.StaleVersion as refused:
        return _render(
            request, case, form, page, version=version, alert=refused.message, status=409
        )
    except services.CaseLocked as refused:
        case.refresh_from_db()
        locked = EntryForm(
            dictionary, form, case.data, read_only=True, texts=texts_for(case.dictionary_version)
        )
        return _render(
            request, case, form, locked, version=case.version, alert=refused.message, status=409
        )
    except services.NotAllowed as refused:
        raise PermissionDenied(refused.message) from refused
    except services.CaseServiceError as refused:
        return _render(
            request, case, form, page, version=version, alert=refused.message, status=400
        )
    return _after_save(request, outcome, dictionary, form, before)


def _after_save(
    request: HttpRequest,
    outcome: services.SaveOutcome,
    dictionary: DataDictionary,
    form: str,
    before: dict[str, str],
) -> HttpResponse:
    case = outcome.case
    forms = entry.entry_forms(dictionary)
    title = texts_for(case.dictionary_version).form_title(form)
    if not outcome.changes:
        done = _("Nothing had changed on %(form)s.")
    elif case.status == CaseStatus.SUBMITTED:
        done = _("Changes saved: %(form)s.")
    else:
        done = _("Draft saved: %(form)s.")
    messages.success(request, done % {"form": title})
    request.session[SAVED_KEY] = [case.secret_name, form]
    cleared = cleared_labels(dictionary, before, case.data, outcome.cleared)
    following = forms.index(form) + 1
    if request.POST.get("action") == "continue" and following >= len(forms):
        if cleared:
            messages.warning(request, _cleared_sentence(cleared))
        return redirect("cases:detail", case.secret_name)
    if cleared:
        request.session[CLEARED_KEY] = {"case": case.secret_name, "labels": cleared}
    if request.POST.get("action") == "continue":
        return redirect(_form_url(case, forms[following]))
    return redirect(_form_url(case, form))


def cleared_labels(
    dictionary: DataDictionary, before: dict[str, str], after: dict[str, str], cleared: list[str]
) -> list[str]:
    """The questions a save emptied because branching hides them now: those the services
    cleared, and those the browser had already emptied when it hid them."""
    names = set(cleared)
    for f in dictionary.fields:
        if (
            entry.is_entered(f)
            and entry.has_value(f, before)
            and not entry.has_value(f, after)
            and not entry.is_shown(f, after)
        ):
            names.add(f.name)
    return [f.label for f in dictionary.fields if f.name in names]


def _cleared_sentence(labels: list[str]) -> str:
    return _("These answers were cleared because they no longer apply: %(questions)s.") % {
        "questions": "; ".join(labels)
    }


def _render(
    request: HttpRequest,
    case: Case,
    form: str,
    page: EntryForm,
    *,
    version: int,
    alert: str = "",
    reason_error: str = "",
    status: int = 200,
) -> HttpResponse:
    dictionary, forms = forms_of(case)
    saved = request.session.pop(SAVED_KEY, None)
    cleared = request.session.pop(CLEARED_KEY, None)
    if not cleared or cleared.get("case") != case.secret_name:
        cleared = None
    position = forms.index(form)
    spec = page.client_spec()
    spec.update(
        {
            "secretName": case.secret_name,
            "form": form,
            "version": version,
            "storagePrefix": STORAGE_PREFIX,
            "today": date.today().isoformat(),
            "checks": [] if page.read_only else live_checks(case, dictionary),
            "clearStored": (
                f"{STORAGE_PREFIX}:{saved[0]}:{saved[1]}:"
                if saved and saved[0] == case.secret_name
                else ""
            ),
        }
    )
    context = {
        "case": case,
        "form_name": form,
        "form_title": page.texts.form_title(form),
        "page": page,
        "version": version,
        "steps": [
            {
                "name": name,
                "title": page.texts.form_title(name),
                "status": case.form_statuses.get(name, entry.NOT_STARTED),
                "current": name == form,
                "url": _form_url(case, name),
            }
            for name in forms
        ],
        "step_number": position + 1,
        "is_last": position == len(forms) - 1,
        "locked": case.is_locked or page.read_only,
        "needs_reason": case.status == CaseStatus.SUBMITTED,
        "reason": request.POST.get("reason", "") if request.method == "POST" else "",
        "reason_error": reason_error,
        "alert": alert,
        "problems": page.problems() if page.is_bound or request.GET.get("check") else [],
        "cleared": cleared["labels"] if cleared else [],
        "can_submit": case.status == CaseStatus.DRAFT,
        "spec": spec,
        "record": case.data,
    }
    return render(request, "cases/form.html", context, status=status)


# --- submitting ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest, secret_name: str) -> HttpResponse:
    case = _editable_case(request, secret_name, "submit case")
    dictionary, forms = forms_of(case)
    if request.method == "GET":  # after a login that a submit from an expired session asked for
        return redirect(_form_url(case, resume_form(case)))
    version = _posted_version(request)
    if version is None:
        return HttpResponseBadRequest(_("The form came without its version; reload the page."))
    justifications = {
        key.removeprefix(JUSTIFY_PREFIX): value
        for key, value in request.POST.items()
        if key.startswith(JUSTIFY_PREFIX)
    }
    try:
        case = services.submit_case(
            context_for(request), case, expected_version=version, justifications=justifications
        )
    except services.QualityCheckFailed as flagged:
        return _correct_or_justify(request, case, dictionary, flagged, justifications)
    except services.InvalidEntry as refused:
        missing = [dictionary.field(name) for name in refused.result.errors if name in dictionary]
        messages.error(
            request, _missing_sentence(missing, forms, texts_for(case.dictionary_version))
        )
        first = next((form for form in forms if any(f.form == form for f in missing)), forms[0])
        return redirect(_form_url(case, first, check=CHECK_REQUIRED))
    except services.NotAllowed as refused:
        raise PermissionDenied(refused.message) from refused
    except services.CaseServiceError as refused:
        messages.error(request, refused.message)
        if case.status == CaseStatus.DRAFT:
            return redirect(_form_url(case, resume_form(case)))
        return redirect("cases:detail", case.secret_name)
    messages.success(
        request,
        _("Case %(name)s submitted. Later changes need a reason.") % {"name": case.secret_name},
    )
    return redirect("cases:detail", case.secret_name)


JUSTIFY_PREFIX = "justify-"


def _correct_or_justify(
    request: HttpRequest, case: Case, dictionary: DataDictionary, flagged, given: dict
) -> HttpResponse:
    """The quality rules that keep the case from being submitted: each with its questions (a
    link to correct them) and a box to confirm the values with a justification, which opens a
    query for the central team."""
    texts = texts_for(case.dictionary_version)
    labels = field_labels(dictionary.fields)
    rules = [
        {
            "id": rule.rule_id,
            "message": rule_message(rule, labels),
            "given": given.get(rule.rule_id, ""),
            "fields": [
                {
                    "label": texts.label(dictionary.field(name)),
                    "url": _form_url(case, dictionary.field(name).form),
                }
                for name in rule.blanks
                if name in dictionary
            ],
        }
        for rule in flagged.failing
    ]
    return render(
        request,
        "cases/submit_quality.html",
        {"case": case, "rules": rules, "version": case.version, "prefix": JUSTIFY_PREFIX},
        status=409,
    )


def _missing_sentence(missing: list, forms: list[str], texts: Texts) -> str:
    groups = []
    for form in forms:
        labels = [texts.label(f) for f in missing if f.form == form]
        if labels:
            groups.append(f"{texts.form_title(form)}: {'; '.join(labels)}")
    # The same words for one and for several in English; other languages may need forms.
    summary = ngettext(
        "The case was not submitted: %(count)d required question(s) have no answer.",
        "The case was not submitted: %(count)d required question(s) have no answer.",
        len(missing),
    ) % {"count": len(missing)}
    return summary + " " + ". ".join(groups) + "."
