"""Warm plans: the statement of a repeated call, found by the shape of its arguments (pure, no I/O).

A warm call repeats an earlier one's verb, table, filter text and column names (its projection,
``returning`` and data columns) on a table whose schema is cached. Nothing of the preparation needs
doing again: the statement text is known, and its parameters are the call's data values (in the
order of its columns) followed by its filter's parameters (the bindings interpolated into the cached
render plan). So a warm call costs one dictionary lookup, a check of each value, the interpolation,
one ``execute`` and the decoding of rows — the goal of issue 11.

A plan is built by the cold path's own code (``prepare_*``, the renderers of :mod:`axonstore.sql`) from
the cached schema, and kept only when the parameters it binds for the call that built it equal the
ones the renderer produced. It belongs to the schema it was rendered from: when the cache holds
another (drift, a refresh), the plan is rebuilt. A call the plan cannot take as it is — a ``None``
where the plan binds a value or the reverse, a container for a JSON column, a value that fails its
checks, a pin, telemetry on — takes the cold path, which says exactly what is wrong.

>>> from axonstore.schema import ResolvedTable, SchemaCache
>>> cache = SchemaCache()
>>> cache.put(("db", "claims"), ResolvedTable("public", {"id": "int4", "status": "text"}))
>>> plans = WarmPlans(lambda table: ("db", table), cache)
>>> plan, params = plans.update("claims", "id = '${id}'", {"status": "closed"}, {"id": "7"}, "")
>>> plan.sql, params
('UPDATE "public"."claims" SET "status" = $1::text WHERE "id" = $2::int4', ['closed', '7'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

from axonstore.filter import RenderPlan, plan_for, reusable
from axonstore.operations import (
    Bindings,
    Delete,
    Insert,
    Read,
    Update,
    check_bindings,
    plain_value,
    prepare_delete,
    prepare_insert,
    prepare_read,
    prepare_update,
)
from axonstore.schema import ResolvedTable, SchemaCache
from axonstore.sql import Statement, delete_sql, insert_sql, read_sql, update_sql

__all__ = ["COLD", "MAX_PLANS", "Hit", "WarmPlan", "WarmPlans"]

#: What running a warm plan returns when the cached schema proved stale: take the cold path.
COLD: Final = object()

#: Plans kept per backend; past it the table starts again (a program that pastes values into its
#: filters makes a new key per call, and must not grow memory without bound).
MAX_PLANS: Final = 1024

Key: TypeAlias = tuple[object, ...]
#: A plan and the parameters of one call.
Hit: TypeAlias = "tuple[WarmPlan, list[object]]"
Spec: TypeAlias = Read | Insert | Update | Delete


@dataclass(frozen=True, slots=True)
class WarmPlan:
    """One call shape's statement and how to bind it.

    ``nulls`` says, per data column, whether the building call wrote ``NULL`` (inline, no parameter);
    ``where`` renders the filter's parameters from the bindings (``None``: no filter); ``rows``: the
    statement returns rows (a query, or ``returning=``) rather than a count. ``resolved`` is the schema
    it was rendered from, cached under ``cache_key``.
    """

    op: str
    table: str
    sql: str
    resolved: ResolvedTable
    cache_key: tuple[str, str]
    nulls: tuple[bool, ...]
    where: RenderPlan | None
    rows: bool

    def params(self, values: list[object], bindings: Bindings) -> list[object]:
        """The data ``values`` (``None`` left out), then the filter's parameters."""
        if self.where is None:
            return values
        return values + self.where.params(bindings)


#: What the table holds for a call shape that cannot be planned on a schema (see :func:`_plan`).
@dataclass(frozen=True, slots=True)
class _Unplannable:
    resolved: ResolvedTable
    cache_key: tuple[str, str]


