"""Filter compile speed: ``build_pg_where`` vs sqlglot vs one loopback round trip (CONTRACT §8½).

For 1-, 3- and 20-condition expressions with ``${…}`` bindings, in one run:

* **axonstore** — ``build_pg_where(expr, 0, bindings, column_types)``, the call the backend makes;
* **sqlglot** — ``sqlglot.condition(expr, dialect="postgres").sql(dialect="postgres")`` on the same text
  (parse + generate a bare condition: sqlglot's cheapest equivalent, so the ratio is a lower bound);
* **one round trip** — ``select $1::int`` through psycopg (``AsyncConnection``, ``prepare_threshold=None``,
  autocommit, ``AsyncRawCursor``; one cursor, ``execute`` + ``fetchone``) to PostgreSQL on 127.0.0.1.

What is timed. Each sample is ``perf_counter_ns`` around a plain ``for`` loop over a list of expression
strings built beforehand, with the garbage collector disabled (and a ``gc.collect()`` before it, untimed);
per-call time = sample / batch size. Batches are sized so that a sample takes about 10 ms (at most 1 000
calls). The loop and call overhead stays in (printed as ``loop overhead``): the numbers are upper bounds.

* **cached**: the same expression every call, but each call gets a *fresh copy* of the string (as text
  arriving in a request would), so hashing it and the parse-cache lookup are paid every time; the
  render plan is served from cache and only the bindings are interpolated.
* **new**: every call gets a never-seen expression (a 7-digit literal differs); the parse LRU is filled
  past its size first, so each miss also pays an eviction. Its *shape* (its tokens but for the
  literals) was seen before, so it is built from the shape's template, not parsed (the shape cache,
  ``axonstore.filter._shapes``): what a filter arriving from a request or a model with new values costs.
* **new shape**: the same never-seen expressions, each also of a never-seen shape — the shape cache is
  emptied before the batch, and its note of the one key seen once before each call (a ``clear()`` of a
  one-entry dict inside the timed loop, so the number is an upper bound): the full parse and render,
  what a first-ever filter costs.

For every timed axonstore batch, the parse cache's counters are checked — all hits (cached) or all
misses (new, new shape) — and the shape cache's: a hit per call (new) or none (new shape), else the run
stops. Every series (case x engine x cached/new) is sampled once per *round*, the
rounds repeat, and each round starts with a block of round trips on one connection; so a burst of load
from elsewhere slows all series alike, and the ratios compare numbers taken side by side. The goals use
the median of all round trips pooled.

Set ``$AXON_BENCH_DATABASE_URL`` to use an existing server; otherwise one is started with
``axonstore.embedded`` in a temporary folder and stopped at the end.

    .venv/bin/python bench/filter_bench.py            # full run, a table on stdout
    .venv/bin/python bench/filter_bench.py --quick    # a few seconds, for a smoke test
    .venv/bin/python bench/filter_bench.py --json     # the same numbers as JSON
    .venv/bin/python bench/filter_bench.py --profile  # plus where the time goes (new 3-condition)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime
import gc
import importlib.metadata
import io
import itertools
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import psycopg
import sqlglot

from axonstore.embedded import EmbeddedServer
from axonstore.filter import (
    _SEEN_ONCE,
    _SHAPES,
    Filter,
    build_pg_where,
    parse_cache_info,
    parse_filter,
    plan_for,
    shape_cache_info,
)
from axonstore.filter._lexer import scan
from axonstore.filter._parser import parse
from axonstore.filter._render import RenderPlan, render
from axonstore.filter._shapes import shape_key

ENV_DSN: Final = "AXON_BENCH_DATABASE_URL"
GOAL_SQLGLOT_RATIO: Final = 20.0  # issue 3 item 7: at least 20x faster than sqlglot
GOAL_PCT_CACHED: Final = 5.0  # CONTRACT §8½: 3-condition, seen before
GOAL_PCT_NEW: Final = 15.0  # CONTRACT §8½: 3-condition, new expression
_SLOT: Final = "{n}"  # where a new expression gets its distinct literal
_CACHED_N: Final = 1_000_000
_FRESH: Final = itertools.count(_CACHED_N + 1)  # 7-digit literals: every expression text the same length
_ROUND_TRIP_SQL: Final = "select $1::int"

BINDINGS: Final[Mapping[str, object]] = {
    "s": "open",
    "r": "eu",
    "q": "ann",
    "c": "CO",
    "cur": "EUR",
    "domain": "example.org",
    "owner": "u-42",
}
COLUMN_TYPES: Final[Mapping[str, str]] = {
    "status": "text", "amount": "int8", "region": "text", "tier": "text", "score": "float8",
    "active": "bool", "name": "text", "country": "text", "qty": "int4", "deleted_at": "timestamptz",
    "priority": "int2", "channel": "text", "currency": "text", "discount": "numeric", "flagged": "bool",
    "city": "text", "warehouse": "text", "weight": "float4", "email": "text", "rating": "int4",
    "owner": "text", "updated_at": "timestamptz", "sku": "text", "meta": "jsonb", "tags": "_text",
    "body": "text",
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One expression shape; ``template`` holds ``{n}`` once, where a new expression varies a literal.

    ``fast_path`` marks the shapes a separate regex fast path used to take (until issue 15 folded it
    into the one grammar); the names keep it so that runs before and after compare line by line.
    """

    name: str
    conditions: int
    fast_path: bool
    template: str

    def text(self, n: int) -> str:
        """The expression with ``n`` in its varying literal."""
        return self.template.replace(_SLOT, str(n))


