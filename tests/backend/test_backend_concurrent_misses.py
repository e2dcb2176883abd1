"""Operations that miss the schema cache together introspect the table once (issue 12 §3): the others
wait for the first and find its schema in the cache (tasks here, on both flavours; threads in
tests/sync)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from tests._wire import WireLog
from tests.backend import make_backend, resolve_count


def _table(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int)")


async def test_sixteen_tasks_that_miss_together_introspect_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _table(admin, unique_name)
    mark = wire_log.mark()
    async with make_backend(dsn, capacity=4) as backend:
        counts = await asyncio.gather(*(backend.insert(unique_name, {"id": i, "n": i}) for i in range(16)))
    assert counts == [1] * 16
    assert resolve_count(wire_log, mark) == 1
