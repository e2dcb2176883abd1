"""Read replicas (CONTRACT §13): read throughput over 1, 2 and 3 endpoints, and what session mode costs.

Starts its own primary and two streaming standbys (``tests/replicas/_cluster.py``: the test suite's
recipe, no Docker; standby2 replays 2 s late) and stops them by PID at the end. Then:

* **throughput** — ``--tasks`` (32) concurrent readers doing ``query(t, "id = '${id}'")`` for
  ``--seconds`` each over: the primary alone (``reads="primary"``); the primary + standby1
  (``reads="replica"``); the primary + both standbys. Reported: ops/s, p50/p95 latency, and the
  primary's share of the reads (from ``routing_stats()``). On this machine (2 cores shared by the client
  and every server) reads scale with readers only as far as those cores allow;
* **session mode right after a write** — sequentially, ``mutate`` then at once ``query`` of that row:
  write and read latency (p50/p95) in ``primary`` mode (no readers) and in ``session`` mode (readers
  set: the write also reads its commit LSN after COMMIT; the read goes to the primary until a reader
  has replayed it), and where the session's reads landed; then the same with a 1.2 s pause between
  write and read (the undelayed standby has the write by then).

    .venv/bin/python bench/replicas_bench.py             # ~1 min
    .venv/bin/python bench/replicas_bench.py --quick     # ~25 s
    .venv/bin/python bench/replicas_bench.py --json      # JSON on stdout, the report on stderr
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # the harness lives in tests/, next to bench/
    sys.path.insert(0, str(_REPO))

from tests.replicas._cluster import ReplicaSet, start_replica_set  # noqa: E402

from axonstore import PostgresStoreBackend  # noqa: E402

TABLE = "bench_replicas"
ROWS = 1000


def _setup(replicas: ReplicaSet) -> None:
    replicas.primary.sql(f"CREATE TABLE {TABLE} (id int4 PRIMARY KEY, v text)")
    replicas.primary.sql(f"INSERT INTO {TABLE} SELECT g, 'v' || g FROM generate_series(1, {ROWS}) g")
    replicas.primary.sql(f"VACUUM ANALYZE {TABLE}")
    replicas.wait_replayed()


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3) if ordered else 0.0


async def _ready(backend: PostgresStoreBackend, count: int) -> None:
    """Until the probes have let every reader in."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        readers = list(backend.routing_stats().values())[1:]
        if len(readers) == count and all(r["healthy"] and r["lag_ms"] is not None for r in readers):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"readers not in: {backend.routing_stats()}")


