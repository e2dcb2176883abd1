"""The in-memory engine: prepared operations (:mod:`axonstore.operations`) evaluated over rows held in
this process — the logic behind both flavours of the ``in_memory`` backend (the semantics are
documented in :mod:`axonstore.memory`).

Synchronous and thread-safe (one re-entrant lock around each verb), with no I/O: the async
:class:`~axonstore.memory.InMemoryBackend` and the synchronous one in :mod:`axonstore.sync` are thin
facades that prepare an operation and hand it here. A failed write leaves every table as it was: values
are cast (and every check passes) before the first row changes.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, TypeAlias
from uuid import UUID

from axonstore._json import to_json
from axonstore.errors import InvalidDeclaration, Query, ReadOnlyTransaction, TransactionClosed, UnknownColumn
from axonstore.filter import Filter, check_parameter_count
from axonstore.idents import checked_ident
from axonstore.memory._aggregate import aggregate_rows
from axonstore.memory._casts import coerce, coerce_literal
from axonstore.memory._eval import Predicate, compile_filter, count_parameters, sort_rows
from axonstore.memory._values import KNOWN_TYPES, CastError, compare
from axonstore.operations import (
    Delete,
    Insert,
    Page,
    PageRead,
    Read,
    Update,
    Write,
    check_transaction_options,
    page_token,
)
from axonstore.pgtypes import normalize_type_name
from axonstore.stream import CancelSignal, PolicyGate, RowStreamOutcome, drain_rows, is_cancelled

__all__ = ["MemoryBase", "MemoryEngine", "MemoryTransaction", "Snapshot"]

Row: TypeAlias = dict[str, Any]
Stored: TypeAlias = dict[str, object]
_DECLARATION_PATH: Final = "<InMemoryBackend.declare_columns>"


#: The key under which each stored row keeps its identity: never a column name (not an identifier).
ROW_ID: Final = "#row"


class _Table:
    """One table: its rows, its declared column types, and every column ever written to it."""

    __slots__ = ("declared", "rows", "written")

    def __init__(self) -> None:
        self.rows: list[Stored] = []
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

    def copy(self) -> _Table:
        twin = _Table()
        twin.rows, twin.declared, twin.written = list(self.rows), dict(self.declared), dict(self.written)
        return twin


@dataclass
class Snapshot:
    """Every table as it was when a transaction began (rows are replaced, never changed in place, so a
    shallow copy of each row list is a faithful snapshot)."""

    tables: dict[str, _Table] = field(default_factory=dict)


class MemoryEngine:
    """Tables held in this process, and the verbs over prepared operations."""

    def __init__(self, declared: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._tables: dict[str, _Table] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count()
        for table, columns in (declared or {}).items():
            self.declare_columns(table, columns)

    def tables(self) -> list[str]:
        """The tables that exist (written to or declared), sorted."""
        return sorted(self._tables)

    def declare_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """Declare column types; rows already stored are cast too, or nothing changes (``Query``)."""
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
        with self._lock:
            state = self._tables.get(table) or _Table()
            rows = [_cast_row("declare", row, types) for row in state.rows]
            state.declared.update(types)
            state.rows = rows
            self._tables[table] = state

    # ---- transactions ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The state a rollback returns to."""
        with self._lock:
            return Snapshot({name: table.copy() for name, table in self._tables.items()})

    def restore(self, snapshot: Snapshot) -> None:
        """Put every table back as the snapshot holds it (a rolled-back transaction)."""
        with self._lock:
            self._tables = {name: table.copy() for name, table in snapshot.tables.items()}

    # ---- reads -------------------------------------------------------------------------------------

    def read(self, read: Read) -> Iterator[Row]:
        """The rows of a retrieve, lazily, from a snapshot taken now (writes made while the caller
        iterates do not show). Column, parameter and literal errors are raised here, not at the first
        row."""
        with self._lock:
            state = self._tables.get(read.table) or _Table()
            _require(read.table, state, read.named)
            types = state.types()
            predicate = _compile(read.op, read.filter, types, read.bindings, 0)
            rows = list(state.rows)
            shown = read.columns or state.columns()
        return _produce(read.op, rows, shown, types, predicate, read)

    def page(self, page: PageRead) -> Page:
        """One page of a keyset walk: sorted by the order, then by row identity (a total order)."""
        read = page.read
        with self._lock:
            state = self._tables.get(read.table) or _Table()
            _require(read.table, state, read.named)
            types = state.types()
            predicate = _compile(read.op, read.filter, types, read.bindings, 0)
            rows = [row for row in state.rows if predicate is None or _kept(read.op, predicate, row)]
            shown = read.columns or state.columns()
        _sorted(read.op, rows, read.order, types)
        after = page.after
        if after is not None:
            rows = [row for row in rows if _beyond(row, read.order, after, types)]
        more = len(rows) > page.size
        rows = rows[: page.size]
        out = [{column: to_json(row.get(column)) for column in shown} for row in rows]
        if not more:
            return Page(out, None)
        last = rows[-1]
        keys = [to_json(last.get(column)) for column, _ in read.order]
        return Page(out, page_token(page.scope, [*keys, last[ROW_ID]]))

    # ---- writes ------------------------------------------------------------------------------------

    def write(self, spec: Write) -> int | list[Row]:
        """Run a write; the row count, or the returned rows when the spec asks for them."""
        with self._lock:
            if isinstance(spec, Insert):
                return self._insert(spec)
            if isinstance(spec, Update):
                return self._update(spec)
            if isinstance(spec, Delete):
                return self._delete(spec)
            raise Query(spec.op, "the in_memory backend has no edge-weight tables (reinforce)", "0A000")

    def _insert(self, spec: Insert) -> int | list[Row]:
        if not spec.rows:
            return [] if spec.returning is not None else 0
        state = self._tables.get(spec.table) or _Table()
        _refuse_repeats(spec.op, spec.columns, "42701", 'column "{}" specified more than once')
        types = state.types()
        if spec.conflict is not None:
            _require(spec.table, state, spec.conflict)
        cast = [_cast_row(spec.op, dict(zip(spec.columns, row, strict=True)), types) for row in spec.rows]
        if spec.returning:
            _require(spec.table, _with_written(state, spec.columns), spec.returning)
        touched = self._apply_inserts(state, spec, cast, types)
        self._tables[spec.table] = state
        return _result(spec.returning, touched, state)

    def _apply_inserts(
        self, state: _Table, spec: Insert, cast: list[Stored], types: Mapping[str, str]
    ) -> list[Stored]:
        """Append the rows (or, for an upsert, update the rows they conflict with); what was touched."""
        touched: list[Stored] = []
        seen: set[tuple[object, ...]] = set()
        for row in cast:
            index = None if spec.conflict is None else _conflicting(state.rows, row, spec.conflict, types)
            if index is None:
                stored = {**row, ROW_ID: next(self._ids)}
                state.rows.append(stored)
                state.written.update(dict.fromkeys(spec.columns))
                touched.append(stored)
                continue
            key = tuple(to_json(row.get(c)) for c in spec.conflict or ())
            if spec.update and repr(key) in {repr(k) for k in seen}:
                raise Query(spec.op, "ON CONFLICT DO UPDATE command cannot affect row a second time", "21000")
            seen.add(key)
            if spec.update:
                new = {**state.rows[index], **{c: row[c] for c in spec.update}}
                state.rows[index] = new
                touched.append(new)
        return touched

    def _update(self, spec: Update) -> int | list[Row]:
        state = self._tables.get(spec.table) or _Table()
        set_params = sum(value is not None for _, value in spec.pairs)
        check_parameter_count(0, set_params)
        _check_filter_parameters(spec.filter, set_params)
        _require(spec.table, state, spec.named)
        _refuse_repeats(
            spec.op, [c for c, _ in spec.pairs], "42601", 'multiple assignments to same column "{}"'
        )
        values = _cast_row(spec.op, dict(spec.pairs), state.types())
        hits = self._matching(state, spec.filter, spec.bindings, spec.op)
        touched = []
        for index in hits:  # validated above: from here on nothing can fail
            new = {**state.rows[index], **_copied(values)}
            state.rows[index] = new  # a new dict: a paused reader keeps its snapshot
            touched.append(new)
        return _result(spec.returning, touched, state)

    def _delete(self, spec: Delete) -> int | list[Row]:
        state = self._tables.get(spec.table) or _Table()
        _check_filter_parameters(spec.filter, 0)
        _require(spec.table, state, spec.named)
        hits = set(self._matching(state, spec.filter, spec.bindings, spec.op))
        gone = [row for index, row in enumerate(state.rows) if index in hits]
        if hits:
            state.rows = [row for index, row in enumerate(state.rows) if index not in hits]
        return _result(spec.returning, gone, state)

    def _matching(
        self, state: _Table, parsed: Filter | None, bindings: Mapping[str, object] | None, op: str
    ) -> list[int]:
        predicate = _compile(op, parsed, state.types(), bindings, None)
        if predicate is None:
            return list(range(len(state.rows)))
        return [index for index, row in enumerate(state.rows) if _kept(op, predicate, row)]


