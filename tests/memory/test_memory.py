"""The in-memory backend, feature by feature (no database; the comparison with PostgreSQL itself is
``tests/test_memory_vs_postgres.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from axonstore._json import float8_text, pg_text, to_json
from axonstore.errors import (
    BadAggregate,
    BadGroupBy,
    BadLimit,
    BadOrderBy,
    BadPolicy,
    DanglingConnector,
    EmptyData,
    FilterError,
    InvalidDeclaration,
    InvalidIdentifier,
    LikeRequiresText,
    Query,
    TooManyParameters,
    UnboundedWrite,
    UnknownColumn,
)
from axonstore.memory import InMemoryBackend
from axonstore.memory._casts import coerce
from axonstore.memory._eval import like, shift
from axonstore.memory._values import CastError
from axonstore.stream import Backpressure

Rows = list[dict[str, Any]]


async def _backend(table: str, rows: Iterable[dict[str, Any]], **declared: str) -> InMemoryBackend:
    backend = InMemoryBackend()
    if declared:
        backend.declare_columns(table, declared)
    for row in rows:
        assert await backend.insert(table, row) == 1
    return backend


def _ids(rows: Rows) -> list[Any]:
    return [row["id"] for row in rows]


async def _query_ids(backend: InMemoryBackend, where: str, table: str = "t", **bindings: str) -> list[Any]:
    return sorted(_ids(await backend.query(table, where, bindings or None)))


# --------------------------------------------------------------------------------------------------
# Lifecycle


async def test_lifecycle_needs_nothing() -> None:
    """ping/warm_schema/aclose do nothing, and the rows outlive aclose (the registry reuses backends)."""
    async with InMemoryBackend() as backend:
        await backend.ping()
        await backend.warm_schema("t")
        await backend.insert("t", {"id": 1})
    await backend.aclose()
    assert await backend.query("t") == [{"id": 1}]
    assert backend.masked_dsn() == "in_memory"
    assert "t" in repr(backend)
    with pytest.raises(InvalidIdentifier):
        await backend.warm_schema("public.t")


async def test_conn_is_accepted_and_ignored_by_every_verb() -> None:
    backend = InMemoryBackend()
    pin = object()
    assert await backend.insert("t", {"id": 1, "n": 1}, conn=pin) == 1
    assert await backend.mutate("t", "id = 1", {"n": 2}, conn=pin) == 1
    assert await backend.query("t", "n = 2", conn=pin) == [{"id": 1, "n": 2}]
    assert (await backend.stream_retrieve("t", conn=pin)).rows == [{"id": 1, "n": 2}]
    assert [row async for row in backend.iter_rows("t", conn=pin)] == [{"id": 1, "n": 2}]
    assert await backend.purge("t", "id = 1", conn=pin) == 1


# --------------------------------------------------------------------------------------------------
# Declarations


async def test_declared_types_are_normalised_and_cast_on_write() -> None:
    backend = InMemoryBackend({"t": {"id": "integer", "at": "timestamp with time zone", "ok": "boolean"}})
    await backend.insert("t", {"id": " 7 ", "at": "2024-01-02 03:04:05+02", "ok": "yes"})
    assert await backend.query("t") == [{"id": 7, "at": "2024-01-02T01:04:05+00:00", "ok": True}]


async def test_declaring_casts_the_rows_already_stored_or_changes_nothing() -> None:
    backend = await _backend("t", [{"id": "1"}, {"id": "2"}])
    backend.declare_columns("t", {"id": "int8"})
    assert await backend.query("t", "id > 1") == [{"id": 2}]
    bad = await _backend("u", [{"id": "1"}, {"id": "x"}])
    with pytest.raises(Query) as raised:
        bad.declare_columns("u", {"id": "int4"})
    assert raised.value.sqlstate == "22P02"
    assert await bad.query("u") == [{"id": "1"}, {"id": "x"}]  # still undeclared text
    assert await bad.query("u", "id = 1") == [{"id": "1"}]


def test_a_bad_declaration_is_typed() -> None:
    backend = InMemoryBackend()
    with pytest.raises(InvalidDeclaration) as raised:
        backend.declare_columns("t", {"id": "  "})
    assert (raised.value.table, raised.value.key) == ("stores.t.columns", "id")
    with pytest.raises(InvalidIdentifier) as ident:
        backend.declare_columns("t", {"bad-name": "int4"})
    assert ident.value.kind == "column"
    with pytest.raises(InvalidIdentifier):
        backend.declare_columns("a.b", {"id": "int4"})


async def test_a_type_not_modelled_keeps_values_as_given() -> None:
    backend = await _backend(
        "t", [{"id": 1, "tier": "gold", "span": timedelta(days=1, seconds=5)}], tier="tier"
    )
    assert await backend.query("t") == [{"id": 1, "tier": "gold", "span": "1 day 00:00:05"}]
    assert await _query_ids(backend, "tier = 'gold'") == [1]


# --------------------------------------------------------------------------------------------------
# Casts (declared columns): PostgreSQL's accepted spellings, rounding and SQLSTATEs


@pytest.mark.parametrize(
    ("pg_type", "value", "expected"),
    [
        ("int4", " 7 ", 7),
        ("int4", "+7", 7),
        ("int4", "-0", 0),
        ("int4", "0x1F", 31),
        ("int8", "-0o17", -15),
        ("int8", "0b101", 5),
        ("int4", "1_000", 1000),
        ("int4", 7.5, 8),
        ("int4", 6.5, 6),
        ("int4", -2.5, -2),
        ("int4", Decimal("2.5"), 3),
        ("int4", Decimal("-2.5"), -3),
        ("int4", True, 1),
        ("int2", 32767, 32767),
        ("float8", "  1.5 ", 1.5),
        ("float8", ".5e1", 5.0),
        ("float8", "0x10", 16.0),
        ("float8", "-Infinity", None),
        ("float8", "nan", None),
        ("float8", "5e-324", 5e-324),
        ("float4", 0.1, 0.1),
        ("float4", "3.3", 3.3),
        ("float4", 16777217, 16777216.0),
        ("numeric", "1.50e1", "15.0"),
        ("numeric", "  1_000.5 ", "1000.5"),
        ("numeric", ".5", "0.5"),
        ("numeric", "5.", "5"),
        ("numeric", "-0.00", "0.00"),
        ("numeric", "1e-7", "0.0000001"),
        ("numeric", "inf", "Infinity"),
        ("numeric", "NaN", "NaN"),
        ("numeric", 0.1 + 0.2, "0.3"),
        ("numeric", 1 / 3, "0.333333333333333"),
        ("numeric", 1e20, "100000000000000000000"),
        ("numeric", 7, "7"),
        ("bool", "ye", True),
        ("bool", " on ", True),
        ("bool", "TRUE", True),
        ("bool", "1", True),
        ("bool", "of", False),
        ("bool", "f", False),
        ("bool", 100000, True),
        ("text", 1.0, "1"),
        ("text", 1e15, "1e+15"),
        ("text", 123456789012345.0, "123456789012345"),
        ("text", True, "true"),
        ("text", Decimal("1E+3"), "1000"),
        ("text", datetime(2024, 1, 2, 3, 4, 5, 500000), "2024-01-02 03:04:05.5"),
        ("text", b"\xde\xad", "\\xdead"),
        ("varchar", 5, "5"),
        ("uuid", "{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("uuid", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("timestamptz", "2024-01-02T03:04:05+0530", "2024-01-01T21:34:05+00:00"),
        ("timestamptz", "2024-01-02T03:04:05 +05:30", "2024-01-01T21:34:05+00:00"),
        ("timestamptz", "2024-01-02 3:04", "2024-01-02T03:04:00+00:00"),
        ("timestamptz", "2024-01-02", "2024-01-02T00:00:00+00:00"),
        ("timestamptz", "20240102", "2024-01-02T00:00:00+00:00"),
        ("timestamptz", "2024-01-02T03:04:05.123+01", "2024-01-02T02:04:05.123+00:00"),
        ("timestamptz", "2024-01-01T10:00:00.1234567Z", "2024-01-01T10:00:00.123457+00:00"),
        ("timestamptz", "2024-01-01 10:00 America/New_York", "2024-01-01T15:00:00+00:00"),
        ("timestamptz", "2024-01-02 24:00:00", "2024-01-03T00:00:00+00:00"),
        ("timestamptz", "epoch", "1970-01-01T00:00:00+00:00"),
        ("timestamptz", datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05+00:00"),
        ("timestamptz", date(2024, 1, 2), "2024-01-02T00:00:00+00:00"),
        ("timestamp", "2024-01-01 10:00+05", "2024-01-01T10:00:00"),
        ("timestamp", datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=2))), "2024-01-01T08:00:00"),
        ("date", "2024-1-2", "2024-01-02"),
        ("date", "2024-01-02 10:00", "2024-01-02"),
        ("time", "10:00", "10:00:00"),
        ("time", "1:2:3", "01:02:03"),
        ("time", "10:00+05", "10:00:00"),
        ("time", "03:04:05.1234567", "03:04:05.123457"),
        ("jsonb", " [1, 2.50] ", [1, 2.5]),
        ("json", {"a": [1, None]}, {"a": [1, None]}),
        ("bytea", "\\x de ad", "3q0="),
        ("bytea", "ab\\\\c\\101", "YWJcY0E="),
        ("bytea", b"\x00\xff", "AP8="),
    ],
)
def test_casts_as_postgresql(pg_type: str, value: object, expected: object) -> None:
    """Each case was checked against PostgreSQL 18 (``SELECT $1::type`` with psycopg's parameter)."""
    assert to_json(coerce(value, pg_type)) == expected


@pytest.mark.parametrize(
    ("pg_type", "value", "sqlstate"),
    [
        ("int4", "abc", "22P02"),
        ("int4", "7.0", "22P02"),
        ("int4", "", "22P02"),
        ("int8", "1__0", "22P02"),
        ("int8", "_1", "22P02"),
        ("int4", "9999999999", "22003"),
        ("int4", 2**40, "22003"),
        ("int4", 1e300, "22003"),
        ("int4", math.nan, "22003"),
        ("int4", Decimal("NaN"), "0A000"),
        ("int8", True, "42846"),
        ("int2", True, "42846"),
        ("bool", 1, "42846"),
        ("bool", "o", "22P02"),
        ("bool", "", "22P02"),
        ("float8", "1e400", "22003"),
        ("float8", "1e-400", "22003"),
        ("float8", "1_0", "22P02"),
        ("float8", True, "42846"),
        ("float4", 1e39, "22003"),
        ("float4", "1e-50", "22003"),
        ("numeric", "abc", "22P02"),
        ("numeric", ".", "22P02"),
        ("numeric", "1e", "22P02"),
        ("numeric", True, "42846"),
        ("uuid", "abc", "22P02"),
        ("uuid", " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "22P02"),
        ("uuid", "{a0eebc999c0b4ef8bb6d6bb9bd380a11", "22P02"),
        ("uuid", 5, "42846"),
        ("timestamptz", "abc", "22007"),
        ("timestamptz", "2024-13-01", "22008"),
        ("timestamptz", "2024-02-30 10:00", "22008"),
        ("timestamptz", 5, "42846"),
        ("timestamptz", "infinity", "22008"),
        ("timestamptz", "-infinity", "22008"),
        ("timestamptz", "10000-01-01", "22008"),
        ("time", "24:00:00", "22008"),
        ("date", "abc", "22007"),
        ("time", "abc", "22007"),
        ("jsonb", "{bad", "22P02"),
        ("jsonb", '{"a": NaN}', "22P02"),
        ("jsonb", 1, "42846"),
        ("bytea", "a\\q", "22P02"),
    ],
)
def test_cast_failures_carry_postgresql_sqlstates(pg_type: str, value: object, sqlstate: str) -> None:
    with pytest.raises(CastError) as raised:
        coerce(value, pg_type)
    assert raised.value.sqlstate == sqlstate


async def test_a_failed_insert_writes_nothing_and_creates_no_table() -> None:
    backend = InMemoryBackend({"t": {"id": "int4", "uid": "uuid"}})
    with pytest.raises(Query) as raised:
        await backend.insert("t", {"id": 1, "uid": "not-a-uuid"})
    assert (raised.value.op, raised.value.sqlstate) == ("persist", "22P02")
    assert await backend.query("t") == []
    fresh = InMemoryBackend()
    fresh.declare_columns("d", {"n": "int2"})
    with pytest.raises(Query):
        await fresh.insert("d", {"n": 40000, "other": 1})
    with pytest.raises(UnknownColumn):  # `other` was never written: the failed insert left no trace
        await fresh.query("d", "other = 1")


async def test_a_failed_mutate_changes_no_row_even_half_way() -> None:
    """The filter fails on the third row (an int where text is compared): the first two, which match,
    are not changed either."""
    backend = await _backend("t", [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}, {"id": 3, "name": 5}])
    with pytest.raises(Query) as raised:
        await backend.mutate("t", "name < 'b'", {"name": "z"})
    assert (raised.value.op, raised.value.sqlstate) == ("mutate", "22P02")
    assert await backend.query("t") == [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}, {"id": 3, "name": 5}]
    declared = await _backend("u", [{"id": 1}], id="int4")
    with pytest.raises(Query) as cast:
        await declared.mutate("u", "id = 1", {"id": "abc"})
    assert cast.value.sqlstate == "22P02"
    with pytest.raises(Query):
        await backend.purge("t", "name < 'b'")
    assert len(await backend.query("t")) == 3


