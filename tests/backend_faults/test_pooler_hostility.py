"""Hostility: 20 tasks × 100 mixed operations through PgBouncer 1.18 in transaction mode (2 server conns).

The same workload runs twice. Through ``PostgresStoreBackend`` it must give 0 errors and 0 wrong results;
as the equivalent SQL on raw psycopg connections with the driver's default ``prepare_threshold`` it must
not — otherwise the lane is not hostile and the first result proves nothing. Every read is checked
against what the reading task itself wrote, so a statement that ran on another client's prepared
statement (another table, another shape) is caught even when it does not raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import psycopg
import pytest
from psycopg.rows import dict_row

from axonstore import PostgresStoreBackend
from axonstore.filter import render_bounds
from axonstore.schema import RESOLVE_SQL, resolve_params
from axonstore.sql import build_delete_sql, build_insert_sql, build_retrieve_sql, build_update_sql
from tests._servers import PgBouncer
from tests._wire import WireLog
from tests.backend_faults import only_unnamed_parses  # noqa: F401 (an autouse fixture)

_TASKS = 20
_OPS = 100
_OPS_PER_TABLE = 10  # a fresh table every 10 ops: 10 cold-cache miss transactions per task
_TABLES = _OPS // _OPS_PER_TABLE
_OP_TIMEOUT = 10.0
_COLUMN_TYPES = {"id": "text", "owner": "int4", "n": "int8", "tag": "text", "uid": "uuid"}
# insert, get (a key it wrote, or one nobody wrote), mutate, purge, stream (its own rows, ordered),
# first (the first of its own rows, then the stream is closed early: psycopg cancels it on the server)
_WEIGHTS = {"insert": 35, "get": 25, "mutate": 15, "purge": 10, "stream": 10, "first": 5}

Row = dict[str, Any]


class _Client(Protocol):
    """One task's way to run the six operations on ``table`` (the backend, or raw psycopg)."""

    async def insert(self, table: str, row: Row) -> int: ...
    async def get(self, table: str, key: str) -> list[Row]: ...
    async def mutate(self, table: str, key: str, n: int, tag: str) -> int: ...
    async def purge(self, table: str, key: str) -> int: ...
    async def stream(self, table: str, owner: int) -> list[Row]: ...
    async def first(self, table: str, owner: int) -> Row | None: ...


@dataclass
class _Tally:
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.ok} ok, {len(self.wrong)} wrong, {len(self.errors)} errors; "
            f"first wrong: {self.wrong[:3]}; first errors: {self.errors[:3]}"
        )


def _create_tables(admin: psycopg.Connection[Any], prefix: str) -> list[str]:
    names = [f"{prefix}_{k}" for k in range(_TABLES)]
    ddl = "".join(
        f"CREATE TABLE public.{name} (id text PRIMARY KEY, owner int4 NOT NULL, n int8 NOT NULL, "
        f"tag text, uid uuid);"
        for name in names
    )
    admin.execute(ddl.encode())  # one simple-protocol round trip for all of them
    return names


def _drop_tables(admin: psycopg.Connection[Any], names: list[str]) -> None:
    admin.execute(f"DROP TABLE IF EXISTS {', '.join(names)}".encode())


def _choose(rng: random.Random, have_rows: bool, first_on_table: bool) -> str:
    if first_on_table or not have_rows:
        return "insert"
    return rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()))[0]


async def _one_op(
    client: _Client, task: int, i: int, table: str, mine: dict[str, Row], rng: random.Random, tally: _Tally
) -> None:
    """Run one operation and check its result against ``mine`` (this task's rows of ``table``)."""
    kind = _choose(rng, bool(mine), i % _OPS_PER_TABLE == 0)
    key = rng.choice(sorted(mine)) if mine else ""
    if kind == "insert":
        row: Row = {"id": f"{task}-{i}", "owner": task, "n": rng.randrange(1 << 40), "tag": f"t{i}"}
        row["uid"] = str(uuid.UUID(int=rng.getrandbits(128)))
        got: object = await client.insert(table, row)
        expected: object = 1
        mine[row["id"]] = row
    elif kind == "get" and rng.random() < 0.2:
        got, expected = await client.get(table, f"{task}-never"), []
    elif kind == "get":
        got, expected = await client.get(table, key), [mine[key]]
    elif kind == "mutate":
        n, tag = rng.randrange(1 << 40), f"m{i}"
        got, expected = await client.mutate(table, key, n, tag), 1
        mine[key] = {**mine[key], "n": n, "tag": tag}
    elif kind == "purge":
        got, expected = await client.purge(table, key), 1
        del mine[key]
    elif kind == "first":
        got, expected = await client.first(table, task), mine[min(mine)]
    else:
        got, expected = await client.stream(table, task), [mine[k] for k in sorted(mine)]
    if got == expected:
        tally.ok += 1
    else:
        tally.wrong.append(f"task {task} op {i} {kind} on {table}: got {got!r}, expected {expected!r}")


