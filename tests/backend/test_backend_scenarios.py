"""The reference's integration scenarios (ANCHOR §11, ``fase35_l``), ported, on both lanes.

t1–t3 round trips, t9 JSON-safe types, t12 hostile values, t13 text → uuid/int casts, t14 a table
only in a schema off ``search_path`` (found by the relname fallback — no ``options=-c search_path``,
which PgBouncer refuses), t15 miss-then-hit coherence, t16 drift self-heal without a double write.
t4/t10/t11/t17 (governance, registry) are tested with the registry; t5–t8 in ``test_backend_stream``.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from axonstore.errors import AmbiguousTable, Query, TableNotResolved, UnknownColumn
from axonstore.schema import SCHEMA_CACHE
from tests._wire import WireLog
from tests.backend import count, make_backend, resolve_count, statements, with_params

_ID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def _people(admin: psycopg.Connection[Any], table: str) -> None:
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, age int4, active bool)")


# --------------------------------------------------------------------------------------------------
# t1–t3: insert, mutate, purge round trips


async def test_t1_insert_round_trip(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _people(admin, unique_name)
    async with make_backend(dsn) as backend:
        assert await backend.insert(unique_name, {"id": 1, "name": "Ada", "age": 36, "active": True}) == 1
        assert await backend.insert(unique_name, [("id", 2), ("name", "Bogotá ✓"), ("age", None)]) == 1
        rows = await backend.query(unique_name, "age >= 18 OR age IS NULL")
    assert rows == [
        {"id": 1, "name": "Ada", "age": 36, "active": True},
        {"id": 2, "name": "Bogotá ✓", "age": None, "active": None},
    ]
    assert admin.execute(f"SELECT name FROM {unique_name} WHERE id = 2").fetchone() == ("Bogotá ✓",)


async def test_t2_mutate_round_trip(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _people(admin, unique_name)
    admin.execute(
        f"INSERT INTO {unique_name} VALUES (1, 'a', 30, true), (2, 'b', 40, true), (3, 'c', 50, false)"
    )
    async with make_backend(dsn) as backend:
        changed = await backend.mutate(
            unique_name, "active = true AND age < '${cap}'", {"name": "young"}, {"cap": "35"}
        )
        assert changed == 1
        assert await backend.mutate(unique_name, "id IN (2, 3)", {"active": False, "age": None}) == 2
        rows = await backend.query(unique_name, "active = false")
    assert sorted((row["id"], row["name"], row["age"]) for row in rows) == [(2, "b", None), (3, "c", None)]
    assert admin.execute(f"SELECT name FROM {unique_name} WHERE id = 1").fetchone() == ("young",)


async def test_t3_purge_round_trip(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    _people(admin, unique_name)
    admin.execute(f"INSERT INTO {unique_name} SELECT g, 'n' || g, g, g % 2 = 0 FROM generate_series(1, 10) g")
    async with make_backend(dsn) as backend:
        assert await backend.purge(unique_name, "active = true AND age > 4") == 3  # 6, 8, 10
        assert await backend.purge(unique_name, "id BETWEEN 1 AND 3") == 3
        assert await backend.purge(unique_name, "id = 999") == 0
        rows = await backend.query(unique_name)
    assert [row["id"] for row in rows] == [4, 5, 7, 9]


# --------------------------------------------------------------------------------------------------
# t9: JSON-safe values


async def test_t9_values_are_json_safe(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id uuid, at timestamptz, amount numeric(10, 4), doc jsonb, blob bytea,"
        " n int8, x float8)"
    )
    async with make_backend(dsn) as backend:
        await backend.insert(
            unique_name,
            {
                "id": _ID.upper(),
                "at": "2024-01-02T03:04:05.5+02:00",
                "amount": "1234.5678",
                "doc": {"a": 1, "b": [True, None, "x"]},
                "blob": b"\xde\xad\xbe\xef",
                "n": 9_007_199_254_740_993,
                "x": 2.5,
            },
        )
        (row,) = await backend.query(unique_name, "id = '${id}'", {"id": _ID})
    assert row == {
        "id": _ID,
        "at": "2024-01-02T01:04:05.500+00:00",
        "amount": "1234.5678",
        "doc": {"a": 1, "b": [True, None, "x"]},
        "blob": "3q2+7w==",
        "n": 9_007_199_254_740_993,
        "x": 2.5,
    }
    assert type(row["n"]) is int and type(row["x"]) is float
    assert json.loads(json.dumps(row)) == row


# --------------------------------------------------------------------------------------------------
# t12: a hostile value is one inert parameter

_HOSTILE = [
    "'; DROP TABLE {victim}; --",
    "x' OR '1'='1",
    "' OR 1=1 --",
    "\\'; DROP TABLE {victim}; --",
    "Robert'); DROP TABLE {victim};--",
    '"; DROP TABLE {victim}; --',
    "'||(SELECT pg_sleep(5))||'",
    "$1",
    "${other}",
    "$other",
    "%' OR name LIKE '%",
    "*/ DROP TABLE {victim} /*",
    "a\nb\tc\r\\",
    "Bogotá ✓ 🎉",
    "'",
    "",
]


async def test_t12_hostile_values_cannot_touch_another_table(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    victim = f"{unique_name}_victim"
    admin.execute(f"CREATE TABLE {victim} (n int); INSERT INTO {victim} VALUES (1)")
    admin.execute(f"CREATE TABLE {unique_name} (id int, name text)")
    hostile = [text.replace("{victim}", victim) for text in _HOSTILE]
    async with make_backend(dsn) as backend:
        for i, text in enumerate(hostile):
            assert await backend.insert(unique_name, {"id": i, "name": text}) == 1
        for i, text in enumerate(hostile):
            bindings = {"v": text, "other": "NOT-THIS"}
            # every form that lets a binding in: each finds exactly its own row, verbatim
            for where in ("name = '${v}'", 'name = "${v}"', "name = '$v'", "name IN ('${v}', 'zzz')"):
                rows = await backend.query(unique_name, where, bindings)
                assert rows == [{"id": i, "name": text}], (where, text)
            assert (
                await backend.mutate(unique_name, "name = '${v}' AND id = -1", {"name": "x"}, bindings) == 0
            )
            assert await backend.purge(unique_name, "name = '${v}' AND id = -1", bindings) == 0
        outcome = await backend.stream_retrieve(unique_name, "name LIKE '%${v}%'", {"v": "DROP TABLE"})
        assert len(outcome.rows) == 5
    assert count(admin, victim) == 1
    assert count(admin, unique_name) == len(hostile)
    assert [name for (name,) in admin.execute(f"SELECT name FROM {unique_name} ORDER BY id")] == hostile


# --------------------------------------------------------------------------------------------------
# t13: text values cast to the column's type, on write and on read


async def test_t13_text_is_cast_to_uuid_and_int(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id uuid, n int4, big int8, flag bool, day date, score numeric)"
    )
    async with make_backend(dsn) as backend:
        text_row = {
            "id": _ID,
            "n": "7",
            "big": "9000000000",
            "flag": "true",
            "day": "2024-02-29",
            "score": "0.50",
        }
        assert await backend.insert(unique_name, text_row) == 1
        expected = {
            "id": _ID,
            "n": 7,
            "big": 9_000_000_000,
            "flag": True,
            "day": "2024-02-29",
            "score": "0.50",
        }
        for where, bindings in [
            ("id = '${id}'", {"id": _ID.upper()}),
            ("n = '7'", None),
            ("n = 7", None),
            ("n >= '${low}' AND n < 8", {"low": "7"}),
            ("big > 8999999999", None),
            ("flag = true AND day = '2024-02-29'", None),
            ("score = 0.5", None),
            ("id IN ('${id}') AND n IN (6, 7)", {"id": _ID}),
        ]:
            assert await backend.query(unique_name, where, bindings) == [expected], where
        assert await backend.mutate(unique_name, "n = '${n}'", {"n": "8", "big": 1}, {"n": "7"}) == 1
        assert await backend.query(unique_name, "n = 8 AND big = 1") != []


# --------------------------------------------------------------------------------------------------
# t14: a table only in a schema that is not on search_path


async def test_t14_table_outside_search_path(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    schema = f"tenant_{unique_name}"
    admin.execute(
        f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.{unique_name} (id uuid PRIMARY KEY, note text)"
    )
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    async with make_backend(dsn) as backend:
        mark = wire_log.mark()
        for i, id_ in enumerate(ids):
            assert await backend.insert(unique_name, {"id": id_, "note": f"n{i}"}) == 1
            assert await backend.query(unique_name, "id = '${id}'", {"id": id_}) == [
                {"id": id_, "note": f"n{i}"}
            ]
        assert f'INSERT INTO "{schema}"."{unique_name}"' in " ".join(statements(wire_log, mark))
        assert resolve_count(wire_log, mark) == 1
        assert await backend.mutate(unique_name, "note = 'n1'", {"note": "one"}) == 1
        assert await backend.purge(unique_name, "note = 'n2'") == 1
    assert admin.execute(f"SELECT id::text, note FROM {schema}.{unique_name} ORDER BY id").fetchall() == [
        (ids[0], "n0"),
        (ids[1], "one"),
    ]


async def test_t14_search_path_in_the_dsn_direct_lane(
    direct_dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    """The reference's own t14 form (startup ``options``; PgBouncer refuses them, so direct only):
    the primary resolution follows search_path, and the first schema on it wins without ambiguity."""
    first, second = f"a_{unique_name}", f"b_{unique_name}"
    admin.execute(
        f"CREATE SCHEMA {first}; CREATE SCHEMA {second};"
        f"CREATE TABLE {first}.{unique_name} (n int, here text DEFAULT 'first');"
        f"CREATE TABLE {second}.{unique_name} (n int, here text DEFAULT 'second')"
    )
    on_path = with_params(direct_dsn, options=f"-c search_path={second},{first},public")
    async with make_backend(on_path) as backend:
        assert await backend.insert(unique_name, {"n": 1}) == 1
        assert await backend.query(unique_name) == [{"n": 1, "here": "second"}]
    async with make_backend(direct_dsn) as backend:  # neither schema on the path: two candidates
        with pytest.raises(AmbiguousTable) as caught:
            await backend.query(unique_name)
        assert caught.value.schemas == (first, second)


# --------------------------------------------------------------------------------------------------
# t15: miss, then hit, and the cache is shared by stores on one database


async def test_t15_miss_then_hit_are_coherent(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _people(admin, unique_name)
    async with make_backend(dsn, "first") as first, make_backend(dsn, "second") as second:
        mark = wire_log.mark()
        assert await first.insert(unique_name, {"id": 1, "name": "a"}) == 1  # miss
        assert resolve_count(wire_log, mark) == 1
        mark = wire_log.mark()
        assert await first.query(unique_name, "id = 1") == [
            {"id": 1, "name": "a", "age": None, "active": None}
        ]
        assert await second.insert(unique_name, {"id": 2, "name": "b"}) == 1
        assert await second.mutate(unique_name, "id = 1", {"age": 3}) == 1
        assert [row["age"] for row in await first.query(unique_name, "id IN (1, 2)")] == [3, None]
        assert resolve_count(wire_log, mark) == 0  # every later call was a hit
    assert count(admin, unique_name) == 2


# --------------------------------------------------------------------------------------------------
# t16: drift self-heal, and never a double write


async def test_t16_column_retyped_to_text_heals_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int, n int4)")
    async with make_backend(dsn) as backend:
        assert await backend.insert(unique_name, {"id": 1, "n": 1}) == 1  # caches n: int4
        admin.execute(f"ALTER TABLE {unique_name} ALTER COLUMN n TYPE text")
        mark = wire_log.mark()
        assert await backend.insert(unique_name, {"id": 2, "n": 2}) == 1  # int4 → text still assigns
        assert count(admin, unique_name) == 2  # exactly one row added
        assert resolve_count(wire_log, mark) == 0
        # `"n" = $1::int4` against a text column is 42883: evict, re-resolve once, answer
        assert await backend.query(unique_name, "n = 2") == [{"id": 2, "n": "2"}]
        assert resolve_count(wire_log, mark) == 1
        assert await backend.mutate(unique_name, "n = '1'", {"n": "one"}) == 1
        assert await backend.insert(unique_name, {"id": 3, "n": "three"}) == 1
        assert resolve_count(wire_log, mark) == 1
    assert admin.execute(f"SELECT id, n FROM {unique_name} ORDER BY id").fetchall() == [
        (1, "one"),
        (2, "2"),
        (3, "three"),
    ]


async def test_t16_drift_on_an_insert_writes_exactly_one_row(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    old, new = f"old_{unique_name}", f"new_{unique_name}"
    admin.execute(
        f"CREATE SCHEMA {old}; CREATE SCHEMA {new}; CREATE TABLE {old}.{unique_name} (id int, note text)"
    )
    async with make_backend(dsn) as backend:
        assert await backend.insert(unique_name, {"id": 1, "note": "a"}) == 1  # caches "old"."t"
        admin.execute(f"ALTER TABLE {old}.{unique_name} SET SCHEMA {new}")
        mark = wire_log.mark()
        # the cached "old"."t" is 42P01 on the hit path: evict, resolve "new"."t", insert once
        assert await backend.insert(unique_name, {"id": 2, "note": "b"}) == 1
        assert resolve_count(wire_log, mark) == 1
        assert SCHEMA_CACHE.get((backend.masked_dsn(), unique_name)) is not None
        assert await backend.mutate(unique_name, "id = 2", {"note": "B"}) == 1
        assert await backend.query(unique_name, "id >= 1") == [{"id": 1, "note": "a"}, {"id": 2, "note": "B"}]
    assert admin.execute(f"SELECT id, note FROM {new}.{unique_name} ORDER BY id").fetchall() == [
        (1, "a"),
        (2, "B"),
    ]


async def test_t16_a_dropped_table_is_not_resolved_after_the_heal(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int)")
    async with make_backend(dsn) as backend:
        await backend.warm_schema(unique_name)
        admin.execute(f"DROP TABLE {unique_name}")
        with pytest.raises(TableNotResolved):
            await backend.insert(unique_name, {"id": 1})
        assert SCHEMA_CACHE.get((backend.masked_dsn(), unique_name)) is None
        admin.execute(f"CREATE TABLE {unique_name} (id int, extra text DEFAULT 'x')")
        assert await backend.insert(unique_name, {"id": 1}) == 1
        assert await backend.query(unique_name) == [{"id": 1, "extra": "x"}]


# --------------------------------------------------------------------------------------------------
# Identifiers are exact: case, reserved words, every kind of relation a store can address


async def test_names_are_case_sensitive_and_reserved_words_are_quoted(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    mixed = f"Mixed_{unique_name}"
    admin.execute(f'CREATE TABLE "{mixed}" ("Name" text, "select" int, "from" int)')
    async with make_backend(dsn) as backend:
        assert await backend.insert(mixed, {"Name": "a", "select": 1, "from": 2}) == 1
        assert await backend.query(mixed, "Name = 'a' AND select = 1 AND from >= 2") == [
            {"Name": "a", "select": 1, "from": 2}
        ]
        with pytest.raises(UnknownColumn) as caught:  # the column is "Name", not "name"
            await backend.query(mixed, "name = 'a'")
        assert caught.value.columns == ("Name", "select", "from")
        with pytest.raises(TableNotResolved):
            await backend.query(mixed.lower())


async def test_views_materialized_views_and_partitioned_tables_resolve(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    schema = f"rel_{unique_name}"
    admin.execute(
        f"CREATE SCHEMA {schema};"
        f"CREATE TABLE {schema}.{unique_name}_p (id int, at date) PARTITION BY RANGE (at);"
        f"CREATE TABLE {schema}.{unique_name}_p24 PARTITION OF {schema}.{unique_name}_p"
        "  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        f"CREATE VIEW {schema}.{unique_name}_v AS SELECT id * 10 AS tens FROM {schema}.{unique_name}_p;"
    )
    async with make_backend(dsn) as backend:
        assert await backend.insert(f"{unique_name}_p", {"id": 1, "at": "2024-05-05"}) == 1
        with pytest.raises(Query) as caught:  # no partition for 2030: the server's own error
            await backend.insert(f"{unique_name}_p", {"id": 2, "at": "2030-01-01"})
        assert caught.value.sqlstate == "23514"
        assert await backend.query(f"{unique_name}_v") == [{"tens": 10}]
        admin.execute(
            f"CREATE MATERIALIZED VIEW {schema}.{unique_name}_m AS"
            f" SELECT count(*) AS n FROM {schema}.{unique_name}_p"
        )
        assert await backend.query(f"{unique_name}_m") == [{"n": 1}]
        assert await backend.query(f"{unique_name}_p24", "at < now()") == [{"id": 1, "at": "2024-05-05"}]


async def test_time_filters_use_the_server_clock(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(
        f"CREATE TABLE {unique_name} (id int, seen timestamptz);"
        f"INSERT INTO {unique_name} VALUES (1, now() - interval '2 hours'), (2, now() - interval '3 days'),"
        " (3, now() + interval '1 hour'), (4, NULL)"
    )
    async with make_backend(dsn) as backend:
        recent = await backend.query(unique_name, "seen > now() - interval '1 day' AND seen < now()")
        old = await backend.query(unique_name, "seen < NOW() - INTERVAL '2 DAYS' OR seen = null")
    assert [row["id"] for row in recent] == [1]
    assert sorted(row["id"] for row in old) == [2, 4]
