"""Warm plans on a real server (``axonstore.plans``): a repeated call sends exactly the cold call's
statement, heals when the schema moved, and stays out of pins, transactions, telemetry and routing."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider

from axonstore import BadArgument, PostgresStoreBackend, QueryCanceled, UnknownColumn
from axonstore.backend.connections import READ_ONLY_TIMEOUT_SQL
from axonstore.operations import PageRead, prepare_page, prepare_read
from tests._wire import WireLog
from tests.backend import make_backend


def _table(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, name text, qty int8)")
    admin.execute(f"INSERT INTO {name} SELECT i, 'n' || i, i FROM generate_series(1, 5) AS i")


async def _verb(backend: PostgresStoreBackend, table: str, verb: str, n: int) -> object:
    if verb == "query":
        return await backend.query(table, "id = '${id}'", {"id": str(n)}, columns="id, name")
    if verb == "insert":
        return await backend.insert(table, {"id": 100 + n, "name": f"x{n}", "qty": n}, returning="id")
    if verb == "mutate":
        return await backend.mutate(table, "id = '${id}'", {"qty": 10 * n}, {"id": str(n)})
    return await backend.purge(table, "id = '${id}'", {"id": str(n)})


@pytest.mark.parametrize("verb", ["query", "insert", "mutate", "purge"])
async def test_a_warm_call_sends_the_cold_calls_statement_and_gets_its_answer(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog, verb: str
) -> None:
    _table(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        await backend.warm_schema(unique_name)  # the first call below is already a cache hit
        first = wire_log.mark()
        cold = await _verb(backend, unique_name, verb, 1)
        second = wire_log.mark()
        warm = await _verb(backend, unique_name, verb, 2)
        assert warm is not None and backend.warm is not None and len(backend.warm) >= 1
        third = wire_log.mark()
        cold_sent = [e.detail for e in wire_log.since(first)[: second - first] if e.kind == "parse"]
        warm_sent = [e.detail for e in wire_log.since(second)[: third - second] if e.kind == "parse"]
        assert cold_sent == warm_sent and len(warm_sent) == 1  # one statement, the same text
    expected = {
        "query": ([{"id": 1, "name": "n1"}], [{"id": 2, "name": "n2"}]),
        "insert": ([{"id": 101}], [{"id": 102}]),
        "mutate": (1, 1),
        "purge": (1, 1),
    }[verb]
    assert (cold, warm) == expected
    if verb == "mutate":
        assert admin.execute(f"SELECT qty FROM {unique_name} WHERE id IN (1, 2) ORDER BY id").fetchall() == [
            (10,),
            (20,),
        ]


async def test_a_warm_query_on_a_renamed_column_re_resolves_and_says_what_is_missing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _table(admin, unique_name)
    async with make_backend(dsn) as backend:
        assert len(await backend.query(unique_name, "name = 'n1'")) == 1
        assert len(await backend.query(unique_name, "name = 'n1'")) == 1  # warm
        admin.execute(f"ALTER TABLE {unique_name} RENAME COLUMN name TO title")
        with pytest.raises(UnknownColumn) as missing:  # 42703 on the plan: evicted, re-resolved (D4)
            await backend.query(unique_name, "name = 'n1'")
        assert missing.value.column == "name" and "title" in missing.value.columns
        assert len(await backend.query(unique_name, "title = 'n1'")) == 1


async def test_null_patterns_json_and_pins_take_the_cold_path_with_the_same_results(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY, name text, meta jsonb)")
    async with make_backend(dsn) as backend:
        for n, name in enumerate(["a", None, "c", None]):  # the NULL pattern flips every call
            assert await backend.insert(unique_name, {"id": n, "name": name, "meta": None}) == 1
        assert await backend.insert(unique_name, {"id": 9, "name": "j", "meta": {"k": [1]}}) == 1
        async with backend.transaction() as tx:
            assert await backend.mutate(unique_name, "id = 9", {"name": "t"}, conn=tx) == 1
            assert await backend.mutate(unique_name, "id = 9", {"name": "u"}, conn=tx) == 1
        rows = await backend.query(unique_name, "id >= 0")
    assert sorted((r["id"], r["name"], r["meta"]) for r in rows) == [
        (0, "a", None),
        (1, None, None),
        (2, "c", None),
        (3, None, None),
        (9, "u", {"k": [1]}),
    ]


def test_telemetry_and_read_routing_turn_warm_plans_off() -> None:
    dsn = "postgresql://app@db.internal/app"  # no I/O: construction decides
    assert PostgresStoreBackend.connect(dsn).warm is not None
    traced = PostgresStoreBackend.connect(dsn, tracer_provider=TracerProvider())
    assert traced.warm is None  # every operation is a span
    routed = PostgresStoreBackend.connect(dsn, readers=[dsn])
    assert routed.warm is None  # reads pick a reader, writes read their commit LSN


async def test_a_page_alone_is_one_round_trip_in_a_read_only_transaction_with_its_timeout(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _table(admin, unique_name)
    page = prepare_page(unique_name, "qty >= 2", order_by="qty DESC", size=2)
    async with make_backend(dsn, capacity=1) as backend:
        cold = await backend.run_page_alone(page, statement_timeout_ms=5_000)  # a miss: the block
        mark = wire_log.mark()
        warm = await backend.run_page_alone(page, statement_timeout_ms=5_000)
        assert wire_log.round_trips(mark) == 1
        sent = [e.detail for e in wire_log.parses(mark)]
        assert sent[0] == READ_ONLY_TIMEOUT_SQL and len(sent) == 2  # the settings, then the SELECT
        async with backend.transaction(read_only=True, statement_timeout_ms=5_000) as tx:
            in_block = await backend.run_page(page, tx)
    assert [r["qty"] for r in warm.rows] == [r["qty"] for r in cold.rows] == [r["qty"] for r in in_block.rows]
    assert [r["qty"] for r in warm.rows] == [5, 4] and warm.next == in_block.next


def _slow_page(admin: psycopg.Connection[Any], table: str) -> PageRead:
    """A page that scans 300 000 rows for a match that is not there (tens of milliseconds)."""
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body text)")
    admin.execute(f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, 300000) g")
    return prepare_page(table, "body LIKE '%zzzz%'", order_by="id", size=5)  # a full scan


async def test_a_page_alone_that_times_out_is_query_canceled_and_leaves_the_connection_clean(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    page = _slow_page(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        await backend.warm_schema(unique_name)
        with pytest.raises(QueryCanceled):
            await backend.run_page_alone(page, statement_timeout_ms=1)
        assert len(await backend.query(unique_name, "id = 7")) == 1  # the one connection is usable


async def test_a_page_alone_cancelled_half_way_leaves_the_pool_working(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    # The pipeline is read below psycopg's cursor (backend.pipeline): a task cancelled while it waits
    # for the results leaves the server still running the statement; the connection must not serve the
    # next caller (backend.pipeline closes it; psycopg_pool would also discard one returned ACTIVE).
    page = _slow_page(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        await backend.warm_schema(unique_name)
        for _ in range(3):
            slow = asyncio.ensure_future(backend.run_page_alone(page, statement_timeout_ms=60_000))
            await asyncio.sleep(0.02)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert len(await backend.query(unique_name, "id = 7")) == 1  # the one slot works again
        quick = prepare_page(unique_name, "id <= 3", order_by="id", size=5)
        assert [r["id"] for r in (await backend.run_page_alone(quick, statement_timeout_ms=5_000)).rows] == [
            1,
            2,
            3,
        ]


async def test_a_page_alone_on_a_renamed_column_re_resolves(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _table(admin, unique_name)
    async with make_backend(dsn) as backend:
        page = prepare_page(unique_name, "name = 'n1'", order_by="id", size=2)
        assert len((await backend.run_page_alone(page, statement_timeout_ms=5_000)).rows) == 1
        admin.execute(f"ALTER TABLE {unique_name} RENAME COLUMN name TO title")
        with pytest.raises(UnknownColumn):
            await backend.run_page_alone(page, statement_timeout_ms=5_000)
        with pytest.raises(BadArgument):
            await backend.run_page_alone(page, statement_timeout_ms=-1)


async def _settings_then(conn: psycopg.AsyncConnection[Any], statement: str) -> None:
    async with conn.pipeline():
        await conn.execute(READ_ONLY_TIMEOUT_SQL, ["1234"])
        await conn.execute(statement)


@pytest.mark.parametrize("streamed_first", [False, True], ids=["fresh", "after-a-chunked-stream"])
async def test_the_page_settings_hold_for_their_implicit_transaction_only(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, streamed_first: bool
) -> None:
    # What run_page_alone relies on, on the real server: before the Sync, the SELECT runs under the
    # timeout and read-only (a write is refused with 25006); after it, both are back to the session's.
    admin.execute(f"CREATE TABLE {unique_name} (id int)")
    show = "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')"
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.AsyncRawCursor
    ) as conn:  # $n placeholders, as the backend sends them
        if streamed_first:  # a chunked stream leaves libpq's chunk mode set until the next query
            assert [row async for row in conn.cursor().stream("SELECT 1", size=10)] == [(1,)]
        cursor = conn.cursor()
        async with conn.pipeline():
            await cursor.execute(READ_ONLY_TIMEOUT_SQL, ["1234"])
            await cursor.execute(show)
        assert await cursor.fetchall() == [("1234ms", "on")]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await _settings_then(conn, f"INSERT INTO {unique_name} VALUES (1)")
        assert await (await conn.execute(show)).fetchall() == [("0", "off")]
    assert admin.execute(f"SELECT count(*) FROM {unique_name}").fetchone() == (0,)


async def test_a_page_alone_after_streamed_reads_on_the_same_connection(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    # A retrieve streams in chunks; a pipelined page afterwards on that one connection must still read
    # plain results (a two-statement form of the page failed here with TUPLES_CHUNK).
    _table(admin, unique_name)
    page = prepare_page(unique_name, "qty >= 2", order_by="qty DESC", size=2)
    async with make_backend(dsn, capacity=1) as backend:
        for n in range(1, 6):
            read = prepare_read(unique_name, "id = '${id}'", {"id": str(n)})
            assert len([row async for row in backend.iter_read(read, None, None, None)]) == 1
        for _ in range(3):
            assert [
                r["qty"] for r in (await backend.run_page_alone(page, statement_timeout_ms=5_000)).rows
            ] == [5, 4]
