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
from typing import Any, LiteralString, TypeVar, cast

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from axonstore.backend.connections import (
    PINNING_DISABLED_REASON,
    RELEASED_PIN_REASON,
    STATEMENT_TIMEOUT_SQL,
    Pin,
    Transaction,
    begin_sql,
    check_due,
    classify,
    connection_kwargs,
    exhausted,
    mark_seen,
    pinning_enabled,
    pool_settings,
    refusal,
)
from axonstore.backend.core import (
    CHUNKED_STREAMS,
    CURRENT_OPERATION,
    DEFAULT_CAPACITY,
    BackendCore,
    Spec,
    cached_schema,
    copy_rows,
    page_of,
    page_plan,
    read_statement,
    require_columns,
    stale_after_hit,
    uses_copy,
    write_statements,
)
from axonstore.backend.pipeline import (
    settled_rows_sync,
)
from axonstore.backend.replicas import (
    DEFAULT_MAX_LAG_MS,
    PRIMARY_PROBE_SQL,
    PROBE_CONNECT_TIMEOUT,
    PROBE_INTERVAL,
    READER_ACQUIRE_TIMEOUT,
    READER_PROBE_SQL,
    UNKNOWN_LSN,
    WRITE_LSN_SQL,
    demanded_lsn,
    note_write,
    parse_lsn,
    parse_token,
    required_lsn,
    requiring,
)
from axonstore.dsn import resolve_dsn, scrub_secrets
from axonstore.errors import (
    Connect,
    ForeignPin,
    NoPageKey,
    Query,
    StoreError,
    TransactionClosed,
    UnknownColumn,
)
from axonstore.idents import checked_ident
from axonstore.operations import (
    Bindings,
    Insert,
    Page,
    PageRead,
    Read,
    Write,
    check_transaction_options,
    prepare_read,
)
from axonstore.plans import COLD, Hit
from axonstore.rows import type_info_query
from axonstore.schema import RESOLVE_SQL, SCHEMA_CACHE, ResolvedTable, resolve_from_rows, resolve_params
from axonstore.sql import Statement, copy_sql
from axonstore.stream import (
    DEFAULT_MAX_ROWS,
    Backpressure,
    CancelSignal,
    PolicyGate,
    RowStreamOutcome,
    drain_chunks,
    is_cancelled,
)
from axonstore.verbs import Row, bounded_max_rows
from axonstore.verbs.sync import SyncVerbs

__all__ = ["DEFAULT_CAPACITY", "Pin", "PostgresStoreBackend", "Transaction"]

_log_resolve = logging.getLogger("axonstore.store.resolve")
_log_pin = logging.getLogger("axonstore.store.pin")
_log_pool = logging.getLogger("axonstore.store.pool")