_FAST_20: Final = (
    "status = '${s}' AND amount > {n} AND region = '${r}' AND tier != 'free' AND score >= 0.5 "
    "AND active = true AND name LIKE '${q}%' AND country = '${c}' AND qty <= 1000 AND deleted_at = null "
    "AND priority < 5 OR channel = 'web' AND currency = '${cur}' AND discount >= 0 AND flagged = false "
    "AND city = 'Bogotá' AND warehouse != 'closed' AND weight < 12.5 AND email LIKE '%@${domain}' "
    "AND rating >= 3"
)
_MIXED_20: Final = (
    "status = '${s}' AND amount BETWEEN {n} AND 5000000 AND region IN ('eu', 'us', 'apac') "
    "AND NOT (tier = 'free' OR tier = 'trial') AND score NOT BETWEEN 0 AND 0.1 AND active = true "
    "AND name ILIKE '%${q}%' AND country NOT IN ('${c}', 'XX') AND qty <= 1000 AND deleted_at IS NULL "
    "AND (priority < 5 OR channel = 'web') AND currency = '${cur}' AND flagged IS NOT NULL "
    "AND email NOT LIKE '%@${domain}' AND updated_at > now() - interval '7 days' "
    "AND warehouse != 'closed' AND owner = '${owner}' AND rating >= 3"
)
CASES: Final = (
    Case("1 cond", 1, True, "sku = 'A{n}-${s}'"),
    Case("3 cond, fast path", 3, True, "status = '${s}' AND amount > {n} AND region = '${r}'"),
    Case("3 cond, IN", 3, True, "status = '${s}' AND amount > {n} AND region IN ('eu', 'us')"),
    Case(
        "3 cond, BETWEEN/NOT IN/IS NULL",
        3,
        True,
        "amount BETWEEN {n} AND 5000000 AND region NOT IN ('${r}', 'us') AND deleted_at IS NULL",
    ),
    Case(
        "3 cond, NOT/BETWEEN/IN",
        3,
        False,
        "NOT status = '${s}' AND amount BETWEEN {n} AND 5000000 AND region NOT IN ('${r}', 'us')",
    ),
    Case(
        "3 cond, JSON path (§12)",
        3,
        False,
        "meta->>'status' = '${s}' AND meta->'a'->>'n' > {n} AND meta->>'tier' IN ('gold', 'silver')",
    ),
    Case(
        "3 cond, @> / && / @@ (§12)",
        3,
        False,
        "meta @> '{\"tier\": \"gold\"}' AND tags && ('a', 'b{n}') AND body @@ 'pool -mysql'",
    ),
    Case("20 cond, fast path", 20, True, _FAST_20),
    Case("20 cond, mixed", 20, False, _MIXED_20),
)


