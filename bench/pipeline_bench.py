"""What the page transaction of an MCP retrieve costs on the wire layer: one ``SELECT`` against the same
``SELECT`` after the settings statement (CONTRACT §15: every call in a transaction with ``SET LOCAL
statement_timeout``), sent two ways — psycopg's pipeline, as ``run_page_alone`` sends it, and libpq's
pipeline driven through ``psycopg.pq`` (both statements and the Sync in one write, then one read loop).

The second way is ``axonstore.backend.pipeline.settled_rows``, what ``run_page_alone`` runs since
2026-12-04 (the measurement that decided it). The three series share one connection, take turns in
blocks of ``--calls`` and are checked to return the same rows; direct and through PgBouncer
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

from _servers import bench_servers, load  # bench/_servers.py: puts the repository on sys.path
from axonstore.backend.connections import READ_ONLY_TIMEOUT_SQL
from axonstore.backend.pipeline import settled_rows

_TABLE: Final = "pipeline_bench"
_SELECT: Final = (
    f'SELECT "id", "status", "amount" FROM "{_TABLE}" WHERE "org_id" = $1 AND "id" = $2 '
    'ORDER BY "id" LIMIT 51'
)
Call = Callable[[int], Awaitable[list[tuple[Any, ...]]]]


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
            return await settled_rows(conn, _SELECT, [42, key], 5000, lambda _conn, _result: tuple)

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
