"""The in-memory evaluator: a parsed filter → a row predicate with SQL's three-valued logic; ORDER BY.
Pure; the semantics are documented in :mod:`axonstore.memory` (aggregates: :mod:`._memory_aggregate`).

CONTRACT §12 forms:

* **JSON paths** walk dict / list values: ``->`` yields the JSON value (a JSON ``null`` is a value, not
  SQL NULL), ``->>`` its text (JSON ``null`` → NULL; objects and arrays as jsonb prints them); a missing
  key, an index past the end or a step into a scalar is NULL. A number on the right compares
  ``(text)::numeric``, a boolean ``(text)::boolean`` — text that does not cast is PostgreSQL's 22P02.
* **Containment** ``@>`` with a JSON literal is jsonb containment (objects by key, arrays as sets, a
  top-level array contains a scalar it holds); ``@>`` / ``<@`` / ``&&`` with a list are array
  containment and overlap (a NULL element equals nothing).
* **Full-text search** is an *approximation* of ``to_tsvector(cfg, text) @@ websearch_to_tsquery(cfg,
  q)``: the document's words are its runs of letters and digits, lower-cased; the query's terms are
  words (all required), ``"quoted phrases"`` (consecutive words in order), ``-term`` (absent) and
  ``or`` between two terms (either; it binds tighter than the implicit AND). A term of several words
  (``foo-bar``) is a phrase. Where PostgreSQL differs (a test asserts each against a real server):

  1. no stemming and no stop words, whatever the configuration: under ``english`` PostgreSQL matches
     ``running`` for ``run`` and ignores ``the``; here only the same word matches and ``the`` is a word;
  2. PostgreSQL's parser keeps hosts, e-mail addresses, URLs and file paths as single lexemes
     (``example.com``, ``ann@example.com``): here they are split into words, so ``example`` matches
     ``example.com`` (PostgreSQL: no match);
  3. ``_`` separates words in both, but PostgreSQL reads ``foo-bar`` as the compound and its parts
     while here it is the phrase ``foo bar`` (the same answer for a search of ``foo``, ``bar`` or
     ``foo-bar``);
  4. a query with no words (``''``, ``'-'``) matches nothing in both, without PostgreSQL's NOTICE.

  A ``tsvector`` column holds text here and is searched as text.
* **LIKE** runs in O(text × pattern) time whatever the pattern (no backtracking regular expression:
  ``'%a%a%a%a%a%a%a%a%b'`` against 60 characters answers at once, as PostgreSQL does).

A column's type is either **declared** (a type :data:`KNOWN_TYPES` models): each literal is cast to it
once, before any row is read — PostgreSQL's ``"col" op $1::type``, so a bad literal fails even on an
empty table — or **inferred** row by row from the stored Python value (``"col"::text = $1`` and bare
``"col" < $1``, the SQL the reference renders for a column of unknown type).

Errors are :class:`~axonstore.memory._values.CastError` (a SQLSTATE and a message).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, TypeAlias

from axonstore._json import pg_text
from axonstore.filter import (
    LIKE_OPS,
    And,
    Between,
    Compare,
    Contains,
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
    interpolate,
    operator_type_error,
)
from axonstore.memory._casts import coerce, coerce_literal
from axonstore.memory._values import (
    KNOWN_TYPES,
    ORDERABLE_FAMILIES,
    TEXT_TYPES,
    CastError,
    compare,
    equal,
    family,
    inferred_type,
    instant,
    param_type,
    sql_name,
)

__all__ = [
    "Predicate",
    "Truth",
    "compile_filter",
    "count_parameters",
    "jsonb_contains",
    "like",
    "search_matches",
    "shift",
    "sort_rows",
]

Truth: TypeAlias = bool | None
StoredRow: TypeAlias = Mapping[str, object]
Predicate: TypeAlias = Callable[[StoredRow], Truth]
Literal: TypeAlias = str | int | float | bool

_NUMERIC_TYPES: Final = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})
_TIME_TYPES: Final = frozenset({"timestamptz", "timestamp", "date"})
_NO_MIN_MAX: Final = frozenset({"bool", "uuid", "json", "jsonb"})
_TESTS: Final[dict[str, Callable[[int], bool]]] = {
    "=": lambda c: c == 0,
    "!=": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def count_parameters(node: Node) -> int:  # noqa: PLR0911 - one branch per node kind
    """How many ``$n`` parameters the PostgreSQL rendering of ``node`` binds (NULL tests and time values
    bind none), so that both backends raise ``TooManyParameters`` for the same filters."""
    if isinstance(node, Compare):
        return 1
    if isinstance(node, InList):
        return len(node.values)
    if isinstance(node, Between):
        return 2
    if isinstance(node, PathCompare):
        return len(node.path.keys) + 1
    if isinstance(node, PathNullTest):
        return len(node.path.keys)
    if isinstance(node, PathInList):
        return len(node.path.keys) + len(node.values)
    if isinstance(node, Contains):
        return 1 if node.document is not None else len(node.values)
    if isinstance(node, TextSearch):
        return 2  # the configuration (one parameter, used twice) and the query
    if isinstance(node, Not | Group):
        return count_parameters(node.child)
    if isinstance(node, And | Or):
        return sum(count_parameters(item) for item in node.items)
    return 0


# --------------------------------------------------------------------------------------------------
# Three-valued logic


def _all(items: Sequence[Predicate]) -> Predicate:
    def conjunction(row: StoredRow) -> Truth:
        # Every item is evaluated (no short cut), so a type error anywhere surfaces on every row.
        results = [item(row) for item in items]
        if False in results:
            return False
        return None if None in results else True

    return conjunction


def _any(items: Sequence[Predicate]) -> Predicate:
    def disjunction(row: StoredRow) -> Truth:
        results = [item(row) for item in items]
        if True in results:
            return True
        return None if None in results else False

    return disjunction


def _negate(inner: Predicate) -> Predicate:
    def negation(row: StoredRow) -> Truth:
        result = inner(row)
        return None if result is None else not result

    return negation


def _null_test(column: str, negated: bool) -> Predicate:
    def test(row: StoredRow) -> Truth:
        return (row.get(column) is not None) is negated

    return test


class _Compiler:
    """One call's compilation: declared types, bindings and the statement's ``now()``."""

    def __init__(self, types: Mapping[str, str], bindings: Mapping[str, object] | None, now: datetime):
        self.types = types
        self.bindings = bindings
        self.now = now

    def declared(self, column: str, op: str, pos: int, *, document: bool = False) -> str | None:
        """The declared type, refused as the PostgreSQL rendering refuses it (``OperatorNotForType``)."""
        pg_type = self.types.get(column)
        if pg_type is not None:
            error = operator_type_error(column, op, pg_type, document=document)
            if error is not None:
                error.pos = pos
                raise error
        return pg_type

    def literal(self, value: Value) -> Literal:
        if value.kind == "text":
            return interpolate(str(value.value), self.bindings)
        return value.value

    def node(self, node: Node) -> Predicate:  # noqa: PLR0911 - one branch per node kind
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, And):
            return _all([self.node(item) for item in node.items])
        if isinstance(node, Or):
            return _any([self.node(item) for item in node.items])
        if isinstance(node, Group):
            return self.node(node.child)
        if isinstance(node, Not):
            return _negate(self.node(node.child))
        if isinstance(node, NullTest):
            return _null_test(node.column, node.negated)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Between):
            return self.between(node)
        if isinstance(node, TimeCompare):
            return self.time_compare(node)
        extension = _EXTENSIONS.get(type(node))
        if extension is not None:
            return extension(self, node)
        raise TypeError(f"cannot evaluate filter node {node!r}")

    # ---- conditions

    def compare(self, node: Compare) -> Predicate:
        pg_type = self.types.get(node.column)
        literal = self.literal(node.value)
        if node.op in LIKE_OPS:
            return self.like(node, pg_type, literal)
        test = _TESTS[node.op]
        if pg_type is None:
            match = _loose_equal if node.op in ("=", "!=") else _loose_compare
            return _per_row(node.column, lambda v: test(match(v, literal, node.op)))
        typed = _typed_literal(literal, pg_type)
        _check_operator(pg_type, node.op)
        if node.op in ("=", "!="):
            same = _equality(pg_type)
            return _per_row(node.column, lambda v: same(v, typed) is (node.op == "="))
        order = _ordering(pg_type)
        return _per_row(node.column, lambda v: test(order(v, typed)))

    def like(self, node: Compare, pg_type: str | None, literal: Literal) -> Predicate:
        if pg_type is not None:
            if pg_type not in TEXT_TYPES:
                name = sql_name(pg_type)
                raise CastError("42883", f"operator does not exist: {name} ~~ {name}")
            pattern = str(_typed_literal(literal, pg_type))
        else:
            pattern = str(literal)
        insensitive = "ILIKE" in node.op
        negated = node.op.startswith("NOT")

        def matches(value: object) -> bool:
            if not isinstance(value, str):
                raise CastError("42883", f"operator does not exist: {_type_of(value)} ~~ unknown")
            return like(value, pattern, insensitive) is not negated

        return _per_row(node.column, matches)

    def in_list(self, node: InList) -> Predicate:
        pg_type = self.types.get(node.column)
        literals = [self.literal(value) for value in node.values]
        if pg_type is None:

            def found(value: object) -> bool:
                hits = [_loose_equal(value, literal, "=") == 0 for literal in literals]
                return any(hits) is not node.negated

            return _per_row(node.column, found)
        typed = [_typed_literal(literal, pg_type) for literal in literals]
        _check_operator(pg_type, "=")
        same = _equality(pg_type)
        return _per_row(node.column, lambda v: any(same(v, t) for t in typed) is not node.negated)

    def between(self, node: Between) -> Predicate:
        pg_type = self.types.get(node.column)
        low, high = self.literal(node.low), self.literal(node.high)
        if pg_type is None:

            def inside(value: object) -> bool:
                within = _loose_compare(value, low, ">=") >= 0 and _loose_compare(value, high, "<=") <= 0
                return within is not node.negated

            return _per_row(node.column, inside)
        typed_low, typed_high = _typed_literal(low, pg_type), _typed_literal(high, pg_type)
        _check_operator(pg_type, "<")
        order = _ordering(pg_type)
        return _per_row(
            node.column,
            lambda v: (order(v, typed_low) >= 0 and order(v, typed_high) <= 0) is not node.negated,
        )

    def time_compare(self, node: TimeCompare) -> Predicate:
        pg_type = self.types.get(node.column)
        if pg_type is not None and pg_type not in _TIME_TYPES:
            raise CastError("42883", f"operator does not exist: {sql_name(pg_type)} {node.op} {_TSTZ}")
        bound = shift(self.now, node.sign, node.amount, node.unit)
        test = _TESTS[node.op]

        def check(value: object) -> bool:
            if family(value) != "datetime":
                raise CastError("42883", f"operator does not exist: {_type_of(value)} {node.op} {_TSTZ}")
            return test(compare(value, bound))

        return _per_row(node.column, check)


_TSTZ: Final = "timestamp with time zone"
_SAME_TYPE_EQUAL: Final = frozenset({int, str, bool})


def _per_row(column: str, test: Callable[[Any], bool]) -> Predicate:
    """A condition on one column: NULL (or a missing key) is unknown, anything else is tested."""

    def condition(row: StoredRow) -> Truth:
        value = row.get(column)
        return None if value is None else test(value)

    return condition


def _type_of(value: object) -> str:
    return sql_name(inferred_type(value))


def _typed_literal(literal: Literal, pg_type: str) -> object:
    """``$1::type`` for a literal of a declared column (``CastError`` as PostgreSQL raises it)."""
    return coerce_literal(literal, pg_type)


def _plain_order(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _plain_equal(a: object, b: object) -> bool:
    return a == b


# Declared types whose stored values (all of one Python type, cast on write) order as Python orders
# them: timestamptz values are aware UTC datetimes, uuids order as their 128-bit integers, and so on.
_PLAIN_ORDER: Final = frozenset(
    {
        "int2",
        "int4",
        "int8",
        "bool",
        "text",
        "varchar",
        "bpchar",
        "name",
        "uuid",
        "timestamptz",
        "time",
        "bytea",
    }
)


def _ordering(pg_type: str) -> Callable[[Any, Any], int]:
    """The comparison for a declared type (numbers need NaN handling; dates meet timestamps)."""
    return _plain_order if pg_type in _PLAIN_ORDER else compare


def _equality(pg_type: str) -> Callable[[Any, Any], bool]:
    """``=`` for a declared type (jsonb structurally, numbers with NaN = NaN)."""
    return _plain_equal if pg_type in _PLAIN_ORDER else equal


def _check_operator(pg_type: str, op: str) -> None:
    """PostgreSQL has no ``json = json``; this backend models no ordering for json or jsonb."""
    if pg_type == "json" or (pg_type == "jsonb" and op not in ("=", "!=")):
        name = sql_name(pg_type)
        raise CastError("42883", f"operator does not exist: {name} {op} {name}")


def compile_filter(
    root: Node, types: Mapping[str, str], bindings: Mapping[str, object] | None, now: datetime
) -> Predicate:
    """A predicate for ``root``: ``True`` keeps a row, ``False``/``None`` (unknown) drops it.

    ``types`` maps declared columns to a type in ``KNOWN_TYPES``; literals of those columns are cast
    here (a ``CastError`` now, before any row). Other columns are typed by their values, row by row.
    """
    return _Compiler(types, bindings, now).node(root)


# --------------------------------------------------------------------------------------------------
# Columns of inferred type: ``"col"::text = $1`` and bare ``"col" < $1``


def _mismatch(value: object, literal: Literal, op: str) -> CastError:
    shown = sql_name(param_type(literal)) if not isinstance(literal, str) else "text"
    return CastError("42883", f"operator does not exist: {_type_of(value)} {op} {shown}")


def _loose_equal(value: object, literal: Literal, op: str) -> int:
    """0 when equal. Text on either side compares as text (``7::text = '7'``); numbers with numbers,
    booleans with booleans; any other pair is ``42883``."""
    if type(value) is type(literal) and type(value) in _SAME_TYPE_EQUAL:
        return 0 if value == literal else 1
    if isinstance(literal, str) or isinstance(value, str):
        return 0 if pg_text(value) == pg_text(literal) else 1
    if family(value) != family(literal):
        raise _mismatch(value, literal, op)
    return 0 if equal(value, literal) else 1


def _loose_compare(value: object, literal: Literal, op: str) -> int:
    """An ordering comparison: a text literal takes the value's type (an untyped parameter does);
    numbers order with numbers, booleans with booleans; anything else is ``42883``."""
    kind = family(value)
    if isinstance(literal, str):
        target = inferred_type(value)
        if kind not in ORDERABLE_FAMILIES or target not in KNOWN_TYPES:
            raise _mismatch(value, literal, op)
        typed = literal if kind == "text" else coerce_literal(literal, target)
        return compare(value, typed)
    if kind != family(literal):
        raise _mismatch(value, literal, op)
    return compare(value, literal)


# --------------------------------------------------------------------------------------------------
# LIKE / ILIKE


def like(text: str, pattern: str, insensitive: bool) -> bool:
    """``text LIKE pattern``: ``%`` any run, ``_`` one character, ``\\`` escapes the next one.

    PostgreSQL's ``MatchText`` (like_match.c), errors included — 22025 only if matching reaches a
    pattern's lone trailing escape (``'a' LIKE 'a\\'`` is false, ``'ab' LIKE 'a\\'`` is an error) — but
    without its recursion: once the piece after a ``%`` matched up to the next ``%``, the outcome is
    final (a later start could only leave less text for the same rest), so each piece is tried at most
    once per text position and the cost is O(len(text) × len(pattern)) for any pattern.
    """
    if insensitive:
        text, pattern = _fold(text), _fold(pattern)
    outcome, ti, pi = _match_piece(text, 0, pattern, 0)
    while outcome == _LIKE_PERCENT:
        outcome, ti, pi = _after_percent(text, ti, pattern, pi)
    return outcome == _LIKE_TRUE


_LIKE_TRUE: Final = 1
_LIKE_FALSE: Final = 0
_LIKE_ABORT: Final = -1  # the text ran out: no later start can match either
_LIKE_PERCENT: Final = 2  # matched up to a `%` of the pattern (at pi)
_BAD_ESCAPE: Final = "LIKE pattern must not end with escape character"


def _match_piece(t: str, ti: int, p: str, pi: int) -> tuple[int, int, int]:
    """MatchText's main loop up to the next ``%`` of the pattern (or the end of either)."""
    end_t, end_p = len(t), len(p)
    while ti < end_t and pi < end_p:
        char = p[pi]
        if char == "%":
            return _LIKE_PERCENT, ti, pi
        if char == "\\":
            pi += 1
            if pi >= end_p:
                raise CastError("22025", _BAD_ESCAPE)
            if p[pi] != t[ti]:
                return _LIKE_FALSE, ti, pi
        elif char != "_" and char != t[ti]:
            return _LIKE_FALSE, ti, pi
        ti += 1
        pi += 1
    if ti < end_t:
        return _LIKE_FALSE, ti, pi
    while pi < end_p and p[pi] == "%":
        pi += 1
    return (_LIKE_TRUE if pi >= end_p else _LIKE_ABORT), ti, pi


