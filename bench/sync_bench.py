"""The synchronous API: warm get / insert / update, ``axonstore.sync`` vs raw psycopg's sync pool (issue 12).

One run measures, on the same server, **direct** and **through PgBouncer 1.18** (``pool_mode=transaction``,
``default_pool_size=2``), **sequential** (one thread) and **concurrent** (``--threads`` threads, 16 by
default), each contender with its own pool of ``--capacity`` (4) connections:

* **axonstore** — ``axonstore.sync.PostgresStoreBackend.connect_named_sized(dsn, "bench", None, 4)``:
  ``query(t, "id = '${id}'", {"id": k})``, ``insert(t, {...})``, ``mutate(t, "id = '${id}'", {...}, {...})``,
  one backend shared by every thread;
* **raw psycopg** — the pool a user writes (issue 12's Proof): ``psycopg_pool.ConnectionPool`` with
  ``prepare_threshold=None``, autocommit, **no reset and no check**, the same size and timeouts,
  ``RawCursor`` (``$n`` placeholders), psycopg's default loaders and ``dict_row``, and **the SQL text
  axonstore sends** — rendered by axonstore's own builders and checked against what the sync backend
  puts on the wire (``tests._wire``; printed at the start).

The table, keys and values are ``ops_bench.py``'s (5 000 rows: text key, int8, numeric, timestamptz,
bool). Every op's result is checked (1 row / 1 row affected); concurrent threads never touch the same
row in a block. Contenders run in blocks of ops interleaved in rounds (the first contender rotates),
after a ``gc.collect()`` and a warm-up of both; medians over rounds: ops/s (``×raw``), p50 latency, the
process's CPU µs per op (all threads), and the quartiles of the per-round paired ratio.

Goal printed with PASS/MISS per cell: axonstore ≥ 0.90× raw psycopg's ops/s (issue 12).

``$AXON_BENCH_DATABASE_URL`` uses an external server (PgBouncer is started in front of it); otherwise
PostgreSQL and PgBouncer are started here (``tests._servers``) and stopped by PID at the end.

    .venv/bin/python bench/sync_bench.py            # full run: 15 rounds (~4 min on 2 quiet cores)
    .venv/bin/python bench/sync_bench.py --quick    # ~30 s smoke run (3 rounds, small blocks)
    .venv/bin/python bench/sync_bench.py --json     # JSON on stdout, the report on stderr
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Final, TextIO

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

import _servers  # bench/_servers.py: the test harness's servers and wire logger
from _servers import WireLog, WireLogger
from axonstore.backend.connections import ACQUIRE_TIMEOUT, MAX_IDLE, MAX_LIFETIME
from axonstore.sql import build_insert_sql, build_select_sql, build_update_sql
from axonstore.sync import PostgresStoreBackend
from ops_bench import (  # the table, the ops and the reporting are ops_bench's
    OPS,
    ROWS,
    TABLE,
    WHERE,
    Sample,
    Statements,
    _expect,
    _insert_values,
    _key,
    _new_key,
    _update_values,
    drop_table,
    setup_table,
    summarize,
)

GOAL_RAW_RATIO: Final = 0.90  # issue 12: ≥ 0.90× raw psycopg's sync ConnectionPool

Op = Callable[[int], int]


class Contender:
    """One client: ``get(i)``, ``insert(i)``, ``update(i)`` each run one op and return 1."""

    name = "?"
    tag = "?"

    def get(self, i: int) -> int:
        raise NotImplementedError

    def insert(self, i: int) -> int:
        raise NotImplementedError

    def update(self, i: int) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def op(self, name: str) -> Op:
        """The bound method for op ``name``."""
        method: Op = getattr(self, name)
        return method


class Axon(Contender):
    """``axonstore.sync.PostgresStoreBackend`` (its pool opens on the first op), shared by all threads."""

    name, tag = "axonstore", "sax"

    def __init__(self, dsn: str, capacity: int) -> None:
        self.backend = PostgresStoreBackend.connect_named_sized(dsn, "bench", None, capacity)

    def get(self, i: int) -> int:
        return len(self.backend.query(TABLE, WHERE, {"id": _key(i)}))

    def insert(self, i: int) -> int:
        return self.backend.insert(TABLE, _insert_values(_new_key(self.tag), i))

    def update(self, i: int) -> int:
        return self.backend.mutate(TABLE, WHERE, _update_values(i), {"id": _key(i)})

    def close(self) -> None:
        self.backend.close()


class RawPsycopg(Contender):
    """The sync pool a user writes: no reset, no check; the same SQL text as axonstore."""

    name, tag = "raw psycopg", "sraw"

    def __init__(self, dsn: str, capacity: int, sql: Statements) -> None:
        self.sql = sql
        self.pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=0,
            max_size=max(capacity, 1),
            open=False,
            timeout=ACQUIRE_TIMEOUT,
            max_idle=MAX_IDLE,
            max_lifetime=MAX_LIFETIME,
            name="bench/raw-sync",
            kwargs={
                "prepare_threshold": None,
                "autocommit": True,
                "application_name": "bench/raw-sync",
                "cursor_factory": psycopg.RawCursor,
            },
        )
        self.pool.open(wait=False)

    def get(self, i: int) -> int:
        with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            cursor.execute(self.sql.get, [_key(i)])
            return len(cursor.fetchall())

    def insert(self, i: int) -> int:
        return self._write(self.sql.insert, list(_insert_values(_new_key(self.tag), i).values()))

    def update(self, i: int) -> int:
        return self._write(self.sql.update, [*_update_values(i).values(), _key(i)])

    def _write(self, sql: str, params: list[object]) -> int:
        with self.pool.connection() as conn:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return int(cursor.rowcount)

    def close(self) -> None:
        self.pool.close()


# --------------------------------------------------------------------------------------------------
# The SQL: axonstore's builders, checked against the sync backend's wire


def statements(dsn: str) -> Statements:
    """What axonstore's builders render for the three ops on the bench table."""
    with PostgresStoreBackend.connect_named_sized(dsn, "bench", None, 1) as backend:
        resolved = backend.refresh_schema(TABLE)
    schema, types = resolved.schema, resolved.column_types
    bindings = {"id": _key(7)}
    get, _ = build_select_sql(TABLE, schema, WHERE, bindings, types)
    insert, _ = build_insert_sql(TABLE, schema, list(_insert_values("x", 7).items()), types)
    update, _ = build_update_sql(TABLE, schema, WHERE, list(_update_values(7).items()), bindings, types)
    return Statements(get, insert, update)


