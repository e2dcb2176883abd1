"""What both flavours of ``PostgresStoreBackend`` decide without performing I/O.

The async driver (``aio.py``) and its generated sync twin (``sync.py``) perform the I/O; everything
they decide is here, once: construction and masking, the hit/miss decision of the schema cache, the
statements of each prepared operation for a resolved table, when a failed hit may be stale, the keys
of a page walk and the page a walk's rows make, and the adaptation of Python values for the driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

import psycopg
from psycopg.types.json import Jsonb

from axonstore.backend.connections import log_masked
from axonstore.backend.replicas import (
    DEFAULT_MAX_LAG_MS,
    Router,
    check_max_lag,
    check_reads,
    format_lsn,
    written_lsn,
)
from axonstore.dsn import application_name, mask_dsn, validate_dsn, without_password
from axonstore.errors import NoPageKey, SchemaDrift, StoreError, UnknownColumn
from axonstore.operations import (
    Delete,
    Insert,
    OrderKeys,
    Page,
    PageKeys,
    PageRead,
    Read,
    Reinforce,
    Update,
    Write,
    json_default,
    page_token,
)
from axonstore.otel import observer_for
from axonstore.plans import WarmPlans
from axonstore.rows import Row, TypeRegistry
from axonstore.schema import SCHEMA_CACHE, ResolvedTable
from axonstore.sql import (
    Statement,
    delete_sql,
    insert_chunks,
    insert_sql,
    page_sql,
    read_sql,
    reinforce_sql,
    update_sql,
)

if TYPE_CHECKING:
    from axonstore.otel import Observer

__all__ = [
    "CHUNKED_STREAMS",
    "COPY_THRESHOLD",
    "CURRENT_OPERATION",
    "DEFAULT_CAPACITY",
    "BackendCore",
    "Spec",
    "adapted",
    "cached_schema",
    "copy_rows",
    "page_keys",
    "page_of",
    "page_plan",
    "read_statement",
    "require_columns",
    "stale_after_hit",
    "uses_copy",
    "write_statements",
]

DEFAULT_CAPACITY: Final = 10
#: psycopg streams in chunks only over libpq ≥ 17; before that, one row per fetch.
CHUNKED_STREAMS: Final = psycopg.capabilities.has_stream_chunked()
#: ``insert_many`` switches from multi-row ``VALUES`` to ``COPY … FROM STDIN`` at this many values
#: (rows × columns). ``bench/verbs_bench.py`` (part 2, 5 columns) measured COPY 1.7× faster than
#: VALUES at 100 rows, 2.3× at 300, 2.5–4× from 1 000 up; below a few dozen rows one ``INSERT`` (one
#: round trip) is what COPY's extra protocol steps cannot beat.
COPY_THRESHOLD: Final = 250
#: A row-identity key for a page walk over a table without a primary key (stable while rows are not
#: updated or vacuumed away mid-walk — say so in the docs).
ROW_IDENTITY: Final = "ctid"
_INVALID_TEXT: Final = "22P02"  # invalid_text_representation: a cast of the cached type refused the value
_JSON_TYPES: Final = frozenset({"json", "jsonb"})

Spec: TypeAlias = Read | PageRead | Write
_NO_SPAN = contextlib.nullcontext()
#: The telemetry operation (``axonstore.otel``) running in this context, while one does: the miss
#: path's introspection becomes its child span, a routed read says where it went.
CURRENT_OPERATION: ContextVar[Any] = ContextVar("axonstore_operation", default=None)
_log_cache = logging.getLogger("axonstore.store.cache")
# One type registry per database (OIDs of user-defined types are per database).
_TYPE_REGISTRIES: dict[str, TypeRegistry] = {}


class BackendCore:
    """Construction, masking and the schema-cache key of a backend of either flavour (no I/O)."""

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
        validate_dsn(dsn)
        self._dsn = dsn
        self._masked = mask_dsn(dsn)
        self._dsn_key = without_password(dsn)  # the schema cache's key (D5): never the password
        self.store_name = store_name
        self.namespace = namespace
        self.max_connections = max(max_connections, 1)
        self.application_name = application_name(store_name, namespace)
        self._types = _TYPE_REGISTRIES.setdefault(self._dsn_key, TypeRegistry())
        if isinstance(readers, str):  # one DSN is not a list of one-letter DSNs
            readers = (readers,)
        for reader in readers:
            validate_dsn(reader)
        self._reader_dsns = tuple(readers)
        # CONTRACT §13: ``primary`` is what any mode means without readers.
        mode = check_reads(reads)
        self._router = Router.build(
            self._masked, [mask_dsn(r) for r in readers], mode, check_max_lag(max_lag_ms)
        )
        # Writes read their commit LSN only when a read could need it (the extra round trip is cheap,
        # but not free): with readers, in replica (for consistent_with=) and session modes.
        self._captures = self._router.routes
        # Telemetry (axonstore.otel): None when it is off, so an operation pays one `is None` test.
        self._observer: Observer | None = observer_for(
            self, dsn, self._dsn_key, store_name, tracer_provider, meter_provider
        )
        self._global_telemetry = tracer_provider is None and meter_provider is None
        self.warm = self._warm_plans()

    def observe_global_providers(self) -> None:
        """When the pool opens: pick up a global OpenTelemetry provider set since construction."""
        if self._observer is None and self._global_telemetry:
            self._observer = observer_for(self, self._dsn, self._dsn_key, self.store_name)
            self.warm = self._warm_plans()

    def _warm_plans(self) -> WarmPlans | None:
        """Warm plans while an operation needs nothing but its statement: no telemetry (a span per
        operation) and no read routing (a reader to pick, a commit LSN to read after each write)."""
        if self._observer is not None or self._captures:
            return None
        return WarmPlans(self.cache_key, SCHEMA_CACHE, unplannable=_copied)

    def traced_transaction(self, isolation: str | None, read_only: bool) -> Any:
        """The span of a ``transaction()`` block (a no-op context manager when telemetry is off)."""
        if self._observer is None:
            return _NO_SPAN
        return self._observer.transaction(isolation, read_only)

    def pool_stats(self) -> dict[str, int] | None:
        """The pool's ``psycopg_pool`` statistics (``get_stats()``), ``None`` while it is not open."""
        pool = getattr(self, "_pool", None)
        if pool is None or not getattr(self, "_opened", False):
            return None
        return cast("dict[str, int]", pool.get_stats())

    def masked_dsn(self) -> str:
        """The DSN with every password replaced by ``***``."""
        return self._masked

    def same_database(self, other: BackendCore) -> bool:
        """True when both backends reach the same database (the DSN without its password)."""
        return self._dsn_key == other._dsn_key

    def __repr__(self) -> str:
        readers = f", readers={[r.masked for r in self._router.readers]!r}" if self._router.readers else ""
        return (
            f"{type(self).__name__}(dsn={self._masked!r}, store={self.store_name!r}, "
            f"namespace={self.namespace!r}, max_connections={self.max_connections}{readers})"
        )

    def write_token(self) -> str | None:
        """The LSN token of this context's last write on this database (``None``: none yet, or reads
        are not routed); pass it to a read's ``consistent_with=``, in any process."""
        lsn = written_lsn(self._dsn_key)
        return None if lsn is None else format_lsn(lsn)

    def routing_stats(self) -> dict[str, dict[str, Any]]:
        """``{endpoint_masked: {"reads": n, "fallbacks": n, "lag_ms": x | None, "healthy": bool}}``.

        ``reads`` counts reads each endpoint served; a reader's ``fallbacks`` counts its reads that failed
        with ``Connect`` and were retried on the primary; the primary's counts reads that went to it
        because no reader qualified (none healthy, within ``max_lag_ms``, or caught up with the session).
        """
        return self._router.stats()

    def routing(self) -> dict[str, Any]:
        """How reads are routed, without I/O: ``{"reads", "max_lag_ms", "readers"}`` (readers masked)."""
        return {
            "reads": self._router.mode if self._router.readers else "primary",
            "max_lag_ms": self._router.max_lag_ms,
            "readers": [r.masked for r in self._router.readers],
        }

    def cache_key(self, table: str) -> tuple[str, str]:
        """The schema cache's key for ``table`` on this database."""
        return (self._dsn_key, table)

    def log(self, logger: logging.Logger, level: int, message: str, **fields: object) -> None:
        """Log with the masked DSN attached."""
        log_masked(logger, level, message, self._dsn, **fields)

    def evict_stale(self, table: str, error: StoreError) -> None:
        """Forget the cached schema of ``table`` after a hit failed as if it were stale."""
        SCHEMA_CACHE.evict(self.cache_key(table))
        self.log(
            _log_cache,
            logging.WARNING,
            f"possible schema drift on `{table}` (SQLSTATE {getattr(error, 'sqlstate', '?')}): "
            "cache entry evicted, re-resolving",
        )


