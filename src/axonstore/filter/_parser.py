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

import json
import math
from collections.abc import Callable
from typing import Final, TypeVar

from axonstore._text import split_whitespace
from axonstore.errors import (
    BadJsonLiteral,
    BadJsonPath,
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
)
from axonstore.filter._lexer import EOF, NUMBER, STRING, SYMBOL, WORD, Token

MAX_CONDITIONS: Final = 256
MAX_IN_VALUES: Final = 256
MAX_DEPTH: Final = 32
MAX_COLUMN_BYTES: Final = 63
MAX_PATH_STEPS: Final = 8
_INT4_MAX: Final = 2**31 - 1  # PostgreSQL's `json -> integer` takes an int4
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_U32_MAX: Final = 2**32 - 1

_COMPARISON: Final[dict[str, CompareOp]] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_OPERATOR_WORDS: Final = frozenset({"LIKE", "ILIKE", "IS", "IN", "BETWEEN"})
_NEGATABLE: Final = frozenset({"LIKE", "ILIKE", "IN", "BETWEEN"})
_ARROWS: Final = frozenset({"->", "->>"})
_CONTAINMENT: Final = frozenset({"@>", "<@", "&&"})
_LIKE_FORMS: Final[dict[tuple[str, bool], CompareOp]] = {
    ("LIKE", False): "LIKE",
    ("ILIKE", False): "ILIKE",
    ("LIKE", True): "NOT LIKE",
    ("ILIKE", True): "NOT ILIKE",
}
_TIME_UNITS: Final = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})

Interp = Callable[[str], str]
_E = TypeVar("_E", bound=FilterError)


