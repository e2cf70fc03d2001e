"""Small-cell suppression for count tables that leave the platform.

The pooled feed for the trusted central team is exact. Any table that leaves the platform (the
feed's "publication" variant, later dashboards) first goes through `suppress`.

The table. Each of the 63 tables is a 9-way contingency table: a cell is a combination of the 9
grouping values and only cells that occur are listed. An absent cell is a known zero: it is
never suppressed and never used as a complement. A suppressed cell is still listed, with an
empty count (`publication_csv`), so a reader knows it holds at least one record.

What a reader is assumed to know. The published cells; that every listed suppressed cell is
>= 1; the table total (the manifest gives each source's rows); and the total of every "line":
the cells that share all grouping values but one, for each of the 9 dimensions. Line totals are
not printed, but the other tables of the feed give many of them away: two tables with the same
outcome share the margin over the extra variable, two with the same extra variable the margin
over the outcome, and a dashboard may show any margin. Knowing a line's total and its published
cells, a reader knows the sum S of its k suppressed cells, hence each of them lies in
[1, S - k + 1]. A cell is disclosed exactly when k = 1, or when S = k (all of them are 1).

The rule.
1. Primary: every cell with 0 < count < threshold (default 5) is suppressed.
2. Complementary: while some line, or the table as a whole, has k = 1 or S = k, one more cell of
   it is suppressed: the unsuppressed cell ranked lowest by (its count is a published margin,
   it would leave S = k, count, grouping values). The last two make the choice the smallest
   cell, deterministically; the second asks for a cell of >= 2 when the suppressed cells are
   all 1 (one more 1 would still give S = k). Every cell suppressed re-checks all lines through
   it, so the result is a fixpoint: no line has k = 1, and S = k only where nothing can help.
   It terminates because cells are only ever added. The sum of a line's suppressed cells is
   still known and may itself be below the threshold; with k >= 2 that names no single cell.
3. A line with one listed cell is no line: its total is that cell, as well or as badly hidden.
   But along the outcome and the extra variable such a single cell is itself a margin the other
   tables publish, so it is a poor complement (ranked last) and, if used as one, counted in
   `exposed_lines`. (A primary cell there is safe: its margin is below the threshold, so every
   cell adding up to it in the other tables is suppressed too.)

`exposed_lines` counts what the rule could not protect: lines whose cells are all 1 (their total
alone says so), a table of a single suppressed cell (its total is the manifest's row count), and
complements alone along the outcome or the extra variable. The manifest reports it.

Known limits of line-based complementary suppression (honestly: this is not an audit).
- It guards each line and the total one equation at a time. A reader who combines equations of
  several lines (a linear program over the whole 9-way table, or over the 63 tables, whose
  margins overlap) can narrow, and sometimes pin, a suppressed cell that every single line
  hides. The classic case in two dimensions: a suppressed cell on no cycle of suppressed cells
  (row, column, row, ...), a bridge between two groups of them, is the hidden sums of one
  group's rows minus the hidden sums of its columns. No protection interval (how far a
  reader's bounds must stay from the true count) is enforced, only that no cell is pinned by
  one line.
- Tables are suppressed one by one; complements are not coordinated across the 63 tables nor
  with other publications, and the derived outcomes (levels from admission, ICU, ventilation
  and death) and derived extras (two duration categories, two waves) tie tables together by
  logic, not only by sums.
- Listing a suppressed cell says that someone has that combination of 9 values.
For a stronger guarantee publish fewer dimensions, or run an optimal suppression tool (e.g.
tau-Argus or sdcTable) with an audit on the published result.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from casereports.csvsafe import safe_cell
from exports.federated.tables import PREFIX, TABLE_SPECS, CountTables, TableSpec, table_csv

DEFAULT_THRESHOLD = 5
# In every table, the outcome and the extra variable follow the 7 prefix values; the other
# tables publish the margins over each of them.
FEED_MARGIN_DIMENSIONS = (len(PREFIX), len(PREFIX) + 1)

_PUBLISHED, _PRIMARY, _COMPLEMENTARY = 0, 1, 2
Cells = tuple[str, ...]


@dataclass(frozen=True)
class SuppressedTable:
    rows: list[tuple[Cells, int | None]]  # sorted by grouping values; None = suppressed
    primary: int
    complementary: int
    exposed_lines: int

    @property
    def suppressed(self) -> int:
        return self.primary + self.complementary


@dataclass(frozen=True)
class SuppressionResult:
    report_source: str
    threshold: int
    tables: dict[TableSpec, SuppressedTable]

    def rows(self, spec: TableSpec) -> list[tuple[Cells, int | None]]:
        return self.tables[spec].rows

    @property
    def primary(self) -> int:
        return sum(table.primary for table in self.tables.values())

    @property
    def complementary(self) -> int:
        return sum(table.complementary for table in self.tables.values())

    @property
    def suppressed(self) -> int:
        return self.primary + self.complementary

    @property
    def exposed_lines(self) -> int:
        return sum(table.exposed_lines for table in self.tables.values())

    def manifest(self) -> dict:
        """What the publication's manifest says about suppression for this report source."""
        return {
            "threshold": self.threshold,
            "cells_suppressed": self.suppressed,
            "primary": self.primary,
            "complementary": self.complementary,
            "exposed_lines": self.exposed_lines,
            "suppressed_count_written_as": "empty cell",
        }


def suppress(tables: CountTables, threshold: int = DEFAULT_THRESHOLD) -> SuppressionResult:
    """The 63 tables with small cells and their complements suppressed (see the module doc)."""
    return SuppressionResult(
        report_source=tables.report_source,
        threshold=threshold,
        tables={
            spec: suppress_rows(tables.rows(spec), threshold, FEED_MARGIN_DIMENSIONS)
            for spec in TABLE_SPECS
        },
    )