def _after_percent(t: str, ti: int, p: str, pi: int) -> tuple[int, int, int]:
    """MatchText's ``%`` branch: skip ``%``/``_`` runs, then try the rest at each later text position."""
    end_t, end_p = len(t), len(p)
    pi += 1
    while pi < end_p and p[pi] in "%_":
        if p[pi] == "_":
            if ti >= end_t:
                return _LIKE_ABORT, ti, pi
            ti += 1
        pi += 1
    if pi >= end_p:
        return _LIKE_TRUE, ti, pi
    if p[pi] == "\\" and pi + 1 >= end_p:
        raise CastError("22025", _BAD_ESCAPE)
    first = p[pi + 1] if p[pi] == "\\" else p[pi]
    while ti < end_t:
        ti = t.find(first, ti)
        if ti < 0:
            break
        outcome, next_ti, next_pi = _match_piece(t, ti, p, pi)
        if outcome != _LIKE_FALSE:
            return outcome, next_ti, next_pi  # final, or the next `%` to continue from
        ti += 1
    return _LIKE_ABORT, ti, pi


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    lowered = char.lower()
    return lowered[0] if lowered else char  # simple case mapping: one character for one (İ → i)


def _fold(text: str) -> str:
    """Lower-case character by character, as PostgreSQL's ILIKE does (no context: Σ → σ, never ς)."""
    return "".join(map(_fold_char, text))


