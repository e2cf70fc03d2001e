"""Inserting many rows at once: PostgreSQL's COPY (with ids reserved from the table's sequence
first, in order, so callers know each row's id and an audit chain keeps its order), or Django's
bulk_create elsewhere. Used where one action writes thousands of rows (a registry's import).

Django's own bulk_create on PostgreSQL sends JSON values through array parameters, escaping
every character in Python: for an import of 100,000 records that was most of the commit's time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import JSONField, Model
from django.utils import timezone


def insert_all(objects: Sequence[Model]) -> None:
    """Insert `objects` (all of one model, none saved yet); each gets its primary key."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s) ORDER BY 1",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        fields = list(meta.concrete_fields)
        columns = ", ".join(quote(f.column) for f in fields)
        statement = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(statement) as copy:
            for obj in objects:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
                )
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert plain rows (attribute name -> Python value; every field left out gets its
    default) and return their new ids, in order. The fast path for many rows: no model
    instance per row, JSON dumped once per value."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objects = [model(**row) for row in rows]
        model.objects.bulk_create(objects, batch_size=500)
        return [obj.pk for obj in objects]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    defaults = {
        f.attname: now
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_default()
        for f in fields
    }
    jsons = {f.attname for f in fields if isinstance(f, JSONField)}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, meta, len(rows))
        columns = ", ".join(quote(c) for c in [meta.pk.column, *(f.column for f in fields)])
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row([pk, *_cells(row, fields, defaults, jsons)])
    return ids


def _reserve_ids(cursor, meta, count: int) -> list[int]:
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s) ORDER BY 1",
        [meta.db_table, meta.pk.column, count],
    )
    return [pk for (pk,) in cursor.fetchall()]


def _cells(row: dict[str, Any], fields, defaults: dict[str, Any], jsons: set[str]) -> Iterable:
    for f in fields:
        value = row.get(f.attname, defaults[f.attname])
        yield json.dumps(value, ensure_ascii=False) if f.attname in jsons else value


def update_rows(model: type[Model], rows: list[dict[str, Any]], fields: Sequence[str]) -> None:
    """Set `fields` of each row (matched by "pk"), in one round trip per few hundred rows."""
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    by_name = {f.attname: f for f in meta.concrete_fields}
    jsons = {name for name in fields if isinstance(by_name[name], JSONField)}
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    assignments = ", ".join(
        f"{quote(by_name[name].column)} = %s{cast if name in jsons else ''}" for name in fields
    )
    statement = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    )
    parameters = [
        [
            json.dumps(row[name], ensure_ascii=False) if name in jsons else row[name]
            for name in fields
        ]
        + [row["pk"]]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, parameters)