def suppress_rows(
    rows: Iterable[tuple[Cells, int]],
    threshold: int = DEFAULT_THRESHOLD,
    margin_dimensions: Sequence[int] = (),
) -> SuppressedTable:
    """One table of any width: `rows` are (grouping values, count), zero counts dropped.

    `margin_dimensions` are the positions whose margins other tables publish (rule 3).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError("the suppression threshold must be a whole number >= 1")
    return _Suppression(sorted((cells, n) for cells, n in rows if n), margin_dimensions).run(
        threshold
    )


def _groups(keys: list[int]) -> Iterable[list[int]]:
    groups: defaultdict[int, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    return groups.values()


class _Suppression:
    """Lines indexed once: each cell knows its lines, each line its cells, k and S."""

    def __init__(self, rows: list[tuple[Cells, int]], margin_dimensions: Sequence[int]) -> None:
        self.cells = [cells for cells, _ in rows]
        self.counts = [n for _, n in rows]
        self.status = [_PUBLISHED] * len(rows)
        self.lines_of: list[list[int]] = [[] for _ in rows]
        self.members: list[list[int]] = []
        # How many of the margin dimensions a cell is alone along: its count is published there.
        self.alone_in_margins = [0] * len(rows)
        for dimension, line_keys in enumerate(self._line_keys()):
            for members in _groups(line_keys):
                if len(members) > 1:
                    self._add_line(members)
                elif dimension in margin_dimensions:
                    self.alone_in_margins[members[0]] += 1
        if rows:
            self._add_line(list(range(len(rows))))  # the table total
        self.k = [0] * len(self.members)
        self.s = [0] * len(self.members)

    def _line_keys(self) -> Iterable[list[int]]:
        """Per dimension, each cell's line as one integer: its other values in mixed radix."""
        width = len(self.cells[0]) if self.cells else 0
        codes = []
        for dimension in range(width):
            values: dict[str, int] = {}
            codes.append([values.setdefault(cells[dimension], len(values)) for cells in self.cells])
        places = []
        place = 1
        for dimension_codes in codes:
            places.append(place)
            place *= max(dimension_codes) + 1
        whole = [0] * len(self.cells)
        for dimension_codes, place in zip(codes, places, strict=True):
            whole = [w + code * place for w, code in zip(whole, dimension_codes, strict=True)]
        for dimension_codes, place in zip(codes, places, strict=True):
            yield [w - code * place for w, code in zip(whole, dimension_codes, strict=True)]

    def _add_line(self, members: list[int]) -> None:
        line = len(self.members)
        self.members.append(members)
        for index in members:
            self.lines_of[index].append(line)

    def run(self, threshold: int) -> SuppressedTable:
        queue: deque[int] = deque()
        queued = [False] * len(self.members)
        for index, count in enumerate(self.counts):
            if count < threshold:
                self._hide(index, _PRIMARY)
        for line in range(len(self.members)):
            if self.k[line]:
                queue.append(line)
                queued[line] = True
        while queue:
            line = queue.popleft()
            queued[line] = False
            complement = self._complement_for(line) if self._discloses(line) else None
            if complement is None:
                continue
            self._hide(complement, _COMPLEMENTARY)
            for touched in self.lines_of[complement]:
                if not queued[touched]:
                    queue.append(touched)
                    queued[touched] = True
        return self._result()

    def _hide(self, index: int, status: int) -> None:
        self.status[index] = status
        for line in self.lines_of[index]:
            self.k[line] += 1
            self.s[line] += self.counts[index]

    def _discloses(self, line: int) -> bool:
        k, s = self.k[line], self.s[line]
        return k == 1 or (k > 1 and s == k)

    def _complement_for(self, line: int) -> int | None:
        k, s = self.k[line], self.s[line]
        least_useful = k + 2 - s  # a complement below this leaves every suppressed cell at 1
        candidates = [i for i in self.members[line] if self.status[i] == _PUBLISHED]
        if k > 1:  # all ones already: only a cell of >= 2 helps
            candidates = [i for i in candidates if self.counts[i] >= least_useful]
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda i: (
                self.alone_in_margins[i] > 0,
                self.counts[i] < least_useful,
                self.counts[i],
                self.cells[i],
            ),
        )

    def _result(self) -> SuppressedTable:
        exposed = sum(1 for line in range(len(self.members)) if self._discloses(line))
        exposed += sum(
            alone
            for alone, status in zip(self.alone_in_margins, self.status, strict=True)
            if status == _COMPLEMENTARY
        )
        return SuppressedTable(
            rows=[
                (cells, None if status else count)
                for cells, count, status in zip(self.cells, self.counts, self.status, strict=True)
            ],
            primary=self.status.count(_PRIMARY),
            complementary=self.status.count(_COMPLEMENTARY),
            exposed_lines=exposed,
        )


def publication_csv(spec: TableSpec, result: SuppressionResult) -> str:
    """One suppressed table in `table_csv`'s shape; a suppressed count is an empty cell.

    Empty, not a marker such as `<5`: pandas and R read it as a missing number, and the
    column stays numeric for the cells that are published.
    """
    return table_csv(spec, [(cells, safe_cell(count)) for cells, count in result.rows(spec)])


def publication_files(result: SuppressionResult) -> dict[str, str]:
    """The 63 suppressed tables of one report source by file name, in the toolkit's order."""
    return {
        spec.file_name(result.report_source): publication_csv(spec, result) for spec in TABLE_SPECS
    }