# --------------------------------------------------------------------------------------------------
# CONTRACT §12: JSON paths, containment, full-text search

_ABSENT: Final = object()  # a path step that found nothing: SQL NULL (a JSON null is Python None)


def _walk(compiler: _Compiler, path: JsonPath) -> Callable[[object], object]:
    """The path as a function of the column's (non-NULL) value: the JSON value, or ``_ABSENT``."""
    keys = [compiler.literal(key) for key in path.keys]
    declared = compiler.declared(path.column, "->>" if path.text and len(keys) == 1 else "->", path.pos)

    def walk(value: object) -> object:
        if declared is None and family(value) != "json":
            raise CastError("42883", f"operator does not exist: {_type_of(value)} -> unknown")
        for key in keys:
            if isinstance(key, str) and isinstance(value, dict):
                value = value.get(key, _ABSENT)
            elif isinstance(key, int) and isinstance(value, list) and key < len(value):
                value = value[key]
            else:
                return _ABSENT
        return value

    return walk


def _json_text(value: object) -> str | None:
    """``->>``: a JSON string as itself, null as NULL, anything else as jsonb prints it."""
    if value is None or value is _ABSENT:
        return None
    if isinstance(value, str):
        return value
    return pg_text(value)


def _path_value(compiler: _Compiler, path: JsonPath) -> Callable[[StoredRow], object]:
    """The value of the path for one row: ``_ABSENT`` for SQL NULL."""
    walk = _walk(compiler, path)
    column = path.column

    def value_of(row: StoredRow) -> object:
        value = row.get(column)
        if value is None:
            return _ABSENT
        found = walk(value)
        if path.text:
            text = _json_text(found)
            return _ABSENT if text is None else text
        return found

    return value_of


