"""Round trips on the caller's path, counted on the wire (CONTRACT §8½): a warm op is one, a cold-cache
op at most three (BEGIN pipelined with the introspection; the statement; COMMIT)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests._wire import WireLog
from tests.backend import make_backend


def _table(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, name text, tags text[])")
    admin.execute(f"INSERT INTO {name} SELECT i, 'n' || i, ARRAY['a'] FROM generate_series(1, 5) AS i")


@pytest.mark.parametrize("verb", ["query", "insert", "mutate", "purge", "page", "stream"])
async def test_a_cold_op_costs_at_most_three_round_trips_and_a_warm_one_one(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog, verb: str
) -> None:
    _table(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        await backend.ping()  # the pool's connection exists: what follows is the operation alone

        async def run(n: int) -> None:
            if verb == "query":
                assert len(await backend.query(unique_name, "id = 1")) == 1
            elif verb == "insert":
                assert await backend.insert(unique_name, {"id": 100 + n, "name": "x"}) == 1
            elif verb == "mutate":
                assert await backend.mutate(unique_name, "id = 2", {"name": f"y{n}"}) == 1
            elif verb == "purge":
                assert await backend.purge(unique_name, f"id = {200 + n}") == 0
            elif verb == "page":
                assert len((await backend.page(unique_name, order_by="name", size=2)).rows) == 2
            else:
                assert len((await backend.stream_retrieve(unique_name, order_by="id")).rows) >= 5

        cold = wire_log.mark()
        await run(0)
        assert wire_log.round_trips(cold) <= 3
        warm = wire_log.mark()
        await run(1)
        assert wire_log.round_trips(warm) == 1


async def test_a_transaction_with_a_timeout_begins_in_one_round_trip(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    _table(admin, unique_name)
    async with make_backend(dsn, capacity=1) as backend:
        await backend.warm_schema(unique_name)
        mark = wire_log.mark()
        async with backend.transaction(read_only=True, statement_timeout_ms=5_000) as tx:
            assert len(await backend.query(unique_name, "id = 1", conn=tx)) == 1
        assert wire_log.round_trips(mark) == 3  # BEGIN + set_config, the SELECT, COMMIT
