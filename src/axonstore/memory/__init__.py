"""The ``in_memory`` backend: the verbs and the filter language of :class:`PostgresStoreBackend`, over
rows held in this process. No I/O; each verb runs without an ``await`` inside, so under asyncio every
verb is atomic with respect to the others, and a failed write leaves the store exactly as it was.

Example::

    backend = InMemoryBackend()
    backend.declare_columns("claims", {"id": "int4", "amount": "numeric", "opened": "timestamptz"})
    await backend.insert("claims", {"id": "7", "amount": "10.50", "opened": "2024-01-02T03:04:05Z"})
    await backend.query("claims", "id = 7 AND amount >= 10")
    # [{'id': 7, 'amount': '10.50', 'opened': '2024-01-02T03:04:05+00:00'}]

**Tables and columns.** A table comes into being with its first write (or declaration). Its columns are
the declared ones (``declare_columns``, from ``[stores.X.columns]``), in declaration order, then every
column ever written to it by ``persist``, in order of first appearance (``persist`` adds columns, as an
``ALTER TABLE … ADD COLUMN`` would; ``purge`` never drops one). A column that was neither declared nor
ever written is unknown: naming it in where / data (mutate) / order_by / group_by / aggregate raises
``UnknownColumn(table, column, columns)``. So a table nobody wrote to returns ``[]`` for a blank where,
and ``UnknownColumn`` for a filter on any undeclared column (declare the columns to filter a table
that may be empty). Each output row has every column of the table, ``None`` where the row lacks it, as
a fresh dict of JSON-safe values (CONTRACT §3.4); nothing a caller does to a row or to the data it
passed in reaches the store. Constraints (primary keys, UNIQUE, NOT NULL, CHECK, defaults) are not modelled.

**Values.** A declared column of a type this backend models (int2/4/8, float4/8, numeric, bool, text,
varchar, bpchar, name, uuid, timestamptz, timestamp, date, time, json, jsonb, bytea) stores each written
value cast the way PostgreSQL casts ``$1::type`` for the parameter psycopg sends: the same accepted
spellings (``' 7 '``, ``0x1F``, ``1_000`` for integers; ``yes``/``on``/``t`` for booleans; ISO 8601
and PostgreSQL's ISO output for times, a zone as an offset, ``Z``/``UTC`` or an IANA name, none meaning
UTC), the same rounding (float → integer halves to even, numeric → integer away from zero, float →
numeric keeps 15 digits, a real keeps single precision) and the same SQLSTATE on failure (``22P02``
bad text, ``22003`` out of range, ``22007``/``22008`` bad date or time, ``42846`` no such cast, e.g. a
boolean into ``int8``, a small integer into ``bool``). The failure is ``Query(op, source, sqlstate)``
and nothing is written. Any other declared type, and every undeclared column, keeps the Python value
as given (a deep copy). ``declare_columns`` on a table that holds rows casts them too, or fails whole.

**Filters** (the whole language of CONTRACT §5) are evaluated with SQL's three-valued logic: a
comparison with NULL (or a missing column) is unknown; ``NOT`` unknown is unknown; ``AND`` is false if
any side is false, else unknown if any is unknown; ``OR`` is true if any side is true, else unknown if
any is; a row is kept only when the whole filter is true. ``IS [NOT] NULL`` is never unknown. ``IN``
is true on a match, else false (the list never holds NULL); ``NOT IN`` is its negation; both are
unknown for a NULL column. ``BETWEEN a AND b`` is ``>= a AND <= b`` (false when a > b).

*A declared column* compares as PostgreSQL's ``"col" op $1::type``: every literal is cast to the
column's type once, before any row is read, so ``id = 'abc'`` on an ``int4`` column is ``Query`` 22P02
even on an empty table, and ``id = '07'`` matches 7. ``LIKE``/``ILIKE`` on a non-text column, ``=`` on
json, and ``now()`` against a column that is not a date or timestamp are 42883.

*An undeclared column* has no type but its values': it compares as the SQL the reference renders for a
column of unknown type. ``=``, ``!=``, ``IN``: when either side is text, both compare as text — the
value's ``::text`` as PostgreSQL prints it (``7::text = '7'``, ``true::text = 'true'``, a timestamptz as
``2024-01-02 03:04:05+00``); numbers compare with numbers, booleans with booleans, and any other pair
(a number with a boolean, say) is ``Query`` 42883. ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``: a text
literal takes the value's type, as an untyped parameter does (``n < '8'`` compares 8; ``n < 'x'`` is
22P02); a number literal against a text value, or a boolean against a number, is 42883.
These errors are raised for the rows that hold such a value.

*Both*: text orders by code point (``COLLATE "C"``); numbers across int/float/numeric compare as
PostgreSQL does (in float8 when a float is involved; NaN equals NaN and sorts above everything);
a date or timestamp without zone is read as UTC (the session time zone this backend models).
``LIKE`` has ``%`` (any run), ``_`` (one character) and ``\\`` escaping the next character; a pattern
ending in a lone ``\\`` runs PostgreSQL's own matching algorithm, which raises 22025 only when the
match reaches that escape (``'a' LIKE 'a\\'`` is false, ``'ab' LIKE 'a\\'`` is the error), and
``ILIKE`` lower-cases both sides character by character (Unicode simple case mapping, as PostgreSQL
does: ``İ`` matches ``i``, ``Σ`` never becomes ``ς``). ``now()`` is read once per statement;
``now() ± interval 'n unit'`` adds fixed seconds … weeks, and calendar months for month/year with the
day clamped to the month's end (``Jan 31 + 1 month`` is Feb 29 in a leap year), as PostgreSQL does in
a UTC session.

**ORDER BY** sorts NULLs as larger than every value (last for ASC, first for DESC — PostgreSQL's
default); equal keys keep insertion order; an undeclared column holding values of two kinds (numbers
and text, say), or json, is 42883. **LIMIT** applies after ordering. **Aggregates**: ``count``
counts rows (an int); ``sum``/``avg`` are floats (``::float8``) over integers and numerics summed
exactly, floats summed in row order, ``avg`` of integers/numerics rounded to PostgreSQL's numeric
division scale; ``min``/``max`` give the column's value; NULLs are skipped and no non-NULL value gives
None; ``sum``/``avg`` of a non-number and ``min``/``max`` of a boolean, uuid or json column are 42883.
Groups keep their order of first appearance (PostgreSQL's is unspecified); NULLs form one group.

**Known differences from PostgreSQL** (asserted in ``tests/test_memory_vs_postgres.py``):

* Undeclared columns follow the unknown-type rendering above, PostgreSQL's typed table follows the cast
  rule; they differ for ``id = '07'`` (text ``'7'`` ≠ ``'07'``; PostgreSQL: 7 = 7), ``id = 'abc'`` and
  ``id IN (1, 'x')`` (false; PostgreSQL: 22P02), ``id = 2.5`` (false; PostgreSQL casts 2.5 to the
  integer 2), ``amount = '1e-7'`` (numeric text is ``0.0000001``), ``active = 'yes'`` (text ``'true'``
  ≠ ``'yes'``), ``uid = '<UPPER-CASE UUID>'``, ``name < 5`` (42883; PostgreSQL casts 5 to text) and
  ``active = 1`` (42883; PostgreSQL: 42846). An undeclared real (float4) column holds doubles, so its
  ``sum`` is not PostgreSQL's single-precision one. A filter on an undeclared table nobody wrote to is
  ``UnknownColumn`` (PostgreSQL's empty table has its columns). Declare the column types to get
  PostgreSQL's answers.
* Constraints are not enforced: a duplicate primary key is stored (PostgreSQL: 23505); nothing is
  coerced in an undeclared column, so ``mutate`` of an int column to ``'abc'`` succeeds.
* jsonb has no ordering here (42883 for ``<`` and ORDER BY; PostgreSQL orders jsonb); bytea has no
  ``LIKE`` (PostgreSQL has one); bpchar compares like text (PostgreSQL ignores trailing blanks).
* Times PostgreSQL accepts but Python cannot hold: ``infinity``, years after 9999 and the time
  ``24:00:00`` are 22008; BC dates and textual styles (``Jan 2 2024``) are 22007.
* The PostgreSQL backend reports a statement's 42883 as ``SchemaDrift`` (CONTRACT §3.2, step 5); this
  backend, which has no schema to drift, reports ``Query`` with the same SQLSTATE.
* A type error of an undeclared column is raised only for rows holding an offending value
  (PostgreSQL raises it when planning, whatever the rows).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any, Final, TypeAlias
from uuid import UUID

from axonstore._json import to_json
from axonstore._text import trim
from axonstore.errors import (
    EmptyData,
    InvalidDeclaration,
    InvalidIdentifier,
    Query,
    UnboundedWrite,
    UnknownColumn,
)
from axonstore.filter import (
    Aggregate,
    Filter,
    check_parameter_count,
    is_safe_identifier,
    parse_aggregate_clause,
    parse_filter,
    parse_limit,
    parse_order_by,
)
from axonstore.idents import checked_ident
from axonstore.memory._aggregate import aggregate_rows
from axonstore.memory._casts import coerce
from axonstore.memory._eval import Predicate, compile_filter, count_parameters, sort_rows
from axonstore.memory._values import KNOWN_TYPES, CastError
from axonstore.pgtypes import normalize_type_name
from axonstore.stream import (
    DEFAULT_MAX_ROWS,
    Backpressure,
    CancelSignal,
    RowStreamOutcome,
    check_max_rows,
    drain_with_policy,
    is_cancelled,
)

__all__ = ["InMemoryBackend"]

Row: TypeAlias = dict[str, Any]
_Data: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]]
_DECLARATION_PATH: Final = "<InMemoryBackend.declare_columns>"


class _Table:
    """One table: its rows, its declared column types, and every column ever written to it."""

    __slots__ = ("declared", "rows", "written")

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.declared: dict[str, str] = {}
        self.written: dict[str, None] = {}  # an ordered set

    def columns(self) -> tuple[str, ...]:
        """Declared columns, then the others in order of first appearance."""
        return (*self.declared, *(c for c in self.written if c not in self.declared))

    def types(self) -> dict[str, str]:
        """The declared columns whose type this backend models."""
        return {column: t for column, t in self.declared.items() if t in KNOWN_TYPES}

    def first_unknown(self, columns: Sequence[str]) -> str | None:
        return next((c for c in columns if c not in self.declared and c not in self.written), None)

    def hold(self, row: Mapping[str, object]) -> None:
        self.written.update(dict.fromkeys(row))


@dataclass(frozen=True, slots=True)
class _Read:
    """A validated retrieve (no data looked at yet)."""

    table: str
    where: Filter | None
    bindings: Mapping[str, object] | None
    keys: list[tuple[str, str]]
    limit: int | None
    aggregate: Aggregate | None

    @property
    def named(self) -> list[str]:
        """Every column the retrieve names: filter first, then order_by or the aggregate's."""
        bound = list(self.aggregate.columns) if self.aggregate else [c for c, _ in self.keys]
        return list(dict.fromkeys([*(self.where.columns if self.where else ()), *bound]))