def _as_kind(text: object, kind: str) -> object:
    """``(path)::numeric`` / ``(path)::boolean`` for a number / boolean on the right."""
    if kind in ("integer", "float"):
        return coerce(text, "numeric")
    if kind == "boolean":
        return coerce(text, "bool")
    return text


def _path_compare(compiler: _Compiler, node: PathCompare) -> Predicate:
    value_of = _path_value(compiler, node.path)
    literal = compiler.literal(node.value)
    kind = node.value.kind
    if node.op in LIKE_OPS:
        insensitive, negated = "ILIKE" in node.op, node.op.startswith("NOT")
        pattern = str(literal)

        def matches(row: StoredRow) -> Truth:
            text = value_of(row)
            return None if text is _ABSENT else like(str(text), pattern, insensitive) is not negated

        return matches
    test = _TESTS[node.op]

    def compared(row: StoredRow) -> Truth:
        text = value_of(row)
        if text is _ABSENT:
            return None
        return test(compare(_as_kind(text, kind), literal))

    return compared


def _path_null_test(compiler: _Compiler, node: PathNullTest) -> Predicate:
    value_of = _path_value(compiler, node.path)
    return lambda row: (value_of(row) is not _ABSENT) is node.negated


def _path_in_list(compiler: _Compiler, node: PathInList) -> Predicate:
    value_of = _path_value(compiler, node.path)
    literals = [compiler.literal(value) for value in node.values]
    kind = node.values[0].kind

    def found(row: StoredRow) -> Truth:
        text = value_of(row)
        if text is _ABSENT:
            return None
        typed = _as_kind(text, kind)
        return any(compare(typed, literal) == 0 for literal in literals) is not node.negated

    return found


