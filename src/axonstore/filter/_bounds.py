"""``order_by:`` and ``limit:`` (ANCHOR §3.11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from axonstore._text import split_whitespace, trim
from axonstore.errors import BadLimit, BadOrderBy
from axonstore.filter._interpolate import interpolate
from axonstore.filter._parser import parse_u32
from axonstore.idents import is_safe_identifier

_DIRECTIONS: Final = {"asc": "ASC", "desc": "DESC"}


def parse_order_by(expr: str) -> list[tuple[str, str]]:
    """``"a desc, b"`` → ``[("a", "DESC"), ("b", "ASC")]``; ``BadOrderBy`` for anything else.

    >>> parse_order_by("last_activity_at asc, id DESC")
    [('last_activity_at', 'ASC'), ('id', 'DESC')]
    """
    if not trim(expr):
        return []
    keys: list[tuple[str, str]] = []
    for term in expr.split(","):
        parts = split_whitespace(term)
        if not parts:
            raise BadOrderBy("an empty sort term (a stray comma?)")
        column = parts[0]
        if not is_safe_identifier(column):
            raise BadOrderBy(
                f"`{column}` is not a valid column identifier ([A-Za-z_][A-Za-z0-9_]*, ≤ 63 bytes)"
            )
        direction = "ASC"
        if len(parts) > 1:
            direction = _DIRECTIONS.get(parts[1].lower(), "")
            if not direction:
                raise BadOrderBy(f"direction `{parts[1]}` on column `{column}` is not `asc` or `desc`")
        if len(parts) > 2:
            raise BadOrderBy(
                f"unexpected `{parts[2]}` after `{column} {parts[1]}` — a sort term is `column [asc|desc]`"
            )
        keys.append((column, direction))
    return keys


def parse_limit(expr: str, bindings: Mapping[str, object] | None = None) -> int | None:
    """A non-negative ``u32`` after interpolating the raw text (so ``${max}`` works); ``None`` if blank.

    >>> parse_limit("${max}", {"max": "50"}), parse_limit("  "), parse_limit("+007")
    (50, None, 7)
    """
    text = trim(interpolate(expr, bindings))
    if not text:
        return None
    value = parse_u32(text)
    if value is not None:
        return value
    raise BadLimit(f"`{text}` is not a non-negative integer in `u32` range")


def render_bounds(order_by: str, limit: str, bindings: Mapping[str, object] | None = None) -> str:
    """``' ORDER BY "a" ASC, "b" DESC LIMIT n'`` with each part optional; ``""`` when both are blank.

    >>> render_bounds("id desc", "25")
    ' ORDER BY "id" DESC LIMIT 25'
    """
    keys = parse_order_by(order_by)
    count = parse_limit(limit, bindings)
    out = ""
    if keys:
        out += " ORDER BY " + ", ".join(f'"{column}" {direction}' for column, direction in keys)
    if count is not None:
        out += f" LIMIT {count}"
    return out
