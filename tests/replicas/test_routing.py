"""Reads routed over a real primary and two streaming standbys (CONTRACT §13), both flavours.

Where a read ran is counted by the servers themselves (each one's ``pg_stat_user_tables`` scans of
the test's table: a standby keeps its own statistics), not only by axonstore's ``routing_stats()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from axonstore import PostgresStoreBackend, StoreRegistry
from axonstore import sync as axsync
from axonstore.declarations import ResourceSpec, StoreSpec
from axonstore.dsn import application_name
from axonstore.errors import BadArgument
from tests.replicas._cluster import ReplicaSet
from tests.replicas._helpers import (
    entry_of,
    make_table,
    reads_of,
    scans,
    settled_scans,
    wait_until,
    wait_until_sync,
)

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _readers_in(backend: Any, replicas: ReplicaSet, max_lag: float) -> bool:
    stats = backend.routing_stats()
    return all(
        entry_of(stats, s)["healthy"]
        and (entry_of(stats, s)["lag_ms"] or 0) <= max_lag
        and entry_of(stats, s)["lag_ms"] is not None
        for s in replicas.standbys
    )


# --------------------------------------------------------------------------------------------------
# Reads land on the standbys


def _check_counts(
    replicas: ReplicaSet, table: str, stats: dict[str, dict[str, Any]], before: dict[str, int]
) -> None:
    for node in replicas.nodes:
        counted = reads_of(stats, node)
        if node is not replicas.primary:
            assert counted > 0, f"no read reached {node.name}: {stats}"
        expected = before[node.name] + counted
        assert settled_scans(node, table, expected) == expected, node.name


def _baseline(replicas: ReplicaSet, table: str) -> dict[str, int]:
    return {node.name: scans(node, table) for node in replicas.nodes}


async def test_reads_land_on_the_standbys(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    before = _baseline(replicas, unique_name)
    readers = [s.dsn for s in replicas.standbys]
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 4, readers=readers, reads="replica", max_lag_ms=10_000
    )
    async with backend:
        await backend.ping()
        assert await wait_until(lambda: _readers_in(backend, replicas, 10_000), 10)
        for _ in range(60):
            assert len(await backend.query(unique_name)) == 20
        for _ in range(4):  # streams closed early count too
            assert len([r async for r in backend.iter_rows(unique_name, max_rows=3)]) == 3
        name = application_name(unique_name, None)
        for standby in replicas.standbys:  # every endpoint's sessions carry the store's application_name
            rows = standby.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,))
            assert rows[0][0] >= 1, standby.name
        stats = backend.routing_stats()
    assert reads_of(stats, replicas.primary) == 0
    _check_counts(replicas, unique_name, stats, before)


def test_reads_land_on_the_standbys_sync(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    before = _baseline(replicas, unique_name)
    readers = [s.dsn for s in replicas.standbys]
    backend = axsync.PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 4, readers=readers, reads="replica", max_lag_ms=10_000
    )
    with backend:
        backend.ping()
        assert wait_until_sync(lambda: _readers_in(backend, replicas, 10_000), 10)
        for _ in range(60):
            assert len(backend.query(unique_name)) == 20
        stats = backend.routing_stats()
    assert reads_of(stats, replicas.primary) == 0
    _check_counts(replicas, unique_name, stats, before)


# --------------------------------------------------------------------------------------------------
# Session mode: read-your-writes, with the delayed standby in the set

PAIRS = 300
WORKERS = 30


def _pause(rng: random.Random) -> float:
    """Half the pairs read at once (the standbys cannot have the write yet); the rest after up to
    1.6 s, so the undelayed standby has it and the 2-s one sometimes not."""
    return 0.0 if rng.random() < 0.5 else rng.uniform(0.2, 1.6)


async def test_session_mode_never_reads_stale(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name, rows=WORKERS)
    before = _baseline(replicas, unique_name)
    readers = [s.dsn for s in replicas.standbys]
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 8, readers=readers, reads="session", max_lag_ms=10_000
    )
    stale: list[tuple[int, int, object]] = []

    async def worker(wid: int) -> None:
        rng = random.Random(wid)
        for k in range(PAIRS // WORKERS):
            value = f"w{wid}-{k}"
            await backend.mutate(unique_name, "id = '${id}'", {"v": value}, {"id": str(wid + 1)})
            await asyncio.sleep(_pause(rng))
            rows = await backend.query(unique_name, "id = '${id}'", {"id": str(wid + 1)})
            if [r["v"] for r in rows] != [value]:
                stale.append((wid, k, rows))

    async with backend:
        await backend.ping()
        assert await wait_until(lambda: _readers_in(backend, replicas, 10_000), 10)
        await asyncio.gather(*(worker(w) for w in range(WORKERS)))
        stats = backend.routing_stats()
    assert stale == []
    on_standbys = sum(reads_of(stats, s) for s in replicas.standbys)
    assert on_standbys > 0, stats  # the readers did serve session reads (once they had the write)
    assert reads_of(stats, replicas.primary) + on_standbys == PAIRS
    for standby in replicas.standbys:
        expected = before[standby.name] + reads_of(stats, standby)
        assert settled_scans(standby, unique_name, expected) == expected


def test_session_mode_never_reads_stale_sync(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name, rows=WORKERS)
    readers = [s.dsn for s in replicas.standbys]
    backend = axsync.PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 8, readers=readers, reads="session", max_lag_ms=10_000
    )
    stale: list[tuple[int, int, object]] = []

    def worker(wid: int) -> None:  # a thread: its own context, so its own session
        rng = random.Random(wid)
        for k in range(PAIRS // WORKERS):
            value = f"w{wid}-{k}"
            backend.mutate(unique_name, "id = '${id}'", {"v": value}, {"id": str(wid + 1)})
            assert backend.write_token() is not None
            time.sleep(_pause(rng))
            rows = backend.query(unique_name, "id = '${id}'", {"id": str(wid + 1)})
            if [r["v"] for r in rows] != [value]:
                stale.append((wid, k, rows))

    with backend:
        backend.ping()
        assert wait_until_sync(lambda: _readers_in(backend, replicas, 10_000), 10)
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(worker, range(WORKERS)))
        stats = backend.routing_stats()
    assert stale == []
    assert sum(reads_of(stats, s) for s in replicas.standbys) > 0, stats


def threading_sleep(seconds: float) -> None:
    """``time.sleep`` (named so the worker reads like its async twin)."""
    import time

    time.sleep(seconds)


async def test_replica_mode_reads_stale_where_session_mode_does_not(
    replicas: ReplicaSet, unique_name: str
) -> None:
    """The control of the test above: without the session's token the delayed standby does serve
    a read right after a write, and it is stale — so the session test could fail."""
    make_table(replicas, unique_name, rows=1)
    delayed = replicas.standbys[1]
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=[delayed.dsn], reads="replica", max_lag_ms=60_000
    )
    async with backend:
        await backend.ping()
        assert await wait_until(lambda: entry_of(backend.routing_stats(), delayed)["healthy"], 10)
        stale = 0
        for k in range(10):
            await backend.mutate(unique_name, "id = '1'", {"v": f"k{k}"})
            rows = await backend.query(unique_name, "id = '1'")
            stale += rows[0]["v"] != f"k{k}"
    assert stale > 0


# --------------------------------------------------------------------------------------------------
# replica mode skips a standby beyond max_lag_ms


async def test_replica_mode_skips_a_lagging_standby(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name, rows=1)
    before = scans(replicas.standbys[1], unique_name)
    fast, delayed = replicas.standbys
    readers = [fast.dsn, delayed.dsn]
    writer = PostgresStoreBackend.connect(replicas.primary.dsn)
    strict = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=readers, reads="replica", max_lag_ms=1000
    )
    lenient = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=readers, reads="replica", max_lag_ms=60_000
    )
    stop = asyncio.Event()

    async def keep_writing() -> None:  # the delayed standby stays 2 s behind while the primary writes
        n = 0
        while not stop.is_set():
            n += 1
            await writer.mutate(unique_name, "id = '1'", {"v": str(n)})
            await asyncio.sleep(0.05)

    async with writer, strict, lenient:
        task = asyncio.create_task(keep_writing())
        try:
            await strict.ping()  # opens the pools, and so starts the probes
            await lenient.ping()

            def lagging() -> bool:
                entry = entry_of(strict.routing_stats(), delayed)
                return entry["healthy"] and entry["lag_ms"] is not None and entry["lag_ms"] > 1000

            assert await wait_until(lagging, 10), strict.routing_stats()
            assert await wait_until(lambda: entry_of(lenient.routing_stats(), delayed)["healthy"], 10)
            for _ in range(40):
                await strict.query(unique_name)
                await lenient.query(unique_name)
        finally:
            stop.set()
            await task
        strict_stats, lenient_stats = strict.routing_stats(), lenient.routing_stats()
    assert reads_of(strict_stats, delayed) == 0, strict_stats
    assert reads_of(strict_stats, fast) == 40, strict_stats
    assert reads_of(lenient_stats, delayed) > 0, lenient_stats  # the bound, not the standby, decided
    # The servers agree: the delayed standby ran exactly the lenient backend's reads.
    expected = before + reads_of(lenient_stats, delayed)
    assert settled_scans(delayed, unique_name, expected) == expected


# --------------------------------------------------------------------------------------------------
# A standby stopped under load


async def test_stopping_a_standby_under_load_fails_no_read(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    victim = replicas.standbys[0]
    readers = [s.dsn for s in replicas.standbys]
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 8, readers=readers, reads="replica", max_lag_ms=10_000
    )
    failures: list[BaseException] = []
    done = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal done
        while not stop.is_set():
            try:
                rows = await backend.query(unique_name)
                assert len(rows) == 20
                done += 1
            except Exception as exc:  # every failure is the finding
                failures.append(exc)

    async with backend:
        await backend.ping()
        assert await wait_until(lambda: _readers_in(backend, replicas, 10_000), 10)
        tasks = [asyncio.create_task(reader()) for _ in range(16)]
        try:
            await asyncio.sleep(1.0)
            before = reads_of(backend.routing_stats(), victim)
            await asyncio.to_thread(victim.stop)
            await asyncio.sleep(2.5)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        stats = backend.routing_stats()
        try:
            assert failures == []
            assert before > 0
            assert not entry_of(stats, victim)["healthy"]
            assert reads_of(stats, replicas.standbys[1]) > 0
            # Back: a probe lets it in again, and reads reach it.
        finally:
            await asyncio.to_thread(victim.start)
        assert await wait_until(lambda: entry_of(backend.routing_stats(), victim)["healthy"], 10)
        back = reads_of(backend.routing_stats(), victim)
        for _ in range(10):
            await backend.query(unique_name)
        assert reads_of(backend.routing_stats(), victim) > back
    assert done > 100


# --------------------------------------------------------------------------------------------------
# A token across processes, the registry, verify


async def test_a_token_carried_to_another_backend_is_honoured(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name, rows=1)
    delayed = replicas.standbys[1]
    writer = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=[delayed.dsn], reads="session"
    )
    reader = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=[delayed.dsn], reads="replica", max_lag_ms=60_000
    )
    async with writer, reader:
        await reader.ping()
        assert await wait_until(lambda: entry_of(reader.routing_stats(), delayed)["healthy"], 10)
        for k in range(5):
            await writer.mutate(unique_name, "id = '1'", {"v": f"t{k}"})
            token = writer.write_token()
            assert token is not None

            async def elsewhere(token: str = token) -> list[Any]:  # another context: no session of its own
                return [r["v"] for r in await reader.query(unique_name, "id = '1'", consistent_with=token)]

            assert await asyncio.create_task(elsewhere(), context=contextvars.Context()) == [f"t{k}"]
        with pytest.raises(BadArgument, match="consistent_with"):
            await reader.query(unique_name, consistent_with="not-a-token")
        rows = [r async for r in reader.iter_rows(unique_name, consistent_with=token)]
        assert [r["v"] for r in rows] == ["t4"]
        page = await reader.page(unique_name, order_by="id", size=5, consistent_with=token)
        assert [r["v"] for r in page.rows] == ["t4"]
        outcome = await reader.stream_retrieve(unique_name, consistent_with=token)
        assert [r["v"] for r in outcome.rows] == ["t4"]
    # the governed handle takes the same token (retrieve, page and stream)
    resource = ResourceSpec(
        "r", replicas.primary.dsn, readers=(delayed.dsn,), reads="replica", max_lag_ms=60_000
    )
    registry = StoreRegistry.build([StoreSpec(unique_name, "postgresql", resource="r")], [resource])
    writer = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 2, readers=[delayed.dsn], reads="session"
    )
    async with writer, registry:
        handle = registry.store(unique_name)
        routed = handle.backend
        assert isinstance(routed, PostgresStoreBackend)
        await routed.ping()
        assert await wait_until(lambda: entry_of(routed.routing_stats(), delayed)["healthy"], 10)
        await writer.mutate(unique_name, "id = '1'", {"v": "handle"})
        token = writer.write_token()
        assert token is not None
        retrieved = await handle.retrieve("id = '1'", consistent_with=token)
        assert [r["v"] for r in retrieved.rows] == ["handle"]
        paged = await handle.page(order_by="id", size=5, consistent_with=token)
        assert [r["v"] for r in paged.rows] == ["handle"]
        stream = handle.stream("id = '1'", consistent_with=token)  # made here, iterated below
        async with stream:
            assert [r["v"] async for r in stream] == ["handle"]  # the delayed reader: "v1"
        with pytest.raises(BadArgument, match="consistent_with"):
            await handle.retrieve(consistent_with="not-a-token")
        with pytest.raises(BadArgument, match="consistent_with"):
            handle.stream(consistent_with="not-a-token")  # before any I/O


async def test_the_registry_routes_a_resources_reads(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    resource = ResourceSpec(
        "main",
        replicas.primary.dsn,
        capacity=3,
        readers=tuple(s.dsn for s in replicas.standbys),
        reads="replica",
        max_lag_ms=10_000,
    )
    registry = StoreRegistry.build([StoreSpec(unique_name, "postgresql", resource="main")], [resource])
    async with registry:
        handle = registry.store(unique_name)
        report = await registry.verify()
        assert report.verified == [unique_name], report.to_dict()
        backend = handle.backend
        assert await wait_until(lambda: _readers_in(backend, replicas, 10_000), 10)
        for _ in range(20):
            assert len((await handle.retrieve()).rows) == 20
        async with handle.stream() as rows:
            assert len([r async for r in rows]) == 20
        routing = registry.routing(unique_name)
    assert routing["reads"] == "replica"
    assert routing["readers"] == [s.dsn for s in replicas.standbys]  # no password here to mask
    assert sum(reads_of(routing["routing_stats"], s) for s in replicas.standbys) == 21


async def test_verify_checks_every_endpoint_masked(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    dead = "postgresql://postgres:hunter22@127.0.0.1:1/postgres?sslmode=disable"
    resource = ResourceSpec("main", replicas.primary.dsn, readers=(replicas.standbys[0].dsn, dead))
    registry = StoreRegistry.build([StoreSpec(unique_name, "postgresql", resource="main")], [resource])
    async with registry:
        report = await registry.verify()
        assert "hunter22" not in repr(registry.routing(unique_name))
    assert unique_name in report.unreachable, report.to_dict()
    detail = report.unreachable[unique_name]
    assert "127.0.0.1:1" in detail
    assert "hunter22" not in detail


# --------------------------------------------------------------------------------------------------
# Transactions and pins stay on the primary; a transaction's token is taken after its COMMIT


async def test_a_transactions_write_is_read_back_and_pins_stay_on_the_primary(
    replicas: ReplicaSet, unique_name: str
) -> None:
    make_table(replicas, unique_name, rows=1)
    delayed = replicas.standbys[1]
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 3, readers=[delayed.dsn], reads="session", max_lag_ms=60_000
    )
    async with backend:
        await backend.ping()
        assert await wait_until(lambda: entry_of(backend.routing_stats(), delayed)["healthy"], 10)
        for k in range(5):
            before = backend.write_token()
            async with backend.transaction() as tx:
                await backend.mutate(unique_name, "id = '1'", {"v": f"tx{k}"}, conn=tx)
                assert backend.write_token() == before  # not before COMMIT
                inside = await backend.query(unique_name, "id = '1'", conn=tx)
                assert inside[0]["v"] == f"tx{k}"
            assert backend.write_token() not in (None, before)
            rows = await backend.query(unique_name, "id = '1'")
            assert rows[0]["v"] == f"tx{k}"  # the delayed standby does not have it: the primary served
        async with backend.transaction(read_only=True) as tx:
            await backend.query(unique_name, conn=tx)
        token = backend.write_token()
        async with backend.transaction(read_only=True):
            pass
        assert backend.write_token() == token  # a transaction that wrote nothing leaves the token
        primary_before = entry_of(backend.routing_stats(), replicas.primary)
        async with backend.acquire_pin() as pin:
            for _ in range(3):
                await backend.query(unique_name, conn=pin)
        primary_after = entry_of(backend.routing_stats(), replicas.primary)
    assert primary_after["reads"] == primary_before["reads"] + 3
    assert primary_after["fallbacks"] == primary_before["fallbacks"]  # pinned reads are no fallbacks


def test_stopping_a_standby_under_load_fails_no_read_sync(replicas: ReplicaSet, unique_name: str) -> None:
    make_table(replicas, unique_name)
    victim = replicas.standbys[0]
    readers = [s.dsn for s in replicas.standbys]
    backend = axsync.PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, unique_name, None, 8, readers=readers, reads="replica", max_lag_ms=10_000
    )
    failures: list[BaseException] = []
    done: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                assert len(backend.query(unique_name)) == 20
                done.append(1)
            except Exception as exc:  # every failure is the finding
                failures.append(exc)

    with backend:
        backend.ping()
        assert wait_until_sync(lambda: _readers_in(backend, replicas, 10_000), 10)
        threads = [threading.Thread(target=reader) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            victim.stop()
            time.sleep(2.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            stats = backend.routing_stats()
            victim.start()
        assert failures == []
        assert not entry_of(stats, victim)["healthy"]
        assert wait_until_sync(lambda: entry_of(backend.routing_stats(), victim)["healthy"], 10)
    assert len(done) > 100
