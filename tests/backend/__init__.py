"""Integration tests of ``PostgresStoreBackend`` against the suite's real PostgreSQL (and PgBouncer).

Shared helpers live here. Each test builds its own backend (a pool belongs to the event loop of its
first operation, and pytest-asyncio gives every test a fresh loop) and closes it with ``async with``.
Tables are created through the ``admin`` fixture (a direct connection, not on the wire log) under a
``unique_name``, so tests never share state; the schema cache is process-wide, keyed by DSN and table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from axonstore import PostgresStoreBackend
from axonstore.dsn import application_name
from tests._wire import WireLog

#: A DSN whose port nothing listens on: any I/O through it fails (``Connect``, after the 5 s timeout).
CLOSED_PORT_DSN = "postgresql://axon:s3cr3t-pw@127.0.0.1:1/nowhere?sslmode=disable"


def make_backend(
    dsn: str, store: str = "", namespace: str | None = None, capacity: int = 4
) -> PostgresStoreBackend:
    """A backend on ``dsn`` (no I/O until the first operation)."""
    return PostgresStoreBackend.connect_named_sized(dsn, store, namespace, capacity)


def resolve_count(wire_log: WireLog, mark: int) -> int:
    """How many catalog resolutions (the ``to_regclass`` query) went over the wire since ``mark``."""
    return sum(1 for event in wire_log.parses(mark) if "to_regclass" in event.detail)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def statements(wire_log: WireLog, mark: int) -> list[str]:
    """The parameterised statements (Parse messages) sent since ``mark``, transaction control left out
    (the miss path pipelines its ``BEGIN`` with the catalog query)."""
    return [e.detail for e in wire_log.parses(mark) if e.detail not in _TRANSACTION_CONTROL]


def sessions(
    admin: psycopg.Connection[Any], store: str, namespace: str | None = None
) -> list[tuple[Any, ...]]:
    """``(pid, state, query)`` of every server backend carrying ``store``'s application_name."""
    name = application_name(store, namespace)
    return admin.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = %s ORDER BY pid", [name]
    ).fetchall()


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False).

    It sleeps on the event loop, so the pool's background work (returning connections) goes on.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)


def with_params(dsn: str, **params: Any) -> str:
    """``dsn`` with connection parameters replaced (``password=…``, ``dbname=…``)."""
    return make_conninfo(dsn, **params)


def lane_of(request: pytest.FixtureRequest) -> str:
    """``direct`` or ``pooler``: the lane a test parametrized by the ``dsn`` fixture runs on."""
    callspec = getattr(request.node, "callspec", None)
    return str(callspec.params.get("dsn", "direct")) if callspec is not None else "direct"


def dbname_of(dsn: str) -> str:
    """The database a DSN names."""
    return str(conninfo_to_dict(dsn)["dbname"])


def count(admin: psycopg.Connection[Any], relation: str) -> int:
    """``count(*)`` of a relation (``relation`` is a trusted test identifier, possibly qualified)."""
    row = admin.execute(f"SELECT count(*) FROM {relation}").fetchone()
    assert row is not None
    return int(row[0])
