"""``PostgresStoreBackend`` on a real server: construction, pools, pins, and the order of errors.

CONTRACT §3.1–§3.3 and §9 (D3, D4, D5, D9, D12, D13). Every database test takes ``dsn`` and so runs
on the direct lane and through PgBouncer in transaction mode, behind the wire logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from axonstore import PostgresStoreBackend
from axonstore.backend import connections
from axonstore.dsn import application_name
from axonstore.errors import (
    AmbiguousTable,
    BadAggregate,
    BadGroupBy,
    BadLimit,
    BadOrderBy,
    Connect,
    EmptyConnection,
    EmptyData,
    EmptyEnvVarName,
    EventLoopMismatch,
    FilterError,
    ForeignPin,
    InvalidIdentifier,
    MissingEnvVar,
    MissingValue,
    PoolInit,
    Query,
    SchemaDrift,
    StoreError,
    TableNotResolved,
    UnboundedWrite,
    UnexpectedChar,
    UnknownColumn,
)
from axonstore.schema import SCHEMA_CACHE
from tests._wire import WireLog
from tests.backend import (
    CLOSED_PORT_DSN,
    count,
    lane_of,
    make_backend,
    resolve_count,
    sessions,
    statements,
    wait_until,
    with_params,
)

_SECRET = "s3cr3t-pw"


def _cached(backend: PostgresStoreBackend, table: str) -> bool:
    return (backend.masked_dsn(), table) in SCHEMA_CACHE


def _whoami_view(admin: psycopg.Connection[Any], name: str) -> None:
    """A view that tells which session runs the query: its application_name and backend pid."""
    admin.execute(
        f"CREATE VIEW {name} AS SELECT current_setting('application_name') AS app, pg_backend_pid() AS pid"
    )


# --------------------------------------------------------------------------------------------------
# Construction: synchronous, no I/O, masked


def test_the_four_constructors_need_no_loop_and_no_server() -> None:
    """All four forms build outside any event loop, against a port nothing listens on."""
    plain = PostgresStoreBackend.connect(CLOSED_PORT_DSN)
    named = PostgresStoreBackend.connect_named(CLOSED_PORT_DSN, "claims")
    spaced = PostgresStoreBackend.connect_named_with_namespace(CLOSED_PORT_DSN, "claims", "tenant_42")
    sized = PostgresStoreBackend.connect_named_sized(CLOSED_PORT_DSN, "claims", None, 3)
    floor = PostgresStoreBackend.connect_named_sized(CLOSED_PORT_DSN, "claims", "", 0)
    assert [b.application_name for b in (plain, named, spaced, sized, floor)] == [
        "axon-store",
        "axon-store/claims",
        "axon-store/claims/tenant_42",
        "axon-store/claims",
        "axon-store/claims",
    ]
    assert [b.max_connections for b in (plain, named, spaced, sized, floor)] == [10, 10, 10, 3, 1]
    for backend in (plain, named, spaced, sized, floor):
        assert _SECRET not in repr(backend)
        assert _SECRET not in backend.masked_dsn()
        assert "***" in backend.masked_dsn()
        assert backend.masked_dsn() in repr(backend)


@pytest.mark.parametrize(
    "bad_dsn",
    [
        f"host=localhost password={_SECRET} port",
        f"host=localhost password='{_SECRET}",
        f"nosuchoption=1 password={_SECRET}",
        f"postgresql://axon:{_SECRET}@localhost:5432/db?nosuchoption=1",
        f"postgresql://axon:{_SECRET}@[::1/db",
    ],
    ids=["missing-equals", "unterminated-quote", "unknown-keyword", "unknown-url-param", "bad-ipv6"],
)
def test_a_malformed_dsn_is_pool_init_and_masked(bad_dsn: str) -> None:
    with pytest.raises(PoolInit) as caught:
        PostgresStoreBackend.connect_named_sized(bad_dsn, "s", None, 2)
    error = caught.value
    for text in (str(error), repr(error), error.dsn_masked, error.source):
        assert _SECRET not in text


def test_env_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_TEST_BACKEND_DSN", CLOSED_PORT_DSN)
    monkeypatch.setenv("AXON_TEST_BACKEND_BAD_DSN", f"nosuchoption=1 password={_SECRET}")
    monkeypatch.delenv("AXON_TEST_BACKEND_UNSET", raising=False)
    backend = PostgresStoreBackend.connect_named("env:AXON_TEST_BACKEND_DSN", "claims")
    assert backend.masked_dsn() == PostgresStoreBackend.connect(CLOSED_PORT_DSN).masked_dsn()
    assert _SECRET not in repr(backend)
    with pytest.raises(EmptyConnection):
        PostgresStoreBackend.connect("")
    with pytest.raises(EmptyConnection):
        PostgresStoreBackend.connect("  \t ")
    with pytest.raises(EmptyEnvVarName):
        PostgresStoreBackend.connect("env:")
    with pytest.raises(MissingEnvVar) as missing:
        PostgresStoreBackend.connect("env:AXON_TEST_BACKEND_UNSET")
    assert missing.value.var == "AXON_TEST_BACKEND_UNSET"
    with pytest.raises(PoolInit) as bad:
        PostgresStoreBackend.connect("env:AXON_TEST_BACKEND_BAD_DSN")
    assert _SECRET not in str(bad.value)


# --------------------------------------------------------------------------------------------------
# The pool: lazy, attributed, bounded, bound to one loop


async def test_pool_opens_lazily_and_every_session_carries_the_store_name(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _whoami_view(admin, unique_name)
    store, namespace = f"lazy_{unique_name}", "tenant_7"
    expected = application_name(store, namespace)
    async with make_backend(dsn, store, namespace) as backend:
        await asyncio.sleep(0.05)
        assert sessions(admin, store, namespace) == []  # built, but nothing connected yet
        first = await backend.query(unique_name)  # the miss path (a transaction)
        second = await backend.query(unique_name)  # the hit path (autocommit)
        assert [row["app"] for row in first + second] == [expected, expected]
        async with backend.acquire_pin() as pin:
            pinned = await backend.query(unique_name, conn=pin)
        assert [row["app"] for row in pinned] == [expected]
        live = sessions(admin, store, namespace)
        assert len(live) >= 1
        # the session that answered is one of ours (directly, or PgBouncer's server connection)
        assert {row["pid"] for row in first + second + pinned} <= {pid for pid, *_ in live}


async def test_application_name_defaults(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _whoami_view(admin, unique_name)
    async with (
        make_backend(dsn) as plain,
        make_backend(dsn, f"n_{unique_name}") as named,
    ):
        assert (await plain.query(unique_name))[0]["app"] == "axon-store"
        assert (await named.query(unique_name))[0]["app"] == f"axon-store/n_{unique_name}"
    # a query's own view of it agrees with pg_stat_activity's
    row = admin.execute("SELECT current_setting('application_name')").fetchone()
    assert row is not None and row[0] != "axon-store"


async def test_capacity_bounds_the_server_sessions_under_load(
    direct_dsn: str, admin: psycopg.Connection[Any], unique_name: str, pg_server: Any
) -> None:
    admin.execute(f"CREATE VIEW {unique_name} AS SELECT pg_backend_pid() AS pid FROM pg_sleep(0.03)")
    store = f"cap_{unique_name}"
    peak = 0
    done = asyncio.Event()

    def sample() -> int:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as probe:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                [application_name(store)],
            ).fetchone()
            return int(row[0]) if row else 0

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await asyncio.to_thread(sample))

    async with make_backend(direct_dsn, store, capacity=3) as backend:
        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(*(backend.query(unique_name) for _ in range(30)))
        done.set()
        await watcher
    pids = {rows[0]["pid"] for rows in results}
    assert 2 <= len(pids) <= 3  # concurrent use grew the pool, and never past its capacity
    assert 1 <= peak <= 3


def _loop_in_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread


def _on(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        return await make()

    return asyncio.run_coroutine_threadsafe(run(), loop).result(15)


async def test_another_event_loop_is_refused_not_hung(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int)")
    # Bound to this test's loop first; a thread running its own loop is refused at once.
    async with make_backend(dsn) as ours:
        await ours.query(unique_name)
        started = time.monotonic()
        with pytest.raises(EventLoopMismatch):
            await asyncio.wait_for(asyncio.to_thread(asyncio.run, ours.query(unique_name)), 10)
        assert time.monotonic() - started < 2
        with pytest.raises(EventLoopMismatch):  # closing from elsewhere too: the pool stays whole
            await asyncio.wait_for(asyncio.to_thread(asyncio.run, ours.aclose()), 10)
        assert await ours.query(unique_name) == []  # still fine on its own loop
    # Bound to a thread's loop first; this test's loop is refused, for pins and streams too.
    loop, thread = _loop_in_thread()
    theirs = make_backend(dsn)
    try:
        assert _on(loop, lambda: theirs.insert(unique_name, {"n": 1})) == 1
        with pytest.raises(EventLoopMismatch):
            await theirs.query(unique_name)
        with pytest.raises(EventLoopMismatch):
            await theirs.stream_retrieve(unique_name)
        with pytest.raises(EventLoopMismatch):
            async with theirs.acquire_pin():
                pass
        assert _on(loop, lambda: theirs.query(unique_name)) == [{"n": 1}]
    finally:
        _on(loop, theirs.aclose)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def test_aclose_closes_sessions_and_refuses_further_use(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, request: pytest.FixtureRequest
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int)")
    store = f"close_{unique_name}"
    backend = make_backend(dsn, store)
    await backend.aclose()  # never opened: nothing to do
    async with make_backend(dsn, store) as backend:
        assert await backend.insert(unique_name, {"n": 1}) == 1
    with pytest.raises(Connect, match="closed"):
        await backend.query(unique_name)
    await backend.aclose()  # twice is fine
    if lane_of(request) == "direct":  # PgBouncer keeps its own server connections, by design
        assert await wait_until(lambda: sessions(admin, store) == [], 3)


# --------------------------------------------------------------------------------------------------
# Pins


async def test_operations_on_a_pin(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, request: pytest.FixtureRequest
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY, name text)")
    _whoami_view(admin, f"{unique_name}_who")
    async with make_backend(dsn, capacity=1) as backend, backend.acquire_pin() as pin:
        assert await backend.insert(unique_name, {"id": 1, "name": "a"}, conn=pin) == 1
        assert await backend.insert(unique_name, [("id", 2), ("name", "b")], conn=pin) == 1
        assert await backend.mutate(unique_name, "id = 2", {"name": "B"}, conn=pin) == 1
        assert await backend.query(unique_name, "name = 'B'", conn=pin) == [{"id": 2, "name": "B"}]
        outcome = await backend.stream_retrieve(unique_name, order_by="id", conn=pin)
        assert [row["id"] for row in outcome.rows] == [1, 2]
        async with contextlib.aclosing(backend.iter_rows(unique_name, order_by="id desc", conn=pin)) as rows:
            assert [row["id"] async for row in rows] == [2, 1]
        assert await backend.purge(unique_name, "id = 1", conn=pin) == 1
        who = [(await backend.query(f"{unique_name}_who", conn=pin))[0]["pid"] for _ in range(3)]
        if lane_of(request) == "direct":
            assert len(set(who)) == 1  # one physical connection for the whole flow
    assert count(admin, unique_name) == 1


async def test_a_pin_belongs_to_its_backend(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int)")
    async with make_backend(dsn) as mine, make_backend(dsn) as other, mine.acquire_pin() as pin:
        assert "***" in repr(pin) or "PostgresStoreBackend" in repr(pin)
        with pytest.raises(ForeignPin):
            await other.query(unique_name, conn=pin)
        with pytest.raises(ForeignPin):
            await other.insert(unique_name, {"n": 1}, conn=pin)
        with pytest.raises(ForeignPin):
            await other.stream_retrieve(unique_name, conn=pin)
        with pytest.raises(ForeignPin):
            await mine.query(unique_name, conn=object())
        assert await mine.query(unique_name, conn=pin) == []
    assert count(admin, unique_name) == 0


async def test_a_released_pin_is_refused(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    """After its block the pin's connection is back in the pool, maybe lent to another task: refuse it."""
    admin.execute(f"CREATE TABLE {unique_name} (n int)")
    async with make_backend(dsn, capacity=1) as backend:
        async with backend.acquire_pin() as pin:
            assert await backend.insert(unique_name, {"n": 1}, conn=pin) == 1
        await asyncio.sleep(0.1)  # the pool has taken the connection back
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: backend.query(unique_name, conn=pin),
            lambda: backend.insert(unique_name, {"n": 2}, conn=pin),
            lambda: backend.stream_retrieve(unique_name, conn=pin),
            lambda: _drain(backend.iter_rows(unique_name, conn=pin)),
        ]
        for call in calls:
            with pytest.raises(Connect, match="released"):
                await call()
        async with backend.acquire_pin() as fresh:  # the connection itself is fine
            assert await backend.query(unique_name, conn=fresh) == [{"n": 1}]
    assert count(admin, unique_name) == 1


