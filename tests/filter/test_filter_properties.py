"""Properties over generated expressions (issue 3, item 6): totality, numbering, no injection, and a real
PostgreSQL parser (pglast) as the oracle for every clause that compiles.

Two layers: hypothesis-native grammar strategies (they shrink a failure to a small example), and
seed-driven batches from ``_generate`` (fast: each hypothesis seed checks a batch of generated cases).
Under CI=true the batches check 4 × 30 000 = 120 000 generated cases per run.
"""

from __future__ import annotations

import re
from typing import Any

import pglast
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import ast

from axonstore.errors import FilterError
from axonstore.filter import build_pg_where, parse_filter, reusable
from axonstore.filter._parser import parse
from tests.filter._generate import MARK as GEN_MARK
from tests.filter._generate import Generator, batch
from tests.filter.conftest import FULL_RUN

BATCH_SEEDS = 600 if FULL_RUN else 60
BATCH_SIZE = 50
NATIVE = settings(max_examples=1_000 if FULL_RUN else 150, deadline=None)
SEEDS = st.integers(0, 2**64)

# ---- a generator of (mostly) well-formed expressions ---------------------------------------------------

SPACE = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\u3000", "\xa0"])
COLUMN = st.one_of(
    st.sampled_from(["a", "b", "id", "name", "NOT", "in", "now", "and", "_x1", "Amount", "is", "between"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
)
BINDING_NAMES = ["v", "w", "tenant", "obj"]
TEXT_PIECE = st.one_of(
    st.text(st.characters(exclude_characters="§"), max_size=6),  # § marks binding values only
    st.sampled_from([f"${{{n}}}" for n in BINDING_NAMES] + [f"${n}" for n in BINDING_NAMES] + ["${obj.k}"]),
)


def quote(content: str, mark: str) -> str:
    escaped = content.replace("\\", "\\\\").replace(mark, "\\" + mark)
    return f"{mark}{escaped}{mark}"


STRING = st.builds(quote, st.lists(TEXT_PIECE, max_size=4).map("".join), st.sampled_from(["'", '"']))
NUMBER = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.6f}"),
    st.sampled_from(["007", "-0", "1.", "0.5"]),
)
KEYWORD = st.sampled_from(["true", "FALSE", "null", "Null", "TRUE"])
VALUE = st.one_of(STRING, NUMBER, KEYWORD)
BOUND = st.one_of(STRING, NUMBER, st.sampled_from(["true", "false"]))
OP = st.sampled_from(
    ["=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "like", "ILIKE", "NOT LIKE", "not ilike"]
)
UNIT = st.sampled_from(["second", "minutes", "HOUR", "days", "week", "months", "year"])
TIME = st.one_of(
    st.just("now()"),
    st.builds(
        lambda sign, n, unit, sp: f"now(){sp}{sign}{sp}interval{sp}'{n} {unit}'",
        st.sampled_from(["+", "-"]),
        st.integers(0, 2**32 - 1),
        UNIT,
        SPACE,
    ),
    st.just("now() - interval '${v} minutes'"),
)


def condition(
    col: str, form: int, op: str, value: str, values: list[str], low: str, high: str, time: str, sp: str
) -> str:
    if form == 0:
        return f"{col}{sp}{op}{sp}{value}"
    if form == 1:
        return f"{col} IS {'NOT ' if op.startswith('N') else ''}NULL"
    if form == 2:
        return f"{col}{sp}{'NOT ' if len(op) % 2 else ''}IN{sp}({', '.join(values)})"
    if form == 3:
        return f"{col} {'NOT ' if len(op) % 2 else ''}BETWEEN {low} AND {high}"
    return f"{col}{sp}{op if op[0] in '<>=!' else '<'}{sp}{time}"


CONDITION = st.builds(
    condition,
    COLUMN,
    st.integers(0, 4),
    OP,
    VALUE,
    st.lists(BOUND, min_size=1, max_size=5),
    BOUND,
    BOUND,
    TIME,
    SPACE,
)


def combine(children: list[str], connectors: list[str], wrap: list[int]) -> str:
    out = children[0]
    for child, connector in zip(children[1:], connectors, strict=False):
        out = f"{out} {connector} {child}"
    return {0: out, 1: f"({out})", 2: f"NOT ({out})", 3: f"NOT {out}" if len(children) == 1 else out}[wrap[0]]


EXPR = st.recursive(
    CONDITION,
    lambda inner: st.builds(
        combine,
        st.lists(inner, min_size=1, max_size=3),
        st.lists(st.sampled_from(["AND", "OR", "and", "Or"]), min_size=2, max_size=2),
        st.lists(st.integers(0, 3), min_size=1, max_size=1),
    ),
    max_leaves=6,
)


def mutate(expr: str, data: st.DataObject) -> str:
    """Damage an expression a little: insert, drop or replace characters."""
    chars = list(expr)
    for _ in range(data.draw(st.integers(0, 3))):
        where = data.draw(st.integers(0, len(chars)))
        action = data.draw(st.integers(0, 2))
        piece = data.draw(st.sampled_from([*"()',\";$-+=!<>%:.\\", "AND", "NOT", " ", "é", "IN"]))
        if action == 0:
            chars.insert(where, piece)
        elif chars and where < len(chars):
            if action == 1:
                del chars[where]
            else:
                chars[where] = piece
    return "".join(chars)


HOSTILE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["'", "''", '"', "'; DROP TABLE t; --", "$1", "${v}", ")", "(", "\n", "\\", "é", "%", "--"]
    ),
)
MARK = "§"  # never produced by the generator outside bindings


