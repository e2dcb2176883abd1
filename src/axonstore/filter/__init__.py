"""The where-language: a closed grammar compiled to SQL with ``$n`` parameters (pure, no I/O).

Pipeline: :mod:`._lexer` (tokens) → :mod:`._parser` (a :class:`Filter` tree) → :mod:`._render` (SQL
text + parameters). Request values enter only through ``${name}`` / ``$name`` inside quoted literals,
after tokenising, so a value can never open or close a literal or add syntax.

Parses are cached by expression text and render plans by (offset, column types), so a repeated
expression costs a dictionary lookup plus the interpolation of its templated literals.

>>> build_pg_where("status = '${s}' AND amount > 100", bindings={"s": "open"})
('"status"::text = $1 AND "amount" > $2', ['open', 100])
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

from axonstore.errors import FilterError
from axonstore.filter._aggregate import (
    Aggregate,
    parse_aggregate,
    parse_aggregate_clause,
    parse_group_by,
    render_aggregate_select,
    render_group_by_suffix,
)
from axonstore.filter._ast import Filter
from axonstore.filter._bounds import parse_limit, parse_order_by, render_bounds
from axonstore.filter._fast import fast_parse
from axonstore.filter._ident import (
    checked_ident,
    is_safe_identifier,
    qualified_relation,
    quote_ident,
    type_cast,
)
from axonstore.filter._interpolate import binding_text, interpolate
from axonstore.filter._lexer import tokenize
from axonstore.filter._parser import parse_tokens
from axonstore.filter._render import MAX_PARAMETERS, Param, RenderPlan, check_parameter_count, render
from axonstore.filter._shape import literal_value, shape_of

__all__ = [
    "MAX_PARAMETERS",
    "Aggregate",
    "Filter",
    "Param",
    "RenderPlan",
    "binding_text",
    "build_pg_where",
    "check_parameter_count",
    "checked_ident",
    "compile_where",
    "filter_columns",
    "interpolate",
    "is_safe_identifier",
    "parse_aggregate",
    "parse_aggregate_clause",
    "parse_filter",
    "parse_group_by",
    "parse_limit",
    "parse_order_by",
    "qualified_relation",
    "quote_ident",
    "render_aggregate_select",
    "render_bounds",
    "render_group_by_suffix",
    "type_cast",
]

_PARSE_CACHE_SIZE: Final = 4096
_PLANS_PER_FILTER: Final = 64
_MISSING: Final = object()

# expression → parse, for parses that do not depend on the bindings; shape → parse of the shape, or
# None when the shape does not parse (then every expression of that shape takes the exact path).
_EXACT: dict[str, Filter | None] = {}
_SHAPES: dict[str, Filter | None] = {}


class _NeedsBindings(Exception):
    """The parse read an interpolated string, so its result depends on the bindings: do not cache it."""


def _refuse_templates(text: str) -> str:
    if "$" in text:
        raise _NeedsBindings
    return text


def _remember(cache: dict[str, Filter | None], key: str, value: Filter | None) -> None:
    """Insert, dropping the oldest entry when full (insertion order: cheap, and good enough here)."""
    if len(cache) >= _PARSE_CACHE_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread was first
            del cache[next(iter(cache))]
    cache[key] = value


def _parse_uncached(expr: str) -> Filter | None:
    return fast_parse(expr) or parse_tokens(tokenize(expr), _refuse_templates)


def parse_filter(expr: str, bindings: Mapping[str, object] | None = None) -> Filter | None:
    """Parse a where-expression; ``None`` when it is blank. Raises a ``FilterError`` subclass.

    String literals stay templates in the tree; use :func:`interpolate` to resolve them.
    """
    parsed = _EXACT.get(expr, _MISSING)
    if parsed is not _MISSING:
        return parsed  # type: ignore[return-value]  # a cached Filter or None
    try:
        parsed = _parse_uncached(expr)
    except _NeedsBindings:
        return parse_tokens(tokenize(expr), lambda text: interpolate(text, bindings))
    _remember(_EXACT, expr, parsed)
    return parsed


def filter_columns(expr: str, bindings: Mapping[str, object] | None = None) -> tuple[str, ...]:
    """The columns a where-expression names (first occurrence order); raises its ``FilterError``.

    Served from the shape cache when a same-shaped expression was seen, so a never-seen expression
    whose literals alone are new costs no parse.
    """
    shaped_of = shape_of(expr) if expr not in _EXACT else None
    if shaped_of is not None:
        shape, literals = shaped_of
        shaped = _shape_entry(shape)
        if shaped is not None:
            for raw in literals:  # a number neither i64 nor finite f64 is still InvalidNumber, now
                if raw[0] not in "'\"":
                    literal_value(raw, None)
            return shaped.columns
    parsed = parse_filter(expr, bindings)
    return parsed.columns if parsed is not None else ()


def _plan_for(parsed: Filter, param_offset: int, column_types: Mapping[str, str] | None) -> RenderPlan:
    key = (param_offset, tuple(map(column_types.get, parsed.columns)) if column_types else None)
    plan = parsed.plans.get(key)
    if plan is None:
        plan = render(parsed, param_offset, column_types)
        if len(parsed.plans) >= _PLANS_PER_FILTER:
            parsed.plans.clear()
        parsed.plans[key] = plan
    assert isinstance(plan, RenderPlan)
    return plan


def compile_where(
    expr: str,
    param_offset: int = 0,
    column_types: Mapping[str, str] | None = None,
    bindings: Mapping[str, object] | None = None,
) -> tuple[Filter | None, RenderPlan | None]:
    """The parsed filter and its render plan (``(None, None)`` for a blank expression)."""
    parsed = parse_filter(expr, bindings)
    if parsed is None:
        return None, None
    return parsed, _plan_for(parsed, param_offset, column_types)


def _shape_entry(shape: str) -> Filter | None:
    """The parse of a shape, or ``None`` when the shape does not parse (or is blank)."""
    entry = _SHAPES.get(shape, _MISSING)
    if entry is _MISSING:
        try:
            entry = _parse_uncached(shape)
        except (FilterError, _NeedsBindings):
            entry = None  # the exact path will report the expression's own error
        _remember(_SHAPES, shape, entry)
    return entry  # type: ignore[return-value]


def _compile_by_shape(
    expr: str,
    param_offset: int,
    column_types: Mapping[str, str] | None,
    bindings: Mapping[str, object] | None,
) -> tuple[str, list[Param]] | None:
    """A never-seen expression compiled through its shape's plan, or ``None`` to take the exact path."""
    shaped_of = shape_of(expr)
    if shaped_of is None:
        return None
    shape, literals = shaped_of
    entry = _shape_entry(shape)
    if entry is None:
        return None
    plan = _plan_for(entry, param_offset, column_types)
    slots = plan.literal_slots
    if len(slots) != len(literals):  # cannot happen for a shape that parsed; be safe, not clever
        return None
    params = list(plan.constants)
    for slot, raw in zip(slots, literals, strict=True):
        params[slot] = literal_value(raw, bindings)
    return plan.sql, params


def build_pg_where(
    expr: str,
    param_offset: int = 0,
    bindings: Mapping[str, object] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> tuple[str, list[Param]]:
    """Compile a where-expression to ``(clause, params)``; placeholders start at ``$param_offset+1``.

    A blank expression is ``("TRUE", [])``. ``column_types`` maps column → ``pg_type.typname`` (or
    ``schema.type``): a known type casts the value (``$1::int4``); an unknown one compares equality as
    text and leaves ordering bare.

    >>> build_pg_where("age >= 18 AND name IS NOT NULL", column_types={"age": "int4"})
    ('"age" >= $1::int4 AND "name" IS NOT NULL', [18])
    """
    if expr not in _EXACT:
        shaped = _compile_by_shape(expr, param_offset, column_types, bindings)
        if shaped is not None:
            return shaped
    _, plan = compile_where(expr, param_offset, column_types, bindings)
    if plan is None:
        return "TRUE", []
    return plan.sql, plan.params(bindings)