@pytest.fixture
def _fresh_pooler_mode() -> Iterator[None]:
    """``AXON_DB_POOLER_MODE`` is read once per process: forget it before and after the test."""
    connections.pinning_enabled.cache_clear()
    yield
    connections.pinning_enabled.cache_clear()


@pytest.mark.usefixtures("_fresh_pooler_mode")
@pytest.mark.parametrize("mode", ["session", "direct", "  Session ", "DIRECT"])
async def test_pinning_off_is_connect_with_the_reference_reason(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("AXON_DB_POOLER_MODE", mode)
    backend = make_backend(CLOSED_PORT_DSN)
    started = time.monotonic()
    with pytest.raises(Connect) as caught:
        async with backend.acquire_pin():
            pytest.fail("a pin was handed out with pinning off")
    assert time.monotonic() - started < 1  # refused before any connection attempt
    assert caught.value.source == connections.PINNING_DISABLED_REASON
    assert "AXON_DB_POOLER_MODE=session|direct" in str(caught.value)
    monkeypatch.setenv("AXON_DB_POOLER_MODE", "transaction")
    assert not connections.pinning_enabled()  # read once: the change is not seen
    await backend.aclose()


@pytest.mark.usefixtures("_fresh_pooler_mode")
@pytest.mark.parametrize("mode", [None, "", "transaction", "pgbouncer-txn", "sess"])
async def test_pinning_on_for_every_other_mode(
    monkeypatch: pytest.MonkeyPatch, mode: str | None, direct_dsn: str
) -> None:
    if mode is None:
        monkeypatch.delenv("AXON_DB_POOLER_MODE", raising=False)
    else:
        monkeypatch.setenv("AXON_DB_POOLER_MODE", mode)
    async with make_backend(direct_dsn) as backend, backend.acquire_pin() as pin:
        await backend.ping()
        assert pin is not None


# --------------------------------------------------------------------------------------------------
# Order of errors (CONTRACT §3.2): what needs no database is raised before any I/O (D13)

_T = "widgets"
_PURE_ERRORS: list[tuple[str, Callable[[PostgresStoreBackend], Awaitable[Any]], type[StoreError]]] = [
    ("table", lambda b: b.query("public.widgets"), InvalidIdentifier),
    ("table-quote", lambda b: b.insert('w"; DROP TABLE x; --', {"a": 1}), InvalidIdentifier),
    ("column", lambda b: b.insert(_T, {"bad col": 1}), InvalidIdentifier),
    ("set-column", lambda b: b.mutate(_T, "a = 1", {"x;": 1}), InvalidIdentifier),
    ("reinforce-table", lambda b: b.reinforce("a-b", "x", "y", "e", 0.1, 0.0), InvalidIdentifier),
    ("warm-table", lambda b: b.warm_schema("a b"), InvalidIdentifier),
    ("filter-missing", lambda b: b.query(_T, "a = "), MissingValue),
    ("filter-inject", lambda b: b.purge(_T, "a = 'x'; DROP TABLE widgets"), UnexpectedChar),
    ("filter-mutate", lambda b: b.mutate(_T, "a = = 1", {"b": 1}), FilterError),
    ("filter-stream", lambda b: b.stream_retrieve(_T, "a LIKE 5"), FilterError),
    ("order-by", lambda b: b.stream_retrieve(_T, order_by="a sideways"), BadOrderBy),
    ("order-by-inject", lambda b: b.stream_retrieve(_T, order_by="id; DROP TABLE x"), BadOrderBy),
    ("limit", lambda b: b.stream_retrieve(_T, limit="-5"), BadLimit),
    ("limit-binding", lambda b: b.stream_retrieve(_T, limit="${n}", bindings={"n": "1; x"}), BadLimit),
    ("max-rows", lambda b: b.stream_retrieve(_T, max_rows=-1), BadLimit),
    ("aggregate", lambda b: b.stream_retrieve(_T, aggregate="median(a)"), BadAggregate),
    ("aggregate-order", lambda b: b.stream_retrieve(_T, aggregate="count", order_by="a"), BadAggregate),
    ("group-by", lambda b: b.stream_retrieve(_T, group_by="a"), BadGroupBy),
    ("group-by-dup", lambda b: b.stream_retrieve(_T, aggregate="count", group_by="a, a"), BadGroupBy),
    ("insert-empty", lambda b: b.insert(_T, {}), EmptyData),
    ("insert-empty-pairs", lambda b: b.insert(_T, []), EmptyData),
    ("mutate-empty", lambda b: b.mutate(_T, "a = 1", {}), EmptyData),
    ("mutate-unbounded", lambda b: b.mutate(_T, "", {"a": 1}), UnboundedWrite),
    ("mutate-blank", lambda b: b.mutate(_T, "  \n ", {"a": 1}), UnboundedWrite),
    ("purge-unbounded", lambda b: b.purge(_T, ""), UnboundedWrite),
]


@pytest.mark.parametrize(
    ("call", "expected"), [(c, e) for _, c, e in _PURE_ERRORS], ids=[i for i, *_ in _PURE_ERRORS]
)
async def test_pure_errors_need_no_database(
    call: Callable[[PostgresStoreBackend], Awaitable[Any]], expected: type[StoreError]
) -> None:
    """A backend on a closed port: the typed error comes at once, not ``Connect`` after 5 s."""
    async with make_backend(CLOSED_PORT_DSN) as backend:
        started = time.monotonic()
        with pytest.raises(expected):
            await call(backend)
        assert time.monotonic() - started < 0.5


def test_iter_rows_checks_its_arguments_when_called() -> None:
    backend = make_backend(CLOSED_PORT_DSN)
    with pytest.raises(BadOrderBy):
        backend.iter_rows(_T, order_by="1a")
    with pytest.raises(BadLimit):
        backend.iter_rows(_T, max_rows=-3)
    with pytest.raises(FilterError):
        backend.iter_rows(_T, "a ==")


async def test_a_closed_port_is_connect_within_the_acquire_timeout() -> None:
    # capacity 1 too: a failing connection attempt fills the pool's only slot, which is not exhaustion
    async with make_backend(CLOSED_PORT_DSN) as backend, make_backend(CLOSED_PORT_DSN, capacity=1) as single:
        started = time.monotonic()
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                backend.query(_T, "a = 1"),
                backend.insert(_T, {"a": 1}),
                backend.stream_retrieve(_T),
                backend.warm_schema(_T),
                backend.ping(),
                single.query(_T),
                return_exceptions=True,
            ),
            15,
        )
        elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 8, elapsed  # the 5 s acquire timeout, and no retry loop past it
    for outcome in outcomes:
        assert isinstance(outcome, Connect), outcome
        assert "refused" in str(outcome).lower()  # says why
        assert "in use" not in str(outcome)  # and not a wrong why
        assert str(outcome).count("could not reach the database") == 1  # said once
        assert _SECRET not in str(outcome) and _SECRET not in repr(outcome)


