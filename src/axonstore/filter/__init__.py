"""The where-language: a closed grammar compiled to SQL with ``$n`` parameters (pure, no I/O).

Pipeline: :mod:`._lexer` (tokens) → :mod:`._parser` (a :class:`Filter` tree) → :mod:`._render` (SQL
text + parameters). Request values enter only through ``${name}`` / ``$name`` inside quoted literals,
after tokenising, so a value can never open or close a literal or add syntax.

Parses are cached by expression text (a cache bounded in entries *and* characters; an expression over
8 192 characters is parsed every time) and render plans by (offset, column types, text-search
configuration), so a repeated expression costs a dictionary lookup plus the interpolation of its
templated literals. An expression over 65 536 characters is refused before it is tokenised
(``FilterTooLong``), so refusing any input costs O(limit). Every ``FilterError`` raised while compiling
an expression carries ``expr`` (the text) and, where it comes from a token, ``pos``.

>>> build_pg_where("status = '${s}' AND amount > 100", bindings={"s": "open"})
('"status"::text = $1 AND "amount" > $2', ['open', 100])
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final, NamedTuple

from axonstore.errors import FilterError, FilterTooLong, InvalidIdentifier
from axonstore.filter._aggregate import (
    Aggregate,
    parse_aggregate,
    parse_aggregate_clause,
    parse_group_by,
    render_aggregate_select,
    render_group_by_suffix,
)
from axonstore.filter._ast import (
    LIKE_OPS,
    And,
    Between,
    Compare,
    CompareOp,
    Condition,
    ContainOp,
    Contains,
    Filter,
    Group,
    InList,
    JsonPath,
    Node,
    Not,
    NullTest,
    Or,
    PathCompare,
    PathInList,
    PathNullTest,
    TextSearch,
    TimeCompare,
    Value,
    ValueKind,
)
from axonstore.filter._bounds import parse_limit, parse_order_by, render_bounds
from axonstore.filter._compose import conjoin
from axonstore.filter._interpolate import binding_text, interpolate
from axonstore.filter._parser import parse
from axonstore.filter._render import MAX_PARAMETERS, Param, RenderPlan, check_parameter_count, render
from axonstore.filter._types import (
    JSON_TYPES,
    SEARCHABLE_TYPES,
    array_element,
    is_array_type,
    operator_type_error,
)
from axonstore.idents import is_safe_identifier

__all__ = [
    "DEFAULT_TEXT_SEARCH",
    "JSON_TYPES",
    "LIKE_OPS",
    "MAX_EXPRESSION_CHARS",
    "MAX_PARAMETERS",
    "SEARCHABLE_TYPES",
    "Aggregate",
    "And",
    "Between",
    "CacheInfo",
    "Compare",
    "CompareOp",
    "Condition",
    "ContainOp",
    "Contains",
    "Filter",
    "Group",
    "InList",
    "JsonPath",
    "Node",
    "Not",
    "NullTest",
    "Or",
    "Param",
    "PathCompare",
    "PathInList",
    "PathNullTest",
    "RenderPlan",
    "TextSearch",
    "TimeCompare",
    "Value",
    "ValueKind",
    "array_element",
    "binding_text",
    "build_pg_where",
    "check_parameter_count",
    "compile_where",
    "conjoin",
    "interpolate",
    "is_array_type",
    "is_safe_identifier",
    "operator_type_error",
    "parse_aggregate",
    "parse_aggregate_clause",
    "parse_cache_info",
    "parse_filter",
    "parse_group_by",
    "parse_limit",
    "parse_order_by",
    "plan_for",
    "render_aggregate_select",
    "render_bounds",
    "render_group_by_suffix",
    "reusable",
]

MAX_EXPRESSION_CHARS: Final = 65_536  # CONTRACT §5.3: longer is FilterTooLong, before tokenising
DEFAULT_TEXT_SEARCH: Final = "simple"
_PARSE_CACHE_ENTRIES: Final = 4096
_PARSE_CACHE_CHARS: Final = 1 << 20  # the cached expressions' text, in total (their trees scale with it)
_MAX_CACHED_CHARS: Final = 8192  # a longer expression is parsed every time, never held
_PLANS_PER_FILTER: Final = 64


class _NeedsBindings(Exception):
    """The parse read an interpolated string, so its result depends on the bindings: do not cache it."""


def _refuse_templates(text: str) -> str:
    if "$" in text:
        raise _NeedsBindings
    return text


class CacheInfo(NamedTuple):
    """The parse cache's counters (as ``functools.lru_cache`` reports them, plus the characters held)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    chars: int


class _ParseCache:
    """An LRU of parsed expressions bounded by entries and by characters (a few huge filters cannot fill
    memory: issue 18). Reads take no lock (dictionary operations are atomic); changes take one."""

    def __init__(self, entries: int, chars: int) -> None:
        self.entries = entries
        self.budget = chars
        self.items: OrderedDict[str, Filter | None] = OrderedDict()
        self.chars = 0
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def get(self, expr: str) -> Filter | _NeedsBindings | None:
        parsed = self.items.get(expr, _MISS)  # a miss raises nothing: exceptions cost a new expression
        if parsed is _MISS:
            return _MISS
        try:  # noqa: SIM105 - contextlib.suppress would cost a context manager per hit
            self.items.move_to_end(expr)
        except KeyError:  # evicted meanwhile by another thread: the answer stands
            pass
        self.hits += 1
        return parsed

    def put(self, expr: str, parsed: Filter | None) -> None:
        self.misses += 1
        size = len(expr)
        if size > _MAX_CACHED_CHARS:
            return
        items, lock = self.items, self.lock
        lock.acquire()  # not `with`: its __enter__ and __exit__ cost a new expression twice as much
        try:
            if expr in items:
                return
            items[expr] = parsed
            chars = self.chars + size
            while len(items) > self.entries or chars > self.budget:  # a full cache: one eviction
                chars -= len(items.popitem(False)[0])  # the least recently used
            self.chars = chars
        finally:
            lock.release()

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.entries, len(self.items), self.chars)


