"""A fast path for the common filters: chains of simple conditions joined by AND / OR.

One regular-expression match per condition (instead of one per token) makes a new expression cheap to
compile. A condition is ``column op literal``, ``column [NOT] [I]LIKE 'pattern'``, ``column IS [NOT]
NULL``, ``column [NOT] IN (literals)`` or ``column [NOT] BETWEEN literal AND literal``; anything else
(``NOT`` in front, parentheses, ``now()``) goes to the full lexer → parser.

The fast path only ever *accepts*: anything it does not recognise whole, and anything that would be an
error, returns ``None`` and the full parser (the reference behaviour, with errors in the right order)
takes over. Property tests check that whenever the fast path answers, the full parser gives the same tree.
"""

from __future__ import annotations

import re
from typing import Final

from axonstore._text import WHITE_SPACE_CLASS
from axonstore.errors import FilterError
from axonstore.filter._ast import Between, Compare, CompareOp, Filter, InList, Node, NullTest, Value
from axonstore.filter._parser import MAX_COLUMN_BYTES, MAX_CONDITIONS, MAX_IN_VALUES, _by_precedence, _number

_WS: Final = f"[{WHITE_SPACE_CLASS}]*+"  # possessive everywhere: no backtracking, linear scans
_END: Final = "(?![A-Za-z0-9_])"  # a keyword ends where a word would
_STR: Final = r"""'(?:[^'\\]|\\.)*+'|"(?:[^"\\]|\\.)*+\""""
_LIT: Final = rf"""(?:{_STR}|-?[0-9][0-9.]*+|(?i:true|false){_END})"""
_CONDITION: Final = re.compile(
    rf"""{_WS}
    ([A-Za-z_][A-Za-z0-9_]*+) {_WS}                                   # 1 column
    (?:
        (==|!=|<=|>=|<>|[=<>]) {_WS} ({_LIT}|(?i:null){_END})         # 2 op, 3 value
      | ((?i:not){_END})? {_WS} ((?i:i?like)){_END} {_WS} ({_STR}|(?i:null){_END}|{_LIT})
                                                                      # 4 not, 5 like, 6 pattern
      | (?i:is){_END} {_WS} ((?i:not){_END})? {_WS} (?i:null){_END}   # 7 not (IS NULL)
      | ((?i:not){_END})? {_WS} (?i:in){_END} {_WS}
            \( ({_WS} {_LIT} (?: {_WS} , {_WS} {_LIT})*+ {_WS}) \)     # 8 not, 9 list
      | ((?i:not){_END})? {_WS} (?i:between){_END} {_WS} ({_LIT}) {_WS}
            (?i:and){_END} {_WS} ({_LIT})                             # 10 not, 11 low, 12 high
    ) {_WS}
    (?: ((?i:and|or)){_END} | \Z )                                    # 13 connector""",
    re.VERBOSE | re.DOTALL | re.ASCII,  # ASCII: `(?i)` must not fold ſ, ı, İ or K onto a keyword
)
_LITERALS: Final = re.compile(
    r"""'((?:[^'\\]|\\.)*+)'|"((?:[^"\\]|\\.)*+)"|(-?[0-9][0-9.]*+)|((?i:true|false))""",
    re.DOTALL | re.ASCII,
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_OPS: Final[dict[str, CompareOp]] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_LIKES: Final[dict[tuple[str, bool], CompareOp]] = {
    ("LIKE", False): "LIKE",
    ("ILIKE", False): "ILIKE",
    ("LIKE", True): "NOT LIKE",
    ("ILIKE", True): "NOT ILIKE",
}


class _Decline(Exception):
    """A control-flow signal: hand the expression to the full parser."""


def fast_parse(expr: str) -> Filter | None:
    """The parsed filter when ``expr`` is a plain chain of simple conditions, else ``None``."""
    items: list[Node] = []
    connectors: list[str] = []
    columns: dict[str, None] = {}
    match = _CONDITION.match
    pos = 0
    try:
        while True:
            # Anchored and possessive: linear in the input, and the first miss ends the attempt.
            m = match(expr, pos)
            if m is None or len(items) == MAX_CONDITIONS:
                return None
            groups = m.groups()
            column, op_text, raw = groups[0], groups[1], groups[2]
            if (
                op_text is not None
                and raw is not None
                and raw[0] in "'\""
                and len(column) <= MAX_COLUMN_BYTES
            ):
                # the commonest condition, `column op 'text'`, without a call per piece
                text = raw[1:-1]
                value = Value("text", _ESCAPE.sub(r"\1", text) if "\\" in text else text)
                items.append(Compare(column, _OPS[op_text], value))
            else:
                items.append(_node(groups))
            columns[column] = None
            pos = m.end()
            connector = groups[12]
            if connector is None:
                break
            connectors.append(connector.upper())
    except _Decline:
        return None
    if pos != len(expr):
        return None
    return Filter(_by_precedence(items, connectors), tuple(columns), len(items))


def _node(g: tuple[str | None, ...]) -> Node:
    column = g[0]
    assert column is not None
    if len(column) > MAX_COLUMN_BYTES:
        raise _Decline
    if g[1] is not None:
        return _compare(column, _OPS[g[1]], g[2])
    negation = g[3] or g[7] or g[9] or g[6]  # a NOT after the column
    if negation is not None and column.upper() == "NOT":
        raise _Decline  # `NOT NOT …` starts with a negation, not with a column named NOT
    if g[4] is not None:
        return _compare(column, _LIKES[g[4].upper(), g[3] is not None], g[5])
    if g[8] is not None:
        return InList(column, _list(g[8]), g[7] is not None)
    if g[10] is not None:
        return Between(column, _literal(g[10]), _literal(g[11]), g[9] is not None)
    return NullTest(column, g[6] is not None)


def _compare(column: str, op: CompareOp, raw: str | None) -> Node:
    assert raw is not None
    if raw[0] in "nN" and raw.upper() == "NULL":
        if op not in ("=", "!="):
            raise _Decline  # NullWithNonEqualityOp: the full parser reports it
        return NullTest(column, op == "!=")
    value = _literal(raw)
    if value.kind != "text" and op not in _OPS.values():
        raise _Decline  # LikeRequiresText
    return Compare(column, op, value)


def _literal(raw: str | None) -> Value:
    assert raw is not None
    first = raw[0]
    if first in "'\"":
        text = raw[1:-1]
        return Value("text", _ESCAPE.sub(r"\1", text) if "\\" in text else text)
    if first in "tTfF":
        return Value("boolean", raw.lower() == "true")
    try:
        return _number(raw)
    except FilterError:
        raise _Decline from None


def _list(text: str) -> tuple[Value, ...]:
    values = [_literal(m.group(0)) for m in _LITERALS.finditer(text)]
    if len(values) > MAX_IN_VALUES:
        raise _Decline
    return tuple(values)