# --------------------------------------------------------------------------------------------------
# Resolution: TableNotResolved, AmbiguousTable, D4's UnknownColumn


async def test_a_ghost_table_is_table_not_resolved(dsn: str, unique_name: str) -> None:
    ghost = f"{unique_name}_ghost"
    async with make_backend(dsn) as backend:
        calls: list[Awaitable[Any]] = [
            backend.query(ghost, "a = 1"),
            backend.insert(ghost, {"a": 1}),
            backend.mutate(ghost, "a = 1", {"b": 2}),
            backend.purge(ghost, "a = 1"),
            backend.stream_retrieve(ghost),
            backend.reinforce(ghost, "a", "b", "e", 0.1, 0.0),
            backend.warm_schema(ghost),
        ]
        for call in calls:
            with pytest.raises(TableNotResolved) as caught:
                await call
            assert caught.value.table == ghost
        with pytest.raises(FilterError):  # D13: the filter is checked before the table is looked up
            await backend.query(ghost, "a = 'x' AND")
        assert not _cached(backend, ghost)


async def test_ambiguous_table_lists_schemas_sorted(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    first, second = f"zz_{unique_name}", f"aa_{unique_name}"
    for schema in (first, second):
        admin.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.{unique_name} (n int)")
    async with make_backend(dsn) as backend:
        with pytest.raises(AmbiguousTable) as caught:
            await backend.query(unique_name)
        assert caught.value.table == unique_name
        assert caught.value.schemas == (second, first)
        with pytest.raises(AmbiguousTable):
            await backend.warm_schema(unique_name)
        # the same name on search_path wins without ambiguity (the primary resolution)
        admin.execute(f"CREATE TABLE public.{unique_name} (n int, here bool DEFAULT true)")
        assert await backend.insert(unique_name, {"n": 1}) == 1
        assert await backend.query(unique_name) == [{"n": 1, "here": True}]
    assert count(admin, f"public.{unique_name}") == 1
    assert count(admin, f"{first}.{unique_name}") == count(admin, f"{second}.{unique_name}") == 0


_UNKNOWN_COLUMN_CALLS: list[tuple[str, Callable[[PostgresStoreBackend, str], Awaitable[Any]]]] = [
    ("query-where", lambda b, t: b.query(t, "nope = 1")),
    ("insert-data", lambda b, t: b.insert(t, {"id": 2, "nope": 1})),
    ("mutate-data", lambda b, t: b.mutate(t, "id = 1", {"nope": 2})),
    ("mutate-where", lambda b, t: b.mutate(t, "nope = 1", {"name": "changed"})),
    ("purge-where", lambda b, t: b.purge(t, "nope IS NULL OR id = 1")),
    ("stream-where", lambda b, t: b.stream_retrieve(t, "nope IN (1, 2)")),
    ("stream-order-by", lambda b, t: b.stream_retrieve(t, order_by="id, nope desc")),
    ("stream-aggregate", lambda b, t: b.stream_retrieve(t, aggregate="sum(nope)")),
    ("stream-group-by", lambda b, t: b.stream_retrieve(t, aggregate="count", group_by="nope")),
    ("iter-rows-where", lambda b, t: _drain(b.iter_rows(t, "NOT nope = 1"))),
    ("reinforce", lambda b, t: b.reinforce(t, "1", "2", "e", 0.1, 0.0)),
]


async def _drain(rows: Any) -> list[Any]:
    async with contextlib.aclosing(rows) as stream:
        return [row async for row in stream]


@pytest.mark.parametrize(
    "call", [c for _, c in _UNKNOWN_COLUMN_CALLS], ids=[i for i, _ in _UNKNOWN_COLUMN_CALLS]
)
async def test_unknown_column_before_the_statement_runs(
    dsn: str,
    admin: psycopg.Connection[Any],
    unique_name: str,
    wire_log: WireLog,
    call: Callable[[PostgresStoreBackend, str], Awaitable[Any]],
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id int, name text, n int); INSERT INTO {unique_name} VALUES (1, 'a', 5)"
    )
    async with make_backend(dsn) as backend:
        for attempt in ("cold", "warm"):
            mark = wire_log.mark()
            with pytest.raises(UnknownColumn) as caught:
                await call(backend, unique_name)
            error = caught.value
            assert error.table == unique_name
            assert error.column in {"nope", "weight"}  # reinforce names weight/from_id/to_id/etype
            assert error.columns == ("id", "name", "n")
            assert "name" in str(error)  # the message lists the table's columns
            # one re-introspection (D4), and no statement of the operation itself
            assert resolve_count(wire_log, mark) == 1, attempt
            assert all("to_regclass" in sql for sql in statements(wire_log, mark)), attempt
            assert _cached(backend, unique_name)  # the fresh schema is cached
        mark = wire_log.mark()
        assert await backend.query(unique_name, "id = 1") == [{"id": 1, "name": "a", "n": 5}]
        assert resolve_count(wire_log, mark) == 0  # a valid call hits the cache
    assert admin.execute(f"SELECT id, name, n FROM {unique_name}").fetchall() == [(1, "a", 5)]


