"""The database: connections, statements, resolution, drift, pins and event loops."""

from __future__ import annotations

from dataclasses import dataclass

from axonstore.errors._base import StoreError


@dataclass(eq=False)
class Connect(StoreError):
    """No connection could be had, or the connection broke."""

    source: str
    #: True when the server answered and refused for good (authentication, a missing database, the
    #: role's connection limit): ``source`` then says why and what to check, and waiting cannot help.
    refused: bool = False

    def message(self) -> str:
        if self.refused:
            return f"axonstore could not connect: {self.source}"
        return (
            f"axonstore could not reach the database: {self.source} — check that the server is up, the "
            "DSN is right and the pool is not exhausted"
        )


@dataclass(eq=False)
class EmbeddedUnavailable(Connect):
    """The embedded PostgreSQL server could not be found, initialised or started."""

    def message(self) -> str:
        return f"the embedded PostgreSQL server is unavailable: {self.source}"


@dataclass(eq=False)
class Query(StoreError):
    """A statement failed on the server (``sqlstate`` is PostgreSQL's code, when there is one)."""

    op: str
    source: str
    sqlstate: str | None = None

    def message(self) -> str:
        code = f" (SQLSTATE {self.sqlstate})" if self.sqlstate else ""
        return f"axonstore `{self.op}` SQL failed{code}: {self.source}"


@dataclass(eq=False)
class Decode(StoreError):
    """A column value could not be turned into JSON."""

    column: str
    pg_type: str
    source: str

    def message(self) -> str:
        return f"column `{self.column}` (`{self.pg_type}`) failed to decode: {self.source}"


@dataclass(eq=False)
class TableNotResolved(StoreError):
    """No table of that name exists in any schema the catalog shows."""

    table: str

    def message(self) -> str:
        return (
            f"axonstore table `{self.table}` was not found: neither the connection's search_path nor a "
            "scan of every schema in pg_catalog has a relation of that exact (case-sensitive) name. "
            "Create it with a migration, check the store name, or check that the role can see it with "
            f'`SELECT * FROM "{self.table}" LIMIT 0`'
        )


@dataclass(eq=False)
class AmbiguousTable(StoreError):
    """The table exists in several schemas and search_path does not pick one."""

    table: str
    schemas: tuple[str, ...]

    def message(self) -> str:
        listed = ", ".join(self.schemas)
        return (
            f"axonstore table `{self.table}` is ambiguous — it exists in {len(self.schemas)} schemas "
            f"({listed}) and the connection's `search_path` does not disambiguate it; put the intended "
            "schema first on the role's search_path (ALTER ROLE … SET search_path), or drop the copies"
        )


@dataclass(eq=False)
class SchemaDrift(StoreError):
    """The live table no longer matches the schema the statement was built for."""

    op: str
    sqlstate: str
    source: str

    def message(self) -> str:
        return (
            f"axonstore `{self.op}` hit live schema drift (SQLSTATE {self.sqlstate}) — the cached schema is "
            f"stale: {self.source}"
        )


@dataclass(eq=False)
class ForeignPin(StoreError):
    """A pin from one backend was passed to another."""

    def message(self) -> str:
        return (
            "this pinned connection belongs to another PostgresStoreBackend — pass a pin only to the "
            "backend whose acquire_pin() produced it"
        )


@dataclass(eq=False)
class EventLoopMismatch(StoreError):
    """A backend was used from an event loop other than the one its pool lives on."""

    def message(self) -> str:
        return (
            "this PostgresStoreBackend's pool belongs to another event loop — create one backend per "
            "event loop (or per thread running a loop)"
        )


# --------------------------------------------------------------------------------------------------
# The SQLSTATEs callers catch (CONTRACT §11): each is still a ``Query`` with op, source and sqlstate.


@dataclass(eq=False)
class CaughtQuery(Query):
    """Base of the ``Query`` subclasses below: ``constraint`` names the violated constraint, when the
    server reports one (``None`` otherwise)."""

    constraint: str | None = None


@dataclass(eq=False)
class UniqueViolation(CaughtQuery):
    """23505: a row with that key already exists."""


@dataclass(eq=False)
class ForeignKeyViolation(CaughtQuery):
    """23503: a referenced row is missing (or still referenced)."""


@dataclass(eq=False)
class NotNullViolation(CaughtQuery):
    """23502: a NOT NULL column got NULL."""


@dataclass(eq=False)
class CheckViolation(CaughtQuery):
    """23514: a CHECK constraint refused the row."""


@dataclass(eq=False)
class ExclusionViolation(CaughtQuery):
    """23P01: an exclusion constraint refused the row."""


@dataclass(eq=False)
class SerializationFailure(CaughtQuery):
    """40001: a serializable or repeatable-read transaction lost a race — retry the whole transaction."""


@dataclass(eq=False)
class DeadlockDetected(CaughtQuery):
    """40P01: the server broke a deadlock by failing this statement — retry the whole transaction."""


@dataclass(eq=False)
class QueryCanceled(CaughtQuery):
    """57014: the statement was cancelled (a statement_timeout, or a cancel request)."""


@dataclass(eq=False)
class ReadOnlyTransaction(CaughtQuery):
    """25006: a write in a read-only transaction, or on a standby."""


#: SQLSTATE → the ``Query`` subclass a caller catches.
QUERY_CLASSES: dict[str, type[CaughtQuery]] = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
    "23P01": ExclusionViolation,
    "40001": SerializationFailure,
    "40P01": DeadlockDetected,
    "57014": QueryCanceled,
    "25006": ReadOnlyTransaction,
}
