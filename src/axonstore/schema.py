"""Schema resolution: the catalog query (pure), the decoding of its rows, and the shared schema cache.

Split as psycopg's ``_typeinfo`` is: *build the query* here (no I/O), *fetch* in the backend, *decode*
here. Resolution follows ANCHOR §4.1 in one statement: the relation an unqualified ``"table"`` would
name on the connection's ``search_path`` (``to_regclass`` on the quoted name, temp tables included);
only if there is none, a scan of every ordinary schema by exact ``relname``. One statement means one
round trip, and no window for a transaction pooler to move the second half elsewhere.

Types outside ``pg_catalog`` are recorded as ``schema.type`` so that casts name them exactly (D12).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString

from axonstore.errors import AmbiguousTable, TableNotResolved

__all__ = [
    "DRIFT_SQLSTATES",
    "RESOLVE_SQL",
    "SCHEMA_CACHE",
    "ResolvedTable",
    "SchemaCache",
    "is_schema_drift_sqlstate",
    "resolve_from_rows",
    "resolve_params",
]

#: parse/plan-time failures that mean "the cached schema is stale" (ANCHOR §4.3).
DRIFT_SQLSTATES: Final = frozenset({"42P01", "42703", "42804", "42883"})
_ROW_IDENTITY_KINDS: Final = frozenset({"r", "m"})  # pg_class.relkind: ordinary table, materialized view

# Rows: (schema, column, type name, type oid, attnum, position in the primary key or NULL, relkind).
# The second branch runs only when to_regclass finds nothing; it skips system schemas and keeps the
# relation kinds a store can address. Both branches are index lookups (pg_class by oid, and by relname).
_COLUMNS: Final[LiteralString] = """\
SELECT n.nspname, a.attname,
       CASE WHEN tn.nspname = 'pg_catalog' THEN t.typname::text ELSE tn.nspname || '.' || t.typname END,
       a.atttypid::int8, a.attnum, array_position(i.indkey::int2[], a.attnum), c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary"""
RESOLVE_SQL: Final[LiteralString] = (
    "WITH target AS (SELECT to_regclass($1) AS oid)\n"
    + _COLUMNS
    + "\nWHERE c.oid = (SELECT oid FROM target)\nUNION ALL\n"
    + _COLUMNS
    + """
WHERE (SELECT oid FROM target) IS NULL AND c.relname = $2 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND left(n.nspname, 3) <> 'pg_' AND n.nspname <> 'information_schema'
ORDER BY 1, 5"""
)


def resolve_params(table: str) -> list[str]:
    """Parameters of :data:`RESOLVE_SQL` for a table name already known to be a safe identifier."""
    return [f'"{table}"', table]


@dataclass(frozen=True, slots=True)
class ResolvedTable:
    """Where a table lives, the types of its columns (``pg_type.typname`` or ``schema.type``) and its
    primary key (in key order; empty when it has none)."""

    schema: str
    column_types: Mapping[str, str]
    type_oids: tuple[int, ...] = field(default=())
    primary_key: tuple[str, ...] = field(default=())
    #: Whether ``ctid`` names each row uniquely: a plain table or a materialized view, not a view, a
    #: foreign table or a partitioned table (whose partitions repeat each other's ctids).
    row_identity: bool = True

    def first_missing(self, columns: Iterable[str]) -> str | None:
        """The first of ``columns`` this table does not have, if any."""
        types = self.column_types
        for column in columns:
            if column not in types:
                return column
        return None


def resolve_from_rows(table: str, rows: Sequence[Sequence[Any]]) -> ResolvedTable:
    """Group catalog rows by schema: none → ``TableNotResolved``, several → ``AmbiguousTable``."""
    by_schema: dict[str, dict[str, str]] = {}
    oids: dict[str, list[int]] = {}
    keys: dict[str, list[tuple[int, str]]] = {}
    kinds: dict[str, str] = {}
    for schema, column, type_name, oid, _attnum, *rest in rows:
        if not (schema and column and type_name):
            continue
        by_schema.setdefault(schema, {})[column] = type_name
        oids.setdefault(schema, []).append(int(oid))
        if rest and rest[0] is not None:
            keys.setdefault(schema, []).append((int(rest[0]), column))
        if len(rest) > 1 and rest[1]:
            kinds[schema] = str(rest[1])
    if not by_schema:
        raise TableNotResolved(table)
    if len(by_schema) > 1:
        raise AmbiguousTable(table, tuple(sorted(by_schema)))
    schema, columns = next(iter(by_schema.items()))
    primary_key = tuple(column for _, column in sorted(keys.get(schema, [])))
    identity = kinds.get(schema, "r") in _ROW_IDENTITY_KINDS
    return ResolvedTable(schema, columns, tuple(oids[schema]), primary_key, identity)


def is_schema_drift_sqlstate(code: str | None) -> bool:
    """True for exactly 42P01, 42703, 42804 and 42883 (case-sensitive, as the reference)."""
    return code in DRIFT_SQLSTATES


class SchemaCache:
    """A thread-safe LRU of resolved tables keyed by (DSN without its password, table) (D5).

    Empty resolutions are never stored: a real relation always has a column.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], ResolvedTable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> ResolvedTable | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def peek(self, key: tuple[str, str]) -> ResolvedTable | None:
        """:meth:`get` without the lock, for the warm path: a dictionary read is atomic, and an entry
        evicted by another thread meanwhile only means the caller rebuilds from the next lookup."""
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            try:  # noqa: SIM105 - a `with suppress` costs more than the lookup it guards
                entries.move_to_end(key)
            except KeyError:  # evicted meanwhile: the entry read stands for this call
                pass
        return entry

    def put(self, key: tuple[str, str], entry: ResolvedTable) -> None:
        if not entry.column_types:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def evict(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


#: The process-wide cache every backend shares (stores on one database see one schema).
SCHEMA_CACHE: Final = SchemaCache()
