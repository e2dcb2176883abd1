"""The shape cache (``axonstore.filter._shapes``): a new expression whose tokens are a seen one's but for
its literals is built from that one's template, and is then exactly what the parser makes of it.

* generated expressions (the first round's forms, paths, containment, search, intervals, negative
  numbers) with their literals redrawn: the built filter's tree, columns, render plan, parameters and
  errors equal a fresh parse's — and the batch really goes through built filters;
* each way a literal can refuse the template (another kind, bad JSON, an index past int4, another
  interval, a ``$`` in a JSON literal) still answers what the parser answers;
* a built filter's tree is only made when read; its §12 positions are its own text's;
* on the real server, every §12 execution case built from a shape taught by other literals selects the
  rows its parse selects, in PostgreSQL and in memory;
* the caches are bounded, and eight threads sharing them get what one thread gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import axonstore.filter as filters
from axonstore.errors import BadJsonLiteral, BadJsonPath, FilterError, OperatorNotForType
from axonstore.filter import Filter, build_pg_where, parse_filter, plan_for, shape_cache_info
from axonstore.filter._cache import MISS
from axonstore.filter._lexer import scan
from axonstore.filter._shapes import shape_key
from tests.filter._generate import Generator
from tests.filter.conftest import FULL_RUN
from tests.memory.test_memory_filter_second_round import BINDINGS as SECOND_ROUND_BINDINGS
from tests.memory.test_memory_filter_second_round import CASES as SECOND_ROUND_CASES
from tests.memory.test_memory_filter_second_round import TYPES as SECOND_ROUND_TYPES
from tests.memory.test_memory_filter_second_round import memory_ids, second_round_rows, server_ids

SEEDS = 400 if FULL_RUN else 40
PER_SEED = 40
BINDINGS = {"v": "vee", "w": "${v}", "tenant": "t-1", "obj": '{"k": "x"}'}
TYPES = ({"meta": "jsonb", "doc": "json", "tags": "_text", "ids": "_int4", "body": "text", "tsv": "tsvector"},
         {"meta": "int4", "tags": "text", "body": "int8"}, None)  # fmt: skip


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    _forget()
    yield
    _forget()


def _forget() -> None:
    filters._CACHE.clear()
    filters._SHAPES.clear()
    filters._SEEN_ONCE.clear()


# ---- a generator of §12 forms next to the first round's ---------------------------------------------


class ShapeGenerator(Generator):
    """The property generator's expressions with paths, containment, search and keyed literals."""

    def literal(self) -> str:
        roll = self.r.random()
        if roll < 0.5:
            return self.string()
        if roll < 0.9:
            return self.number()
        return self.pick(("true", "null"))

    def json_document(self) -> str:
        documents = ("'{\"a\": 1}'", "'[1, 2]'", "'{bad'", "'NaN'", "'\"s\"'", '\'{"k": "${v}"}\'', "'{}'")
        return self.pick(documents)

    def path(self) -> str:
        steps = []
        for _ in range(1 + self.r.randrange(3)):
            key = self.string() if self.r.random() < 0.7 else self.pick(("0", "3", "2147483648", "-1", "1.5"))
            steps.append(f"{self.pick(('->', '->', '->>'))}{key}")
        return self.pick(("meta", "doc", "body", "a")) + "".join(steps)

    def condition(self) -> str:
        form = self.r.randrange(10)
        if form < 4:
            return super().condition()
        if form == 4:
            return f"{self.path()} {self.pick(('=', '>', '!=', 'LIKE'))} {self.literal()}"
        if form == 5:
            values = ", ".join(self.literal() for _ in range(1 + self.r.randrange(3)))
            return f"{self.path()} {self.pick(('IN', 'NOT IN'))} ({values})"
        if form == 6:
            return f"{self.path()} IS {self.pick(('', 'NOT '))}NULL"
        if form == 7:
            return f"{self.pick(('meta', 'doc', 'tags'))} @> {self.json_document()}"
        if form == 8:
            values = ", ".join(self.literal() for _ in range(1 + self.r.randrange(3)))
            return f"{self.pick(('tags', 'ids', 'meta'))} {self.pick(('@>', '<@', '&&'))} ({values})"
        return f"{self.pick(('body', 'tsv', 'ids'))} @@ {self.string()}"

    def redrawn(self, tokens: list[str]) -> str:
        """``tokens`` joined again with each literal redrawn under the same mark: the same shape key."""
        out = []
        for token in tokens[:-1]:
            mark = token[0]
            if mark in "'\"":
                escaped = self.text().replace("\\", "\\\\").replace(mark, "\\" + mark)
                out.append(f"{mark}{escaped}{mark}")
            elif mark.isdigit():
                out.append(self.pick(("5", "17", "0", "007", "2.5", "1.2.3", "2147483648", "9" * 25, "3.0")))
            else:
                out.append(token)
        return " ".join(out)