# --------------------------------------------------------------------------------------------------
# Helpers (no state)


def _with_written(state: _Table, columns: Sequence[str]) -> _Table:
    twin = state.copy()
    twin.written.update(dict.fromkeys(columns))
    return twin


def _result(returning: tuple[str, ...] | None, touched: list[Stored], state: _Table) -> int | list[Row]:
    if returning is None:
        return len(touched)
    shown = returning or state.columns()
    return [{column: to_json(row.get(column)) for column in shown} for row in touched]


def _conflicting(
    rows: list[Stored], row: Stored, conflict: Sequence[str], types: Mapping[str, str]
) -> int | None:
    """The index of the stored row whose conflict columns equal ``row``'s (NULLs never conflict)."""
    wanted = [row.get(column) for column in conflict]
    if any(value is None for value in wanted):
        return None
    for index, stored in enumerate(rows):
        values = [stored.get(column) for column in conflict]
        if all(_same(a, b) for a, b in zip(values, wanted, strict=True)):
            return index
    del types
    return None


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return False
    try:
        return compare(a, b) == 0
    except (TypeError, ValueError, AttributeError):
        return a == b


def _kept(op: str, predicate: Predicate, row: Stored) -> bool:
    try:
        return predicate(row) is True
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _sorted(op: str, rows: list[Stored], order: Sequence[tuple[str, str]], types: Mapping[str, str]) -> None:
    """Sort by the order; ties keep insertion order, which row identities follow (a total order)."""
    if not order:  # stored rows are in insertion order, which row identities follow
        return
    try:
        sort_rows(rows, order, types)
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _beyond(
    row: Stored, order: Sequence[tuple[str, str]], after: Sequence[object], types: Mapping[str, str]
) -> bool:
    """Whether ``row`` sorts after the token's key values (the order's, then the row identity)."""
    for (column, direction), wanted in zip(order, after, strict=False):
        here = row.get(column)
        mark = _token_value(wanted, types.get(column))
        step = _order_step(here, mark)
        if step:
            return step > 0 if direction == "ASC" else step < 0
    rowid = after[len(order)] if len(after) > len(order) else -1
    return bool(row[ROW_ID] > rowid)  # type: ignore[operator]