def cached_schema(spec: Spec, key: tuple[str, str]) -> ResolvedTable | None:
    """The cached schema when it knows every column ``spec`` names (a hit), else ``None`` (a miss:
    re-resolve, so that a column added since is found, D4)."""
    cached = SCHEMA_CACHE.get(key)
    if cached is not None and cached.first_missing(spec.named) is None:
        return cached
    return None


def require_columns(spec: Spec, resolved: ResolvedTable) -> None:
    """``UnknownColumn`` (with the table's columns) for a named column the live table lacks (D4)."""
    missing = resolved.first_missing(spec.named)
    if missing is not None:
        raise UnknownColumn(spec.table, missing, tuple(resolved.column_types))


def stale_after_hit(error: StoreError) -> bool:
    """May a failed cache hit be explained by a stale schema?

    Drift (42P01/42703/42804/42883), or 22P02 — a value the *cached* type's cast rejects, which is what
    a column whose type changed (say int4 → text) looks like. Both fail before any row is touched, so
    the miss-path retry cannot apply a write twice; a value that is bad for the live type too fails
    again on the miss path and is reported as it is.
    """
    return isinstance(error, SchemaDrift) or getattr(error, "sqlstate", None) == _INVALID_TEXT


def read_statement(read: Read, resolved: ResolvedTable) -> Statement:
    """The ``SELECT`` of a retrieve."""
    return read_sql(read, resolved.schema, resolved.column_types)


