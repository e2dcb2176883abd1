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

from collections.abc import Mapping
from functools import lru_cache
from typing import Final

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
    Filter,
    Group,
    InList,
    Node,
    Not,
    NullTest,
    Or,
    TimeCompare,
    Value,
    ValueKind,
)
from axonstore.filter._bounds import parse_limit, parse_order_by, render_bounds
from axonstore.filter._compose import conjoin
from axonstore.filter._fast import fast_parse
from axonstore.filter._interpolate import binding_text, interpolate
from axonstore.filter._lexer import tokenize
from axonstore.filter._parser import parse_tokens
from axonstore.filter._render import MAX_PARAMETERS, Param, RenderPlan, check_parameter_count, render
from axonstore.idents import is_safe_identifier

__all__ = [
    "LIKE_OPS",
    "MAX_PARAMETERS",
    "Aggregate",
    "And",
    "Between",
    "Compare",
    "CompareOp",
    "Condition",
    "Filter",
    "Group",
    "InList",
    "Node",
    "Not",
    "NullTest",
    "Or",
    "Param",
    "RenderPlan",
    "TimeCompare",
    "Value",
    "ValueKind",
    "binding_text",
    "build_pg_where",
    "check_parameter_count",
    "compile_where",
    "conjoin",
    "interpolate",
    "is_safe_identifier",
    "parse_aggregate",
    "parse_aggregate_clause",
    "parse_filter",
    "parse_group_by",
    "parse_limit",
    "parse_order_by",
    "plan_for",
    "render_aggregate_select",
    "render_bounds",
    "render_group_by_suffix",
]

_PARSE_CACHE_SIZE: Final = 4096
_PLANS_PER_FILTER: Final = 64


class _NeedsBindings(Exception):
    """The parse read an interpolated string, so its result depends on the bindings: do not cache it."""


def _refuse_templates(text: str) -> str:
    if "$" in text:
        raise _NeedsBindings
    return text


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_cached(expr: str) -> Filter | None:
    return fast_parse(expr) or parse_tokens(tokenize(expr), _refuse_templates)


def parse_filter(expr: str, bindings: Mapping[str, object] | None = None) -> Filter | None:
    """Parse a where-expression; ``None`` when it is blank. Raises a ``FilterError`` subclass.

    String literals stay templates in the tree; use :func:`interpolate` to resolve them.
    """
    try:
        return _parse_cached(expr)
    except _NeedsBindings:
        return parse_tokens(tokenize(expr), lambda text: interpolate(text, bindings))


def plan_for(
    parsed: Filter, param_offset: int = 0, column_types: Mapping[str, str] | None = None
) -> RenderPlan:
    """The render plan of a parsed (or composed) filter, cached on the filter by (offset, column types)."""
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
    return parsed, plan_for(parsed, param_offset, column_types)


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
    _, plan = compile_where(expr, param_offset, column_types, bindings)
    if plan is None:
        return "TRUE", []
    return plan.sql, plan.params(bindings)