def hostile_bindings(values: list[str]) -> dict[str, str]:
    return {
        name: f"{value}{MARK}{i}" for i, (name, value) in enumerate(zip(BINDING_NAMES, values, strict=False))
    }


BINDINGS = st.lists(HOSTILE, min_size=4, max_size=4).map(hostile_bindings)
COLUMN_TYPES = st.one_of(
    st.none(),
    st.dictionaries(
        COLUMN, st.sampled_from(["int4", "text", "uuid", "billing.tier", "bad type", "x.y.z"]), max_size=4
    ),
)


def compile_or_none(expr: str, offset: int, bindings: Any, types: Any) -> tuple[str, list[Any]] | None:
    try:
        return build_pg_where(expr, offset, bindings, types)
    except FilterError:
        return None


# ---- (a) totality -------------------------------------------------------------------------------------


@NATIVE
@given(st.one_of(st.text(), EXPR), st.data())
def test_any_input_raises_nothing_but_filter_error(expr: str, data: st.DataObject) -> None:
    damaged = mutate(expr, data)
    for candidate in (expr, damaged):
        compile_or_none(candidate, 0, data.draw(BINDINGS), data.draw(COLUMN_TYPES))


# ---- (b) numbering ------------------------------------------------------------------------------------


@NATIVE
@given(EXPR, st.integers(0, 70_000), BINDINGS, COLUMN_TYPES)
def test_placeholders_are_numbered_from_the_offset_in_order(
    expr: str, offset: int, bindings: Any, types: Any
) -> None:
    compiled = compile_or_none(expr, offset, bindings, types)
    if compiled is None:
        return
    sql, params = compiled
    numbers = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    assert numbers == list(range(offset + 1, offset + len(params) + 1))
    assert all(p is not None for p in params)


# ---- (c) no injection ---------------------------------------------------------------------------------


@NATIVE
@given(EXPR, BINDINGS, COLUMN_TYPES)
def test_no_binding_value_ever_reaches_the_sql_text(expr: str, bindings: dict[str, str], types: Any) -> None:
    compiled = compile_or_none(expr, 0, bindings, types)
    if compiled is None:
        return
    sql, params = compiled
    assert MARK not in sql
    for value in bindings.values():
        assert value not in sql
    # where a binding was used, it arrived whole, as one parameter
    used = [p for p in params if isinstance(p, str) and MARK in p]
    for param in used:
        assert any(value in param for value in bindings.values())


# ---- (d) a real parser as the oracle --------------------------------------------------------------------

ALLOWED_NODES = (
    ast.BoolExpr,
    ast.A_Expr,
    ast.NullTest,
    ast.ParamRef,
    ast.ColumnRef,
    ast.TypeCast,
    ast.TypeName,
    ast.A_Const,
    ast.FuncCall,
    ast.String,
    ast.Integer,
)
ALLOWED_OPERATORS = {
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "~~",
    "!~~",
    "~~*",
    "!~~*",
    "BETWEEN",
    "NOT BETWEEN",
    "+",
    "-",
}


def check_tree(node: Any, columns: set[str]) -> None:
    if isinstance(node, tuple):
        for item in node:
            check_tree(item, columns)
        return
    if node is None or isinstance(node, (str, int, bool, float)):
        return
    assert isinstance(node, ALLOWED_NODES), type(node).__name__
    if isinstance(node, ast.A_Expr):
        assert {name.sval for name in node.name or ()} <= ALLOWED_OPERATORS, node.name
    if isinstance(node, ast.FuncCall):
        assert [name.sval for name in node.funcname or ()] == ["now"] and not node.args
    if isinstance(node, ast.ColumnRef):
        fields: tuple[Any, ...] = node.fields or ()
        assert len(fields) == 1 and fields[0].sval in columns
    for field in node:
        check_tree(getattr(node, field), columns)