# ---- the oracle ------------------------------------------------------------------------------------

Outcome = tuple[Any, ...]


def _outcome(expr: str, types: dict[str, str] | None) -> Outcome:
    """What compiling ``expr`` gives, through whatever the caches hold now."""
    try:
        parsed = parse_filter(expr, BINDINGS)
        if parsed is None:
            return ("blank",)
        plan = plan_for(parsed, 2, types)
        return ("ok", parsed.root, parsed.columns, parsed.conditions, plan.sql, plan.params(BINDINGS))
    except FilterError as error:
        return ("error", type(error), error.pos, error.expr, str(error))


def _parsed_afresh(expr: str, types: dict[str, str] | None) -> Outcome:
    _forget()
    try:
        return _outcome(expr, types)
    finally:
        _forget()


def _check_seed(seed: int) -> int:
    """Redrawn variants built from shapes agree with fresh parses; how many were built."""
    gen = ShapeGenerator(seed)
    built = 0
    for _ in range(PER_SEED):
        expr = gen.expression()
        try:
            tokens = scan(expr)
        except FilterError:
            continue
        variants = [" ".join(tokens[:-1])] + [gen.redrawn(tokens) for _ in range(4)]
        assert len({shape_key(scan(v)) for v in variants}) == 1, variants
        types = TYPES[gen.r.randrange(len(TYPES))]
        expected = [_parsed_afresh(v, types) for v in variants]
        for variant, wanted in zip(variants, expected, strict=True):
            got = _outcome(variant, types)
            assert got == wanted, f"seed={seed} {variant!r}:\n  built  {got}\n  parsed {wanted}"
        for variant in set(variants[2:]):
            held = filters._CACHE.get(variant)
            built += isinstance(held, Filter) and held.shape is not None
        _forget()
    return built


@settings(max_examples=SEEDS, deadline=None)
@given(st.integers(0, 2**64))
def test_a_filter_built_from_a_shape_is_what_the_parser_makes(seed: int) -> None:
    _check_seed(seed)


def test_the_generated_variants_do_go_through_shapes() -> None:
    built = sum(_check_seed(seed) for seed in range(20))
    assert built > 200, built  # else the property above would test the parser against itself


# ---- one literal at a time -------------------------------------------------------------------------


def _three(template: str, *literals: str) -> list[Filter | None]:
    """Compile ``template`` with each literal in turn (the second learns the shape)."""
    return [parse_filter(template.format(literal), BINDINGS) for literal in literals]


def test_a_new_expression_of_a_seen_shape_is_built_and_shares_the_plan() -> None:
    first, second, third = _three("status = '{}' AND amount > 10", "a", "b", "c")
    assert first is not None and second is not None and third is not None
    assert third.shape is not None and third.shape[1] == ("c", 10)
    assert shape_cache_info().hits >= 1
    types = {"amount": "int8"}
    assert plan_for(third, 0, types).sql == plan_for(first, 0, types).sql
    assert plan_for(third, 0, types).params(None) == ["c", 10]
    assert build_pg_where("status = 'd' AND amount > 11", 0, None, types) == (
        '"status"::text = $1 AND "amount" > $2::int8',
        ["d", 11],
    )