def page_keys(page: PageRead, resolved: ResolvedTable) -> OrderKeys:
    """The walk's order made total: the primary key's columns not already ordered on (ascending), or
    the row identity when the table has no primary key."""
    order = page.read.order
    ordered = {column for column, _ in order}
    if not (resolved.primary_key or resolved.row_identity):
        raise NoPageKey(page.read.table)
    key = resolved.primary_key or (ROW_IDENTITY,)
    if resolved.primary_key and set(resolved.primary_key) <= ordered:
        return PageKeys(order, key)
    return PageKeys((*order, *((column, "ASC") for column in key if column not in ordered)), key)


def page_plan(page: PageRead, resolved: ResolvedTable) -> tuple[OrderKeys, Statement]:
    """The walk's total order and the ``SELECT`` of one page (``size + 1`` rows: the extra row says
    whether there is a next)."""
    keys = page_keys(page, resolved)
    return keys, page_sql(page, resolved.schema, resolved.column_types, keys)


def page_of(page: PageRead, keys: OrderKeys, rows: list[Row]) -> Page:
    """The page the fetched rows make: at most ``size`` rows, a token when one more row came back,
    and without the key columns the caller's projection left out."""
    more = len(rows) > page.size
    if more:
        del rows[page.size :]
    token = page_token(page.scope, [rows[-1].get(column) for column, _ in keys]) if more else None
    shown = page.read.columns
    if shown:
        extra = [column for column, _ in keys if column not in shown]
        if extra:
            rows = [{column: row[column] for column in shown} for row in rows]
    elif ROW_IDENTITY in (column for column, _ in keys):
        for row in rows:
            row.pop(ROW_IDENTITY, None)
    return Page(cast("list[dict[str, object]]", rows), token)


def _copied(spec: object) -> bool:
    return isinstance(spec, Insert) and uses_copy(spec)


def uses_copy(insert: Insert) -> bool:
    """Whether a batch goes through ``COPY`` (large, plain inserts: no conflict target, no returning)."""
    return (
        insert.conflict is None
        and insert.returning is None
        and len(insert.rows) * max(len(insert.columns), 1) >= COPY_THRESHOLD
    )


def write_statements(write: Write, resolved: ResolvedTable) -> list[Statement]:
    """The statements of a write, in order (several only for an ``insert_many`` past one chunk)."""
    schema, types = resolved.schema, resolved.column_types
    if isinstance(write, Insert):
        chunks = insert_chunks(write) if len(write.rows) > 1 else [write]
        return [insert_sql(adapted(chunk, types), schema, types) for chunk in chunks]
    if isinstance(write, Update):
        return [update_sql(adapted(write, types), schema, types)]
    if isinstance(write, Delete):
        return [delete_sql(write, schema, types)]
    if isinstance(write, Reinforce):
        return [reinforce_sql(write, schema, types)]
    raise TypeError(f"not a write: {write!r}")  # pragma: no cover - the verbs only prepare the above


def adapted(write: Insert | Update, column_types: Mapping[str, str]) -> Any:
    """Python containers as JSON where the column is json/jsonb (a dict always); lists stay arrays."""
    if isinstance(write, Update):
        if not any(isinstance(value, dict | list) for _, value in write.pairs):
            return write
        pairs = tuple((c, _json_value(c, v, column_types)) for c, v in write.pairs)
        return dataclasses.replace(write, pairs=pairs)
    if not any(isinstance(value, dict | list) for row in write.rows for value in row):
        return write
    rows = tuple(
        tuple(_json_value(c, v, column_types) for c, v in zip(write.columns, row, strict=True))
        for row in write.rows
    )
    return dataclasses.replace(write, rows=rows)


def copy_rows(insert: Insert, column_types: Mapping[str, str]) -> Sequence[Sequence[object]]:
    """The rows of a ``COPY`` batch, JSON values wrapped for the driver."""
    return adapted(insert, column_types).rows  # type: ignore[no-any-return]


def _json_value(column: str, value: object, column_types: Mapping[str, str]) -> object:
    if isinstance(value, dict) or (isinstance(value, list) and column_types.get(column) in _JSON_TYPES):
        return Jsonb(value, dumps=_dumps)
    return value


def _dumps(value: object) -> str:
    return json.dumps(value, default=json_default)
