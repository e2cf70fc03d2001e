"""Every change to a row import: upload, commit, discard, validate again, withdraw the records
an upload no longer holds, save a mapping. Each checks the actor's rights through
`casereports.access`, writes, and appends its audit event in one transaction; the work itself
runs in `casereports.imports.tasks` once the transaction has committed.
"""

from __future__ import annotations

import codecs
import hashlib
import tempfile
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from casereports import access
from casereports.audit import AuditContext, record_event, record_events
from casereports.imports.models import ImportMapping, ImportStatus, RowImport
from casereports.ingest.mapping import MappingError, load_mapping
from casereports.ingest.reader import DATE_FORMATS
from casereports.models import Case, DictionaryVersion, Site
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial
from casereports.services.dictionaries import dictionary_of

REPORT_SOURCES = ("clinicians", "patients")
DELIMITERS = {"": None, ",": ",", ";": ";", "tab": "\t", "\t": "\t"}
DATE_CHOICES = ("auto", *[f for f in DATE_FORMATS if f != "auto"])
COPY_CHUNK = 1 << 20


class ImportRefusal(CaseServiceError):
    """A refused import action (the import's state does not allow it); `message` is written
    for the person who tried it."""


class InvalidImport(ImportRefusal):
    """The file, an option or a mapping was refused."""

    code = "invalid"


def _deny(context: AuditContext, what: str, site: Site | None) -> NotAllowed:
    record_denial(context, what, site=site)
    return NotAllowed("You cannot import records for this site.")


def check_options(
    report_source: str, delimiter: str = "", date_format: str = "", encoding: str = ""
) -> dict[str, Any]:
    """The job's reading options, checked; raises InvalidImport naming the option."""
    if report_source not in REPORT_SOURCES:
        raise InvalidImport(f"report_source must be one of: {', '.join(REPORT_SOURCES)}")
    if delimiter not in DELIMITERS:
        raise InvalidImport(
            "delimiter must be one of: , ; tab (or empty to find it from the header)"
        )
    date_format = date_format or "auto"
    if date_format not in DATE_CHOICES:
        raise InvalidImport(f"date_format must be one of: {', '.join(DATE_CHOICES)}")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvalidImport(
                f"unknown encoding {encoding!r}; for example utf-8, latin-1, cp1252"
            ) from None
    return {
        "delimiter": DELIMITERS[delimiter] or "",
        "date_format": date_format,
        "encoding": encoding,
    }


def start_import(
    context: AuditContext,
    *,
    site: Site,
    upload: IO[bytes],
    original_name: str,
    report_source: str,
    channel: str,
    delimiter: str = "",
    date_format: str = "",
    encoding: str = "",
    blank_overwrites: bool = False,
    partial: bool = False,
    mapping: ImportMapping | None = None,
    token=None,
    check_rights: bool = True,
    queue: bool = True,
) -> RowImport:
    """Store the upload as it came and queue its validation. Nothing is written to records.
    `partial`: the upload holds some of the registry's records, not its whole export (records
    it does not hold are not reported or flagged as missing)."""
    if check_rights and not access.can_import_rows(context.user, site, token):
        raise _deny(context, "import rows", site)
    options = check_options(report_source, delimiter, date_format, encoding)
    options["blank_overwrites"] = bool(blank_overwrites)
    options["partial"] = bool(partial)
    if mapping is not None and mapping.site_id != site.pk:
        raise InvalidImport("That mapping belongs to another site.")
    version = DictionaryVersion.objects.current()
    if version is None:
        raise ImportRefusal("No data dictionary is loaded; run load_dictionary first.")
    with tempfile.TemporaryFile() as copy:
        size, sha256 = _copy_counted(upload, copy)
        if size == 0:
            raise InvalidImport("The file is empty.")
        with transaction.atomic():
            job = RowImport.objects.create(
                site=site,
                report_source=report_source,
                channel=channel,
                requested_by=context.user,
                dictionary_version=version,
                mapping=mapping,
                original_name=(original_name or "upload.csv")[-255:],
                file_size=size,
                sha256=sha256,
                options=options,
            )
            copy.seek(0)
            name = f"imports/{site.code}/{job.pk}/upload.csv"
            job.file_name = default_storage.save(name, File(copy, name="upload.csv"))
            job.save(update_fields=["file_name"])
            record_event(
                context,
                "import.uploaded",
                site=site,
                details={
                    "import": job.pk,
                    "file": job.original_name,
                    "size": size,
                    "sha256": sha256,
                    "report_source": report_source,
                    "options": options,
                    "mapping": _mapping_label(mapping),
                },
            )
            if queue:
                _queue_after_commit(job.pk)
    return job


