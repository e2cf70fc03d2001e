"""The 63 count tables of gdsi-analysis.md §3, per report source.

Every record adds one to a cell of every table. A cell is keyed by the 9 grouping values of its
table (`covid19_diagnosis, source, <5 main variables>, <outcome>, <extra>`), blanks printed as
`missing`. Records are first counted by all 23 values at once (one dictionary update per
record), and that fine count is folded into the 63 tables whenever it grows past a bound and at
the end, so memory stays within the tables themselves plus the bound, whatever the row count.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from casereports.csvsafe import safe_cell

MISSING = "missing"
COUNT_COLUMN = "secret_name"  # the toolkit counted non-null secret_name values
REPORT_SOURCES = ("clinicians", "patients")
OUTCOMES = (
    "covid19_admission_hospital",
    "covid19_icu_stay",
    "covid19_ventilation",
    "covid19_outcome_death",
    "covid19_outcome_ventilation_or_ICU",
    "covid19_outcome_levels_1",
    "covid19_outcome_levels_2",
)
MAIN_VARIABLES = ("dmt_type_overall", "age_in_cat", "ms_type2", "sex_binary", "edss_in_cat2")
EXTRA_VARIABLES = (
    "current_or_former_smoker",
    "bmi_in_cat2",
    "disease_duration_in_cat2",
    "dmt_glucocorticoid",
    "has_comorbidities",
    "duration_treatment_cat1",
    "duration_treatment_cat2",
    "covid_wave1",
    "covid_wave2",
)
PREFIX = ("covid19_diagnosis", "source", *MAIN_VARIABLES)
# The values a record is counted by, in this order: the 7 prefix values, 7 outcomes, 9 extras.
RECORD_KEY = (*PREFIX, *OUTCOMES, *EXTRA_VARIABLES)
_OUTCOME_AT = len(PREFIX)
_EXTRA_AT = len(PREFIX) + len(OUTCOMES)
FOLD_AT = 200_000  # distinct fine keys held before they are folded into the tables


@dataclass(frozen=True)
class TableSpec:
    extra: str
    outcome: str

    @property
    def grouping(self) -> tuple[str, ...]:
        return (*PREFIX, self.outcome, self.extra)

    @property
    def header(self) -> list[str]:
        """The toolkit's CSV header: an unnamed row number, the grouping, the count."""
        return ["", *self.grouping, COUNT_COLUMN]

    def file_name(self, report_source: str) -> str:
        return f"{report_source}_query3_{self.extra}_{self.outcome}.csv"


# The toolkit's loop order: extras outside, outcomes inside.
TABLE_SPECS = tuple(TableSpec(extra, outcome) for extra in EXTRA_VARIABLES for outcome in OUTCOMES)


def table_file_names(report_source: str) -> list[str]:
    return [spec.file_name(report_source) for spec in TABLE_SPECS]


def spec_for_file(file_name: str) -> tuple[str, TableSpec] | None:
    """The report source and table of a file name, or None if it is not one of the 126."""
    for report_source in REPORT_SOURCES:
        for spec in TABLE_SPECS:
            if spec.file_name(report_source) == file_name:
                return report_source, spec
    return None


def cell(value: str | None) -> str:
    """A grouping value as the tables print it: blank is `missing`."""
    return value if value else MISSING


def registry_source() -> str:
    """A registry's tables carry no source (the toolkit's `None`, printed `missing`)."""
    return MISSING


def central_source(secret_name: str, country_label: str) -> str:
    """The central platform's source: the record id up to its first `_`, `_`, the country."""
    return secret_name.split("_")[0] + "_" + cell(country_label)


def record_key(values: Mapping[str, str], source: str) -> tuple[str, ...]:
    """The 23 cells a cleaned and derived record is counted by."""
    cells = [value or MISSING for value in map(values.get, RECORD_KEY)]  # `cell`, inlined
    cells[1] = source  # RECORD_KEY[1] is "source"
    return tuple(cells)


class CountTables:
    """The 63 tables of one report source, filled record by record or from stored counts."""

    def __init__(self, report_source: str) -> None:
        if report_source not in REPORT_SOURCES:
            raise ValueError(f"report source must be one of {', '.join(REPORT_SOURCES)}")
        self.report_source = report_source
        self._fine: Counter[tuple[str, ...]] = Counter()
        self._tables: dict[TableSpec, Counter[tuple[str, ...]]] = {
            spec: Counter() for spec in TABLE_SPECS
        }

    def add(self, key: tuple[str, ...], count: int = 1) -> None:
        """Count `count` records with the 23 cells `key` (see `record_key`)."""
        self._fine[key] += count
        if len(self._fine) >= FOLD_AT:
            self._fold()

    def add_table_rows(self, spec: TableSpec, rows: Iterable[tuple[tuple[str, ...], int]]) -> None:
        """Add counts already grouped by one table's 9 cells (an upload, a SQL result)."""
        table = self._tables[spec]
        for cells, count in rows:
            table[cells] += count

    def _fold(self) -> None:
        positions = [
            (
                self._tables[spec],
                _OUTCOME_AT + OUTCOMES.index(spec.outcome),
                _EXTRA_AT + EXTRA_VARIABLES.index(spec.extra),
            )
            for spec in TABLE_SPECS
        ]
        for key, count in self._fine.items():
            prefix = key[:_OUTCOME_AT]
            for table, outcome_at, extra_at in positions:
                table[(*prefix, key[outcome_at], key[extra_at])] += count
        self._fine.clear()

    def table(self, spec: TableSpec) -> Counter[tuple[str, ...]]:
        self._fold()
        return self._tables[spec]

    def rows(self, spec: TableSpec) -> list[tuple[tuple[str, ...], int]]:
        """The table's non-empty cells, sorted by their grouping values."""
        return sorted((cells, n) for cells, n in self.table(spec).items() if n)

    def total(self, spec: TableSpec | None = None) -> int:
        return sum(self.table(spec or TABLE_SPECS[0]).values())

    def items(self) -> Iterator[tuple[TableSpec, Counter[tuple[str, ...]]]]:
        self._fold()
        yield from self._tables.items()

    def merge(self, other: CountTables) -> None:
        """Add another set of the same report source's tables, cell by cell."""
        if other.report_source != self.report_source:
            raise ValueError("only tables of the same report source can be added")
        for spec, table in other.items():
            self.add_table_rows(spec, table.items())


def table_csv(spec: TableSpec, rows: Iterable[tuple[tuple[str, ...], int]]) -> str:
    """One table as the toolkit wrote it (pandas' `to_csv`: a running row number first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(spec.header)
    for number, (cells, count) in enumerate(rows):
        writer.writerow([number, *(safe_cell(value) for value in cells), count])
    return buffer.getvalue()
