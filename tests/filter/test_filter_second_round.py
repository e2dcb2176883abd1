"""CONTRACT §12 and the 0.2 hardening of the filter: properties over the new tokens, error places, limits.

* the §12 table, row by row (and the same rows with types known);
* hypothesis over expressions that mix the first round's forms with paths, containment and search:
  only ``FilterError``, no binding value or JSON key in the SQL text, and pglast as the oracle (the only
  function calls are ``now``, ``to_tsvector`` and ``websearch_to_tsquery``);
* over a Unicode alphabet (``ſ``, ``ı``, ``İ``, ``K`` among ASCII keyword letters): only ``FilterError``,
  and the fast path agrees with the full parser on every input;
* every error carries ``expr`` and, when it comes from a token, a ``pos`` inside it;
* the expression cap, the refusal cost, and the parse cache's character bound.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import pglast
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import ast

from axonstore.errors import (
    FilterError,
    FilterTooLong,
    InvalidIdentifier,
    TooManyParameters,
    UnexpectedChar,
)
from axonstore.filter import build_pg_where, compile_where, parse_cache_info, parse_filter, plan_for
from axonstore.filter._parser import parse
from tests.filter.conftest import FULL_RUN
from tests.filter.test_filter_properties import CONDITION, STRING, VALUE, check_tree

NATIVE = settings(max_examples=1_500 if FULL_RUN else 200, deadline=None)

TABLE = [
    ("meta->>'status' = 'open'", '"meta"->>$1 = $2', ["status", "open"]),
    ("meta->'a'->>'b' IN ('x', 'y')", '"meta"->$1->>$2 IN ($3, $4)', ["a", "b", "x", "y"]),
    ("meta->>'n' > 5", '("meta"->>$1)::numeric > $2', ["n", 5]),
    ("meta->'a' IS NULL", '"meta"->$1 IS NULL', ["a"]),
    ('meta @> \'{"tier": "gold"}\'', '"meta" @> $1::jsonb', ['{"tier": "gold"}']),
    ("tags @> ('a', 'b')", '"tags" @> ARRAY[$1, $2]', ["a", "b"]),
    ("tags && ('a')", '"tags" && ARRAY[$1]', ["a"]),
    ("tags <@ ('a', 'b')", '"tags" <@ ARRAY[$1, $2]', ["a", "b"]),
    (
        "body @@ 'postgres -mysql \"connection pool\"'",
        'to_tsvector($1::regconfig, "body") @@ websearch_to_tsquery($1::regconfig, $2)',
        ["simple", 'postgres -mysql "connection pool"'],
    ),
]
KNOWN = {"tags": "_text", "body": "tsvector", "meta": "jsonb"}
TABLE_KNOWN = {
    "tags @> ('a', 'b')": '"tags" @> ARRAY[$1::text, $2::text]',
    "tags && ('a')": '"tags" && ARRAY[$1::text]',
    "tags <@ ('a', 'b')": '"tags" <@ ARRAY[$1::text, $2::text]',
    "body @@ 'postgres -mysql \"connection pool\"'": '"body" @@ websearch_to_tsquery($1::regconfig, $2)',
}


@pytest.mark.parametrize(("expr", "sql", "params"), TABLE)
def test_each_row_of_the_contract_table(expr: str, sql: str, params: list[Any]) -> None:
    assert build_pg_where(expr) == (sql, params)
    known_sql, _ = build_pg_where(expr, column_types=KNOWN)
    assert known_sql == TABLE_KNOWN.get(expr, sql)


def test_the_text_search_configuration_is_a_parameter_everywhere() -> None:
    expr = "body @@ 'pool'"
    assert build_pg_where(expr, text_search="english")[1] == ["english", "pool"]
    parsed, plan = compile_where(expr, 2, None, None, text_search="pg_catalog.german")
    assert plan is not None and plan.params(None) == ["pg_catalog.german", "pool"]
    assert parsed is not None
    assert plan_for(parsed, 2, None).params(None) == ["simple", "pool"]  # the positional form still works
    assert plan_for(parsed, 2, None, text_search="english").sql.startswith("to_tsvector($3::regconfig")
    for bad in ("english; DROP", "", "a.b.c", 5):
        with pytest.raises(InvalidIdentifier):
            build_pg_where(expr, text_search=bad)  # type: ignore[arg-type]


# ---- generated expressions with the new forms ----------------------------------------------------------

KEY = st.one_of(STRING, st.integers(0, 40).map(str), st.sampled_from(["-1", "a", "2147483648", "1.5"]))
PATH = st.builds(
    lambda col, steps, last: col + "".join(f"->{k}" for k in steps[:-1]) + f"{last}{steps[-1]}",
    st.sampled_from(["meta", "doc", "NOT", "m"]),
    st.lists(KEY, min_size=1, max_size=9),
    st.sampled_from(["->", "->>", "->>", "->> "]),
)
LIST = st.lists(VALUE, min_size=0, max_size=4).map(lambda vs: f"({', '.join(vs)})")
JSON_LITERAL = st.sampled_from(
    [
        "'{\"a\": 1}'",
        "'[1, 2]'",
        "'\"s\"'",
        '\'{"k": "${v}"}\'',
        "'{'",
        "'nan'",
        "'${v}'",
        "'{\"a\": [${w}]}'",
    ]
)
PATH_OPS = st.sampled_from(["=", "!=", "<", ">=", "LIKE", "NOT ILIKE"])
NOT = st.sampled_from(["", "NOT "])
CONTAIN_OPS = st.sampled_from(["@>", "<@", "&&"])
NEW_CONDITION = st.one_of(
    st.builds(lambda p, op, v: f"{p} {op} {v}", PATH, PATH_OPS, VALUE),
    st.builds(lambda p, n: f"{p} IS {n}NULL", PATH, NOT),
    st.builds(lambda p, n, lst: f"{p} {n}IN {lst}", PATH, NOT, LIST),
    st.builds(lambda c, lit: f"{c} @> {lit}", st.sampled_from(["meta", "tags"]), JSON_LITERAL),
    st.builds(lambda c, op, lst: f"{c} {op} {lst}", st.sampled_from(["tags", "nums"]), CONTAIN_OPS, LIST),
    st.builds(lambda c, q: f"{c} @@ {q}", st.sampled_from(["body", "tsv"]), st.one_of(STRING, VALUE)),
)
EXPR2 = st.recursive(
    st.one_of(NEW_CONDITION, CONDITION),
    lambda inner: st.builds(
        lambda a, conn, b, wrap: (f"({a} {conn} {b})", f"NOT {a} {conn} {b}", f"{a} {conn} {b}")[wrap],
        inner,
        st.sampled_from(["AND", "OR"]),
        inner,
        st.integers(0, 2),
    ),
    max_leaves=5,
)
MARK = "§"
BINDINGS = st.lists(st.text(max_size=6), min_size=2, max_size=2).map(
    lambda vs: {"v": f"{vs[0]}{MARK}0", "w": f"{vs[1]}{MARK}1"}
)
TYPES = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "meta": st.sampled_from(["jsonb", "json", "int4"]),
            "tags": st.sampled_from(["_text", "text", "jsonb"]),
            "nums": st.sampled_from(["_int4", "billing._tier"]),
            "body": st.sampled_from(["text", "tsvector", "int4"]),
        },
    ),
)
EXTRA_NODES = (ast.A_ArrayExpr,)
EXTRA_OPERATORS = {"->", "->>", "@>", "<@", "&&", "@@"}
FUNCTIONS = {"now", "to_tsvector", "websearch_to_tsquery"}


def _oracle(node: Any, columns: set[str]) -> None:
    """The first round's oracle, widened by exactly the §12 node kinds, operators and functions."""
    if isinstance(node, tuple):
        for item in node:
            _oracle(item, columns)
        return
    if node is None or isinstance(node, str | int | bool | float):
        return
    if isinstance(node, ast.A_Expr) and {n.sval for n in node.name or ()} <= EXTRA_OPERATORS:
        _oracle(node.lexpr, columns)
        _oracle(node.rexpr, columns)
        return
    if isinstance(node, ast.FuncCall):
        names = [name.sval for name in node.funcname or ()]
        assert len(names) == 1 and names[0] in FUNCTIONS, names
        _oracle(node.args, columns)
        return
    if isinstance(node, EXTRA_NODES):
        _oracle(node.elements, columns)
        return
    if isinstance(node, ast.TypeCast | ast.BoolExpr | ast.NullTest | ast.A_Expr):
        for field in node:
            _oracle(getattr(node, field), columns)
        return
    check_tree(node, columns)


