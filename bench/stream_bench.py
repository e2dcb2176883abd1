"""Streaming: axonstore ``stream_retrieve`` vs raw psycopg ``cursor.stream()`` — rows/s and peak RSS.

A table of ``--rows`` rows (int8, text, numeric(12,2), timestamptz, bool; 1 000 000 by default) is
drained, direct, by one connection per run, with ``prepare_threshold=None`` and autocommit on both sides
and the same SQL text (axonstore's own builder renders it; printed):

* **raw psycopg** — ``cursor.stream(sql, size=1000)`` (chunked, as axonstore streams), psycopg's default
  loaders (``Decimal``, ``datetime``) and ``dict_row``; once discarding each row, once keeping them all;
* **axonstore** — ``PostgresStoreBackend.stream_retrieve`` with JSON-safe decoding, under
  PAUSE_UPSTREAM, DROP_OLDEST and FAIL with ``max_rows`` large enough to keep every row, and under
  DEGRADE_QUALITY (which keeps every row whatever ``max_rows``) — every policy's throughput —, with
  DROP_OLDEST at ``max_rows`` 1 000 and 100 000 (reads every row, keeps a window: memory), with
  PAUSE_UPSTREAM at 1 000 (stops early), and with DROP_OLDEST 1 000 over a tenth of the table
  (``limit``): memory must follow ``max_rows``, not the rows read.

Each run is a **separate child process** (this script with ``--child``), so that its peak RSS is its own: it
connects and warms up (schema cache, loaders, one small stream), records its RSS, drains once, and reports
wall and CPU time and ``ru_maxrss`` − RSS-before-the-drain (the drain's peak growth; an upper bound if the
drain never exceeded the warm-up's peak). Runs are interleaved in rounds (the first one rotates); medians
are reported: rows/s over wall time (``×raw``) and over the child's CPU time (``CPU ×raw``, less sensitive
to other load on the machine). Goals: CONTRACT §8½'s ≥ 0.7× and issue 11's ≥ 0.90× raw psycopg's rows/s,
each axonstore run compared with the raw run that does the same with its rows (keeps them all, or keeps none
— a bounded window is compared with discarding); memory bounded by ``max_rows``. When a goal is missed (or
with ``--profile``), one drain each of raw psycopg and of axonstore DROP_OLDEST 1 000 is run again under
cProfile and the top functions by own time are printed.

``$AXON_BENCH_DATABASE_URL`` uses an external server; otherwise PostgreSQL is started here
(``tests._servers``) and stopped by PID at the end.

    .venv/bin/python bench/stream_bench.py            # full run: 1 000 000 rows, 5 rounds (~5 minutes)
    .venv/bin/python bench/stream_bench.py --quick    # 200 000 rows, 1 round
    .venv/bin/python bench/stream_bench.py --json     # JSON on stdout, the report on stderr
    .venv/bin/python bench/stream_bench.py --profile  # always add the two cProfile summaries
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, TextIO

import psycopg
from psycopg.rows import dict_row

import _servers  # bench/_servers.py: the test harness's servers
from axonstore import PostgresStoreBackend
from axonstore.sql import build_retrieve_sql
from axonstore.stream import Backpressure

TABLE: Final = "axon_stream_bench"
CHUNK: Final = 1_000  # rows per streamed chunk: what axonstore uses (libpq ≥ 17)
GOAL_RATIO: Final = 0.7
ISSUE_GOAL_RATIO: Final = 0.90  # issue 11: every policy ≥ 0.90× raw cursor.stream() with decoding
_SETUP: Final = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE UNLOGGED TABLE {TABLE} (
    id int8 NOT NULL, name text NOT NULL, amount numeric(12, 2) NOT NULL, at timestamptz NOT NULL,
    flag bool NOT NULL
);
INSERT INTO {TABLE}
SELECT g, 'name-' || g, (g * 1.25)::numeric(12, 2),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 seconds', g % 2 = 0
FROM generate_series(1, %(rows)s) g;
VACUUM (FREEZE, ANALYZE) {TABLE};
"""


@dataclass(frozen=True)
class Spec:
    """One child run: who drains, how, and what it keeps."""

    label: str
    contender: str  # "raw" | "axon"
    policy: str = ""  # axon: a Backpressure value
    max_rows: int = 0  # axon
    limit: int = 0  # axon: read only this many rows (0: all)
    keep: bool = False  # raw: keep every row in a list
    baseline: str = ""  # label of the raw run to compare with ("" for none)
    profile: bool = False  # run the drain under cProfile and return the top functions


