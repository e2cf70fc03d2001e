"""The pooled feed: the platform's tables plus each upload as its own source, cell by cell."""

import pytest

from exports.federated.pool import Contribution, pool, pool_manifest_sources
from exports.federated.tables import (
    MISSING,
    RECORD_KEY,
    TABLE_SPECS,
    CountTables,
    TableSpec,
    record_key,
)

SMOKER_DEATH = TableSpec("current_or_former_smoker", "covid19_outcome_death")


def record(**values: str) -> dict[str, str]:
    base = dict.fromkeys(RECORD_KEY, "")
    base.update(covid19_diagnosis="confirmed", sex_binary="female", age_in_cat="1")
    base.update(values)
    return base


def tables_of(report_source: str, records: list[tuple[dict[str, str], str]]) -> CountTables:
    tables = CountTables(report_source)
    for values, source in records:
        tables.add(record_key(values, source))
    return tables


def platform(tables: CountTables, rows: int | None = None) -> Contribution:
    return Contribution(
        label="platform",
        kind="platform",
        report_source=tables.report_source,
        tables=tables,
        rows=tables.total() if rows is None else rows,
        dated="2026-12-01T21:00:00+00:00",
        site=None,
    )


def upload(label: str, tables: CountTables, site: str = "DE01") -> Contribution:
    return Contribution(
        label=label,
        kind="upload",
        report_source=tables.report_source,
        tables=tables,
        rows=tables.total(),
        dated="2026-11-30",
        site=site,
    )


def cells_by_source(tables: CountTables, spec: TableSpec) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cells, n in tables.rows(spec):
        counts[cells[1]] = counts.get(cells[1], 0) + n
    return counts


def test_uploads_are_relabelled_and_the_platform_keeps_its_sources():
    smoker_dead = record(current_or_former_smoker="1", covid19_outcome_death="yes")
    in_germany = [(smoker_dead, "C_Germany")] * 2
    platform_tables = tables_of("clinicians", [*in_germany, (record(), "C_Italy")])
    first = tables_of("clinicians", [(smoker_dead, MISSING), (record(), MISSING)])
    second = tables_of("clinicians", [(smoker_dead, MISSING)] * 3)

    pooled = pool([platform(platform_tables), upload("R_DE01", first), upload("R_FR02", second)])

    clinicians = pooled["clinicians"]
    assert list(pooled) == ["clinicians"]
    assert cells_by_source(clinicians, SMOKER_DEATH) == {
        "C_Germany": 2,
        "C_Italy": 1,
        "R_DE01": 2,
        "R_FR02": 3,
    }
    dead_smokers_of = {
        cells[1]: n
        for cells, n in clinicians.rows(SMOKER_DEATH)
        if cells[7] == "yes" and cells[8] == "1"
    }
    assert dead_smokers_of == {"C_Germany": 2, "R_DE01": 1, "R_FR02": 3}
    assert all(cells[1] != MISSING for spec in TABLE_SPECS for cells, _ in clinicians.rows(spec))


def test_cells_of_the_same_source_add_up_and_every_table_totals_all_records():
    dead = record(covid19_outcome_death="yes")
    first_platform = tables_of("patients", [(dead, "P_Spain")] * 2)
    second_platform = tables_of("patients", [(dead, "P_Spain"), (record(), "P_Spain")])
    an_upload = tables_of("patients", [(dead, MISSING)] * 4)
    contributions = [
        Contribution("platform-a", "platform", "patients", first_platform, 2, "2026-12-01", None),
        Contribution("platform-b", "platform", "patients", second_platform, 2, "2026-12-01", None),
        upload("R_ES03", an_upload),
    ]

    pooled = pool(contributions)["patients"]

    assert {spec: pooled.total(spec) for spec in TABLE_SPECS} == dict.fromkeys(TABLE_SPECS, 8)
    assert cells_by_source(pooled, SMOKER_DEATH) == {"P_Spain": 4, "R_ES03": 4}
    dead_in_spain = [
        n for cells, n in pooled.rows(SMOKER_DEATH) if cells[1] == "P_Spain" and cells[7] == "yes"
    ]
    assert dead_in_spain == [3]
    assert first_platform.total() == 2, "pooling must not change a contribution's own tables"


def test_report_sources_are_pooled_separately():
    contributions = [
        upload("R_DE01", tables_of("clinicians", [(record(), MISSING)])),
        upload("R_DE01", tables_of("patients", [(record(), MISSING)] * 2)),
        platform(tables_of("patients", [(record(), "P_Italy")])),
    ]

    pooled = pool(contributions)

    assert list(pooled) == ["clinicians", "patients"]
    assert pooled["clinicians"].total() == 1
    assert cells_by_source(pooled["patients"], SMOKER_DEATH) == {"P_Italy": 1, "R_DE01": 2}


def test_a_label_used_twice_for_one_report_source_is_refused():
    tables = tables_of("clinicians", [(record(), MISSING)])

    with pytest.raises(ValueError, match="R_DE01"):
        pool([upload("R_DE01", tables), upload("R_DE01", tables, site="DE01-bis")])


def test_an_upload_labelled_like_a_platform_source_is_refused():
    platform_tables = tables_of("clinicians", [(record(), "R_Germany")])
    an_upload = tables_of("clinicians", [(record(), MISSING)])

    with pytest.raises(ValueError, match="already a source"):
        pool([platform(platform_tables), upload("R_Germany", an_upload)])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": ""}, "label"),
        ({"label": MISSING}, "label"),
        ({"kind": "registry"}, "kind"),
        ({"report_source": "patients"}, "report source"),
        ({"rows": -1}, "rows"),
        ({"dated": "yesterday"}, "ISO"),
    ],
)
def test_a_malformed_contribution_is_refused(changes, message):
    fields = {
        "label": "R_DE01",
        "kind": "upload",
        "report_source": "clinicians",
        "tables": CountTables("clinicians"),
        "rows": 0,
        "dated": "2026-11-30T10:00:00",
        "site": "DE01",
    }
    fields.update(changes)

    with pytest.raises(ValueError, match=message):
        Contribution(**fields)


def test_the_manifest_lists_every_contribution_with_its_rows_and_date():
    platform_tables = tables_of("clinicians", [(record(), "C_Italy")] * 3)
    an_upload = tables_of("clinicians", [(record(), MISSING)] * 2)
    contributions = [platform(platform_tables, rows=3), upload("R_DE01", an_upload)]

    assert pool_manifest_sources(contributions) == [
        {
            "label": "platform",
            "kind": "platform",
            "report_source": "clinicians",
            "rows": 3,
            "dated": "2026-12-01T21:00:00+00:00",
            "site": None,
        },
        {
            "label": "R_DE01",
            "kind": "upload",
            "report_source": "clinicians",
            "rows": 2,
            "dated": "2026-11-30",
            "site": "DE01",
        },
    ]