def _check_place(error: FilterError, expr: str) -> None:
    """Every error of a compile names the expression, and any position lies inside it."""
    assert error.expr == expr
    assert error.pos is None or 0 <= error.pos <= len(expr)


@NATIVE
@given(EXPR2, st.integers(0, 30), BINDINGS, TYPES)
def test_new_forms_compile_safely_and_to_one_allowed_expression(
    expr: str, offset: int, bindings: dict[str, str], types: Any
) -> None:
    try:
        sql, params = build_pg_where(expr, offset, bindings, types)
    except FilterError as error:
        _check_place(error, expr)
        return
    # no binding value, and no JSON key, ever reaches the SQL text
    assert MARK not in sql
    for key in re.findall(r"->>?\s*'([^']*)'", expr):
        if key and key not in {"a", "b"}:
            assert f"'{key}'" not in sql
    # placeholders: each number once in order of first use (the text-search configuration repeats)
    numbers = list(dict.fromkeys(int(n) for n in re.findall(r"\$(\d+)", sql)))
    assert numbers == list(range(offset + 1, offset + len(params) + 1))
    assert all(p is not None for p in params)
    statements = pglast.parse_sql(f"SELECT 1 FROM t WHERE {sql}")
    assert len(statements) == 1 and isinstance(statements[0].stmt, ast.SelectStmt)
    parsed = parse_filter(expr, bindings)
    assert parsed is not None
    _oracle(statements[0].stmt.whereClause, set(parsed.columns))


