"""The where-language: a closed grammar compiled to SQL with ``$n`` parameters (pure, no I/O).

Pipeline: :mod:`._lexer` (tokens) → :mod:`._parser` (a :class:`Filter` tree) → :mod:`._render` (SQL
text + parameters). Request values enter only through ``${name}`` / ``$name`` inside quoted literals,
after tokenising, so a value can never open or close a literal or add syntax.

Parses are cached by expression text (a cache bounded in entries *and* characters; an expression over
8 192 characters is parsed every time) and render plans by (offset, column types, text-search
configuration), so a repeated expression costs a dictionary lookup plus the interpolation of its
templated literals. A new expression whose tokens are a seen one's but for its literals is built from
that shape's template instead of parsed, and its plan filled from the shape's (:mod:`._shapes`). An
expression over 65 536 characters is refused before it is tokenised (``FilterTooLong``), so refusing
any input costs O(limit). Every ``FilterError`` raised while compiling
an expression carries ``expr`` (the text) and, where it comes from a token, ``pos``.

>>> build_pg_where("status = '${s}' AND amount > 100", bindings={"s": "open"})
('"status"::text = $1 AND "amount" > $2', ['open', 100])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

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
from axonstore.filter._cache import MISS, BoundedCache, CacheInfo
from axonstore.filter._compose import conjoin
from axonstore.filter._interpolate import binding_text, interpolate
from axonstore.filter._lexer import scan
from axonstore.filter._parser import parse
from axonstore.filter._render import (
    MAX_PARAMETERS,
    Param,
    RenderPlan,
    check_parameter_count,
    render_traced,
)
from axonstore.filter._shapes import Shape, learn, shape_key, shape_size
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
    "shape_cache_info",
]

MAX_EXPRESSION_CHARS: Final = 65_536  # CONTRACT §5.3: longer is FilterTooLong, before tokenising
DEFAULT_TEXT_SEARCH: Final = "simple"
_PARSE_CACHE_ENTRIES: Final = 4096
_SHAPE_CACHE_ENTRIES: Final = 1024
_PARSE_CACHE_CHARS: Final = 1 << 20  # the cached expressions' text, in total (their trees scale with it)
_MAX_CACHED_CHARS: Final = 8192  # a longer expression is parsed every time, never held
_PLANS_PER_FILTER: Final = 64


class _NeedsBindings(Exception):
    """The parse read an interpolated string, so its result depends on the bindings: do not cache it."""


def _refuse_templates(text: str) -> str:
    if "$" in text:
        raise _NeedsBindings
    return text


_CACHE: Final[BoundedCache[str, Filter | None]] = BoundedCache(
    _PARSE_CACHE_ENTRIES, _PARSE_CACHE_CHARS, _MAX_CACHED_CHARS
)
#: The templates of the shapes seen more than once (:mod:`._shapes`; ``None``: a shape that has none),
#: bounded like the parses they come from.
_SHAPES: Final[BoundedCache[tuple[str, ...], Shape | None]] = BoundedCache(
    _SHAPE_CACHE_ENTRIES, _PARSE_CACHE_CHARS, _MAX_CACHED_CHARS, lambda _, shape: shape_size(shape)
)
#: The keys seen once, by hash: a collision only learns a template one expression early, and no key's
#: tokens are kept (holding and later freeing them cost a never-seen shape more than its lookups).
_SEEN_ONCE: Final[dict[int, None]] = {}
_SEEN_ONCE_KEPT: Final = 4096


def parse_cache_info() -> CacheInfo:
    """Hits, misses and size of the parse cache (benchmarks check that a timed batch is all one kind)."""
    return _CACHE.info()


def shape_cache_info() -> CacheInfo:
    """Hits, misses and size of the shape cache (:mod:`axonstore.filter._shapes`): a hit is a new
    expression whose shape was learnt (built from its template, unless one of its literals sends it to
    the parser, or parsed when the shape was found to have none), a miss a shape learnt."""
    return _SHAPES.info()


def reusable(parsed: Filter) -> bool:
    """Does ``parsed`` stand for its expression whatever the bindings? True for a parse the cache
    holds; false for one that read a binding while parsing (an ``interval '${n} days'``), for a
    composed filter and for an expression too long to cache — a warm plan may only keep the former."""
    source = parsed.source
    return source is not None and _CACHE.holds(source, parsed)


def parse_filter(expr: str, bindings: Mapping[str, object] | None = None) -> Filter | None:
    """Parse a where-expression; ``None`` when it is blank. Raises a ``FilterError`` subclass that
    carries ``expr`` and (from a token) ``pos``; ``FilterTooLong`` past 65 536 characters.

    String literals stay templates in the tree; use :func:`interpolate` to resolve them.
    """
    cached = _CACHE.get(expr)
    if cached is not MISS:
        return cached  # type: ignore[return-value]  # not the sentinel: a parse
    size = len(expr)
    if size > MAX_EXPRESSION_CHARS:
        too_long = FilterTooLong(MAX_EXPRESSION_CHARS, size)
        too_long.expr = expr
        raise too_long
    try:
        tokens = scan(expr)
        key = shape_key(tokens)
        shape = _SHAPES.get(key)
        parsed = shape.build(expr, tokens) if type(shape) is Shape else None
        if parsed is None:
            try:
                parsed = parse(expr, _refuse_templates, tokens)
            except _NeedsBindings:  # not cached: read a binding
                return parse(expr, lambda text: interpolate(text, bindings), tokens)
            if shape is MISS and parsed is not None:
                # A shape is learnt when its key comes back: the first parse of a key is only noted
                # (most never-seen shapes are never seen again), the second, if it pairs, is the template.
                seen = hash(key)
                if seen in _SEEN_ONCE:
                    _SHAPES.put(key, learn(parsed, tokens))  # None: no template, never tried again
                elif len(_SEEN_ONCE) < _SEEN_ONCE_KEPT:
                    _SEEN_ONCE[seen] = None
                else:  # cheaper than an LRU, and a shape in use comes back soon
                    _SEEN_ONCE.clear()
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
        shaped = parsed.shape
        plan = None if shaped is None else shaped[0].plan(key, shaped[1])
        if plan is None:
            plan, sources = render_traced(
                parsed, param_offset, column_types, _checked_text_search(text_search)
            )
            if shaped is not None:
                shaped[0].learn_plan(key, plan, sources, parsed.root)
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