def _contains(compiler: _Compiler, node: Contains) -> Predicate:
    if node.document is not None:
        compiler.declared(node.column, "@>", node.pos, document=True)
        document = json.loads(str(compiler.literal(node.document)))

        def contains_document(value: object) -> bool:
            if family(value) != "json" and not isinstance(value, str | int | float | bool):
                raise CastError("42883", f"operator does not exist: {_type_of(value)} @> jsonb")
            if isinstance(value, str) and compiler.types.get(node.column) is None:
                raise CastError("42883", "operator does not exist: text @> jsonb")
            return jsonb_contains(value, document)

        return _per_row(node.column, contains_document)
    compiler.declared(node.column, node.op, node.pos)
    literals = [compiler.literal(value) for value in node.values]
    op = node.op

    def holds(elements: list[object], literal: Literal) -> bool:
        return any(e is not None and _loose_equal(e, literal, "=") == 0 for e in elements)

    def contains_list(value: object) -> bool:
        if not isinstance(value, list):
            raise CastError("42883", f"operator does not exist: {_type_of(value)} {op} text[]")
        if op == "@>":
            return all(holds(value, literal) for literal in literals)
        if op == "&&":
            return any(holds(value, literal) for literal in literals)
        return all(e is not None and any(_loose_equal(e, lit, "=") == 0 for lit in literals) for e in value)

    return _per_row(node.column, contains_list)