T = TypeVar("T")
S = TypeVar("S", bound=Spec)
Conn = psycopg.Connection[Any]
Run = Callable[[Conn, S, ResolvedTable], T]
_NO_TRANSACTION = contextlib.nullcontext()
ABORTED_TRANSACTION = (
    "a statement failed inside this transaction and the block went on: the server had aborted it, so "
    "it was rolled back and nothing of it was written — let the error end the block, or retry it whole"
)
_Lock = threading.Lock


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
        readers: Sequence[str] = (),
        reads: str = "session",
        max_lag_ms: int = DEFAULT_MAX_LAG_MS,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        super().__init__(
            dsn,
            store_name,
            namespace,
            max_connections,
            readers=readers,
            reads=reads,
            max_lag_ms=max_lag_ms,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._pool = self._make_pool(self._dsn)
        # One pool per reader, sized like the primary's (``capacity`` is per endpoint), and the probe
        # that keeps the router's view of them current (CONTRACT §13).
        self._reader_pools = [self._make_pool(reader) for reader in self._reader_dsns]
        self._prober: threading.Thread | None = None
        self._stopping = threading.Event()
        self._opening = _Lock()
        self._opened = False
        self._closed = False
        # The next opening first connects once on its own, so that a connection the server refuses
        # for good (a wrong password, a missing database) fails at once, not after the acquire timeout.
        self._preflight = True
        self._in_use = 0  # connections handed out right now (pins included): tells exhaustion apart
        self._miss_locks: dict[tuple[str, str], _Lock] = {}

    # ---- construction -----------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        connection: str,
        *,
        readers: Sequence[str] = (),
        reads: str = "session",
        max_lag_ms: int = DEFAULT_MAX_LAG_MS,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """``connect_named(connection, "")``."""
        return cls.connect_named(
            connection,
            "",
            readers=readers,
            reads=reads,
            max_lag_ms=max_lag_ms,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    @classmethod
    def connect_named(
        cls,
        connection: str,
        store_name: str,
        *,
        readers: Sequence[str] = (),
        reads: str = "session",
        max_lag_ms: int = DEFAULT_MAX_LAG_MS,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """``connect_named_with_namespace(connection, store_name, None)``."""
        return cls.connect_named_with_namespace(
            connection,
            store_name,
            None,
            readers=readers,
            reads=reads,
            max_lag_ms=max_lag_ms,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    @classmethod
    def connect_named_with_namespace(
        cls,
        connection: str,
        store_name: str,
        namespace: str | None,
        *,
        readers: Sequence[str] = (),
        reads: str = "session",
        max_lag_ms: int = DEFAULT_MAX_LAG_MS,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """``connect_named_sized(connection, store_name, namespace, 10)``."""
        return cls.connect_named_sized(
            connection,
            store_name,
            namespace,
            DEFAULT_CAPACITY,
            readers=readers,
            reads=reads,
            max_lag_ms=max_lag_ms,
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
        readers: Sequence[str] = (),
        reads: str = "session",
        max_lag_ms: int = DEFAULT_MAX_LAG_MS,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> PostgresStoreBackend:
        """The real constructor: ``connection`` is a DSN or ``env:VAR``; nothing is opened yet.

        ``readers`` are replicas' DSNs (or ``env:VAR``), ``reads`` is ``"primary"``, ``"replica"`` or
        ``"session"`` and ``max_lag_ms`` bounds a reader's lag (CONTRACT §13; docs/replicas.md).
        Raises ``EmptyConnection``, ``EmptyEnvVarName``, ``MissingEnvVar``, ``PoolInit`` (masked) or
        ``BadArgument``.
        """
        dsns = [resolve_dsn(reader) for reader in ((readers,) if isinstance(readers, str) else readers)]
        return cls(
            resolve_dsn(connection),
            store_name,
            namespace,
            max_connections,
            readers=dsns,
            reads=reads,
            max_lag_ms=max_lag_ms,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    def _make_pool(self, dsn: str) -> ConnectionPool[Any]:
        def check(conn: Conn) -> None:
            if check_due(conn):  # the lease's return records every use: only a check needs recording here
                conn.execute("")  # an empty query: one round trip, no parse
                mark_seen(conn)

        def configure(conn: Conn) -> None:
            mark_seen(conn)

        return ConnectionPool(
            dsn,
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
        self._stop_probes()
        if self._opened:
            self._opened = False
            self._pool.close()
            for pool in self._reader_pools:
                pool.close()

    # ---- what the verbs run on (SyncVerbs) -------------------------------------------------------

    def run_rows(self, read: Read, conn: object) -> list[Row]:
        """Every row of a prepared retrieve."""
        return self._run(read, conn, self._fetch_rows)

    def run_read(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        """A prepared retrieve streamed through ``gate`` (closing early cancels the server's work)."""
        size = gate.fetch_size if CHUNKED_STREAMS else 1
        rows = self._stream(read, conn, size)
        try:
            return drain_chunks(rows, gate)
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
        """Rows as they arrive, at most ``bound``, until ``cancel`` (a ``consistent_with=`` token in
        force now goes with them: ``StoreHandle.stream`` makes the stream inside one)."""
        return self._iter(read, bound, cancel, conn, demanded_lsn())

    def _iter(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object, lsn: int | None
    ) -> Generator[Row, None, None]:
        size = 1 if not CHUNKED_STREAMS else 1_000 if bound is None else max(1, min(bound + 1, 1_000))
        seen = 0
        with contextlib.closing(self._stream(read, conn, size, lsn)) as chunks:
            for chunk in chunks:
                for row in chunk:
                    if is_cancelled(cancel) or (bound is not None and seen == bound):
                        return
                    seen += 1
                    yield row

    def run_page(self, page: PageRead, conn: object) -> Page:
        """One page of a prepared keyset walk."""
        return self._run(page, conn, self._fetch_page)

    def run_page_alone(self, page: PageRead, *, statement_timeout_ms: int) -> Page:
        """One page in a read-only transaction of its own with a statement timeout, in **one** round
        trip on a cache hit: the settings (``READ_ONLY_TIMEOUT_SQL``) and the ``SELECT`` go out pipelined
        with one Sync, which makes them one implicit transaction (three round trips as a
        ``transaction()`` block) — in one write and one read (:mod:`.pipeline`). A miss, a stale schema,
        telemetry or read routing take the block."""
        check_transaction_options(None, True, statement_timeout_ms)
        resolved = cached_schema(page, self.cache_key(page.table))
        if resolved is None or self.warm is None:  # a miss, or telemetry / routing on: the block
            return super().run_page_alone(page, statement_timeout_ms=statement_timeout_ms)
        keys, statement = page_plan(page, resolved)
        self._enter()
        conn = self._acquire()
        try:
            try:
                rows: list[Row] = settled_rows_sync(
                    conn,
                    *statement,
                    statement_timeout_ms,
                    self._types.row_factory,
                )
            except psycopg.Error as exc:
                _rollback_quietly(conn)  # the Sync ended the aborted transaction: a no-op then
                self._evict_or_raise(page.op, page.table, exc)
                rows, resolved = [], None
        finally:
            self._release(conn)
        if resolved is None:  # stale: the block re-resolves
            return super().run_page_alone(page, statement_timeout_ms=statement_timeout_ms)
        self._router.counted(None, fallback=True)  # as _run_routed counts an unpinned read
        return page_of(page, keys, rows)

    def run_write(self, write: Write, conn: object) -> int | list[Row]:
        """A prepared write: its row count, or the rows it returned."""
        if isinstance(write, Insert) and not write.rows:
            return [] if write.returning is not None else 0  # an empty batch: no I/O
        return self._run(write, conn, self._write)

    def run_warm(self, hit: Hit | None) -> Any:
        """A warm plan's one statement on a connection of the primary's pool (no pin: the verbs only
        plan calls without ``conn=``); ``COLD`` without a plan, or after a failure a stale schema
        explains, which evicts it — the cold path then re-resolves on another connection, as a failed
        hit does."""
        if hit is None:
            return COLD
        plan, params = hit
        self._enter()
        conn = self._acquire()
        try:
            if plan.rows:
                cursor = conn.cursor(row_factory=self._types.row_factory)
                cursor.execute(plan.sql, params)
                rows: list[Row] = cursor.fetchall()
            else:
                cursor = conn.cursor()
                cursor.execute(plan.sql, params)
                return max(cursor.rowcount, 0)
        except psycopg.Error as exc:
            self._evict_or_raise(plan.op, plan.table, exc)
            return COLD
        finally:
            self._release(conn)
        if plan.op == "retrieve":
            self._router.counted(None, fallback=True)
        return rows

    # ---- the read verbs, with ``consistent_with=`` (CONTRACT §13) -----------------------------------

    def query(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        conn: object = None,
        consistent_with: str | None = None,
    ) -> list[Row]:
        """Rows of ``table`` matching ``where``; with ``consistent_with=`` (a :meth:`write_token`, from
        any process) a reader serves only once it has replayed that write."""
        if consistent_with is None:  # the common path: no context manager
            return super().query(table, where, bindings, columns=columns, conn=conn)
        with requiring(parse_token(consistent_with)):
            return super().query(table, where, bindings, columns=columns, conn=conn)

    def page(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        order_by: str,
        size: int,
        after: str | None = None,
        columns: str = "",
        conn: object = None,
        consistent_with: str | None = None,
    ) -> Page:
        """One page of a keyset walk (``consistent_with=`` as for :meth:`query`)."""
        with requiring(parse_token(consistent_with)):
            return super().page(
                table, where, bindings, order_by=order_by, size=size, after=after, columns=columns,
                conn=conn,
            )  # fmt: skip

    def stream_retrieve(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        policy: Backpressure | str = Backpressure.PAUSE_UPSTREAM,
        max_rows: int = DEFAULT_MAX_ROWS,
        cancel: CancelSignal | None = None,
        conn: object = None,
        consistent_with: str | None = None,
    ) -> RowStreamOutcome:
        """A bounded retrieve (``consistent_with=`` as for :meth:`query`)."""
        with requiring(parse_token(consistent_with)):
            return super().stream_retrieve(
                table, where, bindings, columns=columns, order_by=order_by, limit=limit,
                aggregate=aggregate, group_by=group_by, policy=policy, max_rows=max_rows, cancel=cancel,
                conn=conn,
            )  # fmt: skip

    def iter_rows(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        max_rows: int | None = None,
        cancel: CancelSignal | None = None,
        conn: object = None,
        consistent_with: str | None = None,
    ) -> Generator[Row, None, None]:
        """Rows as they arrive (``consistent_with=`` as for :meth:`query`, checked now; the token goes
        with the generator, since its body runs later, in whatever context iterates it)."""
        lsn = parse_token(consistent_with)
        bound = bounded_max_rows(max_rows)
        read = prepare_read(
            table, where, bindings, columns=columns, order_by=order_by, limit=limit, aggregate=aggregate,
            group_by=group_by,
        )  # fmt: skip
        return self._iter(read, bound, cancel, conn, lsn)

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
        for index in range(len(self._reader_dsns)):
            self._verify_reader(index, table)
        return resolved

    def _verify_reader(self, index: int, table: str) -> None:
        """Deploy verification on one reader: it answers and resolves ``table`` (a reader of another
        database would not). Its own connection, so a failure names that reader, masked."""
        dsn, masked = self._reader_dsns[index], self._router.readers[index].masked
        try:
            conn = psycopg.Connection.connect(
                dsn, connect_timeout=PROBE_CONNECT_TIMEOUT,
                **connection_kwargs(self.application_name, psycopg.RawCursor),
            )  # fmt: skip
        except psycopg.Error as exc:
            reason = refusal(exc, dsn) or scrub_secrets(str(exc).strip(), dsn)
            raise Connect(f"reader {masked}: {reason}") from None
        try:
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            cursor.execute(RESOLVE_SQL, resolve_params(table))
            resolve_from_rows(table, cursor.fetchall())
        except psycopg.Error as exc:
            raise Connect(f"reader {masked}: {scrub_secrets(str(exc).strip(), dsn)}") from None
        finally:
            conn.close()

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
                if conn.info.transaction_status == TransactionStatus.INERROR:
                    # A statement failed inside the block and the caller went on: COMMIT would answer
                    # ROLLBACK without an error, and the block would end as if it had committed.
                    raise Query("commit", ABORTED_TRANSACTION, "25P02")
                self._statement(conn, "commit", "COMMIT")
                if tx.wrote:
                    self._note_commit(conn, force=True)
            except BaseException:
                tx._conn = None
                _rollback_quietly(conn)
                raise

    # ---- the skeleton -----------------------------------------------------------------------------

    def _run(self, spec: S, pin: object, run: Run[S, T]) -> T:
        if self._observer is None:
            return self._run_routed(spec, pin, run)
        with self._observer.operation(spec) as op:  # telemetry: the operation's span and duration
            token = CURRENT_OPERATION.set(op)
            try:
                return op.result(self._run_routed(spec, pin, run))
            finally:
                CURRENT_OPERATION.reset(token)

    def _run_routed(self, spec: S, pin: object, run: Run[S, T]) -> T:
        self._enter()
        if isinstance(spec, Write):
            if isinstance(pin, Transaction) and self._captures:
                pin.wrote = True  # its commit LSN becomes the session's token (whoever owns it)
            result = self._run_on(spec, pin, run, None)
            if self._captures and not isinstance(pin, Transaction):
                self._note_commit(pin._conn if isinstance(pin, Pin) else None)
            return result  # never retried: a write that failed may have been applied
        reader = self._route(pin, None)
        if reader is not None:
            try:
                result = self._run_on(spec, pin, run, reader)
            except Connect:
                self._reader_lost(reader)  # then once on the primary
            else:
                self._router.counted(reader, fallback=False)
                return result
        result = self._run_on(spec, pin, run, None)
        self._router.counted(None, fallback=pin is None)
        return result

    def _run_on(self, spec: S, pin: object, run: Run[S, T], reader: int | None) -> T:
        """The hit/miss skeleton on one endpoint: the pin's connection, the primary, or ``reader``."""
        if self._observer is not None and self._router.routes:
            op = CURRENT_OPERATION.get()
            if op is not None:
                op.routed("primary" if reader is None else "reader")
        key = self.cache_key(spec.table)
        resolved = cached_schema(spec, key)
        with _Lease(self, pin, reader) as conn:
            in_transaction = isinstance(pin, Transaction)
            if resolved is not None:
                try:
                    return run(conn, spec, resolved)
                except psycopg.Error as exc:
                    error, cause = classify(spec.op, exc, self._dsn), exc
                if in_transaction or not stale_after_hit(error):
                    self._after_failure(error)
                    raise error from cause
                self.evict_stale(spec.table, error)
            if in_transaction:
                return self._miss(conn, spec, key, run, in_transaction)
            # One introspection per table at a time: the tasks (threads) that missed together wait
            # for the first, then find its schema in the cache.
            with self._miss_lock(key):
                resolved = cached_schema(spec, key)
                if resolved is None:
                    return self._miss(conn, spec, key, run, in_transaction)
            try:
                return run(conn, spec, resolved)
            except psycopg.Error as exc:
                error = classify(spec.op, exc, self._dsn)
                self._after_failure(error)
                raise error from exc

    def _miss_lock(self, key: tuple[str, str]) -> _Lock:
        lock = self._miss_locks.get(key)
        if lock is None:
            lock = self._miss_locks.setdefault(key, _Lock())
        return lock

    def _miss(self, conn: Conn, spec: S, key: tuple[str, str], run: Run[S, T], in_transaction: bool) -> T:
        resolved: ResolvedTable | None = None
        scope = _NO_TRANSACTION if in_transaction else _MissTransaction(conn)
        try:
            with scope:
                resolved = self._resolve(conn, spec.table, begin=not in_transaction)
                require_columns(spec, resolved)
                result = run(conn, spec, resolved)
        except (UnknownColumn, NoPageKey):
            if resolved is not None:
                SCHEMA_CACHE.put(key, resolved)  # the fresh schema is right; the caller's ask is not
            raise
        except psycopg.Error as exc:
            error = classify(spec.op, exc, self._dsn)
            self._after_failure(error)
            raise error from exc
        SCHEMA_CACHE.put(key, resolved)
        return result

    def _resolve(self, conn: Conn, table: str, *, begin: bool = False) -> ResolvedTable:
        """:meth:`_introspect`; with telemetry on, as a child span of the operation that missed."""
        op = CURRENT_OPERATION.get() if self._observer is not None else None
        if op is None:
            return self._introspect(conn, table, begin=begin)
        with op.introspection(table):
            resolved: ResolvedTable = op.resolved(self._introspect(conn, table, begin=begin))
        return resolved

    def _introspect(self, conn: Conn, table: str, *, begin: bool = False) -> ResolvedTable:
        """The catalog query (one statement), then the user-defined array types it mentions.

        ``begin``: open the miss path's transaction in the same round trip — ``BEGIN`` and the catalog
        query go out together in pipeline mode (one Sync), so a cold operation costs three round trips:
        this one, the statement, ``COMMIT``.
        """
        try:
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            if begin:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    cursor.execute(RESOLVE_SQL, resolve_params(table))
                    rows = cursor.fetchall()
            else:
                cursor.execute(RESOLVE_SQL, resolve_params(table))
                rows = cursor.fetchall()
        except psycopg.Error as exc:
            error = classify("resolve", exc, self._dsn)
            self.log(_log_resolve, logging.ERROR, f"resolving `{table}` failed: {error}")
            self._after_failure(error)
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
        keys, statement = page_plan(page, resolved)
        return page_of(page, keys, self._fetch(conn, statement))

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
        if statement_timeout_ms is None:
            self._statement(conn, "begin", begin_sql(level, read_only))
            return
        try:  # BEGIN and the transaction's timeout in one round trip
            with conn.pipeline():
                conn.execute(begin_sql(level, read_only))
                conn.execute(STATEMENT_TIMEOUT_SQL, [str(statement_timeout_ms)])
        except psycopg.Error as exc:
            error = classify("begin", exc, self._dsn)
            self._after_failure(error)
            raise error from exc

    def _statement(self, conn: Conn, op: str, sql: LiteralString, params: Sequence[object] = ()) -> None:
        """One of axonstore's own statements (BEGIN, COMMIT, …); failures typed."""
        try:
            conn.execute(sql, list(params))
        except psycopg.Error as exc:
            error = classify(op, exc, self._dsn)
            self._after_failure(error)
            raise error from exc

    # ---- streams ----------------------------------------------------------------------------------

    def _stream(
        self, read: Read, pin: object, size: int, lsn: int | None = None
    ) -> Generator[list[Row], None, None]:
        """The rows of a retrieve in chunks as they arrive (:meth:`_stream_routed`), inside one span
        with telemetry on. Chunks of the fetch size, not single rows, cross these layers: each layer of
        generators costs per item, and a stream is a million items."""
        if self._observer is None:
            return self._stream_routed(read, pin, size, lsn)
        return self._observed_stream(read, pin, size, lsn)

    def _observed_stream(
        self, read: Read, pin: object, size: int, lsn: int | None
    ) -> Generator[list[Row], None, None]:
        """A stream inside its operation's span, which covers the drain and counts the rows; the span is
        the current operation while the stream works (a miss's introspection is its child). What ends
        the consumer is thrown into the stream, as :meth:`_stream_routed` does with its miss path."""
        assert self._observer is not None
        op = self._observer.operation(read)
        op.rows = 0
        rows = self._stream_routed(read, pin, size, lsn)
        try:
            while True:
                token = CURRENT_OPERATION.set(op)
                try:
                    chunk = rows.__next__()
                except StopIteration:
                    break
                finally:
                    CURRENT_OPERATION.reset(token)
                op.rows += len(chunk)
                yield chunk
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                rows.throw(exc)
            op.end(exc)
            raise
        finally:
            rows.close()
            op.end()

    def _stream_routed(
        self, read: Read, pin: object, size: int, lsn: int | None = None
    ) -> Generator[list[Row], None, None]:
        """Chunks of rows of a retrieve as they arrive; the hit/miss skeleton, with a transaction held
        on a miss.

        Every inner stream is closed explicitly (``closing``): closing this generator early must close
        the server-side stream (psycopg cancels it) before the connection goes back to the pool.
        """
        self._enter()
        key = self.cache_key(read.table)
        reader = self._route(pin, lsn)
        started = False
        while True:  # once on ``reader``; once more on the primary when that fails with Connect
            resolved = cached_schema(read, key)
            try:
                with _Lease(self, pin, reader) as conn:
                    in_transaction = isinstance(pin, Transaction)
                    if resolved is not None:
                        try:
                            with (
                                _Savepoint(conn, in_transaction),
                                self._open_stream(conn, read_statement(read, resolved), size) as rows,
                            ):
                                for chunk in rows:
                                    # Counted at its first rows: a consumer may close it early.
                                    started = started or self._served(reader, pin)
                                    yield chunk
                            if not started:
                                self._served(reader, pin)
                            return
                        except psycopg.Error as exc:
                            error, cause = classify(read.op, exc, self._dsn), exc
                        if started or in_transaction or not stale_after_hit(error):
                            self._after_failure(error)
                            raise error from cause
                        self.evict_stale(read.table, error)
                    missed = self._stream_miss(conn, read, key, size, in_transaction)
                    try:
                        for chunk in missed:
                            started = started or self._served(reader, pin)
                            yield chunk
                    except BaseException as exc:
                        # What ended the consumer ends the miss path the same way: a failure rolls it
                        # back and caches nothing (D8); an early close (GeneratorExit) still caches.
                        with contextlib.suppress(BaseException):
                            missed.throw(exc)
                        raise
                    finally:
                        missed.close()
                    if not started:
                        self._served(reader, pin)
                    return
            except Connect:
                if reader is None or started:
                    raise  # a row was seen: a retry elsewhere could repeat or miss rows
                self._reader_lost(reader)
                reader = None

    def _stream_miss(
        self, conn: Conn, read: Read, key: tuple[str, str], size: int, in_transaction: bool
    ) -> Generator[list[Row], None, None]:
        resolved: ResolvedTable | None = None
        clean = False
        scope = _NO_TRANSACTION if in_transaction else _MissTransaction(conn)
        try:
            with scope:
                resolved = self._resolve(conn, read.table, begin=not in_transaction)
                require_columns(read, resolved)
                with (
                    _Savepoint(conn, in_transaction),
                    self._open_stream(conn, read_statement(read, resolved), size) as rows,
                ):
                    for chunk in rows:
                        yield chunk
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
    ) -> contextlib.closing[Generator[list[Row], None, None]]:
        cursor = conn.cursor(row_factory=self._types.row_factory)
        stream = cast("Generator[Row, None, None]", cursor.stream(*statement, size=size))
        return contextlib.closing(_chunks(stream, size))

    # ---- connections ------------------------------------------------------------------------------

    def _enter(self) -> None:
        """Refuse a closed backend (and, async, any event loop but the pool's)."""
        if self._closed:
            raise Connect(f"this {type(self).__name__} was closed — create a new one")

    def _evict_or_raise(self, op: str, table: str, exc: psycopg.Error) -> None:
        """After a statement built from the cached schema failed: forget the schema when the failure
        is one a stale schema explains (the caller then takes the cold path), else raise it typed."""
        error = classify(op, exc, self._dsn)
        if not stale_after_hit(error):
            self._after_failure(error)
            raise error from exc
        self.evict_stale(table, error)

    def _acquire(self) -> Conn:
        """A connection of the primary's pool for one operation; :meth:`_release` gives it back."""
        if not self._opened:
            self._open()
        try:
            conn: Conn = self._pool.getconn()
        except PoolTimeout:
            error = self._diagnose()
            raise error from None
        self._in_use += 1
        return conn

    def _release(self, conn: Conn) -> None:
        """Give back a connection from :meth:`_acquire` (its use is its health: the idle clock
        restarts)."""
        self._in_use -= 1
        mark_seen(conn)
        self._pool.putconn(conn)

    def _open(self) -> None:
        """Open the pool on first use (once, whichever task or thread gets here first)."""
        with self._opening:
            if self._opened:
                return
            if self._preflight:
                reason = self._refused()
                if reason is not None:
                    raise Connect(reason, refused=True)
            self._pool.open(wait=False)
            for pool in self._reader_pools:
                pool.open(wait=False)
            self._opened = True
            self.observe_global_providers()
            self._start_probes()

    def _refused(self) -> str | None:
        """Connect once outside the pool: the reason when the server refuses for good, else ``None``
        (a server that does not answer yet is left to the pool, which keeps trying)."""
        failure = self._connect_once(5)
        if failure is None:
            self._preflight = False
            return None
        return refusal(failure, self._dsn)

    def _connect_once(self, timeout: int) -> psycopg.Error | None:
        """One connection outside the pool, closed at once: ``None`` when it was made, else the failure."""
        try:
            probe = psycopg.Connection.connect(
                self._dsn, connect_timeout=timeout, autocommit=True, application_name=self.application_name
            )
        except psycopg.Error as exc:
            return exc
        probe.close()
        return None

    def _diagnose(self) -> Connect:
        """Why no connection could be had (a ``Connect`` to raise): an exhausted pool, or the server's
        own refusal.

        When all of the pool's connections are held by this backend, the pool is exhausted: say so
        without I/O (a probe would cost the saturated server one more connection). Otherwise ask the
        server: a connection attempt that keeps failing counts in the pool's own statistics, so those
        alone would call a refused connection an exhausted pool.
        """
        if self._in_use >= self.max_connections:
            return Connect(exhausted(self.max_connections))
        self._preflight = True  # the server may have started refusing: the next opening asks first
        failure = self._connect_once(2)
        if failure is None:
            return Connect("no connection was made within 5 s (the server answers now: retry)")
        refused = refusal(failure, self._dsn)
        return Connect(refused or scrub_secrets(str(failure).strip(), self._dsn), refused=refused is not None)

    def _after_failure(self, error: StoreError) -> None:
        """After a lost connection, check the idle ones in the background (a restart breaks them all)."""
        if not (isinstance(error, Connect) and self._opened):
            return
        threading.Thread(target=self._pool.check, name="axonstore-pool-check", daemon=True).start()

    # ---- read routing (CONTRACT §13; the decisions are in replicas.py) -------------------------------

    def _route(self, pin: object, lsn: int | None) -> int | None:
        """The reader that serves a read (``None``: the primary). A pin or a transaction is the
        primary's: a read inside one must see that connection's own writes."""
        if pin is not None or not self._captures:  # ``_captures``: reads route at all
            return None
        router = self._router
        return router.pick(required_lsn(self._dsn_key, router.mode, lsn))

    def _served(self, reader: int | None, pin: object) -> bool:
        """Count a read ``reader`` served (``None``: the primary; a fallback unless pinned); ``True``."""
        self._router.counted(reader, fallback=reader is None and pin is None)
        return True

    def _reader_lost(self, reader: int) -> None:
        """A read on ``reader`` failed with ``Connect``: out until a probe succeeds (the probe then
        discards the pool's broken connections before the reader serves again)."""
        endpoint = self._router.readers[reader]
        if endpoint.healthy:
            self.log(
                _log_pool,
                logging.WARNING,
                f"reader {endpoint.masked} failed a read: out until a probe succeeds; reads go elsewhere",
            )
        self._router.connect_failed(reader)

    def _note_commit(self, conn: Conn | None, *, force: bool = False) -> None:
        """After ``COMMIT``: the primary's insert LSN is the context's token (never read before COMMIT:
        the commit record is not written yet). ``conn`` is the write's own connection when it is still
        held (a pin, a transaction); else any of the pool's. Never raises: the write has committed.
        ``force``: a transaction in which a routing store of the same database wrote (``registry.
        transaction(*stores)``), even when this backend does not route reads itself."""
        if not (self._captures or force):
            return
        try:
            if conn is not None:
                lsn = self._read_lsn(conn)
            else:
                with _Lease(self, None) as leased:
                    lsn = self._read_lsn(leased)
        except (StoreError, psycopg.Error, ValueError) as exc:
            lsn = UNKNOWN_LSN  # reads of this context go to the primary until its next write
            self.log(
                _log_pool,
                logging.WARNING,
                f"a write committed but its LSN could not be read ({type(exc).__name__}): this context "
                "reads from the primary until its next write",
            )
        note_write(self._dsn_key, lsn)

    def _read_lsn(self, conn: Conn) -> int:
        cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
        cursor.execute(WRITE_LSN_SQL)
        row = cursor.fetchone()
        return parse_lsn(str(row[0] if row else ""))

    def _start_probes(self) -> None:
        """Probe every endpoint about once a second, off the callers' path: a task of the pool's event
        loop (sync: a daemon thread)."""
        if not self._router.routes or self._prober is not None:
            return
        name = f"axonstore-probe/{self.store_name or '-'}"
        self._prober = threading.Thread(target=self._probe_forever, name=name, daemon=True)
        self._prober.start()

    def _stop_probes(self) -> None:
        prober, self._prober = self._prober, None
        if prober is None:
            return
        self._stopping.set()
        prober.join(timeout=PROBE_CONNECT_TIMEOUT + 1)

    def _probe_forever(self) -> None:
        """Probe rounds until the backend closes; each endpoint keeps one connection of its own."""
        conns: list[Conn | None] = [None] * (1 + len(self._reader_dsns))
        try:
            while not self._closed:
                try:
                    self._probe_round(conns)
                except Exception as exc:  # a probe must never die: log, try next round
                    self.log(_log_pool, logging.ERROR, f"probe round failed: {type(exc).__name__}")
                self._stopping.wait(PROBE_INTERVAL)
        finally:
            for conn in conns:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()

    def _probe_round(self, conns: list[Conn | None]) -> None:
        router = self._router
        row = self._probe(conns, 0, self._dsn, PRIMARY_PROBE_SQL)
        router.primary_probed(None if row is None else row[0], row is not None)
        for index, dsn in enumerate(self._reader_dsns):
            row = self._probe(conns, index + 1, dsn, READER_PROBE_SQL)
            endpoint = router.readers[index]
            if row is not None and not endpoint.healthy:
                # Back (or up for the first time): first drop what the pool kept from before.
                with contextlib.suppress(Exception):
                    self._reader_pools[index].check()
                self.log(_log_pool, logging.INFO, f"reader {endpoint.masked} is in")
            elif row is None and endpoint.healthy:
                self.log(_log_pool, logging.WARNING, f"reader {endpoint.masked} failed its probe: out")
            router.reader_probed(index, row)

    def _probe(
        self, conns: list[Conn | None], slot: int, dsn: str, sql: LiteralString
    ) -> tuple[Any, ...] | None:
        """One probe statement on the endpoint's own connection (made again when it broke)."""
        conn = conns[slot]
        try:
            if conn is None or conn.closed:
                conn = psycopg.Connection.connect(
                    dsn, connect_timeout=PROBE_CONNECT_TIMEOUT, autocommit=True,
                    application_name=self.application_name, prepare_threshold=None,
                )  # fmt: skip
                conns[slot] = conn
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            cursor.execute(sql)
            return cursor.fetchone()
        except psycopg.Error:
            conns[slot] = None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            return None


class _Lease:
    """One connection for one operation: the pin's, or the pool's (``getconn``/``putconn``).

    A plain class rather than a generator-based context manager, and ``getconn`` rather than the
    pool's own ``connection()``: this runs on every operation, and each layer costs microseconds.
    """

    __slots__ = ("_backend", "_conn", "_pin", "_pool", "_reader")

    def __init__(self, backend: PostgresStoreBackend, pin: object, reader: int | None = None) -> None:
        self._backend = backend
        self._pin = pin
        self._reader = reader  # None: the primary's pool; else that reader's (CONTRACT §13)
        self._pool = backend._pool if reader is None else backend._reader_pools[reader]
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
        reader = self._reader
        if reader is None:
            conn = backend._acquire()
        else:
            if not backend._opened:
                backend._open()
            try:
                conn = self._pool.getconn(timeout=READER_ACQUIRE_TIMEOUT)
            except PoolTimeout:
                # No diagnosis: the read goes to the primary now, and the probe judges the reader.
                masked = backend._router.readers[reader].masked
                raise Connect(f"reader {masked}: no connection within {READER_ACQUIRE_TIMEOUT:g} s") from None
        self._conn = conn
        return conn

    def __exit__(self, *_: object) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            if self._reader is None:
                self._backend._release(conn)
            else:
                mark_seen(conn)
                self._pool.putconn(conn)


def _owned(pin: Pin, backend: PostgresStoreBackend) -> bool:
    """A pin runs on its own backend; a transaction also on another store's backend of the same
    database (``registry.transaction(*stores)``: one connection for them all)."""
    owner = pin._owner
    if owner is backend:
        return True
    return isinstance(pin, Transaction) and isinstance(owner, BackendCore) and owner.same_database(backend)


class _Savepoint:
    """A stream inside a caller's transaction runs under a savepoint: closing the stream early cancels
    its statement, which would abort the transaction; rolling back to the savepoint keeps it."""

    __slots__ = ("_active", "_conn")

    def __init__(self, conn: Conn, active: bool) -> None:
        self._conn = conn
        self._active = active

    def __enter__(self) -> None:
        if self._active:
            self._conn.execute("SAVEPOINT axonstore_stream")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if not self._active or self._conn.closed:
            return
        if kind is not None:
            self._conn.execute("ROLLBACK TO SAVEPOINT axonstore_stream")
        self._conn.execute("RELEASE SAVEPOINT axonstore_stream")


class _MissTransaction:
    """The miss path's transaction: ``BEGIN`` is sent by ``_resolve(begin=True)`` with the catalog query;
    leaving the block sends ``COMMIT``, or ``ROLLBACK`` when it raised (a closed stream included)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._conn.execute("COMMIT")
        else:
            _rollback_quietly(self._conn)


def _chunks(rows: Generator[Row, None, None], size: int) -> Generator[list[Row], None, None]:
    """psycopg's stream regrouped into the chunks it fetched (``size`` rows, the last one shorter):
    a chunk is yielded as soon as it is whole, so no row waits for a later fetch. Closing this
    closes the stream (psycopg then cancels the server's work)."""
    with contextlib.closing(rows):
        chunk: list[Row] = []
        append = chunk.append
        for row in rows:
            append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
                append = chunk.append
        if chunk:
            yield chunk


def _rollback_quietly(conn: Conn) -> None:
    """``ROLLBACK`` after a failure inside a transaction; a broken connection is the pool's to discard."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        conn.execute("ROLLBACK")
