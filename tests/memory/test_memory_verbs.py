"""The verbs of CONTRACT §11 on the in-memory backend, and one scenario run on it and on PostgreSQL.

The first part needs no server: projection, ``insert_many`` (all or none), upsert, ``returning``, keyset
pages, transactions (all or nothing on the rows it holds), the errors. The parity test at the end runs
the same calls against an ``InMemoryBackend`` declared with the table's types and against the suite's
PostgreSQL (both lanes), and asserts the same rows and the same error classes and SQLSTATEs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from axonstore import sync as axon_sync
from axonstore.declarations import StoreSpec
from axonstore.errors import (
    BadColumns,
    BadIsolation,
    BadLimit,
    BadPageToken,
    Query,
    RaggedRows,
    ReadOnlyTransaction,
    StoreError,
    SubFloorWrite,
    TransactionClosed,
    UnknownColumn,
)
from axonstore.memory import InMemoryBackend
from axonstore.operations import Page
from axonstore.registry import StoreRegistry
from tests.backend import make_backend

_TYPES = {"id": "int4", "v": "int4", "w": "text", "n": "int4"}


def _memory() -> InMemoryBackend:
    backend = InMemoryBackend()
    backend.declare_columns("t", _TYPES)
    return backend


def _rows(count: int = 30) -> list[dict[str, object]]:
    return [
        {"id": i, "v": i % 4, "w": "abc"[i % 3], "n": None if i % 5 == 0 else i * 2}
        for i in range(1, count + 1)
    ]


async def _walk(backend: Any, table: str, where: str = "", **options: Any) -> list[Any]:
    rows: list[Any] = []
    after = None
    while True:
        page = await backend.page(table, where, after=after, **options)
        assert isinstance(page, Page)
        rows.extend(page.rows)
        if page.next is None:
            return rows
        after = page.next


# --------------------------------------------------------------------------------------------------
# Without a server


async def test_columns_keys_and_order() -> None:
    backend = _memory()
    await backend.insert_many("t", _rows(3))
    rows = await backend.query("t", "v > 0", columns="w, id")
    assert [list(row.items()) for row in rows] == [
        [("w", "b"), ("id", 1)],
        [("w", "c"), ("id", 2)],
        [("w", "a"), ("id", 3)],
    ]
    assert [list(row) for row in await backend.query("t", columns="*")] == [["id", "v", "w", "n"]] * 3
    with pytest.raises(UnknownColumn) as raised:
        await backend.query("t", columns="id, nope")
    assert raised.value.column == "nope"
    with pytest.raises(BadColumns):
        await backend.query("t", columns="id,")


async def test_insert_many_is_all_or_nothing_and_ragged_rows_write_nothing() -> None:
    backend = _memory()
    assert await backend.insert_many("t", _rows(10)) == 10
    with pytest.raises(RaggedRows) as raised:
        await backend.insert_many("t", [{"id": 100, "v": 1}, {"id": 101}])
    assert (raised.value.index, raised.value.missing, raised.value.extra) == (1, ("v",), ())
    bad: list[dict[str, object]] = [{"id": 200 + i, "v": i} for i in range(5)]
    bad[3]["v"] = "not a number"  # a cast failure in the middle of the batch
    with pytest.raises(Query) as failed:
        await backend.insert_many("t", bad)
    assert failed.value.sqlstate == "22P02"
    assert len(await backend.query("t")) == 10
    assert await backend.insert_many("t", []) == 0


async def test_upsert_and_returning() -> None:
    backend = _memory()
    assert await backend.upsert("t", {"id": 1, "v": 1, "w": "a"}, "id") == 1
    assert await backend.upsert("t", {"id": 1, "v": 2, "w": "b"}, "id", returning="*") == [
        {"id": 1, "v": 2, "w": "b", "n": None}
    ]
    assert await backend.upsert("t", {"id": 1, "v": 3, "w": "c"}, "id", update="w") == 1
    assert await backend.upsert("t", {"id": 1, "v": 9}, "id", update="") == 0
    assert await backend.query("t") == [{"id": 1, "v": 2, "w": "c", "n": None}]
    assert await backend.insert("t", {"id": 2, "v": 5}, returning="v, id") == [{"v": 5, "id": 2}]
    assert await backend.mutate("t", "id = 2", {"n": 7}, returning="n") == [{"n": 7}]
    assert await backend.purge("t", "v > 2", returning="id") == [{"id": 2}]


async def test_a_walk_with_duplicates_sees_every_row_once() -> None:
    backend = _memory()
    await backend.insert_many("t", _rows(100))
    for order_by in ("v", "v desc", "v, w desc", "w desc, n"):
        rows = await _walk(backend, "t", order_by=order_by, size=7)
        assert sorted(row["id"] for row in rows) == list(range(1, 101)), order_by
    first = await backend.page("t", "v = 1", order_by="v", size=3)
    assert first.next is not None
    with pytest.raises(BadPageToken):
        await backend.page("t", "v = 2", order_by="v", size=3, after=first.next)
    with pytest.raises(BadPageToken):
        await backend.page("t", "v = 1", order_by="v", size=3, after="garbage")
    with pytest.raises(BadLimit):
        await backend.page("t", order_by="v", size=0)


async def test_transactions_hold_the_rows_all_or_nothing() -> None:
    backend = _memory()
    await backend.insert_many("t", _rows(3))
    async with backend.transaction() as tx:
        await backend.insert("t", {"id": 10}, conn=tx)
    with contextlib.suppress(KeyError):
        async with backend.transaction() as doomed:
            await backend.purge("t", "", all_rows=True, conn=doomed)
            await backend.insert_many("t", _rows(5), conn=doomed)
            raise KeyError("roll back")
    assert [row["id"] for row in await backend.query("t")] == [1, 2, 3, 10]
    with pytest.raises(TransactionClosed):
        await backend.query("t", conn=tx)
    with pytest.raises(BadIsolation):
        async with backend.transaction(isolation="eventual"):
            pass  # pragma: no cover - refused on entry


async def test_a_write_in_a_read_only_transaction_is_read_only_transaction() -> None:
    # the fix: the in-memory backend raised a plain Query (op "write") where PostgreSQL raises
    # ReadOnlyTransaction (25006) with the verb's op
    backend = _memory()
    refused: list[ReadOnlyTransaction] = []

    async def read_only_block() -> None:
        async with backend.transaction(read_only=True) as tx:
            assert await backend.query("t", conn=tx) == []
            with pytest.raises(ReadOnlyTransaction) as raised:
                await backend.insert("t", {"id": 1}, conn=tx)
            refused.append(raised.value)

    with pytest.raises(Query) as ended:  # the refused write aborted it, as on PostgreSQL
        await read_only_block()
    assert (refused[0].sqlstate, refused[0].op) == ("25006", "persist")
    assert ended.value.sqlstate == "25P02"
    twin = axon_sync.InMemoryBackend()
    with pytest.raises(ReadOnlyTransaction), twin.transaction(read_only=True) as sync_tx:
        twin.upsert("t", {"id": 1}, "id", conn=sync_tx)


async def test_handle_batches_floor_and_audit_on_commit() -> None:
    registry = StoreRegistry.build([StoreSpec("m", "in_memory", confidence_floor=0.5)])
    handle = registry.store("m")
    rows = [{"id": i, "_confidence": 0.9} for i in range(10)]
    rows[6]["_confidence"] = 0.1
    with pytest.raises(SubFloorWrite):
        await handle.persist_many(rows)
    assert (await handle.retrieve()).rows == []
    rows[6]["_confidence"] = 0.6
    with contextlib.suppress(ZeroDivisionError):
        async with handle.transaction() as tx:
            await handle.persist_many(rows, conn=tx)
            _ = 1 / 0
    assert [e.payload["summary"] for e in registry.audit.entries] == []
    async with registry.transaction("m") as tx:
        await handle.persist_many(rows, conn=tx)
        await handle.upsert({"id": 1, "_confidence": 0.7}, "id", conn=tx)
    assert [e.payload["summary"] for e in registry.audit.entries] == [
        "persisted 10 row(s) to `m`",
        "upserted 1 row(s) in `m`",
    ]
    page = await handle.page(order_by="id desc", size=2, columns="id")
    assert page.rows == [{"id": 9}, {"id": 8}]


# --------------------------------------------------------------------------------------------------
# One scenario, both backends


def _normal(result: Any) -> Any:
    if isinstance(result, Page):
        return ("page", result.rows, result.next is None)  # tokens differ: PostgreSQL's keys on `id`
    return result


def _error(exc: StoreError) -> tuple[Any, ...]:
    return ("error", type(exc).__name__, getattr(exc, "sqlstate", None))


Call = Callable[[Any, Any], Awaitable[Any]]

_SCENARIO: list[tuple[str, Call]] = [
    ("insert_many", lambda b, _: b.insert_many("t", _rows(60), returning="id, w")),
    ("query-columns", lambda b, _: b.query("t", "v = 1 AND n IS NOT NULL", columns="n, id")),
    ("query-star", lambda b, _: b.query("t", "id <= 3", columns="*")),
    ("unknown-projection", lambda b, _: b.query("t", columns="id, nope")),
    ("bad-columns", lambda b, _: b.query("t", columns="id id")),
    ("ragged", lambda b, _: b.insert_many("t", [{"id": 1000}, {"id": 1001, "v": 1}])),
    ("bad-cast-in-batch", lambda b, _: b.insert_many("t", [{"id": 1000, "v": 1}, {"id": 1001, "v": "x"}])),
    ("upsert-update", lambda b, _: b.upsert("t", {"id": 5, "v": 3, "w": "z"}, "id", returning="*")),
    ("upsert-insert", lambda b, _: b.upsert("t", {"id": 500, "v": 3, "w": "z"}, "id", returning="id, v")),
    ("upsert-nothing", lambda b, _: b.upsert("t", {"id": 5, "w": "q"}, "id", update="")),
    ("upsert-some", lambda b, _: b.upsert("t", {"id": 6, "v": 0, "w": "q"}, "id", update="w")),
    ("mutate-returning", lambda b, _: b.mutate("t", "v = 2 AND id < 20", {"n": 1}, returning="id, n")),
    ("purge-returning", lambda b, _: b.purge("t", "w = 'z'", returning="*")),
    ("walk-asc", lambda b, _: _walk(b, "t", order_by="v", size=9)),
    ("walk-desc", lambda b, _: _walk(b, "t", "n IS NOT NULL", order_by="v desc", size=11)),
    ("walk-mixed", lambda b, _: _walk(b, "t", order_by="v, w desc", size=8, columns="id, w")),
    ("walk-nulls", lambda b, _: _walk(b, "t", order_by="n desc, v", size=13)),
    ("walk-nulls-asc", lambda b, _: _walk(b, "t", order_by="n, v desc", size=2)),  # pages end on NULLs
    ("walk-nulls-desc", lambda b, _: _walk(b, "t", order_by="n desc", size=3)),
    ("page-size", lambda b, _: b.page("t", order_by="v", size=10_001)),
    ("page-token", lambda b, _: b.page("t", order_by="v", size=5, after="AAAA")),
    ("bad-filter", lambda b, _: b.query("t", "v = 1) OR (v = 2")),
    ("tx-commit", lambda b, _: _committed(b)),
    ("tx-rollback", lambda b, _: _rolled_back(b)),
    ("tx-read-only", lambda b, _: _read_only_write(b)),
    ("tx-closed", lambda b, _: _closed_use(b)),
    ("bad-isolation", lambda b, _: _isolation(b, "snapshot")),
    ("final", lambda b, _: b.query("t", columns="id, v, w, n")),
]


async def _committed(backend: Any) -> Any:
    async with backend.transaction(isolation="serializable") as tx:
        await backend.insert_many("t", [{"id": 900 + i, "v": i} for i in range(3)], conn=tx)
        seen = await backend.query("t", "id >= 900", conn=tx, columns="id")
    return seen, await backend.query("t", "id >= 900", columns="id, v")


async def _rolled_back(backend: Any) -> Any:
    with contextlib.suppress(LookupError):
        async with backend.transaction() as tx:
            await backend.purge("t", "id >= 900", conn=tx)
            await backend.upsert("t", {"id": 1, "w": "rolled"}, "id", conn=tx)
            raise LookupError
    return await backend.query("t", "id >= 900 OR id = 1", columns="id, w")


async def _read_only_write(backend: Any) -> Any:
    async with backend.transaction(read_only=True) as tx:
        await backend.mutate("t", "id = 1", {"w": "ro"}, conn=tx)


async def _closed_use(backend: Any) -> Any:
    async with backend.transaction() as tx:
        pass
    return await backend.insert("t", {"id": 999}, conn=tx)


async def _isolation(backend: Any, level: str) -> Any:
    async with backend.transaction(isolation=level):
        pass  # pragma: no cover - refused on entry


def _unordered(name: str, result: Any) -> Any:
    """Calls without an order: compare as sorted lists."""
    if name.startswith(("query", "final", "mutate", "purge")) and isinstance(result, list):
        return sorted(result, key=lambda row: sorted(row.items(), key=str).__repr__())
    return result


async def _play(backend: Any) -> list[Any]:
    out: list[Any] = []
    for name, call in _SCENARIO:
        try:
            out.append(_unordered(name, _normal(await call(backend, None))))
        except StoreError as exc:
            out.append(_error(exc))
    return out


async def test_the_verbs_answer_alike_in_memory_and_on_postgresql(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int4 PRIMARY KEY, v int4, w text, n int4)")
    memory = _memory()
    mine = await _play(memory)
    # the same calls, with the table's name: run against PostgreSQL through a renaming shim
    async with make_backend(dsn) as backend:
        theirs = await _play(_Renamed(backend, unique_name))
    assert len(mine) == len(theirs) == len(_SCENARIO)
    for (name, _), a, b in zip(_SCENARIO, mine, theirs, strict=True):
        assert a == b, (name, a, b)
    assert sum(1 for r in mine if isinstance(r, tuple) and r and r[0] == "error") == 10


class _Renamed:
    """The backend's verbs with the table ``t`` replaced by a real table's name (both take ``t``)."""

    def __init__(self, backend: Any, table: str) -> None:
        self._backend = backend
        self._table = table

    def __getattr__(self, name: str) -> Any:
        verb = getattr(self._backend, name)
        if name == "transaction":
            return verb

        def renamed(table: str, *args: Any, **kwargs: Any) -> Any:
            return verb(self._table if table == "t" else table, *args, **kwargs)

        return renamed


async def test_a_memory_transaction_a_statement_failed_in_cannot_end_as_committed() -> None:
    """As on PostgreSQL: after a failed statement the transaction is aborted (25P02 for what follows),
    and ending the block raises instead of committing."""
    import contextlib

    from axonstore import InMemoryBackend, Query

    backend = InMemoryBackend({"t": {"id": "int4"}})
    await backend.insert("t", {"id": 1})

    async def block() -> None:
        async with backend.transaction() as tx:
            await backend.insert("t", {"id": 2}, conn=tx)
            with contextlib.suppress(Query):
                await backend.insert("t", {"id": "not a number"}, conn=tx)  # 22P02: the statement fails
            with pytest.raises(Query) as after:
                await backend.query("t", conn=tx)
            assert after.value.sqlstate == "25P02"

    with pytest.raises(Query) as ended:
        await block()
    assert ended.value.sqlstate == "25P02"
    assert await backend.query("t") == [{"id": 1}]  # nothing of the aborted block was kept
