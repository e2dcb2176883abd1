"""What the replica tests share: tables on the set, reads counted by the servers, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from psycopg import sql

from tests.replicas._cluster import Node, ReplicaSet


def make_table(replicas: ReplicaSet, name: str, rows: int = 20) -> None:
    """``name (id int4 PRIMARY KEY, v text)`` with ``rows`` rows, replayed on every running standby."""
    table = sql.Identifier(name)
    replicas.primary.sql(sql.SQL("CREATE TABLE {} (id int4 PRIMARY KEY, v text)").format(table))
    replicas.primary.sql(
        sql.SQL("INSERT INTO {} SELECT g, 'v' || g FROM generate_series(1, %s) g").format(table), (rows,)
    )
    replicas.wait_replayed()


def scans(node: Node, table: str) -> int:
    """Reads of ``table`` this server has run itself (its own statistics: sequential + index scans)."""
    rows = node.sql(
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = %s",
        (table,),
    )
    return int(rows[0][0]) if rows else 0


def settled_scans(node: Node, table: str, expected: int, timeout: float = 5.0) -> int:
    """The server's count once it stops moving toward ``expected`` (a closed session flushes its
    statistics as it exits, a moment after the client closed it)."""
    deadline = time.monotonic() + timeout
    count = scans(node, table)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = scans(node, table)
    return count


def reads_of(stats: dict[str, dict[str, Any]], node: Node) -> int:
    """The reads axonstore counted for ``node`` (matched by its port in the masked DSN)."""
    return sum(entry["reads"] for key, entry in stats.items() if f":{node.port}/" in key)


def entry_of(stats: dict[str, dict[str, Any]], node: Node) -> dict[str, Any]:
    """``node``'s ``routing_stats()`` entry."""
    return next(entry for key, entry in stats.items() if f":{node.port}/" in key)


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll on the event loop (the probe task goes on) until ``predicate()`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def wait_until_sync(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """:func:`wait_until` for the sync flavour (its probe is a thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
