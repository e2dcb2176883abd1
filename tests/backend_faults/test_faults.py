"""Faults on the direct lane: a server restart under load, an exhausted pool, an unreachable server, a
statement failing inside the miss transaction, and a connection killed in the middle of a stream.

What must hold every time: each operation returns or raises a typed ``StoreError`` (never a bare driver
or asyncio exception), none outlives its timeout, nothing acknowledged is lost, nothing half-done is
kept, and the same backend works again afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from axonstore import Connect, PostgresStoreBackend, Query, StoreError
from axonstore.dsn import without_password
from axonstore.schema import SCHEMA_CACHE
from axonstore.stream import Backpressure
from tests._servers import PgServer
from tests.backend_faults import (
    closed_port,
    only_unnamed_parses,  # noqa: F401 (an autouse fixture)
)

_OP_TIMEOUT = 10.0
_LOAD_TASKS = 50


def _admin(pg: PgServer) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.admin_dsn, autocommit=True, prepare_threshold=None)


def _count(pg: PgServer, table: str) -> int:
    with _admin(pg) as conn:
        row = conn.execute(f"SELECT count(*) FROM public.{table}".encode()).fetchone()
    assert row is not None
    return int(row[0])


# --------------------------------------------------------------------------------------------------
# A fast restart in the middle of a 50-task load


@dataclass
class _Load:
    acked: set[str] = field(default_factory=set)
    ok_after_restart: dict[int, int] = field(default_factory=dict)
    typed: list[StoreError] = field(default_factory=list)
    untyped: list[BaseException] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    ops: int = 0
    first_ok_after_restart: float | None = None  # time.monotonic() of the first read-back after it


async def _guarded(load: _Load, what: str, op: Any) -> Any:
    """Await ``op`` with a timeout; file any failure by kind. Returns ``None`` when it failed."""
    load.ops += 1
    try:
        return await asyncio.wait_for(op, _OP_TIMEOUT)
    except TimeoutError:
        load.timeouts.append(what)
    except StoreError as exc:
        load.typed.append(exc)
    except Exception as exc:
        load.untyped.append(exc)
    return None


async def _insert_and_read_back(
    backend: PostgresStoreBackend,
    table: str,
    task: int,
    load: _Load,
    stop: asyncio.Event,
    after: asyncio.Event,
) -> None:
    i = 0
    while not stop.is_set():
        key = f"{task}-{i}"
        i += 1
        inserted = await _guarded(load, f"insert {key}", backend.insert(table, {"id": key, "task": task}))
        if inserted is None:
            continue
        if inserted != 1:
            load.wrong.append(f"insert {key} returned {inserted!r}")
            continue
        load.acked.add(key)
        rows = await _guarded(load, f"read {key}", backend.query(table, "id = '${k}'", {"k": key}))
        if rows is None:
            continue
        if rows != [{"id": key, "task": task}]:
            load.wrong.append(f"read-back of {key} gave {rows!r}")
        elif after.is_set():
            load.ok_after_restart[task] = load.ok_after_restart.get(task, 0) + 1
            if load.first_ok_after_restart is None:
                load.first_ok_after_restart = time.monotonic()


async def test_restart_under_load_loses_nothing_acknowledged(
    pg_server: PgServer, direct_dsn: str, unique_name: str
) -> None:
    with _admin(pg_server) as conn:
        conn.execute(f"CREATE TABLE public.{unique_name} (id text PRIMARY KEY, task int4 NOT NULL)".encode())
    load, stop, after = _Load(), asyncio.Event(), asyncio.Event()
    backend = PostgresStoreBackend.connect_named_sized(direct_dsn, "restart", None, 10)
    try:
        await backend.warm_schema(unique_name)
        workers = [
            asyncio.create_task(_insert_and_read_back(backend, unique_name, t, load, stop, after))
            for t in range(_LOAD_TASKS)
        ]
        await asyncio.sleep(0.8)
        began = time.monotonic()
        await asyncio.to_thread(pg_server.restart)
        restarted = time.monotonic()
        restart_took = restarted - began
        after.set()
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 2 * _OP_TIMEOUT)
        recovered_in = (load.first_ok_after_restart or float("inf")) - restarted
        print(  # shown with -rP: the measured numbers of this run
            f"restart took {restart_took:.2f} s; {load.ops} ops, {len(load.acked)} acked inserts, "
            f"{len(load.typed)} typed errors ({_kinds(load.typed)}), first read-back after it in "
            f"{recovered_in:.2f} s"
        )
        assert load.timeouts == [], f"{len(load.timeouts)} ops hung past {_OP_TIMEOUT} s: {load.timeouts[:5]}"
        assert load.untyped == [], f"not StoreErrors: {[repr(e) for e in load.untyped[:5]]}"
        assert load.wrong == [], load.wrong[:5]
        assert load.typed, "the restart cut no operation: the test did not test anything"
        assert all(isinstance(e, Connect) for e in load.typed), _kinds(load.typed)
        assert sorted(load.ok_after_restart) == list(range(_LOAD_TASKS)), "some tasks never recovered"
        assert recovered_in < 5.0
        await asyncio.wait_for(backend.ping(), _OP_TIMEOUT)
        await backend.insert(unique_name, {"id": "after", "task": -1})
    finally:
        await backend.aclose()
    with _admin(pg_server) as conn:
        present = {row[0] for row in conn.execute(f"SELECT id FROM public.{unique_name}".encode())}
        conn.execute(f"DROP TABLE public.{unique_name}".encode())
    assert load.acked - present == set(), "acknowledged inserts are missing after the restart"
    assert "after" in present


def _kinds(errors: list[StoreError]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for error in errors:
        kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
    return kinds


# --------------------------------------------------------------------------------------------------
# No connection to be had


@pytest.fixture
def table(pg_server: PgServer, unique_name: str) -> Iterator[str]:
    with _admin(pg_server) as conn:
        conn.execute(
            f"CREATE TABLE public.{unique_name} (id text PRIMARY KEY, n int4 NOT NULL CHECK (n > 0), "
            "u uuid)".encode()
        )
    yield unique_name
    with _admin(pg_server) as conn:
        conn.execute(f"DROP TABLE IF EXISTS public.{unique_name}".encode())


async def test_exhausted_pool_raises_connect_after_the_acquire_timeout(direct_dsn: str, table: str) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, "exhausted", None, 1) as backend:
        async with backend.acquire_pin() as pin:
            began = time.monotonic()
            with pytest.raises(Connect) as info:
                await asyncio.wait_for(backend.query(table), _OP_TIMEOUT)
            waited = time.monotonic() - began
            assert await backend.insert(table, {"id": "held", "n": 1}, conn=pin) == 1  # the pin still works
        print(f"exhausted pool: Connect after {waited:.2f} s: {info.value}")  # -rP
        assert 4.5 <= waited <= 8.0
        assert re.search(r"pool .*(exhausted|in use)", info.value.source), info.value.source
        assert "capacity" in info.value.source  # what to do about it
        assert await backend.query(table) == [{"id": "held", "n": 1, "u": None}]  # released: usable again


def _unreachable_dsn() -> str:
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres?sslmode=disable"


def _says_refused(error: BaseException) -> None:
    """A ``Connect`` whose reason is the server's refusal, said once (not wrapped in another Connect)."""
    assert isinstance(error, Connect), repr(error)
    assert str(error).count("could not reach the database") == 1, f"wrapped twice: {error}"
    assert re.search(r"(?i)connection refused", error.source), error.source
    assert not re.search(r"in use|exhausted", error.source), f"misdiagnosed: {error.source}"


