"""``PostgresStoreBackend``: the four verbs (and streaming) over one PostgreSQL pool.

Every operation has the same skeleton (ANCHOR §6, with CONTRACT §9's fixes):

1. everything that needs no database — identifiers, filter syntax, bounds, ``EmptyData``,
   ``UnboundedWrite`` — is checked first (D13);
2. **cache hit**: the statement is built from the cached schema and runs as one autocommit statement
   (one round trip). A drift SQLSTATE (42P01/42703/42804/42883) evicts the entry and falls through to
   the miss path once, on the same connection;
3. **cache miss**: ``BEGIN``; resolve the table (one catalog query); a named column the live table
   lacks is ``UnknownColumn`` (D4); build; run; ``COMMIT``; then cache. Any failure rolls back and
   raises the primary error — never a 25P02 cascade, never a retry against the bare table name.

Example::

    backend = PostgresStoreBackend.connect_named("env:DATABASE_URL", "claims")   # no I/O
    async with backend:
        rows = await backend.query("claims", "status = '${s}'", {"s": "open"})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, LiteralString, TypeVar, cast

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from axonstore.backend import _ops, connections
from axonstore.backend._ops import STREAM_CHUNK, Data, Op, chunk_for, prepared, require_columns
from axonstore.backend.connections import Pin, classify, diagnose, log_masked, make_pool, pinning_enabled
from axonstore.dsn import (
    application_name,
    mask_dsn,
    resolve_dsn,
    scrub_secrets,
    validate_dsn,
    without_password,
)
from axonstore.errors import (
    Connect,
    EventLoopMismatch,
    ForeignPin,
    SchemaDrift,
    StoreError,
    UnknownColumn,
)
from axonstore.idents import checked_ident
from axonstore.rows import Row, TypeRegistry, type_info_query
from axonstore.schema import RESOLVE_SQL, SCHEMA_CACHE, ResolvedTable, resolve_from_rows, resolve_params
from axonstore.stream import (
    DEFAULT_MAX_ROWS,
    Backpressure,
    CancelSignal,
    RowStreamOutcome,
    check_max_rows,
    drain_with_policy,
    is_cancelled,
)

__all__ = ["DEFAULT_CAPACITY", "Pin", "PostgresStoreBackend"]

DEFAULT_CAPACITY = 10
_INVALID_TEXT = "22P02"  # invalid_text_representation: a cast of the cached type refused the value

_log_resolve = logging.getLogger("axonstore.store.resolve")
_log_cache = logging.getLogger("axonstore.store.cache")
_log_pin = logging.getLogger("axonstore.store.pin")

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Run = Callable[[Conn, str, list[Any]], Awaitable[T]]
# One type registry per database (OIDs of user-defined types are per database).
_TYPE_REGISTRIES: dict[str, TypeRegistry] = {}


class PostgresStoreBackend:
    """Named-store operations over a PostgreSQL pool; safe behind transaction-mode poolers.

    Build one with :meth:`connect`, :meth:`connect_named`, :meth:`connect_named_with_namespace` or
    :meth:`connect_named_sized` (synchronous, no I/O). The pool opens on the first operation, inside
    the running event loop, and belongs to that loop.
    """

    def __init__(
        self, dsn: str, store_name: str = "", namespace: str | None = None, max_connections: int = 10
    ) -> None:
        validate_dsn(dsn)
        self._dsn = dsn
        self._masked = mask_dsn(dsn)
        self._dsn_key = without_password(dsn)  # the schema cache's key (D5): never the password
        self.store_name = store_name
        self.namespace = namespace
        self.max_connections = max(max_connections, 1)
        self.application_name = application_name(store_name, namespace)
        self._pool: AsyncConnectionPool[Any] = make_pool(
            dsn, self.application_name, self.max_connections, f"axonstore/{store_name or '-'}"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened = False
        self._closed = False
        self._types = _TYPE_REGISTRIES.setdefault(self._dsn_key, TypeRegistry())
        self._health_check: asyncio.Task[None] | None = None
        self._in_use = 0  # connections handed out right now (pins included): tells exhaustion apart

    # ---- construction -----------------------------------------------------------------------------

    @classmethod
    def connect(cls, connection: str) -> PostgresStoreBackend:
        """``connect_named(connection, "")``."""
        return cls.connect_named(connection, "")

    @classmethod
    def connect_named(cls, connection: str, store_name: str) -> PostgresStoreBackend:
        """``connect_named_with_namespace(connection, store_name, None)``."""
        return cls.connect_named_with_namespace(connection, store_name, None)

    @classmethod
    def connect_named_with_namespace(
        cls, connection: str, store_name: str, namespace: str | None
    ) -> PostgresStoreBackend:
        """``connect_named_sized(connection, store_name, namespace, 10)``."""
        return cls.connect_named_sized(connection, store_name, namespace, DEFAULT_CAPACITY)

    @classmethod
    def connect_named_sized(
        cls, connection: str, store_name: str, namespace: str | None, max_connections: int
    ) -> PostgresStoreBackend:
        """The real constructor: ``connection`` is a DSN or ``env:VAR``; nothing is opened yet.

        Raises ``EmptyConnection``, ``EmptyEnvVarName``, ``MissingEnvVar`` or ``PoolInit`` (masked).
        """
        return cls(resolve_dsn(connection), store_name, namespace, max_connections)

    def masked_dsn(self) -> str:
        """The DSN with every password replaced by ``***``."""
        return self._masked

    def __repr__(self) -> str:
        return (
            f"PostgresStoreBackend(dsn={self._masked!r}, store={self.store_name!r}, "
            f"namespace={self.namespace!r}, max_connections={self.max_connections})"
        )

    async def __aenter__(self) -> PostgresStoreBackend:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool (waiting for connections in use to come back), on the loop it belongs to."""
        if self._opened and self._loop is not asyncio.get_running_loop():
            raise EventLoopMismatch()  # the pool's tasks live on that loop: closing from here breaks it
        self._closed = True
        if self._health_check is not None:
            self._health_check.cancel()
        if self._opened:
            self._opened = False
            await self._pool.close()

    # ---- the verbs ----------------------------------------------------------------------------------

    async def query(
        self,
        table: str,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        conn: Pin | None = None,
    ) -> list[Row]:
        """Rows of ``table`` matching ``where``, as JSON-safe dicts (fetches them all)."""
        return await self._execute(_ops.select_op(table, where, bindings), conn, self._fetch_all)

    async def insert(self, table: str, data: Data, *, conn: Pin | None = None) -> int:
        """Insert one row; ``data`` is a mapping or (column, value) pairs, in order. Returns 1."""
        return await self._execute(_ops.insert_op(table, data), conn, _rowcount)

    async def mutate(
        self,
        table: str,
        where: str,
        data: Data,
        bindings: Mapping[str, str] | None = None,
        *,
        conn: Pin | None = None,
        all_rows: bool = False,
    ) -> int:
        """Update the rows matching ``where``; a blank ``where`` needs ``all_rows=True`` (D3)."""
        op = _ops.update_op(table, where, data, bindings, all_rows)
        return await self._execute(op, conn, _rowcount)

    async def purge(
        self,
        table: str,
        where: str,
        bindings: Mapping[str, str] | None = None,
        *,
        conn: Pin | None = None,
        all_rows: bool = False,
    ) -> int:
        """Delete the rows matching ``where``; a blank ``where`` needs ``all_rows=True`` (D3)."""
        op = _ops.delete_op(table, where, bindings, all_rows)
        return await self._execute(op, conn, _rowcount)

    async def reinforce(
        self,
        table: str,
        from_id: str,
        to_id: str,
        etype: str,
        delta: float,
        floor: float,
        *,
        conn: Pin | None = None,
    ) -> int:
        """``weight = LEAST(GREATEST(weight + delta, floor), 1.0)`` on one edge; resolves on a miss (D9)."""
        op = _ops.reinforce_op(table, from_id, to_id, etype, delta, floor)
        return await self._execute(op, conn, _rowcount)

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
        conn: Pin | None = None,
    ) -> RowStreamOutcome:
        """A bounded retrieve: rows stream from the server and ``policy`` decides what is kept.

        ``truncated`` tells the caller that rows were left out (PAUSE_UPSTREAM at ``max_rows``).
        """
        chosen = Backpressure.parse(policy)
        bound = check_max_rows(max_rows)
        op = _ops.retrieve_op(table, where, bindings, order_by, limit, aggregate, group_by)
        size = chunk_for(chosen, bound)

        async def drain(conn: Conn, sql: str, params: list[Any]) -> RowStreamOutcome:
            # Closing the stream early (a bound, a cancel) makes psycopg cancel the server's work.
            async with self._open_stream(conn, sql, params, size) as rows:
                return await drain_with_policy(rows, chosen, bound, cancel)

        # The hit/miss skeleton of every op: on a miss, a failed drain rolls back and caches nothing (D8).
        return await self._execute(op, conn, drain)

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
        conn: Pin | None = None,
    ) -> AsyncGenerator[Row, None]:
        """Rows as they arrive (at most ``max_rows`` when given). Close it early to stop the server::

        async with contextlib.aclosing(backend.iter_rows("events")) as rows:
            async for row in rows: ...
        """
        bound = None if max_rows is None else check_max_rows(max_rows)
        op = _ops.retrieve_op(table, where, bindings, order_by, limit, aggregate, group_by)
        return self._bounded(op, conn, bound, cancel)

    async def warm_schema(self, table: str) -> None:
        """Resolve ``table`` and cache its schema (a no-op on a cache hit)."""
        checked_ident("table", table)
        self._enter()
        if SCHEMA_CACHE.get((self._dsn_key, table)) is not None:
            return
        async with self._connection(None) as conn:
            SCHEMA_CACHE.put((self._dsn_key, table), await self._resolve(conn, table))

    async def refresh_schema(self, table: str) -> ResolvedTable:
        """Resolve ``table`` live, bypassing the cache, and cache the fresh result (deploy verification)."""
        checked_ident("table", table)
        self._enter()
        SCHEMA_CACHE.evict((self._dsn_key, table))
        async with self._connection(None) as conn:
            resolved = await self._resolve(conn, table)
        SCHEMA_CACHE.put((self._dsn_key, table), resolved)
        return resolved

    async def catalog_rows(self, sql: LiteralString, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """Run one of axonstore's own catalog queries (a constant, never user text) → tuples.

        For :mod:`axonstore.introspect`; failures are ``Connect`` or ``Query(op="introspect")``.
        """
        self._enter()
        async with self._connection(None) as conn:
            try:
                cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
                await cursor.execute(sql, list(params))
                return await cursor.fetchall()
            except psycopg.Error as exc:
                raise classify("introspect", exc, self._dsn) from exc

    async def ping(self) -> None:
        """``SELECT 1`` through the pool; any failure is ``Connect``."""
        self._enter()
        try:
            async with self._connection(None) as conn:
                await conn.execute("SELECT 1")
        except Connect:
            raise  # already says why (wrapping it again would say it twice)
        except StoreError as exc:
            raise Connect(str(exc)) from exc
        except psycopg.Error as exc:
            raise Connect(scrub_secrets(str(exc), self._dsn)) from exc

    @contextlib.asynccontextmanager
    async def acquire_pin(self) -> AsyncIterator[Pin]:
        """Hold one pooled connection for a flow: ``async with backend.acquire_pin() as pin: …(conn=pin)``.

        ``Connect`` when pinning is off (``AXON_DB_POOLER_MODE`` = session/direct) or on timeout.
        """
        if not pinning_enabled():
            raise Connect(connections.PINNING_DISABLED_REASON)
        self._enter()
        async with self._connection(None) as conn:
            log_masked(_log_pin, logging.INFO, f"pin acquired for store {self.store_name!r}", self._dsn)
            pin = Pin(self, conn)
            try:
                yield pin
            finally:
                pin._conn = None  # back to the pool with the block: a late use is refused

    # ---- running operations -------------------------------------------------------------------------

    async def _execute(self, op: Op, pin: Pin | None, run: Run[T]) -> T:
        self._enter()
        key = (self._dsn_key, op.table)
        statement = prepared(op, key)
        async with self._connection(pin) as conn:
            if statement is not None:
                try:
                    return await run(conn, *statement)
                except psycopg.Error as exc:
                    self._on_hit_failure(op, key, exc)
            return await self._miss(conn, op, key, run)

    def _on_hit_failure(self, op: Op, key: tuple[str, str], exc: psycopg.Error) -> None:
        """Raise the classified error, unless the cached schema may be stale: then evict, and let the
        caller take the miss path once.

        Stale means drift (42P01/42703/42804/42883), or 22P02 — a value the *cached* type's cast
        rejects, which is what a column whose type changed (say int4 → text) looks like. Both fail before
        any row is touched, so the retry cannot apply a write twice; a value that is bad for the live
        type too fails again on the miss path and is reported as it is.
        """
        error = classify(op.name, exc, self._dsn)
        stale = isinstance(error, SchemaDrift) or getattr(error, "sqlstate", None) == _INVALID_TEXT
        if not stale:
            self._after_failure(error)
            raise error from exc
        SCHEMA_CACHE.evict(key)
        log_masked(
            _log_cache,
            logging.WARNING,
            f"possible schema drift on `{op.table}` (SQLSTATE {getattr(error, 'sqlstate', '?')}): cache "
            "entry evicted, re-resolving",
            self._dsn,
        )

    async def _miss(self, conn: Conn, op: Op, key: tuple[str, str], run: Run[T]) -> T:
        resolved: ResolvedTable | None = None
        try:
            async with conn.transaction():
                resolved = await self._resolve(conn, op.table)
                require_columns(op, resolved)
                result = await run(conn, *op.build(resolved))
        except UnknownColumn:
            if resolved is not None:
                SCHEMA_CACHE.put(key, resolved)  # the fresh schema is right; the caller's column is not
            raise
        except psycopg.Error as exc:
            error = classify(op.name, exc, self._dsn)
            self._after_failure(error)
            raise error from exc
        SCHEMA_CACHE.put(key, resolved)
        return result

    async def _resolve(self, conn: Conn, table: str) -> ResolvedTable:
        """The catalog query (one statement), then the user-defined array types it mentions."""
        try:
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            await cursor.execute(RESOLVE_SQL, resolve_params(table))
            rows = await cursor.fetchall()
        except psycopg.Error as exc:
            error = classify("resolve", exc, self._dsn)
            log_masked(_log_resolve, logging.ERROR, f"resolving `{table}` failed: {error}", self._dsn)
            raise error from exc
        try:
            resolved = resolve_from_rows(table, rows)
        except StoreError as exc:
            log_masked(_log_resolve, logging.ERROR, str(exc), self._dsn, table=table)
            raise
        pending = self._types.pending(resolved.type_oids)
        if pending:
            sql, params = type_info_query(pending)
            cursor = conn.cursor(row_factory=psycopg.rows.tuple_row)
            await cursor.execute(sql, params)
            self._types.learn(pending, await cursor.fetchall())
        return resolved

    async def _fetch_all(self, conn: Conn, sql: str, params: list[Any]) -> list[Row]:
        cursor = conn.cursor(row_factory=self._types.row_factory)
        await cursor.execute(sql, params)
        return await cursor.fetchall()

    async def _stream_rows(self, op: Op, pin: Pin | None, size: int) -> AsyncGenerator[Row, None]:
        """Rows of a retrieve as they arrive; the hit/miss skeleton, with a transaction held on a miss.

        Every inner stream is closed explicitly (``aclosing``): closing this generator early must close
        the server-side stream (psycopg cancels it) before the connection goes back to the pool.
        """
        self._enter()
        key = (self._dsn_key, op.table)
        statement = prepared(op, key)
        async with self._connection(pin) as conn:
            if statement is not None:
                started = False
                try:
                    async with self._open_stream(conn, *statement, size) as rows:
                        async for row in rows:
                            started = True
                            yield row
                    return
                except psycopg.Error as exc:
                    if started:
                        raise classify(op.name, exc, self._dsn) from exc
                    self._on_hit_failure(op, key, exc)
            async with contextlib.aclosing(self._stream_miss(conn, op, key, size)) as missed:
                async for row in missed:
                    yield row

    async def _stream_miss(
        self, conn: Conn, op: Op, key: tuple[str, str], size: int
    ) -> AsyncGenerator[Row, None]:
        resolved: ResolvedTable | None = None
        clean = False
        try:
            async with conn.transaction():
                resolved = await self._resolve(conn, op.table)
                require_columns(op, resolved)
                async with self._open_stream(conn, *op.build(resolved), size) as rows:
                    async for row in rows:
                        yield row
            clean = True
        except GeneratorExit:
            clean = True  # closed early by a consumer that has what it wanted
            raise
        except UnknownColumn:
            clean = True
            raise
        except psycopg.Error as exc:
            raise classify(op.name, exc, self._dsn) from exc
        finally:
            if clean and resolved is not None:
                SCHEMA_CACHE.put(key, resolved)

    def _open_stream(
        self, conn: Conn, sql: str, params: list[Any], size: int
    ) -> contextlib.aclosing[AsyncGenerator[Row, None]]:
        cursor = conn.cursor(row_factory=self._types.row_factory)
        stream = cast("AsyncGenerator[Row, None]", cursor.stream(sql, params, size=size))
        return contextlib.aclosing(stream)

    async def _bounded(
        self, op: Op, pin: Pin | None, bound: int | None, cancel: CancelSignal | None
    ) -> AsyncGenerator[Row, None]:
        size = STREAM_CHUNK if bound is None else min(bound + 1, STREAM_CHUNK)
        seen = 0
        async with contextlib.aclosing(self._stream_rows(op, pin, size)) as rows:
            async for row in rows:
                if is_cancelled(cancel) or (bound is not None and seen == bound):
                    return
                seen += 1
                yield row

    # ---- connections ------------------------------------------------------------------------------

    def _enter(self) -> None:
        """Bind to the running loop on first use; refuse any other loop, and a closed backend."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise EventLoopMismatch()
        if self._closed:
            raise Connect("this PostgresStoreBackend was closed (aclose) — create a new one")

    def _connection(self, pin: Pin | None) -> _Lease:
        """``async with self._connection(pin) as conn``: the pin's connection, or one from the pool."""
        return _Lease(self, pin)

    def _after_failure(self, error: StoreError) -> None:
        """After a lost connection, check the idle ones in the background (a restart breaks them all)."""
        if (
            isinstance(error, Connect)
            and self._opened
            and (self._health_check is None or self._health_check.done())
        ):
            self._health_check = asyncio.get_running_loop().create_task(self._pool.check())


class _Lease:
    """One connection for one operation: the pin's, or the pool's (``getconn``/``putconn``).

    A plain class rather than a generator-based context manager, and ``getconn`` rather than the
    pool's own ``connection()``: this runs on every operation, and each layer costs microseconds.
    """

    __slots__ = ("_backend", "_conn", "_pin")

    def __init__(self, backend: PostgresStoreBackend, pin: Pin | None) -> None:
        self._backend = backend
        self._pin = pin
        self._conn: Conn | None = None

    async def __aenter__(self) -> Conn:
        pin = self._pin
        backend = self._backend
        if pin is not None:
            if not isinstance(pin, Pin) or pin._owner is not backend:
                raise ForeignPin()
            if pin._conn is None:
                raise Connect(connections.RELEASED_PIN_REASON)
            return pin._conn
        pool = backend._pool
        if not backend._opened:
            backend._opened = True
            await pool.open(wait=False)
        try:
            conn: Conn = await pool.getconn()
        except PoolTimeout as exc:
            reason = await diagnose(pool, backend._dsn, backend.application_name, backend._in_use)
            raise Connect(reason) from exc
        backend._in_use += 1
        self._conn = conn
        return conn

    async def __aexit__(self, *_: object) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._backend._in_use -= 1
            await self._backend._pool.putconn(conn)


async def _rowcount(conn: Conn, sql: str, params: list[Any]) -> int:
    cursor = conn.cursor()
    await cursor.execute(sql, params)
    return max(cursor.rowcount, 0)