def _copy_counted(source: IO[bytes], target: IO[bytes]) -> tuple[int, str]:
    limit = settings.GDSI_IMPORT_MAX_BYTES
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: source.read(COPY_CHUNK), b""):
        size += len(chunk)
        if size > limit:
            raise InvalidImport(
                f"The file is larger than {limit // (1024 * 1024)} MB; split it, or ask the "
                "central team to raise GDSI_IMPORT_MAX_BYTES."
            )
        digest.update(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


def _mapping_label(mapping: ImportMapping | None) -> dict[str, Any] | None:
    if mapping is None:
        return None
    return {"id": mapping.pk, "name": mapping.name, "version": mapping.version}


def _queue_after_commit(job_id: int) -> None:
    from casereports.imports.tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job_id))


def _locked(job: RowImport) -> RowImport:
    return RowImport.objects.select_for_update().select_related("site").get(pk=job.pk)


def _require(
    context: AuditContext, job: RowImport, what: str, token=None, check_rights: bool = True
) -> None:
    """The actor's right to act on the job; `check_rights=False` only for the management
    command, whose operator has the server's shell (and is recorded as the command)."""
    if check_rights and not access.can_import_rows(context.user, job.site_id, token):
        raise _deny(context, what, job.site)


def request_commit(
    context: AuditContext, job: RowImport, *, token=None, check_rights: bool = True
) -> RowImport:
    """The second, explicit step: write the report's accepted rows (in the worker)."""
    _require(context, job, "commit import", token, check_rights)
    with transaction.atomic():
        job = _locked(job)
        if job.status != ImportStatus.READY:
            raise ImportRefusal(_not_ready(job))
        if job.commit_requested:
            return job
        job.commit_requested = True
        job.committed_by = context.user
        job.heartbeat_at = None
        job.save(update_fields=["commit_requested", "committed_by", "heartbeat_at"])
        record_event(context, "import.commit_requested", site=job.site, details=_summary(job))
        _queue_after_commit(job.pk)
    return job


def _not_ready(job: RowImport) -> str:
    if job.status in (ImportStatus.QUEUED, ImportStatus.VALIDATING):
        return "The upload is still being checked; commit once its report is ready."
    if job.status == ImportStatus.DONE:
        return "This upload was already committed."
    if job.status == ImportStatus.COMMITTING:
        return "This upload is being committed."
    return f"This upload cannot be committed (it is {job.get_status_display().lower()})."


def _summary(job: RowImport) -> dict[str, Any]:
    return {"import": job.pk, "sha256": job.sha256, "counts": job.counts}


def discard(
    context: AuditContext, job: RowImport, *, token=None, check_rights: bool = True
) -> RowImport:
    """Drop a validated or failed upload without committing it (its files stay on record)."""
    _require(context, job, "discard import", token, check_rights)
    with transaction.atomic():
        job = _locked(job)
        if job.status not in (ImportStatus.READY, ImportStatus.FAILED) or job.commit_requested:
            raise ImportRefusal("Only an upload that is ready or failed can be discarded.")
        job.status = ImportStatus.DISCARDED
        job.save(update_fields=["status"])
        record_event(context, "import.discarded", site=job.site, details=_summary(job))
    return job