async def test_a_column_added_after_caching_is_found(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int)")
    async with make_backend(dsn) as backend:
        await backend.warm_schema(unique_name)
        admin.execute(f"ALTER TABLE {unique_name} ADD COLUMN tag text")
        mark = wire_log.mark()
        assert await backend.insert(unique_name, {"id": 1, "tag": "x"}) == 1
        assert resolve_count(wire_log, mark) == 1
        mark = wire_log.mark()
        assert await backend.query(unique_name, "tag = 'x'") == [{"id": 1, "tag": "x"}]
        assert resolve_count(wire_log, mark) == 0


async def test_warm_schema_caches_and_later_calls_do_not_resolve(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int, tag text)")
    async with make_backend(dsn) as backend:
        assert not _cached(backend, unique_name)
        mark = wire_log.mark()
        await backend.warm_schema(unique_name)
        await backend.warm_schema(unique_name)  # a hit: no I/O
        assert resolve_count(wire_log, mark) == 1
        assert SCHEMA_CACHE.get((backend.masked_dsn(), unique_name)) is not None
        mark = wire_log.mark()
        assert await backend.insert(unique_name, {"id": 1, "tag": "x"}) == 1
        assert await backend.mutate(unique_name, "id = 1", {"tag": "y"}) == 1
        assert await backend.query(unique_name, "tag = 'y'") == [{"id": 1, "tag": "y"}]
        assert await backend.purge(unique_name, "id = 1") == 1
        assert resolve_count(wire_log, mark) == 0