@pytest.mark.parametrize("capacity", [1, 10])
async def test_unreachable_server_raises_connect_with_the_reason(capacity: int) -> None:
    async with PostgresStoreBackend.connect_named_sized(
        _unreachable_dsn(), "down", None, capacity
    ) as backend:
        began = time.monotonic()
        with pytest.raises(Connect) as info:
            await asyncio.wait_for(backend.query("anything"), _OP_TIMEOUT)
        took = time.monotonic() - began
    print(f"unreachable server, capacity {capacity}: Connect after {took:.2f} s: {info.value}")  # -rP
    _says_refused(info.value)
    assert took <= 8.0


async def test_ping_of_an_unreachable_server_is_connect_with_the_reason() -> None:
    async with PostgresStoreBackend.connect_named_sized(_unreachable_dsn(), "down", None, 10) as backend:
        began = time.monotonic()
        with pytest.raises(Connect) as info:
            await asyncio.wait_for(backend.ping(), _OP_TIMEOUT)
        took = time.monotonic() - began
    print(f"ping of an unreachable server: Connect after {took:.2f} s: {info.value}")  # -rP
    _says_refused(info.value)
    assert took <= 8.0


# --------------------------------------------------------------------------------------------------
# Failures inside a transaction, and a connection killed mid-stream


