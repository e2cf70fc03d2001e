"""Small-cell suppression: primary cells below the threshold, complements so that no line or
table total gives a suppressed cell away, and the publication CSV."""

import csv
import io
import random
from collections import defaultdict

import pytest

from exports.federated.suppress import (
    FEED_MARGIN_DIMENSIONS,
    publication_csv,
    publication_files,
    suppress,
    suppress_rows,
)
from exports.federated.tables import (
    RECORD_KEY,
    TABLE_SPECS,
    CountTables,
    TableSpec,
    table_csv,
)

SMOKER_DEATH = TableSpec("current_or_former_smoker", "covid19_outcome_death")
PREFIX_CELLS = ("confirmed", "R_DE01", "dmt", "1", "relapsing", "female", "0")


def death_by_smoking(counts: dict[tuple[str, str], int]) -> CountTables:
    """Clinicians' tables with only the smoker × death table filled, one row of 7 fixed values."""
    tables = CountTables("clinicians")
    rows = [((*PREFIX_CELLS, death, smoker), n) for (death, smoker), n in counts.items()]
    tables.add_table_rows(SMOKER_DEATH, rows)
    return tables


HAND_TABLE = {
    #  death  smoker
    ("yes", "0"): 2,
    ("yes", "1"): 7,
    ("yes", "missing"): 9,
    ("no", "0"): 12,
    ("no", "1"): 3,
    ("no", "missing"): 20,
}


def published(result, spec=SMOKER_DEATH) -> dict[tuple[str, str], int | None]:
    return {cells[7:]: n for cells, n in result.rows(spec)}


def test_a_hand_worked_table_hides_its_two_small_cells_and_one_complement_in_each_column():
    # death \ smoker     0    1  missing
    #   yes              2    7    9
    #   no              12    3   20
    # 2 and 3 are below 5. Column 0 then has one hidden cell: its other cell, 12, is hidden;
    # column 1 likewise hides 7. Each row and column now hides two cells, and so does the total.
    result = suppress(death_by_smoking(HAND_TABLE))

    assert published(result) == {
        ("no", "0"): None,
        ("no", "1"): None,
        ("no", "missing"): 20,
        ("yes", "0"): None,
        ("yes", "1"): None,
        ("yes", "missing"): 9,
    }
    table = result.tables[SMOKER_DEATH]
    assert (table.primary, table.complementary, table.exposed_lines) == (2, 2, 0)
    assert result.manifest() == {
        "threshold": 5,
        "cells_suppressed": 4,
        "primary": 2,
        "complementary": 2,
        "exposed_lines": 0,
        "suppressed_count_written_as": "empty cell",
    }


def test_threshold_one_suppresses_nothing_and_ten_hides_the_whole_hand_table():
    assert published(suppress(death_by_smoking(HAND_TABLE), threshold=1)) == {
        (death, smoker): n for (death, smoker), n in sorted(HAND_TABLE.items())
    }
    # Below 10: 2, 7, 9 and 3. Row "no" then hides 12 (its smallest other cell); column
    # "missing" hides 20 next to 9.
    result = suppress(death_by_smoking(HAND_TABLE), threshold=10)
    assert set(published(result).values()) == {None}
    assert (result.primary, result.complementary) == (4, 2)


@pytest.mark.parametrize("threshold", [0, -5, 2.5, True])
def test_a_threshold_that_is_not_a_whole_number_from_one_is_refused(threshold):
    with pytest.raises(ValueError, match="threshold"):
        suppress(death_by_smoking(HAND_TABLE), threshold=threshold)


def test_two_hidden_ones_get_a_complement_of_at_least_two():
    # Row a: 1, 1, 8. With the row total (10) known, hiding just the two 1s says both are 1.
    result = suppress_rows([(("a", "x"), 1), (("a", "y"), 1), (("a", "z"), 8)])

    assert [n for _, n in result.rows] == [None, None, None]
    assert (result.primary, result.complementary, result.exposed_lines) == (2, 1, 0)


