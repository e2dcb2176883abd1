"""One scenario, two backends: the in-memory backend answers every call as PostgreSQL does.

The scenario is data (:data:`ROWS` in a table :data:`DDL`) and a list of calls (:data:`CALLS`: where,
bindings, order_by, limit, aggregate, group_by) plus write operations (:data:`WRITES`). Each call runs
against an :class:`InMemoryBackend` and against the suite's real PostgreSQL through :func:`pg_lane`, and
the answers must be equal: the same rows (in order when the call orders them totally, as a multiset
otherwise) or the same error class and SQLSTATE.

The in-memory store runs in two modes: ``declared`` (``declare_columns`` with the table's live types,
values written as *text* so that every cast is exercised) and ``undeclared`` (the Python values as
given, the column types unknown). Where the two backends genuinely differ, the call says so with a
:class:`Diff` naming the mode, what the in-memory backend answers and why; the test then asserts both
that the in-memory answer is the documented one and that PostgreSQL's is different, so a difference
cannot silently appear or disappear. The differences are listed in :mod:`axonstore.memory`'s docstring.

The seam — :func:`pg_lane` yields something with the backend verbs: ``PostgresStoreBackend`` on both
lanes (direct and through PgBouncer), and ``RawLane`` (the ``axonstore.sql`` builders run with raw
psycopg, ``$n`` placeholders, the introspected column types) as an independent oracle on the direct lane.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import tuple_row

from axonstore import PostgresStoreBackend
from axonstore._json import float8_text
from axonstore.errors import EmptyData, Query, SchemaDrift, StoreError, UnboundedWrite, UnknownColumn
from axonstore.filter import parse_aggregate_clause, parse_filter, parse_order_by, render_bounds
from axonstore.memory import InMemoryBackend
from axonstore.memory._eval import like
from axonstore.memory._values import CastError
from axonstore.operations import prepare_insert
from axonstore.rows import ADAPTERS, row_factory
from axonstore.sql import (
    build_delete_sql,
    build_insert_sql,
    build_retrieve_sql,
    build_update_sql,
)
from axonstore.stream import DEFAULT_MAX_ROWS, Backpressure, PolicyGate, RowStreamOutcome, drain_with_policy
from tests._servers import PgServer


def _pairs(data: Any, op: str) -> list[tuple[str, object]]:
    pairs = list(data.items()) if isinstance(data, dict) else [tuple(pair) for pair in data]
    if not pairs:
        raise EmptyData(op)
    return pairs


# --------------------------------------------------------------------------------------------------
# The scenario: one table, twelve rows

DDL = (
    "CREATE TABLE {table} (id int4 PRIMARY KEY, name text, amount numeric, score float8, active bool, "
    "created timestamptz, qty int8, uid uuid, day date, ratio float4)"
)
# Times are relative to the start of the run, each far (hours at least) from every boundary a call uses.
NOW = datetime.now(UTC).replace(microsecond=250_000)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
U = [uuid.UUID(int=(n * 0x1234567890ABCDEF) << 40) for n in range(13)]

ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "Alice", "amount": Decimal("10.50"), "score": 1.5, "active": True,
     "created": NOW - 2 * HOUR, "qty": 5, "uid": U[1], "day": date(2024, 1, 2), "ratio": 0.1},
    {"id": 2, "name": "bob", "amount": Decimal("3.25"), "score": 2.25, "active": False,
     "created": NOW - 3 * DAY, "qty": 7, "uid": U[2], "day": date(2024, 2, 29), "ratio": 0.25},
    {"id": 3, "name": "Émile", "amount": Decimal("100"), "score": -0.5, "active": True,
     "created": NOW - 45 * DAY, "qty": None, "uid": None, "day": date(2023, 12, 31), "ratio": 1.5},
    {"id": 4, "name": "carol_x", "amount": None, "score": None, "active": None,
     "created": None, "qty": 10, "uid": U[4], "day": None, "ratio": None},
    {"id": 5, "name": "50% off", "amount": Decimal("0.50"), "score": 3.0, "active": False,
     "created": NOW + DAY, "qty": 2, "uid": U[5], "day": date(2024, 6, 1), "ratio": -2.5},
    {"id": 6, "name": "back\\slash", "amount": Decimal("-7.125"), "score": 0.001, "active": True,
     "created": NOW - 400 * DAY, "qty": 10, "uid": U[6], "day": date(2020, 2, 29), "ratio": 3.3},
    {"id": 7, "name": None, "amount": Decimal("10.50"), "score": 2.25, "active": None,
     "created": NOW - timedelta(minutes=10), "qty": None, "uid": U[7], "day": date(2024, 1, 2), "ratio": 0.1},
    {"id": 8, "name": "ALICE", "amount": Decimal("0"), "score": 0.0, "active": False,
     "created": NOW + 40 * DAY, "qty": 3, "uid": U[8], "day": date(2025, 1, 1), "ratio": 0.0},
    {"id": 9, "name": "zoë", "amount": Decimal("2.5"), "score": 1.5, "active": True,
     "created": NOW - 367 * DAY, "qty": 5, "uid": U[9], "day": date(1999, 12, 31), "ratio": 2.5},
    {"id": 10, "name": "", "amount": Decimal("1E-7"), "score": 1e20, "active": True,
     "created": NOW - 5 * HOUR, "qty": -3, "uid": U[10], "day": date(2024, 1, 3), "ratio": 1e-3},
    {"id": 11, "name": "a\nb", "amount": Decimal("12345678901234567890.123"), "score": -1e-5,
     "active": False, "created": NOW - 20 * DAY, "qty": 0, "uid": U[11], "day": date(2024, 3, 1),
     "ratio": 7.0},
    {"id": 12, "name": "İstanbul", "amount": Decimal("7"), "score": math.nan, "active": True,
     "created": NOW - 6 * HOUR, "qty": 5, "uid": U[12], "day": date(2024, 1, 2), "ratio": 0.5},
]  # fmt: skip

COLUMNS = list(ROWS[0])


def _as_text(column: str, value: object, index: int) -> object:
    """How a CLI user would write the value (``--set col=text``): every declared cast gets exercised."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("yes", " on", "t", "TRUE")[index % 4] if value else ("no", "off ", "f", "0")[index % 4]
    if isinstance(value, uuid.UUID):
        return "{" + str(value).upper() + "}" if index % 2 else value.hex
    if isinstance(value, datetime):
        return value.isoformat() if index % 2 else value.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f%z")
    if isinstance(value, int) and column == "qty" and index % 3 == 0:
        return hex(value) if value >= 0 else str(value)
    if isinstance(value, float):
        return repr(value)
    return f" {value} " if isinstance(value, int) else str(value)