async def _task(client: _Client, task: int, tables: list[str], tally: _Tally) -> None:
    rng = random.Random(task)
    rows: dict[str, dict[str, Row]] = {table: {} for table in tables}
    for i in range(_OPS):
        table = tables[i // _OPS_PER_TABLE]
        before = dict(rows[table])
        try:
            await asyncio.wait_for(_one_op(client, task, i, table, rows[table], rng, tally), _OP_TIMEOUT)
        except Exception as exc:
            # What this op did is unknown: forget its effect, and resync from the database next time.
            rows[table] = before
            tally.errors.append(f"task {task} op {i} on {table}: {type(exc).__name__}: {exc}")
            await _resync(client, table, task, rows)


async def _resync(client: _Client, table: str, task: int, rows: dict[str, dict[str, Row]]) -> None:
    """After a failed op, read this task's rows back so later checks judge later ops only."""
    try:
        rows[table] = {row["id"]: row for row in await client.stream(table, task)}
    except Exception:
        rows[table] = {}  # a hostile lane may fail this too; the next ops count their own errors


async def _run_workload(make_client: Callable[[int], Awaitable[_Client]], tables: list[str]) -> _Tally:
    tally = _Tally()
    clients = [await make_client(task) for task in range(_TASKS)]
    await asyncio.gather(*(_task(client, task, tables, tally) for task, client in enumerate(clients)))
    return tally


# --------------------------------------------------------------------------------------------------
# Through the backend


class _BackendClient:
    def __init__(self, backend: PostgresStoreBackend) -> None:
        self.backend = backend

    async def insert(self, table: str, row: Row) -> int:
        return await self.backend.insert(table, row)

    async def get(self, table: str, key: str) -> list[Row]:
        return await self.backend.query(table, "id = '${k}'", {"k": key})

    async def mutate(self, table: str, key: str, n: int, tag: str) -> int:
        return await self.backend.mutate(table, "id = '${k}'", {"n": n, "tag": tag}, {"k": key})

    async def purge(self, table: str, key: str) -> int:
        return await self.backend.purge(table, "id = '${k}'", {"k": key})

    async def stream(self, table: str, owner: int) -> list[Row]:
        outcome = await self.backend.stream_retrieve(
            table, "owner = '${o}'", {"o": str(owner)}, order_by="id", max_rows=_OPS
        )
        assert not outcome.truncated and outcome.dropped == 0
        return outcome.rows

    async def first(self, table: str, owner: int) -> Row | None:
        rows = self.backend.iter_rows(table, "owner = '${o}'", {"o": str(owner)}, order_by="id")
        async with contextlib.aclosing(rows):
            async for row in rows:
                return row
        return None


@pytest.fixture
def tables(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[list[str]]:
    names = _create_tables(admin, unique_name)
    yield names
    _drop_tables(admin, names)


async def test_mixed_load_through_the_pooler_is_exact(
    pooler_dsn: str, tables: list[str], wire_log: WireLog
) -> None:
    mark = wire_log.mark()
    began = time.monotonic()
    async with PostgresStoreBackend.connect_named_sized(pooler_dsn, "hostile", None, _TASKS) as backend:
        client = _BackendClient(backend)

        async def make(_: int) -> _Client:
            return client

        tally = await _run_workload(make, tables)
    print(f"backend through the pooler: {tally.summary()} in {time.monotonic() - began:.2f} s")  # -rP
    assert (tally.errors, tally.wrong) == ([], []), tally.summary()
    assert tally.ok == _TASKS * _OPS
    parses = [e for e in wire_log.parses(mark) if e.lane == "pooler"]
    assert len(parses) >= _TASKS * _OPS, "the load did not go through the pooler lane's wire logger"
    assert [e for e in parses if e.name] == []


async def test_application_name_of_each_store_survives_the_pooler(
    pooler_dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """Each store's connections say who they are, on whichever server connection a statement lands."""
    admin.execute(f"CREATE VIEW public.{unique_name} AS SELECT current_setting('application_name') AS app")
    stores = [("claims", None), ("claims", "tenant_7"), ("ledger", None)]
    backends = [PostgresStoreBackend.connect_named_sized(pooler_dsn, s, ns, 3) for s, ns in stores]
    try:
        for _ in range(5):
            answers = await asyncio.gather(*(b.query(unique_name) for b in backends for _ in range(4)))
            names = [rows[0]["app"] for rows in answers]
            expected = [b.application_name for b in backends for _ in range(4)]
            assert names == expected
        assert expected[::4] == ["axon-store/claims", "axon-store/claims/tenant_7", "axon-store/ledger"]
        async with backends[1].acquire_pin() as pin:
            assert await backends[1].query(unique_name, conn=pin) == [{"app": "axon-store/claims/tenant_7"}]
    finally:
        for backend in backends:
            await backend.aclose()
        admin.execute(f"DROP VIEW public.{unique_name}")


# --------------------------------------------------------------------------------------------------
# The same SQL on raw psycopg with the default prepare_threshold: the lane must break it


class _RawClient:
    """The backend's statements (same builders, same miss transaction) on one raw connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.resolved: set[str] = set()

    @asynccontextmanager
    async def _step(self, table: str) -> AsyncIterator[psycopg.AsyncRawCursor[Any]]:
        cursor = psycopg.AsyncRawCursor(self.conn, row_factory=dict_row)
        if table in self.resolved:
            yield cursor
            return
        async with self.conn.transaction():  # the miss path: resolve and run in one transaction
            await cursor.execute(RESOLVE_SQL, resolve_params(table))
            await cursor.fetchall()
            yield cursor
        self.resolved.add(table)

    async def _count(self, table: str, sql: str, params: list[Any]) -> int:
        async with self._step(table) as cursor:
            await cursor.execute(sql, params)
            return cursor.rowcount

    async def _rows(self, table: str, sql: str, params: list[Any]) -> list[Row]:
        async with self._step(table) as cursor:
            await cursor.execute(sql, params)
            return [_json_safe(row) for row in await cursor.fetchall()]

    async def insert(self, table: str, row: Row) -> int:
        return await self._count(table, *build_insert_sql(table, "public", row, _COLUMN_TYPES))

    async def get(self, table: str, key: str) -> list[Row]:
        sql, params = build_retrieve_sql(table, "public", "id = '${k}'", {"k": key}, _COLUMN_TYPES, "", None)
        return await self._rows(table, sql, params)

    async def mutate(self, table: str, key: str, n: int, tag: str) -> int:
        data = {"n": n, "tag": tag}
        return await self._count(
            table, *build_update_sql(table, "public", "id = '${k}'", data, {"k": key}, _COLUMN_TYPES)
        )

    async def purge(self, table: str, key: str) -> int:
        return await self._count(
            table, *build_delete_sql(table, "public", "id = '${k}'", {"k": key}, _COLUMN_TYPES)
        )

    async def stream(self, table: str, owner: int) -> list[Row]:
        bounds = render_bounds("id", "")
        sql, params = build_retrieve_sql(
            table, "public", "owner = '${o}'", {"o": str(owner)}, _COLUMN_TYPES, bounds, None
        )
        return await self._rows(table, sql, params)

    async def first(self, table: str, owner: int) -> Row | None:
        sql, params = build_retrieve_sql(
            table, "public", "owner = '${o}'", {"o": str(owner)}, _COLUMN_TYPES, render_bounds("id", ""), None
        )
        async with self._step(table) as cursor:
            stream = cast("AsyncGenerator[Row, None]", cursor.stream(sql, params))
            async with contextlib.aclosing(stream):  # closing early cancels it on the server
                async for row in stream:
                    return _json_safe(row)
        return None


def _json_safe(row: Row) -> Row:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}


async def test_default_prepare_threshold_breaks_on_this_pooler(
    pgbouncer: PgBouncer,
    admin: psycopg.Connection[Any],
    unique_name: str,
) -> None:
    """``pgbouncer.dsn`` bypasses the session's wire logger: these named statements are the point."""
    tables = _create_tables(admin, unique_name)
    conns: list[psycopg.AsyncConnection[Any]] = []

    async def make(_: int) -> _Client:
        conn = await psycopg.AsyncConnection.connect(pgbouncer.dsn, autocommit=True, prepare_threshold=5)
        conns.append(conn)
        return _RawClient(conn)

    began = time.monotonic()
    try:
        tally = await _run_workload(make, tables)
    finally:
        for conn in conns:
            await conn.close()
        _drop_tables(admin, tables)
    took = time.monotonic() - began
    print(f"raw psycopg, prepare_threshold=5, through the pooler: {tally.summary()} in {took:.2f} s")  # -rP
    assert tally.errors or tally.wrong, f"the pooler lane tolerated named statements: {tally.summary()}"
