"""What an upload's rows would do to the site's records: the one classification both passes
(validate, then commit) run, so the commit writes exactly what the report showed.

Rows come from the one typed reader (`casereports.ingest.reader`) a batch at a time. For each
batch the site's matching records are read in one query, each row becomes new, changed,
unchanged or refused, and every accepted row runs through the dictionary's quality rules
(the toolkit's PASS/FAIL with the variables a failing rule blanks; nothing is blanked in the
stored record). Duplicate record names within the file are found in a temporary table, so
memory stays flat however many rows come.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection

from casereports import entry
from casereports.dictionary.model import DataDictionary
from casereports.ingest.reader import CoreRow
from casereports.logic.compiled import Calculation, compile_pipeline
from casereports.models import Case, CaseStatus, DictionaryVersion
from casereports.rules import ProcessedRecord, RecordPipeline, calculated_fields
from casereports.services.cases import SECRET_NAME_ALPHABET, SECRET_NAME_LENGTH

NEW, CHANGED, UNCHANGED, REFUSED = "new", "changed", "unchanged", "refused"
PLATFORM_NAME = re.compile(
    rf"[A-Z]_[{SECRET_NAME_ALPHABET}]{{{SECRET_NAME_LENGTH}}}"
)  # services.cases.new_secret_name
CASE_COLUMNS = (
    "pk",
    "registry_record",
    "report_source",
    "status",
    "consent_withdrawn",
    "version",
    "imported_version",
    "data",
    "secret_name",
    "created_by_id",
)


@dataclass(slots=True)
class StoredRecord:
    """What the import needs of a record already on the platform (read as plain values:
    thousands per batch)."""

    pk: int
    registry_record: str
    report_source: str
    status: str
    consent_withdrawn: bool
    version: int
    imported_version: int | None
    data: dict[str, str]
    secret_name: str
    created_by_id: int | None


RECORD_NAME_LIMIT = 100
SAMPLE_LIMIT = 50  # records shown in the report's diff, refusals and absent list


@dataclass
class Problem:
    """Why (part of) a row was refused: the REDCap import's Record | Field | Value | Error."""

    line: int
    record: str
    column: str
    field: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


@dataclass
class RowOutcome:
    row: CoreRow
    record: str
    action: str
    case: StoredRecord | None = None
    values: dict[str, str] = field(default_factory=dict)  # the record as it will be stored
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    quality: ProcessedRecord | None = None
    overwrites_platform_edit: bool = False
    blanks_ignored: int = 0


@lru_cache(maxsize=8)
def _pipelines(content_hash: str):
    from casereports.services.dictionaries import _dictionary_by_hash, _rules_of

    version = DictionaryVersion.objects.only("content_hash", "quality_rules_csv").get(
        content_hash=content_hash
    )
    dictionary = _dictionary_by_hash(content_hash)
    rules = list(_rules_of(content_hash, version.quality_rules_csv))
    quality = RecordPipeline(dictionary, rules, compiled=True)
    calcs = [Calculation(f.name, f.calc_ast) for f in calculated_fields(dictionary)]
    derive = compile_pipeline([], [], calcs, ProcessedRecord).function
    return dictionary, quality, derive


