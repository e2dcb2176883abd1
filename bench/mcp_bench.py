"""``axonstore mcp`` cost (CONTRACT §15): a stdio retrieve tool call vs the same ``StoreHandle.retrieve``,
and calls/s with 8 concurrent clients over streamable HTTP.

* stdio: one ``axonstore mcp`` subprocess, the SDK's client; each round times N ``<store>_retrieve``
  calls by primary key, N ``resources/templates/list`` requests (the JSON-RPC framing alone: the same
  client, pipes, SDK dispatch and serialisation, with a handler that does no I/O) and N in-process
  ``StoreHandle.retrieve`` calls with the same filter and columns, the series taking turns in blocks of
  50 calls (so a change in the machine's speed during a round slows every series alike; the ratio of
  each round is printed too). Goal: call − framing ≤ 2× retrieve, on the medians of the rounds.
  For reference (not the goal) a fourth line times the tool's own database work done directly: the
  same filter as one ``StoreHandle.run_page_alone`` (the keyset page a tool call reads, for
  ``next_cursor``, in the read-only transaction with ``statement_timeout`` that §15 makes every call
  run in — the settings statement and the ``SELECT`` pipelined: one round trip, as ``retrieve``).
  The gap between the two ratios is that transaction's cost, not the server's own work. A last line
  times ``bench/_mcp_floor.py`` the same way: a bare SDK server on the same stdio transport whose one
  tool runs the same ``SELECT`` on one connection and answers a result of the same shape — what the
  SDK's tool-call path and the processes' turns on two cores cost before any server work.
* HTTP: one ``axonstore mcp --transport http`` subprocess, 8 SDK clients calling at once (in this
  process: clients, server and PostgreSQL share the machine's two cores). Goal: ≥ 200 calls/s.

The table (1 000 rows, one tenant bound by claim) is read through a role with only SELECT.

    python bench/mcp_bench.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import psycopg

from _servers import bench_servers, load, make_url  # bench/_servers.py: puts the repository on sys.path
from axonstore.operations import prepare_page
from axonstore.registry import StoreRegistry

_TOKEN = "bench-token-" + "x" * 24


def _setup(admin_dsn: str, host: str, port: int, dbname: str, folder: Path) -> tuple[Path, str, str]:
    store, role, password = (
        f"bench_{uuid.uuid4().hex[:8]}",
        f"bench_agent_{uuid.uuid4().hex[:8]}",
        uuid.uuid4().hex,
    )
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{store}" (id int4 PRIMARY KEY, org_id int4, status text, amount numeric)'
        )
        conn.execute(f"INSERT INTO \"{store}\" SELECT g, 42, 'open', g * 1.5 FROM generate_series(1, 1000) g")
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
        conn.execute(f'GRANT SELECT ON "{store}" TO "{role}"')
    dsn = make_url(host, port, user=role, password=password, dbname=dbname)
    digest = hashlib.sha256(_TOKEN.encode()).hexdigest()
    config = folder / "axonstore.toml"
    config.write_text(
        f"""
[stores.{store}]
backend = "postgresql"
connection = "{dsn}"
capacity = 8

[stores.{store}.agent]
returned = ["id", "status", "amount"]
filterable = ["id", "status"]
bind = {{ org_id = "claim:org_id" }}

[principals.bench]
token_sha256 = "{digest}"
claims = {{ org_id = "42" }}
max_calls_per_minute = 1000000
max_concurrent_calls = 64
""",
        encoding="utf-8",
    )
    return config, store, dsn


_BLOCK = 50  # calls per series in a row: the series take turns, so a drift in speed hits all alike


async def _stdio(config: Path, store: str, dsn: str, calls: int, rounds: int) -> None:
    from tests.mcp._session import over_stdio  # noqa: PLC0415 — importable once _servers set sys.path

    registry = StoreRegistry.from_toml(config)
    handle = registry.store(store)
    where = "id = '${id}' AND org_id = '${org}'"  # the same rows the bound tool call reads

    async with over_stdio(config, "bench") as client:

        async def tool_call(i: int) -> None:
            await client.call_tool(
                f"{store}_retrieve", {"where": "id = '${id}'", "bindings": {"id": str(i % 1000 + 1)}}
            )

        async def framing(i: int) -> None:
            del i
            await client.list_resource_templates()  # a handler with no I/O: the framing alone

        async def retrieve(i: int) -> None:
            await handle.retrieve(where, {"id": str(i % 1000 + 1), "org": "42"}, columns="id, status, amount")

        async def page_alone(i: int) -> None:
            page = prepare_page(
                store, where, {"id": str(i % 1000 + 1), "org": "42"}, order_by="", size=50,
                columns="id, status, amount",
            )  # fmt: skip
            await handle.run_page_alone(page, statement_timeout_ms=5000)

        series = {
            "tool call": tool_call,
            "framing": framing,
            "StoreHandle.retrieve": retrieve,
            "page in transaction": page_alone,
        }
        results = await _interleaved(series, calls, rounds)
    floor = await _floor(dsn, store, retrieve, calls, rounds)
    await registry.aclose()
    medians = _medians_us(results)
    for name, micros in medians.items():
        print(f"  {name:>24}: {micros:8.0f} µs per call (median of {rounds} rounds × {calls})")
    ratio = _over_retrieve(medians["tool call"], medians["framing"], medians["StoreHandle.retrieve"])
    verdict = "meets" if ratio <= 2.0 else "MISSES"
    print(f"  (tool call − framing) / retrieve = {ratio:.2f}×  — {verdict} the ≤ 2× goal")
    per_round = sorted(
        map(_over_retrieve, results["tool call"], results["framing"], results["StoreHandle.retrieve"])
    )
    print(f"  (the same ratio per round: {', '.join(f'{r:.2f}' for r in per_round)})")
    in_tx = (medians["tool call"] - medians["framing"]) / medians["page in transaction"]
    print(f"  (for reference, not the goal: (tool call − framing) / page in transaction = {in_tx:.2f}×)")
    bare = _over_retrieve(floor["tool call"], floor["framing"], floor["StoreHandle.retrieve"])
    print(
        "  (for reference: a bare SDK server running the same SELECT on one connection, no transaction "
        f"— bench/_mcp_floor.py: tool call {floor['tool call']:.0f} µs, framing {floor['framing']:.0f}, "
        f"retrieve {floor['StoreHandle.retrieve']:.0f}: (tool call − framing) / retrieve = {bare:.2f}×)"
    )


Series = Mapping[str, Callable[[int], Awaitable[None]]]


def _over_retrieve(call: float, framing: float, retrieve: float) -> float:
    """The goal's ratio: (tool call − framing) / retrieve."""
    return (call - framing) / retrieve


