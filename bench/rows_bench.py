"""Streaming throughput with axonstore's row decoding vs raw psycopg (CONTRACT §8½: ≥ 0.7×).

Both sides stream the same ``SELECT`` of 200 000 rows of (int8, text, numeric, timestamptz, bool) over
one ``AsyncConnection`` each (``prepare_threshold=None``, autocommit) with ``cursor.stream()``: raw
uses psycopg's default adapters and ``dict_row`` (Decimal, datetime…); ours uses
``axonstore.rows.ADAPTERS`` and a ``TypeRegistry`` row factory (JSON-safe dicts). Runs alternate so
that machine noise hits both; medians of wall time and of this process's CPU time are compared.
``--size N`` streams in chunks of N rows (libpq ≥ 17), where decoding weighs more.

    python bench/rows_bench.py --dsn postgresql://postgres@127.0.0.1:5432/postgres [--timezone Asia/Kolkata]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from axonstore.rows import ADAPTERS, TypeRegistry

_TABLE = "axon_rows_bench"
_SETUP = f"""
DROP TABLE IF EXISTS {_TABLE};
CREATE UNLOGGED TABLE {_TABLE} AS
SELECT g::int8 AS id, 'name-' || g AS name, (g * 1.25)::numeric(12, 2) AS amount,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 seconds' AS at, g % 2 = 0 AS flag
FROM generate_series(1, %(rows)s) AS g
"""
_SELECT = f"SELECT id, name, amount, at, flag FROM {_TABLE}"


async def _drain(conn: psycopg.AsyncConnection[Any], size: int) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds to stream the table once."""
    start, cpu = time.perf_counter(), time.process_time()
    async with conn.cursor() as cur:
        async for _row in cur.stream(_SELECT, size=size):
            pass
    return time.perf_counter() - start, time.process_time() - cpu


def _report(rows: int, raw_runs: list[tuple[float, float]], our_runs: list[tuple[float, float]]) -> None:
    for label, index in (("wall", 0), ("client CPU", 1)):
        raw_rate = rows / statistics.median(run[index] for run in raw_runs)
        our_rate = rows / statistics.median(run[index] for run in our_runs)
        print(
            f"{label:>10}: raw psycopg dict_row {raw_rate:10,.0f} rows/s,"
            f" axonstore {our_rate:10,.0f} rows/s, ratio {our_rate / raw_rate:.2f}x"
        )


async def _main(dsn: str, rows: int, rounds: int, timezone: str, size: int) -> int:
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
    raw = await psycopg.AsyncConnection.connect(dsn, row_factory=dict_row, **kwargs)
    ours = await psycopg.AsyncConnection.connect(
        dsn, context=ADAPTERS, row_factory=TypeRegistry().row_factory, **kwargs
    )
    try:
        await raw.execute(_SETUP.replace("%(rows)s", str(int(rows))).encode())
        for conn in (raw, ours):
            await conn.execute(f"SET TIME ZONE '{timezone}'".encode())
            await _drain(conn, size)  # warm caches on both sides
        raw_runs, our_runs = [], []
        for _ in range(rounds):
            raw_runs.append(await _drain(raw, size))
            our_runs.append(await _drain(ours, size))
        print(f"rows={rows} rounds={rounds} TimeZone={timezone} stream size={size} (medians)")
        _report(rows, raw_runs, our_runs)
        await raw.execute(f"DROP TABLE {_TABLE}".encode())
    finally:
        await raw.close()
        await ours.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark against ``--dsn`` (default: ``AXON_TEST_DATABASE_URL``)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("AXON_TEST_DATABASE_URL"))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--size", type=int, default=1, help="rows per streamed chunk (1: single-row mode)")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("give --dsn or set AXON_TEST_DATABASE_URL")
    return asyncio.run(_main(args.dsn, args.rows, args.rounds, args.timezone, args.size))


if __name__ == "__main__":
    sys.exit(main())