def specs(rows: int) -> list[Spec]:
    """The runs of one round, in report order."""
    keep, discard = "raw psycopg, keep all", "raw psycopg, discard"
    pause, drop = Backpressure.PAUSE_UPSTREAM.value, Backpressure.DROP_OLDEST.value
    return [
        Spec(discard, "raw"),
        Spec(keep, "raw", keep=True),
        Spec(f"axon PAUSE_UPSTREAM max_rows={rows:,}", "axon", pause, rows, baseline=keep),
        Spec(f"axon DROP_OLDEST max_rows={rows:,}", "axon", drop, rows, baseline=keep),
        Spec(f"axon FAIL max_rows={rows:,}", "axon", Backpressure.FAIL.value, rows, baseline=keep),
        Spec("axon DEGRADE_QUALITY", "axon", Backpressure.DEGRADE_QUALITY.value, 1_000, baseline=keep),
        Spec("axon DROP_OLDEST max_rows=100,000", "axon", drop, 100_000, baseline=discard),
        Spec("axon DROP_OLDEST max_rows=1,000", "axon", drop, 1_000, baseline=discard),
        Spec(f"axon DROP_OLDEST max_rows=1,000 limit={rows // 10:,}", "axon", drop, 1_000, rows // 10),
        Spec("axon PAUSE_UPSTREAM max_rows=1,000 (stops early)", "axon", pause, 1_000),
    ]


# --------------------------------------------------------------------------------------------------
# The child: one drain, measured in its own process


def _rss_kib() -> int:
    """This process's resident set size now (``VmRSS``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _raw_drain(dsn: str, sql: str, keep: bool, profile: bool) -> dict[str, Any]:
    conn = await psycopg.AsyncConnection.connect(
        dsn, prepare_threshold=None, autocommit=True, row_factory=dict_row
    )
    try:
        async for _row in conn.cursor().stream(sql + " LIMIT 10", size=CHUNK):  # warm up
            pass
        kept: list[dict[str, Any]] = []
        seen = 0

        async def drain() -> None:
            nonlocal seen
            async for row in conn.cursor().stream(sql, size=CHUNK):
                seen += 1
                if keep:
                    kept.append(row)

        measured = await _measure(drain(), profile)
        return {**measured, "seen": seen, "kept": len(kept), "dropped": 0, "truncated": False}
    finally:
        await conn.close()


async def _axon_drain(dsn: str, spec: Spec) -> dict[str, Any]:
    backend = PostgresStoreBackend.connect_named_sized(dsn, "bench-stream", None, 1)
    async with backend:
        await backend.warm_schema(TABLE)
        await backend.stream_retrieve(TABLE, limit="10", max_rows=10)  # opens the pool, warms loaders
        outcome = None

        async def drain() -> None:
            nonlocal outcome
            outcome = await backend.stream_retrieve(
                TABLE, limit=str(spec.limit) if spec.limit else "", policy=spec.policy, max_rows=spec.max_rows
            )

        measured = await _measure(drain(), spec.profile)
        assert outcome is not None
        return {
            **measured,
            "seen": outcome.total_seen,
            "kept": len(outcome.rows),
            "dropped": outcome.dropped,
            "truncated": outcome.truncated,
        }


async def _measure(drain: Any, profile: bool) -> dict[str, Any]:
    gc.collect()
    before = _rss_kib()
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    await drain
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result: dict[str, Any] = {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mib": before / 1024,
        "growth_mib": (peak - before) / 1024,
    }
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
        result["profile"] = text.getvalue()
    return result


def child(payload: str) -> int:
    """``--child``: run one spec, print one JSON line."""
    job = json.loads(payload)
    spec = Spec(**job["spec"])
    if spec.contender == "raw":
        result = asyncio.run(_raw_drain(job["dsn"], job["sql"], spec.keep, spec.profile))
    else:
        result = asyncio.run(_axon_drain(job["dsn"], spec))
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------------
# The parent: set up, run the children in rounds, report


def setup_table(dsn: str, rows: int) -> None:
    """The table, vacuumed (hint bits set), and read once so that the first run finds it cached."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in filter(None, (s.strip() for s in _SETUP.split(";"))):
            conn.execute(statement.replace("%(rows)s", str(int(rows))).encode())
        conn.execute(f"SELECT count(*) FROM {TABLE}".encode())


def drop_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}".encode())