# ---- Unicode that Python folds (issue 18, item 3) ------------------------------------------------------

FOLDING = "ſıİKk"
UNICODE_TEXT = st.text(st.sampled_from(list("aeilknorstuwfbIS ()'=,<>-1") + list(FOLDING)), max_size=24)
KEYWORD_SWAPS = st.builds(
    lambda cond, i, ch: cond[:i] + ch + cond[i + 1 :] if cond else cond,
    CONDITION,
    st.integers(0, 30),
    st.sampled_from(list(FOLDING)),
)


@NATIVE
@given(st.one_of(UNICODE_TEXT, KEYWORD_SWAPS))
def test_over_a_unicode_alphabet_only_filter_errors_and_one_answer(expr: str) -> None:
    """Letters Python folds onto ASCII keywords are refused by the lexer, and the parse through the
    cache equals the parse without it."""
    try:
        direct = parse(expr, lambda text: text)
    except FilterError as error:
        with pytest.raises(type(error)):
            parse_filter(expr)
        return
    cached = parse_filter(expr)
    assert (direct is None) == (cached is None)
    if direct is not None and cached is not None:
        assert (direct.root, direct.columns, direct.conditions) == (
            cached.root,
            cached.columns,
            cached.conditions,
        )
    with contextlib.suppress(FilterError):
        build_pg_where(expr)


@pytest.mark.parametrize(
    ("expr", "ch", "pos"),
    [
        ("name li\u212ae 'x%'", "\u212a", 7),
        ("flag = fal\u017fe", "\u017f", 10),
        ("name l\u0131ke 'x%'", "\u0131", 6),
        ("a \u0131s null", "\u0131", 2),
        ("id \u0131n (1, 2)", "\u0131", 3),
        ("(id \u0130N (1, 2))", "\u0130", 4),
    ],
)
def test_letters_that_fold_to_ascii_are_unexpected_characters(expr: str, ch: str, pos: int) -> None:
    with pytest.raises(UnexpectedChar) as raised:
        build_pg_where(expr)
    assert (raised.value.ch, raised.value.pos, raised.value.expr) == (ch, pos, expr)


# ---- error places (issue 9, item 3) --------------------------------------------------------------------

PLACES = [
    ("a = ;", 4),
    ("a = 1 b = 2", 6),
    ("a = 1 AND", 6),
    ("a", 1),
    ("a = ", 4),
    ("a LIKE 5", 7),
    ("a > null", 4),
    ("a = x", 4),
    ("a = 1.2.3", 4),
    ("t > now() + interval '3 parsecs'", 21),
    ("a IN (1, null)", 9),
    ("(" * 33 + "a = 1" + ")" * 33, 32),
    ("a = 1 OR " * 256 + "a = 1", 2304),
    ("meta->'k' = 1", 10),
    ("a IN (1,)", 7),
]


@pytest.mark.parametrize(("expr", "pos"), PLACES)
def test_errors_from_a_token_carry_its_position_and_the_expression(expr: str, pos: int) -> None:
    with pytest.raises(FilterError) as raised:
        build_pg_where(expr)
    assert (raised.value.pos, raised.value.expr) == (pos, expr)


def test_errors_without_a_place_say_so() -> None:
    with pytest.raises(TooManyParameters) as raised:
        build_pg_where("a IN (1, 2)", 65_534)
    assert raised.value.pos is None


# ---- limits: the expression cap, the refusal cost, the cache bound (issue 18, item 5) -------------------


@pytest.mark.parametrize(
    "shape",
    ["a = 1 OR ", "a IN (" + "1, " * 10, "(", "NOT ", " ", "é"],
    ids=["conditions", "in-list", "parens", "nots", "whitespace", "text"],
)
def test_refusing_a_huge_input_costs_little_whatever_its_size(shape: str) -> None:
    for size in (1 << 20, 10 << 20):
        expr = shape * (size // len(shape))
        start = time.perf_counter()
        with pytest.raises(FilterTooLong) as raised:
            build_pg_where(expr)
        assert time.perf_counter() - start < 0.05
        assert (raised.value.limit, raised.value.length) == (65_536, len(expr))


def test_the_longest_allowed_expression_compiles_and_one_more_character_does_not() -> None:
    expr = "a = 1 AND " * 255 + "a = 1"
    expr += " " * (65_536 - len(expr))
    assert build_pg_where(expr)[1] == [1] * 256
    with pytest.raises(FilterTooLong):
        build_pg_where(expr + " ")


def test_the_parse_cache_is_bounded_by_characters_and_skips_huge_inputs() -> None:
    before = parse_cache_info()
    huge = "a = '" + "x" * 9_000 + "'"  # over 8 192 characters: parsed, never held
    for _ in range(2):
        parse_filter(huge)
    assert parse_cache_info().misses - before.misses == 2
    for n in range(300):  # 300 distinct 8 000-character filters: far more than the character budget
        parse_filter(f"b = {n} AND a = '" + "x" * 8_000 + "'")
    info = parse_cache_info()
    assert info.chars <= 1 << 20
    assert info.currsize <= 4096