@dataclass(frozen=True)
class Mode:
    """How long to measure."""

    rounds: int  # samples per series: each round takes one sample of every series
    max_batch: int
    min_batch: int
    sample_ns: int  # the target duration of one sample, which sets the batch size
    warmup_new: int  # new expressions compiled before timing: more than the parse LRU holds
    round_trips: int  # timed round trips per round


FULL: Final = Mode(
    rounds=61, max_batch=1000, min_batch=20, sample_ns=10_000_000, warmup_new=6000, round_trips=100
)
QUICK: Final = Mode(
    rounds=9, max_batch=300, min_batch=5, sample_ns=2_000_000, warmup_new=5000, round_trips=50
)


@dataclass(frozen=True)
class Stats:
    """Per-call nanoseconds over the samples."""

    median_ns: float
    p10_ns: float
    p90_ns: float
    batch: int
    samples: int


@dataclass(frozen=True)
class CaseResult:
    """Everything measured for one case."""

    name: str
    conditions: int
    fast_path: bool
    expression: str
    axon_cached: Stats
    axon_new: Stats
    axon_new_shape: Stats
    sqlglot_cached: Stats
    sqlglot_new: Stats
    ratio_cached: float
    ratio_new: float
    ratio_new_shape: float


# --------------------------------------------------------------------------------------------------
# Timing


def _stats(per_call: list[float], batch: int) -> Stats:
    deciles = statistics.quantiles(per_call, n=10, method="inclusive")
    return Stats(statistics.median(per_call), deciles[0], deciles[-1], batch, len(per_call))


def _axon_loop(exprs: list[str]) -> int:
    build, bindings, types = build_pg_where, BINDINGS, COLUMN_TYPES
    start = time.perf_counter_ns()
    for expr in exprs:
        build(expr, 0, bindings, types)
    return time.perf_counter_ns() - start


def _axon_new_shape_loop(exprs: list[str]) -> int:
    """The shape cache emptied first, and its note of the key seen once before each call: a first
    sighting learns nothing more, so every call is the first of its shape."""
    _SHAPES.clear()
    build, bindings, types, forget = build_pg_where, BINDINGS, COLUMN_TYPES, _SEEN_ONCE.clear
    start = time.perf_counter_ns()
    for expr in exprs:
        forget()  # a dict of one entry
        build(expr, 0, bindings, types)
    return time.perf_counter_ns() - start


def _sqlglot_loop(exprs: list[str]) -> int:
    condition = sqlglot.condition
    start = time.perf_counter_ns()
    for expr in exprs:
        condition(expr, dialect="postgres").sql(dialect="postgres")
    return time.perf_counter_ns() - start


def _noop(expr: str, offset: int, bindings: object, types: object) -> None:
    """Stands in for ``build_pg_where`` to measure what the loop and the call cost by themselves."""


def _overhead_loop(exprs: list[str]) -> int:
    call, bindings, types = _noop, BINDINGS, COLUMN_TYPES
    start = time.perf_counter_ns()
    for expr in exprs:
        call(expr, 0, bindings, types)
    return time.perf_counter_ns() - start


Loop = Callable[[list[str]], int]


def _timed(loop: Loop, exprs: list[str]) -> float:
    """Per-call nanoseconds of one sample, with the collector off while it runs."""
    gc.collect()
    gc.disable()
    try:
        elapsed = loop(exprs)
    finally:
        gc.enable()
    return elapsed / len(exprs)


def _copies(text: str, count: int) -> list[str]:
    """Equal but distinct string objects (none hashed yet), like a request's text on every call."""
    return [text.encode().decode() for _ in range(count)]


def _new_texts(case: Case, count: int) -> list[str]:
    return [case.text(next(_FRESH)) for _ in range(count)]