def test_complements_avoid_a_cell_whose_count_other_tables_publish():
    #        x   y   z       Column y holds only (a, y): along dimension 0 its count is a
    #   a    2   6   9       margin the other tables publish, so hiding it protects nothing.
    #   b            7       Row a takes 9 instead, and column z then hides 7.
    rows = [(("a", "x"), 2), (("a", "y"), 6), (("a", "z"), 9), (("b", "z"), 7)]

    with_margins = suppress_rows(rows, margin_dimensions=(0,))
    without_margins = suppress_rows(rows)

    assert dict(with_margins.rows) == {
        ("a", "x"): None,
        ("a", "y"): 6,
        ("a", "z"): None,
        ("b", "z"): None,
    }
    assert dict(without_margins.rows) == {
        ("a", "x"): None,
        ("a", "y"): None,
        ("a", "z"): 9,
        ("b", "z"): 7,
    }
    assert with_margins.exposed_lines == without_margins.exposed_lines == 0


@pytest.mark.parametrize(
    ("rows", "margins", "exposed"),
    [
        ([(("a", "x"), 3)], (), 1),  # one cell: the table total (the manifest's rows) is it
        ([(("a", "x"), 1), (("a", "y"), 1)], (), 2),  # all ones: row a and the total say so
        ([(("a", "x"), 2), (("a", "y"), 6)], (0,), 1),  # the only complement, 6, is published
    ],
)
def test_what_no_suppression_can_protect_is_counted_as_exposed(rows, margins, exposed):
    result = suppress_rows(rows, margin_dimensions=margins)

    assert all(n is None for _, n in result.rows)
    assert result.exposed_lines == exposed


def test_the_result_does_not_depend_on_the_order_of_the_rows():
    rng = random.Random(7)
    rows = random_table(rng, cells=300)
    shuffled = rows[:]
    rng.shuffle(shuffled)

    assert suppress_rows(rows, 5, FEED_MARGIN_DIMENSIONS) == suppress_rows(
        shuffled, 5, FEED_MARGIN_DIMENSIONS
    )


# --- properties over many random tables ---------------------------------------------------


def random_table(rng: random.Random, cells: int) -> list[tuple[tuple[str, ...], int]]:
    sizes = [rng.randint(1, 4) for _ in range(9)]
    table: dict[tuple[str, ...], int] = {}
    for _ in range(cells):
        key = tuple(str(rng.randrange(size)) for size in sizes)
        table[key] = table.get(key, 0) + rng.choice([1, 1, 1, 2, 3, 4, 5, 6, 9, 15, 40])
    rows = list(table.items())
    rows += [((*key[:-1], "zero"), 0) for key, _ in rows[:3]]  # stored zeros, never shown
    return rows


def lines_of(rows: list[tuple[tuple[str, ...], int]]) -> list[list[tuple[str, ...]]]:
    """Every line of two or more cells along each dimension, and the whole table."""
    lines: list[list[tuple[str, ...]]] = []
    for dimension in range(9):
        groups = defaultdict(list)
        for key, _ in rows:
            groups[key[:dimension] + key[dimension + 1 :]].append(key)
        lines += [line for line in groups.values() if len(line) > 1]
    return [*lines, [key for key, _ in rows]]


def assert_protected(exact_rows, result, threshold: int) -> None:
    exact = {key: n for key, n in exact_rows if n}
    shown = dict(result.rows)
    assert sorted(shown) == sorted(exact), "exactly the occurring cells are listed"
    hidden = {key for key, n in shown.items() if n is None}
    assert all(shown[key] == n for key, n in exact.items() if key not in hidden)
    assert {key for key, n in exact.items() if n < threshold} <= hidden
    assert result.primary == sum(1 for n in exact.values() if n < threshold)
    assert result.complementary == len(hidden) - result.primary
    for line in lines_of(list(exact.items())):
        total = sum(exact[key] for key in line)
        unknown = total - sum(shown[key] for key in line if key not in hidden)
        unknowns = [key for key in line if key in hidden]
        assert len(unknowns) != 1, f"line total reveals {unknowns[0]}"
        if unknowns and unknown == len(unknowns):  # all hidden cells would be 1 ...
            assert all(exact[key] == 1 for key in line)  # ... only if nothing could help