def jsonb_contains(container: object, contained: object, *, top: bool = True) -> bool:
    """PostgreSQL's jsonb ``@>``: objects by key (recursively), arrays as sets of contained elements,
    scalars by value and JSON type; a top-level array also contains a scalar among its elements."""
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            key in container and jsonb_contains(container[key], value, top=False)
            for key, value in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(container, list) and all(
            any(jsonb_contains(element, wanted, top=False) for element in container) for wanted in contained
        )
    if isinstance(container, list) and top:
        return any(_json_scalar_equal(element, contained) for element in container)
    return _json_scalar_equal(container, contained)


def _json_scalar_equal(a: object, b: object) -> bool:
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    if isinstance(a, bool) or isinstance(b, bool):  # true is no number in JSON
        return type(a) is type(b) and a == b
    return a == b


def _text_search(compiler: _Compiler, node: TextSearch) -> Predicate:
    compiler.declared(node.column, "@@", node.pos)
    query = _parse_query(str(compiler.literal(node.query)))

    def search(value: object) -> bool:
        if not isinstance(value, str):
            raise CastError("42883", f"function to_tsvector(regconfig, {_type_of(value)}) does not exist")
        return search_matches(_words(value), query)

    return _per_row(node.column, search)


_WORD: Final = re.compile(r"[^\W_]+")
# A query term: an optional `-`, then a quoted phrase (a missing closing quote runs to the end) or a run
# of anything but whitespace and quotes.
_QUERY_TERM: Final = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')

#: A parsed query: AND of groups, each an OR of terms; a term is (negated, phrase words).
Query: TypeAlias = list[list[tuple[bool, list[str]]]]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _parse_query(text: str) -> Query:
    """``websearch_to_tsquery``'s syntax, approximated (see the module docstring)."""
    groups: Query = []
    pending_or = False
    for match in _QUERY_TERM.finditer(text):
        negated, quoted, bare = match.group(1) == "-", match.group(2), match.group(3)
        if quoted is None and bare is not None and bare.lower() == "or" and not negated:
            pending_or = bool(groups)
            continue
        words = _words(quoted if quoted is not None else bare or "")
        if not words:
            continue
        if pending_or:
            groups[-1].append((negated, words))
        else:
            groups.append([(negated, words)])
        pending_or = False
    return groups