class RowClassifier:
    """Classifies the rows of one upload for one site; `digest` fingerprints the outcome."""

    def __init__(
        self,
        version: DictionaryVersion,
        site_id: int,
        report_source: str,
        present_fields: Iterable[str],
        *,
        blank_overwrites: bool,
        writing: bool = False,
    ) -> None:
        """`writing`: the commit's pass (the matched records locked, calculated fields computed
        for storage); otherwise the report's."""
        self.dictionary, self.quality, self._derive = _pipelines(version.content_hash)
        self.version = version
        self.record_id = self.dictionary.record_id
        self.site_id = site_id
        self.report_source = report_source
        calculated = {f.name for f in calculated_fields(self.dictionary)}
        self.present = [
            name for name in present_fields if name != self.record_id and name not in calculated
        ]
        self.blank_overwrites = blank_overwrites
        self.writing = writing
        self.counts: Counter[str] = Counter()
        self.rules_failed: Counter[str] = Counter()
        self._digest = hashlib.sha256()
        self._seen = SeenRecords()
        self._blank = entry.blank_record(self.dictionary)
        if "report_source" in self._blank:
            self._blank["report_source"] = report_source

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        self._seen.close()

    def absent_records(self) -> Iterator[tuple[int, str]]:
        """(case id, record name) of the site's imported records of this report source that
        the upload does not hold."""
        return self._seen.absent(self.site_id, self.report_source)

    def unflag_present(self) -> None:
        """The records the upload holds are no longer missing from the registry's uploads."""
        self._seen.unflag(self.site_id, self.report_source)

    def classify(self, rows: list[CoreRow]) -> list[RowOutcome]:
        outcomes = [self._named(row) for row in rows]
        first_lines = self._seen.add(
            [(o.record, o.row.line) for o in outcomes if o.action != REFUSED]
        )
        for outcome in outcomes:
            first = first_lines.get(outcome.record)
            if outcome.action != REFUSED and first is not None and first != outcome.row.line:
                outcome.action = REFUSED
                outcome.problems.append(
                    self._problem(
                        outcome,
                        self.record_id,
                        outcome.record,
                        f"the record appears more than once in the file (first on line {first}); "
                        "only that row is imported",
                    )
                )
        named = [o.record for o in outcomes if o.action != REFUSED]
        existing = self._existing(named)
        platform = self._platform_names([name for name in named if name not in existing])
        for outcome in outcomes:
            if outcome.record in platform and outcome.action != REFUSED:
                outcome.action = REFUSED
                outcome.problems.append(
                    self._problem(
                        outcome,
                        self.record_id,
                        outcome.record,
                        "this name is the platform's own pseudonym of a record entered here; "
                        "an upload cannot create a second record under it",
                    )
                )
            if outcome.action != REFUSED:
                self._decide(outcome, existing.get(outcome.record))
            self.counts[outcome.action] += 1
            self._fingerprint(outcome)
        return outcomes

    # --- one row ---------------------------------------------------------------------------

    def _named(self, row: CoreRow) -> RowOutcome:
        record = row.values.get(self.record_id, "").strip()
        outcome = RowOutcome(row, record, NEW)
        if not record:
            outcome.problems.append(
                self._problem(outcome, self.record_id, "", "the record has no secret_name")
            )
        elif len(record) > RECORD_NAME_LIMIT:
            outcome.problems.append(
                self._problem(
                    outcome,
                    self.record_id,
                    record[:RECORD_NAME_LIMIT] + "…",
                    f"a secret_name may have at most {RECORD_NAME_LIMIT} characters",
                )
            )
        for column, reason in row.unparsable:
            outcome.problems.append(
                self._problem(
                    outcome, self._field_of(column), self._raw(row, column), reason, column
                )
            )
        if outcome.problems:
            outcome.action = REFUSED
        return outcome

    def _decide(self, outcome: RowOutcome, case: StoredRecord | None) -> None:
        values = outcome.row.values
        if case is None:
            record = dict(self._blank)
            for name in self.present:
                record[name] = values.get(name, "")
            outcome.values = self._derived(record)
            outcome.action = NEW
        else:
            outcome.case = case
            old = case.data
            record = dict(old)
            for name in self.present:
                new = values.get(name, "")
                if new == "" and not self.blank_overwrites:
                    if old.get(name, ""):
                        outcome.blanks_ignored += 1
                    continue
                record[name] = new
            changes = [
                (name, old.get(name, ""), record[name])
                for name in self.present
                if record[name] != old.get(name, "")
            ]
            refusal = self._refusal(case, changes)
            if refusal:
                outcome.action = REFUSED
                outcome.problems.append(
                    self._problem(outcome, self.record_id, outcome.record, refusal)
                )
                return
            outcome.changes = changes
            outcome.action = CHANGED if changes else UNCHANGED
            outcome.values = self._derived(record) if changes else old
            outcome.overwrites_platform_edit = bool(changes) and (
                case.imported_version is None or case.version != case.imported_version
            )
            self.counts["blank cells not applied"] += outcome.blanks_ignored
        # The toolkit's PASS/FAIL: in the report, and as the stored record's quality status.
        outcome.quality = self.quality.run(outcome.values)
        if outcome.quality.failures:
            self.counts["quality_failed"] += 1
            self.rules_failed.update(f.rule_id for f in outcome.quality.failures)
        if outcome.overwrites_platform_edit:
            self.counts["overwrites_platform_edit"] += 1

    def _refusal(self, case: StoredRecord, changes: list) -> str:
        if case.report_source != self.report_source:
            return (
                f"the record exists at this site as a {case.report_source} record; "
                f"this upload is of {self.report_source} records"
            )
        if not changes:
            return ""
        if case.status == CaseStatus.LOCKED:
            return "the record is locked on the platform; a site manager must unlock it first"
        if case.consent_withdrawn:
            return "the record was withdrawn; it is no longer updated"
        return ""

    def _derived(self, record: dict[str, str]) -> dict[str, str]:
        """The record as stored: its calculated fields computed when the commit writes it (the
        report's quality pipeline computes its own)."""
        return self._derive(record, None, None).values if self.writing else record

    def _existing(self, records: list[str]) -> dict[str, StoredRecord]:
        """The site's imported records of these names (locked for the commit)."""
        if not records:
            return {}
        if connection.vendor == "postgresql":
            return self._existing_by_probes(records)
        cases = (
            Case.objects.filter(site_id=self.site_id, registry_record__in=records)
            .exclude(registry_record="")
            .order_by()
        )
        stored = (StoredRecord(*values) for values in cases.values_list(*CASE_COLUMNS))
        return {record.registry_record: record for record in stored}

    def _existing_by_probes(self, records: list[str]) -> dict[str, StoredRecord]:
        """One probe of the per-site unique index per name. Asked as one `IN` list, PostgreSQL
        chose from its statistics, which an import makes stale (a million rows written in one
        transaction): it scanned the whole site for every batch."""
        table = Case._meta.db_table
        columns = ", ".join(
            "c.id" if name == "pk" else f"c.{Case._meta.get_field(name).column}"
            for name in CASE_COLUMNS
        )
        lock = " FOR NO KEY UPDATE" if self.writing else ""
        statement = (
            f"SELECT {columns} FROM unnest(%s::text[]) AS wanted(name) "
            f"CROSS JOIN LATERAL (SELECT * FROM {table} c WHERE c.site_id = %s "
            f"AND c.registry_record = wanted.name AND c.registry_record <> ''{lock}) c"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [records, self.site_id])
            rows = cursor.fetchall()
        found = {}
        for values in rows:
            record = StoredRecord(*values)
            if isinstance(record.data, str):  # jsonb comes back as text through Django
                record.data = json.loads(record.data)
            found[record.registry_record] = record
        return found

    def _platform_names(self, records: list[str]) -> set[str]:
        """Those of these names that are the platform's own pseudonym of a record entered at
        this site (not imported): an upload may not create a second record under that name.
        Only names shaped like the platform's are looked up (a registry's own rarely are)."""
        records = [name for name in records if PLATFORM_NAME.fullmatch(name)]
        if not records:
            return set()
        return set(
            Case.objects.filter(site_id=self.site_id, registry_record="", secret_name__in=records)
            .order_by()
            .values_list("secret_name", flat=True)
        )

    def _fingerprint(self, outcome: RowOutcome) -> None:
        """What the database decided about the row. The file, its mapping and the dictionary
        version are the job's own and the same in both passes, so a new row is fingerprinted
        by its name alone; a matched one by the record it met (id, version) and the change."""
        case = outcome.case
        if outcome.action == NEW:
            content: tuple = (outcome.record, NEW)
        elif outcome.action == REFUSED:
            content = (outcome.record, REFUSED, [p.reason for p in outcome.problems])
        else:
            content = (outcome.record, case.pk, case.version, outcome.changes)
        self._digest.update(repr(content).encode())
        self._digest.update(b"\n")

    # --- problems --------------------------------------------------------------------------

    def _problem(
        self, outcome: RowOutcome, field_name: str, value: str, reason: str, column: str = ""
    ) -> Problem:
        return Problem(
            outcome.row.line, outcome.record, column or field_name, field_name, value, reason
        )

    def bind_plan(self, plan) -> None:
        """The reader's plan: which file column feeds which field (for the problems table)."""
        self._fields_by_column = {column: name for _, column, name in plan.columns}
        self._position = {column: at for at, column, _ in plan.columns}

    def _field_of(self, column: str) -> str:
        return getattr(self, "_fields_by_column", {}).get(column, column)

    def _raw(self, row: CoreRow, column: str) -> str:
        at = getattr(self, "_position", {}).get(column)
        return row.cells[at] if at is not None and at < len(row.cells) else ""


