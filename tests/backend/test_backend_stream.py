"""Bounded streaming on a real server (ANCHOR §7.4; reference scenarios t5–t8; D8), on both lanes.

``stream_retrieve`` and ``iter_rows``: the four policies with their exact metadata, ``max_rows=0``,
cancellation, order/limit and aggregates, and the server-side proof that stopping early stops the
server's work (the session is ``idle`` again within about a second, and the connection is reusable).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
import pytest

from axonstore import Backpressure, PostgresStoreBackend
from axonstore.errors import BadAggregate, Query
from axonstore.schema import SCHEMA_CACHE
from tests.backend import make_backend, sessions, wait_until

_ROWS = 50
#: Fifty million rows computed on demand: any test that reads it to the end would take minutes.
_HUGE = 50_000_000


def _numbers(admin: psycopg.Connection[Any], table: str, n: int = _ROWS) -> None:
    admin.execute(
        f"CREATE TABLE {table} (n int PRIMARY KEY, grp text, v float8);"
        f"INSERT INTO {table} SELECT g, CASE WHEN g % 5 = 0 THEN 'five' ELSE 'other' END, g * 0.5"
        f" FROM generate_series(1, {n}) g"
    )


def _huge(admin: psycopg.Connection[Any], view: str) -> None:
    # In the select list, not in FROM: a FunctionScan materialises the whole series before the first
    # row; a set-returning function in the select list (ProjectSet) yields rows as they are made.
    admin.execute(f"CREATE VIEW {view} AS SELECT generate_series(1, {_HUGE}) AS n")


def _ns(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["n"]) for row in rows]


def _all_idle(rows: list[tuple[Any, ...]]) -> bool:
    """Our sessions exist (directly, or as PgBouncer's server connection) and none is working."""
    return bool(rows) and all(state == "idle" for _, state, _ in rows)


def _cached(backend: PostgresStoreBackend, table: str) -> bool:
    return (backend.masked_dsn(), table) in SCHEMA_CACHE


# --------------------------------------------------------------------------------------------------
# The four policies (t5–t7), on a cold cache (a transaction) and then a warm one (autocommit)


@pytest.mark.parametrize("cache", ["cold", "warm"])
async def test_drop_oldest_keeps_the_tail_window(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, cache: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn) as backend:
        if cache == "warm":
            await backend.warm_schema(unique_name)
        outcome = await backend.stream_retrieve(
            unique_name, order_by="n", policy=Backpressure.DROP_OLDEST, max_rows=10
        )
    assert _ns(outcome.rows) == list(range(41, 51))
    assert (outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled) == (
        50,
        40,
        False,
        False,
    )


@pytest.mark.parametrize("cache", ["cold", "warm"])
async def test_pause_upstream_keeps_the_head_and_says_truncated(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, cache: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn) as backend:
        if cache == "warm":
            await backend.warm_schema(unique_name)
        outcome = await backend.stream_retrieve(
            unique_name, order_by="n desc", max_rows=10
        )  # the default policy
        exact = await backend.stream_retrieve(unique_name, order_by="n", max_rows=_ROWS)
    assert _ns(outcome.rows) == list(range(50, 40, -1))
    assert (outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled) == (11, 0, True, False)
    # exactly max_rows rows: nothing was left out, so not truncated
    assert (len(exact.rows), exact.total_seen, exact.truncated) == (_ROWS, _ROWS, False)


@pytest.mark.parametrize("cache", ["cold", "warm"])
async def test_fail_raises_query_past_the_bound(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, cache: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        if cache == "warm":
            await backend.warm_schema(unique_name)
        with pytest.raises(Query) as caught:
            await backend.stream_retrieve(unique_name, policy="fail", max_rows=10)
        assert caught.value.op == "retrieve"
        assert "10-row stream bound" in caught.value.source
        assert "fail" in caught.value.source
        within = await backend.stream_retrieve(unique_name, "n <= 10", policy=Backpressure.FAIL, max_rows=10)
        assert (len(within.rows), within.total_seen, within.truncated) == (10, 10, False)


async def test_degrade_quality_keeps_every_row(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name, 2_500)
    async with make_backend(dsn) as backend:
        outcome = await backend.stream_retrieve(
            unique_name, order_by="n", policy=Backpressure.DEGRADE_QUALITY, max_rows=10
        )
    assert _ns(outcome.rows) == list(range(1, 2_501))
    assert (outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled) == (
        2_500,
        0,
        False,
        False,
    )


async def test_max_rows_zero(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        pause = await backend.stream_retrieve(unique_name, max_rows=0)
        drop = await backend.stream_retrieve(unique_name, policy="drop_oldest", max_rows=0)
        degrade = await backend.stream_retrieve(unique_name, policy="degrade_quality", max_rows=0)
        with pytest.raises(Query):
            await backend.stream_retrieve(unique_name, policy="fail", max_rows=0)
        empty = await backend.stream_retrieve(unique_name, "n > 1000", policy="fail", max_rows=0)
        rows = await backend.query(unique_name, "n = 1")  # the connection came back clean
    assert (pause.rows, pause.total_seen, pause.truncated) == ([], 1, True)
    assert (drop.rows, drop.total_seen, drop.dropped, drop.truncated) == ([], 50, 50, False)
    assert (len(degrade.rows), degrade.total_seen) == (50, 50)
    assert (empty.rows, empty.total_seen, empty.truncated, empty.cancelled) == ([], 0, False, False)
    assert _ns(rows) == [1]


# --------------------------------------------------------------------------------------------------
# Cancellation (t8)


async def test_a_pre_cancelled_drain_keeps_nothing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name)
    cancel = asyncio.Event()
    cancel.set()
    async with make_backend(dsn) as backend:
        outcome = await backend.stream_retrieve(unique_name, cancel=cancel)
        empty = await backend.stream_retrieve(unique_name, "n < 0", cancel=cancel)
        async with contextlib.aclosing(backend.iter_rows(unique_name, cancel=cancel)) as rows:
            iterated = [row async for row in rows]
    assert (outcome.rows, outcome.total_seen, outcome.cancelled, outcome.truncated) == ([], 0, True, False)
    assert (empty.cancelled, empty.total_seen) == (False, 0)  # an empty stream never reports cancelled
    assert iterated == []


async def test_cancel_during_the_drain(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _numbers(admin, unique_name)
    checks = 0

    def after_seven() -> bool:
        nonlocal checks
        checks += 1
        return checks > 7

    async with make_backend(dsn) as backend:
        outcome = await backend.stream_retrieve(unique_name, order_by="n", cancel=after_seven)
    assert (_ns(outcome.rows), outcome.total_seen, outcome.cancelled, outcome.truncated) == (
        list(range(1, 8)),
        7,
        True,
        False,
    )


async def test_an_event_set_by_another_task_stops_an_unbounded_stream(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _huge(admin, unique_name)
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, cancel.set)
    async with make_backend(dsn) as backend:
        started = time.monotonic()
        outcome = await asyncio.wait_for(
            backend.stream_retrieve(unique_name, policy="degrade_quality", cancel=cancel), 20
        )
        assert time.monotonic() - started < 5
        assert outcome.cancelled and not outcome.truncated
        assert 0 < outcome.total_seen == len(outcome.rows) < _HUGE
        assert _ns(outcome.rows[:3]) == [1, 2, 3]


# --------------------------------------------------------------------------------------------------
# Shapes: order/limit, aggregates


async def test_order_by_and_limit(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn) as backend:
        top = await backend.stream_retrieve(unique_name, "grp = 'other'", order_by="n desc", limit="5")
        bound = await backend.stream_retrieve(
            unique_name, order_by="grp desc, n", limit="${k}", bindings={"k": "3"}
        )
        none = await backend.stream_retrieve(unique_name, order_by="n", limit="0")
    assert _ns(top.rows) == [49, 48, 47, 46, 44]
    assert (top.total_seen, top.truncated) == (5, False)
    assert _ns(bound.rows) == [1, 2, 3]  # 'other' sorts after 'five'
    assert none.rows == [] and none.total_seen == 0


async def test_aggregates_and_group_by(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn) as backend:
        (total,) = (await backend.stream_retrieve(unique_name, aggregate="count")).rows
        (summed,) = (await backend.stream_retrieve(unique_name, "n <= 4", aggregate="sum(n)")).rows
        (mean,) = (await backend.stream_retrieve(unique_name, aggregate="avg(v)")).rows
        (low,) = (await backend.stream_retrieve(unique_name, "grp = 'five'", aggregate="MIN(n)")).rows
        (high,) = (await backend.stream_retrieve(unique_name, aggregate="max(v)")).rows
        grouped = await backend.stream_retrieve(unique_name, aggregate="count", group_by="grp")
        sums = await backend.stream_retrieve(unique_name, "n > 40", aggregate="sum(v)", group_by="grp")
        async with contextlib.aclosing(
            backend.iter_rows(unique_name, aggregate="max(n)", group_by="grp")
        ) as rows:
            maxima = [row async for row in rows]
        with pytest.raises(BadAggregate):
            await backend.stream_retrieve(unique_name, aggregate="count", limit="5")
    assert total == {"count": 50}
    assert summed == {"sum": 10.0} and type(summed["sum"]) is float
    assert mean == {"avg": 12.75}
    assert low == {"min": 5}
    assert high == {"max": 25.0}
    assert sorted((row["grp"], row["count"]) for row in grouped.rows) == [("five", 10), ("other", 40)]
    assert sorted((row["grp"], row["sum"]) for row in sums.rows) == [("five", 47.5), ("other", 180.0)]
    assert sorted((row["grp"], row["max"]) for row in maxima) == [("five", 50), ("other", 49)]


# --------------------------------------------------------------------------------------------------
# iter_rows


async def test_iter_rows_early_break_leaves_a_reusable_connection(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        for cache in ("cold", "warm"):
            seen: list[int] = []
            async with contextlib.aclosing(backend.iter_rows(unique_name, order_by="n")) as rows:
                async for row in rows:
                    seen.append(int(row["n"]))
                    if len(seen) == 3:
                        break
            assert seen == [1, 2, 3], cache
            assert _cached(backend, unique_name)  # stopping early is not a failure (D8)
        # capacity 1: these would wait 5 s and fail if the connection had not come back
        started = time.monotonic()
        assert _ns(await backend.query(unique_name, "n = 50")) == [50]
        bounded = [row async for row in backend.iter_rows(unique_name, order_by="n desc", max_rows=4)]
        everything = [row async for row in backend.iter_rows(unique_name, "n > 45")]
        assert time.monotonic() - started < 2
    assert _ns(bounded) == [50, 49, 48, 47]
    assert sorted(_ns(everything)) == [46, 47, 48, 49, 50]


# --------------------------------------------------------------------------------------------------
# Stopping early stops the server


@pytest.mark.parametrize("how", ["pause", "iter_rows", "cancel"])
async def test_stopping_early_stops_the_server_work(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, how: str
) -> None:
    _huge(admin, unique_name)
    store = f"stop_{unique_name}"
    async with make_backend(dsn, store, capacity=1) as backend:
        for cache in ("cold", "warm"):
            started = time.monotonic()
            if how == "pause":
                outcome = await backend.stream_retrieve(unique_name, max_rows=10)
                assert (len(outcome.rows), outcome.total_seen, outcome.truncated) == (10, 11, True)
            elif how == "iter_rows":
                async with contextlib.aclosing(backend.iter_rows(unique_name)) as rows:
                    async for row in rows:
                        if row["n"] == 5:
                            break
            else:
                stop = asyncio.Event()
                asyncio.get_running_loop().call_later(0.2, stop.set)
                outcome = await backend.stream_retrieve(unique_name, policy="drop_oldest", cancel=stop)
                assert outcome.cancelled
            assert time.monotonic() - started < 3, cache
            assert await wait_until(lambda: _all_idle(sessions(admin, store)), 1.0), (
                cache,
                sessions(admin, store),
            )
            active = admin.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                [f"%{unique_name}%"],
            ).fetchone()
            assert active == (0,), cache
            assert _cached(backend, unique_name)
        # the one connection is reusable at once
        again = await asyncio.wait_for(backend.stream_retrieve(unique_name, limit="3"), 10)
        assert _ns(again.rows) == [1, 2, 3]
        assert (again.total_seen, again.truncated) == (3, False)


# --------------------------------------------------------------------------------------------------
# D8: a failed drain on the miss path caches nothing


async def test_a_failed_drain_on_the_miss_path_caches_nothing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        with pytest.raises(Query):
            await backend.stream_retrieve(unique_name, policy="fail", max_rows=5)
        assert not _cached(backend, unique_name)
        with pytest.raises(Query) as bad:  # a server error mid-miss: also nothing cached
            await backend.stream_retrieve(unique_name, "grp = 'x' AND n = '${n}'", {"n": "not-a-number"})
        assert bad.value.sqlstate == "22P02"
        assert not _cached(backend, unique_name)
        fine = await backend.stream_retrieve(unique_name, policy="fail", max_rows=50)
        assert len(fine.rows) == 50
        assert _cached(backend, unique_name)


async def test_drift_on_a_warm_stream_heals_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name)
    async with make_backend(dsn) as backend:
        await backend.warm_schema(unique_name)
        admin.execute(f"ALTER TABLE {unique_name} ALTER COLUMN n TYPE text")
        outcome = await backend.stream_retrieve(unique_name, "n = 7")  # "n" = $1::int4 → 42883 → heal
        assert outcome.rows == [{"n": "7", "grp": "other", "v": 3.5}]
        assert SCHEMA_CACHE.get((backend.masked_dsn(), unique_name)) is not None
        rows = [row async for row in backend.iter_rows(unique_name, "n = '50'")]
        assert rows == [{"n": "50", "grp": "five", "v": 25.0}]
