"""Pools, pins and the mapping of driver errors to StoreErrors (the thin I/O layer under the backend).

Every connection is made with ``prepare_threshold=None`` (only unnamed statements, one Sync per
statement: safe behind transaction-mode poolers), autocommit, the store's ``application_name``, the
backend's own adapters (never psycopg's global map) and a raw cursor (native ``$n`` placeholders).
"""

from __future__ import annotations

import functools
import logging
import os
import weakref
from time import monotonic
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from axonstore.dsn import mask_dsn, scrub_secrets
from axonstore.errors import Connect, Query, SchemaDrift, StoreError
from axonstore.rows import ADAPTERS
from axonstore.schema import is_schema_drift_sqlstate

__all__ = [
    "ACQUIRE_TIMEOUT",
    "PINNING_DISABLED_REASON",
    "RELEASED_PIN_REASON",
    "Pin",
    "classify",
    "make_pool",
    "pinning_enabled",
]

ACQUIRE_TIMEOUT: Final = 5.0
MAX_IDLE: Final = 300.0
MAX_LIFETIME: Final = 1800.0
#: A connection idle at least this long is checked (an empty query) before it is handed out. Checking
#: every hand-out would double the round trips of a warm operation.
CHECK_AFTER_IDLE: Final = 30.0
RELEASED_PIN_REASON: Final = (
    "this pin was released when its `async with backend.acquire_pin()` block ended — use a pin only "
    "inside that block"
)
PINNING_DISABLED_REASON: Final = (
    "connection pinning disabled (AXON_DB_POOLER_MODE=session|direct) — store ops acquire per-op so the "
    "connection releases across cognition steps"
)
# SQLSTATEs that mean the connection itself went away (admin shutdown, crash, cannot connect now).
_CONNECTION_GONE: Final = frozenset({"57P01", "57P02", "57P03"})

_log_pool = logging.getLogger("axonstore.store.pool")


@functools.cache
def pinning_enabled() -> bool:
    """``AXON_DB_POOLER_MODE``, read once per process: pinning is off only for ``session``/``direct``."""
    mode = os.environ.get("AXON_DB_POOLER_MODE", "").strip().lower()
    return mode not in ("session", "direct")


class Pin:
    """One pooled connection held for a flow (from ``PostgresStoreBackend.acquire_pin``). Opaque."""

    __slots__ = ("__weakref__", "_conn", "_owner")

    def __init__(self, owner: object, conn: psycopg.AsyncConnection[Any]) -> None:
        self._owner = owner
        # None once the pin's block has ended: the connection is back in the pool, maybe lent to
        # another task, so a late use must be refused rather than run on it.
        self._conn: psycopg.AsyncConnection[Any] | None = conn

    def __repr__(self) -> str:
        return f"<Pin of {self._owner!r}>"


class _IdleClock:
    """When each connection was last known good, so only long-idle connections are checked."""

    def __init__(self) -> None:
        self._seen: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._seen[conn] = monotonic()

    async def reset(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Runs in a pool worker, off the caller's path. Our statements are unnamed, but a connection
        # may have been used by code we do not control (a pin handed to a user callback, say).
        await conn.execute("DEALLOCATE ALL")
        self._seen[conn] = monotonic()

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        last = self._seen.get(conn)
        if last is not None and monotonic() - last < CHECK_AFTER_IDLE:
            return
        await conn.execute("")  # an empty query: one round trip, no parse
        self._seen[conn] = monotonic()


def make_pool(dsn: str, application_name: str, max_size: int, name: str) -> AsyncConnectionPool[Any]:
    """An unopened pool with the contract's settings (CONTRACT §3.1)."""
    clock = _IdleClock()
    return AsyncConnectionPool(
        dsn,
        min_size=0,
        max_size=max(max_size, 1),
        open=False,
        timeout=ACQUIRE_TIMEOUT,
        max_idle=MAX_IDLE,
        max_lifetime=MAX_LIFETIME,
        configure=clock.configure,
        reset=clock.reset,
        check=clock.check,
        name=name,
        kwargs={
            "prepare_threshold": None,
            "autocommit": True,
            "application_name": application_name,
            "context": ADAPTERS,
            "cursor_factory": psycopg.AsyncRawCursor,
        },
    )


async def diagnose(pool: AsyncConnectionPool[Any], dsn: str, application_name: str, in_use: int) -> str:
    """Why a connection could not be had: an exhausted pool, or the server's own refusal.

    ``in_use`` counts the connections the caller's backend holds right now (pins included). When all
    of the pool's are held, the pool is exhausted: say so without I/O (a probe would cost the saturated
    server one more connection, and could be refused for that very reason). Otherwise ask the server:
    a connection attempt that keeps failing counts in the pool's own size statistics, so those alone
    would call a refused connection an exhausted pool.
    """
    if in_use >= (pool.max_size or 1):
        return _exhausted(pool)
    try:
        conn = await psycopg.AsyncConnection.connect(
            dsn, connect_timeout=2, autocommit=True, application_name=application_name
        )
    except psycopg.Error as exc:
        return scrub_secrets(str(exc).strip(), dsn)
    await conn.close()
    return f"no connection was made within {ACQUIRE_TIMEOUT:g} s (the server answers now: retry)"


def _exhausted(pool: AsyncConnectionPool[Any]) -> str:
    return (
        f"no connection became free within {ACQUIRE_TIMEOUT:g} s: all {pool.max_size} connections of "
        "the pool are in use — raise the store's capacity or hold connections for less time"
    )


def classify(op: str, exc: BaseException, dsn: str) -> StoreError:
    """Map a driver failure to a StoreError by SQLSTATE (never by message text)."""
    if isinstance(exc, StoreError):
        return exc
    message = scrub_secrets(str(exc).strip(), dsn) or type(exc).__name__
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    if isinstance(exc, PoolTimeout):
        return Connect(message)
    if sqlstate is None and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return Connect(message)
    if sqlstate is not None and (sqlstate.startswith("08") or sqlstate in _CONNECTION_GONE):
        return Connect(message)
    if sqlstate is not None and is_schema_drift_sqlstate(sqlstate):
        return SchemaDrift(op, sqlstate, message)
    return Query(op, message, sqlstate)


def log_masked(logger: logging.Logger, level: int, message: str, dsn: str, **fields: object) -> None:
    """Log with the masked DSN attached (never the raw one)."""
    logger.log(level, "%s (database: %s)", message, mask_dsn(dsn), extra={"axon": fields})