def _order_step(here: object, mark: object) -> int:
    """-1/0/1 with NULLs larger than every value, as ORDER BY sorts them."""
    if here is None or mark is None:
        return (here is None) - (mark is None)
    try:
        return compare(here, mark)
    except (TypeError, ValueError, AttributeError):
        return (str(here) > str(mark)) - (str(here) < str(mark))


def _token_value(value: object, pg_type: str | None) -> object:
    """A key value from a token (JSON), back in the stored form of its column."""
    if value is None or pg_type is None or isinstance(value, dict | list):
        return value
    try:
        return coerce_literal(value, pg_type)  # type: ignore[arg-type]
    except CastError:
        return value


def _check_filter_parameters(parsed: Filter | None, offset: int) -> None:
    """``TooManyParameters`` for a filter PostgreSQL could not bind (both backends refuse the same)."""
    if parsed is not None:
        check_parameter_count(offset, count_parameters(parsed.root))


def _refuse_repeats(op: str, columns: Sequence[str], sqlstate: str, message: str) -> None:
    seen: set[str] = set()
    for column in columns:
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


def _cast_row(op: str, row: Mapping[str, object], types: Mapping[str, str]) -> Stored:
    """Each value cast to its declared type (or privately copied); ``Query`` if one cannot be."""
    try:
        return {c: coerce(v, types[c]) if c in types else _private(v) for c, v in row.items()}
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _compile(
    op: str,
    parsed: Filter | None,
    types: Mapping[str, str],
    bindings: Mapping[str, object] | None,
    offset: int | None,
) -> Predicate | None:
    if parsed is None:
        return None
    if offset is not None:
        check_parameter_count(offset, count_parameters(parsed.root))
    try:
        return compile_filter(parsed.root, types, bindings, datetime.now(UTC))
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


def _produce(
    op: str,
    rows: list[Stored],
    columns: Sequence[str],
    types: Mapping[str, str],
    predicate: Predicate | None,
    read: Read,
) -> Iterator[Row]:
    """The retrieve's rows, lazily: filter, then aggregate, or sort and limit; values made JSON-safe."""
    try:
        matched: Iterator[Stored] = (
            iter(rows) if predicate is None else (r for r in rows if predicate(r) is True)
        )
        if read.aggregate is not None:
            yield from aggregate_rows(matched, read.aggregate, types)
            return
        if read.order:
            ordered = list(matched)
            sort_rows(ordered, read.order, types)
            matched = iter(ordered)
        if read.limit is not None:
            matched = itertools.islice(matched, read.limit)
        for row in matched:
            yield {column: to_json(row.get(column)) for column in columns}
    except CastError as exc:
        raise Query(op, exc.message, exc.sqlstate) from None


# --------------------------------------------------------------------------------------------------
# What both flavours' facades share


