"""axonstore: named stores over PostgreSQL tables, with a closed, injection-proof filter language.

Quick start::

    from axonstore import PostgresStoreBackend

    backend = PostgresStoreBackend.connect_named("env:DATABASE_URL", "claims")   # no I/O yet
    async with backend:
        rows = await backend.query("claims", "status = '${s}' AND amount > 100", {"s": "open"})
"""

from __future__ import annotations

import logging
from importlib import metadata as _metadata

from axonstore.backend import Pin, PostgresStoreBackend
from axonstore.errors import (
    AmbiguousTable,
    AuditChainBroken,
    BadAggregate,
    BadGroupBy,
    BadLimit,
    BadOrderBy,
    BadPolicy,
    BadTimeValue,
    CapabilityDenied,
    ColumnTooLong,
    Connect,
    DanglingConnector,
    DeclaredVsLiveDrift,
    Decode,
    DuplicateStore,
    EmbeddedUnavailable,
    EmptyConnection,
    EmptyData,
    EmptyEnvVarName,
    EmptyInList,
    EpistemicError,
    EventLoopMismatch,
    ExpectedColumn,
    ExpectedConnector,
    ExpectedOperator,
    ExpectedValue,
    FilterError,
    ForeignPin,
    InvalidDeclaration,
    InvalidIdentifier,
    InvalidNumber,
    LikeRequiresText,
    LikeWithTime,
    MalformedConfidence,
    MissingEnvVar,
    MissingOperator,
    MissingPerTenantSchemaEnv,
    MissingValue,
    NullInList,
    NullWithNonEqualityOp,
    PoolInit,
    Query,
    RegistryError,
    SchemaDrift,
    StoreError,
    SubFloorWrite,
    TableNotResolved,
    TooDeep,
    TooManyConditions,
    TooManyParameters,
    TooManyValues,
    UnbalancedParen,
    UnboundedWrite,
    UnelevatedWrite,
    UnexpectedChar,
    UnknownBackend,
    UnknownColumn,
    UnknownResource,
    UnknownStore,
    UnquotedValue,
    UnresolvedEndpoint,
    UnterminatedString,
)
from axonstore.stream import Backpressure, RowStreamOutcome

__all__ = [
    "AmbiguousTable",
    "AuditChainBroken",
    "Backpressure",
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
    "Pin",
    "PoolInit",
    "PostgresStoreBackend",
    "Query",
    "RegistryError",
    "RowStreamOutcome",
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

try:
    #: The installed distribution's version (from its metadata: one source of truth, pyproject.toml).
    __version__: str = _metadata.version("axonstore")
except _metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

# A library logs; the application decides where records go (the CLI shows them with --debug).
logging.getLogger("axonstore").addHandler(logging.NullHandler())
# The pool's warnings (a failed connection attempt, retried) describe what the library then raises as a
# typed `Connect`; in a script that configured no logging they would reach stderr through logging's
# last-resort handler (issue 10 §8). Records still propagate to any handler the application installs.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
