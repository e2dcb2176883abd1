"""Warm plans (``axonstore.plans``): a repeated call binds exactly what the cold path renders, and any
call a plan cannot take as it is goes back to the cold path — pure, no database."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axonstore.errors import BadArgument, FilterError, InvalidIdentifier
from axonstore.operations import prepare_delete, prepare_insert, prepare_read, prepare_update
from axonstore.plans import MAX_PLANS, WarmPlans
from axonstore.schema import ResolvedTable, SchemaCache
from axonstore.sql import delete_sql, insert_sql, read_sql, update_sql

TYPES = {"id": "int4", "name": "text", "qty": "int8", "meta": "jsonb", "at": "timestamptz", "tags": "text[]"}


def _plans(types: dict[str, str] | None = None) -> tuple[WarmPlans, SchemaCache]:
    cache = SchemaCache()
    cache.put(("db", "t"), ResolvedTable("public", types or TYPES, (), ("id",)))
    return WarmPlans(lambda table: ("db", table), cache), cache


def _resolved(cache: SchemaCache) -> ResolvedTable:
    resolved = cache.peek(("db", "t"))
    assert resolved is not None
    return resolved


def test_a_repeated_call_reuses_its_plan_and_binds_what_the_renderer_renders() -> None:
    plans, cache = _plans()
    resolved = _resolved(cache)
    first = plans.update("t", "id = '${id}' AND name <> 'x'", {"qty": 1, "name": "a"}, {"id": "7"}, "")
    again = plans.update("t", "id = '${id}' AND name <> 'x'", {"qty": 2, "name": "b"}, {"id": "8"}, "")
    assert first is not None and again is not None
    assert again[0] is first[0]  # one plan for the shape
    cold = update_sql(
        prepare_update("t", "id = '${id}' AND name <> 'x'", {"qty": 2, "name": "b"}, {"id": "8"}),
        resolved.schema,
        resolved.column_types,
    )
    assert (again[0].sql, again[1]) == cold
    assert len(plans) == 1


@pytest.mark.parametrize("returning", ["", "id", "*"])
def test_every_verb_binds_like_the_cold_path(returning: str) -> None:
    plans, cache = _plans()
    resolved = _resolved(cache)
    schema, types = resolved.schema, resolved.column_types
    data = {"id": 3, "name": "n", "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "qty": None}
    for _ in range(2):  # the first call builds, the second reuses
        insert = plans.insert("t", data, returning)
        assert insert is not None
        assert (insert[0].sql, insert[1]) == insert_sql(
            prepare_insert("t", data, returning=returning), schema, types
        )
        assert insert[0].rows is (returning != "")
        delete = plans.delete("t", "qty > 10 OR name = '${n}'", {"n": "z"}, returning)
        assert delete is not None
        cold = delete_sql(
            prepare_delete("t", "qty > 10 OR name = '${n}'", {"n": "z"}, returning=returning), schema, types
        )
        assert (delete[0].sql, delete[1]) == cold
    for _ in range(2):
        query = plans.query("t", "name LIKE '${p}%'", {"p": "a_b"}, "id, name")
        assert query is not None and query[0].rows
        read = prepare_read("t", "name LIKE '${p}%'", {"p": "a_b"}, columns="id, name")
        assert (query[0].sql, query[1]) == read_sql(read, schema, types)


def test_a_different_null_pattern_or_a_container_takes_the_cold_path() -> None:
    plans, _ = _plans()
    assert plans.insert("t", {"id": 1, "name": "a"}, "") is not None
    assert plans.insert("t", {"id": 2, "name": None}, "") is None  # NULL is inline in the cold SQL
    assert plans.insert("t", {"id": 3, "meta": {"a": 1}}, "") is None  # JSON is adapted by the cold path
    assert plans.insert("t", {"id": 4, "tags": ["x"]}, "") is None
    assert plans.insert("t", {"id": 5, "name": "bad \ud800"}, "") is None  # the cold path says why
    assert plans.insert("t", [("id", 6)], "") is None  # pairs, not a dict


@pytest.mark.parametrize(
    "value", [Decimal("1.5"), uuid.uuid4(), dt.date(2026, 1, 1), dt.timedelta(seconds=3), b"\x00", 1.5, True]
)
def test_plain_scalars_are_bound_as_they_are(value: object) -> None:
    plans, _ = _plans({"id": "int4", "v": "text"})
    plans.insert("t", {"id": 1, "v": "text first"}, "")
    hit = plans.insert("t", {"id": 1, "v": value}, "")
    assert hit is not None and hit[1] == [1, value]


def test_a_new_schema_rebuilds_the_plan() -> None:
    plans, cache = _plans()
    before = plans.query("t", "id = 1", None, "")
    cache.put(("db", "t"), ResolvedTable("public", {**TYPES, "id": "text"}, (), ("id",)))
    after = plans.query("t", "id = 1", None, "")
    assert before is not None and after is not None
    assert before[0] is not after[0]
    assert (before[0].sql, after[0].sql) == (
        'SELECT * FROM "public"."t" WHERE "id" = $1::int4',
        'SELECT * FROM "public"."t" WHERE "id" = $1::text',
    )


def test_no_schema_no_plan_and_an_unknown_column_is_left_to_the_cold_path() -> None:
    plans, cache = _plans()
    assert plans.query("other", "id = 1", None, "") is None  # not cached: the cold path resolves it
    assert plans.query("t", "missing = 1", None, "") is None  # the cold path re-resolves (D4)
    assert plans.query("t", "missing = 1", None, "") is None  # remembered as unplannable…
    cache.put(("db", "t"), ResolvedTable("public", {**TYPES, "missing": "int4"}, (), ("id",)))
    assert plans.query("t", "missing = 1", None, "") is not None  # …until the schema changes


def test_a_filter_that_read_its_bindings_while_parsing_is_never_planned() -> None:
    plans, _ = _plans()
    where = "at > now() - interval '${n} days'"
    assert plans.query("t", where, {"n": "3"}, "") is None
    assert plans.query("t", where, {"n": "4"}, "") is None


def test_bad_input_raises_what_the_cold_path_raises() -> None:
    plans, _ = _plans()
    plans.query("t", "id = '${id}'", {"id": "1"}, "")
    wrong: Any = {"id": object()}
    with pytest.raises(BadArgument) as warm:
        plans.query("t", "id = '${id}'", wrong, "")
    with pytest.raises(BadArgument) as cold:
        prepare_read("t", "id = '${id}'", wrong)
    assert str(warm.value) == str(cold.value)
    with pytest.raises(FilterError):
        plans.query("t", "id = = 1", None, "")
    with pytest.raises(InvalidIdentifier):
        plans.insert("t", {"bad name": 1}, "")
    assert plans.query("t", ["not", "text"], None, "") is None  # type: ignore[arg-type]  # unhashable


def test_the_table_of_plans_is_bounded() -> None:
    plans, _ = _plans()
    for n in range(MAX_PLANS + 10):
        assert plans.query("t", f"id = {n}", None, "") is not None
    assert len(plans) <= MAX_PLANS


def test_the_unplannable_hook_keeps_a_shape_cold() -> None:
    cache = SchemaCache()
    cache.put(("db", "t"), ResolvedTable("public", TYPES, (), ("id",)))
    plans = WarmPlans(lambda table: ("db", table), cache, unplannable=lambda spec: spec.op == "persist")
    assert plans.insert("t", {"id": 1}, "") is None
    assert plans.query("t", "", None, "") is not None


@given(
    st.dictionaries(
        st.sampled_from(["id", "name", "qty"]),
        st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1), st.text(max_size=5)),
        min_size=1,
    ),
    st.text(max_size=5),
)
def test_any_warm_update_binds_what_the_cold_path_binds(data: dict[str, object], binding: str) -> None:
    plans, cache = _plans()
    resolved = _resolved(cache)
    where = "id = '${k}' OR name = 'fixed'"
    bindings = {"k": binding}
    cold = update_sql(prepare_update("t", where, data, bindings), resolved.schema, resolved.column_types)
    for _ in range(2):
        hit = plans.update("t", where, data, bindings, "")
        assert hit is not None  # plain values and NULLs: always planned
        assert (hit[0].sql, hit[1]) == cold
