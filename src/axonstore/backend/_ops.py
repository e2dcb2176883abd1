"""Operations prepared without I/O: what each verb names, and how to build its SQL from a schema.

The backend (``backend.py``) runs them through one hit/miss skeleton; everything here raises only the
errors that need no database (identifiers, filter and bounds syntax, ``EmptyData``, ``UnboundedWrite``:
D13), in the contract's order, and never touches a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import psycopg
from psycopg.types.json import Jsonb

from axonstore._text import trim
from axonstore.errors import EmptyData, UnboundedWrite, UnknownColumn
from axonstore.filter import (
    Aggregate,
    compile_where,
    parse_aggregate_clause,
    parse_filter,
    parse_order_by,
    render_bounds,
)
from axonstore.idents import checked_ident
from axonstore.schema import SCHEMA_CACHE, ResolvedTable
from axonstore.sql import (
    build_delete_sql,
    build_insert_sql,
    build_reinforce_sql,
    build_retrieve_sql,
    build_select_sql,
    build_update_sql,
)
from axonstore.stream import Backpressure

#: Column data for a write: a mapping, or (column, value) pairs kept in the given order.
Data: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]]
Bindings: TypeAlias = Mapping[str, str] | None
Statement: TypeAlias = tuple[str, list[Any]]

STREAM_CHUNK: Final = 1_000
_CHUNKED_STREAMS: Final = psycopg.capabilities.has_stream_chunked()
_JSON_TYPES: Final = frozenset({"json", "jsonb"})


@dataclass(slots=True)
class Op:
    """One operation: the op label in errors, its table, the columns it names, and its SQL builder."""

    name: str  # retrieve / persist / mutate / purge / reinforce
    table: str
    columns: tuple[str, ...]
    build: Callable[[ResolvedTable], Statement]
    precheck: Callable[[], object]  # the build's pure checks, for the miss path (no schema yet)


def select_op(table: str, where: str, bindings: Bindings) -> Op:
    """``query``: ``SELECT *`` with a filter."""
    return _filter_op("retrieve", table, where, bindings, build_select_sql)


def delete_op(table: str, where: str, bindings: Bindings, all_rows: bool) -> Op:
    """``purge``: a blank ``where`` needs ``all_rows`` (D3)."""
    op = _filter_op("purge", table, where, bindings, build_delete_sql)
    _refuse_unbounded("purge", table, where, all_rows)
    return op


def insert_op(table: str, data: Data) -> Op:
    """``insert``: one row, columns in the given order."""
    checked_ident("table", table)
    pairs = _checked_pairs(data)
    if not pairs:
        raise EmptyData("insert")
    return Op(
        "persist",
        table,
        tuple(column for column, _ in pairs),
        lambda r: build_insert_sql(table, r.schema, _adapted(pairs, r.column_types), r.column_types),
        lambda: build_insert_sql(table, None, pairs),
    )


def update_op(table: str, where: str, data: Data, bindings: Bindings, all_rows: bool) -> Op:
    """``mutate``: identifiers, then the filter, then ``EmptyData``, then ``UnboundedWrite``."""
    checked_ident("table", table)
    pairs = _checked_pairs(data)
    parsed = parse_filter(where, bindings)
    if not pairs:
        raise EmptyData("mutate")
    _refuse_unbounded("mutate", table, where, all_rows)
    named = tuple(dict.fromkeys([*(c for c, _ in pairs), *(parsed.columns if parsed else ())]))
    return Op(
        "mutate",
        table,
        named,
        lambda r: build_update_sql(
            table, r.schema, where, _adapted(pairs, r.column_types), bindings, r.column_types
        ),
        lambda: build_update_sql(table, None, where, pairs, bindings),
    )


def reinforce_op(table: str, from_id: str, to_id: str, etype: str, delta: float, floor: float) -> Op:
    """``reinforce``: the atomic edge-weight update on the edge (from_id, to_id, etype)."""
    checked_ident("table", table)
    params: list[Any] = [float(delta), float(floor), from_id, to_id, etype]
    return Op(
        "reinforce",
        table,
        ("weight", "from_id", "to_id", "etype"),
        lambda r: (build_reinforce_sql(table, r.schema, r.column_types), params),
        lambda: None,
    )


def retrieve_op(
    table: str,
    where: str,
    bindings: Bindings,
    order_by: str,
    limit: str,
    aggregate: str,
    group_by: str,
) -> Op:
    """A bounded retrieve: with ``ORDER BY``/``LIMIT``, or an aggregate (the two never mix)."""
    checked_ident("table", table)
    parsed = parse_filter(where, bindings)
    agg = parse_aggregate_clause(aggregate, group_by, order_by, limit)
    bounds = "" if agg else render_bounds(order_by, limit, bindings)
    named = [*(parsed.columns if parsed else ()), *_bound_columns(order_by, agg)]
    return Op(
        "retrieve",
        table,
        tuple(dict.fromkeys(named)),
        lambda r: build_retrieve_sql(table, r.schema, where, bindings, r.column_types, bounds, agg),
        lambda: compile_where(where, 0, None, bindings),
    )


def prepared(op: Op, key: tuple[str, str]) -> Statement | None:
    """The statement built from the cached schema (a hit), or ``None`` after the pure checks (a miss).

    Either way every error that needs no database has been raised by now (D13).
    """
    cached = SCHEMA_CACHE.get(key)
    if cached is not None and cached.first_missing(op.columns) is None:
        return op.build(cached)
    op.precheck()
    return None


def require_columns(op: Op, resolved: ResolvedTable) -> None:
    """``UnknownColumn`` (with the table's columns) for a named column the live table lacks (D4)."""
    missing = resolved.first_missing(op.columns)
    if missing is not None:
        raise UnknownColumn(op.table, missing, tuple(resolved.column_types))


def chunk_for(policy: Backpressure, bound: int) -> int:
    """Rows per fetch of a stream: enough to amortise, never far past what the policy will keep."""
    if not _CHUNKED_STREAMS:
        return 1
    if policy is Backpressure.DEGRADE_QUALITY:
        return STREAM_CHUNK
    return max(1, min(bound + 1, STREAM_CHUNK))


def _filter_op(
    name: str, table: str, where: str, bindings: Bindings, builder: Callable[..., Statement]
) -> Op:
    checked_ident("table", table)
    parsed = parse_filter(where, bindings)
    return Op(
        name,
        table,
        parsed.columns if parsed else (),
        lambda r: builder(table, r.schema, where, bindings, r.column_types),
        lambda: compile_where(where, 0, None, bindings),
    )


def _checked_pairs(data: Data) -> list[tuple[str, object]]:
    """Column data as ordered pairs, identifiers checked."""
    pairs = list(data.items()) if isinstance(data, Mapping) else [tuple(pair) for pair in data]
    out: list[tuple[str, object]] = []
    for pair in pairs:
        if len(pair) != 2:
            raise TypeError(f"column data must be (column, value) pairs, got {pair!r}")
        column, value = pair
        checked_ident("column", column)  # type: ignore[arg-type]  # checked, whatever it is
        out.append((column, value))  # type: ignore[arg-type]
    return out


def _adapted(pairs: list[tuple[str, object]], column_types: Mapping[str, str]) -> list[tuple[str, object]]:
    """Python containers as JSON where the column is json/jsonb (a dict always); lists stay arrays."""
    if not any(isinstance(value, (dict, list)) for _, value in pairs):
        return pairs
    return [
        (
            column,
            Jsonb(value)
            if isinstance(value, dict)
            or (isinstance(value, list) and column_types.get(column) in _JSON_TYPES)
            else value,
        )
        for column, value in pairs
    ]


def _json_list(value: object, udt: str | None) -> bool:
    return isinstance(value, list) and udt in _JSON_TYPES


def _refuse_unbounded(op: str, table: str, where: str, all_rows: bool) -> None:
    if not all_rows and not trim(where):
        raise UnboundedWrite(op, table)


def _bound_columns(order_by: str, agg: Aggregate | None) -> list[str]:
    if agg is not None:
        return list(agg.columns)
    return [column for column, _ in parse_order_by(order_by)]
