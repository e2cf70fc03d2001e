"""`python manage.py import_core_csv PATH --site CODE --report-source clinicians|patients
[--delimiter] [--date-format] [--encoding] [--mapping FILE] [--blank-overwrites]
[--dry-run | --commit]`

Validates a registry's core-data-set CSV into a report (and, with --commit, commits it) in
this process, through the same job, reader, checks and audit as the page and the API.
Without --commit the validated upload stays ready: commit it later on /imports/ or with the
API. --dry-run validates and then discards it. Exit codes: 0 done, 2 refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casereports.audit import system_context
from casereports.imports import services, tasks
from casereports.imports.models import ImportStatus, RowImport
from casereports.imports.services import ImportRefusal
from casereports.models import Site


class Command(BaseCommand):
    help = "Validate (and with --commit, commit) a registry's core-data-set CSV for one site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the registry's CSV file")
        parser.add_argument("--site", required=True, metavar="CODE", help="the registry's site")
        parser.add_argument(
            "--report-source", required=True, choices=services.REPORT_SOURCES,
            help="who reported the records in this file",
        )  # fmt: skip
        parser.add_argument(
            "--delimiter", choices=[",", ";", "tab"], help="default: found from the header"
        )
        parser.add_argument(
            "--date-format", choices=services.DATE_CHOICES, default="auto",
            help="auto (default: ISO, or the order the file's dates show), ymd, dmy or mdy",
        )  # fmt: skip
        parser.add_argument("--encoding", default="", help="the file's encoding (default UTF-8)")
        parser.add_argument(
            "--mapping", type=Path,
            help="a mapping file (TOML or JSON: the registry's column names, codes and units); "
            "saved as a new version of the site's mapping of that file name when it changed",
        )  # fmt: skip
        parser.add_argument(
            "--blank-overwrites", action="store_true",
            help="blank cells clear values already stored (default: blank cells are ignored)",
        )  # fmt: skip
        steps = parser.add_mutually_exclusive_group()
        steps.add_argument("--dry-run", action="store_true", help="validate, then discard")
        steps.add_argument("--commit", action="store_true", help="validate, then commit")

    def handle(self, *args, **options) -> None:
        context = system_context("command")
        site = Site.objects.filter(code=options["site"]).first()
        if site is None:
            raise CommandError(f"No site has the code {options['site']!r}.", returncode=2)
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file.", returncode=2)
        try:
            mapping = self._mapping(context, site, options["mapping"])
            with path.open("rb") as upload:
                job = services.start_import(
                    context,
                    site=site,
                    upload=upload,
                    original_name=path.name,
                    report_source=options["report_source"],
                    channel="command",
                    delimiter=options["delimiter"] or "",
                    date_format=options["date_format"],
                    encoding=options["encoding"],
                    blank_overwrites=options["blank_overwrites"],
                    mapping=mapping,
                    check_rights=False,
                    queue=False,
                )
        except ImportRefusal as error:
            raise CommandError(error.message, returncode=2) from None
        tasks.process(job.pk)
        job.refresh_from_db()
        lines = [report_text(job)]
        if job.status == ImportStatus.FAILED:
            self._say(lines)
            raise CommandError(job.error, returncode=2)
        if options["dry_run"]:
            services.discard(context, job, check_rights=False)
            lines.append("dry run: nothing was written; the upload was discarded")
        elif options["commit"]:
            services.request_commit(context, job, check_rights=False)
            tasks.process(job.pk)
            job.refresh_from_db()
            if job.status != ImportStatus.DONE:
                self._say(lines)
                raise CommandError(job.error or f"the commit did not finish ({job.status})")
            lines.append(f"committed: import #{job.pk}")
        else:
            lines.append(
                f"import #{job.pk} is ready: read its report and commit it on /imports/{job.pk}/ "
                f"or with POST /api/v1/imports/{job.pk}/commit/"
            )
        self._say(lines)

    def _say(self, lines: list[str]) -> None:
        """The report, written once the work is done, so a reader that stops early
        (`| head -3`) cannot stop the import half-way; a closed pipe is no error."""
        try:
            self.stdout.write("\n".join(lines))
            self.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _mapping(self, context, site: Site, path: Path | None):
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{path}: cannot read the mapping ({error})") from None
        try:
            return services.save_mapping(
                context, site, name=path.name, text=text, check_rights=False
            )
        except ImportRefusal as error:
            raise CommandError(error.message, returncode=2) from None


def report_text(job: RowImport) -> str:
    """The report as plain lines (the page shows the same, with the samples)."""
    counts = job.counts
    report = job.report
    lines = [f"import #{job.pk}: {job.get_status_display()}"]
    if job.status == ImportStatus.FAILED:
        return "\n".join(lines)
    lines.append(
        "rows read: {rows_read}; new: {new}; changed: {changed}; unchanged: {unchanged}; "
        "refused: {refused}; no longer in the file: {absent}".format(**counts)
    )
    lines.append(f"records failing a quality rule: {counts.get('quality_failed', 0)}")
    for item in report.get("normalisations", []):
        lines.append(
            f"read as meant: {item['column']} ({item['field']}): {item['what']}: {item['count']}"
        )
    for advice in report.get("advice", []):
        lines.append(f"advice: {advice}")
    described = report.get("file", {})
    for key, label in (
        ("unknown_columns", "columns ignored (not in the core data set)"),
        ("missing_columns", "columns missing (left as they are)"),
    ):
        if described.get(key):
            lines.append(f"{label}: {', '.join(described[key])}")
    for problem in report.get("refused", [])[:20]:
        lines.append(
            f"refused line {problem['line']} record {problem['record'] or '-'}: "
            f"{problem['column']}: {problem['reason']}"
        )
    return "\n".join(lines)