def at(error: _E, pos: int) -> _E:
    """``error`` with its place in the expression set (``pos``, a character index)."""
    error.pos = pos
    return error


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
        return at(error(self._found(tok)), tok.pos)

    def _here(self) -> int:
        """The position of the current token (the end of the input at EOF)."""
        return self.tokens[self.i].pos

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
                raise at(DanglingConnector(key), tok.pos)
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
            raise at(TooDeep(MAX_DEPTH), self._here())

    # ---- conditions ----------------------------------------------------------------------------

    def _condition(self, tok: Token) -> Node:
        if tok.kind != WORD:
            raise self._error(tok, ExpectedColumn)
        column = tok.text
        if len(column) > MAX_COLUMN_BYTES:  # words are ASCII: characters are bytes
            raise at(ColumnTooLong(column, len(column)), tok.pos)
        self.i += 1
        if self.tokens[self.i].key in _ARROWS:
            node = self._path_predicate(self._path(column))
        else:
            node = self._predicate(column)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise at(TooManyConditions(MAX_CONDITIONS), tok.pos)
        self.columns[column] = None
        return node

    def _predicate(self, column: str) -> Node:
        tok = self.tokens[self.i]
        key = tok.key
        if tok.kind == SYMBOL and key in _COMPARISON:
            self.i += 1
            return self._compare(column, _COMPARISON[key])
        if tok.kind == SYMBOL and key in _CONTAINMENT:
            self.i += 1
            return self._contains(column, key, tok.pos)  # type: ignore[arg-type]  # key is a ContainOp
        if tok.kind == SYMBOL and key == "@@":
            self.i += 1
            return self._text_search(column, tok.pos)
        if tok.kind == WORD:
            negated = key == "NOT" and self._next_key() in _NEGATABLE
            if negated:
                self.i += 1
                key = self.tokens[self.i].key
            if key in _OPERATOR_WORDS:
                self.i += 1
                return self._word_predicate(column, key, negated)
        elif tok.kind == EOF:
            raise at(MissingOperator(column), tok.pos)
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
                raise at(LikeWithTime(), tok.pos)
            return self._time_value(column, op)
        value = self._literal(tok, column)
        self.i += 1
        if value is None:
            if op not in {"=", "!="}:
                raise at(NullWithNonEqualityOp(column, op), tok.pos)
            return NullTest(column, op == "!=")
        if op in LIKE_OPS and value.kind != "text":
            raise at(LikeRequiresText(column, value.kind), tok.pos)
        return Compare(column, op, value)

    def _literal(self, tok: Token, column: str) -> Value | None:
        """A value-position token as a literal (``None`` for null); errors for symbols and bare words."""
        kind = tok.kind
        if kind == STRING:
            return Value("text", tok.text)
        if kind == NUMBER:
            try:
                return _number(tok.text)
            except InvalidNumber as error:
                raise at(error, tok.pos) from None
        if kind == WORD:
            key = tok.key
            if key in {"TRUE", "FALSE"}:
                return Value("boolean", key == "TRUE")
            if key == "NULL":
                return None
            raise at(UnquotedValue(tok.text), tok.pos)
        if kind == EOF:
            raise at(MissingValue(column), tok.pos)
        raise self._error(tok, ExpectedValue)

    def _time_value(self, column: str, op: CompareOp) -> Node:
        tokens = self.tokens
        self.i += 1  # `now`
        if tokens[self.i].key != "(" or tokens[self.i + 1].key != ")":
            raise at(BadTimeValue("expected `now()`"), self._here())
        self.i += 2
        sign = tokens[self.i]
        if sign.key not in {"+", "-"}:
            return TimeCompare(column, op, None)
        self.i += 1
        if tokens[self.i].kind != WORD or tokens[self.i].key != "INTERVAL":
            raise at(BadTimeValue("expected `interval` after the `now()` sign"), self._here())
        self.i += 1
        body = tokens[self.i]
        if body.kind != STRING:
            raise at(BadTimeValue("expected a quoted interval like '30 minutes'"), body.pos)
        self.i += 1
        try:
            amount, unit = _interval(self.interp(body.text))
        except BadTimeValue as error:
            raise at(error, body.pos) from None
        return TimeCompare(column, op, sign.key, amount, unit)

    def _is_null(self, column: str) -> Node:
        return NullTest(column, self._is_null_negated(column))

    def _is_null_negated(self, column: str) -> bool:
        """After ``IS``: ``[NOT] NULL``; whether it was ``NOT``."""
        tok = self.tokens[self.i]
        negated = tok.kind == WORD and tok.key == "NOT"
        if negated:
            self.i += 1
            tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise at(MissingValue(column), tok.pos)
        if tok.kind != WORD or tok.key != "NULL":
            raise self._error(tok, ExpectedValue)
        self.i += 1
        return negated

    def _in_list(self, column: str, *, negated: bool) -> Node:
        return InList(column, self._list(column), negated)

    def _list(self, column: str) -> tuple[Value, ...]:
        """``'(' literal (',' literal)* ')'`` — an IN list, or the list of a containment."""
        tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise at(MissingValue(column), tok.pos)
        if tok.key != "(":
            raise self._error(tok, ExpectedValue)
        open_pos = tok.pos
        self.i += 1
        if self.tokens[self.i].key == ")":
            raise at(EmptyInList(column), open_pos)
        values: list[Value] = []
        while True:
            if len(values) == MAX_IN_VALUES and self.tokens[self.i].kind != EOF:
                raise at(TooManyValues(column, MAX_IN_VALUES), self._here())
            values.append(self._list_element(column))
            tok = self.tokens[self.i]
            if tok.key not in {",", ")"}:
                raise UnbalancedParen(open_pos)
            self.i += 1
            if tok.key == ")":
                return tuple(values)
            if self.tokens[self.i].key == ")":  # a trailing comma separates nothing
                raise UnexpectedChar(",", tok.pos)

    def _list_element(self, column: str) -> Value:
        tok = self.tokens[self.i]
        if tok.kind == WORD and tok.key == "NOW":
            raise at(ExpectedValue(tok.text), tok.pos)
        value = self._literal(tok, column)
        if value is None:
            raise at(NullInList(column), tok.pos)
        self.i += 1
        return value

    def _between(self, column: str, *, negated: bool) -> Node:
        low = self._bound(column)
        tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise at(MissingValue(column), tok.pos)
        if tok.kind != WORD or tok.key != "AND":
            raise self._error(tok, ExpectedConnector)
        self.i += 1
        high = self._bound(column)
        return Between(column, low, high, negated)

    def _bound(self, column: str) -> Value:
        tok = self.tokens[self.i]
        if tok.kind == WORD and tok.key in ("NULL", "NOW"):
            raise at(ExpectedValue(tok.text), tok.pos)
        value = self._literal(tok, column)
        assert value is not None  # null was refused above
        self.i += 1
        return value

    # ---- CONTRACT §12: JSON paths, containment, full-text search ---------------------------------

    def _path(self, column: str) -> JsonPath:
        """``('->' key)* ['->>' key]`` after a column: at most 8 steps, ``->>`` only as the last."""
        tokens = self.tokens
        keys: list[Value] = []
        first = tokens[self.i].pos
        text = False
        while (arrow := tokens[self.i]).key in _ARROWS:
            if text:
                raise at(BadJsonPath("->> yields text, so it can only be the last step"), arrow.pos)
            if len(keys) == MAX_PATH_STEPS:
                raise at(BadJsonPath(f"more than {MAX_PATH_STEPS} steps"), arrow.pos)
            self.i += 1
            keys.append(self._path_key(tokens[self.i]))
            self.i += 1
            text = arrow.key == "->>"
        return JsonPath(column, tuple(keys), text, first)

    def _path_key(self, tok: Token) -> Value:
        if tok.kind == STRING:
            return Value("text", tok.text)
        if tok.kind == NUMBER and tok.text.isdigit():  # ASCII digits: the lexer admits no others
            index = int(tok.text) if len(tok.text) <= 10 else _INT4_MAX + 1
            if index <= _INT4_MAX:
                return Value("integer", index)
        found = "end of expression" if tok.kind == EOF else f"`{self._found(tok)}`"
        raise at(
            BadJsonPath(f"a step is a quoted key or an array index from 0 to {_INT4_MAX}, found {found}"),
            tok.pos,
        )

    def _path_predicate(self, path: JsonPath) -> Node:
        """What may follow a path: a comparison or [NOT] [I]LIKE (``->>`` only), IS [NOT] NULL, [NOT] IN."""
        tok = self.tokens[self.i]
        key = tok.key
        if tok.kind == WORD and key == "IS":
            self.i += 1
            return PathNullTest(path, self._is_null_negated(path.column))
        negated = tok.kind == WORD and key == "NOT" and self._next_key() in _NEGATABLE
        if negated:
            key = self._next_key()
        word = tok.kind == WORD and key in _NEGATABLE
        if not (tok.kind == SYMBOL and key in _COMPARISON) and not word:
            if tok.kind == EOF:
                raise at(MissingOperator(path.column), tok.pos)
            if tok.kind == SYMBOL and (key in _CONTAINMENT or key == "@@"):
                raise at(BadJsonPath(f"`{key}` applies to a column, not to a path"), tok.pos)
            raise self._error(tok, lambda found: ExpectedOperator(path.column, found))
        if not path.text:
            raise at(BadJsonPath("end the path with ->> to compare a value"), tok.pos)
        if key == "BETWEEN":
            raise at(BadJsonPath("BETWEEN does not take a path: compare with >= and <="), tok.pos)
        self.i += 2 if negated else 1
        if key == "IN":
            return PathInList(path, self._path_list(path.column), negated)
        op = _COMPARISON[key] if not word else _LIKE_FORMS[key, negated]
        return self._path_compare(path, op)

    def _path_compare(self, path: JsonPath, op: CompareOp) -> Node:
        tok = self.tokens[self.i]
        if tok.key == "NOW" and tok.kind == WORD:
            raise at(BadJsonPath("a path compares with a literal, not with now()"), tok.pos)
        value = self._literal(tok, path.column)
        self.i += 1
        if value is None:
            if op not in {"=", "!="}:
                raise at(NullWithNonEqualityOp(path.column, op), tok.pos)
            return PathNullTest(path, op == "!=")
        if op in LIKE_OPS and value.kind != "text":
            raise at(LikeRequiresText(path.column, value.kind), tok.pos)
        return PathCompare(path, op, value)

    def _path_list(self, column: str) -> tuple[Value, ...]:
        start = self._here()
        values = self._list(column)
        # The first value says how the text is compared ((path)::numeric, ::boolean, or as text).
        kinds = {"number" if value.kind in ("integer", "float") else value.kind for value in values}
        if len(kinds) > 1:
            raise at(
                BadJsonPath("an IN list after ->> holds all numbers, all booleans or all strings"), start
            )
        return values

    def _contains(self, column: str, op: ContainOp, pos: int) -> Node:
        tok = self.tokens[self.i]
        if op == "@>" and tok.kind == STRING:
            try:
                json.loads(self.interp(tok.text), parse_constant=_no_constant)
            except ValueError as error:
                raise at(BadJsonLiteral(_json_problem(error)), tok.pos) from None
            except RecursionError:  # PostgreSQL refuses such depth too (stack depth limit exceeded)
                raise at(BadJsonLiteral("nested too deeply"), tok.pos) from None
            self.i += 1
            return Contains(column, op, Value("text", tok.text), (), pos)
        return Contains(column, op, None, self._list(column), pos)

    def _text_search(self, column: str, pos: int) -> Node:
        tok = self.tokens[self.i]
        if tok.kind == EOF:
            raise at(MissingValue(column), tok.pos)
        if tok.kind != STRING:
            raise self._error(tok, ExpectedValue)
        self.i += 1
        return TextSearch(column, Value("text", tok.text), pos)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_problem(error: ValueError) -> str:
    """The decoder's complaint without its position arithmetic on the interpolated text."""
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


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