def test_a_literal_of_another_kind_is_parsed() -> None:
    *_, built = _three("amount > {}", "1", "2", "3")
    assert built is not None and built.shape is not None
    floated = parse_filter("amount > 2.5")
    assert floated is not None and floated.shape is None  # parsed: the template holds an integer
    assert build_pg_where("amount > 2.5") == ('"amount" > $1', [2.5])
    assert build_pg_where("amount > 99999999999999999999") == ('"amount" > $1', [1e20])


def test_bad_json_in_a_seen_shape_is_the_parsers_error() -> None:
    _three("meta @> {}", "'{\"a\": 1}'", "'{\"a\": 2}'")
    with pytest.raises(BadJsonLiteral) as refused:
        parse_filter("meta @> '{bad'")
    assert refused.value.pos == 8 and refused.value.expr == "meta @> '{bad'"


def test_a_json_literal_with_a_placeholder_reads_the_bindings_uncached() -> None:
    _three("meta @> {}", "'{\"a\": 1}'", "'{\"a\": 2}'")
    sql, params = build_pg_where('meta @> \'{"k": "${v}"}\'', 0, {"v": "x"})
    assert (sql, params) == ('"meta" @> $1::jsonb', ['{"k": "x"}'])
    assert filters._CACHE.get('meta @> \'{"k": "${v}"}\'') is MISS


def test_an_index_past_int4_in_a_seen_shape_is_the_parsers_error() -> None:
    _three("meta->{}->>'k' = 'x'", "0", "1")
    with pytest.raises(BadJsonPath) as refused:
        parse_filter("meta->2147483648->>'k' = 'x'")
    assert refused.value.pos == 6
    assert build_pg_where("meta->7->>'k' = 'x'") == ('"meta"->$1->>$2 = $3', [7, "k", "x"])


def test_another_interval_is_parsed_not_copied() -> None:
    _three("seen < now() - interval {} AND a = 'x'", "'7 days'", "'7 days'", "'7 days'")
    assert build_pg_where("seen < now() - interval '7 days' AND a = 'y'")[1] == ["y"]
    assert "interval '3 hour'" in build_pg_where("seen < now() - interval '3 hours' AND a = 'y'")[0]


def test_negative_numbers_are_part_of_the_shape() -> None:
    _three("a > -5 AND b = {}", "1", "2", "3")
    assert build_pg_where("a > -5 AND b = 4")[1] == [-5, 4]
    assert build_pg_where("a > -6 AND b = 4")[1] == [-6, 4]


def test_a_built_filter_builds_its_tree_only_when_read() -> None:
    *_, learnt = _three("meta->>'k' = {} AND tags && ('a', 'b')", "'x'", "'y'")
    assert learnt is not None
    plan_for(learnt, 0, {"meta": "jsonb"})  # the shape's plan for these types
    built = parse_filter("meta->>'k'  =  'longer text' AND tags && ('a', 'b')")
    assert built is not None and built._root is None
    assert plan_for(built, 0, {"meta": "jsonb"}).params(None) == ["k", "longer text", "a", "b"]
    assert built._root is None  # rendered through the shape's plan
    fresh = filters._parser.parse(built.source or "", lambda text: text)
    assert fresh is not None and built.root == fresh.root  # positions are this text's


def test_operator_errors_on_a_built_filter_carry_its_own_positions() -> None:
    _three("a = 1 AND meta->>{} = 'x'", "'k'", "'kk'")
    with pytest.raises(OperatorNotForType) as refused:
        build_pg_where("a = 1 AND meta->>'a much longer key' = 'x'", 0, None, {"meta": "int4"})
    assert refused.value.pos == 14


