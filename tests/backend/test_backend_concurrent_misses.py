"""Operations that miss the schema cache together introspect the table once (issue 12 §3): the others
wait for the first and find its schema in the cache — in threads (sync) and in tasks (async)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg

from axonstore import sync as axon_sync
from tests._wire import WireLog
from tests.backend import make_backend, resolve_count


def _table(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int)")


def test_sixteen_threads_that_miss_together_introspect_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _table(admin, unique_name)
    mark = wire_log.mark()
    errors: list[BaseException] = []
    start = threading.Barrier(16)
    with axon_sync.PostgresStoreBackend.connect_named_sized(dsn, "misses", None, 4) as backend:

        def work(i: int) -> None:
            start.wait()
            try:
                backend.insert(unique_name, {"id": i, "n": i})
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert resolve_count(wire_log, mark) == 1
    assert admin.execute(f"SELECT count(*) FROM {unique_name}").fetchone() == (16,)


async def test_sixteen_tasks_that_miss_together_introspect_once(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _table(admin, unique_name)
    mark = wire_log.mark()
    async with make_backend(dsn, capacity=4) as backend:
        counts = await asyncio.gather(*(backend.insert(unique_name, {"id": i, "n": i}) for i in range(16)))
    assert counts == [1] * 16
    assert resolve_count(wire_log, mark) == 1
