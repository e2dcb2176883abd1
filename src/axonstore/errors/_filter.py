"""The filter language: where / order_by / limit / aggregate / group_by (CONTRACT §5.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axonstore.errors._base import StoreError

_ALPHABET = (
    "the where-grammar alphabet is identifiers, comparison symbols, quoted strings, numbers, "
    "parentheses and the comma of an IN list"
)


def _char_debug(ch: str) -> str:
    """Render a character the way the reference's ``{ch:?}`` does (`';'`, `'\\''`)."""
    escapes = {"'": "\\'", "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
    return "'" + escapes.get(ch, ch) + "'"


class _Located:
    """Where a filter error stands: ``pos`` (a character index into ``expr``) and ``expr`` (the where-text).

    Plain class attributes, not dataclass fields, so that every error keeps its contract signature
    (``UnexpectedChar(ch, pos)``, ``ExpectedValue(found)``): the compiler sets both on the raised error,
    so a caller can draw a caret without parsing again. ``None`` when the error has no place (a limit on
    parameters, an over-long expression) or comes from a composed filter with no single source text.
    """

    pos: int | None = None
    expr: str | None = None


@dataclass(eq=False)
class FilterError(StoreError, _Located):
    """A where / order_by / limit / aggregate / group_by expression that does not compile.

    ``pos`` and ``expr`` say where (see :class:`_Located`); they survive pickling.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (*super().__reduce__()[:2], {"pos": self.pos, "expr": self.expr})


@dataclass(eq=False)
class UnexpectedChar(FilterError):
    """A character outside the grammar's alphabet, or a comma outside an IN list."""

    ch: str
    pos: int

    def message(self) -> str:
        return f"unexpected character {_char_debug(self.ch)} at position {self.pos} — {_ALPHABET}"


@dataclass(eq=False)
class UnterminatedString(FilterError):
    """A quoted literal with no closing quote (or ending in a lone backslash)."""

    pos: int

    def message(self) -> str:
        return (
            f"unterminated string literal opened at position {self.pos} — close it with the same quote "
            "character that opened it"
        )


@dataclass(eq=False)
class InvalidNumber(FilterError):
    """A numeric literal that is neither an integer nor a finite decimal."""

    token: str

    def message(self) -> str:
        return f"invalid numeric literal `{self.token}` — expected an integer or a finite decimal"


@dataclass(eq=False)
class ExpectedColumn(FilterError):
    """Something other than a column name where a condition starts."""

    found: str

    def message(self) -> str:
        return f"expected a column name, found `{self.found}` — a condition is `column op value`"


@dataclass(eq=False)
class ColumnTooLong(FilterError):
    """A column name longer than PostgreSQL's 63-byte identifier limit."""

    column: str
    len: int

    def message(self) -> str:
        return (
            f"column name `{self.column}` is {self.len} bytes — exceeds the Postgres 63-byte identifier limit"
        )


@dataclass(eq=False)
class ExpectedOperator(FilterError):
    """A token that is not a comparison operator after a column."""

    column: str
    found: str

    def message(self) -> str:
        return (
            f"expected a comparison operator after column `{self.column}`, found `{self.found}` — use one of "
            "=, !=, <>, <, <=, >, >=, LIKE, ILIKE, IS [NOT] NULL, [NOT] IN (…), [NOT] BETWEEN … AND …"
        )


@dataclass(eq=False)
class MissingOperator(FilterError):
    """The expression ends right after a column name."""

    column: str

    def message(self) -> str:
        return (
            f"expected a comparison operator after column `{self.column}`, found end of expression — "
            "complete the condition as `column op value`"
        )


@dataclass(eq=False)
class ExpectedValue(FilterError):
    """A symbol (or a keyword that cannot be a value here) where a value is expected."""

    found: str

    def message(self) -> str:
        return (
            f"expected a value, found `{self.found}` — a value is a quoted string, a number, "
            "true/false/null or now()"
        )


@dataclass(eq=False)
class MissingValue(FilterError):
    """The expression ends where a value for a column is expected."""

    column: str

    def message(self) -> str:
        return f"expected a value for column `{self.column}`, found end of expression"


@dataclass(eq=False)
class UnquotedValue(FilterError):
    """A bare word used as a value."""

    token: str

    def message(self) -> str:
        return (
            f"unquoted value `{self.token}` — string values must be quoted (`'{self.token}'`); "
            "only numbers and `true`/`false`/`null` are bare"
        )


@dataclass(eq=False)
class ExpectedConnector(FilterError):
    """Two conditions not joined by AND / OR."""

    found: str

    def message(self) -> str:
        return f"expected `AND` or `OR` between conditions, found `{self.found}`"


@dataclass(eq=False)
class DanglingConnector(FilterError):
    """AND / OR at the end of the expression."""

    connector: str

    def message(self) -> str:
        return (
            f"expression ends with a dangling `{self.connector}` — a connector must be followed by "
            "another condition"
        )


@dataclass(eq=False)
class NullWithNonEqualityOp(FilterError):
    """``null`` compared with an operator other than = / !=."""

    column: str
    op: str

    def message(self) -> str:
        return (
            f"`null` compared with `{self.op}` on column `{self.column}` — `null` is only valid with `=` "
            "(renders `IS NULL`) or `!=` (renders `IS NOT NULL`); or write `IS [NOT] NULL`"
        )


@dataclass(eq=False)
class LikeRequiresText(FilterError):
    """LIKE / ILIKE with a value that is not a quoted string."""

    column: str
    found: str

    def message(self) -> str:
        return (
            f"`LIKE` on column `{self.column}` requires a text value, found {self.found} — quote the "
            "pattern, e.g. '%abc%'"
        )


@dataclass(eq=False)
class TooManyConditions(FilterError):
    """More conditions than the cap allows."""

    limit: int

    def message(self) -> str:
        return (
            f"where expression exceeds the {self.limit}-condition limit — split the work or use "
            "`IN (…)` for a list of values"
        )


@dataclass(eq=False)
class BadTimeValue(FilterError):
    """A malformed ``now()`` / ``now() ± interval '<n> <unit>'`` value."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed time value: {self.detail} — the supported forms are now() and "
            "now() ± interval '<n> <unit>' with unit second, minute, hour, day, week, month or year "
            "(singular or plural), e.g. now() - interval '30 minutes'"
        )


@dataclass(eq=False)
class LikeWithTime(FilterError):
    """LIKE applied to a ``now()`` time value."""

    def message(self) -> str:
        return (
            "`LIKE` cannot be applied to a `now()` time value — use an ordering operator "
            "(<, <=, >, >=) or equality"
        )


@dataclass(eq=False)
class BadOrderBy(FilterError):
    """A malformed ``order_by`` expression."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `order_by:` — {self.detail}. The form is a comma-separated list of "
            "`column [asc|desc]`, e.g. `created_at desc, id`"
        )


@dataclass(eq=False)
class BadLimit(FilterError):
    """A malformed ``limit``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `limit:` — {self.detail}. The form is a non-negative integer literal or a "
            "binding that resolves to one, e.g. `50` or `${max}`"
        )


@dataclass(eq=False)
class BadAggregate(FilterError):
    """A malformed ``aggregate``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `aggregate:` — {self.detail}. The closed catalog is `count`, `sum(<col>)`, "
            "`avg(<col>)`, `min(<col>)`, `max(<col>)`; an aggregate takes no order_by or limit"
        )


@dataclass(eq=False)
class BadGroupBy(FilterError):
    """A malformed ``group_by``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `group_by:` — {self.detail}. The form is a comma-separated list of distinct "
            "columns, and it requires an `aggregate:`"
        )


@dataclass(eq=False)
class EmptyInList(FilterError):
    """``IN ()`` with no values."""

    column: str

    def message(self) -> str:
        return f"`IN ()` on column `{self.column}` has no values — list at least one value"


@dataclass(eq=False)
class NullInList(FilterError):
    """``null`` inside an IN list (it would never match)."""

    column: str

    def message(self) -> str:
        return (
            f"`null` inside the IN list of column `{self.column}` never matches — use "
            f"`{self.column} IS NULL OR {self.column} IN (…)`"
        )


@dataclass(eq=False)
class TooManyValues(FilterError):
    """An IN list longer than the cap."""

    column: str
    limit: int

    def message(self) -> str:
        return f"the IN list of column `{self.column}` exceeds the {self.limit}-value limit — split the query"


@dataclass(eq=False)
class TooDeep(FilterError):
    """Groups and NOTs nested past the depth limit."""

    limit: int

    def message(self) -> str:
        return f"where expression nests parentheses and NOT deeper than {self.limit} levels — flatten it"


@dataclass(eq=False)
class UnbalancedParen(FilterError):
    """A ``(`` never closed, or a ``)`` with no open group."""

    pos: int

    def message(self) -> str:
        return (
            f"unbalanced parenthesis at position {self.pos} — every `(` needs a matching `)` after a "
            "complete condition"
        )


@dataclass(eq=False)
class TooManyParameters(FilterError):
    """A statement would bind more parameters than PostgreSQL accepts."""

    limit: int

    def message(self) -> str:
        return (
            f"the statement would bind more than {self.limit} parameters (PostgreSQL's limit) — "
            "split the write or the filter"
        )


@dataclass(eq=False)
class FilterTooLong(FilterError):
    """An expression longer than the cap, refused before it is tokenised (CONTRACT §5.3)."""

    limit: int
    length: int

    def message(self) -> str:
        return (
            f"the where expression is {self.length} characters long — the limit is {self.limit}; "
            "split the work, or bind long lists through fewer, wider conditions"
        )


@dataclass(eq=False)
class BadJsonPath(FilterError):
    """A malformed JSON path (``->`` / ``->>``), or one used where it cannot stand (CONTRACT §12)."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed JSON path: {self.detail} — a path is `column->'key'->>'key'` (at most 8 steps, "
            "each a quoted key or a non-negative integer index), ending with ->> to compare a value"
        )


@dataclass(eq=False)
class BadJsonLiteral(FilterError):
    """The right side of ``@>`` is a string that is not a JSON document."""

    detail: str

    def message(self) -> str:
        return (
            f"the JSON literal is not valid JSON: {self.detail} — write a JSON document in quotes, "
            """e.g. meta @> '{"tier": "gold"}', or a list for an array column: tags @> ('a', 'b')"""
        )


@dataclass(eq=False)
class OperatorNotForType(FilterError):
    """An operator the column's known type cannot take (refused before any I/O)."""

    column: str
    op: str
    pg_type: str

    def message(self) -> str:
        return (
            f"`{self.op}` does not apply to column `{self.column}` of type {self.pg_type} — "
            f"{_OPERATOR_TYPES.get(self.op, 'check the column type')}"
        )


_OPERATOR_TYPES = {
    "->": "a JSON path needs a json or jsonb column",
    "->>": "a JSON path needs a json or jsonb column",
    "@>": "containment needs a jsonb/json column (with a JSON literal) or an array column (with a list)",
    "<@": "containment needs an array column and a list",
    "&&": "overlap needs an array column and a list",
    "@@": "full-text search needs a text or tsvector column",
}


@dataclass(eq=False)
class BadPolicy(StoreError):
    """A backpressure policy outside the four a stream knows."""

    policy: str

    def message(self) -> str:
        return (
            f"unknown backpressure policy `{self.policy}` — use pause_upstream, drop_oldest, fail or "
            "degrade_quality"
        )
