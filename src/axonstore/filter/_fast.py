"""A fast path for the commonest filters: ``column op literal`` chained with AND / OR.

One regular-expression match per condition (instead of one per token) makes a new expression cheap to
compile. The fast path only ever *accepts*: anything it does not recognise whole, and anything that
would be an error, returns ``None`` and goes through the full lexer → parser, which is the reference
behaviour and raises errors in the right order. A property test checks that the two always agree.
"""

from __future__ import annotations

import re
from typing import Final

from axonstore._text import WHITE_SPACE_CLASS
from axonstore.errors import FilterError
from axonstore.filter._ast import Compare, CompareOp, Filter, Node, NullTest, Value
from axonstore.filter._parser import MAX_COLUMN_BYTES, MAX_CONDITIONS, _by_precedence, _number

_WS: Final = f"[{WHITE_SPACE_CLASS}]*+"  # possessive everywhere: no backtracking
_CONDITION: Final = re.compile(
    rf"""{_WS}
    ([A-Za-z_][A-Za-z0-9_]*+) {_WS}
    (==|!=|<=|>=|<>|[=<>]|(?i:like)(?![A-Za-z0-9_])) {_WS}
    (?: '((?:[^'\\]|\\.)*+)'
      | "((?:[^"\\]|\\.)*+)"
      | (-?[0-9][0-9.]*+)
      | ((?i:true|false|null))(?![A-Za-z0-9_])
    ) {_WS}
    (?: ((?i:and|or))(?![A-Za-z0-9_]) | \Z )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_OPS: Final[dict[str, CompareOp]] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip


def fast_parse(expr: str) -> Filter | None:
    """The parsed filter when ``expr`` is a plain chain of simple conditions, else ``None``."""
    items: list[Node] = []
    connectors: list[str] = []
    columns: dict[str, None] = {}
    match = _CONDITION.match
    pos = 0
    while True:
        # Anchored and possessive: linear in the input, and the first miss ends the attempt.
        m = match(expr, pos)
        if m is None or len(items) == MAX_CONDITIONS:
            return None
        column, op_text, single, double, number, keyword, connector = m.groups()
        node = _node(column, op_text, single, double, number, keyword)
        if node is None:
            return None
        items.append(node)
        columns[column] = None
        pos = m.end()
        if connector is None:
            break
        connectors.append(connector.upper())
    if pos != len(expr):
        return None
    return Filter(_by_precedence(items, connectors), tuple(columns), len(items))


def _node(
    column: str, op_text: str, single: str | None, double: str | None, number: str | None, keyword: str | None
) -> Node | None:
    """One condition from the match groups (``None`` for a group that did not take part), or ``None``."""
    if len(column) > MAX_COLUMN_BYTES:
        return None
    op: CompareOp = _OPS.get(op_text) or "LIKE"
    text = single if single is not None else double
    if text is not None:
        return Compare(column, op, Value("text", _ESCAPE.sub(r"\1", text) if "\\" in text else text))
    if number is not None:
        try:
            value = _number(number)
        except FilterError:
            return None
        return None if op == "LIKE" else Compare(column, op, value)
    word = (keyword or "").lower()
    if word == "null":
        return NullTest(column, op == "!=") if op in ("=", "!=") else None
    return None if op == "LIKE" else Compare(column, op, Value("boolean", word == "true"))
