"""The export pages (namespace `exports`): ask for an export, watch it, cancel it, download it.

Only users with the export right get here (others: 403, on record). An exporter sees their own
jobs, an administrator every job (`exports.downloads.jobs_of`). Jobs are made and cancelled by
`exports.services`; a download is a redirect to an expiring signed link (`exports.downloads`),
whose file view checks the user again and records `export.downloaded` before any byte is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casereports import access
from casereports.audit import AuditContext, context_for
from casereports.models import REPORT_SOURCES, CaseStatus, Site
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from exports import services
from exports.downloads import (
    LinkRefused,
    check_link_token,
    file_response,
    job_file,
    jobs_of,
    link_token,
    may_download,
    may_export,
    record_download,
    sees_all_jobs,
)
from exports.models import ExportJob, Job, JobStatus
from exports.profiles import PROFILES

JOBS_SHOWN = 50
DATE_HELP = gettext_lazy("YYYY-MM-DD, for example 2020-04-30")
CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
DATE_INPUT = forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
BADGES = {
    JobStatus.QUEUED: "text-bg-secondary",
    JobStatus.RUNNING: "text-bg-primary",
    JobStatus.DONE: "text-bg-success",
    JobStatus.FAILED: "text-bg-danger",
    JobStatus.CANCELLED: "text-bg-warning",
}


class SiteIdsField(forms.TypedMultipleChoiceField):
    """Site ids as ticked. Any id is passed on: a site outside the user's export rights reaches
    `request_export`, which refuses it and puts the attempt on record."""

    def valid_value(self, value) -> bool:
        return str(value).isdigit()


class ExportRequestForm(forms.Form):
    profile = forms.ChoiceField(
        label=gettext_lazy("De-identification profile"),
        choices=[(name, name) for name in PROFILES],
        initial="central",
        widget=forms.RadioSelect,
    )
    sites = SiteIdsField(
        label=gettext_lazy("Sites"),
        coerce=int,
        required=False,
        widget=CHECKBOXES,
        help_text=gettext_lazy("None ticked: every site you may export."),
    )
    report_sources = forms.MultipleChoiceField(
        label=gettext_lazy("Report sources"),
        choices=REPORT_SOURCES,
        required=False,
        widget=CHECKBOXES,
        help_text=gettext_lazy("None ticked: both."),
    )
    statuses = forms.MultipleChoiceField(
        label=gettext_lazy("Case statuses"),
        choices=CaseStatus.choices,
        required=False,
        widget=CHECKBOXES,
        help_text=gettext_lazy("None ticked: submitted and locked cases."),
    )
    date_from = forms.DateField(
        label=gettext_lazy("Reported from"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=DATE_INPUT,
        help_text=DATE_HELP,
    )
    date_to = forms.DateField(
        label=gettext_lazy("Reported until"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=DATE_INPUT,
        help_text=DATE_HELP,
    )

    def __init__(self, *args, sites: list[Site], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sites"].choices = [(site.pk, f"{site.code} ({site.name})") for site in sites]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("must be on or after 'Reported from'"))
        return cleaned


def _require_exporter(request: HttpRequest, what: str) -> None:
    if not may_export(request.user):
        record_denial(context_for(request), what)
        raise PermissionDenied(_("Only exporters and administrators can make or fetch exports."))


def _visible_job(request: HttpRequest, job_id: int, what: str) -> ExportJob:
    """The job if the user may see it; otherwise 404 (whether it exists is not told) and the
    attempt is on record."""
    _require_exporter(request, what)
    job = jobs_of(request.user).filter(pk=job_id).first()
    if job is None:
        record_denial(context_for(request), f"{what} export #{job_id}")
        raise Http404(_("No export of that number is open to you."))
    return job


# --- the page -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    _require_exporter(request, "exports page")
    sites = list(Site.objects.filter(pk__in=access.export_site_ids(request.user)).order_by("code"))
    if request.method == "GET":
        return _page(request, ExportRequestForm(sites=sites))
    form = ExportRequestForm(request.POST, sites=sites)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        job = services.request_export(
            context_for(request),
            profile=data["profile"],
            sites=data["sites"],
            report_sources=data["report_sources"],
            statuses=data["statuses"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
    except NotAllowed as refused:
        return _page(request, form, error=refused.message, status=403)
    except services.InvalidExportRequest as refused:
        for field, problems in refused.errors.items():
            form.add_error(field if field in form.fields else None, problems)
        return _page(request, form, status=400)
    except CaseServiceError as refused:
        return _page(request, form, error=refused.message, status=400)
    messages.success(
        request,
        _("Export #%(number)s (%(profile)s) is queued.")
        % {"number": job.pk, "profile": job.profile},
    )
    return redirect("exports:page")


def _page(
    request: HttpRequest, form: ExportRequestForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    jobs = list(jobs_of(request.user)[:JOBS_SHOWN])
    context = {
        "form": form,
        "error": error,
        "profiles": list(PROFILES.values()),
        "rows": [_row(job, request.user) for job in jobs],
        "all_jobs": sees_all_jobs(request.user),
    }
    return render(request, "exports/page.html", context, status=status)


def _row(job: ExportJob, user) -> dict[str, Any]:
    return {"job": job, "status": job_status(job), "mine": job.requested_by_id == user.pk}


def job_status(job: Job, download_view: str = "exports:download") -> dict[str, Any]:
    """What the page's progress bar and the status JSON show of a job (an export, a feed)."""
    done = job.status == JobStatus.DONE
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "badge_class": BADGES.get(job.status, "text-bg-secondary"),
        "finished": job.is_finished,
        "progress": job.progress_percent,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "row_counts": job.row_counts or {},
        "file_size": job.file_size,
        "file_size_label": filesizeformat(job.file_size) if done else "",
        "sha256": job.sha256,
        "error": job.error,
        "download_url": reverse(download_view, args=[job.pk]) if done else "",
    }