def _medians_us(results: Mapping[str, list[float]]) -> dict[str, float]:
    """Each series' median over the rounds, in µs per call."""
    return {name: statistics.median(values) * 1e6 for name, values in results.items()}


async def _interleaved(series: Series, calls: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each series in each round, the series taking turns in blocks of calls."""
    results: dict[str, list[float]] = {name: [] for name in series}
    for run in series.values():  # warm every path (plans, pools, the client's tool list)
        for i in range(_BLOCK):
            await run(i)
    for _ in range(rounds):
        spent = dict.fromkeys(series, 0.0)
        for first in range(0, calls, _BLOCK):
            for name, run in series.items():
                start = time.perf_counter()
                for i in range(first, min(first + _BLOCK, calls)):
                    await run(i)
                spent[name] += time.perf_counter() - start
        for name in series:
            results[name].append(spent[name] / calls)
    return results


async def _floor(
    dsn: str, store: str, retrieve: Callable[[int], Awaitable[None]], calls: int, rounds: int
) -> dict[str, float]:
    """The medians (µs) of bench/_mcp_floor.py's tool call and framing, and of ``retrieve`` beside
    them, timed as the real server is."""
    from mcp import Client, StdioServerParameters  # noqa: PLC0415 — the mcp extra, as the server's
    from tests.mcp._session import child_env  # noqa: PLC0415 — importable once _servers set sys.path

    script = str(Path(__file__).with_name("_mcp_floor.py"))
    params = StdioServerParameters(command=sys.executable, args=[script, dsn, store], env=child_env())
    async with Client(params) as client:

        async def tool_call(i: int) -> None:
            await client.call_tool(f"{store}_retrieve", {"bindings": {"id": str(i % 1000 + 1)}})

        async def framing(i: int) -> None:
            del i
            await client.list_resource_templates()

        series = {"tool call": tool_call, "framing": framing, "StoreHandle.retrieve": retrieve}
        results = await _interleaved(series, calls, rounds)
    return _medians_us(results)


async def _http(config: Path, store: str, calls: int) -> None:
    from tests.mcp._session import free_port, http_server, over_http  # noqa: PLC0415 — as above

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with http_server(config, port):

        async def client_loop(worker: int) -> None:
            async with over_http(url, _TOKEN) as client:
                for i in range(calls):
                    key = str((worker * calls + i) % 1000 + 1)
                    await client.call_tool(
                        f"{store}_retrieve", {"where": "id = '${id}'", "bindings": {"id": key}}
                    )

        await client_loop(0)  # warm the pool and the caches
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(w) for w in range(8)))
        elapsed = time.perf_counter() - start
    rate = 8 * calls / elapsed
    verdict = "meets" if rate >= 200 else "MISSES"
    print(f"  8 clients × {calls} calls: {rate:,.0f} calls/s — {verdict} the ≥ 200 calls/s goal")


def main(argv: list[str] | None = None) -> int:
    """Run both measurements on a PostgreSQL started for the run (or ``$AXON_BENCH_DATABASE_URL``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    with bench_servers(pooler=False) as servers, tempfile.TemporaryDirectory() as folder:
        pg = servers.pg
        config, store, dsn = _setup(pg.admin_dsn, pg.host, pg.port, pg.dbname, Path(folder))
        print(f"mcp_bench: PostgreSQL {servers.source}; {load()}")
        print("stdio:")
        asyncio.run(_stdio(config, store, dsn, options.calls, options.rounds))
        print("streamable HTTP:")
        asyncio.run(_http(config, store, options.calls // 3 or 1))
        print(f"done; {load()}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AXONSTORE_MCP_LOG_LEVEL", "warning")
    sys.exit(main())
