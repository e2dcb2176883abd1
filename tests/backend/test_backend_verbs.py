"""The verbs of CONTRACT §11 on a real server, for both flavours and on both lanes (``conftest.py``).

Projection, many rows (the multi-row ``VALUES`` chunks and the ``COPY`` path), upsert, ``returning``,
keyset pages, transactions (through PgBouncer in transaction mode too), ``StoreHandle``'s governed
twins with their audit, and the wire: none of these verbs sends a named statement. The last section
runs the same operations through both flavours on the same table and asserts the same rows and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from axonstore import PostgresStoreBackend
from axonstore import sync as axon_sync
from axonstore.backend.core import COPY_THRESHOLD
from axonstore.declarations import StoreSpec
from axonstore.errors import (
    BadArgument,
    BadColumns,
    BadIsolation,
    BadLimit,
    BadPageToken,
    CrossDatabaseTransaction,
    EmptyData,
    NoPageKey,
    Query,
    QueryCanceled,
    RaggedRows,
    ReadOnlyTransaction,
    StoreError,
    SubFloorWrite,
    TransactionClosed,
    UniqueViolation,
    UnknownColumn,
)
from axonstore.filter import MAX_PARAMETERS
from axonstore.operations import Page, PageKeys, PageRead, prepare_page
from axonstore.sql import page_sql
from tests._wire import WireLog
from tests.backend import (
    CLOSED_PORT_DSN,
    FLAVOURS,
    count,
    make_backend,
    make_registry,
    statements,
    with_params,
)

_TWO_FLAVOURS = pytest.mark.parametrize("flavour", FLAVOURS, indirect=True)


def _items(admin: psycopg.Connection[Any], table: str) -> None:
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, qty int4, ok bool)")


def _rows(admin: psycopg.Connection[Any], table: str, order: str = "id") -> list[tuple[Any, ...]]:
    return admin.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


async def _walk(
    backend: PostgresStoreBackend, table: str, where: str = "", **options: Any
) -> tuple[list[Any], int]:
    """Every row of a keyset walk, and the number of pages it took."""
    rows: list[Any] = []
    after: str | None = None
    pages = 0
    while True:
        page = await backend.page(table, where, after=after, **options)
        assert isinstance(page, Page)
        rows.extend(page.rows)
        pages += 1
        if page.next is None:
            return rows, pages
        assert len(page.rows) == options["size"]  # only the last page is short
        after = page.next


# --------------------------------------------------------------------------------------------------
# columns=: the SQL projects, keys come back in the order asked for


async def test_columns_project_in_sql_with_keys_in_order(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    admin.execute(f"INSERT INTO {unique_name} VALUES (1, 'a', 5, true), (2, 'b', 7, false)")
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        rows = await backend.query(unique_name, "qty > 0", columns="ok, id")
        sent = statements(wire_log, mark)
        assert [list(row) for row in rows] == [["ok", "id"], ["ok", "id"]]
        assert sorted(rows, key=lambda r: r["id"]) == [{"ok": True, "id": 1}, {"ok": False, "id": 2}]
        assert any(re.search(r'SELECT "ok", "id" FROM', s) for s in sent), sent
        assert not any("SELECT *" in s for s in sent)
        star = await backend.query(unique_name, columns=" * ")
        assert [list(row) for row in star] == [["id", "name", "qty", "ok"]] * 2
        outcome = await backend.stream_retrieve(unique_name, columns="name", order_by="id desc")
        assert outcome.rows == [{"name": "b"}, {"name": "a"}]
        async with contextlib.aclosing(
            backend.iter_rows(unique_name, columns="qty, name", order_by="id")
        ) as stream:
            assert [list(row.items()) async for row in stream] == [
                [("qty", 5), ("name", "a")],
                [("qty", 7), ("name", "b")],
            ]
        page = await backend.page(unique_name, columns="name", order_by="qty", size=1)
        assert page.rows == [{"name": "a"}] and page.next is not None  # the key columns are not shown
        second = await backend.page(unique_name, columns="name", order_by="qty", size=1, after=page.next)
        assert second.rows == [{"name": "b"}]


@pytest.mark.parametrize("cache", ["cold", "warm"])
async def test_a_projected_column_the_table_lacks_is_unknown_column(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, cache: str
) -> None:
    _items(admin, unique_name)
    async with make_backend(dsn) as backend:
        if cache == "warm":
            await backend.warm_schema(unique_name)
        for call in (
            lambda: backend.query(unique_name, columns="id, nope"),
            lambda: backend.stream_retrieve(unique_name, columns="nope"),
            lambda: backend.page(unique_name, order_by="id", size=5, columns="nope"),
            lambda: backend.insert(unique_name, {"id": 1}, returning="id, nope"),
            lambda: backend.upsert(unique_name, {"id": 1, "name": "x"}, "id", returning="nope"),
            lambda: backend.mutate(unique_name, "id = 1", {"qty": 2}, returning="nope"),
            lambda: backend.purge(unique_name, "id = 1", returning="nope"),
        ):
            with pytest.raises(UnknownColumn) as raised:
                await call()
            assert raised.value.column == "nope" and raised.value.table == unique_name
    assert count(admin, unique_name) == 0


_NO_IO: list[tuple[str, Callable[[PostgresStoreBackend], Awaitable[Any]], type[StoreError]]] = [
    ("columns-stray-comma", lambda b: b.query("t", columns="id,,name"), BadColumns),
    ("columns-bad-ident", lambda b: b.query("t", columns="id, 1x"), BadColumns),
    ("columns-twice", lambda b: b.query("t", columns="id, id"), BadColumns),
    ("columns-not-text", lambda b: b.query("t", columns=["id"]), BadArgument),  # type: ignore[arg-type]
    ("columns-with-aggregate", lambda b: b.stream_retrieve("t", columns="a", aggregate="count"), BadColumns),
    ("returning-bad", lambda b: b.insert("t", {"id": 1}, returning="id; drop"), BadColumns),
    ("insert-many-ragged", lambda b: b.insert_many("t", [{"a": 1}, {"a": 2, "b": 3}]), RaggedRows),
    ("insert-many-not-rows", lambda b: b.insert_many("t", {"a": 1}), BadArgument),  # type: ignore[call-overload]
    ("insert-many-empty-row", lambda b: b.insert_many("t", [{}]), EmptyData),
    ("upsert-no-target", lambda b: b.upsert("t", {"id": 1}, ""), BadColumns),
    ("upsert-target-not-in-row", lambda b: b.upsert("t", {"id": 1}, "key"), BadColumns),
    ("upsert-update-not-in-row", lambda b: b.upsert("t", {"id": 1, "a": 2}, "id", update="b"), BadColumns),
    ("page-size-zero", lambda b: b.page("t", order_by="id", size=0), BadLimit),
    ("page-size-huge", lambda b: b.page("t", order_by="id", size=10_001), BadLimit),
    ("page-garbage-token", lambda b: b.page("t", order_by="id", size=5, after="!!no b64!!"), BadPageToken),
    ("page-empty-token", lambda b: b.page("t", order_by="id", size=5, after=""), BadPageToken),
    ("page-json-token", lambda b: b.page("t", order_by="id", size=5, after="eyJhIjoxfQ"), BadPageToken),
]


async def _in_transaction(backend: PostgresStoreBackend, **options: Any) -> None:
    async with backend.transaction(**options):
        pass  # pragma: no cover - the options are refused on entry


_NO_IO_TX: list[tuple[str, dict[str, Any], type[StoreError]]] = [
    ("isolation-unknown", {"isolation": "chaos"}, BadIsolation),
    ("isolation-not-text", {"isolation": 3}, BadIsolation),
    ("read-only-not-bool", {"read_only": "yes"}, BadArgument),
    ("timeout-negative", {"statement_timeout_ms": -5}, BadArgument),
]


@_TWO_FLAVOURS
@pytest.mark.parametrize(("call", "expected"), [c[1:] for c in _NO_IO], ids=[c[0] for c in _NO_IO])
async def test_bad_arguments_of_the_new_verbs_need_no_database(
    flavour: str, call: Callable[[PostgresStoreBackend], Awaitable[Any]], expected: type[StoreError]
) -> None:
    # The DSN's port is closed: any I/O would be Connect after the acquire timeout, not this error.
    async with make_backend(CLOSED_PORT_DSN) as backend:
        with pytest.raises(expected):
            await asyncio.wait_for(call(backend), 2)


@_TWO_FLAVOURS
@pytest.mark.parametrize(("options", "expected"), [c[1:] for c in _NO_IO_TX], ids=[c[0] for c in _NO_IO_TX])
async def test_bad_transaction_options_need_no_database(
    flavour: str, options: dict[str, Any], expected: type[StoreError]
) -> None:
    async with make_backend(CLOSED_PORT_DSN) as backend:
        with pytest.raises(expected):
            await asyncio.wait_for(_in_transaction(backend, **options), 2)


@_TWO_FLAVOURS
async def test_ragged_rows_say_where_and_what(flavour: str) -> None:
    async with make_backend(CLOSED_PORT_DSN) as backend:
        with pytest.raises(RaggedRows) as raised:
            await backend.insert_many("t", [{"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 3, "c": 4}])
        assert (raised.value.index, raised.value.missing, raised.value.extra) == (2, ("b",), ("c",))
        assert await backend.insert_many("t", []) == 0  # an empty batch: no I/O
        assert await backend.insert_many("t", [], returning="*") == []


async def test_ragged_rows_send_nothing(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    async with make_backend(dsn) as backend:
        await backend.warm_schema(unique_name)
        mark = wire_log.mark()
        with pytest.raises(RaggedRows):
            await backend.insert_many(unique_name, [{"id": 1, "name": "a"}, {"id": 2}])
        assert statements(wire_log, mark) == []
    assert count(admin, unique_name) == 0


# --------------------------------------------------------------------------------------------------
# insert_many: large batches read back exactly; a bad row anywhere leaves the table as it was


def _batch(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"id": i, "name": f"n{i} ' \" ✓" if i % 5 else None, "qty": (i * 7) % 1000 - 500, "ok": i % 3 == 0}
        for i in range(start, start + n)
    ]


def _as_tuples(batch: list[dict[str, object]]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["name"], r["qty"], r["ok"]) for r in batch]


def test_the_big_batch_crosses_both_thresholds() -> None:
    # 20 000 rows x 4 columns: past COPY's threshold, and past one statement's parameters
    assert COPY_THRESHOLD <= 20_000 * 4
    assert 20_000 * 4 > MAX_PARAMETERS == 65_535


@pytest.mark.slow
async def test_twenty_thousand_rows_through_copy_read_back_exactly(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    batch = _batch(20_000)
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        assert await backend.insert_many(unique_name, batch) == 20_000
        sent = statements(wire_log, mark)
        rows = await backend.query(unique_name)
    # COPY goes as a simple query (no Parse); no INSERT was parsed, yet all 20 000 rows arrived
    assert not any(s.lstrip().upper().startswith("INSERT") for s in sent), sent
    assert _rows(admin, unique_name) == _as_tuples(batch)
    assert sorted(rows, key=lambda r: r["id"]) == batch


@pytest.mark.slow
async def test_twenty_thousand_rows_in_values_chunks_read_back_exactly(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    batch = _batch(20_000)
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        back = await backend.insert_many(unique_name, batch, returning="id, name, qty, ok")
        inserts = [s for s in statements(wire_log, mark) if s.startswith("INSERT")]
    # returning= cannot COPY: multi-row VALUES, each statement under 65 535 parameters
    assert len(inserts) >= math.ceil(20_000 * 4 / MAX_PARAMETERS) == 2
    assert all(len(re.findall(r"\$\d+", s)) <= MAX_PARAMETERS for s in inserts)
    assert back == batch  # in the order given, decoded like query rows
    assert _rows(admin, unique_name) == _as_tuples(batch)


async def test_copy_and_values_write_every_type_alike(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id int PRIMARY KEY, j jsonb, arr text[], u uuid, t timestamptz, "
        "b bytea, n numeric, tx text, ok bool, jl jsonb)"
    )
    row = {
        "j": {"a": 1, "s": "x\ty\n\\"}, "arr": ["a", None, "b,c", 'q"'],
        "u": "00000000-0000-0000-0000-000000000007",
        "t": "2024-01-02T03:04:05.123456+02:00", "b": b"\x00\x01\\", "n": "1.50", "tx": "tab\there\nnl \\N",
        "ok": True, "jl": [1, "two", None],
    }  # fmt: skip
    copied = [{"id": i, **row} for i in range(3_000)]  # 30 000 values: COPY
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        assert await backend.insert_many(unique_name, copied) == 3_000
        assert not any(s.startswith("INSERT") for s in statements(wire_log, mark))
        assert await backend.insert_many(unique_name, [{"id": -1, **row}]) == 1  # one VALUES row
        (by_copy,) = await backend.query(unique_name, "id = 7")
        (by_values,) = await backend.query(unique_name, "id = -1")
    assert {**by_values, "id": 7} == by_copy
    assert by_copy["j"] == row["j"] and by_copy["arr"] == row["arr"] and by_copy["tx"] == row["tx"]


_PATHS = {
    "one-statement": (1_000, ""),  # 4 000 values: one multi-row INSERT
    "values-chunks": (20_000, "id"),  # returning: chunked INSERTs in one transaction
    "copy": (20_000, ""),  # COPY … FROM STDIN
}


@pytest.mark.parametrize("path", list(_PATHS))
async def test_a_duplicate_key_in_the_middle_leaves_the_table_unchanged(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, path: str
) -> None:
    _items(admin, unique_name)
    admin.execute(f"INSERT INTO {unique_name} VALUES (-1, 'before', 1, true), (-2, 'before', 2, false)")
    before = _rows(admin, unique_name)
    size, returning = _PATHS[path]
    clash_with_table = _batch(size)
    clash_with_table[size // 2]["id"] = -1  # an existing key, in the middle
    clash_in_batch = _batch(size)
    clash_in_batch[size // 2 + 1]["id"] = clash_in_batch[size // 2]["id"]  # a key twice, in the middle
    async with make_backend(dsn) as backend:
        for batch in (clash_with_table, clash_in_batch):
            with pytest.raises(UniqueViolation) as raised:
                await backend.insert_many(unique_name, batch, returning=returning)
            assert raised.value.constraint == f"{unique_name}_pkey"
            assert raised.value.sqlstate == "23505"
        assert await backend.query(unique_name, "id >= 0") == []  # the pool's connection is usable
    assert _rows(admin, unique_name) == before


async def test_a_failed_batch_inside_a_transaction_is_rolled_back_with_it(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    batch = _batch(20_000)
    batch[-1]["id"] = 0  # clashes with the first row
    async with make_backend(dsn) as backend:

        async def both() -> None:
            async with backend.transaction() as tx:
                assert await backend.insert(unique_name, {"id": -1}, conn=tx) == 1
                await backend.insert_many(unique_name, batch, conn=tx)

        with pytest.raises(UniqueViolation):
            await both()
    assert count(admin, unique_name) == 0


# --------------------------------------------------------------------------------------------------
# upsert


async def test_upsert_inserts_then_updates(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    async with make_backend(dsn) as backend:
        assert await backend.upsert(unique_name, {"id": 1, "name": "a", "qty": 1}, "id") == 1
        assert _rows(admin, unique_name) == [(1, "a", 1, None)]
        assert await backend.upsert(unique_name, {"id": 1, "name": "b", "qty": 2}, "id") == 1
        assert _rows(admin, unique_name) == [(1, "b", 2, None)]
        # update= names the columns set on conflict; the others keep their values
        assert await backend.upsert(unique_name, {"id": 1, "name": "c", "qty": 3}, "id", update="qty") == 1
        assert _rows(admin, unique_name) == [(1, "b", 3, None)]
        # update="" is DO NOTHING: no row inserted or updated
        assert await backend.upsert(unique_name, {"id": 1, "name": "d"}, "id", update="") == 0
        assert await backend.upsert(unique_name, {"id": 2, "name": "d"}, "id", update="") == 1
        assert await backend.upsert(unique_name, {"id": 1, "name": "e"}, "id", update="", returning="*") == []
        back = await backend.upsert(unique_name, {"id": 1, "ok": True}, "id", returning="id, name, ok")
        assert back == [{"id": 1, "name": "b", "ok": True}]
    assert _rows(admin, unique_name) == [(1, "b", 3, True), (2, "d", None, None)]


async def test_upsert_on_a_composite_conflict_target(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (org text, code int4, label text, n int4, UNIQUE (org, code))")
    async with make_backend(dsn) as backend:
        for code, label, n in ((1, "x", 1), (2, "y", 1)):
            row = {"org": "a", "code": code, "label": label, "n": n}
            assert await backend.upsert(unique_name, row, "org, code") == 1
        mark = wire_log.mark()
        row = {"org": "a", "code": 1, "label": "z", "n": 9}
        assert await backend.upsert(unique_name, row, "org,code") == 1
        (sent,) = statements(wire_log, mark)
        with pytest.raises(Query) as raised:  # a target no unique constraint covers: 42P10
            await backend.upsert(unique_name, {"org": "a", "code": 2, "label": "q"}, "label")
        assert raised.value.sqlstate == "42P10"
    assert 'ON CONFLICT ("org", "code") DO UPDATE SET "label" = EXCLUDED."label", "n" = EXCLUDED."n"' in sent
    assert _rows(admin, unique_name, "org, code") == [("a", 1, "z", 9), ("a", 2, "y", 1)]


# --------------------------------------------------------------------------------------------------
# returning=: decoded like query rows


async def test_returning_is_decoded_like_query_rows(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        "created timestamptz NOT NULL DEFAULT now(), amount numeric(10, 2), doc jsonb, tags text[], "
        "seq bigint GENERATED ALWAYS AS IDENTITY)"
    )
    async with make_backend(dsn) as backend:
        (one,) = await backend.insert(unique_name, {"amount": "12.50", "doc": {"a": [1]}}, returning="*")
        assert list(one) == ["id", "created", "amount", "doc", "tags", "seq"]
        assert await backend.query(unique_name, "id = '${id}'", {"id": one["id"]}) == [one]
        assert one["amount"] == "12.50" and one["doc"] == {"a": [1]} and one["tags"] is None
        many = await backend.insert_many(
            unique_name,
            [{"amount": i, "tags": ["x", str(i)]} for i in range(3)],
            returning="seq, id, tags",
        )
        assert [list(row) for row in many] == [["seq", "id", "tags"]] * 3
        assert [row["tags"] for row in many] == [["x", "0"], ["x", "1"], ["x", "2"]]
        by_query = await backend.query(unique_name, "tags IS NOT NULL", columns="seq, id, tags")
        assert sorted(by_query, key=lambda r: r["seq"]) == many
        up = await backend.upsert(unique_name, {"id": one["id"], "amount": 99}, "id", returning="id, amount")
        assert up == [{"id": one["id"], "amount": "99.00"}]
        changed = await backend.mutate(unique_name, "amount < 10", {"doc": [1, "two"]}, returning="seq, doc")
        assert sorted(changed, key=lambda r: r["seq"]) == [{"seq": r["seq"], "doc": [1, "two"]} for r in many]
        before = await backend.query(unique_name)
        gone = await backend.purge(unique_name, "", all_rows=True, returning="*")
        assert sorted(gone, key=lambda r: r["seq"]) == sorted(before, key=lambda r: r["seq"])
    assert count(admin, unique_name) == 0


# --------------------------------------------------------------------------------------------------
# page: keyset walks that see every row exactly once


_WALKS = {
    "asc": ("v", "v, id"),
    "desc": ("v desc", "v DESC, id"),
    "mixed": ("v asc, w desc", "v, w DESC, id"),
    "mixed-pk-desc": ("w desc, v, id desc", "w DESC, v, id DESC"),
}


def _walk_table(admin: psycopg.Connection[Any], table: str) -> None:
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int4, w text)")
    # duplicates in both sort columns; a hostile text as a key value travels as a parameter
    admin.execute(
        f"INSERT INTO {table} SELECT g, g % 10, (ARRAY['a', 'b', $$'; DROP TABLE {table}; --$$])[g % 3 + 1] "
        "FROM generate_series(1, 1000) g"
    )


@pytest.mark.parametrize("walk", list(_WALKS))
async def test_a_thousand_row_walk_returns_every_row_once_in_order(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, walk: str
) -> None:
    _walk_table(admin, unique_name)
    order_by, sql_order = _WALKS[walk]
    expected = [row[0] for row in admin.execute(f"SELECT id FROM {unique_name} ORDER BY {sql_order}")]
    async with make_backend(dsn) as backend:
        rows, pages = await _walk(backend, unique_name, order_by=order_by, size=37)
        filtered, _ = await _walk(backend, unique_name, "v <> 3", order_by=order_by, size=100, columns="id")
    assert [row["id"] for row in rows] == expected
    assert pages == math.ceil(1000 / 37)
    assert [list(row) for row in rows[:1]] == [["id", "v", "w"]]
    assert [row["id"] for row in filtered] == [i for i in expected if i % 10 != 3]
    assert all(list(row) == ["id"] for row in filtered)


_NULL_WALKS = ["n", "n desc", "n, v desc", "v, n desc", "n desc, v", "v desc, n, id desc"]


@pytest.mark.parametrize("order_by", _NULL_WALKS)
async def test_a_walk_over_a_nullable_sort_column_sees_every_row_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, order_by: str
) -> None:
    # The fix: a page that ended on a NULL key value (or a nullable column after the token's value)
    # was compared with =, < or >, which is NULL: the rows after it were lost or the walk stopped.
    admin.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY, n int4, v int4)")
    admin.execute(
        f"INSERT INTO {unique_name} SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 5 END, g % 2 "
        "FROM generate_series(1, 100) g"
    )
    sql_order = ", ".join(
        f"{term.split()[0]} {'DESC' if term.endswith('desc') else 'ASC'}" for term in order_by.split(", ")
    ) + ("" if "id" in order_by else ", id")
    expected = [row[0] for row in admin.execute(f"SELECT id FROM {unique_name} ORDER BY {sql_order}")]
    async with make_backend(dsn) as backend:
        for size in (1, 7, 33):  # pages that end on NULLs and on values, on every boundary
            rows, _ = await _walk(backend, unique_name, order_by=order_by, size=size)
            assert [row["id"] for row in rows] == expected, (order_by, size)


_KEY_TYPES = {
    "b": "bytea",  # rows show base64: the seek must bind bytes
    "j": "jsonb",  # rows show dicts: the seek must bind JSON text
    "iv": "interval",
    "tm": "time",
    "arr": "int4[]",
    "u": "uuid",
    "ok": "bool",
    "ts": "timestamptz",
    "m": "numeric",
    "c": "char(3)",
    "f": "float4",
}


def _typed_keys(admin: psycopg.Connection[Any], table: str) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in _KEY_TYPES.items())
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, {columns})")
    admin.execute(
        f"INSERT INTO {table} SELECT g, decode(lpad(to_hex(g % 17), 2, '0'), 'hex'), "
        "jsonb_build_object('a', g % 7), (g % 9) * interval '1 minute 1.5 sec', "
        "time '10:00' + (g % 8) * interval '1.25 sec', ARRAY[g % 4, g % 3], md5((g % 9)::text)::uuid, "
        "g % 2 = 0, timestamptz '2024-01-01' + (g % 5) * interval '1.000123 sec', (g % 11) / 3.0, "
        "(g % 5)::text, (g % 13) * 0.1 FROM generate_series(1, 60) g"
    )


@pytest.mark.parametrize("column", list(_KEY_TYPES))
async def test_a_walk_keyed_on_any_type_sees_every_row_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, column: str
) -> None:
    # The fix: a token carries key values as rows show them; bytea (base64) and jsonb (a dict) went
    # back as text the column could not compare (the bytea walk stopped after one page, jsonb failed)
    _typed_keys(admin, unique_name)
    expected = [row[0] for row in admin.execute(f"SELECT id FROM {unique_name} ORDER BY {column}, id")]
    async with make_backend(dsn) as backend:
        rows, _ = await _walk(backend, unique_name, order_by=column, size=7, columns="id")
        down, _ = await _walk(backend, unique_name, order_by=f"{column} desc", size=9, columns="id")
    assert [row["id"] for row in rows] == expected
    assert [row["id"] for row in down] == [
        row[0] for row in admin.execute(f"SELECT id FROM {unique_name} ORDER BY {column} DESC, id")
    ]


def test_a_bytea_key_that_is_not_base64_is_bad_page_token() -> None:
    page = prepare_page("t", order_by="b", size=3)
    keys = PageKeys((("b", "ASC"), ("id", "ASC")), ("id",))
    with pytest.raises(BadPageToken):
        page_sql(PageRead(page.read, 3, ("not base64!", 1), page.scope), None, {"b": "bytea"}, keys)


def test_a_seek_past_a_null_key_value_never_compares_it() -> None:
    page = prepare_page("t", order_by="n, v desc", size=3)
    keys = PageKeys((("n", "ASC"), ("v", "DESC"), ("id", "ASC")), ("id",))
    after_null = PageRead(page.read, 3, (None, 4, 9), page.scope)
    sql, params = page_sql(after_null, None, {"n": "int4", "v": "int4", "id": "int4"}, keys)
    assert '("n" IS NULL AND "v" < $1::int4)' in sql
    assert '("n" IS NULL AND "v" = $1::int4 AND "id" > $2::int4)' in sql
    assert params == [4, 9]
    after_value = PageRead(page.read, 3, (2, None, 9), page.scope)
    sql, params = page_sql(after_value, None, {"n": "int4", "v": "int4", "id": "int4"}, keys)
    assert '("n" > $1::int4 OR "n" IS NULL)' in sql and '"v" IS NOT NULL' in sql and params == [2, 9]
    # every key NOT NULL and one way: the row comparison an index answers
    only_pk = PageRead(prepare_page("t", order_by="id", size=3).read, 3, (9,), page.scope)
    sql, _ = page_sql(only_pk, None, {"id": "int4"}, PageKeys((("id", "ASC"),), ("id",)))
    assert 'WHERE ("id") > ($1::int4)' in sql


async def test_a_walk_over_a_table_without_a_primary_key(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int4, v int4)")
    # 1 000 rows, each (n, v) pair present twice: only the row identity tells them apart
    admin.execute(f"INSERT INTO {unique_name} SELECT g / 2, (g / 2) % 7 FROM generate_series(0, 999) g")
    async with make_backend(dsn) as backend:
        up, _ = await _walk(backend, unique_name, order_by="v", size=33)
        down, _ = await _walk(backend, unique_name, order_by="v desc, n", size=100)
    expected = sorted(admin.execute(f"SELECT n, v FROM {unique_name}").fetchall())
    for rows in (up, down):
        assert len(rows) == 1000
        assert sorted((row["n"], row["v"]) for row in rows) == expected
        assert all(list(row) == ["n", "v"] for row in rows)  # the row identity is not shown
    assert [row["v"] for row in up] == sorted(row["v"] for row in up)
    assert [(-row["v"], row["n"]) for row in down] == sorted((-row["v"], row["n"]) for row in down)


async def test_a_token_of_another_query_is_bad_page_token(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _walk_table(admin, unique_name)
    async with make_backend(dsn) as backend:
        first = await backend.page(unique_name, "v < 5", order_by="v", size=10)
        assert first.next is not None
        token = first.next
        tampered = first.next[:-4] + ("AAAA" if not first.next.endswith("AAAA") else "BBBB")
        for call in (
            lambda: backend.page(unique_name, "v < 6", order_by="v", size=10, after=first.next),
            lambda: backend.page(unique_name, "v < 5", order_by="v desc", size=10, after=first.next),
            lambda: backend.page(unique_name, "v < '${x}'", {"x": "5"}, order_by="v", size=10, after=token),
            lambda: backend.page(f"{unique_name}_other", "v < 5", order_by="v", size=10, after=first.next),
            lambda: backend.page(unique_name, "v < 5", order_by="v", size=10, after=tampered),
            lambda: backend.page(unique_name, "v < 5", order_by="v", size=10, after="garbage"),
        ):
            with pytest.raises(BadPageToken):
                await call()
        # the same query with another page size or projection continues the walk
        second = await backend.page(
            unique_name, "v < 5", order_by="v", size=5, after=first.next, columns="id"
        )
        assert len(second.rows) == 5


# --------------------------------------------------------------------------------------------------
# transactions


def _who_view(admin: psycopg.Connection[Any], table: str) -> str:
    view = f"{table}_who"
    admin.execute(
        f"CREATE VIEW {view} AS SELECT pg_backend_pid() AS pid, "
        "current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro, "
        "txid_current_if_assigned() AS xid"
    )
    return view


async def test_a_transaction_commits_and_rolls_back(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    async with make_backend(dsn) as backend:
        async with backend.transaction() as tx:
            assert await backend.insert(unique_name, {"id": 1, "name": "kept"}, conn=tx) == 1
            assert await backend.insert_many(unique_name, _batch(3, 10), conn=tx) == 3
            assert await backend.upsert(unique_name, {"id": 1, "qty": 5}, "id", conn=tx) == 1
            assert count(admin, unique_name) == 0  # not visible outside before COMMIT
            assert len(await backend.query(unique_name, conn=tx)) == 4
        assert tx.closed
        assert count(admin, unique_name) == 4

        class Boom(Exception):
            pass

        doomed: Any = None

        async def failing() -> None:
            nonlocal doomed
            async with backend.transaction() as doomed:
                await backend.insert(unique_name, {"id": 2, "name": "gone"}, conn=doomed)
                await backend.purge(unique_name, "", all_rows=True, conn=doomed)
                raise Boom()

        with pytest.raises(Boom):
            await failing()
        assert count(admin, unique_name) == 4
        for late in (
            lambda: backend.query(unique_name, conn=tx),
            lambda: backend.insert(unique_name, {"id": 3}, conn=doomed),
            lambda: backend.page(unique_name, order_by="id", size=2, conn=tx),
            lambda: backend.stream_retrieve(unique_name, conn=tx),
        ):
            with pytest.raises(TransactionClosed):
                await late()
        assert len(await backend.query(unique_name)) == 4  # the pool is fine


async def test_a_failed_statement_rolls_the_transaction_back(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    admin.execute(f"INSERT INTO {unique_name} (id) VALUES (1)")
    async with make_backend(dsn) as backend:

        async def clash() -> None:
            async with backend.transaction() as tx:
                await backend.insert(unique_name, {"id": 2}, conn=tx)
                await backend.insert(unique_name, {"id": 1}, conn=tx)

        with pytest.raises(UniqueViolation) as raised:
            await clash()
        assert raised.value.constraint == f"{unique_name}_pkey"
    assert _rows(admin, unique_name) == [(1, None, None, None)]


@pytest.mark.parametrize("isolation", ["read committed", "Repeatable  READ", "serializable"])
async def test_isolation_and_read_only_reach_the_server(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, isolation: str
) -> None:
    _items(admin, unique_name)
    view = _who_view(admin, unique_name)
    async with make_backend(dsn) as backend:
        async with backend.transaction(isolation=isolation) as tx:
            (row,) = await backend.query(view, conn=tx)
            assert row["iso"] == " ".join(isolation.lower().split()) and row["ro"] == "off"

        async def write_in_read_only() -> None:
            async with backend.transaction(isolation=isolation, read_only=True) as ro:
                (row,) = await backend.query(view, conn=ro)
                assert row["ro"] == "on"
                await backend.insert(unique_name, {"id": 1}, conn=ro)

        with pytest.raises(ReadOnlyTransaction) as raised:
            await write_in_read_only()
        assert raised.value.sqlstate == "25006"
        (after,) = await backend.query(view)
        assert after["ro"] == "off"  # no setting leaked into the pooled connection
    assert count(admin, unique_name) == 0


async def test_statement_timeout_is_query_canceled_and_stays_inside(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE VIEW {unique_name} AS SELECT 1 AS n FROM pg_sleep(3)")
    admin.execute(f"CREATE VIEW {unique_name}_t AS SELECT current_setting('statement_timeout') AS t")
    async with make_backend(dsn, capacity=1) as backend:
        with pytest.raises(QueryCanceled) as raised:
            async with backend.transaction(statement_timeout_ms=150) as tx:
                await backend.query(unique_name, conn=tx)
        assert raised.value.sqlstate == "57014"
        # the timeout was local to the transaction: the same (only) connection has its default again
        assert await backend.query(f"{unique_name}_t") == [{"t": "0"}]


async def test_a_transaction_keeps_one_server_connection(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    view = _who_view(admin, unique_name)
    async with make_backend(dsn, capacity=4) as backend:

        async def busy() -> None:  # other work competing for PgBouncer's two server connections
            for _ in range(15):
                await backend.query(view)

        async def inside() -> list[Any]:
            seen = []
            async with backend.transaction() as tx:
                for i in range(15):
                    seen.extend(await backend.query(view, conn=tx))
                    await backend.insert(unique_name, {"id": i}, conn=tx)
                    seen.extend(await backend.query(view, conn=tx, columns="pid, xid"))
                    await asyncio.sleep(0)
            return seen

        seen, *_ = await asyncio.gather(inside(), busy(), busy())
    assert len({row["pid"] for row in seen}) == 1
    assert len({row["xid"] for row in seen[1:]}) == 1  # one transaction id after the first write
    assert count(admin, unique_name) == 15


async def test_a_miss_inside_a_transaction_introspects_in_it(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    async with make_backend(dsn) as backend:
        async with backend.transaction() as tx:
            mark = wire_log.mark()
            assert await backend.insert(unique_name, {"id": 1}, conn=tx) == 1  # a cold cache: a miss
            sent = statements(wire_log, mark)
            assert any("to_regclass" in s for s in sent)
            assert not any(s.strip().upper().startswith(("BEGIN", "COMMIT")) for s in sent), sent
            # a table created inside the transaction resolves inside it
        assert count(admin, unique_name) == 1


@pytest.mark.parametrize("how", ["iter_rows", "stream_retrieve"])
async def test_a_stream_closed_early_inside_a_transaction_keeps_the_transaction(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, how: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (n int PRIMARY KEY)")
    admin.execute(f"INSERT INTO {unique_name} SELECT g FROM generate_series(1, 20000) g")
    async with make_backend(dsn) as backend:
        await backend.warm_schema(unique_name)
        async with backend.transaction() as tx:
            await backend.insert(unique_name, {"n": -1}, conn=tx)
            if how == "iter_rows":
                async with contextlib.aclosing(backend.iter_rows(unique_name, order_by="n", conn=tx)) as rows:
                    async for _ in rows:
                        break  # what a caller does when it has the row it wanted
            else:
                outcome = await backend.stream_retrieve(unique_name, order_by="n", max_rows=5, conn=tx)
                assert outcome.truncated
            assert await backend.insert(unique_name, {"n": -2}, conn=tx) == 1
    assert count(admin, f"{unique_name} WHERE n < 0") == 2


# --------------------------------------------------------------------------------------------------
# StoreHandle: the governed twins, audited on success — or on commit


def _store(name: str, dsn: str, **options: Any) -> StoreSpec:
    return StoreSpec(name, "postgresql", connection=dsn, **options)


def _summaries(registry: Any) -> list[str]:
    return [entry.payload["summary"] for entry in registry.audit.entries]


async def test_handle_batches_upserts_and_pages_are_audited(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    async with make_registry(_store(unique_name, dsn)) as registry:
        handle = registry.store(unique_name)
        assert await handle.persist_many(_batch(5)) == 5
        assert await handle.persist_many([]) == 0
        assert await handle.upsert({"id": 1, "name": "one"}, "id") == 1
        back = await handle.upsert({"id": 9, "name": "nine"}, "id", returning="id, name")
        assert back == [{"id": 9, "name": "nine"}]
        page = await handle.page(order_by="id desc", size=4, columns="id")
        assert page.rows == [{"id": 9}, {"id": 4}, {"id": 3}, {"id": 2}]
        retrieved = await handle.retrieve("id = 1", columns="name, id")
        assert retrieved.rows == [{"name": "one", "id": 1}]
        assert _summaries(registry) == [
            f"persisted 5 row(s) to `{unique_name}`",
            f"persisted 0 row(s) to `{unique_name}`",
            f"upserted 1 row(s) in `{unique_name}`",
            f"upserted 1 row(s) in `{unique_name}`",
        ]


async def test_handle_transactions_audit_only_on_commit(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    async with make_registry(_store(unique_name, dsn)) as registry:
        handle = registry.store(unique_name)

        async def failing() -> None:
            async with handle.transaction() as tx:
                await handle.persist_many(_batch(3), conn=tx)
                await handle.upsert({"id": 0, "name": "x"}, "id", conn=tx)
                assert _summaries(registry) == []  # nothing yet, inside
                _ = 1 / 0

        with pytest.raises(ZeroDivisionError):
            await failing()
        assert _summaries(registry) == [] and count(admin, unique_name) == 0
        async with handle.transaction(isolation="serializable") as tx:
            await handle.persist_many(_batch(3), conn=tx)
            await handle.upsert({"id": 0, "name": "x"}, "id", conn=tx)
            await handle.mutate("id = 1", {"qty": 1}, conn=tx)
            await handle.purge("id = 2", conn=tx)
            assert _summaries(registry) == []
        assert _summaries(registry) == [
            f"persisted 3 row(s) to `{unique_name}`",
            f"upserted 1 row(s) in `{unique_name}`",
            f"mutated 1 row(s) in `{unique_name}`",
            f"purged 1 row(s) from `{unique_name}`",
        ]
    assert _rows(admin, unique_name) == [(0, "x", -500, True), (1, "n1 ' \" ✓", 1, False)]


async def test_a_registry_transaction_spans_stores_of_one_database(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    one, two = f"{unique_name}_a", f"{unique_name}_b"
    _items(admin, one)
    _items(admin, two)
    async with make_registry(_store(one, dsn), _store(two, dsn)) as registry:

        async def clash() -> None:
            async with registry.transaction(one, two) as tx:
                await registry.store(one).persist({"id": 1}, conn=tx)
                await registry.store(two).persist_many([{"id": 1}, {"id": 1}], conn=tx)

        with pytest.raises(UniqueViolation):
            await clash()
        assert (count(admin, one), count(admin, two), _summaries(registry)) == (0, 0, [])
        async with registry.transaction(one, two) as tx:
            await registry.store(one).persist({"id": 1}, conn=tx)
            await registry.store(two).persist_many([{"id": 1}, {"id": 2}], conn=tx)
        assert (count(admin, one), count(admin, two)) == (1, 2)
        assert _summaries(registry) == [f"persisted 1 row(s) to `{one}`", f"persisted 2 row(s) to `{two}`"]


async def test_a_transaction_whose_statement_failed_cannot_end_as_committed(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _items(admin, unique_name)
    admin.execute(f"INSERT INTO {unique_name} (id) VALUES (1)")
    async with make_registry(_store(unique_name, dsn)) as registry:
        handle = registry.store(unique_name)

        async def caught_inside() -> None:
            async with handle.transaction() as tx:
                await handle.persist({"id": 2}, conn=tx)
                with contextlib.suppress(UniqueViolation):
                    await handle.persist({"id": 1}, conn=tx)  # aborts the transaction on the server

        with pytest.raises(StoreError):  # the block must not end as if it had committed
            await caught_inside()
        assert _summaries(registry) == []  # and nothing that was rolled back is audited
    assert _rows(admin, unique_name) == [(1, None, None, None)]


async def test_stores_on_two_databases_are_a_cross_database_transaction(dsn: str, unique_name: str) -> None:
    elsewhere = with_params(dsn, dbname="template1")
    specs = (
        _store(f"{unique_name}_a", dsn),
        _store(f"{unique_name}_b", elsewhere),
        StoreSpec(f"{unique_name}_m", "in_memory"),
    )
    async with make_registry(*specs) as registry:
        for pair in ((specs[0].name, specs[1].name), (specs[0].name, specs[2].name)):
            with pytest.raises(CrossDatabaseTransaction) as raised:
                async with registry.transaction(*pair):
                    pass  # pragma: no cover - refused on entry
            assert raised.value.stores == pair


async def test_the_floor_refuses_a_batch_with_one_bad_row_before_sql(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY, _confidence float8)")
    async with make_registry(_store(unique_name, dsn, confidence_floor=0.5)) as registry:
        handle = registry.store(unique_name)
        rows = [{"id": i, "_confidence": 0.9} for i in range(50)]
        rows[37]["_confidence"] = 0.2
        mark = wire_log.mark()
        with pytest.raises(SubFloorWrite):
            await handle.persist_many(rows)
        with pytest.raises(SubFloorWrite):
            await handle.upsert({"id": 1, "_confidence": 0.49}, "id")
        assert statements(wire_log, mark) == []
        assert _summaries(registry) == []
        rows[37]["_confidence"] = 0.5
        assert await handle.persist_many(rows) == 50
    assert count(admin, unique_name) == 50


# --------------------------------------------------------------------------------------------------
# The wire: no verb of §11 sends a named statement (on either lane, in either flavour)


async def test_none_of_the_new_verbs_sends_a_named_statement(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _items(admin, unique_name)
    mark = wire_log.mark()
    async with make_backend(dsn) as backend:
        for _ in range(8):  # past psycopg's default prepare_threshold (5), twice over
            await backend.insert_many(unique_name, _batch(5, 1000 + len(await backend.query(unique_name))))
            await backend.upsert(unique_name, {"id": 1, "name": "x"}, "id", returning="*")
            await backend.query(unique_name, columns="id, name")
            await backend.page(unique_name, order_by="qty", size=3)
            await backend.mutate(unique_name, "id = 1", {"qty": 1}, returning="id")
            async with backend.transaction(isolation="repeatable read", statement_timeout_ms=5000) as tx:
                await backend.insert(unique_name, {"id": -1}, conn=tx, returning="id")
                await backend.purge(unique_name, "id = -1", conn=tx, returning="*")
        await backend.insert_many(unique_name, _batch(6_000, 10_000))  # COPY
    sent = wire_log.parses(mark)
    assert len(sent) >= 8 * 6
    assert wire_log.named_parses(mark) == []


# --------------------------------------------------------------------------------------------------
# One table, both flavours: the same rows and the same errors


def _outcome(result: Any) -> Any:
    if isinstance(result, Page):
        return ("page", result.rows, result.next)
    return result


def _error(exc: StoreError) -> tuple[Any, ...]:
    return (type(exc), str(exc), getattr(exc, "sqlstate", None), getattr(exc, "constraint", None))


async def test_both_flavours_give_the_same_rows_and_errors_on_one_table(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    _walk_table(admin, unique_name)
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("query", (unique_name, "v = 3"), {"columns": "w, id"}),
        ("query", (unique_name, "w LIKE '%DROP%'"), {}),
        ("page", (unique_name, "v > 7"), {"order_by": "w desc, v", "size": 13}),
        ("stream_retrieve", (unique_name,), {"aggregate": "count", "group_by": "w"}),
        ("stream_retrieve", (unique_name, "id < 20"), {"order_by": "v desc", "limit": "5", "max_rows": 3}),
        ("query", (unique_name,), {"columns": "nope"}),  # UnknownColumn
        ("insert", (unique_name, {"id": 1, "v": 1}), {}),  # UniqueViolation
        ("insert_many", (unique_name, [{"id": 5000}, {"id": 1}]), {}),  # UniqueViolation, nothing written
        ("insert", (unique_name, {"id": "x"}), {}),  # 22P02
        ("upsert", (unique_name, {"id": 2, "v": 1}, "v"), {}),  # no unique constraint on v: 42P10
        ("mutate", (unique_name, "id = 1", {"v": "not a number"}), {}),
        ("page", (unique_name,), {"order_by": "id", "size": 5, "after": "e30"}),  # BadPageToken
        ("query", (unique_name, "v ="), {}),  # a FilterError
    ]
    results: dict[str, list[Any]] = {}
    async with PostgresStoreBackend.connect(dsn) as aio:
        results["async"] = []
        for name, args, kwargs in calls:
            try:
                results["async"].append(_outcome(await getattr(aio, name)(*args, **kwargs)))
            except StoreError as exc:
                results["async"].append(_error(exc))

    def run_sync() -> list[Any]:
        out: list[Any] = []
        with axon_sync.PostgresStoreBackend.connect(dsn) as backend:
            for name, args, kwargs in calls:
                try:
                    out.append(_outcome(getattr(backend, name)(*args, **kwargs)))
                except StoreError as exc:
                    out.append(_error(exc))
        return out

    results["sync"] = await asyncio.to_thread(run_sync)
    for index, (mine, theirs) in enumerate(zip(results["async"], results["sync"], strict=True)):
        assert mine == theirs, (calls[index], mine, theirs)
    errors = [r for r in results["async"] if isinstance(r, tuple) and isinstance(r[0], type)]
    assert len(errors) == 8  # the failing half failed, in both flavours alike
    assert count(admin, unique_name) == 1000


def test_a_walk_keyed_on_the_row_identity_selects_it_next_to_star() -> None:
    # the fix for a walk over a table without a primary key: `*` does not hold ctid, whose value the
    # next token needs (without it every later page lost the rows tied on the sort column)
    page = prepare_page("t", order_by="v", size=10)
    sql, _ = page_sql(page, None, {"n": "int4", "v": "int4"}, (("v", "ASC"), ("ctid", "ASC")))
    assert sql.startswith('SELECT *, "ctid" FROM "t"')
    projected, _ = page_sql(prepare_page("t", order_by="v", size=10, columns="n"), None, {"n": "int4"},
                            (("v", "ASC"), ("ctid", "ASC")))  # fmt: skip
    assert projected.startswith('SELECT "n", "v", "ctid" FROM "t"')


@pytest.mark.parametrize("kind", ["view", "partitioned", "materialized"])
async def test_a_relation_without_a_key_or_a_row_identity_refuses_to_page(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, kind: str
) -> None:
    base = f"{unique_name}_base"
    admin.execute(f"CREATE TABLE {base} (n int4, v text)")
    admin.execute(f"INSERT INTO {base} SELECT g, 'v' || g FROM generate_series(1, 5) g")
    if kind == "view":
        admin.execute(f"CREATE VIEW {unique_name} AS SELECT n, v FROM {base}")
    elif kind == "materialized":
        admin.execute(f"CREATE MATERIALIZED VIEW {unique_name} AS SELECT n, v FROM {base}")
    else:  # each partition has its own ctids: they repeat across partitions
        admin.execute(f"CREATE TABLE {unique_name} (n int4, v text) PARTITION BY RANGE (n)")
        admin.execute(f"CREATE TABLE {unique_name}_a PARTITION OF {unique_name} FOR VALUES FROM (0) TO (3)")
        admin.execute(f"CREATE TABLE {unique_name}_b PARTITION OF {unique_name} FOR VALUES FROM (3) TO (9)")
        admin.execute(f"INSERT INTO {unique_name} SELECT n, v FROM {base}")
    async with make_backend(dsn) as backend:
        if kind == "materialized":  # a materialized view has a row identity: ctid completes the order
            first = await backend.page(unique_name, order_by="v", size=3)
            assert first.next is not None
            rest = await backend.page(unique_name, order_by="v", size=3, after=first.next)
            assert sorted(int(str(r["n"])) for r in [*first.rows, *rest.rows]) == [1, 2, 3, 4, 5]
            return
        for _ in range(2):  # the schema is cached by the first refusal: the second is a hit
            with pytest.raises(NoPageKey) as refused:
                await backend.page(unique_name, order_by="n", size=2)
            assert refused.value.table == unique_name and "primary key" in str(refused.value)
        assert len(await backend.query(unique_name, "n > 2")) == 3  # reading it is fine
