"""Federated pages (namespace `exports`): a registry uploads its count tables; exporters and
administrators ask for the pooled feed, follow it and download it.

Uploads and feed jobs are made by `exports.feeds`, which checks the rights (through
`casereports.access`) and puts every refusal on record. A download is a redirect to an
expiring signed link (`exports.downloads`, the export's mechanism), whose file view checks the
user again and records `feed.downloaded` before any byte is sent.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from casereports import access
from casereports.audit import context_for
from casereports.models import REPORT_SOURCES, Site
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from exports import feeds, services
from exports.downloads import sees_all_jobs
from exports.models import FeedJob, FeedVariant
from exports.views import JobDownloads, job_status, serve_file, start_download

JOBS_SHOWN = 50
UPLOADS_SHOWN = 20


# --- uploads ------------------------------------------------------------------------------


class UploadForm(forms.Form):
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site"),
        queryset=Site.objects.none(),
        empty_label=None,
        to_field_name="code",
    )
    report_source = forms.ChoiceField(
        label=gettext_lazy("Report source"),
        choices=[("", gettext_lazy("As the zip says")), *REPORT_SOURCES],
        required=False,
        help_text=gettext_lazy(
            "The zip of one run holds one report source; choose it to have it checked."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("Result zip"),
        help_text=gettext_lazy(
            "The zip that gdsi-federated run wrote (count tables and manifest only)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )

    def __init__(self, *args, sites, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


def _upload_sites(request: HttpRequest):
    sites = access.upload_sites(request.user)
    if not sites.exists():
        if request.method == "POST":  # on the record of the site it was meant for
            wanted = _site(request.POST.get("site", ""))
            record_denial(context_for(request), "upload count tables", site=wanted)
        else:
            record_denial(context_for(request), "count table upload page")
        raise PermissionDenied(_("Only registry uploaders can upload count tables."))
    return sites


@login_required
@require_http_methods(["GET", "POST"])
def upload_page(request: HttpRequest) -> HttpResponse:
    sites = _upload_sites(request)
    if request.method == "GET":
        return _upload_page(request, UploadForm(sites=sites, initial={"site": sites.first()}))
    form = UploadForm(request.POST, request.FILES, sites=sites)
    if not form.is_valid():
        wanted = request.POST.get("site", "")
        if "site" in form.errors and wanted and not sites.filter(code=wanted).exists():
            # A site outside the user's uploads: refused and on record like any other.
            record_denial(context_for(request), "upload count tables", site=_site(wanted))
            return _upload_page(request, form, status=403)
        return _upload_page(request, form, status=400)
    data = form.cleaned_data
    try:
        summary = feeds.upload_result(
            context_for(request), data["site"], data["file"], data["report_source"] or None
        )
    except feeds.UploadRefused as refused:
        return _upload_page(request, form, refusal=refused.message, status=422)
    except NotAllowed as refused:
        return _upload_page(request, form, refusal=refused.message, status=403)
    blank = UploadForm(sites=sites, initial={"site": data["site"]})
    return _upload_page(request, blank, summary=summary)


def _site(code: str) -> Site | None:
    return Site.objects.filter(code=code).first()


def _upload_page(
    request: HttpRequest,
    form: UploadForm,
    *,
    refusal: str = "",
    summary: feeds.UploadSummary | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "refusal": refusal,
        "summary": summary,
        "uploads": list(feeds.uploads_of(request.user)[:UPLOADS_SHOWN]),
        "several_sites": form.fields["site"].queryset.count() > 1,
    }
    return render(request, "exports/federated_upload.html", context, status=status)


# --- feeds --------------------------------------------------------------------------------


class FeedRequestForm(forms.Form):
    variant = forms.ChoiceField(
        label=gettext_lazy("Variant"),
        choices=FeedVariant.choices,
        initial=FeedVariant.EXACT,
        widget=forms.RadioSelect,
    )
    threshold = forms.IntegerField(
        label=gettext_lazy("Smallest cell shown (publication)"),
        min_value=1,
        max_value=feeds.MAX_THRESHOLD,
        required=False,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
        help_text=gettext_lazy("Non-zero cells below it are suppressed, with complementary cells."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["threshold"].initial = settings.GDSI_PUBLICATION_THRESHOLD


def _require_feed_viewer(request: HttpRequest, what: str) -> None:
    if not access.can_download_publication(request.user):
        record_denial(context_for(request), what)
        raise PermissionDenied(_("Only exporters, administrators and analysts see feeds."))


def _visible_feed(request: HttpRequest, job_id: int, what: str) -> FeedJob:
    _require_feed_viewer(request, what)
    job = feeds.feeds_of(request.user).filter(pk=job_id).first()
    if job is None:
        record_denial(context_for(request), f"{what} feed #{job_id}")
        raise Http404(_("No feed of that number is open to you."))
    return job


@login_required
@require_http_methods(["GET", "POST"])
def feeds_page(request: HttpRequest) -> HttpResponse:
    _require_feed_viewer(request, "feeds page")
    if request.method == "GET":
        return _feeds_page(request, FeedRequestForm())
    form = FeedRequestForm(request.POST)
    if not form.is_valid():
        if not access.can_request_feed(request.user):
            record_denial(context_for(request), "feed")
            error = _("You cannot ask for feeds.")
            return _feeds_page(request, form, error=error, status=403)
        return _feeds_page(request, form, status=400)
    try:
        job = feeds.request_feed(
            context_for(request), form.cleaned_data["variant"], form.cleaned_data["threshold"]
        )
    except NotAllowed as refused:
        return _feeds_page(request, form, error=refused.message, status=403)
    except services.InvalidExportRequest as refused:
        for field, problems in refused.errors.items():
            form.add_error(field if field in form.fields else None, problems)
        return _feeds_page(request, form, status=400)
    except CaseServiceError as refused:
        return _feeds_page(request, form, error=refused.message, status=400)
    messages.success(
        request,
        _("Feed #%(number)s (%(variant)s) is queued.") % {"number": job.pk, "variant": job.variant},
    )
    return redirect("exports:feeds")


def _feeds_page(
    request: HttpRequest, form: FeedRequestForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    user = request.user
    may_request = access.can_request_feed(user)
    jobs = list(feeds.feeds_of(user)[:JOBS_SHOWN])
    context = {
        "form": form,
        "error": error,
        "may_request": may_request,
        "all_jobs": sees_all_jobs(user),
        "rows": [{"job": job, "status": feed_status(job)} for job in jobs],
        "platform": _platform_rows(user) if may_request else [],
        "uploads": list(feeds.current_uploads(access.export_site_ids(user))) if may_request else [],
    }
    return render(request, "exports/feeds.html", context, status=status)


def _platform_rows(user) -> list[dict[str, Any]]:
    """Cases a feed asked for now would count, per report source."""
    probe = FeedJob(filters={"sites": access.export_site_ids(user)})
    counted = dict(
        feeds.feed_cases(probe)
        .order_by()
        .values_list("report_source")
        .annotate(n=Count("pk"))
        .values_list("report_source", "n")
    )
    return [
        {"report_source": code, "rows": counted.get(code, 0)} for code, _label in REPORT_SOURCES
    ]


def feed_status(job: FeedJob) -> dict[str, Any]:
    return {
        **job_status(job, "exports:feed_download"),
        "variant": job.variant,
        "suppressed_cells": job.suppressed_cells,
    }


@login_required
@require_GET
def feed_status_json(request: HttpRequest, job_id: int) -> JsonResponse:
    job = _visible_feed(request, job_id, "status of")
    response = JsonResponse(feed_status(job))
    add_never_cache_headers(response)
    return response


FEED_DOWNLOADS = JobDownloads(
    noun="feed",
    visible=_visible_feed,
    may_download=feeds.may_download_feed,
    not_covered=gettext_lazy("Your rights do not cover this feed."),
    no_file=gettext_lazy("Feed #%(number)s has no file to download (%(status)s)."),
    file_gone=gettext_lazy("This feed has no file (it is not done, or its file was removed)."),
    list_page="exports:feeds",
    file_view="exports:feed_file",
    record_download=feeds.record_feed_download,
    download_name=feeds.feed_download_name,
)


@login_required
@require_GET
def feed_download(request: HttpRequest, job_id: int) -> HttpResponse:
    return start_download(request, job_id, FEED_DOWNLOADS)


@login_required
@require_GET
def feed_file(request: HttpRequest, job_id: int, token: str) -> HttpResponse:
    return serve_file(request, job_id, token, FEED_DOWNLOADS)