_MISS: Final = _NeedsBindings()  # a sentinel no parse returns
_CACHE: Final = _ParseCache(_PARSE_CACHE_ENTRIES, _PARSE_CACHE_CHARS)


def parse_cache_info() -> CacheInfo:
    """Hits, misses and size of the parse cache (benchmarks check that a timed batch is all one kind)."""
    return _CACHE.info()


def reusable(parsed: Filter) -> bool:
    """Does ``parsed`` stand for its expression whatever the bindings? True for a parse the cache
    holds; false for one that read a binding while parsing (an ``interval '${n} days'``), for a
    composed filter and for an expression too long to cache — a warm plan may only keep the former."""
    source = parsed.source
    return source is not None and _CACHE.items.get(source) is parsed


def parse_filter(expr: str, bindings: Mapping[str, object] | None = None) -> Filter | None:
    """Parse a where-expression; ``None`` when it is blank. Raises a ``FilterError`` subclass that
    carries ``expr`` and (from a token) ``pos``; ``FilterTooLong`` past 65 536 characters.

    String literals stay templates in the tree; use :func:`interpolate` to resolve them.
    """
    cached = _CACHE.get(expr)
    if cached is not _MISS:
        return cached  # type: ignore[return-value]  # not the sentinel: a parse
    if len(expr) > MAX_EXPRESSION_CHARS:
        too_long = FilterTooLong(MAX_EXPRESSION_CHARS, len(expr))
        too_long.expr = expr
        raise too_long
    try:
        try:
            parsed = parse(expr, _refuse_templates)
        except _NeedsBindings:
            return parse(expr, lambda text: interpolate(text, bindings))  # not cached: read a binding
    except FilterError as error:
        error.expr = expr
        raise
    _CACHE.put(expr, parsed)
    return parsed


def _checked_text_search(name: object) -> str:
    """A text-search configuration name: an identifier, optionally schema-qualified (it is bound as a
    ``regconfig`` parameter, so this is about clear errors, not safety)."""
    if name == DEFAULT_TEXT_SEARCH:
        return DEFAULT_TEXT_SEARCH
    if isinstance(name, str):
        schema, _, config = name.rpartition(".")
        if is_safe_identifier(config) and (not schema or is_safe_identifier(schema)):
            return name
    raise InvalidIdentifier("text search configuration", str(name))


def plan_for(
    parsed: Filter,
    param_offset: int = 0,
    column_types: Mapping[str, str] | None = None,
    *,
    text_search: str = DEFAULT_TEXT_SEARCH,
) -> RenderPlan:
    """The render plan of a parsed (or composed) filter, cached on the filter by (offset, column types,
    text-search configuration). ``OperatorNotForType`` when a known column type cannot take an operator."""
    types_key = tuple(map(column_types.get, parsed.columns)) if column_types else None
    key = (
        (param_offset, types_key)
        if text_search == DEFAULT_TEXT_SEARCH
        else (param_offset, types_key, text_search)
    )
    plans = parsed.plans
    plan = plans.get(key)
    if plan is None:
        plan = render(parsed, param_offset, column_types, _checked_text_search(text_search))
        if len(plans) >= _PLANS_PER_FILTER:
            plans.clear()
        plans[key] = plan
    return plan


def compile_where(
    expr: str,
    param_offset: int = 0,
    column_types: Mapping[str, str] | None = None,
    bindings: Mapping[str, object] | None = None,
    *,
    text_search: str = DEFAULT_TEXT_SEARCH,
) -> tuple[Filter | None, RenderPlan | None]:
    """The parsed filter and its render plan (``(None, None)`` for a blank expression)."""
    parsed = parse_filter(expr, bindings)
    if parsed is None:
        return None, None
    return parsed, plan_for(parsed, param_offset, column_types, text_search=text_search)


def build_pg_where(
    expr: str,
    param_offset: int = 0,
    bindings: Mapping[str, object] | None = None,
    column_types: Mapping[str, str] | None = None,
    *,
    text_search: str = DEFAULT_TEXT_SEARCH,
) -> tuple[str, list[Param]]:
    """Compile a where-expression to ``(clause, params)``; placeholders start at ``$param_offset+1``.

    A blank expression is ``("TRUE", [])``. ``column_types`` maps column → ``pg_type.typname`` (or
    ``schema.type``): a known type casts the value (``$1::int4``); an unknown one compares equality as
    text and leaves ordering bare. ``text_search`` is the configuration ``@@`` searches with (a
    ``regconfig`` parameter).

    >>> build_pg_where("age >= 18 AND name IS NOT NULL", column_types={"age": "int4"})
    ('"age" >= $1::int4 AND "name" IS NOT NULL', [18])
    >>> build_pg_where("meta->>'tier' = 'gold'")
    ('"meta"->>$1 = $2', ['tier', 'gold'])
    >>> build_pg_where("body @@ 'pool -mysql'", text_search="english")[1]
    ['english', 'pool -mysql']
    """
    parsed = parse_filter(expr, bindings)  # compile_where's two steps, one call layer less
    if parsed is None:
        return "TRUE", []
    plan = plan_for(parsed, param_offset, column_types, text_search=text_search)
    return plan.sql, plan.params(bindings)