# --------------------------------------------------------------------------------------------------
# Statement failures: Query with its SQLSTATE, and nothing changed or cached


async def test_a_non_uuid_binding_is_query_22p02_and_changes_nothing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id uuid PRIMARY KEY, n int);"
        f"INSERT INTO {unique_name} VALUES ('00000000-0000-4000-8000-000000000001', 1)"
    )
    bad = {"id": "not-a-uuid"}
    async with make_backend(dsn) as backend:
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("mutate", lambda: backend.mutate(unique_name, "id = '${id}'", {"n": 5}, bad)),
            ("retrieve", lambda: backend.query(unique_name, "id = '${id}'", bad)),
            ("purge", lambda: backend.purge(unique_name, "id = '${id}'", bad)),
            ("persist", lambda: backend.insert(unique_name, {"id": "not-a-uuid", "n": 2})),
            ("retrieve", lambda: backend.stream_retrieve(unique_name, "id = '${id}'", bad)),
        ]
        for cache in ("cold", "warm"):
            if cache == "warm":
                await backend.warm_schema(unique_name)
            for op, call in calls:
                if cache == "cold":
                    SCHEMA_CACHE.evict((backend.masked_dsn(), unique_name))
                with pytest.raises(Query) as caught:
                    await call()
                assert (caught.value.op, caught.value.sqlstate) == (op, "22P02"), cache
                if cache == "cold":
                    assert not _cached(backend, unique_name)  # a failed miss caches nothing
        rows = await backend.query(unique_name)
    assert rows == [{"id": "00000000-0000-4000-8000-000000000001", "n": 1}]