@NATIVE
@given(EXPR, st.integers(0, 100), BINDINGS, COLUMN_TYPES)
def test_every_compiled_clause_is_one_allowed_expression_to_postgresql(
    expr: str, offset: int, bindings: Any, types: Any
) -> None:
    compiled = compile_or_none(expr, offset, bindings, types)
    if compiled is None:
        return
    statements = pglast.parse_sql(f"SELECT 1 FROM t WHERE {compiled[0]}")
    assert len(statements) == 1
    select = statements[0].stmt
    assert isinstance(select, ast.SelectStmt)
    parsed = parse_filter(expr, bindings)
    assert parsed is not None
    check_tree(select.whereClause, set(parsed.columns))


# ---- the cache never changes an answer ----------------------------------------------------------------


def _same_parse(expr: str, bindings: dict[str, str]) -> None:
    """The parse through the cache is the parse without it (or the same error), and so is its SQL."""
    try:
        direct = parse(expr, lambda text: text)
        cached = parse_filter(expr, bindings)
    except FilterError:
        return  # an interval or a JSON literal may be valid or not only once its binding is read
    assert (cached is None) == (direct is None)
    if cached is not None and direct is not None and reusable(cached):
        assert (cached.root, cached.columns, cached.conditions) == (
            direct.root,
            direct.columns,
            direct.conditions,
        )
    first = compile_or_none(expr, 0, bindings, None)
    assert first == compile_or_none(expr, 0, bindings, None)  # the cached answer is the same answer


@NATIVE
@given(st.one_of(EXPR, CONDITION), BINDINGS)
def test_the_cache_agrees_with_the_parser(expr: str, bindings: dict[str, str]) -> None:
    _same_parse(expr, bindings)


# ---- the same properties over seed-driven batches (the bulk of the generated cases) -------------------


def _compiled(gen: Generator, expr: str) -> tuple[str, list[Any], dict[str, str], int] | None:
    bindings, types, offset = gen.bindings(), gen.column_types(), gen.r.choice((0, 0, 3, 65_530))
    result = compile_or_none(expr, offset, bindings, types)
    return None if result is None else (*result, bindings, offset)


@settings(max_examples=BATCH_SEEDS, deadline=None)
@given(SEEDS)
def test_batch_totality_and_numbering(seed: int) -> None:
    def check(gen: Generator, expr: str) -> None:
        compiled = _compiled(gen, expr)  # raises anything but FilterError → the test fails
        if compiled is None:
            return
        sql, params, _, offset = compiled
        assert [int(n) for n in re.findall(r"\$(\d+)", sql)] == list(
            range(offset + 1, offset + len(params) + 1)
        )
        assert None not in params

    batch(seed, BATCH_SIZE, check)


@settings(max_examples=BATCH_SEEDS, deadline=None)
@given(SEEDS)
def test_batch_no_injection(seed: int) -> None:
    def check(gen: Generator, expr: str) -> None:
        compiled = _compiled(gen, expr)
        if compiled is None:
            return
        sql, _, bindings, _ = compiled
        assert GEN_MARK not in sql
        assert not any(value in sql for value in bindings.values())

    batch(seed, BATCH_SIZE, check)


@settings(max_examples=BATCH_SEEDS, deadline=None)
@given(SEEDS)
def test_batch_pglast_oracle(seed: int) -> None:
    def check(gen: Generator, expr: str) -> None:
        compiled = _compiled(gen, expr)
        if compiled is None:
            return
        statements = pglast.parse_sql(f"SELECT 1 FROM t WHERE {compiled[0]}")
        assert len(statements) == 1 and isinstance(statements[0].stmt, ast.SelectStmt)
        parsed = parse_filter(expr, compiled[2])
        assert parsed is not None
        check_tree(statements[0].stmt.whereClause, set(parsed.columns))

    batch(seed, BATCH_SIZE, check)


@settings(max_examples=BATCH_SEEDS, deadline=None)
@given(SEEDS)
def test_batch_cache_agrees(seed: int) -> None:
    batch(seed, BATCH_SIZE, lambda gen, expr: _same_parse(expr, gen.bindings()))


def test_the_generator_exercises_every_path() -> None:
    """The properties above are only as good as their inputs: enough of them compile."""
    gen = Generator(7)
    compiled = 0
    for _ in range(2_000):
        expr = gen.expression()
        compiled += compile_or_none(expr, 0, gen.bindings(), gen.column_types()) is not None
    assert compiled > 500