class SeenRecords:
    """The record names met so far in this upload, in a temporary table of this connection
    (dropped at the end of the transaction), so a million names cost no worker memory."""

    def __init__(self) -> None:
        self._table = "gdsi_import_seen"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self._table} "
                "(record varchar(200) PRIMARY KEY, line integer)"
            )

    def add(self, named: list[tuple[str, int]]) -> dict[str, int]:
        """Remember these (record, line); return the first line of each record already met or
        now added (a later row of the same record is a duplicate)."""
        if not named:
            return {}
        first: dict[str, int] = {}
        for record, line in named:
            first.setdefault(record, line)
        fresh = dict(first)
        with connection.cursor() as cursor:
            for record, line in self._met(cursor, list(first)):
                first[record] = line
                del fresh[record]
            self._remember(cursor, list(fresh.items()))
        return first

    def _met(self, cursor, records: list[str]) -> list[tuple[str, int]]:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT record, line FROM {self._table} WHERE record = ANY(%s)", [records]
            )
        else:
            marks = ",".join(["%s"] * len(records))
            cursor.execute(
                f"SELECT record, line FROM {self._table} WHERE record IN ({marks})", records
            )
        return cursor.fetchall()

    def _remember(self, cursor, rows: list[tuple[str, int]]) -> None:
        if not rows:
            return
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {self._table} (record, line) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {self._table} (record, line) VALUES (%s, %s)", rows)

    def absent(self, site_id: int, report_source: str) -> Iterator[tuple[int, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.id, c.registry_record FROM {Case._meta.db_table} c "
                "WHERE c.site_id = %s AND c.report_source = %s AND c.registry_record <> '' "
                f"AND NOT EXISTS (SELECT 1 FROM {self._table} s "
                "WHERE s.record = c.registry_record) "
                "ORDER BY c.registry_record",
                [site_id, report_source],
            )
            yield from cursor.fetchall()

    def unflag(self, site_id: int, report_source: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Case._meta.db_table} SET absent_from_import_id = NULL "
                "WHERE site_id = %s AND report_source = %s AND absent_from_import_id IS NOT NULL "
                f"AND registry_record IN (SELECT record FROM {self._table})",
                [site_id, report_source],
            )

    def close(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._table}")


def batches(rows: Iterable[CoreRow], size: int) -> Iterator[list[CoreRow]]:
    batch: list[CoreRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def dictionary_fields(dictionary: DataDictionary) -> set[str]:
    return {f.name for f in dictionary.fields}
