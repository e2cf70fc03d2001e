"""The pooled feed: the platform's count tables plus every accepted upload, cell by cell.

Each contribution is one report source's 63 tables from one place. The platform's cells keep
their own `source` (`<secret_name prefix>_<country>`, see `tables.central_source`); a registry's
tables carry `source = missing` (gdsi-analysis.md §3), so every cell of an upload is relabelled
with the upload's label (for example `R_<site code>`) and each upload stays its own source in
the pooled tables. Because the tables are sufficient statistics for the initiative's models by
data source, summing them gives the same fit as pooling the rows.

Refused, with a `ValueError` naming the label: two contributions with the same label for the
same report source (a site's second upload must replace its first, not double it), and an
upload whose label is already a source among the platform's cells (it would silently merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from exports.federated.tables import MISSING, REPORT_SOURCES, TABLE_SPECS, CountTables

SOURCE_AT = 1  # position of `source` among a table's 9 grouping cells
KINDS = ("platform", "upload")


@dataclass(frozen=True)
class Contribution:
    """One report source's tables from the platform or from one accepted upload."""

    label: str
    kind: Literal["platform", "upload"]
    report_source: str
    tables: CountTables
    rows: int
    dated: str  # ISO date or date/time the tables were computed (platform) or uploaded
    site: str | None = None

    def __post_init__(self) -> None:
        if not self.label or self.label != self.label.strip() or self.label == MISSING:
            raise ValueError(f"contribution label {self.label!r} is empty, padded or {MISSING!r}")
        if self.kind not in KINDS:
            raise ValueError(f"contribution {self.label}: kind must be one of {', '.join(KINDS)}")
        if self.report_source != self.tables.report_source:
            raise ValueError(
                f"contribution {self.label}: report source {self.report_source!r} but its tables "
                f"are {self.tables.report_source!r}"
            )
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 0:
            raise ValueError(f"contribution {self.label}: rows must be a whole number >= 0")
        if not _is_iso_date(self.dated):
            raise ValueError(f"contribution {self.label}: dated {self.dated!r} is not ISO 8601")


def _is_iso_date(text: str) -> bool:
    for parse in (datetime.fromisoformat, date.fromisoformat):
        try:
            parse(text)
        except (TypeError, ValueError):
            continue
        return True
    return False


def pool(contributions: Iterable[Contribution]) -> dict[str, CountTables]:
    """The pooled tables per report source (in `REPORT_SOURCES` order, those contributed)."""
    contributions = list(contributions)
    _refuse_clashing_labels(contributions)
    pooled: dict[str, CountTables] = {}
    for report_source in REPORT_SOURCES:
        parts = [c for c in contributions if c.report_source == report_source]
        if not parts:
            continue
        tables = CountTables(report_source)
        for contribution in parts:
            _add(tables, contribution)
        pooled[report_source] = tables
    return pooled


def _add(pooled: CountTables, contribution: Contribution) -> None:
    if contribution.kind == "platform":
        pooled.merge(contribution.tables)
        return
    for spec, table in contribution.tables.items():
        pooled.add_table_rows(
            spec, ((_relabelled(cells, contribution.label), n) for cells, n in table.items())
        )


def _relabelled(cells: tuple[str, ...], source: str) -> tuple[str, ...]:
    return (*cells[:SOURCE_AT], source, *cells[SOURCE_AT + 1 :])


def _refuse_clashing_labels(contributions: Sequence[Contribution]) -> None:
    seen: set[tuple[str, str]] = set()
    for contribution in contributions:
        key = (contribution.label, contribution.report_source)
        if key in seen:
            raise ValueError(
                f"two contributions are labelled {contribution.label!r} for "
                f"{contribution.report_source}: each source may contribute once"
            )
        seen.add(key)
    for report_source in REPORT_SOURCES:
        platform_sources = set()
        for contribution in contributions:
            if contribution.kind == "platform" and contribution.report_source == report_source:
                platform_sources |= _sources(contribution.tables)
        for contribution in contributions:
            if (
                contribution.kind == "upload"
                and contribution.report_source == report_source
                and contribution.label in platform_sources
            ):
                raise ValueError(
                    f"upload label {contribution.label!r} is already a source in the platform's "
                    f"{report_source} tables"
                )


def _sources(tables: CountTables) -> set[str]:
    # Every record adds one to every table, so one table holds every source.
    return {cells[SOURCE_AT] for cells, n in tables.table(TABLE_SPECS[0]).items() if n}


def pool_manifest_sources(contributions: Iterable[Contribution]) -> list[dict]:
    """The manifest's list of contributing sources, in the order given."""
    return [
        {
            "label": c.label,
            "kind": c.kind,
            "report_source": c.report_source,
            "rows": c.rows,
            "dated": c.dated,
            "site": c.site,
        }
        for c in contributions
    ]