@dataclass
class _Series:
    """One engine compiling one case, cached or new: its batch size and per-call ns of every sample."""

    case: Case
    engine: str  # "axonstore" or "sqlglot"
    new: bool
    new_shape: bool = False  # axonstore, new: of a never-seen shape too
    batch: int = 1
    per_call: list[float] = field(default_factory=list)

    def texts(self) -> list[str]:
        """The expressions for one sample (built untimed)."""
        if self.new:
            return _new_texts(self.case, self.batch)
        return _copies(self.case.text(_CACHED_N), self.batch)

    def sample(self, texts: list[str]) -> float:
        """Per-call ns of one timed batch."""
        if self.engine == "sqlglot":
            return _timed(_sqlglot_loop, texts)
        if not self.new:
            # Other series' new expressions may have pushed this text out of the parse LRU since the
            # last sample: bring it (and its plan) back, untimed, so that every timed call is a hit.
            _axon_loop(texts[:1])
        elif not self.new_shape:
            # A new-shape series empties the shape cache: two new expressions, untimed, teach it the
            # shape again (the second of a shape is its template) and its plan.
            _axon_loop(_new_texts(self.case, 2))
        before, shapes_before = parse_cache_info(), shape_cache_info()
        per_call = _timed(_axon_new_shape_loop if self.new_shape else _axon_loop, texts)
        after, shapes_after = parse_cache_info(), shape_cache_info()
        expected = (0, len(texts)) if self.new else (len(texts), 0)
        built = 0 if self.new_shape or not self.new else len(texts)
        if (after.hits - before.hits, after.misses - before.misses) != expected or (
            shapes_after.hits - shapes_before.hits != built
        ):
            raise SystemExit(
                f"{self.case.name}, new={self.new}, new shape={self.new_shape}: parse cache {before} -> "
                f"{after}, shape cache {shapes_before} -> {shapes_after}"
            )
        return per_call


def _series(mode: Mode) -> list[_Series]:
    """Every series, with batch sizes calibrated so that a sample takes about ``mode.sample_ns``."""
    all_series = [
        _Series(case, engine, new)
        for case in CASES
        for new in (False, True)
        for engine in ("axonstore", "sqlglot")
    ] + [_Series(case, "axonstore", True, new_shape=True) for case in CASES]
    for series in all_series:
        per_call = min(series.sample(series.texts()) for _ in range(3))
        series.batch = max(mode.min_batch, min(mode.max_batch, round(mode.sample_ns / per_call)))
    return all_series


def _round(all_series: list[_Series], *, keep: bool = True) -> None:
    """One sample of every series, the texts for all of them built first (untimed)."""
    batches = [series.texts() for series in all_series]
    for series, texts in zip(all_series, batches, strict=True):
        per_call = series.sample(texts)
        if keep:
            series.per_call.append(per_call)


def _result(case: Case, all_series: list[_Series]) -> CaseResult:
    found = {(s.engine, s.new, s.new_shape): s for s in all_series if s.case is case}
    stats = {key: _stats(s.per_call, s.batch) for key, s in found.items()}
    sqlglot_new = stats["sqlglot", True, False]  # sqlglot keeps no shapes: one series serves both
    return CaseResult(
        case.name,
        case.conditions,
        case.fast_path,
        case.text(_CACHED_N),
        stats["axonstore", False, False],
        stats["axonstore", True, False],
        stats["axonstore", True, True],
        stats["sqlglot", False, False],
        sqlglot_new,
        stats["sqlglot", False, False].median_ns / stats["axonstore", False, False].median_ns,
        sqlglot_new.median_ns / stats["axonstore", True, False].median_ns,
        sqlglot_new.median_ns / stats["axonstore", True, True].median_ns,
    )


def _overhead(mode: Mode) -> Stats:
    exprs = _copies("x", mode.max_batch)
    return _stats([_timed(_overhead_loop, exprs) for _ in range(mode.rounds)], mode.max_batch)


def _sanity_check(case: Case) -> None:
    """The case is what its label says: its condition count, and both engines accept it."""
    text = case.text(_CACHED_N)
    parsed = parse_filter(text, BINDINGS)
    if parsed is None or parsed.conditions != case.conditions:
        raise SystemExit(f"{case.name}: parsed {parsed and parsed.conditions} conditions")
    sql, params = build_pg_where(text, 0, BINDINGS, COLUMN_TYPES)
    if "${" in sql or not params or "${" in "".join(map(str, params)):
        raise SystemExit(f"{case.name}: bindings were not interpolated: {sql!r} {params!r}")
    if not sqlglot.condition(text, dialect="postgres").sql(dialect="postgres"):
        raise SystemExit(f"{case.name}: sqlglot produced nothing")


