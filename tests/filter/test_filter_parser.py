"""Stage 2: the tree, precedence, and every FilterError variant with its fields (CONTRACT §5)."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest

from axonstore import errors
from axonstore.filter import (
    build_pg_where,
    parse_aggregate_clause,
    parse_filter,
    parse_limit,
    parse_order_by,
)
from axonstore.filter._ast import (
    And,
    Between,
    Compare,
    Group,
    InList,
    JsonPath,
    Not,
    NullTest,
    Or,
    PathCompare,
    TimeCompare,
    Value,
)
from axonstore.filter._parser import parse


def full_parse(expr: str) -> Any:
    parsed = parse(expr, lambda text: text)
    return parsed.root if parsed else None


def test_and_binds_tighter_than_or_in_the_tree() -> None:
    root = full_parse("a = 1 OR b = 2 AND c = 3 OR d = 4")
    assert isinstance(root, Or)
    assert [type(item) for item in root.items] == [Compare, And, Compare]


def _cases(word: str) -> list[str]:
    return ["".join(chars) for chars in itertools.product(*({c.lower(), c.upper()} for c in word))]


def test_every_ascii_spelling_of_a_keyword_is_that_keyword() -> None:
    # the parser matches AND / OR / NOT by tables of their spellings: each must read as the keyword
    for spelling in _cases("and"):
        assert build_pg_where(f"a = 1 {spelling} b = 2") == build_pg_where("a = 1 AND b = 2")
    for spelling in _cases("or"):
        assert build_pg_where(f"a = 1 {spelling} b = 2") == build_pg_where("a = 1 OR b = 2")
    for spelling in _cases("not"):
        assert build_pg_where(f"{spelling} a = 1") == build_pg_where("NOT a = 1")
        assert build_pg_where(f"{spelling} = 1") == (f'"{spelling}"::text = $1', [1])  # NOT, a column
    for near in ("ANDs", "AN", "O", "\u212a"):  # a longer word, prefixes, the Kelvin sign
        with pytest.raises(errors.FilterError):
            build_pg_where(f"a = 1 {near} b = 2")


def test_groups_and_not_are_kept_where_they_stood() -> None:
    root = full_parse("NOT (a = 1 OR b IS NULL) AND c IN ('x')")
    assert isinstance(root, And)
    negation, in_list = root.items
    assert isinstance(negation, Not) and isinstance(negation.child, Group)
    assert isinstance(in_list, InList) and in_list.values == (Value("text", "x"),)


def test_condition_forms() -> None:
    assert full_parse("a BETWEEN 1 AND 'z'") == Between("a", Value("integer", 1), Value("text", "z"), False)
    assert full_parse("a NOT IN (true, 2.5)") == InList(
        "a", (Value("boolean", True), Value("float", 2.5)), True
    )
    assert full_parse("a IS NOT NULL") == NullTest("a", True)
    assert full_parse("a != null") == NullTest("a", True)
    assert full_parse("t >= now() + interval '2 Weeks'") == TimeCompare("t", ">=", "+", 2, "week")
    assert full_parse("NOT NOT = 1") == Not(Compare("NOT", "=", Value("integer", 1)))
    assert full_parse("in = 'x' AND is = 1")  # keywords are still legal column names


def test_parse_filter_keeps_templates_and_lists_columns() -> None:
    parsed = parse_filter("b = '${x}' AND a > 1 AND b < 3")
    assert parsed is not None
    assert parsed.columns == ("b", "a")
    assert parsed.conditions == 3
    assert parse_filter("   ") is None


def test_the_parsers_shortcuts_build_the_trees_its_general_steps_build() -> None:
    """The one parser reads the commonest tokens (a plain string or integer after a comparison, in a
    list, as a path key) without a call; escaped strings, signs, decimals and big numbers take the
    general steps. Both build the same nodes."""
    text, integer = Value("text", "x"), Value("integer", 7)
    assert full_parse("a = 'x'") == full_parse('a = "x"') == Compare("a", "=", text)
    assert full_parse("a = 'x\\y'") == Compare("a", "=", Value("text", "xy"))
    assert full_parse("a >= 7") == full_parse("a >= 007") == Compare("a", ">=", integer)
    assert full_parse("a < -7") == Compare("a", "<", Value("integer", -7))
    assert full_parse("a = 9223372036854775807") == Compare("a", "=", Value("integer", 2**63 - 1))
    assert full_parse("a = 9223372036854775808") == Compare("a", "=", Value("float", 2.0**63))
    assert full_parse("a IN ('x', 7, 'y\\'z')") == InList("a", (text, integer, Value("text", "y'z")), False)
    path = JsonPath("m", (Value("text", "k"), Value("integer", 0)), True, 1)
    assert full_parse("m->'k'->>0 = 'x'") == full_parse('m->"k"->>0 = "x"') == PathCompare(path, "=", text)
    assert full_parse("m->'k'->>0 = 'x\\'y'") == PathCompare(path, "=", Value("text", "x'y"))
    assert full_parse("a LIKE 'x' OR a = 'x'") == Or((Compare("a", "LIKE", text), Compare("a", "=", text)))
    for expr in ("a LIKE 5", "a > null", "a = 1.2.3", "a IN (null)", "a IN ()", "a = now"):
        with pytest.raises(errors.FilterError):
            full_parse(expr)


def test_interval_is_validated_after_interpolation_and_not_cached_wrongly() -> None:
    expr = "t < now() - interval '${n} minutes'"
    assert build_pg_where(expr, bindings={"n": "5"})[0] == "\"t\" < now() - interval '5 minute'"
    with pytest.raises(errors.BadTimeValue):
        build_pg_where(expr, bindings={"n": "5; DROP"})
    assert build_pg_where(expr, bindings={"n": "7"})[0] == "\"t\" < now() - interval '7 minute'"


def test_found_text_of_a_string_token_is_interpolated() -> None:
    with pytest.raises(errors.ExpectedConnector) as raised:
        build_pg_where("a = 'x' '${v}'", bindings={"v": "hello"})
    assert raised.value.found == "'hello'"
    with pytest.raises(errors.ExpectedConnector) as raised:
        build_pg_where("a = 'x' '${v}'", bindings={"v": "other"})
    assert raised.value.found == "'other'"


# One row per variant: the call, the class, the fields it must carry.
DEEP = "(" * 33 + "a = 1" + ")" * 33
VARIANTS: list[tuple[Any, type[errors.FilterError], dict[str, Any]]] = [
    (lambda: build_pg_where("a = 1 ;"), errors.UnexpectedChar, {"ch": ";", "pos": 6}),
    (lambda: build_pg_where("a IN (1,)"), errors.UnexpectedChar, {"ch": ",", "pos": 7}),
    (lambda: build_pg_where("a IN (,1)"), errors.UnexpectedChar, {"ch": ",", "pos": 6}),
    (lambda: build_pg_where("a = 1 AND , b"), errors.UnexpectedChar, {"ch": ",", "pos": 10}),
    (lambda: build_pg_where("a = 'x"), errors.UnterminatedString, {"pos": 4}),
    (lambda: build_pg_where("a = 1.2.3"), errors.InvalidNumber, {"token": "1.2.3"}),
    (lambda: build_pg_where("a IN (1, 9" + "9" * 400 + ".5)"), errors.InvalidNumber, {}),
    (lambda: build_pg_where("'x' = 1"), errors.ExpectedColumn, {"found": "'x'"}),
    (lambda: build_pg_where("a = 1 OR )"), errors.ExpectedColumn, {"found": ")"}),
    (lambda: build_pg_where("c" * 64 + " = 1"), errors.ColumnTooLong, {"column": "c" * 64, "len": 64}),
    (lambda: build_pg_where("a NOT = 1"), errors.ExpectedOperator, {"column": "a", "found": "NOT"}),
    (lambda: build_pg_where("a ILIKEx 'x'"), errors.ExpectedOperator, {"column": "a", "found": "ILIKEx"}),
    (lambda: build_pg_where("a = 1 AND b"), errors.MissingOperator, {"column": "b"}),
    (lambda: build_pg_where("NOT"), errors.MissingOperator, {"column": "NOT"}),
    (lambda: build_pg_where("a = )"), errors.ExpectedValue, {"found": ")"}),
    (lambda: build_pg_where("a IS TRUE"), errors.ExpectedValue, {"found": "TRUE"}),
    (lambda: build_pg_where("a IS NOT 'x'"), errors.ExpectedValue, {"found": "'x'"}),
    (lambda: build_pg_where("a BETWEEN NOW AND 2"), errors.ExpectedValue, {"found": "NOW"}),
    (lambda: build_pg_where("a IN (Now())"), errors.ExpectedValue, {"found": "Now"}),
    (lambda: build_pg_where("a IN 'x'"), errors.ExpectedValue, {"found": "'x'"}),
    (lambda: build_pg_where("a ="), errors.MissingValue, {"column": "a"}),
    (lambda: build_pg_where("a IS NOT"), errors.MissingValue, {"column": "a"}),
    (lambda: build_pg_where("a IN (1,"), errors.MissingValue, {"column": "a"}),
    (lambda: build_pg_where("a BETWEEN 1"), errors.MissingValue, {"column": "a"}),
    (lambda: build_pg_where("a NOT BETWEEN"), errors.MissingValue, {"column": "a"}),
    (lambda: build_pg_where("a = b"), errors.UnquotedValue, {"token": "b"}),
    (lambda: build_pg_where("a BETWEEN x AND 2"), errors.UnquotedValue, {"token": "x"}),
    (lambda: build_pg_where("a = 1 b = 2"), errors.ExpectedConnector, {"found": "b"}),
    (lambda: build_pg_where("a BETWEEN 1 2"), errors.ExpectedConnector, {"found": "2"}),
    (lambda: build_pg_where("a = 1 OR"), errors.DanglingConnector, {"connector": "OR"}),
    (lambda: build_pg_where("(a = 1 and"), errors.DanglingConnector, {"connector": "AND"}),
    (lambda: build_pg_where("a >= null"), errors.NullWithNonEqualityOp, {"column": "a", "op": ">="}),
    (
        lambda: build_pg_where("a NOT LIKE null"),
        errors.NullWithNonEqualityOp,
        {"column": "a", "op": "NOT LIKE"},
    ),
    (lambda: build_pg_where("a NOT ILIKE null"), errors.NullWithNonEqualityOp, {"op": "NOT ILIKE"}),
    (lambda: build_pg_where("a ILIKE 1.5"), errors.LikeRequiresText, {"column": "a", "found": "float"}),
    (lambda: build_pg_where("a NOT ILIKE false"), errors.LikeRequiresText, {"found": "boolean"}),
    (
        lambda: build_pg_where(" AND ".join(f"c{i} IN ({i})" for i in range(257))),
        errors.TooManyConditions,
        {"limit": 256},
    ),
    (lambda: build_pg_where("t < now("), errors.BadTimeValue, {"detail": "expected `now()`"}),
    (
        lambda: build_pg_where("t < now() - interval 5"),
        errors.BadTimeValue,
        {"detail": "expected a quoted interval like '30 minutes'"},
    ),
    (
        lambda: build_pg_where("t < now() - interval '1 2 3'"),
        errors.BadTimeValue,
        {"detail": "interval '1 2 3' must be '<number> <unit>'"},
    ),
    (lambda: build_pg_where("t ILIKE now()"), errors.LikeWithTime, {}),
    (lambda: build_pg_where("t NOT LIKE now"), errors.LikeWithTime, {}),
    (
        lambda: parse_order_by("a sideways"),
        errors.BadOrderBy,
        {"detail": "direction `sideways` on column `a` is not `asc` or `desc`"},
    ),
    (
        lambda: parse_limit("${n}", {"n": "-1"}),
        errors.BadLimit,
        {"detail": "`-1` is not a non-negative integer in `u32` range"},
    ),
    (
        lambda: parse_aggregate_clause("median(x)", ""),
        errors.BadAggregate,
        {"detail": "`median` is not an aggregate function"},
    ),
    (lambda: parse_aggregate_clause("", "region"), errors.BadGroupBy, {}),
    (lambda: build_pg_where("a NOT IN ()"), errors.EmptyInList, {"column": "a"}),
    (lambda: build_pg_where("a IN ('x', NULL, 'y')"), errors.NullInList, {"column": "a"}),
    (
        lambda: build_pg_where("a IN (" + ", ".join(["1"] * 300) + ")"),
        errors.TooManyValues,
        {"column": "a", "limit": 256},
    ),
    (lambda: build_pg_where(DEEP), errors.TooDeep, {"limit": 32}),
    (lambda: build_pg_where("NOT " * 33 + "a = 1"), errors.TooDeep, {"limit": 32}),
    (lambda: build_pg_where("(a = 1"), errors.UnbalancedParen, {"pos": 0}),
    (lambda: build_pg_where("((a = 1) OR (b = 2)"), errors.UnbalancedParen, {"pos": 0}),
    (lambda: build_pg_where("a = 1))"), errors.UnbalancedParen, {"pos": 5}),
    (lambda: build_pg_where("a IN (1 2)"), errors.UnbalancedParen, {"pos": 5}),
    (lambda: build_pg_where("a IN (1"), errors.UnbalancedParen, {"pos": 5}),
    (lambda: build_pg_where("("), errors.UnbalancedParen, {"pos": 0}),
    (lambda: build_pg_where("a IN (1, 2)", 65_534), errors.TooManyParameters, {"limit": 65_535}),
    (
        lambda: build_pg_where("a = 1 OR " * 8000 + "a = 1"),
        errors.FilterTooLong,
        {"limit": 65_536, "length": 72_005},
    ),
    (lambda: build_pg_where("m->'a' = 1"), errors.BadJsonPath, {"pos": 7}),
    (lambda: build_pg_where("m @> '{\"a\": }'"), errors.BadJsonLiteral, {"pos": 5}),
    (
        lambda: build_pg_where("n @> ('a')", column_types={"n": "int4"}),
        errors.OperatorNotForType,
        {"column": "n", "op": "@>", "pg_type": "int4", "pos": 2},
    ),
]


@pytest.mark.parametrize(("call", "error_class", "fields"), VARIANTS)
def test_error_variant(call: Any, error_class: type[errors.FilterError], fields: dict[str, Any]) -> None:
    with pytest.raises(error_class) as raised:
        call()
    assert type(raised.value) is error_class
    for name, expected in fields.items():
        assert getattr(raised.value, name) == expected, name
    assert isinstance(raised.value, errors.StoreError)
    assert str(raised.value)  # every error says something


def test_every_filter_error_variant_is_provoked_above() -> None:
    variants = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.FilterError) and cls not in (errors.FilterError, errors.BadColumns)
    }
    assert variants == {error_class for _, error_class, _ in VARIANTS}


def test_exactly_256_in_values_and_32_levels_are_allowed() -> None:
    sql, params = build_pg_where("a IN (" + ", ".join(map(str, range(256))) + ")")
    assert len(params) == 256 and sql.endswith("$256)")
    assert build_pg_where("NOT " * 32 + "a = 1")[0].startswith("NOT (" * 32)
    assert build_pg_where("NOT (" * 16 + "a = 1" + ")" * 16)[1] == [1]
