"""Every failure axonstore reports, as one shallow hierarchy under :class:`StoreError`.

Each class carries its fields as attributes (the names are part of the contract) and a message that
says what to do. The driver's exception, when there is one, is the ``__cause__``::

    StoreError
    ├── FilterError                       where / order_by / limit / aggregate / group_by compile errors
    │   ├── UnexpectedChar(ch, pos)        UnterminatedString(pos)       InvalidNumber(token)
    │   ├── ExpectedColumn(found)          ColumnTooLong(column, len)    ExpectedOperator(column, found)
    │   ├── MissingOperator(column)        ExpectedValue(found)          MissingValue(column)
    │   ├── UnquotedValue(token)           ExpectedConnector(found)      DanglingConnector(connector)
    │   ├── NullWithNonEqualityOp(column, op)                            LikeRequiresText(column, found)
    │   ├── TooManyConditions(limit)       BadTimeValue(detail)          LikeWithTime
    │   ├── BadOrderBy(detail)             BadLimit(detail)              BadAggregate(detail)
    │   ├── BadGroupBy(detail)             EmptyInList(column)           NullInList(column)
    │   ├── TooManyValues(column, limit)   TooDeep(limit)                UnbalancedParen(pos)
    │   └── TooManyParameters(limit)
    ├── BadPolicy(policy)
    ├── EmptyConnection   EmptyEnvVarName   MissingEnvVar(var)   PoolInit(dsn_masked, source)
    ├── InvalidIdentifier(kind, name)   EmptyData(op)   UnboundedWrite(op, table)
    ├── UnknownColumn(table, column)
    ├── Connect(source)   Query(op, source, sqlstate)   Decode(column, pg_type, source)
    │   └── EmbeddedUnavailable(source)
    ├── TableNotResolved(table)   AmbiguousTable(table, schemas)   SchemaDrift(op, sqlstate, source)
    ├── ForeignPin   EventLoopMismatch
    ├── RegistryError
    │   ├── UnknownStore(name, declared)   UnknownBackend(store, backend)   DuplicateStore(store)
    │   ├── UnknownResource(store, resource)   UnresolvedEndpoint(resource, endpoint, detail)
    │   ├── InvalidDeclaration(path, table, key, reason)
    │   └── MissingPerTenantSchemaEnv(store, var)   DeclaredVsLiveDrift(store, drift)
    ├── EpistemicError
    │   └── UnelevatedWrite(store, floor, op)   MalformedConfidence(store, value, op)
    │       SubFloorWrite(store, confidence, floor, op)
    ├── CapabilityDenied(store, required, held)
    └── AuditChainBroken(index, reason)

Example::

    try:
        build_pg_where("name = 'x'; DROP TABLE users")
    except UnexpectedChar as exc:
        assert (exc.ch, exc.pos) == (";", 10)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AmbiguousTable",
    "AuditChainBroken",
    "BadAggregate",
    "BadGroupBy",
    "BadLimit",
    "BadOrderBy",
    "BadPolicy",
    "BadTimeValue",
    "CapabilityDenied",
    "ColumnTooLong",
    "Connect",
    "DanglingConnector",
    "DeclaredVsLiveDrift",
    "Decode",
    "DuplicateStore",
    "EmbeddedUnavailable",
    "EmptyConnection",
    "EmptyData",
    "EmptyEnvVarName",
    "EmptyInList",
    "EpistemicError",
    "EventLoopMismatch",
    "ExpectedColumn",
    "ExpectedConnector",
    "ExpectedOperator",
    "ExpectedValue",
    "FilterError",
    "ForeignPin",
    "InvalidDeclaration",
    "InvalidIdentifier",
    "InvalidNumber",
    "LikeRequiresText",
    "LikeWithTime",
    "MalformedConfidence",
    "MissingEnvVar",
    "MissingOperator",
    "MissingPerTenantSchemaEnv",
    "MissingValue",
    "NullInList",
    "NullWithNonEqualityOp",
    "PoolInit",
    "Query",
    "RegistryError",
    "SchemaDrift",
    "StoreError",
    "SubFloorWrite",
    "TableNotResolved",
    "TooDeep",
    "TooManyConditions",
    "TooManyParameters",
    "TooManyValues",
    "UnbalancedParen",
    "UnboundedWrite",
    "UnelevatedWrite",
    "UnexpectedChar",
    "UnknownBackend",
    "UnknownColumn",
    "UnknownResource",
    "UnknownStore",
    "UnquotedValue",
    "UnresolvedEndpoint",
    "UnterminatedString",
]


@dataclass(eq=False)
class StoreError(Exception):
    """Base of every axonstore error. Catch this to handle any failure of the library."""

    #: A one-line suggestion the CLI prints as ``hint:`` (``None`` when the message says it all).
    hint: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message())

    def message(self) -> str:
        """The human-readable text of this error (also ``str(error)``)."""
        return "axonstore failed"

    def __str__(self) -> str:
        return self.message()

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        return (type(self), values)


# --------------------------------------------------------------------------------------------------
# Filter language (where / order_by / limit / aggregate / group_by)


_ALPHABET = (
    "the where-grammar alphabet is identifiers, comparison symbols, quoted strings, numbers, "
    "parentheses and the comma of an IN list"
)


def _char_debug(ch: str) -> str:
    """Render a character the way the reference's ``{ch:?}`` does (`';'`, `'\\''`)."""
    escapes = {"'": "\\'", "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
    return "'" + escapes.get(ch, ch) + "'"


@dataclass(eq=False)
class FilterError(StoreError):
    """A where / order_by / limit / aggregate / group_by expression that does not compile."""


@dataclass(eq=False)
class UnexpectedChar(FilterError):
    """A character outside the grammar's alphabet, or a comma outside an IN list."""

    ch: str
    pos: int

    def message(self) -> str:
        return f"unexpected character {_char_debug(self.ch)} at position {self.pos} — {_ALPHABET}"


@dataclass(eq=False)
class UnterminatedString(FilterError):
    """A quoted literal with no closing quote (or ending in a lone backslash)."""

    pos: int

    def message(self) -> str:
        return (
            f"unterminated string literal opened at position {self.pos} — close it with the same quote "
            "character that opened it"
        )


@dataclass(eq=False)
class InvalidNumber(FilterError):
    """A numeric literal that is neither an integer nor a finite decimal."""

    token: str

    def message(self) -> str:
        return f"invalid numeric literal `{self.token}` — expected an integer or a finite decimal"


@dataclass(eq=False)
class ExpectedColumn(FilterError):
    """Something other than a column name where a condition starts."""

    found: str

    def message(self) -> str:
        return f"expected a column name, found `{self.found}` — a condition is `column op value`"


@dataclass(eq=False)
class ColumnTooLong(FilterError):
    """A column name longer than PostgreSQL's 63-byte identifier limit."""

    column: str
    len: int

    def message(self) -> str:
        return (
            f"column name `{self.column}` is {self.len} bytes — exceeds the Postgres 63-byte identifier limit"
        )


@dataclass(eq=False)
class ExpectedOperator(FilterError):
    """A token that is not a comparison operator after a column."""

    column: str
    found: str

    def message(self) -> str:
        return (
            f"expected a comparison operator after column `{self.column}`, found `{self.found}` — use one of "
            "=, !=, <>, <, <=, >, >=, LIKE, ILIKE, IS [NOT] NULL, [NOT] IN (…), [NOT] BETWEEN … AND …"
        )


@dataclass(eq=False)
class MissingOperator(FilterError):
    """The expression ends right after a column name."""

    column: str

    def message(self) -> str:
        return (
            f"expected a comparison operator after column `{self.column}`, found end of expression — "
            "complete the condition as `column op value`"
        )


@dataclass(eq=False)
class ExpectedValue(FilterError):
    """A symbol (or a keyword that cannot be a value here) where a value is expected."""

    found: str

    def message(self) -> str:
        return (
            f"expected a value, found `{self.found}` — a value is a quoted string, a number, "
            "true/false/null or now()"
        )


@dataclass(eq=False)
class MissingValue(FilterError):
    """The expression ends where a value for a column is expected."""

    column: str

    def message(self) -> str:
        return f"expected a value for column `{self.column}`, found end of expression"


@dataclass(eq=False)
class UnquotedValue(FilterError):
    """A bare word used as a value."""

    token: str

    def message(self) -> str:
        return (
            f"unquoted value `{self.token}` — string values must be quoted (`'{self.token}'`); "
            "only numbers and `true`/`false`/`null` are bare"
        )


@dataclass(eq=False)
class ExpectedConnector(FilterError):
    """Two conditions not joined by AND / OR."""

    found: str

    def message(self) -> str:
        return f"expected `AND` or `OR` between conditions, found `{self.found}`"


@dataclass(eq=False)
class DanglingConnector(FilterError):
    """AND / OR at the end of the expression."""

    connector: str

    def message(self) -> str:
        return (
            f"expression ends with a dangling `{self.connector}` — a connector must be followed by "
            "another condition"
        )


@dataclass(eq=False)
class NullWithNonEqualityOp(FilterError):
    """``null`` compared with an operator other than = / !=."""

    column: str
    op: str

    def message(self) -> str:
        return (
            f"`null` compared with `{self.op}` on column `{self.column}` — `null` is only valid with `=` "
            "(renders `IS NULL`) or `!=` (renders `IS NOT NULL`); or write `IS [NOT] NULL`"
        )


@dataclass(eq=False)
class LikeRequiresText(FilterError):
    """LIKE / ILIKE with a value that is not a quoted string."""

    column: str
    found: str

    def message(self) -> str:
        return (
            f"`LIKE` on column `{self.column}` requires a text value, found {self.found} — quote the "
            "pattern, e.g. '%abc%'"
        )


@dataclass(eq=False)
class TooManyConditions(FilterError):
    """More conditions than the cap allows."""

    limit: int

    def message(self) -> str:
        return (
            f"where expression exceeds the {self.limit}-condition limit — split the work or use "
            "`IN (…)` for a list of values"
        )


@dataclass(eq=False)
class BadTimeValue(FilterError):
    """A malformed ``now()`` / ``now() ± interval '<n> <unit>'`` value."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed time value: {self.detail} — the supported forms are now() and "
            "now() ± interval '<n> <unit>' with unit second, minute, hour, day, week, month or year "
            "(singular or plural), e.g. now() - interval '30 minutes'"
        )


@dataclass(eq=False)
class LikeWithTime(FilterError):
    """LIKE applied to a ``now()`` time value."""

    def message(self) -> str:
        return (
            "`LIKE` cannot be applied to a `now()` time value — use an ordering operator "
            "(<, <=, >, >=) or equality"
        )


@dataclass(eq=False)
class BadOrderBy(FilterError):
    """A malformed ``order_by`` expression."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `order_by:` — {self.detail}. The form is a comma-separated list of "
            "`column [asc|desc]`, e.g. `created_at desc, id`"
        )


@dataclass(eq=False)
class BadLimit(FilterError):
    """A malformed ``limit``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `limit:` — {self.detail}. The form is a non-negative integer literal or a "
            "binding that resolves to one, e.g. `50` or `${max}`"
        )


@dataclass(eq=False)
class BadAggregate(FilterError):
    """A malformed ``aggregate``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `aggregate:` — {self.detail}. The closed catalog is `count`, `sum(<col>)`, "
            "`avg(<col>)`, `min(<col>)`, `max(<col>)`; an aggregate takes no order_by or limit"
        )


@dataclass(eq=False)
class BadGroupBy(FilterError):
    """A malformed ``group_by``."""

    detail: str

    def message(self) -> str:
        return (
            f"malformed `group_by:` — {self.detail}. The form is a comma-separated list of distinct "
            "columns, and it requires an `aggregate:`"
        )


@dataclass(eq=False)
class EmptyInList(FilterError):
    """``IN ()`` with no values."""

    column: str

    def message(self) -> str:
        return f"`IN ()` on column `{self.column}` has no values — list at least one value"


@dataclass(eq=False)
class NullInList(FilterError):
    """``null`` inside an IN list (it would never match)."""

    column: str

    def message(self) -> str:
        return (
            f"`null` inside the IN list of column `{self.column}` never matches — use "
            f"`{self.column} IS NULL OR {self.column} IN (…)`"
        )


@dataclass(eq=False)
class TooManyValues(FilterError):
    """An IN list longer than the cap."""

    column: str
    limit: int

    def message(self) -> str:
        return f"the IN list of column `{self.column}` exceeds the {self.limit}-value limit — split the query"


@dataclass(eq=False)
class TooDeep(FilterError):
    """Groups and NOTs nested past the depth limit."""

    limit: int

    def message(self) -> str:
        return f"where expression nests parentheses and NOT deeper than {self.limit} levels — flatten it"


@dataclass(eq=False)
class UnbalancedParen(FilterError):
    """A ``(`` never closed, or a ``)`` with no open group."""

    pos: int

    def message(self) -> str:
        return (
            f"unbalanced parenthesis at position {self.pos} — every `(` needs a matching `)` after a "
            "complete condition"
        )


@dataclass(eq=False)
class TooManyParameters(FilterError):
    """A statement would bind more parameters than PostgreSQL accepts."""

    limit: int

    def message(self) -> str:
        return (
            f"the statement would bind more than {self.limit} parameters (PostgreSQL's limit) — "
            "split the write or the filter"
        )


@dataclass(eq=False)
class BadPolicy(StoreError):
    """A backpressure policy outside the four a stream knows."""

    policy: str

    def message(self) -> str:
        return (
            f"unknown backpressure policy `{self.policy}` — use pause_upstream, drop_oldest, fail or "
            "degrade_quality"
        )


# --------------------------------------------------------------------------------------------------
# Connection strings and pools


@dataclass(eq=False)
class EmptyConnection(StoreError):
    """The ``connection`` is blank."""

    def message(self) -> str:
        return "axonstore `connection` is empty — expected a DSN or an `env:VARNAME` reference"


@dataclass(eq=False)
class EmptyEnvVarName(StoreError):
    """The ``connection`` is the bare ``env:`` prefix."""

    def message(self) -> str:
        return (
            "axonstore `connection` is the bare prefix `env:` with no variable name — write "
            "`env:DATABASE_URL` (or the name of your variable)"
        )


@dataclass(eq=False)
class MissingEnvVar(StoreError):
    """``env:VAR`` names a variable that is not set."""

    var: str

    def message(self) -> str:
        return (
            f'axonstore `connection: "env:{self.var}"` — environment variable `{self.var}` is not set '
            "(or not valid UTF-8); export it with the database URL"
        )


@dataclass(eq=False)
class PoolInit(StoreError):
    """The DSN could not be parsed (the DSN shown is masked)."""

    dsn_masked: str
    source: str

    def message(self) -> str:
        return (
            f"axonstore connection pool could not be initialised for `{self.dsn_masked}`: {self.source} — "
            "expected a postgresql:// URL or a `key=value` connection string"
        )


# --------------------------------------------------------------------------------------------------
# Input that can never succeed


@dataclass(eq=False)
class InvalidIdentifier(StoreError):
    """A table or column name that is not a safe identifier."""

    kind: str
    name: str

    def message(self) -> str:
        return (
            f"unsafe {self.kind} identifier `{self.name}` — must match [A-Za-z_][A-Za-z0-9_]* and be "
            "≤ 63 bytes"
        )


@dataclass(eq=False)
class EmptyData(StoreError):
    """A write with no column data."""

    op: str

    def message(self) -> str:
        return f"axonstore `{self.op}` was given no column data — pass at least one column and value"


@dataclass(eq=False)
class UnboundedWrite(StoreError):
    """mutate / purge with a blank where, without ``all_rows=True``."""

    op: str
    table: str

    hint: ClassVar[str | None] = "pass all_rows=True (CLI: --all-rows) to touch every row on purpose"

    def message(self) -> str:
        return (
            f"axonstore `{self.op}` on `{self.table}` has an empty where and would touch every row — "
            "give a filter, or pass all_rows=True to mean it"
        )


@dataclass(eq=False)
class UnknownColumn(StoreError):
    """A column named in a filter, data, order_by, group_by or aggregate that the table lacks."""

    table: str
    column: str
    #: The table's live columns, when known (the CLI lists them in its hint).
    columns: tuple[str, ...] = ()

    def message(self) -> str:
        known = f" (its columns: {', '.join(self.columns)})" if self.columns else ""
        return (
            f"table `{self.table}` has no column `{self.column}`{known} — column names are "
            "case-sensitive; check the spelling"
        )


# --------------------------------------------------------------------------------------------------
# The database


@dataclass(eq=False)
class Connect(StoreError):
    """No connection could be had, or the connection broke."""

    source: str

    def message(self) -> str:
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
# Registry and declarations


@dataclass(eq=False)
class RegistryError(StoreError):
    """A store declaration or registry lookup that cannot be honoured."""


@dataclass(eq=False)
class UnknownStore(RegistryError):
    """``registry.store(name)`` for a name that is not declared."""

    name: str
    declared: tuple[str, ...]

    def message(self) -> str:
        names = ", ".join(self.declared) if self.declared else "none"
        return f"axonstore `{self.name}` is not declared (declared stores: {names}) — check the name"


@dataclass(eq=False)
class UnknownBackend(RegistryError):
    """A backend outside the closed catalog."""

    store: str
    backend: str

    def message(self) -> str:
        return (
            f"axonstore `{self.store}` declares unknown backend `{self.backend}` — the closed catalog is "
            "{in_memory, postgresql}"
        )


@dataclass(eq=False)
class DuplicateStore(RegistryError):
    """Two stores with the same name."""

    store: str

    def message(self) -> str:
        return f"axonstore `{self.store}` is declared twice — store names must be unique"


@dataclass(eq=False)
class UnknownResource(RegistryError):
    """A store names a resource that is not declared."""

    store: str
    resource: str

    def message(self) -> str:
        return (
            f"axonstore `{self.store}` uses resource `{self.resource}`, which is not declared — add "
            f"[resources.{self.resource}] with `endpoint` and `capacity`"
        )


@dataclass(eq=False)
class UnresolvedEndpoint(RegistryError):
    """A resource's endpoint could not be resolved to a DSN."""

    resource: str
    endpoint: str
    detail: str

    def message(self) -> str:
        return (
            f"resource `{self.resource}` endpoint `{self.endpoint}` could not be resolved: {self.detail} — "
            "set the variable it names"
        )


@dataclass(eq=False)
class InvalidDeclaration(RegistryError):
    """A declarations file with a syntax error, unknown key, wrong type or missing field."""

    path: str
    table: str | None
    key: str | None
    reason: str

    def message(self) -> str:
        where = self.path
        if self.table:
            where += f" [{self.table}]"
        if self.key:
            where += f" `{self.key}`"
        return f"invalid declaration in {where}: {self.reason}"


@dataclass(eq=False)
class MissingPerTenantSchemaEnv(RegistryError):
    """``schema = "env:VAR"`` with the variable unset at deploy time (axon-T806)."""

    store: str
    var: str

    def message(self) -> str:
        return (
            f"axon-T806 axonstore `{self.store}` declares `schema: env:{self.var}` but environment variable "
            f"`{self.var}` is not set at deploy time. Export the tenant namespace in `{self.var}`"
        )


@dataclass(eq=False)
class DeclaredVsLiveDrift(RegistryError):
    """Declared columns disagree with the live catalog (axon-T807)."""

    store: str
    drift: str

    def message(self) -> str:
        return (
            f"axon-T807 axonstore `{self.store}` declared column schema disagrees with the live database: "
            f"{self.drift}. Run `axonstore introspect {self.store}` and update the declaration or migrate "
            "the table"
        )


# --------------------------------------------------------------------------------------------------
# Governance


@dataclass(eq=False)
class EpistemicError(StoreError):
    """A write refused by the store's confidence floor."""


@dataclass(eq=False)
class UnelevatedWrite(EpistemicError):
    """A write into a store with a floor carries no ``_confidence`` (or sets it to NULL)."""

    store: str
    floor: float
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: the store declares confidence_floor "
            f"{self.floor} but the row carries no `_confidence` value — an un-elevated (⊥) write. "
            "Add `_confidence` with a number in [0, 1]"
        )


@dataclass(eq=False)
class MalformedConfidence(EpistemicError):
    """``_confidence`` is not a number."""

    store: str
    value: object
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: `_confidence` is {self.value!r}, not a finite "
            "number — give a number in [0, 1]"
        )


@dataclass(eq=False)
class SubFloorWrite(EpistemicError):
    """``_confidence`` below the store's floor."""

    store: str
    confidence: float
    floor: float
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: `_confidence` {self.confidence} is below the "
            f"store's confidence_floor {self.floor}"
        )


@dataclass(eq=False)
class CapabilityDenied(StoreError):
    """The caller's capability set lacks the store's capability."""

    store: str
    required: str
    held: tuple[str, ...]

    def message(self) -> str:
        held = ", ".join(f'"{h}"' for h in sorted(self.held))
        return (
            f"access to axonstore `{self.store}` denied: it requires capability `{self.required}`, which "
            f"the caller does not hold (held: [{held}])"
        )


@dataclass(eq=False)
class AuditChainBroken(StoreError):
    """An audit chain whose links or signatures do not verify."""

    index: int
    reason: str

    def message(self) -> str:
        return f"audit chain broken at entry {self.index}: {self.reason}"