# --------------------------------------------------------------------------------------------------
# The round trip


async def _connect(dsn: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.AsyncRawCursor
    )


async def _round_trips(cur: psycopg.AsyncCursor[Any], count: int) -> list[float]:
    """``count`` timed round trips in ns, after a short warm-up (the connection idled meanwhile)."""
    for _ in range(20):
        await cur.execute(_ROUND_TRIP_SQL, (1,))
        await cur.fetchone()
    timings: list[float] = []
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(count):
            start = clock()
            await cur.execute(_ROUND_TRIP_SQL, (i,))
            await cur.fetchone()
            timings.append(clock() - start)
    finally:
        gc.enable()
    return timings


@contextlib.contextmanager
def _database() -> Iterator[tuple[str, str]]:
    """A DSN and where it came from: ``$AXON_BENCH_DATABASE_URL``, else an embedded server we stop."""
    external = os.environ.get(ENV_DSN, "").strip()
    if external:
        yield external, f"${ENV_DSN}"
        return
    scratch = Path(tempfile.mkdtemp(prefix="axon-filter-bench-"))
    os.chmod(scratch, 0o755)  # as root, the server runs as another user, who must reach its data
    server = EmbeddedServer(data_root=scratch / "embedded")
    try:
        yield server.ensure_running(), "embedded (started and stopped by this run)"
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Where the time goes (--profile)


def _slice_ns(fn: Callable[[Any], object], inputs: list[Any]) -> float:
    """Per-call ns of ``fn`` over ``inputs``, with the collector off."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for item in inputs:
            fn(item)
        return (time.perf_counter_ns() - start) / len(inputs)
    finally:
        gc.enable()


def _stages(case: Case, rounds: int, batch: int) -> dict[str, float]:
    """Median per-call ns of each stage of compiling a new expression, timed on its own (its inputs
    prepared untimed), the stages sampled round-robin like the main measurement.

    The two public steps of ``build_pg_where`` are timed too: ``parse_filter`` adds the parse cache's
    lookup and insert (the cache is full: each insert evicts, and frees, its oldest tree and plan), and
    ``plan_for`` adds the plan key and store to ``render``. Inside the whole call every stage costs
    more than alone (the CPU's caches then hold the rest of the call's data), so the stages need not
    add up to it."""
    count = rounds * batch
    texts = _new_texts(case, count)
    parsed = [parse(t, str) for t in texts]
    plans = [render(p, 0, COLUMN_TYPES) for p in parsed if p is not None]
    unplanned = [parse(t, str) for t in _new_texts(case, count)]  # plan_for stores into each once
    stages: dict[str, tuple[Callable[[Any], object], list[Any]]] = {
        "scan (the token regex, one findall)": (scan, texts),
        "shape key (two maps over the tokens)": (shape_key, [scan(t) for t in texts]),
        "parse (scan + recursive descent)": (lambda text: parse(text, str), texts),
        "parse_filter (parse + cache lookup, insert, eviction)": (_parse_filter, _new_texts(case, count)),
        "render (plan: SQL text + constants)": (lambda p: render(p, 0, COLUMN_TYPES), parsed),
        "plan_for (render + plan key and store)": (_plan_for, unplanned),
        "RenderPlan.params (interpolate bindings)": (_params, plans),
        "build_pg_where, whole call": (_build, _new_texts(case, count)),
    }
    samples: dict[str, list[float]] = {name: [] for name in stages}
    for r in range(rounds):
        for name, (fn, inputs) in stages.items():
            samples[name].append(_slice_ns(fn, inputs[r * batch : (r + 1) * batch]))
    return {name: statistics.median(values) for name, values in samples.items()}


def _parse_filter(text: str) -> object:
    return parse_filter(text, BINDINGS)


def _plan_for(parsed: Filter) -> object:
    return plan_for(parsed, 0, COLUMN_TYPES)


def _build(text: str) -> object:
    return build_pg_where(text, 0, BINDINGS, COLUMN_TYPES)


def _params(plan: RenderPlan) -> object:
    return plan.params(BINDINGS)


def _cprofile(case: Case, count: int) -> str:
    """cProfile's top functions (by own time) over ``count`` new expressions."""
    texts = _new_texts(case, count)
    profiler = cProfile.Profile()
    profiler.enable()
    _axon_loop(texts)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(14)
    return out.getvalue()


