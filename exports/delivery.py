"""Push delivery of finished exports to the targets an administrator configured.

Which targets: a job made by a `ScheduledExport` goes to that schedule's enabled targets; a job
asked for on the page or through the API is fetched by whoever asked (download or API pull) and
is pushed nowhere.

Each target gets up to `ATTEMPTS` tries with exponential backoff; every try is a
`DeliveryAttempt` row (HTTP status or error text, never the secret) and an audit event. A target
that already took the job is not sent it again, so running the delivery twice (a redelivered
task) sends nothing twice.

- HTTPS: `POST` of the zip with `X-GDSI-Signature: sha256=<hex HMAC-SHA256 of the body keyed
  with the target's secret>`, `X-GDSI-Job` (job id) and `X-GDSI-SHA256` (the file's sha256).
  Redirects are not followed. Plain http is refused, except to localhost in development.
- S3-compatible storage: the zip is stored as `<prefix>/gdsi-export-<id>-<profile>.zip` in the
  target's bucket (`bucket` or `bucket/prefix`) through django-storages, with the job id and
  sha256 as object metadata.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db import transaction

from casereports.audit import TASK, AuditContext, record_event, system_context
from exports.downloads import download_name, job_file
from exports.models import DeliveryAttempt, DeliveryTarget, ExportJob, JobStatus

logger = logging.getLogger(__name__)

ATTEMPTS = 3
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CHUNK = 1024 * 1024
# Answers that will not change on a retry (a refused signature, a missing endpoint): no retry.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """One failed try; `permanent` when trying again cannot help."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class Outcome:
    target: DeliveryTarget
    delivered: bool
    attempts: int


# --- which URLs ---------------------------------------------------------------------------


def url_problem(url: str) -> str:
    """Why `url` may not receive exports ("" when it may): https only, plain http only to
    localhost in development, no credentials in the URL."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "the URL must not contain a user name or password; use the secret field"
    if not parts.hostname:
        return "the URL has no host"
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and not settings.PRODUCTION:
        return ""
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return "plain http is allowed only to localhost in development; use https"
    return "only https:// URLs may receive exports (plain http only to localhost in development)"


# --- senders ------------------------------------------------------------------------------


def signature(secret: str, path: Path) -> str:
    """`sha256=<hex HMAC-SHA256>` of the file's bytes keyed with `secret`."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            mac.update(chunk)
    return f"sha256={mac.hexdigest()}"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError: a push that is redirected did not arrive


def send_https(target: DeliveryTarget, job: ExportJob, path: Path) -> str:
    problem = url_problem(target.url)
    if problem:
        raise DeliveryError(f"refused: {problem}", permanent=True)
    headers = {
        "Content-Type": "application/zip",
        "Content-Length": str(path.stat().st_size),
        "X-GDSI-Signature": signature(target.secret, path),
        "X-GDSI-Job": str(job.pk),
        "X-GDSI-SHA256": job.sha256,
        "User-Agent": "gdsi-casereports-delivery",
    }
    opener = urllib.request.build_opener(_RefuseRedirects)
    timeout = getattr(settings, "GDSI_DELIVERY_TIMEOUT_SECONDS", 60)
    try:
        with path.open("rb") as body:
            # url_problem() allowed only https (or http to localhost in development).
            request = urllib.request.Request(  # noqa: S310
                target.url, data=body, headers=headers, method="POST"
            )
            with opener.open(request, timeout=timeout) as response:
                return f"HTTP {response.status}"
    except urllib.error.HTTPError as answer:
        code = answer.code
        if 300 <= code < 400:
            raise DeliveryError(
                f"HTTP {code} (redirects are not followed)", permanent=True
            ) from None
        permanent = 400 <= code < 500 and code not in RETRYABLE_STATUSES
        raise DeliveryError(f"HTTP {code}", permanent=permanent) from None
    except urllib.error.URLError as failure:
        raise DeliveryError(f"error: {failure.reason}") from None
    except OSError as failure:  # timeouts, resets, TLS failures
        raise DeliveryError(f"error: {failure.__class__.__name__}: {failure}") from None


def s3_location(target: DeliveryTarget, job: ExportJob) -> tuple[str, str]:
    """(bucket, object key) for the job; `bucket` may carry a prefix as `bucket/prefix`."""
    bucket, _, prefix = target.bucket.strip().strip("/").partition("/")
    key = download_name(job)
    return bucket, f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key


