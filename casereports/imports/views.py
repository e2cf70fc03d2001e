"""Import pages (namespace `imports`, mounted at /imports/): a registry data manager uploads
the registry's export, reads the report, commits it (a second, explicit step), downloads the
refused rows to fix and upload again, and keeps the registry's mapping.

Every page starts from `casereports.access`; a job of a site the user does not import into is
a 404 (and the attempt is audited), never a hint that it exists.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casereports import access
from casereports.audit import context_for
from casereports.imports import services
from casereports.imports.models import ImportMapping, ImportStatus, RowImport
from casereports.models import REPORT_SOURCES, Site
from casereports.services.cases import CaseServiceError, record_denial

JOBS_SHOWN = 50
DOWNLOADS = {
    "refused": ("refused_file", "refused-rows"),
    "problems": ("problems_file", "problems"),
    "quality": ("quality_file", "quality"),
}


class UploadForm(forms.Form):
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site"), queryset=Site.objects.none(), empty_label=None,
        to_field_name="code",
    )  # fmt: skip
    report_source = forms.ChoiceField(label=gettext_lazy("Report source"), choices=REPORT_SOURCES)
    file = forms.FileField(
        label=gettext_lazy("Registry export (CSV)"),
        help_text=gettext_lazy(
            "Your registry's de-identified export as it comes: comma, semicolon or tab "
            "separated; the checks say what they read and what they refuse."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )
    mapping = forms.ModelChoiceField(
        label=gettext_lazy("Mapping"), queryset=ImportMapping.objects.none(), required=False,
        empty_label=gettext_lazy("None: the file uses the core data set's names"),
        help_text=gettext_lazy("Your registry's column names, codes and units, saved below."),
    )  # fmt: skip
    delimiter = forms.ChoiceField(
        label=gettext_lazy("Delimiter"), required=False,
        choices=[
            ("", gettext_lazy("Find it")), (",", ","), (";", ";"), ("tab", gettext_lazy("Tab")),
        ],
    )  # fmt: skip
    date_format = forms.ChoiceField(
        label=gettext_lazy("Dates"), required=False,
        choices=[
            ("auto", gettext_lazy("Find the order from the file")),
            ("ymd", "YYYY-MM-DD"), ("dmy", "DD/MM/YYYY"), ("mdy", "MM/DD/YYYY"),
        ],
    )  # fmt: skip
    encoding = forms.CharField(
        label=gettext_lazy("Encoding"), required=False, max_length=40,
        help_text=gettext_lazy("Leave blank for UTF-8; e.g. latin-1 or cp1252."),
    )  # fmt: skip
    blank_overwrites = forms.BooleanField(
        label=gettext_lazy("Blank cells clear values already stored"), required=False,
        help_text=gettext_lazy("Off: a blank cell leaves the stored value as it is."),
    )  # fmt: skip

    def __init__(self, *args, sites, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["mapping"].queryset = latest_mappings(sites)
        self.fields["mapping"].label_from_instance = lambda m: f"{m.name} (v{m.version})"
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            else:
                css = "form-select" if isinstance(widget, forms.Select) else "form-control"
                widget.attrs.setdefault("class", css)


class MappingForm(forms.Form):
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site"), queryset=Site.objects.none(), empty_label=None,
        to_field_name="code",
    )  # fmt: skip
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    file = forms.FileField(
        label=gettext_lazy("Mapping file (TOML or JSON)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".toml,.json,text/plain"}),
    )

    def __init__(self, *args, sites, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


def latest_mappings(sites):
    """The newest version of each of the sites' mappings."""
    mappings = ImportMapping.objects.filter(site__in=sites).order_by("site", "name", "-version")
    newest: dict[tuple[int, str], int] = {}
    for pk, site_id, name in mappings.values_list("pk", "site_id", "name"):
        newest.setdefault((site_id, name), pk)
    return ImportMapping.objects.filter(pk__in=newest.values()).order_by("name")


