"""Stage 3: rendering with and without column types, casts (D12), numbering and the plan cache."""

from __future__ import annotations

import pytest

from axonstore.filter import build_pg_where, compile_where
from axonstore.idents import type_cast

TYPES = {"a": "int4", "t": "text", "tier": "billing.tier", "bad": "x.y.z", "evil": "int4; DROP", "u": "uuid"}


@pytest.mark.parametrize(
    ("expr", "untyped", "typed"),
    [
        ("a IS NULL", '"a" IS NULL', '"a" IS NULL'),
        ("a IS NOT NULL", '"a" IS NOT NULL', '"a" IS NOT NULL'),
        ("a IN (1, 2)", '"a"::text IN ($1, $2)', '"a" IN ($1::int4, $2::int4)'),
        ("a NOT IN ('x')", '"a"::text NOT IN ($1)', '"a" NOT IN ($1::int4)'),
        ("a BETWEEN 1 AND 5", '"a" BETWEEN $1 AND $2', '"a" BETWEEN $1::int4 AND $2::int4'),
        ("a NOT BETWEEN 1 AND 5", '"a" NOT BETWEEN $1 AND $2', '"a" NOT BETWEEN $1::int4 AND $2::int4'),
        ("a ILIKE 'x%'", '"a" ILIKE $1', '"a" ILIKE $1::int4'),
        ("a NOT LIKE 'x%'", '"a" NOT LIKE $1', '"a" NOT LIKE $1::int4'),
        ("a NOT ILIKE 'x%'", '"a" NOT ILIKE $1', '"a" NOT ILIKE $1::int4'),
        ("NOT a = 1", 'NOT ("a"::text = $1)', 'NOT ("a" = $1::int4)'),
        ("a < 1", '"a" < $1', '"a" < $1::int4'),
        ("a <> 1", '"a"::text != $1', '"a" != $1::int4'),
        (
            "(a = 1 OR b = 2) AND c = 3",
            '("a"::text = $1 OR "b"::text = $2) AND "c"::text = $3',
            '("a" = $1::int4 OR "b"::text = $2) AND "c"::text = $3',
        ),
        (
            "NOT (a = 1 OR b = 2)",
            'NOT ("a"::text = $1 OR "b"::text = $2)',
            'NOT ("a" = $1::int4 OR "b"::text = $2)',
        ),
        ("NOT NOT a = 1", 'NOT (NOT ("a"::text = $1))', 'NOT (NOT ("a" = $1::int4))'),
        ("NOT ((a = 1))", 'NOT (("a"::text = $1))', 'NOT (("a" = $1::int4))'),
        ("a > now()", '"a" > now()', '"a" > now()'),
    ],
)
def test_new_forms_render_as_the_contract_table(expr: str, untyped: str, typed: str) -> None:
    assert build_pg_where(expr)[0] == untyped
    assert build_pg_where(expr, column_types={"a": "int4"})[0] == typed


def test_casts_for_schema_qualified_and_unsafe_types() -> None:
    assert type_cast(TYPES, "tier") == '::"billing"."tier"'
    assert build_pg_where("tier = 'gold'", column_types=TYPES)[0] == '"tier" = $1::"billing"."tier"'
    assert build_pg_where("bad = 1", column_types=TYPES)[0] == '"bad"::text = $1'
    assert build_pg_where("evil < 1", column_types=TYPES)[0] == '"evil" < $1'
    assert type_cast(TYPES, "missing") == "" and type_cast(None, "a") == ""
    assert type_cast({"x": 5}, "x") == ""  # type: ignore[dict-item]


def test_null_and_time_values_consume_no_placeholder() -> None:
    sql, params = build_pg_where("a = null AND t < now() AND b = 'x' AND c IN (1, 2)", 10)
    assert sql == '"a" IS NULL AND "t" < now() AND "b"::text = $11 AND "c"::text IN ($12, $13)'
    assert params == ["x", 1, 2]


def test_plans_are_reused_and_keyed_by_offset_and_types() -> None:
    parsed, plan = compile_where("a = '${v}' AND b > 2", 0, None)
    again, same_plan = compile_where("a = '${v}' AND b > 2", 0, None)
    assert parsed is again and plan is same_plan
    _, typed = compile_where("a = '${v}' AND b > 2", 0, {"a": "uuid"})
    _, shifted = compile_where("a = '${v}' AND b > 2", 3, None)
    assert typed is not plan and shifted is not plan
    assert shifted is not None and shifted.sql == '"a"::text = $4 AND "b" > $5'
    assert plan is not None and plan.params({"v": "one"}) == ["one", 2]
    assert plan.params({"v": "two"}) == ["two", 2]
    assert plan.params(None) == ["${v}", 2]


def test_parameter_cap_counts_offset_plus_params() -> None:
    assert build_pg_where("a = 1", 65_534)[0] == '"a"::text = $65535'
    assert build_pg_where("a = null", 65_535)[0] == '"a" IS NULL'
    assert build_pg_where("a = null AND t < now()", 70_000)[0] == '"a" IS NULL AND "t" < now()'  # none bound


def test_placeholders_read_the_same_past_the_table_of_the_first_thousand() -> None:
    """`$1`…`$1023` come from a table, the rest are formatted: the text is the same either way."""
    for offset in (0, 1021, 1022, 1023, 5000):
        sql, _ = build_pg_where("a IN (1, 2, 3)", offset)
        assert sql == f'"a"::text IN (${offset + 1}, ${offset + 2}, ${offset + 3})'