def test_random_tables_never_reveal_a_suppressed_cell_through_a_line_or_the_total():
    rng = random.Random(20261201)
    for _ in range(300):
        rows = random_table(rng, cells=rng.randint(1, 250))
        threshold = rng.choice([2, 3, 5, 5, 10])
        assert_protected(rows, suppress_rows(rows, threshold, FEED_MARGIN_DIMENSIONS), threshold)


def test_random_tables_with_threshold_one_are_published_exactly():
    rng = random.Random(5)
    for _ in range(50):
        rows = random_table(rng, cells=100)
        result = suppress_rows(rows, 1, FEED_MARGIN_DIMENSIONS)
        assert dict(result.rows) == {key: n for key, n in rows if n}
        assert (result.primary, result.complementary, result.exposed_lines) == (0, 0, 0)


def random_count_tables(seed: int, records: int) -> CountTables:
    rng = random.Random(seed)
    tables = CountTables("patients")
    choices = {
        name: [str(v) for v in range(rng.randint(1, 3))] + ["missing"] for name in RECORD_KEY
    }
    for _ in range(records):
        tables.add(tuple(rng.choice(choices[name]) for name in RECORD_KEY))
    return tables


def test_every_table_of_a_feed_is_protected_and_the_manifest_adds_them_up():
    tables = random_count_tables(seed=11, records=600)

    result = suppress(tables)

    assert list(result.tables) == list(TABLE_SPECS)
    for spec in TABLE_SPECS:
        assert_protected(tables.rows(spec), result.tables[spec], 5)
    manifest = result.manifest()
    assert manifest["cells_suppressed"] == sum(
        1 for spec in TABLE_SPECS for _, n in result.rows(spec) if n is None
    )
    assert manifest["primary"] + manifest["complementary"] == manifest["cells_suppressed"] > 0


# --- the publication CSV ----------------------------------------------------------------------


def test_the_publication_csv_has_the_feed_shape_with_suppressed_counts_empty():
    result = suppress(death_by_smoking(HAND_TABLE))

    text = publication_csv(SMOKER_DEATH, result)

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == SMOKER_DEATH.header
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "3", "4", "5"]
    assert [(row[8], row[9], row[10]) for row in rows[1:]] == [
        ("no", "0", ""),
        ("no", "1", ""),
        ("no", "missing", "20"),
        ("yes", "0", ""),
        ("yes", "1", ""),
        ("yes", "missing", "9"),
    ]


def test_with_nothing_suppressed_the_publication_csv_is_the_exact_table():
    tables = death_by_smoking(HAND_TABLE)

    unsuppressed = publication_csv(SMOKER_DEATH, suppress(tables, threshold=1))

    assert unsuppressed == table_csv(SMOKER_DEATH, tables.rows(SMOKER_DEATH))


def test_a_publication_cell_that_starts_like_a_formula_is_neutralised():
    tables = CountTables("clinicians")
    tables.add_table_rows(SMOKER_DEATH, [(("=HYPERLINK(1)", *PREFIX_CELLS[1:], "yes", "1"), 8)])

    text = publication_csv(SMOKER_DEATH, suppress(tables))

    assert "\n0,'=HYPERLINK(1),R_DE01," in text


def test_the_publication_files_are_the_63_tables_by_their_feed_names():
    files = publication_files(suppress(death_by_smoking(HAND_TABLE)))

    assert list(files) == [spec.file_name("clinicians") for spec in TABLE_SPECS]
    assert (
        files["clinicians_query3_current_or_former_smoker_covid19_outcome_death.csv"].count("\n")
        == 7
    )