def check_wire(servers: _servers.Servers, sql: Statements, out: TextIO) -> dict[str, list[str]]:
    """One warm op of each kind by the sync backend through a wire logger: its Parse texts must be ours."""
    pg, log = servers.pg, WireLog()
    seen: dict[str, list[str]] = {}
    with WireLogger(pg.host, pg.port, log, lane="bench") as wire:
        dsn = _servers.make_url(wire.host, wire.port, user=pg.user, password=pg.password, dbname=pg.dbname)
        axon = Axon(dsn, 1)
        try:
            for n, op in enumerate(OPS):
                _expect(f"warm-up {op}", axon.op(op)(1 + 10 * n))
                mark = log.mark()
                _expect(f"observed {op}", axon.op(op)(2 + 10 * n))
                parses = log.parses(mark)
                seen[op] = [e.detail for e in parses]
                if [e.name for e in parses if e.name]:
                    raise RuntimeError(f"{op}: the sync backend sent a named statement: {parses}")
                if seen[op] != [getattr(sql, op)]:
                    raise RuntimeError(f"{op}: wire {seen[op]!r} ≠ builder {getattr(sql, op)!r}")
        finally:
            axon.close()
    print("\nSQL on the wire (sync axonstore, one warm op each; raw psycopg sends the same text):", file=out)
    for op, texts in seen.items():
        print(f"  {op:<7}{' | '.join(texts)}", file=out)
    return seen


