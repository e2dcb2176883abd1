"""Stage 2: tokens → :class:`Filter` (CONTRACT §5.1 reference subset, §5.2 extensions, §12).

The one parser of the grammar (issue 15 removed a regex fast path that had to agree with it). A
recursive-descent parser whose methods mirror precedence: ``sequence`` (AND/OR in source order, one per
group level) → ``_unary`` (NOT, groups) → ``_condition``. It reads :func:`~._lexer.scan`'s tokens —
plain ``str``, their kind from the first character — so no object is built per token, and looks a
token's position up (:func:`~._lexer.place`) only for an error or a §12 node that carries one. The
commonest tokens (a plain string or integer after a comparison, list elements, path keys) are read
where they stand, without a call; everything else, and every error, goes through the general steps.
Errors are raised at the first offending token, in the reference's order of checks.

Two things read the *interpolated* text of a string token: the ``found`` of an error, and the body of an
``interval '…'`` (validated after interpolation, as in the reference). Everything else is independent
of the bindings, which is what makes a parse cacheable: ``interp`` is the hook through which the parser
asks for interpolated text, and the caching caller uses a hook that refuses templates containing ``$``.
"""

from __future__ import annotations

import itertools
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
from axonstore.filter._lexer import END, KINDS, NUMBER, STRING, WORD, kind, place, scan, symbol_place, text

MAX_CONDITIONS: Final = 256
MAX_IN_VALUES: Final = 256
MAX_DEPTH: Final = 32
MAX_COLUMN_BYTES: Final = 63
MAX_PATH_STEPS: Final = 8
INT4_MAX: Final = 2**31 - 1  # PostgreSQL's `json -> integer` takes an int4
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


def _spellings(word: str) -> list[str]:
    """Every ASCII spelling of a keyword (``And``, ``aNd``, …): a set lookup then matches it as
    ``token.upper() == word`` does — keywords are ASCII, with no Unicode case folding."""
    return ["".join(letters) for letters in itertools.product(*((c.lower(), c.upper()) for c in word))]


#: What a token standing where a condition may start opens: a group, or (any spelling of) NOT.
_UNARY_STARTS: Final = frozenset(["(", *_spellings("NOT")])
#: The connectors between conditions, by spelling.
_CONNECTORS: Final = dict.fromkeys(_spellings("AND"), "AND") | dict.fromkeys(_spellings("OR"), "OR")
#: An IN list after ``->>`` holds values of one class: numbers (of either kind), booleans or strings.
_KIND_CLASS: Final = {"integer": "number", "float": "number", "boolean": "boolean", "text": "text"}
_TIME_UNITS: Final = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})

Interp = Callable[[str], str]
_E = TypeVar("_E", bound=FilterError)


def at(error: _E, pos: int) -> _E:
    """``error`` with its place in the expression set (``pos``, a character index)."""
    error.pos = pos
    return error


def parse(expr: str, interp: Interp, tokens: list[str] | None = None) -> Filter | None:
    """Tokenise (unless ``tokens``, ``scan(expr)``, are given) and parse ``expr``; ``None`` for an
    empty expression."""
    if tokens is None:
        tokens = scan(expr)
    if tokens[0] is END:
        return None
    parser = _Parser(expr, tokens, interp)
    root = parser.sequence(None)
    if parser.placed:
        place_nodes(expr, tokens, parser.placed)
    return Filter(root, tuple(parser.columns), parser.conditions, {}, expr)


