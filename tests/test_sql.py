"""The pure SQL builders (CONTRACT §4, ANCHOR §3.14 builder table)."""

from __future__ import annotations

import pytest

from axonstore.errors import EmptyData, InvalidIdentifier, TooManyParameters
from axonstore.filter import parse_aggregate_clause, render_bounds
from axonstore.sql import (
    build_delete_sql,
    build_insert_sql,
    build_reinforce_sql,
    build_retrieve_sql,
    build_select_sql,
    build_update_sql,
)


def test_select() -> None:
    assert build_select_sql("users", None, "id = 1") == ('SELECT * FROM "users" WHERE "id"::text = $1', [1])
    assert build_select_sql("users", "public", "") == ('SELECT * FROM "public"."users" WHERE TRUE', [])
    assert build_select_sql("users", "my schema", "") == ('SELECT * FROM "users" WHERE TRUE', [])
    with pytest.raises(InvalidIdentifier) as raised:
        build_select_sql("public.users", None, "")
    assert (raised.value.kind, raised.value.name) == ("table", "public.users")


def test_delete() -> None:
    assert build_delete_sql("sessions", "app", "") == ('DELETE FROM "app"."sessions" WHERE TRUE', [])
    assert build_delete_sql("s", None, "a = '${x}'", {"x": "1"}) == (
        'DELETE FROM "s" WHERE "a"::text = $1',
        ["1"],
    )


def test_insert() -> None:
    assert build_insert_sql("t", None, [("a", 1), ("b", None), ("c", "x")]) == (
        'INSERT INTO "t" ("a", "b", "c") VALUES ($1, NULL, $2)',
        [1, "x"],
    )
    types = {"tenant_id": "uuid", "note": "text", "n": "int4"}
    data = {"tenant_id": "83d0", "note": "hi", "n": "7", "extra": True}
    assert build_insert_sql("chat_history", "public", data, types) == (
        'INSERT INTO "public"."chat_history" ("tenant_id", "note", "n", "extra") '
        "VALUES ($1::uuid, $2::text, $3::int4, $4)",
        ["83d0", "hi", "7", True],
    )
    assert (
        build_insert_sql("t", None, [("x", 1), ("x", 2)])[0] == 'INSERT INTO "t" ("x", "x") VALUES ($1, $2)'
    )
    assert build_insert_sql("t", None, {"e": "v"}, {"e": "billing.tier"})[0] == (
        'INSERT INTO "t" ("e") VALUES ($1::"billing"."tier")'
    )


def test_update_numbers_the_where_after_non_null_sets() -> None:
    assert build_update_sql("users", None, "id = 5", [("name", None), ("age", 40)]) == (
        'UPDATE "users" SET "name" = NULL, "age" = $1 WHERE "id"::text = $2',
        [40, 5],
    )
    assert build_update_sql(
        "t", "public", "id = 1", [("status", "done")], None, {"status": "uuid", "id": "int8"}
    ) == (
        'UPDATE "public"."t" SET "status" = $1::uuid WHERE "id" = $2::int8',
        ["done", 1],
    )
    assert build_update_sql("t", None, "", [("a", 1)]) == ('UPDATE "t" SET "a" = $1 WHERE TRUE', [1])


@pytest.mark.parametrize(
    ("call", "error", "fields"),
    [
        (lambda: build_insert_sql("t", None, []), EmptyData, {"op": "insert"}),
        (lambda: build_insert_sql("t", None, {}), EmptyData, {"op": "insert"}),
        (lambda: build_update_sql("t", None, "id = 1", []), EmptyData, {"op": "mutate"}),
        (lambda: build_insert_sql("t", None, {"bad col": 1}), InvalidIdentifier, {"kind": "column"}),
        (lambda: build_update_sql("t", None, "", {'x"; DROP': 1}), InvalidIdentifier, {"kind": "column"}),
        (lambda: build_delete_sql("t;", None, ""), InvalidIdentifier, {"kind": "table", "name": "t;"}),
        (lambda: build_insert_sql("t", None, [(f"c{i}", i) for i in range(65_536)]), TooManyParameters, {}),
        (
            lambda: build_update_sql("t", None, "a = 1", [(f"c{i}", i) for i in range(65_535)]),
            TooManyParameters,
            {},
        ),
    ],
)
def test_builder_errors(call, error, fields) -> None:
    with pytest.raises(error) as raised:
        call()
    for name, value in fields.items():
        assert getattr(raised.value, name) == value


def test_reinforce() -> None:
    assert build_reinforce_sql(
        "ltm_edges", "public", {"from_id": "uuid", "to_id": "uuid", "weight": "float8"}
    ) == (
        'UPDATE "public"."ltm_edges" SET "weight" = LEAST(GREATEST("weight" + $1::float8, $2::float8), 1.0) '
        'WHERE "from_id" = $3::uuid AND "to_id" = $4::uuid AND "etype" = $5'
    )
    assert build_reinforce_sql("e", None).endswith('"from_id" = $3 AND "to_id" = $4 AND "etype" = $5')


def test_retrieve_with_bounds_or_aggregate() -> None:
    bounds = render_bounds("created desc", "10")
    assert build_retrieve_sql("t", "s", "a = 1", None, None, bounds, None) == (
        'SELECT * FROM "s"."t" WHERE "a"::text = $1 ORDER BY "created" DESC LIMIT 10',
        [1],
    )
    agg = parse_aggregate_clause("count", "industry")
    assert build_retrieve_sql("events", "public", "", None, None, "", agg) == (
        'SELECT "industry", count(*) AS "count" FROM "public"."events" WHERE TRUE GROUP BY "industry"',
        [],
    )