# --------------------------------------------------------------------------------------------------
# Measuring


_BLOCKS: Final = itertools.count(0)
_BLOCK_STRIDE: Final = 7_919  # a prime: each block starts elsewhere in the table


def _worker(run: Op, indexes: Sequence[int], out: list[float], start: threading.Barrier | None) -> None:
    if start is not None:
        start.wait()
    clock = time.perf_counter
    for i in indexes:
        began = clock()
        got = run(i)
        out.append(clock() - began)
        if got != 1:
            _expect("op", got)


def run_block(run: Op, ops: int, threads: int, executor: ThreadPoolExecutor) -> Sample:
    """``ops`` ops split over ``threads`` threads (released together); no two threads share a row."""
    base = next(_BLOCKS) * _BLOCK_STRIDE
    latencies: list[list[float]] = [[] for _ in range(threads)]
    gc.collect()
    if threads == 1:
        began, cpu = time.perf_counter(), time.process_time()
        _worker(run, range(base, base + ops), latencies[0], None)
    else:
        barrier = threading.Barrier(threads + 1)
        futures = [
            executor.submit(_worker, run, range(base + t, base + ops, threads), latencies[t], barrier)
            for t in range(threads)
        ]
        barrier.wait()
        began, cpu = time.perf_counter(), time.process_time()
        for future in futures:
            future.result()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    flat = [x for part in latencies for x in part]
    return Sample(ops / elapsed, statistics.median(flat) * 1e6, cpu / ops * 1e6)


@dataclass
class Config:
    """How much to measure."""

    rounds: int
    seq_ops: int
    conc_ops: int
    warm_ops: int
    threads: int
    capacity: int


FULL: Final = Config(rounds=15, seq_ops=300, conc_ops=800, warm_ops=300, threads=16, capacity=4)
QUICK: Final = Config(rounds=3, seq_ops=150, conc_ops=320, warm_ops=100, threads=16, capacity=4)