def _import_sites(request: HttpRequest):
    sites = access.import_sites(request.user)
    if not sites.exists():
        wanted = None
        if request.method == "POST":  # on the record of the site it was meant for
            wanted = Site.objects.filter(code=request.POST.get("site", "")[:32]).first()
        record_denial(context_for(request), "open imports", site=wanted)
        raise PermissionDenied(_("Imports are for registry data managers."))
    return sites


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    sites = _import_sites(request)
    form = UploadForm(request.POST or None, request.FILES or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.start_import(
                context_for(request),
                site=data["site"],
                upload=data["file"],
                original_name=data["file"].name,
                report_source=data["report_source"],
                channel="web",
                delimiter=data["delimiter"],
                date_format=data["date_format"],
                encoding=data["encoding"].strip(),
                blank_overwrites=data["blank_overwrites"],
                mapping=data["mapping"],
            )
        except CaseServiceError as refused:
            form.add_error(None, refused.message)
        else:
            return redirect("imports:detail", job_id=job.pk)
    jobs = access.visible_imports(request.user).select_related("site", "requested_by")
    return render(
        request,
        "imports/list.html",
        {
            "form": form,
            "several_sites": sites.count() > 1,
            "jobs": jobs[:JOBS_SHOWN],
            "mapping_form": MappingForm(sites=sites),
            "mappings": latest_mappings(sites).select_related("site"),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def save_mapping(request: HttpRequest) -> HttpResponse:
    sites = _import_sites(request)
    form = MappingForm(request.POST, request.FILES, sites=sites)
    if form.is_valid():
        try:
            text = form.cleaned_data["file"].read().decode("utf-8")
        except UnicodeDecodeError:
            form.add_error("file", _("The mapping file must be UTF-8 text."))
        else:
            try:
                mapping = services.save_mapping(
                    context_for(request),
                    form.cleaned_data["site"],
                    name=form.cleaned_data["name"],
                    text=text,
                )
            except CaseServiceError as refused:
                form.add_error("file", refused.message)
            else:
                messages.success(
                    request,
                    _("Mapping “%(name)s” saved as version %(version)s.")
                    % {"name": mapping.name, "version": mapping.version},
                )
                return redirect("imports:list")
    for problems in form.errors.values():
        for problem in problems:
            messages.error(
                request, _("The mapping was not saved: %(problem)s") % {"problem": problem}
            )
    return redirect("imports:list")


def visible_job(request: HttpRequest, job_id: int, what: str) -> RowImport:
    job = (
        access.visible_imports(request.user)
        .select_related("site", "mapping", "requested_by", "committed_by")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        real = RowImport.objects.filter(pk=job_id).select_related("site").first()
        record_denial(
            context_for(request), f"{what} import #{job_id}", site=real.site if real else None
        )
        raise Http404(_("No such import."))
    return job


@login_required
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = visible_job(request, job_id, "view")
    if job.status in (ImportStatus.READY, ImportStatus.DONE):
        services.record_report_view(context_for(request), job)
    report = job.report or {}
    return render(
        request,
        "imports/detail.html",
        {
            "job": job,
            "report": report,
            "file": report.get("file", {}),
            "working": job.status
            in (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.COMMITTING)
            or job.commit_requested
            and job.status == ImportStatus.READY,
            "absent_open": job.status == ImportStatus.DONE and job.counts.get("absent"),
        },
    )


@login_required
@require_GET
def import_status(request: HttpRequest, job_id: int) -> JsonResponse:
    job = visible_job(request, job_id, "status of")
    response = JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "status_label": job.get_status_display(),
            "rows_done": job.rows_done,
            "commit_requested": job.commit_requested,
            "error": job.error,
        }
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def import_action(request: HttpRequest, job_id: int, action: str) -> HttpResponse:
    job = visible_job(request, job_id, action)
    context = context_for(request)
    try:
        if action == "commit":
            services.request_commit(context, job)
            messages.info(request, _("Import #%(number)s is being committed.") % {"number": job.pk})
        elif action == "discard":
            services.discard(context, job)
            messages.info(
                request,
                _("Import #%(number)s was discarded; nothing was written.") % {"number": job.pk},
            )
        elif action == "validate":
            services.validate_again(context, job)
            messages.info(
                request, _("Import #%(number)s is being checked again.") % {"number": job.pk}
            )
        elif action == "withdraw":
            count = services.withdraw_absent(context, job, reason=request.POST.get("reason", ""))
            messages.info(
                request, _("%(count)s records were withdrawn from sharing.") % {"count": count}
            )
        else:
            raise Http404
    except CaseServiceError as refused:
        messages.error(request, refused.message)
    return redirect("imports:detail", job_id=job.pk)


@login_required
@require_GET
def import_file(request: HttpRequest, job_id: int, kind: str) -> HttpResponse:
    job = visible_job(request, job_id, f"download {kind} of")
    if kind not in DOWNLOADS:
        raise Http404
    attribute, label = DOWNLOADS[kind]
    name = getattr(job, attribute)
    if not name or not default_storage.exists(name):
        raise Http404(_("This file is not ready."))
    services.record_download(context_for(request), job, kind)
    response = FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=f"import-{job.pk}-{label}.csv",
        content_type="text/csv; charset=utf-8",
    )
    add_never_cache_headers(response)
    return response