async def test_failure_inside_the_miss_transaction_changes_nothing(
    direct_dsn: str, table: str, pg_server: PgServer
) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, "miss", None, 1) as backend:
        key = (without_password(direct_dsn), table)  # the schema cache key (D5)
        with pytest.raises(Query) as info:
            await backend.insert(table, {"id": "a", "n": -1})  # cold cache: BEGIN, resolve, INSERT fails
        assert info.value.sqlstate == "23514", info.value
        assert "25P02" not in str(info.value) and "aborted" not in str(info.value)
        assert key not in SCHEMA_CACHE, "a failed miss transaction must not cache"
        assert _count(pg_server, table) == 0
        with pytest.raises(Query) as bad_value:
            await backend.query(table, "u = '${u}'", {"u": "not-a-uuid"})
        assert bad_value.value.sqlstate == "22P02"
        assert await backend.insert(table, {"id": "a", "n": 5}) == 1  # the same (only) connection works
        assert key in SCHEMA_CACHE  # a miss that commits caches: the key above is the cache's key
        SCHEMA_CACHE.evict(key)
        with pytest.raises(Query) as info:
            await backend.mutate(table, "id = '${id}'", {"n": -3}, {"id": "a"})
        assert info.value.sqlstate == "23514"
        assert await backend.query(table) == [{"id": "a", "n": 5, "u": None}]
        SCHEMA_CACHE.evict(key)
        with pytest.raises(Query) as streamed:
            await backend.stream_retrieve(table, "u = '${u}'", {"u": "nope"})
        assert streamed.value.sqlstate == "22P02"
        assert key not in SCHEMA_CACHE  # D8: a failed streaming miss caches nothing


@pytest.fixture
def endless(pg_server: PgServer, unique_name: str) -> Iterator[str]:
    """A view of 2 million wide rows: a stream over it is still running when its connection is killed."""
    with _admin(pg_server) as conn:
        conn.execute(
            f"CREATE VIEW public.{unique_name} AS SELECT g AS n, repeat('x', 200) AS pad "
            "FROM generate_series(1, 2000000) AS g".encode()
        )
    yield unique_name
    with _admin(pg_server) as conn:
        conn.execute(f"DROP VIEW IF EXISTS public.{unique_name}".encode())


async def _kill_at_first_row(
    backend: PostgresStoreBackend, view: str, pg: PgServer, killed: list[int]
) -> None:
    """Iterate the view's rows; at the first one, terminate the backend's server connection."""
    async with contextlib.aclosing(backend.iter_rows(view)) as rows:
        async for row in rows:
            if row["n"] == 1:
                killed.append(await asyncio.to_thread(_terminate, pg, backend.application_name))


def _terminate(pg: PgServer, application_name: str) -> int:
    with _admin(pg) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_terminated_connection_mid_stream_is_connect_and_the_next_op_works(
    direct_dsn: str, endless: str, pg_server: PgServer, unique_name: str
) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, unique_name, None, 1) as backend:
        await backend.warm_schema(endless)  # the hit path: one autocommit streaming statement
        killed: list[int] = []
        with pytest.raises(Connect):
            await asyncio.wait_for(_kill_at_first_row(backend, endless, pg_server, killed), _OP_TIMEOUT)
        assert killed == [1]
        assert await asyncio.wait_for(backend.query(endless, "n = 7"), _OP_TIMEOUT) == [
            {"n": 7, "pad": "x" * 200}
        ]


async def test_terminated_connection_mid_stream_on_the_miss_path(
    direct_dsn: str, endless: str, pg_server: PgServer, unique_name: str
) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, unique_name, None, 1) as backend:
        key = (without_password(direct_dsn), endless)
        SCHEMA_CACHE.evict(key)

        async def kill_soon() -> int:
            await asyncio.sleep(0.3)
            return await asyncio.to_thread(_terminate, pg_server, backend.application_name)

        killer = asyncio.create_task(kill_soon())
        with pytest.raises(Connect):
            await asyncio.wait_for(
                backend.stream_retrieve(endless, policy=Backpressure.DROP_OLDEST, max_rows=10), _OP_TIMEOUT
            )
        assert await killer == 1
        assert key not in SCHEMA_CACHE  # D8: the drain failed, so the miss cached nothing
        outcome = await asyncio.wait_for(
            backend.stream_retrieve(endless, "n <= 3", order_by="n"), _OP_TIMEOUT
        )
        assert [row["n"] for row in outcome.rows] == [1, 2, 3]
        assert key in SCHEMA_CACHE  # a clean streaming miss caches: the key above is the cache's key