# --------------------------------------------------------------------------------------------------
# Outcomes


@dataclass(frozen=True)
class Err:
    """An error outcome: the error's class name and SQLSTATE (``None`` for errors without one)."""

    kind: str
    sqlstate: str | None = None


@dataclass(frozen=True)
class Ids:
    """A rows outcome, told by the ``id`` of each row (sorted unless the call orders)."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class Count:
    """A write's outcome: the number of rows it touched."""

    rows: int


Outcome = tuple[str, Any]


@dataclass(frozen=True)
class Diff:
    """A documented difference: in ``mode``, the in-memory backend gives ``memory`` (and PostgreSQL
    something else), because ``why``."""

    mode: str
    memory: Err | Ids | Count | Callable[[list[dict[str, Any]]], bool]
    why: str


@dataclass(frozen=True)
class Call:
    """One retrieve, with its documented differences (if any)."""

    where: str = ""
    bindings: Mapping[str, str] | None = None
    order_by: str = ""
    limit: str = ""
    aggregate: str = ""
    group_by: str = ""
    diffs: tuple[Diff, ...] = ()

    @property
    def ordered(self) -> bool:
        return bool(self.order_by)

    def __str__(self) -> str:
        parts = [self.where or "<all>"]
        for name in ("order_by", "limit", "aggregate", "group_by"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.bindings:
            parts.append(f"bindings={dict(self.bindings)}")
        return " ".join(parts)


def _text_vs_cast(mode_memory: Err | Ids, why: str) -> tuple[Diff, ...]:
    return (Diff("undeclared", mode_memory, why),)


_AS_TEXT = "an undeclared column compares as text with a text literal; PostgreSQL casts the literal"
_NO_CAST = "an undeclared column has no type to cast a literal to, so a bad literal is just unequal"


def _float64_sum(column: str) -> Callable[[list[dict[str, Any]]], bool]:
    """The memory answer for an undeclared float4 column: float64 values, summed in row order."""

    def check(rows: list[dict[str, Any]]) -> bool:
        total = 0.0
        for row in ROWS:
            if row[column] is not None:
                total += row[column]
        return rows == [{"sum": total}]

    return check


CALLS: list[Call] = [
    # the whole table, ordered
    Call(order_by="id"),
    Call(order_by="id desc", limit="5"),
    Call(order_by="id", limit="${n}", bindings={"n": "3"}),
    Call(order_by="id", limit="0"),
    # integers: = == != <> < <= > >= and text literals
    Call("id = 1"),
    Call("id == 4"),
    Call("id != 2"),
    Call("id <> 2 AND id < 6"),
    Call("id > 3 AND id <= 8"),
    Call("id < 3 OR id >= 11"),
    Call("id = '3'"),
    Call("id = '${id}'", {"id": "9"}),
    Call("id = '07'", diffs=_text_vs_cast(Ids(()), _AS_TEXT)),
    Call("id = 'abc'", diffs=_text_vs_cast(Ids(()), _NO_CAST)),
    Call("id > 'abc'"),
    Call("id > '8'"),
    Call("id = 2.5", diffs=_text_vs_cast(Ids(()), "PostgreSQL casts 2.5 to the integer's type: 2")),
    Call("id = 3.0"),
    Call("qty IN (5, 7)"),
    Call("qty NOT IN (5, 7)"),
    Call("qty NOT IN (5, '7')"),
    Call("id IN (1, 'x')", diffs=_text_vs_cast(Ids((1,)), _NO_CAST)),
    Call("qty BETWEEN 2 AND 5"),
    Call("qty NOT BETWEEN 2 AND 5"),
    Call("qty BETWEEN 5 AND 2"),
    Call("qty = 0x10"),
    # text: code-point order, LIKE / ILIKE and escapes
    Call("name = 'Alice'"),
    Call("name != 'Alice'"),
    Call("name > 'b'"),
    Call("name < 'a'"),
    Call("name >= 'Z' AND name <= 'é'"),
    Call("name = 7"),
    Call("name < 5", diffs=(Diff("undeclared", Err("Query", "42883"), "a number does not order text"),)),
    Call("name LIKE 'A%'"),
    Call("name LIKE '%a%'"),
    Call("name LIKE '___'"),
    Call("name LIKE '_'"),
    Call("name LIKE ''"),
    Call("name LIKE '${p}'", {"p": "50\\% off"}),
    Call("name LIKE '${p}'", {"p": "%\\\\%"}),
    Call("name LIKE '${p}'", {"p": "back\\"}),
    Call("name LIKE '${p}'", {"p": "a_b"}),
    Call("name NOT LIKE 'A%'"),
    Call("name ILIKE 'alice'"),
    Call("name ILIKE 'émile'"),
    Call("name ILIKE 'i%'"),
    Call("name NOT ILIKE '%L%'"),
    Call("name IN ('bob', 'zoë', 'nobody')"),
    Call("name = null"),
    Call("name != null"),
    Call("name IS NULL OR name = ''"),
    # numeric and float: scale, NaN, mixed literals
    Call("amount > 5"),
    Call("amount = 10.5"),
    Call("amount = '10.50'"),
    Call("amount >= -7.125 AND amount < 1"),
    Call("amount BETWEEN 0 AND 10"),
    Call("amount IN (10.5, 0.5, 7)"),
    Call("amount IN ('10.50', '3.25')"),
    Call("amount = '1e-7'", diffs=_text_vs_cast(Ids(()), _AS_TEXT + " (numeric::text is '0.0000001')")),
    Call("amount > 12345678901234567890"),
    Call("score > 1.5"),
    Call("score = 2.25"),
    Call("score < 0"),
    Call("score >= 'NaN'"),
    Call("score = 'NaN'"),
    Call("ratio = 0.1"),
    Call("ratio > 0.1"),
    Call("ratio < 3.3"),
    # booleans
    Call("active = true"),
    Call("active != true"),
    Call("active = false OR active IS NULL"),
    Call("active = 'yes'", diffs=_text_vs_cast(Ids(()), _AS_TEXT)),
    Call("active = 'true'"),
    Call("active > false"),
    Call(
        "active = 1",
        diffs=(Diff("undeclared", Err("Query", "42883"), "PostgreSQL: 42846, no cast smallint → boolean"),),
    ),
    # NULLs and three-valued logic
    Call("active IS NULL"),
    Call("active IS NOT NULL"),
    Call("NOT active = true"),
    Call("NOT (active = true OR score > 2)"),
    Call("NOT NOT qty = 5"),
    Call("NOT (qty IN (5))"),
    Call("qty NOT IN (5, 7) OR qty IS NULL"),
    Call("NOT (qty BETWEEN 2 AND 5)"),
    Call("(id = 1 OR id = 2) AND active = true"),
    Call("id = 1 OR id = 2 AND active = false"),
    Call("((id = 1)) OR (NOT (id != 4) AND (qty > 0 OR name = 'x'))"),
    Call("active = true OR amount IS NULL"),
    Call("NOT (active = true AND amount > 100)"),
    # times: now() ± interval, literals
    Call("created > now() - interval '1 day'"),
    Call("created < now() - interval '1 month'"),
    Call("created < now() - interval '1 year'"),
    Call("created > now()"),
    Call("created >= now() + interval '1 week'"),
    Call("created BETWEEN '2000-01-01' AND '2100-01-01'"),
    Call("created > '${t}'", {"t": (NOW - DAY).isoformat()}),
    Call("created < now() - interval '${n} minutes'", {"n": "30"}),
    Call("day = '2024-01-02'"),
    Call("day < '2024-01-01'"),
    Call("day > now() - interval '10 years'"),
    Call("day IN ('2024-02-29', '2020-02-29')"),
    Call("created = '2024-13-01'", diffs=_text_vs_cast(Ids(()), _NO_CAST)),
    Call("created > '2024-13-01'"),
    Call("name > now()"),
    # uuids
    Call("uid = '${u}'", {"u": str(U[2])}),
    Call(
        "uid = '${u}'",
        {"u": str(U[2]).upper()},
        diffs=_text_vs_cast(Ids(()), "uuid::text is lower case; PostgreSQL parses the literal"),
    ),
    Call("uid = 'not-a-uuid'", diffs=_text_vs_cast(Ids(()), _NO_CAST)),
    Call("uid > '${u}'", {"u": str(U[6])}),
    # ordering: NULLS LAST ascending, NULLS FIRST descending, code points, NaN greatest
    Call(order_by="name"),
    Call(order_by="name desc"),
    Call(order_by="amount desc, id"),
    Call(order_by="score, id"),
    Call(order_by="score desc, id desc"),
    Call(order_by="created"),
    Call(order_by="active, id"),
    Call(order_by="active desc, qty, id"),
    Call(order_by="uid"),
    Call(order_by="day desc, id", limit="4"),
    Call(order_by="ratio, id"),
    Call("active = true", order_by="created desc", limit="2"),
    # aggregates
    Call(aggregate="count"),
    Call("active = true", aggregate="count"),
    Call("id > 100", aggregate="count"),
    Call(aggregate="count", group_by="active"),
    Call(aggregate="count", group_by="active, qty"),
    Call("id > 100", aggregate="count", group_by="active"),
    Call(aggregate="sum(amount)"),
    Call(aggregate="avg(amount)"),
    Call(aggregate="avg(qty)"),
    Call(aggregate="sum(qty)", group_by="active"),
    Call(aggregate="avg(id)", group_by="active"),
    Call(aggregate="sum(score)"),
    Call("score < 100", aggregate="avg(score)", group_by="active"),
    Call(aggregate="sum(ratio)", diffs=(Diff("undeclared", _float64_sum("ratio"), "real sums in single"),)),
    Call(aggregate="min(name)"),
    Call(aggregate="max(name)", group_by="active"),
    Call(aggregate="min(amount)"),
    Call(aggregate="max(created)"),
    Call(aggregate="min(day)", group_by="qty"),
    Call(aggregate="max(score)"),
    Call("id > 100", aggregate="sum(amount)"),
    Call("id > 100", aggregate="max(name)"),
    Call(aggregate="sum(name)"),
    Call(aggregate="min(active)"),
    Call(aggregate="max(uid)"),
    # errors before any data, and unknown columns
    Call("name LIKE 5"),
    Call("nope = 1"),
    Call(order_by="nope"),
    Call(aggregate="sum(nope)"),
    Call("id = 1", aggregate="count", group_by="nope"),
    Call("name = 'x' OR"),
    Call(order_by="id sideways"),
    Call(limit="-1"),
]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# The PostgreSQL lanes


class RawLane:
    """The builders' SQL run with raw psycopg: ``$n`` placeholders, the introspected column types,
    rows decoded by :mod:`axonstore.rows`; D3/D4 applied as the backend applies them."""

    def __init__(self, conn: psycopg.AsyncConnection[dict[str, Any]]) -> None:
        self.conn = conn

    async def _types(self, table: str) -> dict[str, str]:
        cursor = psycopg.AsyncRawCursor(self.conn, row_factory=tuple_row)
        await cursor.execute(
            "SELECT a.attname, t.typname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        )
        return {str(name): str(typ) for name, typ in await cursor.fetchall()}

    async def _run(self, op: str, sql: str, params: Sequence[object]) -> tuple[list[dict[str, Any]], int]:
        cursor = psycopg.AsyncRawCursor(self.conn)
        try:
            await cursor.execute(sql, list(params))
            rows = await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise Query(op, str(exc), exc.sqlstate) from exc
        return rows, cursor.rowcount

    @staticmethod
    def _require(table: str, types: Mapping[str, str], columns: Sequence[str]) -> None:
        for column in columns:
            if column not in types:
                raise UnknownColumn(table, column, tuple(types))

    async def stream_retrieve(
        self,
        table: str,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        policy: Backpressure = Backpressure.PAUSE_UPSTREAM,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> RowStreamOutcome:
        parsed = parse_filter(where, bindings)
        agg = parse_aggregate_clause(aggregate, group_by, order_by, limit)
        bounds = "" if agg else render_bounds(order_by, limit, bindings)
        types = await self._types(table)
        named = [*(parsed.columns if parsed else ())]
        named += list(agg.columns) if agg else [column for column, _ in parse_order_by(order_by)]
        self._require(table, types, named)
        sql, params = build_retrieve_sql(table, "public", where, bindings, types, bounds, agg)
        rows, _ = await self._run("retrieve", sql, params)
        return await drain_with_policy(_aiter(rows), PolicyGate(policy, max_rows))

    async def query(
        self, table: str, where: str = "", bindings: Mapping[str, str] | None = None
    ) -> list[Any]:
        return (await self.stream_retrieve(table, where, bindings, policy=Backpressure.DEGRADE_QUALITY)).rows

    async def insert(self, table: str, data: Any) -> int:
        spec = prepare_insert(table, data)
        pairs = list(zip(spec.columns, spec.rows[0], strict=True))
        types = await self._types(table)
        self._require(table, types, [column for column, _ in pairs])
        return (await self._run("persist", *build_insert_sql(table, "public", pairs, types)))[1]

    async def mutate(
        self,
        table: str,
        where: str,
        data: Any,
        bindings: Mapping[str, str] | None = None,
        *,
        all_rows: bool = False,
    ) -> int:
        pairs = _pairs(data, "mutate")
        parsed = parse_filter(where, bindings)
        if parsed is None and not all_rows:
            raise UnboundedWrite("mutate", table)
        types = await self._types(table)
        self._require(table, types, [*(c for c, _ in pairs), *(parsed.columns if parsed else ())])
        sql, params = build_update_sql(table, "public", where, pairs, bindings, types)
        return (await self._run("mutate", sql, params))[1]

    async def purge(
        self, table: str, where: str, bindings: Mapping[str, str] | None = None, *, all_rows: bool = False
    ) -> int:
        parsed = parse_filter(where, bindings)
        if parsed is None and not all_rows:
            raise UnboundedWrite("purge", table)
        types = await self._types(table)
        self._require(table, types, parsed.columns if parsed else ())
        return (await self._run("purge", *build_delete_sql(table, "public", where, bindings, types)))[1]


async def _aiter(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


_LANES = [
    pytest.param(("backend", "direct"), id="backend-direct"),
    pytest.param(("backend", "pooler"), id="backend-pooler", marks=pytest.mark.pooler),
    pytest.param(("raw", "direct"), id="raw-direct"),
]


@pytest.fixture(params=_LANES)
async def pg_lane(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """PostgreSQL behind the verbs: ``PostgresStoreBackend``, or the raw-psycopg oracle."""
    implementation, lane = request.param
    dsn = str(request.getfixturevalue(f"{lane}_dsn"))
    if implementation == "backend":
        async with PostgresStoreBackend.connect_named_sized(dsn, "memory_vs_pg", None, 2) as backend:
            yield backend
        return
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=None, context=ADAPTERS, row_factory=row_factory
    ) as conn:
        yield RawLane(conn)


def _create(admin: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """Create the scenario table with its rows; return its column types (as the registry declares them)."""
    admin.execute(DDL.format(table=table))  # a trusted test identifier
    with admin.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            [[row[c] for c in COLUMNS] for row in ROWS],
        )
    return _live_types(admin, table)


def _live_types(admin: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """The live column types of ``table``: ``{column: pg_type.typname}`` in column order."""
    found = admin.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [table],
    ).fetchall()
    return {str(name): str(typ) for name, typ in found}


@dataclass
class Scenario:
    """The shared read-only table and its live column types."""

    table: str
    types: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(pg_server: PgServer) -> Iterator[Scenario]:
    """The scenario table, created once for the module's reads (and dropped after)."""
    table = f"t_mem_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
        types = _create(admin, table)
        yield Scenario(table, types)
        admin.execute(f"DROP TABLE {table}")


async def _memory(mode: str, table: str, types: Mapping[str, str]) -> InMemoryBackend:
    """An in-memory store with the scenario's rows: typed and written as text, or untyped as given."""
    backend = InMemoryBackend()
    if mode == "declared":
        backend.declare_columns(table, types)
    for index, row in enumerate(ROWS):
        data = {c: _as_text(c, v, index) for c, v in row.items()} if mode == "declared" else row
        await backend.insert(table, data)
    return backend


def _canonical(rows: list[dict[str, Any]], ordered: bool) -> list[dict[str, Any]]:
    if ordered:
        return rows
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def _error(exc: StoreError) -> Err:
    """The error's class and SQLSTATE. ``SchemaDrift`` counts as ``Query``: the PostgreSQL backend
    reports 42883 from a statement as drift (CONTRACT §3.2, step 5) where the in-memory backend, which
    has no schema to drift, reports ``Query``; the SQLSTATE is compared either way."""
    kind = "Query" if isinstance(exc, SchemaDrift) else type(exc).__name__
    return Err(kind, getattr(exc, "sqlstate", None))


async def _outcome(run: Callable[[], Any], ordered: bool) -> Outcome:
    try:
        result = await run()
    except StoreError as exc:
        return ("error", _error(exc))
    if isinstance(result, RowStreamOutcome):
        return ("rows", _canonical(result.rows, ordered))
    return ("value", result)


def _retrieve(backend: Any, table: str, call: Call) -> Callable[[], Any]:
    return lambda: backend.stream_retrieve(
        table,
        call.where,
        call.bindings,
        order_by=call.order_by,
        limit=call.limit,
        aggregate=call.aggregate,
        group_by=call.group_by,
        policy=Backpressure.DEGRADE_QUALITY,
    )


def _documented(diff: Diff, memory: Outcome) -> bool:
    """Whether ``memory`` is the answer ``diff`` documents."""
    kind, value = memory
    if isinstance(diff.memory, Err):
        return kind == "error" and value == diff.memory
    if isinstance(diff.memory, Count):
        return kind == "value" and value == diff.memory.rows
    if kind != "rows":
        return False
    if isinstance(diff.memory, Ids):
        return tuple(row["id"] for row in value) == diff.memory.ids
    return diff.memory(value)


def _check(mode: str, call_diffs: Sequence[Diff], memory: Outcome, postgres: Outcome) -> None:
    diff = next((d for d in call_diffs if d.mode == mode), None)
    if diff is None:
        assert memory == postgres, f"in-memory ({mode}) and PostgreSQL disagree"
        return
    assert _documented(diff, memory), f"documented difference ({diff.why}) not what memory gave: {memory}"
    assert memory != postgres, f"the documented difference ({diff.why}) is gone: PostgreSQL agrees now"


@pytest.mark.parametrize("mode", ["declared", "undeclared"])
@pytest.mark.parametrize("call", CALLS, ids=[f"{i:03d} {c}" for i, c in enumerate(CALLS)])
async def test_same_answer(call: Call, mode: str, pg_lane: Any, scenario: Scenario) -> None:
    """Every call of the scenario: the in-memory backend answers as PostgreSQL does (or as documented)."""
    memory_backend = await _memory(mode, scenario.table, scenario.types)
    memory = await _outcome(_retrieve(memory_backend, scenario.table, call), call.ordered)
    postgres = await _outcome(_retrieve(pg_lane, scenario.table, call), call.ordered)
    _check(mode, call.diffs, memory, postgres)


def test_the_scenario_has_rows_of_every_kind() -> None:
    """The data covers NULLs in every column but the key, NaN, non-ASCII text and LIKE metacharacters."""
    for column in COLUMNS[1:]:
        assert any(row[column] is None for row in ROWS), column
    assert any(isinstance(row["score"], float) and math.isnan(row["score"]) for row in ROWS)
    assert {"%", "_", "\\"} <= set("".join(row["name"] or "" for row in ROWS))
    assert any(not (row["name"] or "a").isascii() for row in ROWS)


# --------------------------------------------------------------------------------------------------
# Writes: the same operation on both, then the same count (or error) and the same table


@dataclass(frozen=True)
class Write:
    """One write on a fresh copy of the scenario; ``diffs`` as for :class:`Call` (checked on the count
    or error, and on the table contents afterwards)."""

    op: str
    where: str = ""
    data: Any = None
    bindings: Mapping[str, str] | None = None
    all_rows: bool = False
    diffs: tuple[Diff, ...] = ()

    def __str__(self) -> str:
        return f"{self.op} {self.where!r} {self.data!r}" + (" all_rows" if self.all_rows else "")


_UNTYPED = "an undeclared column keeps what it is given: nothing is cast, so nothing fails"
_NO_KEYS = "constraints (here the primary key) are not modelled"

WRITES: list[Write] = [
    Write("mutate", "active = true", {"qty": 99}),
    Write("mutate", "id = '${id}'", {"name": "robert", "amount": Decimal("4.75")}, {"id": "2"}),
    Write("mutate", "qty IS NULL", {"qty": 16, "active": False}),
    Write("mutate", "id = 1", {"id": "abc"}, diffs=(Diff("undeclared", Count(1), _UNTYPED),)),
    Write("mutate", "id > 0", {"uid": "not-a-uuid"}, diffs=(Diff("undeclared", Count(12), _UNTYPED),)),
    Write("mutate", "id = 5", [("qty", 1), ("qty", 2)]),
    Write("mutate", "", {"qty": 1}),
    Write("mutate", "", {"qty": 1}, all_rows=True),
    Write("mutate", "nope = 1", {"qty": 1}),
    Write("mutate", "id = 1", {"nope": 1}),
    Write("mutate", "name LIKE '${p}'", {"qty": 1}, {"p": "x\\"}),
    Write("purge", "created < now() - interval '1 month'"),
    Write("purge", "name LIKE '%a%' OR amount IS NULL"),
    Write("purge", "id = 'abc'", diffs=(Diff("undeclared", Count(0), _NO_CAST),)),
    Write("purge", ""),
    Write("purge", "", all_rows=True),
    Write("insert", data={"id": 13, "name": "new", "amount": Decimal("1.10"), "active": True}),
    Write("insert", data={"id": 1, "name": "again"}, diffs=(Diff("declared", Count(1), _NO_KEYS),
                                                             Diff("undeclared", Count(1), _NO_KEYS))),
    Write("insert", data={"id": 14, "uid": "nope"}, diffs=(Diff("undeclared", Count(1), _UNTYPED),)),
    Write("insert", data=[("id", 15), ("id", 16)]),
    Write("insert", data={}),
]  # fmt: skip


async def _write(backend: Any, table: str, write: Write) -> Any:
    if write.op == "insert":
        return await backend.insert(table, write.data)
    if write.op == "mutate":
        return await backend.mutate(table, write.where, write.data, write.bindings, all_rows=write.all_rows)
    return await backend.purge(table, write.where, write.bindings, all_rows=write.all_rows)


async def _contents(backend: Any, table: str) -> Outcome:
    return await _outcome(_retrieve(backend, table, Call(order_by="id")), ordered=True)


@pytest.mark.parametrize("mode", ["declared", "undeclared"])
@pytest.mark.parametrize("write", WRITES, ids=[f"{i:02d} {w}" for i, w in enumerate(WRITES)])
async def test_same_write(
    write: Write, mode: str, pg_lane: Any, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """A write gives the same count (or error) on both, and leaves both tables with the same rows; a
    failed write leaves both as they were."""
    types = _create(admin, unique_name)
    memory_backend = await _memory(mode, unique_name, types)
    memory = await _outcome(lambda: _write(memory_backend, unique_name, write), ordered=False)
    postgres = await _outcome(lambda: _write(pg_lane, unique_name, write), ordered=False)
    _check(mode, write.diffs, memory, postgres)
    if not any(d.mode == mode for d in write.diffs):
        assert await _contents(memory_backend, unique_name) == await _contents(pg_lane, unique_name)


# --------------------------------------------------------------------------------------------------
# An empty table


@pytest.mark.parametrize("mode", ["declared", "undeclared"])
async def test_an_empty_table(
    mode: str, pg_lane: Any, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """PostgreSQL's empty table still has its columns; an in-memory one has only what was declared, so
    without declarations a filter on it is ``UnknownColumn`` (documented)."""
    admin.execute(DDL.format(table=unique_name))
    types = _live_types(admin, unique_name)
    backend = InMemoryBackend()
    if mode == "declared":
        backend.declare_columns(unique_name, types)
    for call in (Call(), Call(aggregate="count")):
        memory = await _outcome(_retrieve(backend, unique_name, call), ordered=True)
        assert memory == await _outcome(_retrieve(pg_lane, unique_name, call), ordered=True)
    for call in (Call("id = 'abc'"), Call(aggregate="sum(amount)"), Call(order_by="id")):
        memory = await _outcome(_retrieve(backend, unique_name, call), ordered=True)
        postgres = await _outcome(_retrieve(pg_lane, unique_name, call), ordered=True)
        if mode == "declared":
            assert memory == postgres
        else:
            assert memory == ("error", Err("UnknownColumn"))
            assert postgres != memory
    failing = Call("id = 'abc'")  # PostgreSQL casts the literal when planning: no rows needed
    assert await _outcome(_retrieve(pg_lane, unique_name, failing), True) == ("error", Err("Query", "22P02"))


# --------------------------------------------------------------------------------------------------
# Pieces checked against PostgreSQL in bulk: LIKE, avg's numeric division, float text


def _like_cases() -> list[tuple[str, str]]:
    """Texts and patterns over a small alphabet with every LIKE metacharacter, lone escapes included."""
    generator = random.Random(20240102)
    alphabet = ["a", "b", "%", "_", "\\", "É", "é"]
    cases = [("a\\", "a\\"), ("x", "x%\\"), ("", "\\"), ("abc", "%_\\")]
    for _ in range(600):
        text = "".join(
            generator.choice(["a", "b", "%", "_", "\\", "é"]) for _ in range(generator.randint(0, 5))
        )
        pattern = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 5)))
        cases.append((text, pattern))
    return cases


def test_like_and_ilike_agree_with_postgresql(admin: psycopg.Connection[Any]) -> None:
    """Six hundred random (text, pattern) pairs: the same match, or the same 22025, for LIKE and ILIKE."""
    disagreements = []
    for text, pattern in _like_cases():
        for insensitive in (False, True):
            operator = "ILIKE" if insensitive else "LIKE"
            try:
                row = admin.execute(f"SELECT %s::text {operator} %s::text", [text, pattern]).fetchone()
                expected: object = row[0] if row else None
            except psycopg.Error as exc:
                expected = exc.sqlstate
            try:
                got: object = like(text, pattern, insensitive)
            except CastError as exc:
                got = exc.sqlstate
            if got != expected:
                disagreements.append((text, pattern, operator, got, expected))
    assert disagreements == []


def _numeric_sets() -> list[list[Decimal]]:
    generator = random.Random(7)
    sets = [[Decimal(1), Decimal(2), Decimal(2)], [Decimal("0.1"), Decimal("0.2"), Decimal("0.2")]]
    for _ in range(300):
        scale = generator.randint(0, 6)
        size = generator.randint(1, 9)
        magnitude = 10 ** generator.randint(0, 22)
        sets.append([Decimal(generator.randint(-magnitude, magnitude)).scaleb(-scale) for _ in range(size)])
    return sets


def test_sum_and_avg_of_numerics_agree_with_postgresql(admin: psycopg.Connection[Any]) -> None:
    """``sum(x)::float8`` and ``avg(x)::float8`` over numerics of random scale and size, to the bit."""
    for values in _numeric_sets():
        row = admin.execute(
            "SELECT sum(x)::float8, avg(x)::float8 FROM unnest(%s::numeric[]) AS x", [values]
        ).fetchone()
        backend = InMemoryBackend({"t": {"x": "numeric"}})
        rows = [{"x": value} for value in values]
        assert row is not None
        assert [_sum_avg(backend, rows)] == [tuple(row)], values


def _sum_avg(backend: InMemoryBackend, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    async def run() -> tuple[Any, Any]:
        for row in rows:
            await backend.insert("t", row)
        total = (await backend.stream_retrieve("t", aggregate="sum(x)")).rows[0]["sum"]
        mean = (await backend.stream_retrieve("t", aggregate="avg(x)")).rows[0]["avg"]
        return total, mean

    return asyncio.run(run())


def test_float_text_agrees_with_postgresql(admin: psycopg.Connection[Any]) -> None:
    """``float8::text`` for random doubles across the whole exponent range (an undeclared float
    compares with a text literal through this text)."""
    generator = random.Random(11)
    values = [generator.uniform(-1, 1) * 10 ** generator.randint(-320, 308) for _ in range(2000)]
    values += [0.0, -0.0, 1e15, 1e14, 1e-4, 1e-5, 123456789012345.0, 1 / 3, math.inf, -math.inf, math.nan]
    found = admin.execute(
        "SELECT x::text FROM unnest(%s::float8[]) WITH ORDINALITY AS u(x, n) ORDER BY n", [values]
    )
    assert [float8_text(value) for value in values] == [row[0] for row in found.fetchall()]
