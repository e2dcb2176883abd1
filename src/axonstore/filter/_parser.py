"""Stage 2: tokens → :class:`Filter` (CONTRACT §5.1 reference subset, §5.2 extensions).

A recursive-descent parser whose methods mirror precedence: ``_sequence`` (AND/OR in source order, one
per group level) → ``_unary`` (NOT, groups) → ``_condition``. Errors are raised at the first offending
token, in the reference's order of checks.

Two things read the *interpolated* text of a string token: the ``found`` of an error, and the body of an
``interval '…'`` (validated after interpolation, as in the reference). Everything else is independent
of the bindings, which is what makes a parse cacheable: ``interp`` is the hook through which the parser
asks for interpolated text, and the caching caller uses a hook that refuses templates containing ``$``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from axonstore._text import split_whitespace
from axonstore.errors import (
    BadTimeValue,
    ColumnTooLong,
    DanglingConnector,
    EmptyInList,
    ExpectedColumn,
    ExpectedConnector,
    ExpectedOperator,
    ExpectedValue,
    FilterError,
    InvalidNumber,
    LikeRequiresText,
    LikeWithTime,
    MissingOperator,
    MissingValue,
    NullInList,
    NullWithNonEqualityOp,
    TooDeep,
    TooManyConditions,
    TooManyValues,
    UnbalancedParen,
    UnexpectedChar,
    UnquotedValue,
)
from axonstore.filter._ast import (
    LIKE_OPS,
    And,
    Between,
    Compare,
    CompareOp,
    Filter,
    Group,
    InList,
    Node,
    Not,
    NullTest,
    Or,
    TimeCompare,
    Value,
)
from axonstore.filter._lexer import EOF, NUMBER, STRING, SYMBOL, WORD, Token

MAX_CONDITIONS: Final = 256
MAX_IN_VALUES: Final = 256
MAX_DEPTH: Final = 32
MAX_COLUMN_BYTES: Final = 63
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_U32_MAX: Final = 2**32 - 1

_COMPARISON: Final[dict[str, CompareOp]] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_OPERATOR_WORDS: Final = frozenset({"LIKE", "ILIKE", "IS", "IN", "BETWEEN"})
_NEGATABLE: Final = frozenset({"LIKE", "ILIKE", "IN", "BETWEEN"})
_WORD_OPERATORS: Final = _OPERATOR_WORDS
_LIKE_FORMS: Final[dict[tuple[str, bool], CompareOp]] = {
    ("LIKE", False): "LIKE",
    ("ILIKE", False): "ILIKE",
    ("LIKE", True): "NOT LIKE",
    ("ILIKE", True): "NOT ILIKE",
}
_TIME_UNITS: Final = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})

Interp = Callable[[str], str]


def parse_tokens(tokens: list[Token], interp: Interp) -> Filter | None:
    """Parse a token list ending in ``EOF``; ``None`` for an empty expression."""
    if tokens[0].kind == EOF:
        return None
    parser = _Parser(tokens, interp)
    root = parser.sequence(None)
    return Filter(root, tuple(parser.columns), parser.conditions)


class _Parser:
    __slots__ = ("columns", "conditions", "depth", "i", "interp", "tokens")

    def __init__(self, tokens: list[Token], interp: Interp) -> None:
        self.tokens = tokens
        self.i = 0
        self.interp = interp
        self.depth = 0
        self.conditions = 0
        self.columns: dict[str, None] = {}  # an insertion-ordered set

    def _next_key(self) -> str:
        """The key of the token after the current one (``""`` past the end)."""
        return self.tokens[self.i + 1].key if self.tokens[self.i].kind != EOF else ""

    def _found(self, tok: Token) -> str:
        """How an error names a token: a string as `'content'` (interpolated), anything else verbatim."""
        if tok.kind == STRING:
            return f"'{self.interp(tok.text)}'"
        return tok.text

    def _error(self, tok: Token, error: Callable[[str], FilterError]) -> FilterError:
        """``error(found)`` for ``tok`` — unless it is a stray comma, which is always UnexpectedChar."""
        if tok.key == ",":
            return UnexpectedChar(",", tok.pos)
        return error(self._found(tok))

    # ---- precedence levels ---------------------------------------------------------------------

    def sequence(self, open_pos: int | None) -> Node:
        """``unary (AND|OR unary)*`` up to the end of input or the ``)`` closing the group at open_pos."""
        items = [self._unary()]
        connectors: list[str] = []
        tokens = self.tokens
        while (tok := tokens[self.i]).kind != EOF:
            key = tok.key
            if key == ")":
                if open_pos is None:
                    raise UnbalancedParen(tok.pos)
                return _by_precedence(items, connectors)
            if tok.kind != WORD or key not in ("AND", "OR"):
                raise self._error(tok, ExpectedConnector)
            self.i += 1
            if tokens[self.i].kind == EOF:
                raise DanglingConnector(key)
            connectors.append(key)
            items.append(self._unary())
        if open_pos is not None:
            raise UnbalancedParen(open_pos)
        return _by_precedence(items, connectors)

    def _unary(self) -> Node:
        tok = self.tokens[self.i]
        if tok.key == "(":
            self._enter()
            self.i += 1
            if self.tokens[self.i].kind == EOF:
                raise UnbalancedParen(tok.pos)
            child = self.sequence(tok.pos)
            self.i += 1  # the `)` that sequence() stopped at
            self.depth -= 1
            return Group(child)
        if tok.key == "NOT" and tok.kind == WORD and self._not_negates():
            self._enter()
            self.i += 1
            child = self._unary()
            self.depth -= 1
            return Not(child)
        return self._condition(tok)

    def _not_negates(self) -> bool:
        """NOT negates before a word (other than an operator word) or `(`; otherwise it is a column."""
        nxt = self.tokens[self.i + 1]
        if nxt.kind == WORD:
            return nxt.key not in _OPERATOR_WORDS
        return nxt.key == "("

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooDeep(MAX_DEPTH)

    # ---- conditions ----------------------------------------------------------------------------

    def _condition(self, tok: Token) -> Node:
        if tok.kind != WORD:
            raise self._error(tok, ExpectedColumn)
        column = tok.text
        if len(column) > MAX_COLUMN_BYTES:  # words are ASCII: characters are bytes
            raise ColumnTooLong(column, len(column))
        self.i += 1
        node = self._predicate(column)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise TooManyConditions(MAX_CONDITIONS)
        self.columns[column] = None
        return node

    def _predicate(self, column: str) -> Node:
        tok = self.tokens[self.i]
        key = tok.key
        if tok.kind == SYMBOL and key in _COMPARISON:
            self.i += 1
            return self._compare(column, _COMPARISON[key])
        if tok.kind == WORD:
            negated = key == "NOT" and self._next_key() in _NEGATABLE
            if negated:
                self.i += 1
                key = self.tokens[self.i].key
            if key in _WORD_OPERATORS:
                self.i += 1
                return self._word_predicate(column, key, negated)
        elif tok.kind == EOF:
            raise MissingOperator(column)
        raise self._error(tok, lambda found: ExpectedOperator(column, found))

    def _word_predicate(self, column: str, word: str, negated: bool) -> Node:
        if word == "IN":
            return self._in_list(column, negated=negated)
        if word == "BETWEEN":
            return self._between(column, negated=negated)
        if word == "IS":
            return self._is_null(column)
        return self._compare(column, _LIKE_FORMS[word, negated])

    def _compare(self, column: str, op: CompareOp) -> Node:
        tok = self.tokens[self.i]
        if tok.key == "NOW" and tok.kind == WORD:
            if op in LIKE_OPS:
                raise LikeWithTime()
            return self._time_value(column, op)
        value = self._literal(tok, column)
        self.i += 1
        if value is None:
            if op not in {"=", "!="}:
                raise NullWithNonEqualityOp(column, op)
            return NullTest(column, op == "!=")
        if op in LIKE_OPS and value.kind != "text":
            raise LikeRequiresText(column, value.kind)
        return Compare(column, op, value)

    def _literal(self, tok: Token, column: str) -> Value | None:
        """A value-position token as a literal (``None`` for null); errors for symbols and bare words."""
        kind = tok.kind
        if kind == STRING:
            return Value("text", tok.text)
        if kind == NUMBER:
            return _number(tok.text)
        if kind == WORD:
            key = tok.key
            if key in {"TRUE", "FALSE"}:
                return Value("boolean", key == "TRUE")
            if key == "NULL":
                return None
            raise UnquotedValue(tok.text)
        if kind == EOF:
            raise MissingValue(column)
        raise self._error(tok, ExpectedValue)

    def _time_value(self, column: str, op: CompareOp) -> Node:
        tokens = self.tokens
        self.i += 1  # `now`
        if tokens[self.i].key != "(" or tokens[self.i + 1].key != ")":
            raise BadTimeValue("expected `now()`")
        self.i += 2
        sign = tokens[self.i]
        if sign.key not in {"+", "-"}:
            return TimeCompare(column, op, None)
        self.i += 1
        if tokens[self.i].kind != WORD or tokens[self.i].key != "INTERVAL":
            raise BadTimeValue("expected `interval` after the `now()` sign")
        self.i += 1
        body = tokens[self.i]
        if body.kind != STRING:
            raise BadTimeValue("expected a quoted interval like '30 minutes'")
        self.i += 1
        amount, unit = _interval(self.interp(body.text))
        return TimeCompare(column, op, sign.key, amount, unit)

    def _is_null(self, column: str) -> Node:
        tok = self.tokens[self.i]
        negated = tok.kind == WORD and tok.key == "NOT"
        if negated:
            self.i += 1
            tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise MissingValue(column)
        if tok.kind != WORD or tok.key != "NULL":
            raise self._error(tok, ExpectedValue)
        self.i += 1
        return NullTest(column, negated)

    def _in_list(self, column: str, *, negated: bool) -> Node:
        tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise MissingValue(column)
        if tok.key != "(":
            raise self._error(tok, ExpectedValue)
        open_pos = tok.pos
        self.i += 1
        if self.tokens[self.i].key == ")":
            raise EmptyInList(column)
        values: list[Value] = []
        while True:
            if len(values) == MAX_IN_VALUES and self.tokens[self.i].kind != EOF:
                raise TooManyValues(column, MAX_IN_VALUES)
            values.append(self._list_element(column))
            tok = self.tokens[self.i]
            if tok.key not in {",", ")"}:
                raise UnbalancedParen(open_pos)
            self.i += 1
            if tok.key == ")":
                return InList(column, tuple(values), negated)
            if self.tokens[self.i].key == ")":  # a trailing comma separates nothing
                raise UnexpectedChar(",", tok.pos)

    def _list_element(self, column: str) -> Value:
        tok = self.tokens[self.i]
        if tok.kind == WORD and tok.key == "NOW":
            raise ExpectedValue(tok.text)
        value = self._literal(tok, column)
        if value is None:
            raise NullInList(column)
        self.i += 1
        return value

    def _between(self, column: str, *, negated: bool) -> Node:
        low = self._bound(column)
        tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise MissingValue(column)
        if tok.kind != WORD or tok.key != "AND":
            raise self._error(tok, ExpectedConnector)
        self.i += 1
        high = self._bound(column)
        return Between(column, low, high, negated)

    def _bound(self, column: str) -> Value:
        tok = self.tokens[self.i]
        if tok.kind == WORD and tok.key in ("NULL", "NOW"):
            raise ExpectedValue(tok.text)
        value = self._literal(tok, column)
        assert value is not None  # null was refused above
        self.i += 1
        return value


def _by_precedence(items: list[Node], connectors: list[str]) -> Node:
    """Group a source-ordered chain so that AND binds tighter than OR (as SQL does)."""
    if not connectors:
        return items[0]
    if "OR" not in connectors:
        return And(tuple(items))
    if "AND" not in connectors:
        return Or(tuple(items))
    disjuncts: list[list[Node]] = [[items[0]]]
    for connector, item in zip(connectors, items[1:], strict=True):
        if connector == "AND":
            disjuncts[-1].append(item)
        else:
            disjuncts.append([item])
    terms = [run[0] if len(run) == 1 else And(tuple(run)) for run in disjuncts]
    return terms[0] if len(terms) == 1 else Or(tuple(terms))


def _number(text: str) -> Value:
    """An i64 when it fits, else a finite f64 (ANCHOR §3.4)."""
    if "." not in text:
        negative = text.startswith("-")
        significant = text.lstrip("-").lstrip("0") or "0"
        if len(significant) <= 19:  # also keeps int() clear of its 4300-digit guard
            value = -int(significant) if negative else int(significant)
            if _I64_MIN <= value <= _I64_MAX:
                return Value("integer", value)
    try:
        number = float(text)
    except ValueError:
        raise InvalidNumber(text) from None
    if not math.isfinite(number):
        raise InvalidNumber(text)
    return Value("float", number)


def _interval(body: str) -> tuple[int, str]:
    """Validate ``'<u32> <unit>'`` (ANCHOR §3.5); return the amount and the singular unit."""
    parts = split_whitespace(body)
    if len(parts) != 2:
        raise BadTimeValue(f"interval '{body}' must be '<number> <unit>'")
    raw_amount, raw_unit = parts
    amount = parse_u32(raw_amount)
    if amount is None:
        raise BadTimeValue(f"interval amount '{raw_amount}' is not a non-negative integer")
    unit = raw_unit.lower()
    unit = unit[:-1] if unit.endswith("s") and unit[:-1] in _TIME_UNITS else unit
    if unit not in _TIME_UNITS:
        raise BadTimeValue(f"unknown interval unit '{raw_unit}'")
    return amount, unit


def parse_u32(text: str) -> int | None:
    """Rust's ``u32::from_str``: an optional `+`, then ASCII digits only, at most 2³²−1."""
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if len(digits.lstrip("0")) > 10:
        return None
    value = int(digits)
    return value if value <= _U32_MAX else None