# --------------------------------------------------------------------------------------------------
# Values without declarations, and output rows


async def test_undeclared_values_keep_their_types_and_come_out_json_safe() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=2)))
    row = {
        "id": 1,
        "amount": Decimal("0.50"),
        "tiny": Decimal("1E-7"),
        "big": Decimal("1E+3"),
        "at": moment,
        "micro": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "naive": datetime(2024, 1, 2, 3, 4, 5),
        "day": date(2024, 2, 29),
        "clock": time(3, 4, 5, 120000),
        "uid": uuid.UUID("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
        "blob": b"\xde\xad\xbe\xef",
        "nan": math.nan,
        "inf": -math.inf,
        "doc": {"a": [1, {"b": None}], "c": Decimal("1.5")},
        "flag": False,
    }
    backend = await _backend("t", [row])
    assert await backend.query("t") == [
        {
            "id": 1,
            "amount": "0.50",
            "tiny": "0.0000001",
            "big": "1000",
            "at": "2024-01-02T01:04:05.500+00:00",
            "micro": "2024-01-02T03:04:05.123456+00:00",
            "naive": "2024-01-02T03:04:05",
            "day": "2024-02-29",
            "clock": "03:04:05.120",
            "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "blob": "3q2+7w==",
            "nan": None,
            "inf": None,
            "doc": {"a": [1, {"b": None}], "c": "1.5"},
            "flag": False,
        }
    ]


async def test_rows_are_fresh_copies_in_column_order() -> None:
    data: dict[str, Any] = {"id": 1, "tags": ["a"], "meta": {"k": [1]}}
    backend = await _backend("t", [data])
    data["tags"].append("from-the-caller")
    data["meta"]["k"].append(2)
    first = (await backend.query("t"))[0]
    first["tags"].append("x")
    first["id"] = 99
    assert await backend.query("t") == [{"id": 1, "tags": ["a"], "meta": {"k": [1]}}]
    await backend.insert("t", [("extra", 1), ("id", 2)])
    assert [list(row) for row in await backend.query("t")] == [["id", "tags", "meta", "extra"]] * 2
    assert (await backend.query("t", "id = 2"))[0] == {"id": 2, "tags": None, "meta": None, "extra": 1}


async def test_declared_columns_come_first_and_exist_before_any_row() -> None:
    backend = InMemoryBackend({"t": {"b": "int4", "a": "text"}})
    assert await backend.query("t", "b = 1") == []
    await backend.insert("t", {"z": 1, "a": "x"})
    assert list((await backend.query("t"))[0]) == ["b", "a", "z"]


# --------------------------------------------------------------------------------------------------
# Errors, and the order in which they are raised


async def test_unsafe_identifiers() -> None:
    backend = InMemoryBackend()
    for call in (
        backend.query("t;x"),
        backend.insert("1t", {"a": 1}),
        backend.mutate("t t", "a = 1", {"a": 1}),
        backend.purge("", "a = 1"),
        backend.stream_retrieve("public.t"),
    ):
        with pytest.raises(InvalidIdentifier) as raised:
            await call
        assert raised.value.kind == "table"
    with pytest.raises(InvalidIdentifier) as column:
        await backend.insert("t", {"a": 1, "b-c": 2})
    assert (column.value.kind, column.value.name) == ("column", "b-c")
    with pytest.raises(InvalidIdentifier):
        backend.iter_rows("t x")


async def test_insert_data_errors() -> None:
    backend = InMemoryBackend()
    with pytest.raises(EmptyData) as empty:
        await backend.insert("t", {})
    assert empty.value.op == "insert"
    with pytest.raises(EmptyData):
        await backend.insert("t", [])
    with pytest.raises(TypeError):
        await backend.insert("t", [("a", 1, 2)])  # type: ignore[list-item]
    with pytest.raises(Query) as repeated:
        await backend.insert("t", [("a", 1), ("a", 2)])
    assert (repeated.value.op, repeated.value.sqlstate) == ("persist", "42701")


async def test_mutate_checks_in_the_postgresql_backends_order() -> None:
    """identifiers → filter syntax → EmptyData → UnboundedWrite → UnknownColumn → the statement."""
    backend = await _backend("t", [{"id": 1, "n": 1}], id="int4")
    with pytest.raises(InvalidIdentifier):
        await backend.mutate("t", "id = ", {"bad col": 1})
    with pytest.raises(DanglingConnector):
        await backend.mutate("t", "id = 1 AND", {})
    with pytest.raises(EmptyData) as empty:
        await backend.mutate("t", "  ", {})
    assert empty.value.op == "mutate"
    with pytest.raises(UnboundedWrite) as unbounded:
        await backend.mutate("t", " \u3000", {"nope": 1})
    assert (unbounded.value.op, unbounded.value.table) == ("mutate", "t")
    with pytest.raises(UnknownColumn) as unknown:
        await backend.mutate("t", "id = 'abc'", {"nope": 1})
    assert (unknown.value.table, unknown.value.column, unknown.value.columns) == ("t", "nope", ("id", "n"))
    with pytest.raises(Query) as statement:
        await backend.mutate("t", "id = 'abc'", {"n": 1})
    assert statement.value.sqlstate == "22P02"
    with pytest.raises(Query) as twice:
        await backend.mutate("t", "id = 1", [("n", 1), ("n", 2)])
    assert twice.value.sqlstate == "42601"
    assert await backend.mutate("t", "", {"n": 5}, all_rows=True) == 1
    assert await backend.query("t") == [{"id": 1, "n": 5}]


async def test_purge_refuses_a_blank_where_unless_all_rows() -> None:
    backend = await _backend("t", [{"id": 1}, {"id": 2}])
    with pytest.raises(UnboundedWrite) as raised:
        await backend.purge("t", "")
    assert raised.value.op == "purge"
    assert await backend.purge("t", "", all_rows=True) == 2
    assert await backend.purge("t", "", all_rows=True) == 0
    assert await backend.purge("never_written", "", all_rows=True) == 0


async def test_retrieve_checks_in_the_postgresql_backends_order() -> None:
    """policy → max_rows → table → filter → aggregate → order_by → limit → UnknownColumn."""
    backend = await _backend("t", [{"id": 1}])
    with pytest.raises(BadPolicy):
        await backend.stream_retrieve("t x", policy="sideways")
    with pytest.raises(BadLimit):
        await backend.stream_retrieve("t x", max_rows=-1)
    with pytest.raises(InvalidIdentifier):
        await backend.stream_retrieve("t x", "id = = 1")
    with pytest.raises(FilterError):
        await backend.stream_retrieve("t", "id = = 1", aggregate="nope")
    with pytest.raises(BadAggregate):
        await backend.stream_retrieve("t", aggregate="median(id)", order_by="id sideways")
    with pytest.raises(BadGroupBy):
        await backend.stream_retrieve("t", group_by="id")
    with pytest.raises(BadAggregate):
        await backend.stream_retrieve("t", aggregate="count", limit="5")
    with pytest.raises(BadOrderBy):
        await backend.stream_retrieve("t", order_by="id sideways", limit="x")
    with pytest.raises(BadLimit):
        await backend.stream_retrieve("t", "nope = 1", limit="x")
    with pytest.raises(UnknownColumn):
        await backend.stream_retrieve("t", "id = 1", order_by="nope")
    with pytest.raises(LikeRequiresText):
        await backend.query("t", "id LIKE 5")


@pytest.mark.parametrize(
    "arguments",
    [
        {"where": "nope = 1"},
        {"order_by": "id, nope desc"},
        {"aggregate": "sum(nope)"},
        {"aggregate": "count", "group_by": "id, nope"},
    ],
)
async def test_unknown_columns_anywhere_in_a_retrieve(arguments: dict[str, Any]) -> None:
    backend = await _backend("t", [{"id": 1, "n": 2}])
    where = arguments.pop("where", "")
    with pytest.raises(UnknownColumn) as raised:
        await backend.stream_retrieve("t", where, **arguments)
    assert (raised.value.column, raised.value.columns) == ("nope", ("id", "n"))
    assert "id, n" not in str(raised.value)  # CONTRACT §5.3: the columns are an attribute, not the message


async def test_a_table_nobody_wrote_to() -> None:
    """A blank where gives no rows; a filter on a column never declared or written is UnknownColumn —
    the same rule as for any table (declare the columns to filter a table that may be empty)."""
    backend = InMemoryBackend()
    assert await backend.query("ghost") == []
    assert (await backend.stream_retrieve("ghost", aggregate="count")).rows == [{"count": 0}]
    with pytest.raises(UnknownColumn) as raised:
        await backend.query("ghost", "id = 1")
    assert raised.value.columns == ()
    assert await backend.purge("ghost", "", all_rows=True) == 0
    with pytest.raises(UnknownColumn):
        await backend.mutate("ghost", "", {"id": 1}, all_rows=True)


async def test_columns_outlive_the_rows_that_had_them() -> None:
    backend = await _backend("t", [{"id": 1, "note": "x"}, {"id": 2}])
    assert await backend.purge("t", "note IS NOT NULL") == 1
    assert await backend.query("t", "note IS NULL") == [{"id": 2, "note": None}]
    assert await backend.purge("t", "", all_rows=True) == 1
    assert await backend.query("t", "note = 'x'") == []


def _in_list(values: int) -> str:
    return "a IN (" + ", ".join(["1"] * values) + ")"


async def test_too_many_parameters_counts_like_the_postgresql_statement() -> None:
    """65 535 bound values fit in a statement; the SET values of a mutate come first. (A filter alone
    cannot get there under the 65 536-character cap, so the SET values fill the statement.)"""
    wide = [f"c{i}" for i in range(65_000)]
    backend = await _backend("t", [{"a": 1, **dict.fromkeys(wide, 0)}])
    filter_535 = " OR ".join([_in_list(256), _in_list(256), _in_list(23)])
    assert await backend.mutate("t", filter_535, dict.fromkeys(wide, 2)) == 1
    with pytest.raises(TooManyParameters):
        await backend.mutate("t", filter_535 + " OR a = 9", dict.fromkeys(wide, 2))
    assert await backend.mutate("t", filter_535 + " OR a = 9", dict.fromkeys(wide)) == 1  # NULL binds none


# --------------------------------------------------------------------------------------------------
# Three-valued logic


_TRUTH = {"T": 1, "F": 0, "N": None}


async def _truth_backend() -> InMemoryBackend:
    """One row per (a, b) in {T, F, N}²: ``a = 1`` is true, false or unknown."""
    rows = [{"id": x + y, "a": _TRUTH[x], "b": _TRUTH[y]} for x in _TRUTH for y in _TRUTH]
    return await _backend("t", rows)


async def _truth_of(backend: InMemoryBackend, condition: str) -> dict[str, str]:
    """Each row's truth value for ``condition``: T (kept), F (its negation kept), N (neither)."""
    true = set(_ids(await backend.query("t", condition)))
    false = set(_ids(await backend.query("t", f"NOT ({condition})")))
    assert not true & false
    ids = [x + y for x in _TRUTH for y in _TRUTH]
    return {i: "T" if i in true else "F" if i in false else "N" for i in ids}


async def test_and_or_not_follow_the_sql_truth_tables() -> None:
    backend = await _truth_backend()
    and_table = {
        "TT": "T",
        "TF": "F",
        "TN": "N",
        "FT": "F",
        "FF": "F",
        "FN": "F",
        "NT": "N",
        "NF": "F",
        "NN": "N",
    }
    or_table = {
        "TT": "T",
        "TF": "T",
        "TN": "T",
        "FT": "T",
        "FF": "F",
        "FN": "N",
        "NT": "T",
        "NF": "N",
        "NN": "N",
    }
    assert await _truth_of(backend, "a = 1 AND b = 1") == and_table
    assert await _truth_of(backend, "a = 1 OR b = 1") == or_table
    not_a = await _truth_of(backend, "NOT a = 1")
    assert {key[0]: value for key, value in not_a.items()} == {"T": "F", "F": "T", "N": "N"}
    assert await _truth_of(backend, "NOT NOT a = 1") == await _truth_of(backend, "a = 1")


async def test_null_tests_are_never_unknown() -> None:
    backend = await _truth_backend()
    assert set((await _truth_of(backend, "a IS NULL")).values()) == {"T", "F"}
    assert set((await _truth_of(backend, "a = null")).values()) == {"T", "F"}
    assert set((await _truth_of(backend, "a != null")).values()) == {"T", "F"}


@pytest.mark.parametrize(
    ("condition", "for_null"),
    [
        ("a IN (1, 2)", "N"),
        ("a NOT IN (1, 2)", "N"),
        ("a BETWEEN 0 AND 1", "N"),
        ("a NOT BETWEEN 0 AND 1", "N"),
        ("a LIKE '%'", "N"),
        ("a != 1", "N"),
        ("a > now()", "N"),
        ("a IS NOT NULL", "F"),
    ],
)
async def test_a_null_column_makes_a_condition_unknown(condition: str, for_null: str) -> None:
    backend = await _backend("t", [{"id": 1, "a": None}], a="text")
    if "now()" in condition:
        backend.declare_columns("t", {"a": "timestamptz"})
    true = await backend.query("t", condition)
    false = await backend.query("t", f"NOT ({condition})")
    assert ("T" if true else "F" if false else "N") == for_null


async def test_in_and_not_in_with_values() -> None:
    backend = await _backend("t", [{"id": i, "n": n} for i, n in enumerate([1, 2, 3, None])])
    assert await _query_ids(backend, "n IN (1, 3)") == [0, 2]
    assert await _query_ids(backend, "n NOT IN (1, 3)") == [1]
    assert await _query_ids(backend, "n BETWEEN 2 AND 3") == [1, 2]
    assert await _query_ids(backend, "n BETWEEN 3 AND 2") == []
    assert await _query_ids(backend, "n NOT BETWEEN 2 AND 3") == [0]


# --------------------------------------------------------------------------------------------------
# Comparison: declared columns cast the literal; undeclared ones compare as the unknown-type SQL


async def test_declared_columns_cast_the_literal_before_any_row() -> None:
    backend = InMemoryBackend({"t": {"id": "int4", "doc": "json", "docb": "jsonb", "flag": "bool"}})
    with pytest.raises(Query) as early:
        await backend.query("t", "id = 'abc'")  # no rows at all: PostgreSQL fails when planning
    assert (early.value.op, early.value.sqlstate) == ("retrieve", "22P02")
    for row in ({"id": 7, "doc": '{"a": 1}', "docb": {"a": True}, "flag": "t"}, {"id": 8}):
        await backend.insert("t", row)
    assert await _query_ids(backend, "id = '07'") == [7]
    assert await _query_ids(backend, "id = 7.4") == [7]
    assert await _query_ids(backend, "id IN ('8', 7)") == [7, 8]
    assert await _query_ids(backend, "flag = 'yes'") == [7]
    assert await _query_ids(backend, "docb = '{\"a\": true}'") == [7]
    assert await _query_ids(backend, "docb = '{\"a\": 1}'") == []  # jsonb: true is not 1
    for condition, sqlstate in [
        ("id LIKE '7'", "42883"),
        ("doc = '{}'", "42883"),
        ("docb > '{}'", "42883"),
        ("id > now()", "42883"),
        ("flag = 1", "42846"),
        ("id IN (1, 'x')", "22P02"),
    ]:
        with pytest.raises(Query) as raised:
            await backend.query("t", condition)
        assert raised.value.sqlstate == sqlstate, condition


async def test_undeclared_equality_compares_as_text_when_either_side_is_text() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    rows = [
        {"id": 7, "name": "7", "flag": True, "at": at, "amount": Decimal("1.50"), "f": 1.0},
        {"id": 8, "name": "x", "flag": False, "at": None, "amount": None, "f": 2.5},
    ]
    backend = await _backend("t", rows)
    assert await _query_ids(backend, "id = '7'") == [7]  # 7::text = '7'
    assert await _query_ids(backend, "id = '07'") == []
    assert await _query_ids(backend, "name = 7") == [7]
    assert await _query_ids(backend, "id = 7.0") == [7]  # numbers compare as numbers
    assert await _query_ids(backend, "flag = 'true'") == [7]
    assert await _query_ids(backend, "flag = true") == [7]
    assert await _query_ids(backend, "at = '2024-01-02 03:04:05.5+00'") == [7]
    assert await _query_ids(backend, "amount = '1.50'") == [7]
    assert await _query_ids(backend, "amount = 1.5") == [7]
    assert await _query_ids(backend, "f = '1'") == [7]  # float8::text of 1.0 is '1'
    assert await _query_ids(backend, "id IN ('7', 8)") == [7, 8]
    with pytest.raises(Query) as raised:
        await backend.query("t", "flag = 1")
    assert raised.value.sqlstate == "42883"
    assert "boolean = smallint" in raised.value.source


async def test_undeclared_ordering_takes_the_values_type() -> None:
    rows: Rows = [
        {"id": 1, "n": 5, "name": "b", "at": datetime(2024, 1, 1, tzinfo=UTC)},
        {"id": 2, "n": 9, "name": "B"},
    ]
    backend = await _backend("t", rows)
    assert await _query_ids(backend, "n < '8'") == [1]
    assert await _query_ids(backend, "name > 'a'") == [1]  # code points: 'B' < 'a' < 'b'
    assert await _query_ids(backend, "at < '2024-06-01'") == [1]
    for condition, sqlstate in [("n < 'x'", "22P02"), ("name < 5", "42883"), ("n LIKE '5'", "42883")]:
        with pytest.raises(Query) as raised:
            await backend.query("t", condition)
        assert raised.value.sqlstate == sqlstate, condition


async def test_numbers_compare_across_int_float_and_numeric() -> None:
    rows: Rows = [
        {"id": 1, "v": 1},
        {"id": 2, "v": 1.5},
        {"id": 3, "v": Decimal("2.50")},
        {"id": 4, "v": math.nan},
    ]
    backend = await _backend("t", rows)
    assert await _query_ids(backend, "v > 1") == [2, 3, 4]  # NaN is above everything
    assert await _query_ids(backend, "v = 2.5") == [3]
    with pytest.raises(Query) as raised:  # 'NaN' takes each value's type: not an integer
        await backend.query("t", "v >= 'NaN'")
    assert raised.value.sqlstate == "22P02"
    assert _ids((await backend.stream_retrieve("t", order_by="v desc")).rows) == [4, 3, 2, 1]


# --------------------------------------------------------------------------------------------------
# LIKE and ILIKE


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("abc", "a_c", True),
        ("a\nc", "a_c", True),
        ("a\nc", "a%", True),
        ("", "%", True),
        ("", "_", False),
        ("abc", "%b%", True),
        ("50% off", "50\\% off", True),
        ("50x off", "50\\% off", False),
        ("a_b", "a\\_b", True),
        ("axb", "a\\_b", False),
        ("a\\b", "a\\\\b", True),
        ("ax", "a\\x", True),
        ("a", "a\\", False),  # matching never reaches the lone escape (checked against PostgreSQL)
        ("x", "x%\\", False),
        ("", "\\", False),
        ("ab", "%\\%", False),
        ("a.b", "a.b", True),
        ("a+b", "a+b", True),
    ],
)
def test_like_patterns(text: str, pattern: str, expected: bool) -> None:
    assert like(text, pattern, insensitive=False) is expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [("a\\", "a\\"), ("ab", "a\\"), ("xb", "%\\"), ("x", "\\"), ("abc", "%_\\"), ("ab", "_%\\")],
)
def test_like_raises_when_matching_reaches_a_lone_escape(text: str, pattern: str) -> None:
    with pytest.raises(CastError) as raised:
        like(text, pattern, insensitive=False)
    assert raised.value.sqlstate == "22025"


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("Alice", "alice", True),
        ("İstanbul", "i%", True),
        ("ß", "SS", False),
        ("Σ", "ς", False),
        ("ǅ", "ǆ", True),
    ],
)
def test_ilike_lowers_character_by_character(text: str, pattern: str, expected: bool) -> None:
    assert like(text, pattern, insensitive=True) is expected


