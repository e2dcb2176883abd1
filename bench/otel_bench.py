"""What OpenTelemetry costs a warm operation (CONTRACT §14; the ``--otel`` mode issue 17 asks of
``ops_bench.py``, kept in its own script).

Three modes, each in its own child process (a global provider is set once per process, and a module
that was never imported costs nothing), interleaved in rounds with the starting mode rotating:

* ``without`` — ``opentelemetry`` made unimportable (an environment without ``axonstore[otel]``);
* ``api`` — the extra installed and imported by the application (``opentelemetry.trace`` and
  ``.metrics``), no SDK: the backend finds no provider and holds no observer;
* ``sdk`` — the SDK's ``TracerProvider`` with a ``BatchSpanProcessor`` over an exporter that drops
  every batch, and a ``MeterProvider`` with an in-memory reader, passed as ``tracer_provider=`` /
  ``meter_provider=``: every span and duration is really built and recorded.

Each child runs warm single-row ``get`` / ``insert`` / ``update`` (as ``ops_bench.py`` does) on one task,
after a warm-up, and reports ops/s and its process CPU µs per op. Reported: medians over the rounds,
the median and quartiles of the per-round paired ratio to ``without`` (many short rounds: on a shared
machine the load moves between rounds, and a round's three runs are adjacent in time), the verdict
``api`` ≥ 0.95× ``without`` (CONTRACT §14) on the median paired ratio, and what ``sdk`` adds per op in
µs (wall and CPU) over ``without``.

    .venv/bin/python bench/otel_bench.py            # 15 rounds × 500 ops per op (~2 min)
    .venv/bin/python bench/otel_bench.py --quick    # 3 rounds × 300 ops
"""

# The imports of OpenTelemetry and axonstore happen inside the child, after it chose its mode.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import psycopg

import _servers  # bench/_servers.py: the test harness's servers