def _profile(rounds: int, batch: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for case in CASES:
        if case.conditions == 3:
            stages = _stages(case, rounds, batch)
            report[case.name] = {"stages_ns": stages, "cprofile": _cprofile(case, rounds * batch)}
    return report


# --------------------------------------------------------------------------------------------------
# Report


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _environment(db_source: str, server_version: str) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "sqlglot": importlib.metadata.version("sqlglot"),
        "postgresql": server_version,
        "database": db_source,
        "parse_cache_size": parse_cache_info().maxsize,
        "shape_cache_size": shape_cache_info().maxsize,
    }


def _goals(results: list[CaseResult], rtt_ns: float) -> list[dict[str, Any]]:
    """PASS/MISS per goal; the round-trip goals use the pooled median round trip."""
    goals: list[dict[str, Any]] = []
    for r in results:
        if r.conditions != 3:
            continue
        for label, stats, limit in (
            ("cached", r.axon_cached, GOAL_PCT_CACHED),
            ("new", r.axon_new, GOAL_PCT_NEW),
            ("new shape", r.axon_new_shape, GOAL_PCT_NEW),
        ):
            pct = 100 * stats.median_ns / rtt_ns
            goal = f"{r.name}, {label}: <= {limit:g} % of a round trip"
            goals.append({"goal": goal, "value": f"{pct:.1f} %", "pass": pct <= limit})
    for label in ("cached", "new", "new shape"):
        for r in results:
            ratio = {"cached": r.ratio_cached, "new": r.ratio_new}.get(label, r.ratio_new_shape)
            goal = f"{r.name}, {label}: >= {GOAL_SQLGLOT_RATIO:g}x faster than sqlglot"
            goals.append({"goal": goal, "value": f"{ratio:.0f}x", "pass": ratio >= GOAL_SQLGLOT_RATIO})
    return goals


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}" if ns < 100_000 else f"{ns / 1000:.0f}"


def _spread(s: Stats) -> str:
    return f"{_us(s.median_ns)} [{_us(s.p10_ns)}–{_us(s.p90_ns)}]"


def _print_table(report: dict[str, Any], results: list[CaseResult], rtt: Stats) -> None:
    env = report["environment"]
    print(f"filter compile bench — {env['date']} — {env['python']} — {env['platform']}")
    loads = [" ".join(f"{x:.2f}" for x in env[key]) for key in ("loadavg_at_start", "loadavg_at_end")]
    print(
        f"cpu: {env['cpu']} x{env['cpus']}; load average (1/5/15 min) at start {loads[0]}, at end {loads[1]}"
    )
    print(
        f"psycopg {env['psycopg']}, sqlglot {env['sqlglot']}, PostgreSQL {env['postgresql']} "
        f"({env['database']})"
    )
    print(f"mode: {report['mode']}; loop overhead {report['loop_overhead_ns']:.0f} ns/call (included)")
    print()
    print(
        "per call, µs: median [p10–p90]; 'new' = never-seen expression of a seen shape (parse cache miss,"
        " built from the shape), 'new shape' = of a never-seen shape too (parsed and rendered)"
    )
    head = f"{'case':<24}{'axon cached':>24}{'axon new':>24}{'axon new shape':>24}"
    print(head + f"{'sqlglot cached':>22}{'sqlglot new':>22}{'x cached':>10}{'x new':>8}{'x shape':>9}")
    for r in results:
        row = f"{r.name:<24}{_spread(r.axon_cached):>24}{_spread(r.axon_new):>24}"
        row += f"{_spread(r.axon_new_shape):>24}"
        row += f"{_spread(r.sqlglot_cached):>22}{_spread(r.sqlglot_new):>22}"
        print(row + f"{r.ratio_cached:>9.0f}x{r.ratio_new:>7.0f}x{r.ratio_new_shape:>8.0f}x")
    print()
    print(
        f"round trip ({_ROUND_TRIP_SQL}, {rtt.samples} queries): {_spread(rtt)} µs; "
        "medians of the first and second half: "
        + " and ".join(_us(m) for m in report["round_trip"]["half_medians_ns"])
        + " µs"
    )
    print(f"{'case':<24}{'cached % of RTT':>18}{'new % of RTT':>16}{'new shape %':>15}")
    for r in results:
        cached, new, shape = (
            100 * s.median_ns / rtt.median_ns for s in (r.axon_cached, r.axon_new, r.axon_new_shape)
        )
        print(f"{r.name:<24}{cached:>17.1f}%{new:>15.1f}%{shape:>14.1f}%")
    print()
    for goal in report["goals"]:
        print(f"{'PASS' if goal['pass'] else 'MISS'}  {goal['goal']}: {goal['value']}")
    for name, prof in report.get("profile", {}).items():
        print(f"\nwhere the time goes — {name}, new expressions (each stage timed alone, ns/call):")
        for stage, ns in prof["stages_ns"].items():
            print(f"  {ns:>8.0f}  {stage}")
        print(prof["cprofile"])


