"""The names OpenTelemetry's semantic conventions 1.44 give database clients, and what axonstore
puts in them (pure: no OpenTelemetry import, no I/O).

The attribute strings are written out here rather than taken from ``opentelemetry-semantic-conventions``
(a 0.x package whose names move between releases; SCALEOUT §5): CONTRACT §14 fixes them.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import psycopg

__all__ = [
    "DURATION_BUCKETS",
    "SCHEMA_URL",
    "SCOPE",
    "Server",
    "server_of",
]

#: The instrumentation scope's name (the tracer's and the meter's).
SCOPE: Final = "axonstore"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
#: ``db.client.operation.duration``'s advisory buckets, in seconds (CONTRACT §14).
DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

# Span and metric attributes (semantic conventions 1.44, docs/db/*.md).
DB_SYSTEM: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
DB_COLLECTION: Final = "db.collection.name"
DB_OPERATION: Final = "db.operation.name"
DB_SUMMARY: Final = "db.query.summary"
DB_TEXT: Final = "db.query.text"
DB_STATUS: Final = "db.response.status_code"
DB_RETURNED_ROWS: Final = "db.response.returned_rows"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
POOL_NAME: Final = "db.client.connection.pool.name"
CONNECTION_STATE: Final = "db.client.connection.state"
# axonstore's own (CONTRACT §14).
STORE: Final = "axonstore.store"
CACHE: Final = "axonstore.cache"
ENDPOINT: Final = "axonstore.endpoint"
VERB: Final = "axonstore.verb"
ISOLATION: Final = "axonstore.isolation"
READ_ONLY: Final = "axonstore.read_only"
POSTGRESQL: Final = "postgresql"

# Metric names (semantic conventions 1.44, docs/db/database-metrics.md).
OPERATION_DURATION: Final = "db.client.operation.duration"
CONNECTION_COUNT: Final = "db.client.connection.count"
CONNECTION_MAX: Final = "db.client.connection.max"
PENDING_REQUESTS: Final = "db.client.connection.pending_requests"
TIMEOUTS: Final = "db.client.connection.timeouts"

#: The span of the introspection a cache miss runs (a child of the operation's span).
INTROSPECTION_SPAN: Final = "SELECT pg_catalog.pg_attribute"
_DEFAULT_PORT: Final = 5432


@dataclass(frozen=True, slots=True)
class Server:
    """Where a DSN points: the database name and the first host and port, as libpq would default
    them (``server.address``, ``server.port``, the first half of ``db.namespace``)."""

    database: str
    address: str
    port: int


def server_of(dsn: str, environ: Mapping[str, str] = os.environ) -> Server:
    """The database, host and port of ``dsn``, with libpq's defaults (``PG*`` variables, then the
    user name for the database, ``localhost`` and 5432). A multi-host DSN names its first host."""
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    user = str(parts.get("user") or environ.get("PGUSER") or _os_user())
    database = str(parts.get("dbname") or environ.get("PGDATABASE") or user)
    host = str(parts.get("host") or parts.get("hostaddr") or environ.get("PGHOST") or "localhost")
    port = str(parts.get("port") or environ.get("PGPORT") or _DEFAULT_PORT)
    first_port = port.split(",", maxsplit=1)[0].strip()
    first_host = host.split(",", maxsplit=1)[0].strip()
    return Server(database, first_host, int(first_port) if first_port.isdigit() else _DEFAULT_PORT)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "postgres"