async def test_a_failing_statement_in_the_miss_transaction_changes_nothing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id int PRIMARY KEY, k int UNIQUE);"
        f"INSERT INTO {unique_name} SELECT g, g FROM generate_series(1, 5) g"
    )
    before = admin.execute(f"SELECT id, k FROM {unique_name} ORDER BY id").fetchall()
    async with make_backend(dsn) as backend:
        # one UPDATE over five rows; the second row it touches violates UNIQUE(k): all or nothing
        with pytest.raises(Query) as caught:
            await backend.mutate(unique_name, "id >= 1", {"k": 7})
        assert (caught.value.op, caught.value.sqlstate) == ("mutate", "23505")
        assert not _cached(backend, unique_name)
        with pytest.raises(Query) as duplicate:
            await backend.insert(unique_name, {"id": 1, "k": 99})
        assert (duplicate.value.op, duplicate.value.sqlstate) == ("persist", "23505")
        assert not _cached(backend, unique_name)
        # the connection is clean afterwards (no 25P02 cascade), and the next miss caches
        assert await backend.insert(unique_name, {"id": 6, "k": 6}) == 1
        assert _cached(backend, unique_name)
    after = admin.execute(f"SELECT id, k FROM {unique_name} ORDER BY id").fetchall()
    assert after == [*before, (6, 6)]