class InMemoryBackend:
    """Stores held in this process, with the PostgreSQL backend's verbs, signatures and errors.

    ``declared`` maps table → {column: type} (see :meth:`declare_columns`). ``conn=`` is accepted and
    ignored by every verb, so callers can treat both backends alike.
    """

    def __init__(self, declared: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._tables: dict[str, _Table] = {}
        for table, columns in (declared or {}).items():
            self.declare_columns(table, columns)

    def __repr__(self) -> str:
        return f"InMemoryBackend(tables={sorted(self._tables)!r})"

    def masked_dsn(self) -> str:
        """There is no DSN: ``"in_memory"``."""
        return "in_memory"

    def declare_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """Declare column types (``pg_type.typname`` or an alias: ``integer``, ``timestamp with time
        zone`` …). Rows already stored are cast too; if one cannot be, nothing changes (``Query``)."""
        checked_ident("table", table)
        types: dict[str, str] = {}
        for column, type_name in columns.items():
            checked_ident("column", column)
            try:
                types[column] = normalize_type_name(type_name)
            except (ValueError, TypeError) as exc:
                raise InvalidDeclaration(
                    _DECLARATION_PATH, f"stores.{table}.columns", column, str(exc)
                ) from None
        state = self._tables.get(table) or _Table()
        rows = [_cast_row("declare", row, types) for row in state.rows]
        state.declared.update(types)
        state.rows = rows
        self._tables[table] = state

    # ---- lifecycle (nothing to open or close) --------------------------------------------------------

    async def __aenter__(self) -> InMemoryBackend:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to close; the rows stay (the registry closes backends it may use again)."""

    async def ping(self) -> None:
        """Always reachable."""

    async def warm_schema(self, table: str) -> None:
        """Nothing to resolve; checks the table name."""
        checked_ident("table", table)

    # ---- the verbs -----------------------------------------------------------------------------------

    async def query(
        self, table: str, where: str = "", bindings: Mapping[str, str] | None = None, *, conn: object = None
    ) -> list[Row]:
        """Rows of ``table`` matching ``where``, as fresh JSON-safe dicts."""
        del conn
        checked_ident("table", table)
        read = _Read(table, _parse_where(where, bindings), bindings, [], None, None)
        return list(self._rows(read, "retrieve"))

    async def insert(self, table: str, data: _Data, *, conn: object = None) -> int:
        """Insert one row (``data``: a mapping or (column, value) pairs). Returns 1."""
        del conn
        checked_ident("table", table)
        pairs = _checked_pairs(data)
        if not pairs:
            raise EmptyData("insert")
        check_parameter_count(0, sum(value is not None for _, value in pairs))
        state = self._tables.get(table) or _Table()
        _refuse_repeats("persist", pairs, "42701", 'column "{}" specified more than once')
        row = _cast_row("persist", dict(pairs), state.types())
        self._tables[table] = state
        state.rows.append(row)
        state.hold(row)
        return 1

    async def mutate(
        self,
        table: str,
        where: str,
        data: _Data,
        bindings: Mapping[str, str] | None = None,
        *,
        conn: object = None,
        all_rows: bool = False,
    ) -> int:
        """Set ``data`` on the rows matching ``where``; a blank ``where`` needs ``all_rows=True``."""
        del conn
        checked_ident("table", table)
        pairs = _checked_pairs(data)
        set_params = sum(value is not None for _, value in pairs)
        parsed = _parse_where(where, bindings, set_params)
        if not pairs:
            raise EmptyData("mutate")
        _refuse_unbounded("mutate", table, where, all_rows)
        check_parameter_count(0, set_params)
        state = self._tables.get(table) or _Table()
        _require(table, state, [*(c for c, _ in pairs), *(parsed.columns if parsed else ())])
        _refuse_repeats("mutate", pairs, "42601", 'multiple assignments to same column "{}"')
        values = _cast_row("mutate", dict(pairs), state.types())
        hits = self._matching(state, parsed, bindings, "mutate")
        for index in hits:  # validated above: from here on nothing can fail
            old = state.rows[index]
            new = {**old, **_copied(values)}
            state.rows[index] = new  # a new dict: a paused reader keeps its snapshot
        return len(hits)

    async def purge(
        self,
        table: str,
        where: str,
        bindings: Mapping[str, str] | None = None,
        *,
        conn: object = None,
        all_rows: bool = False,
    ) -> int:
        """Delete the rows matching ``where``; a blank ``where`` needs ``all_rows=True``."""
        del conn
        checked_ident("table", table)
        parsed = _parse_where(where, bindings)
        _refuse_unbounded("purge", table, where, all_rows)
        state = self._tables.get(table) or _Table()
        _require(table, state, parsed.columns if parsed else ())
        hits = set(self._matching(state, parsed, bindings, "purge"))
        if hits:
            state.rows = [row for index, row in enumerate(state.rows) if index not in hits]
        return len(hits)

    async def stream_retrieve(
        self,
        table: str,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        policy: Backpressure | str = Backpressure.PAUSE_UPSTREAM,
        max_rows: int = DEFAULT_MAX_ROWS,
        cancel: CancelSignal | None = None,
        conn: object = None,
    ) -> RowStreamOutcome:
        """A bounded retrieve: ``policy`` decides what is kept of the matching rows (ANCHOR §7.4)."""
        del conn
        chosen = Backpressure.parse(policy)
        bound = check_max_rows(max_rows)
        read = _parse_read(table, where, bindings, order_by, limit, aggregate, group_by)
        source = _as_async(self._rows(read, "retrieve"))
        try:
            return await drain_with_policy(source, chosen, bound, cancel)
        finally:
            await source.aclose()

    def iter_rows(
        self,
        table: str,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        max_rows: int | None = None,
        cancel: CancelSignal | None = None,
        conn: object = None,
    ) -> AsyncGenerator[Row, None]:
        """The matching rows (at most ``max_rows`` when given), from a snapshot taken now: writes made
        while the caller iterates do not show. Errors in the arguments are raised here, not at the
        first row."""
        del conn
        bound = None if max_rows is None else check_max_rows(max_rows)
        read = _parse_read(table, where, bindings, order_by, limit, aggregate, group_by)
        return _bounded(self._rows(read, "retrieve"), bound, cancel)

    # ---- evaluation ----------------------------------------------------------------------------------

    def _rows(self, read: _Read, op: str) -> Iterator[Row]:
        """Check the columns, compile the filter and take a snapshot now; produce rows lazily."""
        state = self._tables.get(read.table) or _Table()
        _require(read.table, state, read.named)
        types = state.types()
        predicate = _compile(op, read.where, types, read.bindings)
        return _produce(op, list(state.rows), state.columns(), types, predicate, read)

    def _matching(
        self, state: _Table, parsed: Filter | None, bindings: Mapping[str, object] | None, op: str
    ) -> list[int]:
        predicate = _compile(op, parsed, state.types(), bindings)
        if predicate is None:
            return list(range(len(state.rows)))
        try:
            return [index for index, row in enumerate(state.rows) if predicate(row) is True]
        except CastError as exc:
            raise Query(op, exc.message, exc.sqlstate) from None


# --------------------------------------------------------------------------------------------------
# Helpers (no state)


def _parse_where(where: str, bindings: Mapping[str, object] | None, offset: int = 0) -> Filter | None:
    """Parse (``FilterError``s), and refuse a filter PostgreSQL could not bind (``TooManyParameters``)."""
    parsed = parse_filter(where, bindings)
    if parsed is not None:
        check_parameter_count(offset, count_parameters(parsed.root))
    return parsed


def _parse_read(
    table: str,
    where: str,
    bindings: Mapping[str, str] | None,
    order_by: str,
    limit: str,
    aggregate: str,
    group_by: str,
) -> _Read:
    """Every check of a retrieve that needs no data, in the PostgreSQL backend's order."""
    checked_ident("table", table)
    parsed = _parse_where(where, bindings)
    agg = parse_aggregate_clause(aggregate, group_by, order_by, limit)
    if agg is not None:
        return _Read(table, parsed, bindings, [], None, agg)
    return _Read(table, parsed, bindings, parse_order_by(order_by), parse_limit(limit, bindings), None)


def _checked_pairs(data: _Data) -> list[tuple[str, object]]:
    """Column data as ordered pairs, each column a safe identifier (empty is the caller's to refuse)."""
    pairs = list(data.items()) if isinstance(data, Mapping) else [tuple(pair) for pair in data]
    out: list[tuple[str, object]] = []
    for pair in pairs:
        if len(pair) != 2:
            raise TypeError(f"column data must be (column, value) pairs, got {pair!r}")
        column, value = pair
        if not isinstance(column, str) or not is_safe_identifier(column):
            raise InvalidIdentifier("column", str(column))
        out.append((column, value))
    return out


def _refuse_unbounded(op: str, table: str, where: str, all_rows: bool) -> None:
    if not all_rows and not trim(where):
        raise UnboundedWrite(op, table)


def _refuse_repeats(op: str, pairs: list[tuple[str, object]], sqlstate: str, message: str) -> None:
    seen: set[str] = set()
    for column, _ in pairs:
        if column in seen:
            raise Query(op, message.format(column), sqlstate)
        seen.add(column)


def _require(table: str, state: _Table, columns: Sequence[str]) -> None:
    """``UnknownColumn`` for the first column neither declared nor held by any stored row."""
    missing = state.first_unknown(list(dict.fromkeys(columns)))
    if missing is not None:
        raise UnknownColumn(table, missing, state.columns())


def _copied(values: Mapping[str, object]) -> dict[str, object]:
    """A private copy of the values (containers are copied deeply; scalars are immutable)."""
    return {column: _private(value) for column, value in values.items()}


_IMMUTABLE: Final = (str, int, float, bytes, Decimal, date, time, timedelta, UUID)


def _private(value: object) -> object:
    if value is None or isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _cast_row(op: str, row: Mapping[str, object], types: Mapping[str, str]) -> dict[str, object]:
    """Each value cast to its declared type (or privately copied); ``Query`` if one cannot be."""
    try:
        return {c: coerce(v, types[c]) if c in types else _private(v) for c, v in row.items()}
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _compile(
    op: str, parsed: Filter | None, types: Mapping[str, str], bindings: Mapping[str, object] | None
) -> Predicate | None:
    if parsed is None:
        return None
    try:
        return compile_filter(parsed.root, types, bindings, datetime.now(UTC))
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _produce(
    op: str,
    rows: list[dict[str, object]],
    columns: tuple[str, ...],
    types: Mapping[str, str],
    predicate: Predicate | None,
    read: _Read,
) -> Iterator[Row]:
    """The retrieve's rows, lazily: filter, then aggregate, or sort and limit; values made JSON-safe."""
    try:
        matched: Iterator[dict[str, object]] = (
            iter(rows) if predicate is None else (row for row in rows if predicate(row) is True)
        )
        if read.aggregate is not None:
            yield from aggregate_rows(matched, read.aggregate, types)
            return
        if read.keys:
            ordered = list(matched)
            sort_rows(ordered, read.keys, types)
            matched = iter(ordered)
        if read.limit is not None:
            matched = islice(matched, read.limit)
        for row in matched:
            yield {column: to_json(row.get(column)) for column in columns}
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


async def _as_async(rows: Iterator[Row]) -> AsyncGenerator[Row, None]:
    for row in rows:
        yield row


async def _bounded(
    rows: Iterator[Row], bound: int | None, cancel: CancelSignal | None
) -> AsyncGenerator[Row, None]:
    """``rows`` until ``bound`` were given or ``cancel`` is set (checked after each row is pulled)."""
    for given, row in enumerate(rows):
        if is_cancelled(cancel) or (bound is not None and given >= bound):
            return
        yield row