def test_a_placeholder_in_a_new_literal_is_interpolated() -> None:
    _three("a = {} AND b = 'plain'", "'x'", "'y'")
    assert build_pg_where("a = '${v}-1' AND b = 'plain'", 0, BINDINGS)[1] == ["vee-1", "plain"]
    assert build_pg_where("a = 'z' AND b = 'plain'", 0, BINDINGS)[1] == ["z", "plain"]


def test_the_shape_cache_is_bounded() -> None:
    for i in range(filters._SHAPE_CACHE_ENTRIES + 50):
        parse_filter(f"c{i} = 1")
        parse_filter(f"c{i} = 2")  # the second of its shape: a template
    assert shape_cache_info().currsize == filters._SHAPE_CACHE_ENTRIES
    for i in range(filters._SEEN_ONCE_KEPT + 10):
        parse_filter(f"d{i} = 1")
    assert len(filters._SEEN_ONCE) <= filters._SEEN_ONCE_KEPT


# ---- on the real server ----------------------------------------------------------------------------


def _taught(tokens: list[str]) -> str:
    """``tokens`` with every literal but an interval's body replaced by another of its kind."""
    out = []
    for index, token in enumerate(tokens[:-1]):
        mark = token[0]
        if mark in "'\"" and not (index and tokens[index - 1].upper() == "INTERVAL"):
            out.append(f'{mark}{{"taught": 1}}{mark}' if tokens[index - 1] == "@>" else f"{mark}zz{mark}")
        elif mark.isdigit():
            out.append("9.5" if "." in token else "9")
        else:
            out.append(token)
    return " ".join(out)


@pytest.fixture
def second_round_table(admin: Any, unique_name: str) -> Iterator[str]:
    """The §12 execution table of the in-memory tests, with its rows."""
    yield from second_round_rows(admin, unique_name)


def test_built_filters_select_the_rows_their_parses_select(admin: Any, second_round_table: str) -> None:
    """Every §12 execution case, compiled once parsed and once built from a shape that other literals
    taught: the same rows from PostgreSQL and from the in-memory evaluator."""
    built = 0
    for where, expected in SECOND_ROUND_CASES:
        _forget()
        assert server_ids(admin, second_round_table, where) == expected
        _forget()
        tokens = scan(where)
        for teacher in (_taught(tokens), _taught(tokens) + " "):  # noted; then template and plan
            build_pg_where(teacher, 0, SECOND_ROUND_BINDINGS, SECOND_ROUND_TYPES)
        parsed = parse_filter(where, SECOND_ROUND_BINDINGS)
        assert parsed is not None
        built += parsed.shape is not None and parsed._root is None
        assert server_ids(admin, second_round_table, where) == expected, where  # the shape's plan
        assert memory_ids(where) == expected, where
    assert built >= len(SECOND_ROUND_CASES) - 3, built  # all but the few whose literals cannot pair


def test_threads_sharing_the_caches_get_what_one_thread_gets() -> None:
    """Eight threads compile the same mix of shapes and literals at once (the sync API's threads share
    the caches): every answer is the one a single thread computed, whatever was learnt meanwhile."""
    gen = ShapeGenerator(7)
    texts: list[str] = []
    while len(texts) < 240:
        try:
            tokens = scan(gen.expression())
        except FilterError:
            continue
        texts.extend(gen.redrawn(tokens) for _ in range(6))
    expected = {text: _parsed_afresh(text, TYPES[0]) for text in texts}
    answers: dict[int, list[tuple[str, Outcome]]] = {}

    def work(worker: int) -> None:
        order = texts[worker:] + texts[:worker]
        answers[worker] = [(text, _outcome(text, TYPES[0])) for text in order for _ in range(2)]

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(got) for got in answers.values()) == 8 * 2 * len(texts)
    for got in answers.values():
        for text, outcome in got:
            assert outcome == expected[text], text
    assert shape_cache_info().hits > 0