async def test_a_nul_character_is_a_typed_error(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (name text)")
    async with make_backend(dsn) as backend:
        with pytest.raises(StoreError):
            await backend.insert(unique_name, {"name": "a\x00b"})
        with pytest.raises(StoreError):
            await backend.query(unique_name, "name = '${n}'", {"n": "a\x00b"})
        assert await backend.insert(unique_name, {"name": "ok"}) == 1
    assert count(admin, unique_name) == 1


# --------------------------------------------------------------------------------------------------
# D3, D9, D12, D5


async def test_blank_where_writes_need_all_rows(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int); INSERT INTO {unique_name} VALUES (1), (2), (3)")
    async with make_backend(dsn) as backend:
        with pytest.raises(UnboundedWrite) as caught:
            await backend.mutate(unique_name, "", {"n": 0})
        assert (caught.value.op, caught.value.table) == ("mutate", unique_name)
        assert "all_rows" in str(caught.value) or "all_rows" in (caught.value.hint or "")
        with pytest.raises(UnboundedWrite) as purged:
            await backend.purge(unique_name, " \t")
        assert (purged.value.op, purged.value.table) == ("purge", unique_name)
        assert admin.execute(f"SELECT sum(n) FROM {unique_name}").fetchone() == (6,)
        assert await backend.mutate(unique_name, "", {"n": 0}, all_rows=True) == 3
        assert admin.execute(f"SELECT sum(n) FROM {unique_name}").fetchone() == (0,)
        assert (
            await backend.mutate(unique_name, "n = 0", {"n": 1}, all_rows=True) == 3
        )  # a where still applies
        assert await backend.purge(unique_name, "", all_rows=True) == 3
    assert count(admin, unique_name) == 0


async def test_reinforce_resolves_on_a_cold_cache(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    a, b, c = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))
    admin.execute(
        f"CREATE TABLE {unique_name} (from_id uuid, to_id uuid, etype text, weight float8);"
        f"INSERT INTO {unique_name} VALUES ('{a}', '{b}', 'knows', 0.5), ('{a}', '{c}', 'knows', 0.5)"
    )

    def weight() -> float:
        row = admin.execute(f"SELECT weight FROM {unique_name} WHERE to_id = %s", [b]).fetchone()
        assert row is not None
        return float(row[0])

    async with make_backend(dsn) as backend:
        assert not _cached(backend, unique_name)
        assert await backend.reinforce(unique_name, a, b, "knows", 0.25, 0.01) == 1  # D9: not a silent 0
        assert _cached(backend, unique_name)
        assert weight() == 0.75
        assert await backend.reinforce(unique_name, a, b, "knows", 0.5, 0.01) == 1
        assert weight() == 1.0  # capped
        assert await backend.reinforce(unique_name, a, b, "knows", -5, 0.05) == 1
        assert weight() == 0.05  # floored
        assert await backend.reinforce(unique_name, a, b, "likes", 0.1, 0.0) == 0
        with pytest.raises(Query) as caught:
            await backend.reinforce(unique_name, "nope", b, "knows", 0.1, 0.0)
        assert caught.value.sqlstate == "22P02"
    other = admin.execute(f"SELECT weight FROM {unique_name} WHERE to_id = %s", [c]).fetchone()
    assert other == (0.5,)