def validate_again(context: AuditContext, job: RowImport, *, token=None) -> RowImport:
    """A new report of the same file (after the site's records changed, or a failure)."""
    _require(context, job, "validate import", token)
    with transaction.atomic():
        job = _locked(job)
        if job.status not in (ImportStatus.READY, ImportStatus.FAILED) or job.commit_requested:
            raise ImportRefusal("Only an upload that is ready or failed can be checked again.")
        job.status = ImportStatus.QUEUED
        job.error = ""
        job.heartbeat_at = None
        job.save(update_fields=["status", "error", "heartbeat_at"])
        record_event(context, "import.revalidation_requested", site=job.site, details=_summary(job))
        _queue_after_commit(job.pk)
    return job


def withdraw_absent(context: AuditContext, job: RowImport, *, reason: str, token=None) -> int:
    """The explicit choice to withdraw from sharing the records a committed upload no longer
    holds (they stay on the platform, excluded from exports and feeds). Returns how many."""
    _require(context, job, "withdraw absent records", token)
    reason = reason.strip()
    if not reason:
        raise InvalidImport("Give a reason for withdrawing these records.")
    with transaction.atomic():
        job = _locked(job)
        cases = list(
            Case.objects.select_for_update(no_key=True, of=("self",))
            .filter(site_id=job.site_id, absent_from_import=job, consent_withdrawn=False)
            .only("pk", "secret_name", "version", "registry_record")
        )
        for case in cases:
            case.consent_withdrawn = True
            case.version += 1
            case.updated_at = timezone.now()
        Case.objects.bulk_update(cases, ["consent_withdrawn", "version", "updated_at"], 500)
        record_events(
            context,
            job.site,
            [
                (
                    "case.withdrawn",
                    case,
                    {"import": job.pk, "reason": reason[:500], "version": case.version},
                )
                for case in cases
            ],
        )
        record_event(
            context,
            "import.absent_withdrawn",
            site=job.site,
            details={"import": job.pk, "records": len(cases), "reason": reason[:500]},
        )
    return len(cases)


def save_mapping(
    context: AuditContext,
    site: Site,
    *,
    name: str,
    text: str,
    token=None,
    check_rights: bool = True,
) -> ImportMapping:
    """A new version of the site's mapping `name` (the first, or one whose content differs
    from the latest); the same content again returns the latest version."""
    if check_rights and not access.can_import_rows(context.user, site, token):
        raise _deny(context, "save import mapping", site)
    name = name.strip()[:100]
    if not name:
        raise InvalidImport("Give the mapping a name.")
    version = DictionaryVersion.objects.current()
    if version is None:
        raise ImportRefusal("No data dictionary is loaded.")
    try:
        mapping = load_mapping(text, dictionary_of(version), filename=name)
    except MappingError as error:
        raise InvalidImport(f"The mapping was refused: {error}") from error
    with transaction.atomic():
        latest = (
            ImportMapping.objects.select_for_update()
            .filter(site=site, name=name)
            .order_by("-version")
            .first()
        )
        if latest is not None and latest.fingerprint == mapping.fingerprint:
            return latest
        saved = ImportMapping.objects.create(
            site=site,
            name=name,
            version=(latest.version + 1) if latest else 1,
            source_text=text,
            canonical=mapping.to_dict(),
            fingerprint=mapping.fingerprint,
            created_by=context.user,
        )
        record_event(
            context,
            "import.mapping_saved",
            site=site,
            details={"mapping": _mapping_label(saved), "fingerprint": saved.fingerprint},
        )
    return saved


def record_download(context: AuditContext, job: RowImport, kind: str) -> None:
    with transaction.atomic():
        record_event(
            context, "import.downloaded", site=job.site, details={"import": job.pk, "file": kind}
        )


def record_report_view(context: AuditContext, job: RowImport) -> None:
    """The report shows the upload's values (its diff and refusals): a read of case data."""
    with transaction.atomic():
        record_event(context, "import.viewed", site=job.site, details={"import": job.pk})
