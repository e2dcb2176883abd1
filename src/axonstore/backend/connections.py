"""Pools, pins and the mapping of driver errors to StoreErrors (the thin I/O layer under the backend).

Every connection is made with ``prepare_threshold=None`` (only unnamed statements, one Sync per
statement: safe behind transaction-mode poolers), autocommit, the store's ``application_name``, the
backend's own adapters (never psycopg's global map) and a raw cursor (native ``$n`` placeholders).
"""

from __future__ import annotations

import functools
import logging
import os
from time import monotonic
from typing import Any, Final, LiteralString

import psycopg
from psycopg_pool import PoolTimeout

from axonstore.dsn import mask_dsn, scrub_secrets
from axonstore.errors import QUERY_CLASSES, Connect, Query, SchemaDrift, StoreError
from axonstore.rows import ADAPTERS
from axonstore.schema import is_schema_drift_sqlstate

__all__ = [
    "ACQUIRE_TIMEOUT",
    "PINNING_DISABLED_REASON",
    "READ_ONLY_TIMEOUT_SQL",
    "RELEASED_PIN_REASON",
    "STATEMENT_TIMEOUT_SQL",
    "Pin",
    "Transaction",
    "begin_sql",
    "check_due",
    "classify",
    "connection_kwargs",
    "exhausted",
    "log_masked",
    "mark_seen",
    "pinning_enabled",
    "pool_settings",
    "refusal",
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

    def __init__(self, owner: object, conn: Any) -> None:
        self._owner = owner
        # None once the pin's block has ended: the connection is back in the pool, maybe lent to
        # another task, so a late use must be refused rather than run on it.
        self._conn: Any = conn

    def __repr__(self) -> str:
        return f"<Pin of {self._owner!r}>"


def connection_kwargs(application_name: str, cursor_factory: type) -> dict[str, Any]:
    """The keyword arguments of every connection (CONTRACT §3.1), for either flavour's pool."""
    return {
        "prepare_threshold": None,
        "autocommit": True,
        "application_name": application_name,
        "context": ADAPTERS,
        "cursor_factory": cursor_factory,
    }


def pool_settings(max_size: int, name: str) -> dict[str, Any]:
    """The pool settings of CONTRACT §3.1 (no ``reset``: D16), for either flavour's pool."""
    return {
        "min_size": 0,
        "max_size": max(max_size, 1),
        "open": False,
        "timeout": ACQUIRE_TIMEOUT,
        "max_idle": MAX_IDLE,
        "max_lifetime": MAX_LIFETIME,
        "name": name,
    }


class Transaction(Pin):
    """A transaction on one pooled connection (from ``backend.transaction()``): pass it as ``conn=``
    to every verb inside the block. Used after the block ended → ``TransactionClosed``."""

    __slots__ = ("isolation", "read_only", "wrote")

    def __init__(self, owner: object, conn: Any, isolation: str | None, read_only: bool) -> None:
        super().__init__(owner, conn)
        self.isolation = isolation
        self.read_only = read_only
        self.wrote = False  # a write ran in it: its commit LSN is the session's token (CONTRACT §13)

    @property
    def closed(self) -> bool:
        """True once the transaction has committed or rolled back."""
        return self._conn is None

    def __repr__(self) -> str:
        return f"<Transaction {'closed' if self.closed else 'open'} of {self._owner!r}>"


def begin_sql(isolation: str | None, read_only: bool) -> LiteralString:
    """``BEGIN [ISOLATION LEVEL …] [READ ONLY]`` from a level :func:`check_transaction_options` gave."""
    level: dict[str | None, LiteralString] = {
        None: "",
        "READ COMMITTED": " ISOLATION LEVEL READ COMMITTED",
        "REPEATABLE READ": " ISOLATION LEVEL REPEATABLE READ",
        "SERIALIZABLE": " ISOLATION LEVEL SERIALIZABLE",
    }
    return "BEGIN" + level[isolation] + (" READ ONLY" if read_only else "")


#: Sets a statement timeout for the current transaction only (``is_local``): a parameter, not text.
STATEMENT_TIMEOUT_SQL: Final = "SELECT pg_catalog.set_config('statement_timeout', $1, true)"

#: The first statement of a read that is a transaction of its own: read-only, with a statement timeout,
#: both for this transaction only. Sent pipelined before the ``SELECT`` with one Sync after both, the two
#: are one implicit transaction (the extended protocol commits at Sync, not per statement), so the
#: ``SELECT`` runs read-only under the timeout and both settings end with it — what ``BEGIN READ ONLY``,
#: ``SET LOCAL`` and ``COMMIT`` do, with two statements fewer to send, parse and answer.
#:
#: It returns no row, on purpose. libpq keeps the chunked-rows mode of a finished stream until its next
#: query starts, and in pipeline mode the first query's rows then come back as ``TUPLES_CHUNK``, which
#: psycopg's pipeline refuses; a row-less first statement is answered ``TUPLES_OK`` all the same, and the
#: mode is reset before the ``SELECT`` (``test_a_page_alone_after_streamed_reads_on_the_same_connection``).
#: Both calls are in the subquery's target list and it is volatile, so the planner neither drops one nor
#: pushes the filter into it: both settings are made for the one row, which the filter then discards.
READ_ONLY_TIMEOUT_SQL: Final = (
    "SELECT FROM (SELECT pg_catalog.set_config('statement_timeout', $1, true) AS timeout, "
    "pg_catalog.set_config('transaction_read_only', 'on', true) AS read_only) AS settings "
    "WHERE settings.timeout IS NULL"
)


# When each connection was last known good, so only long-idle connections are checked. The time is
# kept on the connection itself, as psycopg_pool keeps its own bookkeeping (``_expire_at``): recording it
# runs on every operation, and an attribute costs a fraction of a weak dictionary's entry; it goes with
# the connection when the pool drops it.


def mark_seen(conn: object) -> None:
    """``conn`` just worked."""
    conn._axonstore_seen_at = monotonic()  # type: ignore[attr-defined]


def check_due(conn: object) -> bool:
    """Has ``conn`` been idle long enough (or never seen) to need a check before hand-out?"""
    last: float | None = getattr(conn, "_axonstore_seen_at", None)
    return last is None or monotonic() - last >= CHECK_AFTER_IDLE


#: What the server says (its FATAL message) when waiting cannot help, and the SQLSTATE it stands for.
#: libpq reports no SQLSTATE for a refused connection, so the server's own words are all there is.
_REFUSALS: Final = (
    ("password authentication failed", "28P01", "check the user name and password of the DSN"),
    ("authentication failed", "28P01", "check the user name and password of the DSN"),
    ("no pg_hba.conf entry", "28000", "ask the database's administrator to allow this client (pg_hba.conf)"),
    ("role", "28000", "check the user name of the DSN"),
    ("does not exist", "3D000", "check the database name of the DSN"),
    ("too many connections for role", "53300", "lower the stores' capacity or raise the role's limit"),
)


def refusal(exc: BaseException, dsn: str) -> str | None:
    """The reason, with what to check, when ``exc`` is a connection the server refused for good
    (authentication 28P01/28000, a missing database 3D000, the role's connection limit 53300);
    ``None`` for anything waiting might fix (the server unreachable, starting up, saturated)."""
    if not isinstance(exc, psycopg.OperationalError):
        return None
    text = str(exc)
    fatal = text.find("FATAL:")
    if fatal < 0:
        return None
    said = " ".join(text[fatal + len("FATAL:") :].split())
    for marker, sqlstate, advice in _REFUSALS:
        if marker in said and (marker != "role" or "does not exist" in said):
            reason = scrub_secrets(said, dsn)
            return f"the server refused the connection (SQLSTATE {sqlstate}): {reason} — {advice}"
    return None


def exhausted(max_size: int) -> str:
    """The reason for an acquire timeout when every connection of the pool is in use."""
    return (
        f"no connection became free within {ACQUIRE_TIMEOUT:g} s: all {max_size} connections of "
        "the pool are in use — raise the store's capacity or hold connections for less time"
    )


def classify(op: str, exc: BaseException, dsn: str) -> StoreError:  # noqa: PLR0911  # one return per class
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
    caught = QUERY_CLASSES.get(sqlstate or "")
    if caught is not None:
        diag = getattr(exc, "diag", None)
        return caught(op, message, sqlstate, getattr(diag, "constraint_name", None))
    return Query(op, message, sqlstate)


def log_masked(logger: logging.Logger, level: int, message: str, dsn: str, **fields: object) -> None:
    """Log with the masked DSN attached (never the raw one)."""
    logger.log(level, "%s (database: %s)", message, mask_dsn(dsn), extra={"axon": fields})