async def test_restart_with_an_idle_pool_costs_at_most_one_failed_op(
    pg_server: PgServer, direct_dsn: str, table: str
) -> None:
    """Idle connections are not checked before hand-out (CONTRACT §3.1: only after ≥ 30 s idle), so the
    first op after a restart may fail — but that failure checks the rest, and the next op succeeds."""
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, "idle", None, 5) as backend:
        async with contextlib.AsyncExitStack() as stack:  # five connections open, then idle in the pool
            for _ in range(5):
                await stack.enter_async_context(backend.acquire_pin())
        await asyncio.to_thread(pg_server.restart)
        outcomes: list[str] = []
        for i in range(10):
            try:
                await asyncio.wait_for(backend.insert(table, {"id": f"r{i}", "n": 1}), _OP_TIMEOUT)
                outcomes.append("ok")
            except StoreError as exc:
                outcomes.append(type(exc).__name__)
        print(f"sequential ops after a restart with 5 idle connections: {outcomes}")  # -rP
        assert outcomes[0] in ("ok", "Connect") and outcomes[1:] == ["ok"] * 9, outcomes
    assert _count(pg_server, table) == outcomes.count("ok")


async def test_terminated_pin_is_connect_and_the_pool_recovers(
    direct_dsn: str, table: str, pg_server: PgServer, unique_name: str
) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, unique_name, None, 1) as backend:
        await backend.warm_schema(table)
        with pytest.raises(Connect):
            await _insert_on_a_killed_pin(backend, table, pg_server)
        assert await asyncio.wait_for(backend.insert(table, {"id": "q", "n": 1}), _OP_TIMEOUT) == 1
    assert _count(pg_server, table) == 1


async def _insert_on_a_killed_pin(backend: PostgresStoreBackend, table: str, pg: PgServer) -> None:
    """The error is raised inside the pin's block: leaving the block must neither hang nor mask it."""
    async with backend.acquire_pin() as pin:
        assert await asyncio.to_thread(_terminate, pg, backend.application_name) == 1
        await asyncio.wait_for(backend.insert(table, {"id": "p", "n": 1}, conn=pin), _OP_TIMEOUT)


# --------------------------------------------------------------------------------------------------
# A caller that gives up (asyncio cancellation) must not poison the pool


@pytest.fixture
def slow(pg_server: PgServer, unique_name: str) -> Iterator[str]:
    """A view that takes 2 s to answer."""
    name = f"{unique_name}_slow"
    with _admin(pg_server) as conn:
        conn.execute(f"CREATE VIEW public.{name} AS SELECT 1 AS n, pg_sleep(2)::text AS s".encode())
    yield name
    with _admin(pg_server) as conn:
        conn.execute(f"DROP VIEW IF EXISTS public.{name}".encode())


@pytest.mark.parametrize("path", ["hit", "miss"])
async def test_cancelled_op_leaves_the_pool_usable(direct_dsn: str, slow: str, table: str, path: str) -> None:
    async with PostgresStoreBackend.connect_named_sized(direct_dsn, f"cancel-{path}", None, 1) as backend:
        if path == "hit":
            await backend.warm_schema(slow)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(backend.query(slow), 0.3)
        began = time.monotonic()
        assert await asyncio.wait_for(backend.insert(table, {"id": "after", "n": 1}), _OP_TIMEOUT) == 1
        took = time.monotonic() - began
    print(f"first op after a cancelled {path} op: {took:.2f} s")  # -rP
    assert took < 1.0, "the next op waited for the abandoned statement"


async def test_exhausted_pool_is_diagnosed_as_such_at_the_roles_connection_limit(
    direct_dsn: str, table: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """A role allowed exactly as many connections as the store's capacity (a common managed-database
    set-up): when the pool is exhausted, the diagnosis must still say so — not report the server's refusal
    of an extra, diagnostic connection that only the diagnosis itself tried to open."""
    role = f"{unique_name}_lim"
    admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1".encode())
    admin.execute(f"GRANT ALL ON public.{table} TO {role}".encode())
    dsn = psycopg.conninfo.make_conninfo(direct_dsn, user=role)
    try:
        backend = PostgresStoreBackend.connect_named_sized(dsn, "limited", None, 1)
        async with backend, backend.acquire_pin():
            with pytest.raises(Connect) as info:
                await asyncio.wait_for(backend.query(table), _OP_TIMEOUT)
        print(f"exhausted pool at the role's connection limit: {info.value}")  # -rP
        assert re.search(r"pool .*(exhausted|in use)", info.value.source), info.value.source
    finally:
        admin.execute(f"REVOKE ALL ON public.{table} FROM {role}".encode())
        admin.execute(f"DROP ROLE {role}".encode())
