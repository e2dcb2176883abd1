"""What only a sync caller does: run where no event loop may be made, or inside a running one; hold a pin
or a transaction in a ``with`` block; stop a plain iterator early; use the sync registry (its
``stream`` as a context manager, an in-memory store); and share one schema cache between threads."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import axonstore
from axonstore.declarations import StoreSpec
from axonstore.schema import SCHEMA_CACHE
from axonstore.sync import (
    InMemoryBackend,
    Page,
    Pin,
    PostgresStoreBackend,
    Retrieval,
    StoreRegistry,
    Transaction,
    TransactionClosed,
    UniqueViolation,
)
from tests._wire import WireLog
from tests.backend import resolve_count, sessions


def _numbers(admin: psycopg.Connection[Any], table: str, n: int = 50) -> None:
    admin.execute(f"CREATE TABLE {table} (n int4 PRIMARY KEY, label text)")
    admin.execute(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, {n}) g")


def _scenario(dsn: str, table: str) -> list[Any]:
    """Every kind of sync call once: verbs, a pin, a transaction, an iterator, the registry, a stream."""
    seen: list[Any] = []
    with PostgresStoreBackend.connect_named_sized(dsn, "noloop", None, 2) as backend:
        seen.append(backend.insert(table, {"n": 100, "label": "new"}))
        seen.append(backend.query(table, "n >= 99", columns="n"))
        with backend.acquire_pin() as pin:
            assert isinstance(pin, Pin)
            seen.append(backend.mutate(table, "n = 100", {"label": "pinned"}, conn=pin))
        with backend.transaction(isolation="repeatable read") as tx:
            assert isinstance(tx, Transaction)
            seen.append(backend.upsert(table, {"n": 100, "label": "tx"}, "n", conn=tx, returning="label"))
        with contextlib.closing(backend.iter_rows(table, order_by="n desc")) as rows:
            seen.append(next(rows))
        seen.append(backend.page(table, order_by="n", size=2).rows)
        seen.append(backend.stream_retrieve(table, aggregate="count").rows)
    with StoreRegistry.build([StoreSpec(table, "postgresql", connection=dsn)]) as registry:
        handle = registry.store(table)
        seen.append(handle.retrieve("n = 100").rows)
        with handle.stream(order_by="n", max_rows=3) as stream:
            seen.append([row["n"] for row in stream])
        seen.append(registry.verify().has_fatal)
    return seen


_EXPECTED = [
    1,
    [{"n": 100}],
    1,
    [{"label": "tx"}],
    {"n": 100, "label": "tx"},
    [{"n": 1, "label": "n1"}, {"n": 2, "label": "n2"}],
    [{"count": 51}],
    [{"n": 100, "label": "tx"}],
    [1, 2, 3],
    False,
]


def test_no_event_loop_is_ever_made(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _numbers(admin, unique_name)
    made: list[str] = []

    def refusing(name: str) -> Any:
        def refuse(*_: object, **__: object) -> Any:
            made.append(name)
            raise AssertionError(f"the sync API called asyncio.{name}")

        return refuse

    for name in ("run", "new_event_loop", "get_event_loop", "Runner"):
        monkeypatch.setattr(asyncio, name, refusing(name))
    assert _scenario(dsn, unique_name) == _EXPECTED
    assert made == []


async def test_a_call_from_inside_a_running_event_loop_works(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name)
    asyncio.get_running_loop()  # a notebook cell: a loop is running in this very thread
    assert _scenario(dsn, unique_name) == _EXPECTED  # called synchronously, on the loop's thread


def test_a_pin_and_a_transaction_in_with_blocks(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name, 3)
    with PostgresStoreBackend.connect_named_sized(dsn, "blocks", None, 1) as backend:
        with backend.acquire_pin() as pin:
            first = backend.query(unique_name, "n = 1", conn=pin)
            assert backend.insert(unique_name, {"n": 10}, conn=pin) == 1  # autocommit on a pin
        assert first == [{"n": 1, "label": "n1"}]
        tx: Any = None

        def clash() -> None:
            nonlocal tx
            with backend.transaction() as tx:
                backend.insert(unique_name, {"n": 11}, conn=tx)
                backend.insert(unique_name, {"n": 1}, conn=tx)

        with pytest.raises(UniqueViolation):
            clash()
        assert tx.closed
        with pytest.raises(TransactionClosed):
            backend.query(unique_name, conn=tx)
        with backend.transaction() as tx:
            backend.insert_many(unique_name, [{"n": 12}, {"n": 13}], conn=tx)
        # capacity 1: this would time out if a block had kept the connection
        assert [row["n"] for row in backend.query(unique_name, "n > 3")] == [10, 12, 13]


def test_iter_rows_is_a_plain_iterator_closed_early(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    # 100 million rows that stream (a nested loop over two small materialized series)
    admin.execute(
        f"CREATE VIEW {unique_name} AS SELECT a.g * 10000 + b.g AS n "
        "FROM generate_series(0, 9999) a(g), generate_series(1, 10000) b(g)"
    )
    admin.execute(f"CREATE TABLE {unique_name}_small (n int4)")
    store = f"iter_{unique_name}"
    with PostgresStoreBackend.connect_named_sized(dsn, store, None, 1) as backend:
        for cache in ("cold", "warm"):
            rows = backend.iter_rows(unique_name)
            assert isinstance(rows, Iterator)
            firsts = [row["n"] for _, row in zip(range(3), rows, strict=False)]
            rows.close()
            assert len(firsts) == 3, cache
            # the server stopped producing 100 million rows: the session is idle at once
            deadline = time.monotonic() + 2
            while not all(state == "idle" for _, state, _ in sessions(admin, store)):
                assert time.monotonic() < deadline, sessions(admin, store)
                time.sleep(0.02)
            # capacity 1: this would wait 5 s and fail if the connection had not come back
            started = time.monotonic()
            assert backend.query(f"{unique_name}_small") == []
            assert time.monotonic() - started < 2


def test_the_sync_registry_streams_in_a_with_block_and_holds_memory_stores(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _numbers(admin, unique_name, 20)
    admin.execute(f"ALTER TABLE {unique_name} ADD COLUMN _confidence float8")
    admin.execute(f"UPDATE {unique_name} SET _confidence = CASE WHEN n % 2 = 0 THEN 0.9 ELSE 0.1 END")
    specs = [
        StoreSpec(unique_name, "postgresql", connection=dsn, confidence_floor=0.5),
        StoreSpec("scratch", "in_memory"),
    ]
    with StoreRegistry.build(specs) as registry:
        handle = registry.store(unique_name)
        with handle.stream(order_by="n", max_rows=5) as stream:
            got = [row["n"] for row in stream]
        assert got == [2, 4]  # the first five rows, then the floor: trusted rows only
        assert stream.stream.truncated and stream.stream.total_seen == 6  # the bound, and the row past it
        with handle.stream(order_by="n") as early:
            assert next(early)["n"] == 2  # leaving the block early closes the server stream
        retrieved = handle.retrieve(aggregate="count")
        assert isinstance(retrieved, Retrieval) and retrieved.rows == [{"count": 10}]
        memory = registry.store("scratch")
        assert isinstance(memory.backend, InMemoryBackend)
        assert memory.persist_many([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]) == 2
        assert memory.upsert({"id": 2, "v": "c"}, "id") == 1
        page = memory.page(order_by="id desc", size=1)
        assert isinstance(page, Page) and page.rows == [{"id": 2, "v": "c"}]
        with memory.stream(order_by="id") as rows:
            assert list(rows) == [{"id": 1, "v": "a"}, {"id": 2, "v": "c"}]

        def failing() -> None:
            with memory.transaction() as tx:
                memory.persist({"id": 3, "v": "gone"}, conn=tx)
                _ = 1 / 0

        with pytest.raises(ZeroDivisionError):
            failing()
        assert [row["id"] for row in memory.retrieve().rows] == [1, 2]
        summaries = [entry.payload["summary"] for entry in registry.audit.entries]
        assert summaries == ["persisted 2 row(s) to `scratch`", "upserted 1 row(s) in `scratch`"]


def test_the_errors_are_the_same_classes_as_axonstores() -> None:
    from axonstore import sync

    for name in axonstore.errors.__all__:
        if name == "EventLoopMismatch":  # CONTRACT §10: it does not exist there (no event loop)
            assert not hasattr(sync, name)
            continue
        assert getattr(sync, name) is getattr(axonstore.errors, name), name


def test_the_schema_cache_is_shared_and_consistent_under_concurrent_misses(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _numbers(admin, unique_name, 16)
    threads = 16
    results: dict[int, Any] = {}
    errors: list[BaseException] = []
    with PostgresStoreBackend.connect_named_sized(dsn, "misses", None, 4) as backend:
        start = threading.Barrier(threads)

        def miss(i: int) -> None:
            start.wait()
            try:
                results[i] = backend.query(unique_name, "n = '${n}'", {"n": str(i + 1)}, columns="label")
            except BaseException as exc:  # collected: the assertion below names it
                errors.append(exc)

        mark = wire_log.mark()
        workers = [threading.Thread(target=miss, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        resolves = resolve_count(wire_log, mark)
        cached = SCHEMA_CACHE.get(backend.cache_key(unique_name))
        fresh = backend.refresh_schema(unique_name)
        again = wire_log.mark()
        assert backend.query(unique_name, "n = 1") == [{"n": 1, "label": "n1"}]
        assert resolve_count(wire_log, again) == 0  # from here on, every call hits
    assert errors == []
    assert results == {i: [{"label": f"n{i + 1}"}] for i in range(threads)}
    assert 1 <= resolves <= threads  # at most one introspection per thread, and the cache is one entry
    assert cached == fresh


def test_concurrent_misses_introspect_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _numbers(admin, unique_name, 4)
    with PostgresStoreBackend.connect_named_sized(dsn, "once", None, 4) as backend:
        start = threading.Barrier(8)

        def miss() -> None:
            start.wait()
            backend.query(unique_name)

        mark = wire_log.mark()
        workers = [threading.Thread(target=miss) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert resolve_count(wire_log, mark) == 1