def run_child(dsn: str, sql: str, spec: Spec) -> dict[str, Any]:
    """One child process; its last stdout line is the result."""
    payload = json.dumps({"dsn": dsn, "sql": sql, "spec": asdict(spec)})
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", payload],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {spec.label!r} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _check(spec: Spec, rows: int, result: dict[str, Any]) -> None:
    """Each run read and kept exactly what its policy promises (else the numbers mean nothing)."""
    expected_seen = spec.limit or rows
    expected_kept = expected_seen
    if spec.contender == "raw" and not spec.keep:
        expected_kept = 0
    if spec.policy == Backpressure.DROP_OLDEST.value:
        expected_kept = min(spec.max_rows, expected_seen)
    truncated = spec.policy == Backpressure.PAUSE_UPSTREAM.value and spec.max_rows < rows
    if truncated:  # the row past the bound is counted in total_seen: it proves there were more
        expected_seen, expected_kept = spec.max_rows + 1, spec.max_rows
    if (result["seen"], result["kept"], result["truncated"]) != (expected_seen, expected_kept, truncated):
        raise RuntimeError(
            f"{spec.label}: seen/kept {result['seen']}/{result['kept']}, expected "
            f"{expected_seen}/{expected_kept}"
        )


def measure(dsn: str, sql: str, rows: int, rounds: int, log: TextIO) -> dict[str, list[dict[str, Any]]]:
    """Every spec once per round, the first one rotating; each run in its own process."""
    plan = specs(rows)
    results: dict[str, list[dict[str, Any]]] = {s.label: [] for s in plan}
    for r in range(rounds):
        shift = r % len(plan)
        for spec in plan[shift:] + plan[:shift]:
            result = run_child(dsn, sql, spec)
            _check(spec, rows, result)
            result["load"] = _servers.load()
            results[spec.label].append(result)
            print(
                f"  round {r + 1}: {spec.label}: {result['wall_s']:.2f} s ({result['load']})",
                file=log,
                flush=True,
            )
    return results