async def throughput(replicas: ReplicaSet, readers: list[str], tasks: int, seconds: float) -> dict[str, Any]:
    mode = "replica" if readers else "primary"
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, TABLE, None, 8, readers=readers, reads=mode
    )
    latencies: list[float] = []
    async with backend:
        await backend.ping()
        await _ready(backend, len(readers))
        for _ in range(50):  # warm every endpoint's pool and the schema cache
            await backend.query(TABLE, "id = '${id}'", {"id": "1"})
        before = backend.routing_stats()
        stop = time.monotonic() + seconds

        async def reader(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop:
                started = time.perf_counter()
                rows = await backend.query(TABLE, "id = '${id}'", {"id": str(rng.randint(1, ROWS))})
                latencies.append(time.perf_counter() - started)
                assert len(rows) == 1

        began = time.monotonic()
        await asyncio.gather(*(reader(s) for s in range(tasks)))
        elapsed = time.monotonic() - began
        after = backend.routing_stats()
    counts = {k: after[k]["reads"] - before[k]["reads"] for k in after}
    total = sum(counts.values())
    primary = next(iter(counts.values()))
    return {
        "endpoints": 1 + len(readers),
        "reads": mode,
        "ops_per_s": round(len(latencies) / elapsed),
        "p50_ms": _ms(latencies, 0.5),
        "p95_ms": _ms(latencies, 0.95),
        "primary_share": round(primary / total, 3) if total else None,
        "reads_by_endpoint": list(counts.values()),
    }


async def after_write(
    replicas: ReplicaSet, readers: list[str], mode: str, pairs: int, pause: float
) -> dict[str, Any]:
    backend = PostgresStoreBackend.connect_named_sized(
        replicas.primary.dsn, TABLE, None, 4, readers=readers, reads=mode
    )
    writes: list[float] = []
    reads: list[float] = []
    stale = 0
    async with backend:
        await backend.ping()
        await _ready(backend, len(readers))
        for _ in range(20):
            await backend.query(TABLE, "id = '1'")
            await backend.mutate(TABLE, "id = '1'", {"v": "warm"})
        before = backend.routing_stats()
        for k in range(pairs):
            key = str(1 + k % ROWS)
            value = f"p{k}"
            started = time.perf_counter()
            await backend.mutate(TABLE, "id = '${id}'", {"v": value}, {"id": key})
            writes.append(time.perf_counter() - started)
            if pause:
                await asyncio.sleep(pause)
            started = time.perf_counter()
            rows = await backend.query(TABLE, "id = '${id}'", {"id": key})
            reads.append(time.perf_counter() - started)
            stale += rows[0]["v"] != value
        after = backend.routing_stats()
    counts = [after[k]["reads"] - before[k]["reads"] for k in after]
    return {
        "reads": mode,
        "readers": len(readers),
        "pause_s": pause,
        "pairs": pairs,
        "write_p50_ms": _ms(writes, 0.5),
        "write_p95_ms": _ms(writes, 0.95),
        "read_p50_ms": _ms(reads, 0.5),
        "read_p95_ms": _ms(reads, 0.95),
        "reads_on_primary": counts[0],
        "reads_on_readers": sum(counts[1:]),
        "stale": stale,
    }


async def run(args: argparse.Namespace, replicas: ReplicaSet) -> dict[str, Any]:
    s1, s2 = (s.dsn for s in replicas.standbys)
    results: dict[str, Any] = {"throughput": [], "after_write": []}
    for readers in ([], [s1], [s1, s2]):
        results["throughput"].append(await throughput(replicas, readers, args.tasks, args.seconds))
    pairs = 60 if args.quick else 200
    results["after_write"].append(await after_write(replicas, [], "primary", pairs, 0.0))
    results["after_write"].append(await after_write(replicas, [s1, s2], "session", pairs, 0.0))
    results["after_write"].append(
        await after_write(replicas, [s1, s2], "session", 6 if args.quick else 12, 1.2)
    )
    return results


def report(results: dict[str, Any], out: Any) -> None:
    print("read throughput, 32 concurrent readers (one client process):", file=out)
    print(
        f"  {'endpoints':>9} {'reads':>8} {'ops/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'primary share':>13}",
        file=out,
    )
    for r in results["throughput"]:
        share = "-" if r["primary_share"] is None else f"{r['primary_share']:.1%}"
        print(
            f"  {r['endpoints']:>9} {r['reads']:>8} {r['ops_per_s']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} "
            f"{share:>13}",
            file=out,
        )
    print("write, then read the written row:", file=out)
    for r in results["after_write"]:
        print(
            f"  {r['reads']:>8} readers={r['readers']} pause={r['pause_s']}s pairs={r['pairs']}: write p50 "
            f"{r['write_p50_ms']} ms (p95 {r['write_p95_ms']}), read p50 {r['read_p50_ms']} ms (p95 "
            f"{r['read_p95_ms']}); reads on primary {r['reads_on_primary']}, on readers "
            f"{r['reads_on_readers']}; stale {r['stale']}",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the replica set is stopped (by PID) however it ends."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases (~25 s)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout; the report goes to stderr")
    parser.add_argument("--tasks", type=int, default=32, help="concurrent readers (default 32)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per throughput phase")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 8.0
    replicas = start_replica_set()
    try:
        _setup(replicas)
        results = asyncio.run(run(args, replicas))
    finally:
        replicas.stop()
    report(results, sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