_ABORTED = "current transaction is aborted, commands ignored until end of transaction block"
_ABORTED_AT_COMMIT = (
    "a statement failed inside this transaction and the block went on: it was rolled back and nothing of "
    "it was written — let the error end the block, or retry it whole"
)


class MemoryTransaction:
    """An in-memory transaction: pass it as ``conn=`` to every verb inside its block."""

    __slots__ = ("_owner", "aborted", "closed", "isolation", "read_only", "snapshot")

    def __init__(self, owner: object, snapshot: Snapshot, isolation: str | None, read_only: bool) -> None:
        self._owner = owner
        self.snapshot = snapshot
        self.isolation = isolation
        self.read_only = read_only
        self.closed = False
        #: A statement failed inside it: as on PostgreSQL, every later statement is 25P02 and the
        #: block cannot end as committed.
        self.aborted = False

    def __repr__(self) -> str:
        return f"<MemoryTransaction {'closed' if self.closed else 'open'}>"


class MemoryBase:
    """The facade logic of both flavours of the in-memory backend: an engine, and the verbs' bodies."""

    def __init__(self, declared: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.engine = MemoryEngine(declared)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tables={self.engine.tables()!r})"

    def masked_dsn(self) -> str:
        """There is no DSN: ``"in_memory"``."""
        return "in_memory"

    def declare_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """Declare column types (``pg_type.typname`` or an alias: ``integer``, ``timestamp with time
        zone`` …). Rows already stored are cast too; if one cannot be, nothing changes (``Query``)."""
        self.engine.declare_columns(table, columns)

    def check_table(self, table: str) -> None:
        """``InvalidIdentifier`` unless ``table`` is a safe identifier."""
        checked_ident("table", table)

    def _check_conn(self, conn: object, write: str = "") -> None:
        """``TransactionClosed`` for an ended transaction; for a write (``write`` is its op) in a
        read-only one, ``ReadOnlyTransaction`` (25006) as PostgreSQL raises."""
        if isinstance(conn, MemoryTransaction):
            if conn.closed or conn._owner is not self:
                raise TransactionClosed()
            if conn.aborted:
                raise Query(write or "retrieve", _ABORTED, "25P02")
            if write and conn.read_only:
                conn.aborted = True
                raise ReadOnlyTransaction(write, "cannot execute a write in a read-only transaction", "25006")

    def rows(self, read: Read, conn: object) -> list[Row]:
        """Every row of a retrieve."""
        self._check_conn(conn)
        with _aborting(conn):
            return list(self.engine.read(read))

    def drain(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        """A retrieve through a backpressure gate."""
        self._check_conn(conn)
        with _aborting(conn):
            return drain_rows(self.engine.read(read), gate)

    def bounded(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object
    ) -> Generator[Row, None, None]:
        """The rows of a retrieve, at most ``bound``, until ``cancel`` (checked after each row is pulled).
        Errors in the arguments are raised here, not at the first row."""
        self._check_conn(conn)
        return _bounded(self.engine.read(read), bound, cancel)

    def page_of(self, page: PageRead, conn: object) -> Page:
        """One page of a keyset walk."""
        self._check_conn(conn)
        return self.engine.page(page)

    def write(self, write: Write, conn: object) -> int | list[Row]:
        """A write (all or nothing)."""
        self._check_conn(conn, write=write.op)
        with _aborting(conn):
            return self.engine.write(write)

    @contextlib.contextmanager
    def transaction_scope(
        self, isolation: str | None, read_only: bool, statement_timeout_ms: int | None
    ) -> Iterator[MemoryTransaction]:
        """Snapshot on entry; restore on an exception (re-raised); the transaction is closed either way."""
        level = check_transaction_options(isolation, read_only, statement_timeout_ms)
        tx = MemoryTransaction(self, self.engine.snapshot(), level, read_only)
        try:
            yield tx
            if tx.aborted:
                raise Query("commit", _ABORTED_AT_COMMIT, "25P02")
        except BaseException:
            self.engine.restore(tx.snapshot)
            raise
        finally:
            tx.closed = True


@contextlib.contextmanager
def _aborting(conn: object) -> Iterator[None]:
    """A statement that fails on the server (``Query``: a cast, a constraint) aborts the transaction it
    ran in, as on PostgreSQL; errors PostgreSQL raises before any statement (``UnknownColumn``) do not."""
    try:
        yield
    except Query:
        if isinstance(conn, MemoryTransaction):
            conn.aborted = True
        raise


def _bounded(
    rows: Iterator[Row], bound: int | None, cancel: CancelSignal | None
) -> Generator[Row, None, None]:
    for given, row in enumerate(rows):
        if is_cancelled(cancel) or (bound is not None and given >= bound):
            return
        yield row
