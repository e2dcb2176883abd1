"""What the page transaction of an MCP retrieve costs on the wire layer: one ``SELECT`` against the same
``SELECT`` after the settings statement (CONTRACT §15: every call in a transaction with ``SET LOCAL
statement_timeout``), sent two ways — psycopg's pipeline, as ``run_page_alone`` sends it, and libpq's
pipeline driven through ``psycopg.pq`` (both statements and the Sync in one write, then one read loop).

A measurement for a design decision, not a goal: the second way is not in the package (it would bypass
psycopg's connection state for one statement pair). The three series share one connection, take turns
in blocks of ``--calls`` and are checked to return the same rows; direct and through PgBouncer
(``pool_mode=transaction``). Rows come back as tuples in all three.

    python bench/pipeline_bench.py [--calls 200] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from _servers import bench_servers, load  # bench/_servers.py: puts the repository on sys.path
from axonstore.backend.connections import READ_ONLY_TIMEOUT_SQL

_TABLE: Final = "pipeline_bench"
_SELECT: Final = (
    f'SELECT "id", "status", "amount" FROM "{_TABLE}" WHERE "org_id" = $1 AND "id" = $2 '
    'ORDER BY "id" LIMIT 51'
)
Call = Callable[[int], Awaitable[list[tuple[Any, ...]]]]


async def _ready(fd: int, *, read: bool) -> None:
    """Until ``fd`` can be read (or written), on the running loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    if read:
        loop.add_reader(fd, done.set_result, None)
    else:
        loop.add_writer(fd, done.set_result, None)
    try:
        await done
    finally:
        if read:
            loop.remove_reader(fd)
        else:
            loop.remove_writer(fd)


async def _libpq_pipeline(conn: psycopg.AsyncConnection[Any], key: int) -> list[tuple[Any, ...]]:
    """The settings statement and the ``SELECT`` in libpq's pipeline: one write, one read loop."""
    wire, adapt = conn.pgconn, Transformer(conn)
    params = adapt.dump_sequence([42, key], [PyFormat.AUTO] * 2)
    wire.enter_pipeline_mode()
    wire.send_query_params(READ_ONLY_TIMEOUT_SQL.encode(), [b"5000"], None, None, 0)
    wire.send_query_params(_SELECT.encode(), params, adapt.types, adapt.formats, 1)
    wire.pipeline_sync()
    while wire.flush():
        await _ready(wire.socket, read=False)
    results = []
    while True:
        while wire.is_busy():
            await _ready(wire.socket, read=True)
            wire.consume_input()
        result = wire.get_result()
        if result is None:
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            break
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            raise RuntimeError(f"unexpected {pq.ExecStatus(result.status).name}")
        results.append(result)
    wire.exit_pipeline_mode()
    adapt.set_pgresult(results[-1])
    return adapt.load_rows(0, results[-1].ntuples, tuple)


async def _lane(dsn: str, calls: int, rounds: int) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.AsyncRawCursor
    ) as conn:
        cursor = conn.cursor()

        async def one_select(key: int) -> list[tuple[Any, ...]]:
            await cursor.execute(_SELECT, [42, key])
            return [tuple(row) for row in await cursor.fetchall()]

        async def psycopg_pipeline(key: int) -> list[tuple[Any, ...]]:
            async with conn.pipeline():
                await cursor.execute(READ_ONLY_TIMEOUT_SQL, ["5000"])
                await cursor.execute(_SELECT, [42, key])
            return [tuple(row) for row in await cursor.fetchall()]

        async def libpq_pipeline(key: int) -> list[tuple[Any, ...]]:
            return await _libpq_pipeline(conn, key)

        series: dict[str, Call] = {
            "one SELECT": one_select,
            "settings + SELECT, psycopg's pipeline": psycopg_pipeline,
            "settings + SELECT, libpq's pipeline": libpq_pipeline,
        }
        first = [await call(7) for call in series.values()]
        if any(rows != first[0] or not rows for rows in first):
            raise SystemExit(f"the series disagree: {first}")
        per_call: dict[str, list[float]] = {name: [] for name in series}
        for _ in range(rounds):
            for name, call in series.items():
                start = time.perf_counter()
                for i in range(calls):
                    await call(i % 1000 + 1)
                per_call[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: statistics.median(values) for name, values in per_call.items()}


def _setup(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{_TABLE}"')
        conn.execute(
            f'CREATE TABLE "{_TABLE}" (id int4 PRIMARY KEY, org_id int4, status text, amount numeric)'
        )
        conn.execute(
            f"INSERT INTO \"{_TABLE}\" SELECT g, 42, 'open', g * 1.5 FROM generate_series(1, 1000) g"
        )


def main(argv: list[str] | None = None) -> int:
    """Both lanes, on servers started for the run (or ``$AXON_BENCH_DATABASE_URL``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    with bench_servers(pooler=True) as servers:
        _setup(servers.pg.admin_dsn)
        print(f"pipeline_bench: PostgreSQL {servers.source}; {load()}")
        for lane, dsn in servers.lanes:
            medians = asyncio.run(_lane(dsn, options.calls, options.rounds))
            base = medians["one SELECT"]
            print(f"{lane} (median of {options.rounds} rounds × {options.calls}):")
            for name, us in medians.items():
                print(f"  {name:>38}: {us:7.1f} µs  (+{us - base:5.1f} over one SELECT)")
        print(f"done; {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