@login_required
@require_GET
def status_json(request: HttpRequest, job_id: int) -> JsonResponse:
    job = _visible_job(request, job_id, "status of")
    response = JsonResponse(job_status(job))
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _visible_job(request, job_id, "cancel")
    try:
        services.cancel_export(context_for(request), job)
    except CaseServiceError as refused:
        messages.error(
            request,
            _("Export #%(number)s: %(problem)s") % {"number": job.pk, "problem": refused.message},
        )
    else:
        messages.info(request, _("Export #%(number)s is cancelled.") % {"number": job.pk})
    return redirect("exports:page")


# --- downloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobDownloads:
    """What differs between the kinds of job file (an export, a feed); the flow is one."""

    noun: str  # "export", "feed": in messages and the audit trail
    visible: Callable[[HttpRequest, int, str], Job]  # the job, or a recorded 404
    may_download: Callable[[Any, Job], bool]
    not_covered: str  # why a user who sees the job may not have its file
    no_file: str  # the message when the job has no file yet (%(number)s, %(status)s)
    file_gone: str  # the 404 when the signed link's job has no file
    list_page: str  # URL names: where to go back to, and the signed link's view
    file_view: str
    record_download: Callable[[AuditContext, Job], None]
    download_name: Callable[[Job], str | None] = lambda job: None


def start_download(request: HttpRequest, job_id: int, kind: JobDownloads) -> HttpResponse:
    """Checks the user's right to the file, then sends them to a fresh expiring link."""
    job = kind.visible(request, job_id, "download")
    if not kind.may_download(request.user, job):
        record_denial(context_for(request), f"download {kind.noun} #{job.pk}")
        raise PermissionDenied(kind.not_covered)
    if job_file(job) is None:
        messages.error(request, kind.no_file % {"number": job.pk, "status": job.status})
        return redirect(kind.list_page)
    response = redirect(kind.file_view, job_id=job.pk, token=link_token(job, request.user))
    add_never_cache_headers(response)
    return response


def serve_file(request: HttpRequest, job_id: int, token: str, kind: JobDownloads) -> HttpResponse:
    """The file behind a signed link: the link, then the user's rights again, then the audit
    event, and only then a byte of the file."""
    job = kind.visible(request, job_id, "download")
    try:
        check_link_token(token, job, request.user)
    except LinkRefused as refused:
        what = f"download {kind.noun} #{job.pk}: link {refused.reason}"
        record_denial(context_for(request), what)
        return _link_refused(request, job, refused.message)
    if not kind.may_download(request.user, job):
        record_denial(context_for(request), f"download {kind.noun} #{job.pk}")
        return _link_refused(request, job, kind.not_covered)
    path = job_file(job)
    if path is None:
        raise Http404(kind.file_gone)
    kind.record_download(context_for(request), job)
    return file_response(job, path, kind.download_name(job))


def _link_refused(request: HttpRequest, job: Job, message: str) -> HttpResponse:
    response = render(
        request, "exports/link_refused.html", {"job": job, "message": message}, status=403
    )
    add_never_cache_headers(response)
    return response


EXPORT_DOWNLOADS = JobDownloads(
    noun="export",
    visible=_visible_job,
    may_download=may_download,
    not_covered=gettext_lazy("Your export rights no longer cover every site in this export."),
    no_file=gettext_lazy("Export #%(number)s has no file to download (%(status)s)."),
    file_gone=gettext_lazy("This export has no file (it is not done, or its file was removed)."),
    list_page="exports:page",
    file_view="exports:file",
    record_download=record_download,
)


@login_required
@require_GET
def download(request: HttpRequest, job_id: int) -> HttpResponse:
    return start_download(request, job_id, EXPORT_DOWNLOADS)


@login_required
@require_GET
def download_file(request: HttpRequest, job_id: int, token: str) -> HttpResponse:
    return serve_file(request, job_id, token, EXPORT_DOWNLOADS)