class WarmPlans:
    """The plans of one backend, keyed by call shape, over the schema cache ``schemas`` (where
    ``cache_key(table)`` finds a table's schema).

    Each method returns ``(plan, params)`` for a call it can serve warm, or ``None``: the caller then
    takes the cold path (which also raises any error the call deserves — the checks a warm call skips
    are the ones its values were already known to pass). ``unplannable`` names the operations the
    backend runs another way than one statement (a ``COPY``).

    The methods are the hot path of every warm call, so they are written for it: one lookup, one
    identity test against the cached schema, no closures; everything else happens once per shape.
    """

    __slots__ = ("_cache_key", "_plans", "_schemas", "_unplannable")

    def __init__(
        self,
        cache_key: Callable[[str], tuple[str, str]],
        schemas: SchemaCache,
        *,
        unplannable: Callable[[Spec], bool] | None = None,
    ) -> None:
        self._cache_key = cache_key
        self._schemas = schemas
        self._unplannable = unplannable
        self._plans: dict[Key, WarmPlan | _Unplannable] = {}

    def query(self, table: str, where: str, bindings: Bindings, columns: str) -> Hit | None:
        """A ``query(table, where, bindings, columns=…)``."""
        key = ("retrieve", table, where, columns)
        plan = self._find(key) or self._learn(
            key, table, prepare_read, (table, where, bindings), {"columns": columns}
        )
        return None if plan is None else (plan, plan.params([], check_bindings(bindings)))

    def insert(self, table: str, data: object, returning: str) -> Hit | None:
        """An ``insert(table, {...}, returning=…)`` of a dict."""
        if type(data) is not dict:
            return None
        key = ("persist", table, tuple(data), returning)
        plan = self._find(key) or self._learn(
            key, table, prepare_insert, (table, data), {"returning": returning}
        )
        if plan is None:
            return None
        values = _values(plan.nulls, data)
        return None if values is None else (plan, values)

    def update(self, table: str, where: str, data: object, bindings: Bindings, returning: str) -> Hit | None:
        """A ``mutate(table, where, {...}, bindings, returning=…)`` of a dict (never ``all_rows``)."""
        if type(data) is not dict:
            return None
        key = ("mutate", table, where, tuple(data), returning)
        plan = self._find(key) or self._learn(  # the arguments are built only on a miss
            key, table, prepare_update, (table, where, data, bindings), {"returning": returning}
        )
        if plan is None:
            return None
        values = _values(plan.nulls, data)
        if values is None:
            return None
        return plan, plan.params(values, check_bindings(bindings))

    def delete(self, table: str, where: str, bindings: Bindings, returning: str) -> Hit | None:
        """A ``purge(table, where, bindings, returning=…)`` (never ``all_rows``)."""
        key = ("purge", table, where, returning)
        plan = self._find(key) or self._learn(
            key, table, prepare_delete, (table, where, bindings), {"returning": returning}
        )
        return None if plan is None else (plan, plan.params([], check_bindings(bindings)))

    def __len__(self) -> int:
        return len(self._plans)

    def _find(self, key: Key) -> WarmPlan | None:
        """The plan for ``key`` when the schema it was rendered from is still the cached one."""
        try:
            entry = self._plans.get(key)
        except TypeError:  # an unhashable argument: not a shape (the cold path says what is wrong)
            return None
        if type(entry) is WarmPlan and entry.resolved is self._schemas.peek(entry.cache_key):
            return entry
        return None

    def _learn(
        self,
        key: Key,
        table: str,
        prepare: Callable[..., Spec],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> WarmPlan | None:
        """Build the plan of ``key`` from the schema cached now (``None``: not cached, or the shape
        cannot be planned on it — remembered until the schema changes). ``prepare`` is the cold path's
        first step: its errors are the call's."""
        try:
            cache_key = self._cache_key(table)
            resolved = self._schemas.peek(cache_key)
            entry = self._plans.get(key)
        except TypeError:
            return None
        if resolved is None:
            return None  # the cold path resolves the table
        if type(entry) is _Unplannable and entry.resolved is resolved:
            return None
        spec = prepare(*args, **kwargs)
        unplannable = self._unplannable is not None and self._unplannable(spec)
        plan = None if unplannable else _plan(spec, resolved, cache_key)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[key] = _Unplannable(resolved, cache_key) if plan is None else plan
        return plan


# --------------------------------------------------------------------------------------------------
# Building a plan: the cold path's rendering, then the check that binding agrees with it


def _render(spec: Spec, resolved: ResolvedTable) -> Statement:
    schema, types = resolved.schema, resolved.column_types
    if isinstance(spec, Read):
        return read_sql(spec, schema, types)
    if isinstance(spec, Insert):
        return insert_sql(spec, schema, types)
    if isinstance(spec, Update):
        return update_sql(spec, schema, types)
    return delete_sql(spec, schema, types)


def _plan(spec: Spec, resolved: ResolvedTable, cache_key: tuple[str, str]) -> WarmPlan | None:
    """The plan of ``spec`` on ``resolved`` — ``None`` when a warm call could not bind it faithfully:
    a column the cached schema lacks (the cold path re-resolves), a filter that read a binding while
    parsing, a value needing adaptation (a container), or parameters that disagree with the renderer's.
    """
    if resolved.first_missing(spec.named) is not None:
        return None
    if isinstance(spec, Insert):
        parsed, bindings, data = None, None, list(spec.rows[0])
    else:
        parsed, bindings = spec.filter, spec.bindings
        data = [value for _, value in spec.pairs] if isinstance(spec, Update) else []
    if parsed is not None and not reusable(parsed):
        return None
    if not all(value is None or plain_value(value) for value in data):
        return None
    nulls = tuple(value is None for value in data)
    values = [value for value in data if value is not None]
    where = None
    if parsed is not None:
        where = plan_for(parsed, len(values), resolved.column_types, text_search=spec.text_search)  # type: ignore[union-attr]
    rows = True if isinstance(spec, Read) else spec.returning is not None
    sql, params = _render(spec, resolved)
    plan = WarmPlan(spec.op, spec.table, sql, resolved, cache_key, nulls, where, rows)
    return plan if plan.params(values, bindings) == params else None


def _values(nulls: tuple[bool, ...], data: dict[str, object]) -> list[object] | None:
    """The data values a plan binds, or ``None`` when one needs the cold path (its ``NULL`` pattern
    differs from the plan's, or the value is not plain)."""
    values = list(data.values())
    if True in nulls:
        kept: list[object] = []
        for null, value in zip(nulls, values, strict=True):
            if (value is None) is not null:
                return None
            if not null:
                kept.append(value)
        values = kept
    for value in values:
        kind = type(value)
        # The common kinds inline (this runs for every value of every warm write); the rest, and text
        # that is not ASCII (a lone surrogate is refused by the cold path), by the full test.
        if kind is str:
            if not value.isascii() and not plain_value(value):  # type: ignore[attr-defined]
                return None
        elif kind is not int and kind is not float and kind is not bool and not plain_value(value):
            return None
    return values
