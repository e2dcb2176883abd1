"""Composing parsed filters as trees — never by joining their text.

A caller that adds a predicate of its own to a user's filter (a confidence floor, a tenant binding of the
MCP server) conjoins the two *trees*: ``(user) AND (own)``. Text pasted as ``f"({where}) AND …"`` lets a
user close the parenthesis (``x = 1) OR (x = 2``) and escape the added predicate; a tree cannot be closed.
"""

from __future__ import annotations

from functools import lru_cache

from axonstore.filter._ast import And, Filter, Group, Node


def conjoin(left: Filter | None, right: Filter | None, *, group_right: bool = True) -> Filter | None:
    """``(left) AND (right)`` as one filter; either side may be absent (``None``).

    ``left`` is always grouped (it renders as one pair of parentheses, exactly as a source group would);
    ``right`` too unless ``group_right=False`` — for a single condition such as a confidence floor, whose
    SQL reads ``(<filter>) AND "_confidence" >= $n``. Composed filters are cached by the identity of
    their parts, so a parse served from the parse cache gets the same composed filter (and its render
    plans) on every call.

    >>> from axonstore.filter import parse_filter, plan_for
    >>> user, floor = parse_filter("x = 1 OR x = 2"), parse_filter("c >= 0.5")
    >>> plan_for(conjoin(user, floor, group_right=False)).sql
    '("x"::text = $1 OR "x"::text = $2) AND "c" >= $3'
    """
    if left is None:
        return right
    if right is None:
        return left
    return _conjoined(left, right, group_right)


@lru_cache(maxsize=4096)
def _conjoined(left: Filter, right: Filter, group_right: bool) -> Filter:
    right_node: Node = Group(right.root) if group_right else right.root
    columns = tuple(dict.fromkeys((*left.columns, *right.columns)))
    return Filter(And((Group(left.root), right_node)), columns, left.conditions + right.conditions)