async def test_an_enum_outside_search_path_is_cast_schema_qualified(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    schema = f"s_{unique_name}"
    admin.execute(
        f"CREATE SCHEMA {schema}; CREATE TYPE {schema}.tier AS ENUM ('bronze', 'silver', 'gold');"
        f"CREATE TABLE {schema}.{unique_name} (id int, tier {schema}.tier)"
    )
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        assert await backend.insert(unique_name, {"id": 1, "tier": "gold"}) == 1
        assert f'$2::"{schema}"."tier"' in " ".join(statements(wire_log, mark))
        assert await backend.insert(unique_name, [("id", 2), ("tier", "bronze")]) == 1
        assert await backend.insert(unique_name, {"id": 3, "tier": None}) == 1
        assert await backend.query(unique_name, "tier = 'gold'") == [{"id": 1, "tier": "gold"}]
        both = await backend.query(unique_name, "tier IN ('gold', 'bronze')")
        assert sorted(row["id"] for row in both) == [1, 2]
        above = await backend.query(unique_name, "tier > 'silver'")  # enum order, not text order
        assert [row["tier"] for row in above] == ["gold"]
        assert await backend.mutate(unique_name, "tier = '${t}'", {"tier": "silver"}, {"t": "bronze"}) == 1
        outcome = await backend.stream_retrieve(unique_name, "tier IS NOT NULL", order_by="tier desc")
        assert [row["tier"] for row in outcome.rows] == ["gold", "silver"]
        with pytest.raises(Query) as caught:
            await backend.insert(unique_name, {"id": 4, "tier": "platinum"})
        assert caught.value.sqlstate == "22P02"
    assert count(admin, f"{schema}.{unique_name}") == 3


async def test_dsns_differing_only_by_password_share_one_cache_entry(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int)")
    one, two = with_params(dsn, password="pw-one"), with_params(dsn, password="pw-two")  # trust auth
    async with make_backend(one) as first, make_backend(two) as second:
        assert first.masked_dsn() == second.masked_dsn()
        await first.warm_schema(unique_name)
        mark = wire_log.mark()
        assert await second.insert(unique_name, {"n": 1}) == 1
        assert await second.query(unique_name) == [{"n": 1}]
        assert resolve_count(wire_log, mark) == 0
    keys = [key for key in list(SCHEMA_CACHE._entries) if key[1] == unique_name]
    assert len(keys) == 1
    assert "pw-one" not in keys[0][0] and "pw-two" not in keys[0][0]


# --------------------------------------------------------------------------------------------------
# A caller that gives up (a timeout, a cancelled task) leaves a usable pool and an idle server


@pytest.mark.parametrize("cache", ["cold", "warm"])
async def test_a_cancelled_call_cancels_the_statement(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, cache: str
) -> None:
    admin.execute(f"CREATE VIEW {unique_name} AS SELECT 1 AS n FROM pg_sleep(30)")
    admin.execute(f"CREATE TABLE {unique_name}_t (n int)")
    store = f"cancel_{unique_name}"
    async with make_backend(dsn, store, capacity=1) as backend:
        if cache == "warm":
            await backend.warm_schema(unique_name)
        for call in (
            lambda: backend.query(unique_name),
            lambda: backend.stream_retrieve(unique_name),
            lambda: _drain(backend.iter_rows(unique_name)),
        ):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(call(), 0.3)
            assert time.monotonic() - started < 2
            assert await wait_until(
                lambda: bool(rows := sessions(admin, store)) and all(s == "idle" for _, s, _ in rows), 2
            ), sessions(admin, store)
            assert await asyncio.wait_for(backend.insert(f"{unique_name}_t", {"n": 1}), 3) == 1
    assert count(admin, f"{unique_name}_t") == 3


async def test_drift_on_the_miss_path_is_schema_drift(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """An operator the type lacks (point = point) is 42883 even on a fresh schema: SchemaDrift, uncached."""
    admin.execute(
        f"CREATE TABLE {unique_name} (id int, p point); INSERT INTO {unique_name} VALUES (1, '(1,2)')"
    )
    async with make_backend(dsn) as backend:
        for _ in range(2):
            with pytest.raises(SchemaDrift) as caught:
                await backend.query(unique_name, "p = '(1,2)'")
            assert (caught.value.op, caught.value.sqlstate) == ("retrieve", "42883")
            assert not _cached(backend, unique_name)
        assert await backend.query(unique_name, "p IS NOT NULL") == [{"id": 1, "p": "(1,2)"}]