def search_matches(words: Sequence[str], query: Query) -> bool:
    """Whether a document's words satisfy a parsed query (an empty query matches nothing)."""
    if not query:
        return False
    present = set(words)

    def term(negated: bool, phrase: list[str]) -> bool:
        if len(phrase) == 1:
            hit = phrase[0] in present
        else:
            size = len(phrase)
            hit = any(list(words[i : i + size]) == phrase for i in range(len(words) - size + 1))
        return hit is not negated

    return all(any(term(negated, phrase) for negated, phrase in group) for group in query)


_EXTENSIONS: Final[dict[type, Callable[[_Compiler, Any], Predicate]]] = {
    PathCompare: _path_compare,
    PathNullTest: _path_null_test,
    PathInList: _path_in_list,
    Contains: _contains,
    TextSearch: _text_search,
}


# --------------------------------------------------------------------------------------------------
# now() ± interval


def shift(now: datetime, sign: str | None, amount: int, unit: str) -> datetime:
    """``now() ± interval 'amount unit'``: months and years are calendar months (the day clamped to
    the month's end, as PostgreSQL does); the other units are fixed lengths (the session is UTC)."""
    if sign is None:
        return now
    step = amount if sign == "+" else -amount
    try:
        if unit in ("month", "year"):
            return _add_months(now, step * (12 if unit == "year" else 1))
        return now + timedelta(**{unit + "s": step})
    except (OverflowError, ValueError):
        raise CastError("22008", "timestamp out of range") from None


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    last_day = (following - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


# --------------------------------------------------------------------------------------------------
# ORDER BY


def sort_rows(
    rows: list[dict[str, object]], keys: Sequence[tuple[str, str]], types: Mapping[str, str]
) -> None:
    """Sort in place by ``keys``; NULLs sort as larger than every value (last ASC, first DESC); ties
    keep their order. One stable pass per key, the last key first."""
    for column, _ in keys:
        if types.get(column) in ("json", "jsonb"):
            raise CastError("42883", f"could not identify an ordering operator for type {types[column]}")
    for column, direction in reversed(keys):
        key = _sort_key([row.get(column) for row in rows])
        rows.sort(key=lambda row: key(row.get(column)), reverse=direction == "DESC")


def _sort_key(values: Sequence[object]) -> Callable[[object], tuple[Any, ...]]:
    """A key function for one column: ``42883`` when its values are of two families, or unorderable."""
    present = [value for value in values if value is not None]
    kinds = {family(value) for value in present}
    if len(kinds) > 1:
        first, second = sorted(kinds)
        raise CastError("42883", f"could not identify an ordering operator for {first} and {second}")
    kind = kinds.pop() if kinds else "text"
    if kind not in ORDERABLE_FAMILIES:
        raise CastError("42883", f"could not identify an ordering operator for {_type_of(present[0])}")
    convert = _SORT_FORMS.get(kind, _identity)
    if kind == "number" and any(isinstance(value, float) for value in present):
        convert = _float_form  # PostgreSQL compares a float with an integer or numeric in float8

    def key(value: object) -> tuple[Any, ...]:
        return (1,) if value is None else (0, convert(value))

    return key


def _identity(value: Any) -> Any:
    return value


def _number_form(value: Any) -> tuple[int, Any]:
    return (1, 0) if _nan(value) else (0, value)  # NaN sorts above every number


def _float_form(value: Any) -> tuple[int, Any]:
    if _nan(value):
        return (1, 0)
    try:
        return (0, float(value))
    except OverflowError:
        return (0, math.inf if value > 0 else -math.inf)


def _nan(value: Any) -> bool:
    return bool(value != value)  # noqa: PLR0124 - only NaN (float or Decimal) is unequal to itself


_SORT_FORMS: Final[dict[str, Callable[[Any], Any]]] = {
    "number": _number_form,
    "datetime": instant,
    "time": lambda value: value.replace(tzinfo=None),
    "uuid": lambda value: value.int,
    "bytes": bytes,
}