def s3_storage(target: DeliveryTarget, job: ExportJob):
    """A django-storages S3 storage for the target (imported here: only S3 targets need it)."""
    from storages.backends.s3 import S3Storage

    bucket, _ = s3_location(target, job)
    return S3Storage(
        bucket_name=bucket,
        endpoint_url=target.url,
        access_key=target.access_key,
        secret_key=target.secret,
        region_name=getattr(settings, "GDSI_DELIVERY_S3_REGION", "us-east-1"),
        file_overwrite=True,  # the same job delivered again replaces its own object
        querystring_auth=False,
        object_parameters={
            "ContentType": "application/zip",
            "Metadata": {"gdsi-job": str(job.pk), "gdsi-sha256": job.sha256},
        },
    )


def send_s3(target: DeliveryTarget, job: ExportJob, path: Path) -> str:
    problem = url_problem(target.url)
    if problem:
        raise DeliveryError(f"refused: {problem}", permanent=True)
    bucket, key = s3_location(target, job)
    if not bucket:
        raise DeliveryError("refused: the target names no bucket", permanent=True)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        from django.core.files import File
    except ImportError:
        raise DeliveryError(
            "refused: S3 delivery needs django-storages[s3] and boto3 installed", permanent=True
        ) from None
    try:
        with path.open("rb") as body:
            stored = s3_storage(target, job).save(key, File(body, name=key))
    except ClientError as failure:
        error = failure.response.get("Error", {})
        raise DeliveryError(f"error: S3 {error.get('Code', 'error')}") from None
    except (BotoCoreError, OSError) as failure:
        raise DeliveryError(f"error: {failure.__class__.__name__}") from None
    return f"stored s3://{bucket}/{stored}"


SENDERS: dict[str, Callable[[DeliveryTarget, ExportJob, Path], str]] = {
    DeliveryTarget.Kind.HTTPS: send_https,
    DeliveryTarget.Kind.S3: send_s3,
}


# --- delivering a job ---------------------------------------------------------------------


def targets_for(job: ExportJob) -> list[DeliveryTarget]:
    if job.scheduled_export_id is None:
        return []
    return list(job.scheduled_export.targets.filter(enabled=True).order_by("name"))


def deliver_job(job: ExportJob, context: AuditContext | None = None) -> list[Outcome]:
    """Push the finished job to each of its targets that has not taken it yet."""
    context = context or system_context(TASK)
    path = job_file(job)
    if path is None:
        logger.warning("export %s: not delivered, it is %s or its file is gone", job.pk, job.status)
        return []
    delivered_to = set(job.deliveries.filter(succeeded=True).values_list("target_id", flat=True))
    return [
        _deliver_to(context, job, target, path)
        for target in targets_for(job)
        if target.pk not in delivered_to
    ]


def _deliver_to(
    context: AuditContext, job: ExportJob, target: DeliveryTarget, path: Path
) -> Outcome:
    send = SENDERS.get(target.kind)
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            _back_off(attempt)
        try:
            if send is None:
                raise DeliveryError(f"refused: unknown target kind '{target.kind}'", permanent=True)
            detail = send(target, job, path)
        except DeliveryError as failure:
            _record_attempt(context, job, target, attempt, succeeded=False, detail=failure.detail)
            if failure.permanent:
                return Outcome(target, False, attempt)
            continue
        _record_attempt(context, job, target, attempt, succeeded=True, detail=detail)
        return Outcome(target, True, attempt)
    return Outcome(target, False, ATTEMPTS)


def _back_off(attempt: int) -> None:
    base = getattr(settings, "GDSI_DELIVERY_BACKOFF_SECONDS", 5)
    delay = base * 2 ** (attempt - 2)  # base, then twice that
    if delay > 0:
        time.sleep(delay)


def _record_attempt(
    context: AuditContext,
    job: ExportJob,
    target: DeliveryTarget,
    attempt: int,
    *,
    succeeded: bool,
    detail: str,
) -> DeliveryAttempt:
    detail = detail[:1000]
    with transaction.atomic():
        row = DeliveryAttempt.objects.create(
            job=job, target=target, succeeded=succeeded, detail=detail
        )
        record_event(
            context,
            "export.delivered" if succeeded else "export.delivery_failed",
            details={
                "job": job.pk,
                "target": target.name,
                "kind": target.kind,
                "attempt": attempt,
                "detail": detail,
            },
        )
    return row


@shared_task(name="exports.deliver_export", acks_late=True)
def deliver_export(job_id: int) -> int:
    """Deliver a finished job; answers how many targets took it."""
    job = ExportJob.objects.select_related("scheduled_export").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.DONE:
        return 0
    return sum(outcome.delivered for outcome in deliver_job(job))


def deliver_after_commit(job: ExportJob) -> None:
    """For the export task: once the job's `done` is committed, queue its delivery (only when
    its schedule has targets)."""
    if job.scheduled_export_id is None:
        return
    job_id = job.pk
    transaction.on_commit(lambda: deliver_export.delay(job_id))