def measure_lane(dsn: str, sql: Statements, cfg: Config, log: TextIO) -> dict[str, Any]:
    """Sequential and concurrent modes on one lane; blocks interleaved, the first contender rotating."""
    if max(cfg.seq_ops, cfg.conc_ops) > ROWS:
        raise SystemExit(f"a block must not exceed {ROWS} ops (rows would be shared between threads)")
    players: list[Contender] = [Axon(dsn, cfg.capacity), RawPsycopg(dsn, cfg.capacity, sql)]
    out: dict[str, Any] = {}
    try:
        with ThreadPoolExecutor(max_workers=cfg.threads) as executor:
            for mode, threads, ops in (
                ("sequential", 1, cfg.seq_ops),
                ("concurrent", cfg.threads, cfg.conc_ops),
            ):
                for player in players:  # warm: fill the pool, cache the schema, load the code paths
                    for op in OPS:
                        run_block(player.op(op), cfg.warm_ops, cfg.threads, executor)
                        run_block(player.op(op), cfg.warm_ops // 2, 1, executor)
                by_op: dict[str, dict[str, list[Sample]]] = {op: {p.name: [] for p in players} for op in OPS}
                for op in OPS:
                    for r in range(cfg.rounds):
                        shift = r % len(players)
                        for player in players[shift:] + players[:shift]:
                            by_op[op][player.name].append(run_block(player.op(op), ops, threads, executor))
                out[mode] = by_op
                print(f"    {mode} done ({_servers.load()})", file=log, flush=True)
    finally:
        for player in players:
            player.close()
    return out


# --------------------------------------------------------------------------------------------------
# Reporting


def print_cell(lane: str, mode: str, cfg: Config, data: dict[str, Any], out: TextIO) -> dict[str, Any]:
    """The table and the verdicts of one lane/mode; returns the summaries and verdicts."""
    threads = 1 if mode == "sequential" else cfg.threads
    ops = cfg.seq_ops if mode == "sequential" else cfg.conc_ops
    print(
        f"\n== {lane} · {mode}: {threads} thread(s), pool {cfg.capacity}, {cfg.rounds} rounds × {ops} ops"
        " — medians",
        file=out,
    )
    print(
        f"  {'op':<7}{'contender':<13}{'ops/s':>9}{'×raw':>7}{'p50 µs':>9}{'×raw':>7}{'CPU µs/op':>11}"
        f"{'×raw per round: q1 med q3':>27}",
        file=out,
    )
    report: dict[str, Any] = {}
    for op in OPS:
        summary = summarize(data[op])
        for n, (name, s) in enumerate(summary.items()):
            print(
                f"  {op if n == 0 else '':<7}{name:<13}{s['ops_s']:>9,.0f}{s['ratio']:>6.2f}×"
                f"{s['p50_us']:>9,.0f}{s['latency_ratio']:>6.2f}×{s['cpu_us']:>11,.0f}"
                f"{s['paired_q1']:>16.2f} {s['paired_median']:.2f} {s['paired_q3']:.2f}",
                file=out,
            )
        ratio = summary["axonstore"]["ratio"]
        ok = ratio >= GOAL_RAW_RATIO
        print(
            f"  {'':<7}{'PASS' if ok else 'MISS'}  axonstore ops/s vs raw psycopg: {ratio:.2f}×"
            f" (goal ≥ {GOAL_RAW_RATIO:.2f}×)",
            file=out,
        )
        report[op] = {
            "summary": summary,
            "passed": ok,
            "samples": {k: [asdict(s) for s in v] for k, v in data[op].items()},
        }
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 even when a goal is missed (the report says so)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of small blocks (~30 s)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout; the report goes to stderr")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--threads", type=int, help="threads of the concurrent mode (16)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    overrides = {k: v for k, v in (("rounds", args.rounds), ("threads", args.threads)) if v}
    cfg = Config(**{**asdict(cfg), **overrides})
    out = sys.stderr if args.json else sys.stdout
    with _servers.bench_servers(pooler=True) as servers:
        env = _servers.environment(servers.dsn, servers)
        print(f"sync_bench {'--quick' if args.quick else '(full)'}: {' '.join(sys.argv)}", file=out)
        _servers.print_environment(env, out)
        setup_table(servers.dsn)
        sql = statements(servers.dsn)
        wire = check_wire(servers, sql, out)
        results: dict[str, Any] = {}
        for lane, dsn in servers.lanes:
            print(f"\nmeasuring lane {lane} ({_servers.load()}) …", file=sys.stderr, flush=True)
            results[lane] = measure_lane(dsn, sql, cfg, sys.stderr)
        if servers.pooler_dsn is None:
            print(f"\n(no pgbouncer lane: {servers.pooler_note})", file=out)
        report = {
            lane: {mode: print_cell(lane, mode, cfg, data, out) for mode, data in modes.items()}
            for lane, modes in results.items()
        }
        cells = [c["passed"] for modes in report.values() for ops in modes.values() for c in ops.values()]
        print(
            f"\nOVERALL: {sum(cells)} of {len(cells)} cells ≥ {GOAL_RAW_RATIO:.2f}× raw psycopg"
            f" — {'every goal PASSED' if all(cells) else 'some goal MISSED (see MISS lines)'}",
            file=out,
        )
        drop_table(servers.dsn)
        env["load_at_end"] = _servers.load()
        print(f"\n{'load_at_end':>14}: {env['load_at_end']}", file=out)
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "config": asdict(cfg),
                    "sql": asdict(sql),
                    "wire": wire,
                    "results": report,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