def place_nodes(expr: str, tokens: list[str], placed: list[JsonPath | Contains | TextSearch]) -> None:
    """Give every §12 node in ``placed`` (source order; each holding its token index in ``pos``) its
    character position in ``expr``, found for all of them in one pass after the parse (one walk over
    the tokens per node cost a JSON-path expression a quarter of its parse).

    Every arrow of a path is placed, not only the first that the node keeps: then the tokens between
    two symbols placed seldom hold the text of the next one, which keeps each to one ``str.find``
    (:func:`~._lexer.symbol_place`).
    """
    start = first = 0  # where the text after the last symbol placed begins, and its token index
    for node in placed:
        index = node.pos
        steps = len(node.keys) if type(node) is JsonPath else 1
        node.pos = pos = symbol_place(expr, tokens, index, first, start)
        for _step in range(1, steps):  # the path's later arrows: arrow, key, arrow, …
            first, start = index + 1, pos + len(tokens[index])
            index += 2
            pos = symbol_place(expr, tokens, index, first, start)
        first, start = index + 1, pos + len(tokens[index])


class _Parser:
    """The parser's state: the tokens (source text, closed by ``END``), the index of the current one,
    and what the limits count. Token positions are looked up only for an error or a §12 node."""

    __slots__ = ("columns", "conditions", "depth", "expr", "i", "interp", "placed", "tokens")

    def __init__(self, expr: str, tokens: list[str], interp: Interp) -> None:
        self.expr = expr
        self.tokens = tokens
        self.i = 0
        self.interp = interp
        self.depth = 0
        self.conditions = 0
        self.columns: dict[str, None] = {}  # an insertion-ordered set
        # §12 nodes holding a token index in ``pos`` until place_nodes() swaps in their character index
        self.placed: list[JsonPath | Contains | TextSearch] = []

    def pos(self, index: int) -> int:
        """The character index of token ``index`` (the end of the input for ``END``), for an error."""
        return place(self.expr, self.tokens, index)

    def _found(self, token: str) -> str:
        """How an error names a token: a string as `'content'` (interpolated), anything else verbatim."""
        if token[0] in "'\"":
            return f"'{self.interp(text(token))}'"
        return text(token)

    def _error(self, index: int, error: Callable[[str], FilterError]) -> FilterError:
        """``error(found)`` for token ``index`` — unless it is a stray comma, always UnexpectedChar."""
        token = self.tokens[index]
        if token == ",":
            return UnexpectedChar(",", self.pos(index))
        return at(error(self._found(token)), self.pos(index))

    # ---- precedence levels ---------------------------------------------------------------------

    def sequence(self, opened: int | None) -> Node:
        """``unary (AND|OR unary)*`` up to the end of input or the ``)`` closing the group whose ``(``
        is token ``opened``."""
        tokens = self.tokens
        items: list[Node] = []
        connectors: list[str] = []
        token = tokens[self.i]
        while True:
            # a condition directly (one call less), unless a group or a NOT starts here
            items.append(self._unary() if token in _UNARY_STARTS else self._condition(token))
            token = tokens[self.i]
            connector = _CONNECTORS.get(token)
            if connector is None:
                if token is END:
                    break
                if token == ")":
                    if opened is None:
                        raise UnbalancedParen(self.pos(self.i))
                    return _by_precedence(items, connectors)
                raise self._error(self.i, ExpectedConnector)
            self.i += 1
            token = tokens[self.i]
            if token is END:
                raise at(DanglingConnector(connector), self.pos(self.i - 1))
            connectors.append(connector)
        if opened is not None:
            raise UnbalancedParen(self.pos(opened))
        return _by_precedence(items, connectors)

    def _unary(self) -> Node:
        token = self.tokens[self.i]
        if token == "(":
            opened = self.i
            self._enter()
            self.i += 1
            if self.tokens[self.i] is END:
                raise UnbalancedParen(self.pos(opened))
            child = self.sequence(opened)
            self.i += 1  # the `)` that sequence() stopped at
            self.depth -= 1
            return Group(child)
        if token in _UNARY_STARTS and self._not_negates():  # not `(`: tested above
            self._enter()
            self.i += 1
            child = self._unary()
            self.depth -= 1
            return Not(child)
        return self._condition(token)

    def _not_negates(self) -> bool:
        """NOT negates before a word (other than an operator word) or `(`; otherwise it is a column."""
        following = self.tokens[self.i + 1]
        if KINDS.get(following[0]) == WORD:
            return following.upper() not in _OPERATOR_WORDS
        return following == "("

    def _enter(self) -> None:
        """A group or a NOT opens one more level of nesting."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise at(TooDeep(MAX_DEPTH), self.pos(self.i))

    # ---- conditions ----------------------------------------------------------------------------

    def _condition(self, column: str) -> Node:
        start = self.i
        if KINDS.get(column[0]) != WORD:
            raise self._error(start, ExpectedColumn)
        if len(column) > MAX_COLUMN_BYTES:  # words are ASCII: characters are bytes
            raise at(ColumnTooLong(column, len(column)), self.pos(start))
        tokens = self.tokens
        token = tokens[start + 1]
        op = _COMPARISON.get(token)
        if op is not None:
            # `column op value`, the commonest condition: a plain string or integer is read here
            # (one call less per condition); anything else, and every error, in _compare.
            value = tokens[start + 2]
            if value[0] in "'\"" and "\\" not in value:
                self.i = start + 3
                node: Node = Compare(column, op, Value("text", value[1:-1]))
            elif value.isdigit() and len(value) < 19:
                self.i = start + 3
                node = Compare(column, op, Value("integer", int(value)))
            else:
                self.i = start + 2
                node = self._compare(column, op)
        else:
            self.i = start + 1
            node = self._path_predicate(self._path(column)) if token in _ARROWS else self._predicate(column)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise at(TooManyConditions(MAX_CONDITIONS), self.pos(start))
        self.columns[column] = None
        return node

    def _predicate(self, column: str) -> Node:
        """Everything but a comparison (which :meth:`_condition` reads) after a column."""
        token = self.tokens[self.i]
        if token in _CONTAINMENT:
            self.i += 1
            return self._contains(column, token, self.i - 1)  # type: ignore[arg-type]
        if token == "@@":
            self.i += 1
            return self._text_search(column, self.i - 1)
        if KINDS.get(token[0]) == WORD:
            word = token.upper()
            negated = word == "NOT" and self.tokens[self.i + 1].upper() in _NEGATABLE
            if negated:
                self.i += 1
                word = self.tokens[self.i].upper()
            if word in _OPERATOR_WORDS:  # each word's form read here: one call less per condition
                self.i += 1
                if word == "IN":
                    return InList(column, self._list(column), negated)
                if word == "BETWEEN":
                    return self._between(column, negated=negated)
                if word == "IS":
                    return NullTest(column, self._is_null_negated(column))
                return self._compare(column, _LIKE_FORMS[word, negated])
        elif token is END:
            raise at(MissingOperator(column), self.pos(self.i))
        raise self._error(self.i, lambda found: ExpectedOperator(column, found))

    def _compare(self, column: str, op: CompareOp) -> Node:
        token = self.tokens[self.i]
        if token[0] in "'\"" and "\\" not in token:  # the commonest value, with no call per piece
            self.i += 1
            return Compare(column, op, Value("text", token[1:-1]))
        if len(token) == 3 and token.upper() == "NOW":
            if op in LIKE_OPS:
                raise at(LikeWithTime(), self.pos(self.i))
            return self._time_value(column, op)
        value = self._literal(column)
        self.i += 1
        if value is None:
            if op != "=" and op != "!=":  # noqa: PLR1714 - two compares beat a set
                raise at(NullWithNonEqualityOp(column, op), self.pos(self.i - 1))
            return NullTest(column, op == "!=")
        if op in LIKE_OPS and value.kind != "text":
            raise at(LikeRequiresText(column, value.kind), self.pos(self.i - 1))
        return Compare(column, op, value)

    def _literal(self, column: str) -> Value | None:
        """The current token as a literal (``None`` for null); errors for symbols and bare words."""
        token = self.tokens[self.i]
        found = KINDS.get(token[0])
        if found == STRING:
            return Value("text", text(token))
        if found == NUMBER or (token[0] == "-" and kind(token) == NUMBER):
            if len(token) < 19 and token.isdigit():  # the common case: a plain i64
                return Value("integer", int(token))
            try:
                return number_literal(token)
            except InvalidNumber as error:
                raise at(error, self.pos(self.i)) from None
        if found == WORD:
            word = token.upper()
            if word == "TRUE" or word == "FALSE":  # noqa: PLR1714 - two compares beat a set
                return Value("boolean", word == "TRUE")
            if word == "NULL":
                return None
            raise at(UnquotedValue(token), self.pos(self.i))
        if token is END:
            raise at(MissingValue(column), self.pos(self.i))
        raise self._error(self.i, ExpectedValue)

    def _time_value(self, column: str, op: CompareOp) -> Node:
        tokens = self.tokens
        self.i += 1  # `now`
        if tokens[self.i] != "(" or tokens[self.i + 1] != ")":
            raise at(BadTimeValue("expected `now()`"), self.pos(self.i))
        self.i += 2
        sign = tokens[self.i]
        if sign != "+" and sign != "-":  # noqa: PLR1714 - two compares beat a set
            return TimeCompare(column, op, None)
        self.i += 1
        if tokens[self.i].upper() != "INTERVAL":
            raise at(BadTimeValue("expected `interval` after the `now()` sign"), self.pos(self.i))
        self.i += 1
        body = tokens[self.i]
        if KINDS.get(body[0]) != STRING:
            raise at(BadTimeValue("expected a quoted interval like '30 minutes'"), self.pos(self.i))
        self.i += 1
        try:
            amount, unit = _interval(self.interp(text(body)))
        except BadTimeValue as error:
            raise at(error, self.pos(self.i - 1)) from None
        return TimeCompare(column, op, sign, amount, unit)

    def _is_null_negated(self, column: str) -> bool:
        """After ``IS``: ``[NOT] NULL``; whether it was ``NOT``."""
        word = self.tokens[self.i].upper()
        negated = word == "NOT"
        if negated:
            self.i += 1
            word = self.tokens[self.i].upper()
        if word != "NULL":
            if self.tokens[self.i] is END:
                raise at(MissingValue(column), self.pos(self.i))
            raise self._error(self.i, ExpectedValue)
        self.i += 1
        return negated

    def _list(self, column: str) -> tuple[Value, ...]:
        """``'(' literal (',' literal)* ')'`` — an IN list, or the list of a containment."""
        tokens = self.tokens
        token = tokens[self.i]
        if token != "(":
            if token is END:
                raise at(MissingValue(column), self.pos(self.i))
            raise self._error(self.i, ExpectedValue)
        opened = self.i
        self.i += 1
        if tokens[self.i] == ")":
            raise at(EmptyInList(column), self.pos(opened))
        values: list[Value] = []
        i = self.i
        while True:
            if len(values) == MAX_IN_VALUES and tokens[i] is not END:
                raise at(TooManyValues(column, MAX_IN_VALUES), self.pos(i))
            element = tokens[i]
            if element[0] in "'\"" and "\\" not in element:  # the commonest element, with no call
                values.append(Value("text", element[1:-1]))
                i += 1
            else:
                self.i = i
                values.append(self._list_element(column))
                i = self.i
            token = tokens[i]
            i += 1
            if token == ")":
                self.i = i
                return tuple(values)
            if token != ",":
                raise UnbalancedParen(self.pos(opened))
            if tokens[i] == ")":  # a trailing comma separates nothing
                raise UnexpectedChar(",", self.pos(i - 1))

    def _list_element(self, column: str) -> Value:
        token = self.tokens[self.i]
        if len(token) == 3 and token.upper() == "NOW":
            raise at(ExpectedValue(token), self.pos(self.i))
        value = self._literal(column)
        if value is None:
            raise at(NullInList(column), self.pos(self.i))
        self.i += 1
        return value

    def _between(self, column: str, *, negated: bool) -> Node:
        low = self._bound(column)
        token = self.tokens[self.i]
        if _CONNECTORS.get(token) != "AND":
            if token is END:
                raise at(MissingValue(column), self.pos(self.i))
            raise self._error(self.i, ExpectedConnector)
        self.i += 1
        return Between(column, low, self._bound(column), negated)

    def _bound(self, column: str) -> Value:
        token = self.tokens[self.i]
        if token.isdigit() and len(token) < 19:  # the commonest bound, a plain i64, with no call
            self.i += 1
            return Value("integer", int(token))
        word = token.upper()
        if word == "NULL" or word == "NOW":  # noqa: PLR1714 - two compares beat a set
            raise at(ExpectedValue(token), self.pos(self.i))
        value = self._literal(column)
        assert value is not None  # null was refused above
        self.i += 1
        return value

    # ---- CONTRACT §12: JSON paths, containment, full-text search ---------------------------------

    def _path(self, column: str) -> JsonPath:
        """``('->' key)* ['->>' key]`` after a column: at most 8 steps, ``->>`` only as the last."""
        tokens = self.tokens
        keys: list[Value] = []
        i = self.i
        first = i  # the first arrow's token index: place_nodes() makes it a position
        last_text = False
        while (arrow := tokens[i]) in _ARROWS:
            if last_text:
                raise at(BadJsonPath("->> yields text, so it can only be the last step"), self.pos(i))
            if len(keys) == MAX_PATH_STEPS:
                raise at(BadJsonPath(f"more than {MAX_PATH_STEPS} steps"), self.pos(i))
            key = tokens[i + 1]
            if key[0] == "'" and "\\" not in key:  # the commonest key, with no call
                keys.append(Value("text", key[1:-1]))
            else:
                self.i = i + 1
                keys.append(self._path_key())
            i += 2
            last_text = arrow == "->>"
        self.i = i
        path = JsonPath(column, tuple(keys), last_text, first)
        self.placed.append(path)
        return path

    def _path_key(self) -> Value:
        token = self.tokens[self.i]
        found = KINDS.get(token[0])
        if found == STRING:
            return Value("text", text(token))
        if found == NUMBER and token.isdigit():  # ASCII digits: the lexer admits no others
            index = int(token) if len(token) <= 10 else INT4_MAX + 1
            if index <= INT4_MAX:
                return Value("integer", index)
        shown = "end of expression" if token is END else f"`{self._found(token)}`"
        raise at(
            BadJsonPath(f"a step is a quoted key or an array index from 0 to {INT4_MAX}, found {shown}"),
            self.pos(self.i),
        )

    def _path_predicate(self, path: JsonPath) -> Node:
        """What may follow a path: a comparison or [NOT] [I]LIKE (``->>`` only), IS [NOT] NULL, [NOT] IN."""
        tokens = self.tokens
        token = tokens[self.i]
        op = _COMPARISON.get(token)
        if op is not None and path.text:  # `path->>'key' op value`, the commonest: no word to read
            self.i += 1
            return self._path_compare(path, op)
        is_word = KINDS.get(token[0]) == WORD
        key = token.upper() if is_word else token
        if key == "IS" and is_word:
            self.i += 1
            return PathNullTest(path, self._is_null_negated(path.column))
        negated = key == "NOT" and is_word and tokens[self.i + 1].upper() in _NEGATABLE
        if negated:
            key = tokens[self.i + 1].upper()
        word = is_word and key in _NEGATABLE
        if not word and key not in _COMPARISON:
            if token is END:
                raise at(MissingOperator(path.column), self.pos(self.i))
            if key in _CONTAINMENT or key == "@@":
                raise at(BadJsonPath(f"`{key}` applies to a column, not to a path"), self.pos(self.i))
            raise self._error(self.i, lambda found: ExpectedOperator(path.column, found))
        if not path.text:
            raise at(BadJsonPath("end the path with ->> to compare a value"), self.pos(self.i))
        if key == "BETWEEN":
            raise at(BadJsonPath("BETWEEN does not take a path: compare with >= and <="), self.pos(self.i))
        self.i += 2 if negated else 1
        if key == "IN":
            return PathInList(path, self._path_list(path.column), negated)
        op = _LIKE_FORMS[key, negated] if word else _COMPARISON[key]
        return self._path_compare(path, op)

    def _path_compare(self, path: JsonPath, op: CompareOp) -> Node:
        token = self.tokens[self.i]
        if token[0] in "'\"" and "\\" not in token:  # the commonest value, with no call per piece
            self.i += 1
            return PathCompare(path, op, Value("text", token[1:-1]))
        if len(token) == 3 and token.upper() == "NOW":
            raise at(BadJsonPath("a path compares with a literal, not with now()"), self.pos(self.i))
        value = self._literal(path.column)
        self.i += 1
        if value is None:
            if op != "=" and op != "!=":  # noqa: PLR1714 - two compares beat a set
                raise at(NullWithNonEqualityOp(path.column, op), self.pos(self.i - 1))
            return PathNullTest(path, op == "!=")
        if op in LIKE_OPS and value.kind != "text":
            raise at(LikeRequiresText(path.column, value.kind), self.pos(self.i - 1))
        return PathCompare(path, op, value)

    def _path_list(self, column: str) -> tuple[Value, ...]:
        start = self.i
        values = self._list(column)
        # The first value says how the text is compared ((path)::numeric, ::boolean, or as text).
        first = _KIND_CLASS[values[0].kind]
        for value in values:  # a loop, not any(…): a generator costs a short list more than its test
            if _KIND_CLASS[value.kind] != first:
                raise at(
                    BadJsonPath("an IN list after ->> holds all numbers, all booleans or all strings"),
                    self.pos(start),
                )
        return values

    def _contains(self, column: str, op: ContainOp, index: int) -> Node:
        """After ``@>`` / ``<@`` / ``&&`` (token ``index``): a JSON literal (``@>`` only) or a list."""
        token = self.tokens[self.i]
        if op == "@>" and KINDS.get(token[0]) == STRING:
            document = text(token)
            try:
                check_json(self.interp(document))
            except ValueError as error:
                raise at(BadJsonLiteral(_json_problem(error)), self.pos(self.i)) from None
            except RecursionError:  # PostgreSQL refuses such depth too (stack depth limit exceeded)
                raise at(BadJsonLiteral("nested too deeply"), self.pos(self.i)) from None
            self.i += 1
            node = Contains(column, op, Value("text", document), (), index)
        else:
            node = Contains(column, op, None, self._list(column), index)
        self.placed.append(node)
        return node

    def _text_search(self, column: str, index: int) -> Node:
        """After ``@@`` (token ``index``): the websearch terms, a string."""
        token = self.tokens[self.i]
        if KINDS.get(token[0]) != STRING:
            if token is END:
                raise at(MissingValue(column), self.pos(self.i))
            raise self._error(self.i, ExpectedValue)
        self.i += 1
        node = TextSearch(column, Value("text", text(token)), index)
        self.placed.append(node)
        return node


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# One decoder, built once: json.loads with a keyword builds a JSONDecoder (and its scanner) per call,
# which cost a @> literal twice its decoding.
_JSON: Final = json.JSONDecoder(parse_constant=_no_constant)


def check_json(document: str) -> None:
    """``json.loads(document, parse_constant=_no_constant)``, with its decoder built once."""
    if document.startswith("\ufeff"):  # as json.loads refuses it, message and all
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", document, 0)
    _JSON.decode(document)


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


def number_literal(text: str) -> Value:
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
