# Generated from src/axonstore/backend/aio.py by tools/async_to_sync.py: do not edit; edit the async
# source and run `python tools/async_to_sync.py` (a test fails while this file is stale).
"""``PostgresStoreBackend``: the verbs over one PostgreSQL pool, safe behind transaction-mode poolers.

This is the async driver; ``sync.py`` is generated from it (``tools/async_to_sync.py``), and what both
decide lives in ``core.py``. Every operation has the same skeleton (ANCHOR §6, with CONTRACT §9's
fixes):

1. everything that needs no database is checked when the verb prepares the operation (D13);
2. **cache hit**: the statement is built from the cached schema and runs as one autocommit statement
   (one round trip). A failure that a stale schema explains (``core.stale_after_hit``) evicts the entry
   and falls through to the miss path once, on the same connection — never inside a caller's
   transaction, which the failure has already aborted;
3. **cache miss**: ``BEGIN``; resolve the table (one catalog query); a named column the live table
   lacks is ``UnknownColumn`` (D4); build; run; ``COMMIT``; then cache. Any failure rolls back and
   raises the primary error. Inside a caller's transaction the miss path runs in it (no second BEGIN).

Example::

    backend = PostgresStoreBackend.connect_named("env:DATABASE_URL", "claims")   # no I/O
    with backend:
        rows = backend.query("claims", "status = '${s}'", {"s": "open"}, columns="id, status")
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar, cast

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from axonstore.backend.connections import (
    PINNING_DISABLED_REASON,
    RELEASED_PIN_REASON,
    STATEMENT_TIMEOUT_SQL,
    IdleClock,
    Pin,
    Transaction,
    begin_sql,
    classify,
    connection_kwargs,
    exhausted,
    pinning_enabled,
    pool_settings,
    refusal,
)
from axonstore.backend.core import (
    CHUNKED_STREAMS,
    DEFAULT_CAPACITY,
    BackendCore,
    Spec,
    cached_schema,
    copy_rows,
    page_keys,
    page_of,
    read_statement,
    require_columns,
    stale_after_hit,
    uses_copy,
    write_statements,
)
from axonstore.dsn import resolve_dsn, scrub_secrets
from axonstore.errors import (
    Connect,
    ForeignPin,
    StoreError,
    TransactionClosed,
    UnknownColumn,
)
from axonstore.idents import checked_ident
from axonstore.operations import (
    Insert,
    Page,
    PageRead,
    Read,
    Write,
    check_transaction_options,
)
from axonstore.rows import Row, type_info_query
from axonstore.schema import RESOLVE_SQL, SCHEMA_CACHE, ResolvedTable, resolve_from_rows, resolve_params
from axonstore.sql import Statement, copy_sql, page_sql
from axonstore.stream import CancelSignal, PolicyGate, RowStreamOutcome, drain_rows, is_cancelled
from axonstore.verbs.sync import SyncVerbs

if TYPE_CHECKING:
    from axonstore.otel import Operation

__all__ = ["DEFAULT_CAPACITY", "Pin", "PostgresStoreBackend", "Transaction"]

_log_resolve = logging.getLogger("axonstore.store.resolve")
_log_pin = logging.getLogger("axonstore.store.pin")
_log_pool = logging.getLogger("axonstore.store.pool")

T = TypeVar("T")
S = TypeVar("S", bound=Spec)
Conn = psycopg.Connection[Any]
Run = Callable[[Conn, S, ResolvedTable], T]
_NO_TRANSACTION = contextlib.nullcontext()


class PostgresStoreBackend(BackendCore, SyncVerbs):
    """Named-store operations over a PostgreSQL pool; safe behind transaction-mode poolers.

    Build one with :meth:`connect`, :meth:`connect_named`, :meth:`connect_named_with_namespace` or
    :meth:`connect_named_sized` (no I/O). The pool opens on the first operation. An async backend's
    pool belongs to the event loop of its first operation (``EventLoopMismatch`` from another loop);
    a sync backend may be shared by any number of threads.
    """

    def __init__(
        self,
        dsn: str,
        store_name: str = "",
        namespace: str | None = None,
        max_connections: int = 10,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        super().__init__(
            dsn,
            store_name,
            namespace,
            max_connections,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._clock = IdleClock()
        self._pool = self._make_pool()
        self._opening = threading.Lock()
        self._opened = False
        self._closed = False
        # The next opening first connects once on its own, so that a connection the server refuses
        # for good (a wrong password, a missing database) fails at once, not after the acquire timeout.
        self._preflight = True
        self._in_use = 0  # connections handed out right now (pins included): tells exhaustion apart

    # ---- construction -----------------------------------------------------------------------------

    @classmethod
    def connect(
        cls, connection: str, *, tracer_provider: Any = None, meter_provider: Any = None
    ) -> PostgresStoreBackend:
        """``connect_named(connection, "")``."""
        return cls.connect_named(
            connection, "", tracer_provider=tracer_provider, meter_provider=meter_provider
        )

    @classmethod
    def connect_named(
        cls, connection: str, store_name: str, *, tracer_provider: Any = None, meter_provider: Any = None
    ) -> PostgresStoreBackend:
        """``connect_named_with_namespace(connection, store_name, None)``."""
        return cls.connect_named_with_namespace(
            connection, store_name, None, tracer_provider=tracer_provider, meter_provider=meter_provider
        )

    @classmethod
    def connect_named_with_namespace(
        cls,
        connection: str,
        store_name: str,
        namespace: str | None,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """``connect_named_sized(connection, store_name, namespace, 10)``."""
        return cls.connect_named_sized(
            connection,
            store_name,
            namespace,
            DEFAULT_CAPACITY,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    @classmethod
    def connect_named_sized(
        cls,
        connection: str,
        store_name: str,
        namespace: str | None,
        max_connections: int,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """The real constructor: ``connection`` is a DSN or ``env:VAR``; nothing is opened yet.

        ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers for this backend's spans and
        metrics (``axonstore[otel]``; the global ones when omitted — ``axonstore.otel``).

        Raises ``EmptyConnection``, ``EmptyEnvVarName``, ``MissingEnvVar`` or ``PoolInit`` (masked).
        """
        return cls(
            resolve_dsn(connection),
            store_name,
            namespace,
            max_connections,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    def _make_pool(self) -> ConnectionPool[Any]:
        clock = self._clock

        def check(conn: Conn) -> None:
            if clock.due(conn):
                conn.execute("")  # an empty query: one round trip, no parse
            clock.seen(conn)

        def configure(conn: Conn) -> None:
            clock.seen(conn)

        return ConnectionPool(
            self._dsn,
            configure=configure,
            check=check,
            kwargs=connection_kwargs(self.application_name, psycopg.RawCursor),
            **pool_settings(self.max_connections, f"axonstore/{self.store_name or '-'}"),
        )

    def __enter__(self) -> PostgresStoreBackend:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool (waiting for connections in use to come back)."""
        self._closed = True
        if self._opened:
            self._opened = False
            self._pool.close()

    # ---- what the verbs run on (SyncVerbs) -------------------------------------------------------

    def run_rows(self, read: Read, conn: object) -> list[Row]:
        """Every row of a prepared retrieve."""
        return self._run(read, conn, self._fetch_rows)

    def run_read(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        """A prepared retrieve streamed through ``gate`` (closing early cancels the server's work)."""
        size = gate.fetch_size if CHUNKED_STREAMS else 1
        rows = self._stream(read, conn, size)
        try:
            return drain_rows(rows, gate)
        except BaseException as exc:
            # A drain that failed (FAIL past the bound, a cancelled task) is a failed operation: thrown
            # into the stream, it rolls the miss path back and caches nothing (D8).
            with contextlib.suppress(BaseException):
                rows.throw(exc)
            raise
        finally:
            rows.close()

    def iter_read(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object
    ) -> Generator[Row, None, None]:
        """Rows as they arrive, at most ``bound``, until ``cancel``."""
        size = 1 if not CHUNKED_STREAMS else 1_000 if bound is None else max(1, min(bound + 1, 1_000))
        seen = 0
        with contextlib.closing(self._stream(read, conn, size)) as rows:
            for row in rows:
                if is_cancelled(cancel) or (bound is not None and seen == bound):
                    return
                seen += 1
                yield row

    def run_page(self, page: PageRead, conn: object) -> Page:
        """One page of a prepared keyset walk."""
        return self._run(page, conn, self._fetch_page)

    def run_write(self, write: Write, conn: object) -> int | list[Row]:
        """A prepared write: its row count, or the rows it returned."""
        if isinstance(write, Insert) and not write.rows:
            return [] if write.returning is not None else 0  # an empty batch: no I/O
        return self._run(write, conn, self._write)

    # ---- more verbs ---------------------------------------------------------------------------------

    def warm_schema(self, table: str) -> None:
        """Resolve ``table`` and cache its schema (a no-op on a cache hit)."""
        checked_ident("table", table)
        self._enter()
        if SCHEMA_CACHE.get(self.cache_key(table)) is not None:
            return
        with _Lease(self, None) as conn:
            SCHEMA_CACHE.put(self.cache_key(table), self._resolve(conn, table))

    def refresh_schema(self, table: str) -> ResolvedTable:
        """Resolve ``table`` live, bypassing the cache, and cache the fresh result (deploy verification)."""
        checked_ident("table", table)
        self._enter()
        SCHEMA_CACHE.evict(self.cache_key(table))
        with _Lease(self, None) as conn:
            resolved = self._resolve(conn, table)
        SCHEMA_CACHE.put(self.cache_key(table), resolved)
        return resolved

    def catalog_rows(self, sql: LiteralString, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """Run one of axonstore's own catalog queries (a constant, never user text) → tuples.

        For :mod:`axonstore.introspect`; failures are ``Connect`` or ``Query(op="introspect")``.
        """
        self._enter()
        with _Lease(self, None) as conn:
            try:
                cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
                cursor.execute(sql, list(params))
                return cursor.fetchall()
            except psycopg.Error as exc:
                raise classify("introspect", exc, self._dsn) from exc

    def ping(self) -> None:
        """``SELECT 1`` through the pool; any failure is ``Connect``."""
        self._enter()
        try:
            with _Lease(self, None) as conn:
                conn.execute("SELECT 1")
        except Connect:
            raise  # already says why (wrapping it again would say it twice)
        except StoreError as exc:
            raise Connect(str(exc)) from exc
        except psycopg.Error as exc:
            raise Connect(scrub_secrets(str(exc), self._dsn)) from exc

    @contextlib.contextmanager
    def acquire_pin(self) -> Iterator[Pin]:
        """Hold one pooled connection for a flow: ``with backend.acquire_pin() as pin: …(conn=pin)``.

        ``Connect`` when pinning is off (``AXON_DB_POOLER_MODE`` = session/direct) or on timeout.
        """
        if not pinning_enabled():
            raise Connect(PINNING_DISABLED_REASON)
        self._enter()
        with _Lease(self, None) as conn:
            self.log(_log_pin, logging.INFO, f"pin acquired for store {self.store_name!r}")
            pin = Pin(self, conn)
            try:
                yield pin
            finally:
                pin._conn = None  # back to the pool with the block: a late use is refused

    @contextlib.contextmanager
    def transaction(
        self,
        isolation: str | None = None,
        read_only: bool = False,
        *,
        statement_timeout_ms: int | None = None,
    ) -> Iterator[Transaction]:
        """``BEGIN [ISOLATION LEVEL …] [READ ONLY]`` on one pooled connection; every verb takes the
        yielded :class:`Transaction` as ``conn=``. ``COMMIT`` when the block ends, ``ROLLBACK`` when it
        raises (the exception is re-raised). ``statement_timeout_ms`` bounds each statement inside.

        ``BadIsolation`` / ``BadArgument`` before any I/O for options that cannot be.
        """
        level = check_transaction_options(isolation, read_only, statement_timeout_ms)
        self._enter()
        with self.traced_transaction(level, read_only), _Lease(self, None) as conn:
            tx = Transaction(self, conn, level, read_only)
            try:
                self._begin(conn, level, read_only, statement_timeout_ms)
                yield tx
                tx._conn = None
                self._statement(conn, "commit", "COMMIT")
            except BaseException:
                tx._conn = None
                _rollback_quietly(conn)
                raise

    # ---- the skeleton -----------------------------------------------------------------------------

    def _run(self, spec: S, pin: object, run: Run[S, T]) -> T:
        if self._observer is None:
            return self._run_op(spec, pin, run, None)
        with self._observer.operation(spec) as op:  # telemetry: the operation's span and duration
            return op.result(self._run_op(spec, pin, run, op))

    def _run_op(self, spec: S, pin: object, run: Run[S, T], op: Operation | None) -> T:
        self._enter()
        key = self.cache_key(spec.table)
        resolved = cached_schema(spec, key)
        with _Lease(self, pin) as conn:
            in_transaction = isinstance(pin, Transaction)
            if resolved is not None:
                try:
                    return run(conn, spec, resolved)
                except psycopg.Error as exc:
                    error, cause = classify(spec.op, exc, self._dsn), exc
                if in_transaction or not stale_after_hit(error):
                    self._after_failure(error)
                    raise error from cause
                self.evict_stale(spec, error)
            return self._miss(conn, spec, key, run, in_transaction, op)

    def _miss(
        self,
        conn: Conn,
        spec: S,
        key: tuple[str, str],
        run: Run[S, T],
        in_transaction: bool,
        op: Operation | None,
    ) -> T:
        resolved: ResolvedTable | None = None
        scope = _NO_TRANSACTION if in_transaction else conn.transaction()
        try:
            with scope:
                resolved = self._resolve(conn, spec.table, op)
                require_columns(spec, resolved)
                result = run(conn, spec, resolved)
        except UnknownColumn:
            if resolved is not None:
                SCHEMA_CACHE.put(key, resolved)  # the fresh schema is right; the caller's column is not
            raise
        except psycopg.Error as exc:
            error = classify(spec.op, exc, self._dsn)
            self._after_failure(error)
            raise error from exc
        SCHEMA_CACHE.put(key, resolved)
        return result

    def _resolve(self, conn: Conn, table: str, op: Operation | None = None) -> ResolvedTable:
        """The catalog query (one statement), then the user-defined array types it mentions; with
        telemetry on, as a child span of the operation ``op`` that missed the cache."""
        if op is None:
            return self._introspect(conn, table)
        with op.introspection(table):
            return op.resolved(self._introspect(conn, table))

    def _introspect(self, conn: Conn, table: str) -> ResolvedTable:
        try:
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            cursor.execute(RESOLVE_SQL, resolve_params(table))
            rows = cursor.fetchall()
        except psycopg.Error as exc:
            error = classify("resolve", exc, self._dsn)
            self.log(_log_resolve, logging.ERROR, f"resolving `{table}` failed: {error}")
            raise error from exc
        try:
            resolved = resolve_from_rows(table, rows)
        except StoreError as exc:
            self.log(_log_resolve, logging.ERROR, str(exc), table=table)
            raise
        pending = self._types.pending(resolved.type_oids)
        if pending:
            sql, params = type_info_query(pending)
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            cursor.execute(sql, params)
            self._types.learn(pending, cursor.fetchall())
        return resolved

    # ---- statements -------------------------------------------------------------------------------

    def _fetch(self, conn: Conn, statement: Statement) -> list[Row]:
        cursor = conn.cursor(row_factory=self._types.row_factory)
        cursor.execute(*statement)
        return cursor.fetchall()

    def _fetch_rows(self, conn: Conn, read: Read, resolved: ResolvedTable) -> list[Row]:
        return self._fetch(conn, read_statement(read, resolved))

    def _fetch_page(self, conn: Conn, page: PageRead, resolved: ResolvedTable) -> Page:
        keys = page_keys(page, resolved)
        rows = self._fetch(conn, page_sql(page, resolved.schema, resolved.column_types, keys))
        return page_of(page, keys, rows)

    def _write(self, conn: Conn, write: Write, resolved: ResolvedTable) -> int | list[Row]:
        if isinstance(write, Insert) and uses_copy(write):
            return self._copy(conn, write, resolved)
        statements = write_statements(write, resolved)
        if len(statements) == 1:
            return self._write_one(conn, statements[0], write.returning is not None)
        # Several chunks of one batch: all or none, in the caller's transaction or in one of ours.
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        with conn.transaction() if idle else _NO_TRANSACTION:
            results = [self._write_one(conn, s, write.returning is not None) for s in statements]
        if write.returning is None:
            return sum(cast("list[int]", results))
        return [row for chunk in cast("list[list[Row]]", results) for row in chunk]

    def _write_one(self, conn: Conn, statement: Statement, returning: bool) -> int | list[Row]:
        if returning:
            return self._fetch(conn, statement)
        cursor = conn.cursor()
        cursor.execute(*statement)
        return max(cursor.rowcount, 0)

    def _copy(self, conn: Conn, insert: Insert, resolved: ResolvedTable) -> int:
        """A large batch through ``COPY … FROM STDIN`` (one statement: all rows or none)."""
        cursor = conn.cursor()
        with cursor.copy(copy_sql(insert, resolved.schema)) as copy:
            for row in copy_rows(insert, resolved.column_types):
                copy.write_row(row)
        return len(insert.rows)

    def _begin(
        self, conn: Conn, level: str | None, read_only: bool, statement_timeout_ms: int | None
    ) -> None:
        self._statement(conn, "begin", begin_sql(level, read_only))
        if statement_timeout_ms is not None:
            self._statement(conn, "begin", STATEMENT_TIMEOUT_SQL, [str(statement_timeout_ms)])

    def _statement(self, conn: Conn, op: str, sql: LiteralString, params: Sequence[object] = ()) -> None:
        """One of axonstore's own statements (BEGIN, COMMIT, …); failures typed."""
        try:
            conn.execute(sql, list(params))
        except psycopg.Error as exc:
            error = classify(op, exc, self._dsn)
            self._after_failure(error)
            raise error from exc

    # ---- streams ----------------------------------------------------------------------------------

    def _stream(self, read: Read, pin: object, size: int) -> Generator[Row, None, None]:
        """Rows of a retrieve as they arrive (:meth:`_stream_op`), inside one span with telemetry on."""
        if self._observer is None:
            return self._stream_op(read, pin, size, None)
        return self._observed_stream(read, pin, size)

    def _observed_stream(self, read: Read, pin: object, size: int) -> Generator[Row, None, None]:
        """A stream inside its operation's span, which covers the drain and counts the rows. What
        ends the consumer is thrown into the stream (as :meth:`_stream_op` does with its miss path)."""
        assert self._observer is not None
        op = self._observer.operation(read)
        op.rows = 0
        rows = self._stream_op(read, pin, size, op)
        try:
            for row in rows:
                op.rows += 1
                yield row
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                rows.throw(exc)
            op.end(exc)
            raise
        finally:
            rows.close()
            op.end()

    def _stream_op(
        self, read: Read, pin: object, size: int, op: Operation | None
    ) -> Generator[Row, None, None]:
        """Rows of a retrieve as they arrive; the hit/miss skeleton, with a transaction held on a miss.

        Every inner stream is closed explicitly (``closing``): closing this generator early must close
        the server-side stream (psycopg cancels it) before the connection goes back to the pool.
        """
        self._enter()
        key = self.cache_key(read.table)
        resolved = cached_schema(read, key)
        with _Lease(self, pin) as conn:
            in_transaction = isinstance(pin, Transaction)
            if resolved is not None:
                started = False
                try:
                    with self._open_stream(conn, read_statement(read, resolved), size) as rows:
                        for row in rows:
                            started = True
                            yield row
                    return
                except psycopg.Error as exc:
                    error, cause = classify(read.op, exc, self._dsn), exc
                if started or in_transaction or not stale_after_hit(error):
                    self._after_failure(error)
                    raise error from cause
                self.evict_stale(read, error)
            missed = self._stream_miss(conn, read, key, size, in_transaction, op)
            try:
                for row in missed:
                    yield row
            except BaseException as exc:
                # What ended the consumer ends the miss path the same way: a failure rolls it back
                # and caches nothing (D8); an early close (GeneratorExit) still caches.
                with contextlib.suppress(BaseException):
                    missed.throw(exc)
                raise
            finally:
                missed.close()

    def _stream_miss(
        self,
        conn: Conn,
        read: Read,
        key: tuple[str, str],
        size: int,
        in_transaction: bool,
        op: Operation | None,
    ) -> Generator[Row, None, None]:
        resolved: ResolvedTable | None = None
        clean = False
        scope = _NO_TRANSACTION if in_transaction else conn.transaction()
        try:
            with scope:
                resolved = self._resolve(conn, read.table, op)
                require_columns(read, resolved)
                with self._open_stream(conn, read_statement(read, resolved), size) as rows:
                    for row in rows:
                        yield row
            clean = True
        except GeneratorExit:
            clean = True  # closed early by a consumer that has what it wanted
            raise
        except UnknownColumn:
            clean = True
            raise
        except psycopg.Error as exc:
            raise classify(read.op, exc, self._dsn) from exc
        finally:
            if clean and resolved is not None:
                SCHEMA_CACHE.put(key, resolved)  # a failed drain caches nothing (D8)

    def _open_stream(
        self, conn: Conn, statement: Statement, size: int
    ) -> contextlib.closing[Generator[Row, None, None]]:
        cursor = conn.cursor(row_factory=self._types.row_factory)
        stream = cast("Generator[Row, None, None]", cursor.stream(*statement, size=size))
        return contextlib.closing(stream)

    # ---- connections ------------------------------------------------------------------------------

    def _enter(self) -> None:
        """Refuse a closed backend (and, async, any event loop but the pool's)."""
        if self._closed:
            raise Connect(f"this {type(self).__name__} was closed — create a new one")

    def _open(self) -> None:
        """Open the pool on first use (once, whichever task or thread gets here first)."""
        with self._opening:
            if self._opened:
                return
            if self._preflight:
                reason = self._refused()
                if reason is not None:
                    raise Connect(reason)
            self._pool.open(wait=False)
            self._opened = True
            self.observe_global_providers()

    def _refused(self) -> str | None:
        """Connect once outside the pool: the reason when the server refuses for good, else ``None``
        (a server that does not answer yet is left to the pool, which keeps trying)."""
        try:
            probe = psycopg.Connection.connect(
                self._dsn, connect_timeout=5, autocommit=True, application_name=self.application_name
            )
        except psycopg.Error as exc:
            reason = refusal(exc, self._dsn)
        else:
            probe.close()
            self._preflight = False
            return None
        return reason

    def _diagnose(self) -> str:
        """Why no connection could be had: an exhausted pool, or the server's own refusal.

        When all of the pool's connections are held by this backend, the pool is exhausted: say so
        without I/O (a probe would cost the saturated server one more connection). Otherwise ask the
        server: a connection attempt that keeps failing counts in the pool's own statistics, so those
        alone would call a refused connection an exhausted pool.
        """
        if self._in_use >= self.max_connections:
            return exhausted(self.max_connections)
        self._preflight = True  # the server may have started refusing: the next opening asks first
        try:
            probe = psycopg.Connection.connect(
                self._dsn, connect_timeout=2, autocommit=True, application_name=self.application_name
            )
        except psycopg.Error as exc:
            text = refusal(exc, self._dsn) or scrub_secrets(str(exc).strip(), self._dsn)
        else:
            probe.close()
            text = "no connection was made within 5 s (the server answers now: retry)"
        return text

    def _after_failure(self, error: StoreError) -> None:
        """After a lost connection, check the idle ones in the background (a restart breaks them all)."""
        if not (isinstance(error, Connect) and self._opened):
            return
        threading.Thread(target=self._pool.check, name="axonstore-pool-check", daemon=True).start()


class _Lease:
    """One connection for one operation: the pin's, or the pool's (``getconn``/``putconn``).

    A plain class rather than a generator-based context manager, and ``getconn`` rather than the
    pool's own ``connection()``: this runs on every operation, and each layer costs microseconds.
    """

    __slots__ = ("_backend", "_conn", "_pin")

    def __init__(self, backend: PostgresStoreBackend, pin: object) -> None:
        self._backend = backend
        self._pin = pin
        self._conn: Conn | None = None

    def __enter__(self) -> Conn:
        pin = self._pin
        backend = self._backend
        if pin is not None:
            if not isinstance(pin, Pin) or not _owned(pin, backend):
                raise ForeignPin()
            conn: Conn | None = pin._conn
            if conn is None:
                if isinstance(pin, Transaction):
                    raise TransactionClosed()
                raise Connect(RELEASED_PIN_REASON)
            return conn
        if not backend._opened:
            backend._open()
        try:
            conn = backend._pool.getconn()
        except PoolTimeout:
            reason = backend._diagnose()
            raise Connect(reason) from None
        backend._in_use += 1
        self._conn = conn
        return conn

    def __exit__(self, *_: object) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            backend = self._backend
            backend._in_use -= 1
            backend._clock.seen(conn)
            backend._pool.putconn(conn)


def _owned(pin: Pin, backend: PostgresStoreBackend) -> bool:
    """A pin runs on its own backend; a transaction also on another store's backend of the same
    database (``registry.transaction(*stores)``: one connection for them all)."""
    owner = pin._owner
    if owner is backend:
        return True
    return isinstance(pin, Transaction) and isinstance(owner, BackendCore) and owner.same_database(backend)


def _rollback_quietly(conn: Conn) -> None:
    """``ROLLBACK`` after a failure inside a transaction; a broken connection is the pool's to discard."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        conn.execute("ROLLBACK")