async def _measure_all(dsn: str, mode: Mode) -> tuple[list[CaseResult], list[list[float]], str]:
    """Every series sampled round-robin, one block of round trips per round (and one at the end).

    Interleaving spreads each series over the whole run, so a burst of load from elsewhere slows every
    series a little instead of one case a lot; the compile code is synchronous and runs inside the
    coroutine so that one connection serves every block.
    """
    all_series = _series(mode)
    _axon_loop(_new_texts(CASES[0], mode.warmup_new))  # fill the parse LRU: every later miss evicts
    _round(all_series, keep=False)
    async with await _connect(dsn) as conn:
        cur = conn.cursor()
        blocks = []
        for _ in range(mode.rounds):
            blocks.append(await _round_trips(cur, mode.round_trips))
            _round(all_series)
        blocks.append(await _round_trips(cur, mode.round_trips))
        version = conn.info.parameter_status("server_version") or "?"
    return [_result(case, all_series) for case in CASES], blocks, version


def _run(mode: Mode, mode_name: str, profile: bool) -> tuple[dict[str, Any], list[CaseResult], Stats]:
    load_at_start = os.getloadavg()
    for case in CASES:
        _sanity_check(case)
    # Everything alive now (modules, sqlglot's tables) is moved out of the collector's sight, so that the
    # gc.collect() before each sample costs microseconds, not the ~40 ms of a full walk over sqlglot.
    gc.freeze()
    overhead = _overhead(mode)
    with _database() as (dsn, source):
        results, blocks, version = asyncio.run(_measure_all(dsn, mode))
    half = len(blocks) // 2
    rtt = _stats([t for block in blocks for t in block], mode.round_trips)
    halves = [
        statistics.median(t for block in part for t in block) for part in (blocks[:half], blocks[half:])
    ]
    report: dict[str, Any] = {
        "environment": {**_environment(source, version), "loadavg_at_start": load_at_start},
        "mode": mode_name,
        "loop_overhead_ns": overhead.median_ns,
        "round_trip": {**asdict(rtt), "half_medians_ns": halves},
        "cases": [asdict(r) for r in results],
        "goals": _goals(results, rtt.median_ns),
    }
    if profile:
        report["profile"] = _profile(25, 400) if mode is FULL else _profile(9, 100)
    return report, results, rtt


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit status 0 whether or not a goal is met (the output says PASS/MISS)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller samples (seconds)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--profile", action="store_true", help="add a stage breakdown and cProfile")
    args = parser.parse_args(argv)
    mode_name = "quick" if args.quick else "full"
    report, results, rtt = _run(QUICK if args.quick else FULL, mode_name, args.profile)
    if args.json:
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_table(report, results, rtt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
