"""Pure SQL builders: statement text with ``$n`` placeholders and the parameter list (no I/O).

The text is byte-identical to the reference's for every input it accepts (ANCHOR §3.14). Identifiers
are validated and double-quoted by one function; values only ever travel as parameters, except SQL
``NULL``, which is written inline and consumes no placeholder.

>>> build_update_sql("users", None, "id = 5", {"name": None, "age": 40})
('UPDATE "users" SET "name" = NULL, "age" = $1 WHERE "id"::text = $2', [40, 5])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from axonstore.errors import EmptyData
from axonstore.filter import (
    Aggregate,
    build_pg_where,
    check_parameter_count,
    render_aggregate_select,
    render_group_by_suffix,
)
from axonstore.idents import checked_ident, qualified_relation, type_cast

__all__ = [
    "Row",
    "build_delete_sql",
    "build_insert_sql",
    "build_reinforce_sql",
    "build_retrieve_sql",
    "build_select_sql",
    "build_update_sql",
    "normalize_data",
]

#: Column data for a write: a mapping, or (column, value) pairs kept in the given order.
Row: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]]
Params: TypeAlias = list[object]


def normalize_data(data: Row, op: str) -> list[tuple[str, object]]:
    """``data`` as ordered (column, value) pairs; ``EmptyData(op)`` when there are none."""
    pairs = list(data.items()) if isinstance(data, Mapping) else [tuple(pair) for pair in data]
    if not pairs:
        raise EmptyData(op)
    for pair in pairs:
        if len(pair) != 2:
            raise TypeError(f"column data must be (column, value) pairs, got {pair!r}")
    return pairs  # type: ignore[return-value]  # checked just above


def build_select_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> tuple[str, Params]:
    """``SELECT * FROM "schema"."table" WHERE <clause>``."""
    relation = qualified_relation(table, schema)
    clause, params = build_pg_where(where, 0, bindings, column_types)
    return f"SELECT * FROM {relation} WHERE {clause}", list(params)


def build_retrieve_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None,
    column_types: Mapping[str, str] | None,
    bounds: str,
    aggregate: Aggregate | None,
) -> tuple[str, Params]:
    """A select with an ``ORDER BY``/``LIMIT`` suffix, or an aggregate select (the two never mix).

    ``bounds`` is :func:`axonstore.filter.render_bounds`' output; ``aggregate`` is a parsed clause.
    """
    relation = qualified_relation(table, schema)
    clause, params = build_pg_where(where, 0, bindings, column_types)
    if aggregate is None:
        return f"SELECT * FROM {relation} WHERE {clause}{bounds}", list(params)
    select_list = render_aggregate_select(aggregate)
    suffix = render_group_by_suffix(aggregate)
    return f"SELECT {select_list} FROM {relation} WHERE {clause}{suffix}", list(params)


def _bound_values(
    pairs: list[tuple[str, object]], column_types: Mapping[str, str] | None
) -> tuple[list[str], list[str], Params]:
    """Quoted columns, their value expressions (``$n::udt``, or an inline ``NULL`` that takes no
    placeholder) and the parameters: what INSERT and UPDATE both write."""
    columns: list[str] = []
    values: list[str] = []
    params: Params = []
    for column, value in pairs:
        columns.append(checked_ident("column", column))
        if value is None:
            values.append("NULL")
        else:
            params.append(value)
            values.append(f"${len(params)}{type_cast(column_types, column)}")
    check_parameter_count(0, len(params))
    return columns, values, params


def build_insert_sql(
    table: str,
    schema: str | None,
    data: Row,
    column_types: Mapping[str, str] | None = None,
) -> tuple[str, Params]:
    """``INSERT INTO "schema"."table" ("a", "b") VALUES ($1::udt, NULL)``."""
    relation = qualified_relation(table, schema)
    columns, values, params = _bound_values(normalize_data(data, "insert"), column_types)
    return f"INSERT INTO {relation} ({', '.join(columns)}) VALUES ({', '.join(values)})", params


def build_update_sql(
    table: str,
    schema: str | None,
    where: str,
    data: Row,
    bindings: Mapping[str, object] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> tuple[str, Params]:
    """``UPDATE … SET "c" = $k::udt | NULL, … WHERE <clause>``, the clause numbered after the SET values."""
    relation = qualified_relation(table, schema)
    columns, values, params = _bound_values(normalize_data(data, "mutate"), column_types)
    assignments = ", ".join(f"{column} = {value}" for column, value in zip(columns, values, strict=True))
    clause, where_params = build_pg_where(where, len(params), bindings, column_types)
    return f"UPDATE {relation} SET {assignments} WHERE {clause}", params + where_params


def build_delete_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> tuple[str, Params]:
    """``DELETE FROM "schema"."table" WHERE <clause>``."""
    relation = qualified_relation(table, schema)
    clause, params = build_pg_where(where, 0, bindings, column_types)
    return f"DELETE FROM {relation} WHERE {clause}", list(params)


def build_reinforce_sql(
    table: str,
    schema: str | None,
    column_types: Mapping[str, str] | None = None,
) -> str:
    """The atomic edge-weight update: ``weight = LEAST(GREATEST(weight + Δ, floor), 1.0)``.

    Parameters: ``$1`` delta, ``$2`` floor, ``$3`` from_id, ``$4`` to_id, ``$5`` etype.
    """
    relation = qualified_relation(table, schema)
    from_cast = type_cast(column_types, "from_id")
    to_cast = type_cast(column_types, "to_id")
    etype_cast = type_cast(column_types, "etype")
    return (
        f'UPDATE {relation} SET "weight" = LEAST(GREATEST("weight" + $1::float8, $2::float8), 1.0) '
        f'WHERE "from_id" = $3{from_cast} AND "to_id" = $4{to_cast} AND "etype" = $5{etype_cast}'
    )
