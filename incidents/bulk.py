"""Set-based INSERT for PostgreSQL: any number of rows of a model in one statement.

The rows' own values travel as one array per column (`unnest`), so the statement text and its
parameter count stay the same whatever the number of rows; every other column takes the value a new
model instance has (its Python default, `auto_now` included), so a column added to the model later is
filled without touching this code. Used where a mass outage writes thousands of rows at once.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model


def insert_many(
    model: type[Model],
    columns: dict[str, list],
    *,
    constants: dict | None = None,
    ignore_conflicts: bool = False,
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """INSERT one row per index of the lists in `columns` (attname → values, all of one length); the
    other columns from `model(**constants)`. ON CONFLICT DO NOTHING when `ignore_conflicts` (a row that would break
    a unique constraint, partial ones included, is skipped). Returns the `returning` columns of the rows
    that went in."""
    template = model(**(constants or {}))
    names: list[str] = []
    exprs: list[str] = []
    params: list = []
    arrays: list[tuple[str, list]] = []
    ops = connection.ops
    for field in model._meta.concrete_fields:
        if field.primary_key and field.attname not in columns:
            continue
        assert field.column is not None  # a concrete field has its column
        names.append(ops.quote_name(field.column))
        if field.attname in columns:
            exprs.append(f"v.c{len(arrays)}")
            values = [field.get_db_prep_save(value, connection) for value in columns[field.attname]]
            arrays.append((f"%s::{field.db_type(connection)}[]", values))
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
    sources = ", ".join(cast for cast, _ in arrays)
    aliases = ", ".join(f"c{i}" for i in range(len(arrays)))
    sql = (
        f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({', '.join(names)}) "  # noqa: S608 - names from the model
        f"SELECT {', '.join(exprs)} FROM unnest({sources}) AS v({aliases})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
        + (f" RETURNING {', '.join(ops.quote_name(name) for name in returning)}" if returning else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(values for _, values in arrays)])
        return cursor.fetchall() if returning else []
