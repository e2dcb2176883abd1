"""``order_by`` / ``limit`` / ``aggregate`` / ``group_by`` (ANCHOR §3.11–§3.12)."""

from __future__ import annotations

import pytest

from axonstore.errors import BadAggregate, BadGroupBy, BadLimit, BadOrderBy
from axonstore.filter import (
    Aggregate,
    parse_aggregate,
    parse_aggregate_clause,
    parse_group_by,
    parse_limit,
    parse_order_by,
    render_aggregate_select,
    render_bounds,
    render_group_by_suffix,
)

BINDINGS = {"max": "50", "neg": "-1", "sp": " 7 "}


@pytest.mark.parametrize(
    ("order_by", "limit", "expected"),
    [
        ("last_activity_at asc, id desc", "100", ' ORDER BY "last_activity_at" ASC, "id" DESC LIMIT 100'),
        ("id desc", "", ' ORDER BY "id" DESC'),
        ("", "25", " LIMIT 25"),
        ("x", "0", ' ORDER BY "x" ASC LIMIT 0'),
        ("", "", ""),
        ("  ", "  ", ""),
    ],
)
def test_render_bounds(order_by: str, limit: str, expected: str) -> None:
    assert render_bounds(order_by, limit, BINDINGS) == expected


def test_order_by_keys() -> None:
    assert parse_order_by("a DESC ,  b") == [("a", "DESC"), ("b", "ASC")]
    assert parse_order_by("a\u3000desc") == [("a", "DESC")]


@pytest.mark.parametrize(
    "expr", ["id sideways", "id; DROP TABLE x", "a asc b", "a,,b", "a,", ",a", '"a" desc', "1a", "a.b"]
)
def test_bad_order_by(expr: str) -> None:
    with pytest.raises(BadOrderBy):
        parse_order_by(expr)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("${max}", 50),
        ("$max", 50),
        ("${sp}", 7),
        ("+5", 5),
        ("007", 7),
        ("4294967295", 4294967295),
        (" ", None),
    ],
)
def test_limit(expr: str, expected: int | None) -> None:
    assert parse_limit(expr, BINDINGS) == expected


@pytest.mark.parametrize(
    "expr", ["${neg}", "${missing}", "-5", "abc", "3.5", "4294967296", "1; DROP TABLE x", "+", "٣", "1 2"]
)
def test_bad_limit(expr: str) -> None:
    with pytest.raises(BadLimit):
        parse_limit(expr, BINDINGS)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("", None),
        ("count", ("count", None)),
        ("COUNT", ("count", None)),
        ("sum(amount)", ("sum", "amount")),
        (" Avg ( x ) ", ("avg", "x")),
        ("min(a)", ("min", "a")),
        ("max(b)", ("max", "b")),
    ],
)
def test_parse_aggregate(expr: str, expected: object) -> None:
    assert parse_aggregate(expr) == expected


@pytest.mark.parametrize(
    "expr",
    ["count(id)", "count(*)", "sum", "sum()", "sum(1id)", 'sum("x")', "max(a)(b)", "median(x)", "sum(x"],
)
def test_bad_aggregate(expr: str) -> None:
    with pytest.raises(BadAggregate):
        parse_aggregate(expr)


@pytest.mark.parametrize("expr", ["a,,b", "a,a", "1a", "a,", "a b"])
def test_bad_group_by(expr: str) -> None:
    with pytest.raises(BadGroupBy):
        parse_group_by(expr)


def test_aggregate_clause_rules() -> None:
    agg = parse_aggregate_clause("count", "industry")
    assert agg == Aggregate("count", None, ("industry",))
    assert render_aggregate_select(agg) == '"industry", count(*) AS "count"'
    assert render_group_by_suffix(agg) == ' GROUP BY "industry"'
    summed = parse_aggregate_clause("sum(amount)", "a, b")
    assert summed is not None
    assert render_aggregate_select(summed) == '"a", "b", sum("amount")::float8 AS "sum"'
    assert render_group_by_suffix(summed) == ' GROUP BY "a", "b"'
    maxed = parse_aggregate_clause("max(x)", "")
    assert maxed is not None and render_aggregate_select(maxed) == 'max("x") AS "max"'
    assert render_group_by_suffix(maxed) == ""
    assert parse_aggregate_clause("", "") is None
    with pytest.raises(BadGroupBy):
        parse_aggregate_clause("", "a")
    with pytest.raises(BadAggregate):
        parse_aggregate_clause("count", "", order_by="a")
    with pytest.raises(BadAggregate):
        parse_aggregate_clause("count", "", limit="5")
    with pytest.raises(BadGroupBy):
        parse_aggregate_clause("sum(a)", "a")
