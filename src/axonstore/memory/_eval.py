"""The in-memory evaluator: a parsed filter → a row predicate with SQL's three-valued logic; ORDER BY.
Pure; the semantics are documented in :mod:`axonstore.memory` (aggregates: :mod:`._memory_aggregate`).

A column's type is either **declared** (a type :data:`KNOWN_TYPES` models): each literal is cast to it
once, before any row is read — PostgreSQL's ``"col" op $1::type``, so a bad literal fails even on an
empty table — or **inferred** row by row from the stored Python value (``"col"::text = $1`` and bare
``"col" < $1``, the SQL the reference renders for a column of unknown type).

Errors are :class:`~axonstore.memory._values.CastError` (a SQLSTATE and a message).
"""

from __future__ import annotations

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
    Group,
    InList,
    Node,
    Not,
    NullTest,
    Or,
    TimeCompare,
    Value,
    interpolate,
)
from axonstore.memory._casts import coerce_literal
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

__all__ = ["Predicate", "Truth", "compile_filter", "count_parameters", "like", "shift", "sort_rows"]

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


def count_parameters(node: Node) -> int:
    """How many ``$n`` parameters the PostgreSQL rendering of ``node`` binds (NULL tests and time values
    bind none), so that both backends raise ``TooManyParameters`` for the same filters."""
    if isinstance(node, Compare):
        return 1
    if isinstance(node, InList):
        return len(node.values)
    if isinstance(node, Between):
        return 2
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

    A well-formed pattern runs as a regular expression. One ending in a lone ``\\`` runs PostgreSQL's
    own matching algorithm, because PostgreSQL raises 22025 only if matching reaches that escape
    (``'a' LIKE 'a\\'`` is false, ``'ab' LIKE 'a\\'`` is an error).
    """
    if insensitive:
        text, pattern = _fold(text), _fold(pattern)
    regex = _like_regex(pattern)
    if regex is not None:
        return regex.fullmatch(text) is not None
    try:
        return _match_text(text, 0, pattern, 0) == _LIKE_TRUE
    except RecursionError:
        raise CastError("54001", "stack depth limit exceeded") from None


@lru_cache(maxsize=1024)
def _like_regex(pattern: str) -> re.Pattern[str] | None:
    """The pattern as a regular expression; ``None`` when it ends with a lone escape."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                return None
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)


_LIKE_TRUE: Final = 1
_LIKE_FALSE: Final = 0
_LIKE_ABORT: Final = -1
_BAD_ESCAPE: Final = "LIKE pattern must not end with escape character"


def _match_text(t: str, ti: int, p: str, pi: int) -> int:  # noqa: PLR0911, PLR0912 - PostgreSQL's MatchText
    """PostgreSQL's ``MatchText`` (like_match.c), character for character, errors included."""
    if p[pi:] == "%":
        return _LIKE_TRUE
    while ti < len(t) and pi < len(p):
        char = p[pi]
        if char == "\\":
            pi += 1
            if pi >= len(p):
                raise CastError("22025", _BAD_ESCAPE)
            if p[pi] != t[ti]:
                return _LIKE_FALSE
        elif char == "%":
            pi += 1
            while pi < len(p) and p[pi] in "%_":
                if p[pi] == "_":
                    if ti >= len(t):
                        return _LIKE_ABORT
                    ti += 1
                pi += 1
            if pi >= len(p):
                return _LIKE_TRUE
            if p[pi] == "\\" and pi + 1 >= len(p):
                raise CastError("22025", _BAD_ESCAPE)
            first = p[pi + 1] if p[pi] == "\\" else p[pi]
            while ti < len(t):
                if t[ti] == first:
                    matched = _match_text(t, ti, p, pi)
                    if matched != _LIKE_FALSE:
                        return matched
                ti += 1
            return _LIKE_ABORT
        elif char != "_" and char != t[ti]:
            return _LIKE_FALSE
        ti += 1
        pi += 1
    if ti < len(t):
        return _LIKE_FALSE
    while pi < len(p) and p[pi] == "%":
        pi += 1
    return _LIKE_TRUE if pi >= len(p) else _LIKE_ABORT


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    lowered = char.lower()
    return lowered[0] if lowered else char  # simple case mapping: one character for one (İ → i)


def _fold(text: str) -> str:
    """Lower-case character by character, as PostgreSQL's ILIKE does (no context: Σ → σ, never ς)."""
    return "".join(map(_fold_char, text))


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
