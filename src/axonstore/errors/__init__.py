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
    ├── AuditChainBroken(index, reason)
    ├── AgentError                        refusals of the MCP server (CONTRACT §15)
    │   ├── ColumnNotAllowed(column)       TooManyRowsAffected(op, store, affected, limit)
    │   ├── RateLimited(principal, reason) InvalidCursor(reason)     InvalidArguments(detail)
    │   └── UnknownPrincipal(name, declared)                         PrivilegedRole(store, role, reason)
    └── McpUnavailable

Example::

    try:
        build_pg_where("name = 'x'; DROP TABLE users")
    except UnexpectedChar as exc:
        assert (exc.ch, exc.pos) == (";", 10)
"""

from __future__ import annotations

from axonstore.errors._agents import (
    AgentError,
    ColumnNotAllowed,
    InvalidArguments,
    InvalidCursor,
    McpUnavailable,
    PrivilegedRole,
    RateLimited,
    TooManyRowsAffected,
    UnknownPrincipal,
)
from axonstore.errors._base import StoreError
from axonstore.errors._database import (
    QUERY_CLASSES,
    AmbiguousTable,
    CaughtQuery,
    CheckViolation,
    Connect,
    DeadlockDetected,
    Decode,
    EmbeddedUnavailable,
    EventLoopMismatch,
    ExclusionViolation,
    ForeignKeyViolation,
    ForeignPin,
    NotNullViolation,
    Query,
    QueryCanceled,
    ReadOnlyTransaction,
    SchemaDrift,
    SerializationFailure,
    TableNotResolved,
    UniqueViolation,
)
from axonstore.errors._filter import (
    BadAggregate,
    BadGroupBy,
    BadJsonLiteral,
    BadJsonPath,
    BadLimit,
    BadOrderBy,
    BadPolicy,
    BadTimeValue,
    ColumnTooLong,
    DanglingConnector,
    EmptyInList,
    ExpectedColumn,
    ExpectedConnector,
    ExpectedOperator,
    ExpectedValue,
    FilterError,
    FilterTooLong,
    InvalidNumber,
    LikeRequiresText,
    LikeWithTime,
    MissingOperator,
    MissingValue,
    NullInList,
    NullWithNonEqualityOp,
    OperatorNotForType,
    TooDeep,
    TooManyConditions,
    TooManyParameters,
    TooManyValues,
    UnbalancedParen,
    UnexpectedChar,
    UnquotedValue,
    UnterminatedString,
)
from axonstore.errors._input import (
    EmptyConnection,
    EmptyData,
    EmptyEnvVarName,
    InvalidIdentifier,
    MissingEnvVar,
    PoolInit,
    UnboundedWrite,
    UnknownColumn,
)
from axonstore.errors._registry import (
    AuditChainBroken,
    CapabilityDenied,
    DeclaredVsLiveDrift,
    DuplicateStore,
    EpistemicError,
    InvalidDeclaration,
    MalformedConfidence,
    MissingPerTenantSchemaEnv,
    RegistryError,
    SubFloorWrite,
    UnelevatedWrite,
    UnknownBackend,
    UnknownResource,
    UnknownStore,
    UnresolvedEndpoint,
)
from axonstore.errors._verbs import (
    BadArgument,
    BadColumns,
    BadIsolation,
    BadPageToken,
    CrossDatabaseTransaction,
    NoPageKey,
    RaggedRows,
    TransactionClosed,
)

__all__ = [
    "QUERY_CLASSES",
    "AgentError",
    "AmbiguousTable",
    "AuditChainBroken",
    "BadAggregate",
    "BadArgument",
    "BadColumns",
    "BadGroupBy",
    "BadIsolation",
    "BadJsonLiteral",
    "BadJsonPath",
    "BadLimit",
    "BadOrderBy",
    "BadPageToken",
    "BadPolicy",
    "BadTimeValue",
    "CapabilityDenied",
    "CaughtQuery",
    "CheckViolation",
    "ColumnNotAllowed",
    "ColumnTooLong",
    "Connect",
    "CrossDatabaseTransaction",
    "DanglingConnector",
    "DeadlockDetected",
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
    "ExclusionViolation",
    "ExpectedColumn",
    "ExpectedConnector",
    "ExpectedOperator",
    "ExpectedValue",
    "FilterError",
    "FilterTooLong",
    "ForeignKeyViolation",
    "ForeignPin",
    "InvalidArguments",
    "InvalidCursor",
    "InvalidDeclaration",
    "InvalidIdentifier",
    "InvalidNumber",
    "LikeRequiresText",
    "LikeWithTime",
    "MalformedConfidence",
    "McpUnavailable",
    "MissingEnvVar",
    "MissingOperator",
    "MissingPerTenantSchemaEnv",
    "MissingValue",
    "NoPageKey",
    "NotNullViolation",
    "NullInList",
    "NullWithNonEqualityOp",
    "OperatorNotForType",
    "PoolInit",
    "PrivilegedRole",
    "Query",
    "QueryCanceled",
    "RaggedRows",
    "RateLimited",
    "ReadOnlyTransaction",
    "RegistryError",
    "SchemaDrift",
    "SerializationFailure",
    "StoreError",
    "SubFloorWrite",
    "TableNotResolved",
    "TooDeep",
    "TooManyConditions",
    "TooManyParameters",
    "TooManyRowsAffected",
    "TooManyValues",
    "TransactionClosed",
    "UnbalancedParen",
    "UnboundedWrite",
    "UnelevatedWrite",
    "UnexpectedChar",
    "UniqueViolation",
    "UnknownBackend",
    "UnknownColumn",
    "UnknownPrincipal",
    "UnknownResource",
    "UnknownStore",
    "UnquotedValue",
    "UnresolvedEndpoint",
    "UnterminatedString",
]

# Every error is documented, pickled and shown in tracebacks as ``axonstore.errors.<Name>``: where it is
# defined is an implementation detail.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name