async def test_like_through_the_backend() -> None:
    backend = await _backend("t", [{"id": 1, "s": "50% off"}, {"id": 2, "s": "ALL"}, {"id": 3, "s": None}])
    assert await _query_ids(backend, "s LIKE '${p}'", p="50\\%%") == [1]
    assert await _query_ids(backend, "s ILIKE 'all'") == [2]
    assert await _query_ids(backend, "s NOT LIKE '%\\\\%%'") == [2]  # the lexer turns \\\\ into \\
    assert await _query_ids(backend, "s NOT ILIKE 'a%'") == [1]
    with pytest.raises(Query) as raised:
        await backend.query("t", "s LIKE '${p}'", {"p": "5\\"})
    assert raised.value.sqlstate == "22025"


# --------------------------------------------------------------------------------------------------
# Time


@pytest.mark.parametrize(
    ("start", "sign", "amount", "unit", "expected"),
    [
        (datetime(2024, 1, 31, 10, tzinfo=UTC), "+", 1, "month", datetime(2024, 2, 29, 10, tzinfo=UTC)),
        (datetime(2024, 3, 31, 10, tzinfo=UTC), "-", 1, "month", datetime(2024, 2, 29, 10, tzinfo=UTC)),
        (datetime(2024, 2, 29, 10, tzinfo=UTC), "-", 1, "year", datetime(2023, 2, 28, 10, tzinfo=UTC)),
        (datetime(2024, 12, 15, tzinfo=UTC), "+", 1, "month", datetime(2025, 1, 15, tzinfo=UTC)),
        (datetime(2024, 1, 1, tzinfo=UTC), "-", 13, "month", datetime(2022, 12, 1, tzinfo=UTC)),
        (datetime(2024, 1, 1, tzinfo=UTC), "+", 2, "week", datetime(2024, 1, 15, tzinfo=UTC)),
        (datetime(2024, 1, 1, tzinfo=UTC), "-", 90, "second", datetime(2023, 12, 31, 23, 58, 30, tzinfo=UTC)),
        (datetime(2024, 1, 1, tzinfo=UTC), None, 0, "", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_now_plus_interval_uses_calendar_months(
    start: datetime, sign: str | None, amount: int, unit: str, expected: datetime
) -> None:
    assert shift(start, sign, amount, unit) == expected


def test_an_interval_past_the_representable_range_is_22008() -> None:
    with pytest.raises(CastError) as raised:
        shift(datetime(2024, 1, 1, tzinfo=UTC), "+", 4_294_967_295, "year")
    assert raised.value.sqlstate == "22008"


async def test_time_comparisons_against_now() -> None:
    now = datetime.now(UTC)
    rows: Rows = [
        {"id": 1, "at": now - timedelta(hours=2), "day": (now - timedelta(days=3)).date()},
        {"id": 2, "at": now - timedelta(days=45), "day": (now + timedelta(days=3)).date()},
        {"id": 3, "at": (now + timedelta(days=2)).replace(tzinfo=None), "day": None},
        {"id": 4, "at": None, "day": None},
    ]
    backend = await _backend("t", rows)
    assert await _query_ids(backend, "at > now() - interval '1 day'") == [1, 3]
    assert await _query_ids(backend, "at < now() - interval '1 month'") == [2]
    assert await _query_ids(backend, "at > now()") == [3]
    assert await _query_ids(backend, "day < now()") == [1]
    declared = await _backend("u", [{"id": 1, "name": "x"}], name="text")
    with pytest.raises(Query) as raised:
        await declared.query("u", "name > now()")
    assert raised.value.sqlstate == "42883"
    undeclared = await _backend("v", [{"id": 1, "name": "x"}])
    with pytest.raises(Query):
        await undeclared.query("v", "name > now()")


# --------------------------------------------------------------------------------------------------
# ORDER BY and LIMIT


async def test_order_by_puts_nulls_last_ascending_and_first_descending() -> None:
    rows = [
        {"id": i, "s": s, "n": n}
        for i, (s, n) in enumerate([("b", 1), (None, 2), ("a", 1), ("B", None), ("é", 2)])
    ]
    backend = await _backend("t", rows)

    async def order(order_by: str, limit: str = "") -> list[Any]:
        return _ids((await backend.stream_retrieve("t", order_by=order_by, limit=limit)).rows)

    assert await order("s") == [3, 2, 0, 4, 1]  # code points: B < a < b < é, NULL last
    assert await order("s desc") == [1, 4, 0, 2, 3]
    assert await order("n, s desc") == [0, 2, 1, 4, 3]
    assert await order("n desc, id") == [3, 1, 4, 0, 2]
    assert await order("id desc", "2") == [4, 3]
    assert await order("id", "0") == []
    assert await order("n") == [0, 2, 1, 4, 3]  # ties keep insertion order


async def test_order_by_mixed_or_unorderable_values_is_42883() -> None:
    backend = await _backend("t", [{"id": 1, "v": 1, "doc": {"a": 1}}, {"id": 2, "v": "x", "doc": {"a": 2}}])
    for order_by in ("v", "doc"):
        with pytest.raises(Query) as raised:
            await backend.stream_retrieve("t", order_by=order_by)
        assert raised.value.sqlstate == "42883"
    declared = await _backend("u", [{"id": 1, "doc": {"a": 1}}], doc="jsonb")
    with pytest.raises(Query):
        await declared.stream_retrieve("u", order_by="doc")


async def test_limit_accepts_bindings() -> None:
    backend = await _backend("t", [{"id": i} for i in range(5)])
    outcome = await backend.stream_retrieve("t", order_by="id", limit="${n}", bindings={"n": "2"})
    assert _ids(outcome.rows) == [0, 1]


# --------------------------------------------------------------------------------------------------
# Aggregates


async def _aggregate(backend: InMemoryBackend, aggregate: str, group_by: str = "", where: str = "") -> Rows:
    return (await backend.stream_retrieve("t", where, aggregate=aggregate, group_by=group_by)).rows


async def test_count_sum_avg_min_max() -> None:
    rows: Rows = [
        {"id": 1, "g": "a", "n": 1, "x": Decimal("0.10"), "s": "b"},
        {"id": 2, "g": "a", "n": 2, "x": None, "s": "B"},
        {"id": 3, "g": None, "n": 2, "x": Decimal("0.20"), "s": None},
        {"id": 4, "g": None, "n": None, "x": Decimal("0.20"), "s": "é"},
    ]
    backend = await _backend("t", rows)
    assert await _aggregate(backend, "count") == [{"count": 4}]
    assert await _aggregate(backend, "count", "g") == [{"g": "a", "count": 2}, {"g": None, "count": 2}]
    assert await _aggregate(backend, "sum(n)") == [{"sum": 5.0}]
    assert await _aggregate(backend, "avg(n)") == [{"avg": 1.6666666666666667}]
    assert await _aggregate(backend, "avg(x)") == [{"avg": 0.16666666666666666}]
    assert await _aggregate(backend, "sum(x)", "g") == [{"g": "a", "sum": 0.1}, {"g": None, "sum": 0.4}]
    assert await _aggregate(backend, "min(s)") == [{"min": "B"}]
    assert await _aggregate(backend, "max(s)") == [{"max": "é"}]
    assert await _aggregate(backend, "min(x)") == [{"min": "0.10"}]
    assert await _aggregate(backend, "max(n)", "g") == [{"g": "a", "max": 2}, {"g": None, "max": 2}]


async def test_aggregates_of_nothing() -> None:
    backend = await _backend("t", [{"id": 1, "g": "a", "n": None}])
    assert await _aggregate(backend, "count", where="id > 5") == [{"count": 0}]
    assert await _aggregate(backend, "sum(n)") == [{"sum": None}]
    assert await _aggregate(backend, "max(n)", where="id > 5") == [{"max": None}]
    assert await _aggregate(backend, "count", "g", where="id > 5") == []


async def test_aggregate_types() -> None:
    rows = [
        {"id": 1, "ok": True, "s": "x", "f": 0.1, "r": 0.1},
        {"id": 2, "ok": False, "s": "y", "f": 0.2, "r": 0.2},
    ]
    backend = await _backend("t", rows, r="float4")
    assert await _aggregate(backend, "sum(f)") == [{"sum": 0.1 + 0.2}]
    assert await _aggregate(backend, "sum(r)") == [{"sum": 0.30000001192092896}]  # real arithmetic, widened
    for aggregate in ("sum(s)", "avg(ok)", "min(ok)"):
        with pytest.raises(Query) as raised:
            await _aggregate(backend, aggregate)
        assert raised.value.sqlstate == "42883", aggregate
    nan = await _backend("u", [{"id": 1, "v": math.nan}, {"id": 2, "v": 1.0}])
    assert (await nan.stream_retrieve("u", aggregate="sum(v)")).rows == [{"sum": None}]
    assert (await nan.stream_retrieve("u", aggregate="max(v)")).rows == [{"max": None}]
    assert (await nan.stream_retrieve("u", aggregate="min(v)")).rows == [{"min": 1.0}]


# --------------------------------------------------------------------------------------------------
# Streaming policies and iteration


async def _five() -> InMemoryBackend:
    return await _backend("t", [{"id": i} for i in range(5)])


async def test_pause_upstream_keeps_the_head_and_says_truncated() -> None:
    outcome = await (await _five()).stream_retrieve("t", order_by="id", max_rows=3)
    assert (_ids(outcome.rows), outcome.total_seen, outcome.truncated, outcome.dropped) == (
        [0, 1, 2],
        4,
        True,
        0,
    )
    exact = await (await _five()).stream_retrieve("t", max_rows=5)
    assert (len(exact.rows), exact.truncated) == (5, False)


async def test_drop_oldest_keeps_the_tail_window() -> None:
    outcome = await (await _five()).stream_retrieve("t", order_by="id", policy="drop_oldest", max_rows=3)
    assert (_ids(outcome.rows), outcome.total_seen, outcome.dropped, outcome.truncated) == (
        [2, 3, 4],
        5,
        2,
        False,
    )


async def test_fail_raises_beyond_the_bound() -> None:
    with pytest.raises(Query) as raised:
        await (await _five()).stream_retrieve("t", policy=Backpressure.FAIL, max_rows=4)
    assert raised.value.op == "retrieve"
    assert len((await (await _five()).stream_retrieve("t", policy=Backpressure.FAIL, max_rows=5)).rows) == 5


async def test_degrade_quality_keeps_everything() -> None:
    outcome = await (await _five()).stream_retrieve("t", policy=Backpressure.DEGRADE_QUALITY, max_rows=1)
    assert (len(outcome.rows), outcome.truncated, outcome.dropped) == (5, False, 0)


async def test_a_pre_cancelled_drain_keeps_nothing() -> None:
    cancel = asyncio.Event()
    cancel.set()
    outcome = await (await _five()).stream_retrieve("t", cancel=cancel)
    assert (outcome.rows, outcome.cancelled, outcome.total_seen) == ([], True, 0)
    empty = await InMemoryBackend().stream_retrieve("t", cancel=lambda: True)
    assert (empty.rows, empty.cancelled) == ([], False)  # nothing pulled, nothing to cancel


async def test_iter_rows_bounds_cancels_and_reads_a_snapshot() -> None:
    backend = await _five()
    assert _ids([row async for row in backend.iter_rows("t", order_by="id", max_rows=2)]) == [0, 1]
    seen: list[Any] = []
    stop = asyncio.Event()
    async for row in backend.iter_rows("t", order_by="id", cancel=stop):
        seen.append(row["id"])
        if len(seen) == 3:
            stop.set()
    assert seen == [0, 1, 2]
    rows = backend.iter_rows("t", "id >= 3", order_by="id")
    await backend.insert("t", {"id": 9})
    await backend.mutate("t", "id = 3", {"id": 30})
    assert _ids([row async for row in rows]) == [3, 4]
    with pytest.raises(UnknownColumn):  # raised by the call itself, before any iteration
        backend.iter_rows("t", "nope = 1")
    with pytest.raises(BadLimit):
        backend.iter_rows("t", max_rows=-1)


# --------------------------------------------------------------------------------------------------
# Concurrency


async def test_interleaved_tasks_see_each_verb_whole() -> None:
    """Writers and readers interleave on one loop; every read sees a consistent table."""
    backend = await _backend("t", [{"id": i, "v": 0} for i in range(50)])

    async def bump(round_: int) -> None:
        await asyncio.sleep(0)
        assert await backend.mutate("t", "", {"v": round_}, all_rows=True) == 50

    async def read() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
            values = {row["v"] for row in await backend.query("t")}
            assert len(values) == 1  # never half of one mutate and half of another

    await asyncio.gather(*(bump(i) for i in range(20)), *(read() for _ in range(5)))
    async with contextlib.aclosing(backend.iter_rows("t")) as rows:
        async for _ in rows:
            await backend.purge("t", "", all_rows=True)  # the snapshot keeps iterating
    assert await backend.query("t") == []


# --------------------------------------------------------------------------------------------------
# Text forms


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e15, "1e+15"),
        (1e14, "100000000000000"),
        (1e-5, "1e-05"),
        (1e-4, "0.0001"),
        (-0.0, "-0"),
        (1.5e300, "1.5e+300"),
        (0.1 + 0.2, "0.30000000000000004"),
        (12345678901234567890.0, "1.2345678901234567e+19"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_float8_text_is_postgresqls(value: float, text: str) -> None:
    assert float8_text(value) == text


def test_pg_text_of_other_values() -> None:
    assert pg_text({"b": 1, "aa": [1, 2], "a": True}) == '{"a": true, "b": 1, "aa": [1, 2]}'
    assert pg_text(datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)) == "2024-01-02 03:04:05.5+00"
    assert pg_text(time(3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))) == "03:04:05+05:30"
    assert pg_text(timedelta(seconds=-1.5)) == "-00:00:01.5"
    assert pg_text(Decimal("-0.00")) == "0.00"


async def test_now_as_a_literal_is_read_at_each_statement() -> None:
    """``'now'`` cast to a timestamp is the statement's time, never a cached one."""
    backend = InMemoryBackend({"t": {"id": "int4", "at": "timestamptz"}})
    await backend.insert("t", {"id": 1, "at": "now"})
    await asyncio.sleep(0.002)
    assert _ids(await backend.query("t", "at < 'now'")) == [1]
    await backend.insert("t", {"id": 2, "at": "now"})
    await asyncio.sleep(0.002)
    assert _ids(await backend.query("t", "at < 'now'")) == [1, 2]
