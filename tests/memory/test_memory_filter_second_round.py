"""CONTRACT §12 on a real server and in memory: each new form returns exactly the expected rows on both.

One table holds jsonb, json, text[], int4[], tsvector and text columns. Every case compiles its filter
with ``build_pg_where`` (the live column types known), runs it through psycopg against the suite's
PostgreSQL, and evaluates the same parsed filter with the in-memory evaluator over the same rows (as
Python values: dicts and lists for JSON, lists for arrays, text for the tsvector). Both must give the
expected ids. The documented text-search differences (:mod:`axonstore.memory._eval`) are asserted
against the server too, so a difference cannot appear or vanish silently. LIKE's linear matcher is
checked against PostgreSQL on hostile patterns, and against a reference matcher by hypothesis.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Json, Jsonb

from axonstore.errors import OperatorNotForType
from axonstore.filter import build_pg_where, parse_filter
from axonstore.memory._eval import compile_filter, like
from axonstore.memory._values import CastError

DDL = (
    "CREATE TABLE {t} (id int4 PRIMARY KEY, meta jsonb, doc json, tags text[], nums int4[], "
    "body text, tsv tsvector)"
)
ROWS: list[dict[str, Any]] = [
    {"id": 1, "meta": {"status": "open", "n": 7, "tier": "gold", "a": {"b": "x"}, "list": [1, 2, 3]},
     "doc": {"status": "open", "n": 7}, "tags": ["a", "b"], "nums": [1, 2],
     "body": "PostgreSQL has a great connection pool"},
    {"id": 2, "meta": {"status": "closed", "n": 12.5, "tier": "silver", "a": {"b": "y"}, "flag": True},
     "doc": {"status": "closed", "n": 12.5}, "tags": ["b", "c"], "nums": [3],
     "body": "MySQL and PostgreSQL compared"},
    {"id": 3, "meta": {"status": "open", "a": None, "n": 3, "list": [4]}, "doc": {"status": "open"},
     "tags": ["a"], "nums": [], "body": "connection pooling with pgbouncer"},
    {"id": 4, "meta": {"tags": ["x", "y"], "word": "not a number"}, "doc": None, "tags": [],
     "nums": [2, 4, 6], "body": "nothing relevant here"},
    {"id": 5, "meta": None, "doc": None, "tags": None, "nums": None, "body": None},
]  # fmt: skip
TYPES = {"id": "int4", "meta": "jsonb", "doc": "json", "tags": "_text", "nums": "_int4", "body": "text",
         "tsv": "tsvector"}  # fmt: skip
# What the in-memory engine is given: the declared types it models (arrays and tsvector are typed by value).
MEMORY_TYPES = {"id": "int4", "meta": "jsonb", "doc": "json", "body": "text"}

CASES: list[tuple[str, set[int]]] = [
    ("meta->>'status' = 'open'", {1, 3}),
    ("meta->>'status' != 'open'", {2}),
    ("meta->'a'->>'b' IN ('x', 'y')", {1, 2}),
    ("meta->'a'->>'b' NOT IN ('x')", {2}),
    ("meta->>'n' > 5 AND meta->>'n' < 13", {1, 2}),
    ("meta->>'n' = 7", {1}),
    ("meta->>'n' IN (3, 7)", {1, 3}),
    ("meta->'a' IS NULL", {4, 5}),  # a JSON null is a value: row 3's `a` is not NULL for ->
    ("meta->>'a' IS NULL", {3, 4, 5}),  # ... but ->> of a JSON null is NULL
    ("meta->'a' IS NOT NULL", {1, 2, 3}),
    ("meta->'list'->>0 = '1'", {1}),
    ("meta->'list'->>1 IS NOT NULL", {1}),
    ("meta->>'flag' = true", {2}),
    ("meta->>'tier' LIKE 'g%'", {1}),
    ("meta->>'tier' ILIKE 'S%'", {2}),
    ("doc->>'status' = 'open'", {1, 3}),
    ("doc->>'n' >= 12", {2}),
    ('meta @> \'{"tier": "gold"}\'', {1}),
    ('meta @> \'{"a": {"b": "y"}}\'', {2}),
    ("meta @> '{\"list\": [3, 1]}'", {1}),
    ('meta @> \'{"tags": ["y"]}\'', {4}),
    ("meta @> '{}'", {1, 2, 3, 4}),
    ('doc @> \'{"status": "open"}\'', {1, 3}),
    ("tags @> ('a', 'b')", {1}),
    ("tags @> ('b')", {1, 2}),
    ("tags && ('a', 'c')", {1, 2, 3}),
    ("tags <@ ('a', 'b')", {1, 3, 4}),
    ("nums @> (2)", {1, 4}),
    ("nums && (3, 6)", {2, 4}),
    ("nums <@ (1, 2, 3)", {1, 2, 3}),
    ("body @@ 'postgresql'", {1, 2}),
    ("body @@ 'postgresql -mysql'", {1}),
    ("body @@ '\"connection pool\"'", {1}),
    ("body @@ 'mysql or pgbouncer'", {2, 3}),
    ("body @@ 'connection pooling or pool'", {1, 3}),
    ("body @@ 'PostgreSQL compared'", {2}),
    ("tsv @@ 'postgresql'", {1, 2}),
    ("NOT (body @@ 'connection') AND tags && ('c')", {2}),
    ("meta->>'status' = '${s}' AND tags @> ('${t}')", {1, 3}),
]
BINDINGS = {"s": "open", "t": "a"}


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    yield from second_round_rows(admin, unique_name)


def second_round_rows(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    """Create the table with :data:`ROWS`, yield its name, drop it (a fixture's body, shared)."""
    admin.execute(DDL.format(t=unique_name))
    for row in ROWS:
        admin.execute(
            f"INSERT INTO {unique_name} (id, meta, doc, tags, nums, body, tsv) "
            "VALUES (%s, %s, %s, %s, %s, %s, to_tsvector('simple', %s))",
            (
                row["id"],
                None if row["meta"] is None else Jsonb(row["meta"]),
                None if row["doc"] is None else Json(row["doc"]),
                row["tags"],
                row["nums"],
                row["body"],
                row["body"],
            ),
        )
    yield unique_name
    admin.execute(f"DROP TABLE {unique_name}")


def server_ids(
    conn: psycopg.Connection[Any], table: str, where: str, text_search: str = "simple"
) -> set[int]:
    sql, params = build_pg_where(where, 0, BINDINGS, TYPES, text_search=text_search)
    with psycopg.RawCursor(conn) as cur:
        cur.execute(f"SELECT id FROM {table} WHERE {sql}", params)
        return {row[0] for row in cur.fetchall()}


def _memory_rows() -> list[dict[str, Any]]:
    rows = []
    for row in ROWS:
        stored = dict(row)
        stored["tsv"] = row["body"]  # a tsvector holds text in memory
        rows.append(stored)
    return rows


def memory_ids(where: str) -> set[int]:
    parsed = parse_filter(where, BINDINGS)
    assert parsed is not None
    predicate = compile_filter(parsed.root, MEMORY_TYPES, BINDINGS, datetime.now(UTC))
    return {row["id"] for row in _memory_rows() if predicate(row) is True}


@pytest.mark.parametrize(("where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_new_form_returns_the_expected_rows_on_both_backends(
    admin: psycopg.Connection[Any], table: str, where: str, expected: set[int]
) -> None:
    assert server_ids(admin, table, where) == expected
    assert memory_ids(where) == expected


def test_text_that_is_no_number_fails_alike(admin: psycopg.Connection[Any], table: str) -> None:
    where = "meta->>'word' > 1"
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        server_ids(admin, table, where)
    with pytest.raises(CastError) as raised:
        memory_ids(where)
    assert raised.value.sqlstate == "22P02"


def test_a_known_type_refuses_an_operator_before_any_io() -> None:
    for where, column, op in [
        ("body->>'a' = 'x'", "body", "->>"),
        ("tags->'a' IS NULL", "tags", "->"),
        ("id @> ('a')", "id", "@>"),
        ("meta && ('a')", "meta", "&&"),
        ("tags @> '{}'", "tags", "@>"),
        ("id @@ 'x'", "id", "@@"),
        ("meta @@ 'x'", "meta", "@@"),
    ]:
        with pytest.raises(OperatorNotForType) as raised:
            build_pg_where(where, column_types=TYPES)
        assert (raised.value.column, raised.value.op, raised.value.pg_type) == (column, op, TYPES[column])
        assert raised.value.expr == where and raised.value.pos == where.index(op)
        parsed = parse_filter(where)
        assert parsed is not None
        with pytest.raises(OperatorNotForType):  # the in-memory backend refuses the same, before any row
            compile_filter(parsed.root, TYPES, None, datetime.now(UTC))


# --------------------------------------------------------------------------------------------------
# The documented approximation of text search, each difference asserted against the server

# (document, query, configuration, PostgreSQL's answer, the in-memory answer)
DIFFERENCES = [
    ("the runners were running", "run", "english", True, False),  # 1. stemming
    ("the cat", "the cat", "english", True, True),  # 1. a stop word: PostgreSQL drops it from both
    ("the dog", "the cat", "english", False, False),
    ("the dog", "the", "english", False, True),  # 1. ... and a query of stop words only matches nothing
    ("mail ann@example.com today", "example", "simple", False, True),  # 2. e-mail as one lexeme
    ("see example.com now", "example", "simple", False, True),  # 2. a host as one lexeme
    ("foo-bar baz", "foo", "simple", True, True),  # 3. compounds: the same answers
    ("foo-bar baz", "foo-bar", "simple", True, True),
    ("foo_bar", "bar", "simple", True, True),
    ("anything", "", "simple", False, False),  # 4. no words: nothing matches
    ("anything", "-", "simple", False, False),
]


@pytest.mark.parametrize(("document", "query", "config", "server", "memory"), DIFFERENCES)
def test_the_documented_text_search_differences_hold_against_postgresql(
    admin: psycopg.Connection[Any], document: str, query: str, config: str, server: bool, memory: bool
) -> None:
    clause, params = build_pg_where("body @@ '${q}'", 0, {"q": query}, {"body": "text"}, text_search=config)
    with psycopg.RawCursor(admin) as cur:
        cur.execute(
            f"SELECT count(*) FROM (SELECT $3::text AS body) AS t WHERE {clause}", [*params, document]
        )
        row = cur.fetchone()
    assert row is not None and (row[0] == 1) is server
    parsed = parse_filter("body @@ '${q}'", {"q": query})
    assert parsed is not None
    predicate = compile_filter(parsed.root, {"body": "text"}, {"q": query}, datetime.now(UTC))
    assert (predicate({"body": document}) is True) is memory


# --------------------------------------------------------------------------------------------------
# LIKE: linear, and equal to PostgreSQL on hostile patterns

HOSTILE_LIKE = [
    ("a" * 60, "%a%a%a%a%a%a%a%a%a%b"),
    ("a" * 60, "%a%a%a%a%a%a%a%a%a%"),
    ("ab" * 40, "%a_%a_%a_%a_%a_%a_%b%c"),
    ("x" * 200 + "y", "%x%x%x%x%x%x%x%x%x%x%x%y"),
    ("a\\b", "%\\\\%"),
    ("ab", "a%\\"),
]


@pytest.mark.parametrize(("text", "pattern"), HOSTILE_LIKE)
def test_like_answers_hostile_patterns_at_once_and_as_postgresql_does(
    admin: psycopg.Connection[Any], text: str, pattern: str
) -> None:
    server: bool | str
    try:
        row = admin.execute("SELECT %s::text LIKE %s::text", (text, pattern)).fetchone()
        assert row is not None
        server = bool(row[0])
    except psycopg.errors.InvalidEscapeSequence:
        server = "22025"
    start = time.perf_counter()
    try:
        mine: bool | str = like(text, pattern, insensitive=False)
    except Exception as error:
        mine = getattr(error, "sqlstate", repr(error))
    assert time.perf_counter() - start < 0.05
    assert mine == server


def _reference_like(text: str, pattern: str) -> bool:
    """LIKE as a regular expression (exponential on hostile input: used on small cases only)."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.fullmatch("".join(out), text, re.DOTALL) is not None


@settings(max_examples=2000, deadline=None)
@given(st.text("ab%_\\", max_size=10), st.text("ab\\", max_size=12))
def test_the_linear_like_agrees_with_a_reference_matcher(pattern: str, text: str) -> None:
    if pattern.endswith("\\") and (len(pattern) - len(pattern.rstrip("\\"))) % 2 == 1:
        return  # a lone trailing escape: PostgreSQL's own rule, checked against the server above
    assert like(text, pattern, insensitive=False) == _reference_like(text, pattern)


def test_like_cost_grows_linearly_with_the_text() -> None:
    pattern = "%a%a%a%a%a%a%a%a%a%b"
    timings: Mapping[int, float] = {}
    timings = {}
    for size in (1_000, 8_000):
        start = time.perf_counter()
        assert not like("a" * size, pattern, insensitive=False)
        timings[size] = time.perf_counter() - start
    assert timings[8_000] < 0.5