SRC: Final = Path(__file__).resolve().parents[1] / "src"
TABLE: Final = "axon_otel_bench"
ROWS: Final = 5_000
MODES: Final = ("without", "api", "sdk")
OPS: Final = ("get", "insert", "update")
GOAL_API_RATIO: Final = 0.95
WHERE: Final = "id = '${id}'"
_SETUP: Final = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (id text PRIMARY KEY, name text NOT NULL, qty int8 NOT NULL);
INSERT INTO {TABLE} SELECT 'k' || g, 'name-' || g, g FROM generate_series(1, {ROWS}) g;
VACUUM ANALYZE {TABLE};
"""
_BLOCK: Final = """
import importlib.abc, sys
class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoOpenTelemetry())
"""


# ---- the child: one mode, every op ---------------------------------------------------------------


def _providers(mode: str) -> dict[str, Any]:
    if mode == "without":
        exec(_BLOCK, {})  # a constant: makes OpenTelemetry unimportable in this child
        return {}
    import opentelemetry.metrics  # the application has imported the API …
    import opentelemetry.trace  # noqa: F401  # … and set no provider

    if mode == "api":
        return {}
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        """An exporter that sends nowhere (the cost measured is building and recording spans)."""

        def export(self, spans: Any) -> SpanExportResult:  # noqa: ARG002
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    return {"tracer_provider": tracer_provider, "meter_provider": MeterProvider([InMemoryMetricReader()])}


async def _child(mode: str, dsn: str, ops: int) -> dict[str, Any]:
    providers = _providers(mode)
    from axonstore import PostgresStoreBackend

    backend = PostgresStoreBackend.connect_named_sized(dsn, "otel-bench", None, 4, **providers)
    counter = itertools.count()

    async def get(i: int) -> int:
        return len(await backend.query(TABLE, WHERE, {"id": f"k{i % ROWS + 1}"}))

    async def insert(i: int) -> int:
        key = f"n-{mode}-{os.getpid()}-{next(counter)}"
        return await backend.insert(TABLE, {"id": key, "name": "x", "qty": i})

    async def update(i: int) -> int:
        return await backend.mutate(TABLE, WHERE, {"qty": i}, {"id": f"k{i % ROWS + 1}"})

    calls = {"get": get, "insert": insert, "update": update}
    result: dict[str, Any] = {"mode": mode, "observer": None}
    async with backend:
        for name, call in calls.items():
            for i in range(200):  # warm: the pool open, the schema cached, the code paths hot
                await call(i)
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(ops):
                if await call(i) != 1:
                    raise RuntimeError(f"{name}: expected 1 row — the benchmark measures a broken op")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            result[name] = {"ops_s": ops / wall, "cpu_us": cpu / ops * 1e6}
        result["observer"] = backend._observer is not None
        result["otel_modules"] = sum(1 for m in sys.modules if m.startswith("opentelemetry"))
    tracer_provider = providers.get("tracer_provider")
    if tracer_provider is not None:
        tracer_provider.shutdown()
    return result


# ---- the parent: servers, rounds, the report ------------------------------------------------------


def _run_child(mode: str, dsn: str, ops: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", mode, "--dsn", dsn, "--ops", str(ops)],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path]),
        },
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _report(runs: list[dict[str, Any]], out: Any) -> bool:
    """Medians per mode, and the per-round paired ratio to ``without`` (runs of one round are
    adjacent in time, so they share the machine's load: the pairs are what the verdict reads)."""

    def median(mode: str, op: str, key: str) -> float:
        return float(statistics.median(r[op][key] for r in runs if r["mode"] == mode))

    def paired(mode: str, op: str) -> list[float]:
        by_round = {(r["round"], r["mode"]): r[op]["ops_s"] for r in runs}
        rounds = sorted({r["round"] for r in runs})
        return sorted(by_round[n, mode] / by_round[n, "without"] for n in rounds)

    def quartiles(values: list[float]) -> str:
        if len(values) < 4:
            return "—"
        q1, _, q3 = statistics.quantiles(values, n=4)
        return f"{q1:.3f}–{q3:.3f}"

    passed = True
    print(f"\n{'op':<7}{'mode':<9}{'ops/s':>9}{'CPU µs/op':>11}{'×without':>10}{'paired IQR':>13}"
          f"{'+µs/op wall':>13}{'+CPU µs/op':>12}", file=out)  # fmt: skip
    for op in OPS:
        base_ops, base_cpu = median("without", op, "ops_s"), median("without", op, "cpu_us")
        for mode in MODES:
            ops_s, cpu = median(mode, op, "ops_s"), median(mode, op, "cpu_us")
            pairs = paired(mode, op)
            ratio = statistics.median(pairs)
            extra = (1 / ops_s - 1 / base_ops) * 1e6
            cells = f"{ops_s:>9,.0f}{cpu:>11.1f}{ratio:>10.3f}{quartiles(pairs):>13}{extra:>13.1f}"
            print(f"{op:<7}{mode:<9}{cells}{cpu - base_cpu:>12.1f}", file=out)
            if mode == "api":
                verdict = "PASS" if ratio >= GOAL_API_RATIO else "MISS"
                passed &= verdict == "PASS"
                print(f"  {verdict}: api ≥ {GOAL_API_RATIO}× without (median paired {ratio:.3f}×)", file=out)
    observed = {r["mode"]: (r["observer"], r["otel_modules"]) for r in runs}
    print("\nobserver present / opentelemetry modules loaded, by mode: "
          + ", ".join(f"{m}: {o} / {n}" for m, (o, n) in observed.items()), file=out)  # fmt: skip
    return passed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one mode)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds × 300 ops")
    parser.add_argument("--rounds", type=int, help="rounds (default 15)")
    parser.add_argument("--ops", type=int, help="ops per op kind per child (default 500)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout; the report goes to stderr")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ops = args.ops or (300 if args.quick else 500)
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.dsn, ops))))
        return 0
    rounds = args.rounds or (3 if args.quick else 15)
    out = sys.stderr if args.json else sys.stdout
    with _servers.bench_servers(pooler=False) as servers:
        env = _servers.environment(servers.dsn, servers)
        print(f"otel_bench: {' '.join(sys.argv)}", file=out)
        _servers.print_environment(env, out)
        with psycopg.connect(servers.dsn, autocommit=True) as conn:
            for statement in _SETUP.split(";"):  # VACUUM refuses to run in a multi-statement block
                if statement.strip():
                    conn.execute(statement.strip())  # constants
        runs: list[dict[str, Any]] = []
        try:
            for r in range(rounds):
                order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
                for mode in order:
                    print(f"round {r + 1}/{rounds}: {mode} …", file=sys.stderr, flush=True)
                    runs.append({**_run_child(mode, servers.dsn, ops), "round": r})
            passed = _report(runs, out)
        finally:
            with psycopg.connect(servers.dsn, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        env["load_at_end"] = _servers.load()
        print(f"\n{'load_at_end':>14}: {env['load_at_end']}", file=out)
        print(f"OVERALL: {'every goal PASSED' if passed else 'some goal MISSED'}", file=out)
    if args.json:
        print(json.dumps({"environment": env, "rounds": rounds, "ops": ops, "runs": runs, "passed": passed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
