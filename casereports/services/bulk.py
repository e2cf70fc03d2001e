"""Inserting many rows at once: PostgreSQL's COPY (with ids reserved from the table's sequence
first, in order, so callers know each row's id and an audit chain keeps its order), or Django's
bulk_create elsewhere. Used where one action writes thousands of rows (a registry's import).

Django's own bulk_create on PostgreSQL sends JSON values through array parameters, escaping
every character in Python: for an import of 100,000 records that was most of the commit's time.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


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