def summarize(rows: int, results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Medians per spec, and the ratio to its raw baseline."""
    medians: dict[str, dict[str, Any]] = {}
    for spec in specs(rows):
        runs = results[spec.label]
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        seen = runs[0]["seen"]
        medians[spec.label] = {
            "label": spec.label,
            "seen": seen,
            "kept": runs[0]["kept"],
            "dropped": runs[0]["dropped"],
            "truncated": runs[0]["truncated"],
            "wall_s": wall,
            "rows_s": seen / wall,
            "cpu_rows_s": seen / cpu if cpu else 0.0,
            "growth_mib": statistics.median(r["growth_mib"] for r in runs),
            "growth_max_mib": max(r["growth_mib"] for r in runs),
            "rss_before_mib": statistics.median(r["rss_before_mib"] for r in runs),
            "baseline": spec.baseline,
        }
    for entry in medians.values():
        base = medians.get(entry["baseline"])
        entry["ratio"] = entry["rows_s"] / base["rows_s"] if base else None
        entry["cpu_ratio"] = entry["cpu_rows_s"] / base["cpu_rows_s"] if base else None
        entry["passed"] = entry["ratio"] >= GOAL_RATIO if base else None
    return list(medians.values())


def print_report(summary: list[dict[str, Any]], rows: int, rounds: int, out: TextIO) -> bool:
    print(f"\n== {rows:,} rows, {rounds} round(s), one child process per run — medians", file=out)
    header = (
        f"  {'run':<48}{'read':>10}{'kept':>10}{'rows/s':>11}{'×raw':>7}{'CPU ×raw':>9}{'peak RSS +MiB':>15}"
    )
    print(header, file=out)
    passed = True
    for e in summary:
        ratio = f"{e['ratio']:.2f}×" if e["ratio"] is not None else "—"
        cpu_ratio = f"{e['cpu_ratio']:.2f}×" if e["cpu_ratio"] is not None else "—"
        print(
            f"  {e['label']:<48}{e['seen']:>10,}{e['kept']:>10,}{e['rows_s']:>11,.0f}{ratio:>7}{cpu_ratio:>9}"
            f"{e['growth_mib']:>9.1f} (≤{e['growth_max_mib']:.0f})",
            file=out,
        )
    print(
        "\n  goals (CONTRACT §8½: ≥ 0.70× raw psycopg stream() rows/s; memory bounded by max_rows):", file=out
    )
    for e in summary:
        if e["passed"] is None:
            continue
        passed &= bool(e["passed"])
        verdict = "PASS" if e["passed"] else "MISS"
        print(
            f"  {verdict}  {e['label']}: {e['ratio']:.2f}× {e['baseline']} (goal ≥ {GOAL_RATIO:.2f}×)",
            file=out,
        )
    for e in summary:
        if e["ratio"] is None:
            continue
        met = e["ratio"] >= ISSUE_GOAL_RATIO
        passed &= met
        print(
            f"  {'PASS' if met else 'MISS'}  {e['label']}: {e['ratio']:.2f}×"
            f" (issue 11's goal ≥ {ISSUE_GOAL_RATIO:.2f}×)",
            file=out,
        )
    passed &= _print_memory_goal(summary, rows, out)
    return passed


def _print_memory_goal(summary: list[dict[str, Any]], rows: int, out: TextIO) -> bool:
    """DROP_OLDEST: 100× the window → much more memory; 10× the rows read → about the same."""
    by = {e["label"]: e for e in summary}
    small = float(by["axon DROP_OLDEST max_rows=1,000"]["growth_mib"])
    big = float(by["axon DROP_OLDEST max_rows=100,000"]["growth_mib"])
    tenth = float(by[f"axon DROP_OLDEST max_rows=1,000 limit={rows // 10:,}"]["growth_mib"])
    everything = float(by[f"axon DROP_OLDEST max_rows={rows:,}"]["growth_mib"])
    # 100× the window must cost well over 10× the memory (≥ 1 MiB floor for noise), and a window of
    # every row more than a window of 100 000.
    follows_window = big > 10 * max(small, 1.0) and everything > big
    not_table = small <= max(2 * tenth, tenth + 8.0)
    for ok, text in (
        (
            follows_window,
            f"grows with max_rows: 1,000 → {small:.1f} MiB, 100,000 → {big:.1f} MiB, "
            f"{rows:,} → {everything:.1f} MiB",
        ),
        (
            not_table,
            f"not with the rows read (max_rows=1,000): {rows // 10:,} rows → {tenth:.1f} MiB, "
            f"{rows:,} rows → {small:.1f} MiB",
        ),
    ):
        print(f"  {'PASS' if ok else 'MISS'}  DROP_OLDEST peak RSS {text}", file=out)
    return follows_window and not_table


def profile(dsn: str, sql: str, rows: int, out: TextIO) -> dict[str, str]:
    """cProfile one drain of raw psycopg (discard) and of axonstore DROP_OLDEST 1 000: top own time."""
    by_label = {s.label: s for s in specs(rows)}
    chosen = [by_label["raw psycopg, discard"], by_label["axon DROP_OLDEST max_rows=1,000"]]
    texts: dict[str, str] = {}
    for spec in chosen:
        result = run_child(dsn, sql, replace(spec, profile=True))
        texts[spec.label] = str(result["profile"])
        print(f"\n-- profile of one drain ({rows:,} rows): {spec.label}, {result['wall_s']:.2f} s", file=out)
        print(_trim_profile(texts[spec.label]), file=out)
    return texts


def _trim_profile(text: str) -> str:
    """pstats output without its preamble, paths shortened to the package."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    kept = [line for line in lines[start:] if line.strip()]
    return "\n".join(re.sub(r"/\S*/(site-packages|src|lib/python3\.\d+)/", "", line) for line in kept)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measured drain)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 000 rows, 1 round")
    parser.add_argument("--json", action="store_true", help="JSON on stdout; the report goes to stderr")
    parser.add_argument("--rows", type=int, help="table size (default 1 000 000; --quick 200 000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; --quick 1)")
    parser.add_argument("--profile", action="store_true", help="always print the cProfile summaries")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 5)
    out = sys.stderr if args.json else sys.stdout
    profiles: dict[str, str] = {}
    sql, _ = build_retrieve_sql(TABLE, "public", "", None, None, "", None)
    with _servers.bench_servers(pooler=False) as servers:
        env = _servers.environment(servers.dsn, servers)
        print(f"stream_bench {'--quick' if args.quick else '(full)'}: {' '.join(sys.argv)}", file=out)
        _servers.print_environment(env, out)
        print(f"{'SQL':>14}: {sql}  (streamed in chunks of {CHUNK} rows on both sides)", file=out)
        print(f"\ncreating {rows:,} rows …", file=sys.stderr, flush=True)
        setup_table(servers.dsn, rows)
        try:
            results = measure(servers.dsn, sql, rows, rounds, sys.stderr)
            summary = summarize(rows, results)
            passed = print_report(summary, rows, rounds, out)
            if args.profile or not passed:
                profiles = profile(servers.dsn, sql, rows, out)
        finally:
            drop_table(servers.dsn)
        print(
            f"\nOVERALL: {'every goal PASSED' if passed else 'some goal MISSED (see MISS lines)'}", file=out
        )
        env["load_at_end"] = _servers.load()
        print(f"{'load_at_end':>14}: {env['load_at_end']}", file=out)
    if args.json:
        report = {"environment": env, "sql": sql, "rows": rows, "rounds": rounds, "summary": summary}
        print(json.dumps({**report, "runs": results, "all_passed": passed, "profiles": profiles}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
