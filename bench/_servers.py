"""Glue shared by ``ops_bench.py`` and ``stream_bench.py``: servers, clean shutdown, the run's environment.

The servers come from the test harness (``tests._servers``, over ``axonstore.embedded``): a throw-away
PostgreSQL on 127.0.0.1 (durability off) and Debian's PgBouncer 1.18 in ``pool_mode=transaction`` with
``default_pool_size=2`` in front of it. ``$AXON_BENCH_DATABASE_URL`` names an external server instead
(PgBouncer is then started in front of that one). Everything started here is stopped by PID on the way
out — also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

_REPO: Final = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # the harness lives in tests/, next to bench/
    sys.path.insert(0, str(_REPO))

import psycopg  # noqa: E402
from tests._servers import (  # noqa: E402
    PgBouncer,
    PgServer,
    UnavailableError,
    external_postgres,
    make_url,
    start_pgbouncer,
    start_postgres,
)
from tests._wire import WireEvent, WireLog, WireLogger  # noqa: E402

from axonstore.dsn import mask_dsn  # noqa: E402

__all__ = [
    "ENV_DSN",
    "Servers",
    "WireEvent",
    "WireLog",
    "WireLogger",
    "bench_servers",
    "environment",
    "load",
    "make_url",
    "print_environment",
]

ENV_DSN: Final = "AXON_BENCH_DATABASE_URL"


@dataclass
class Servers:
    """Where to connect: ``dsn`` (direct), ``pooler_dsn`` (PgBouncer) or why there is none."""

    pg: PgServer
    dsn: str
    source: str
    pooler_dsn: str | None = None
    pooler_note: str = ""

    @property
    def lanes(self) -> list[tuple[str, str]]:
        """``[("direct", dsn), ("pgbouncer", pooler_dsn)]`` — the pooler lane only when it runs."""
        lanes = [("direct", self.dsn)]
        if self.pooler_dsn is not None:
            lanes.append(("pgbouncer", self.pooler_dsn))
        return lanes


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that ``finally`` blocks stop the servers."""


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(f"signal {signum}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_servers(*, pooler: bool) -> Iterator[Servers]:
    """Start (or reach) PostgreSQL, and PgBouncer when ``pooler``; stop what was started, by PID."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    started: list[PgServer | PgBouncer] = []
    try:
        servers = _postgres(started)
        if pooler:
            _pgbouncer(servers, started)
        yield servers
    finally:
        for server in reversed(started):
            server.stop()
        signal.signal(signal.SIGTERM, previous)


def _postgres(started: list[PgServer | PgBouncer]) -> Servers:
    url = os.environ.get(ENV_DSN, "").strip()
    if url:
        pg = external_postgres(url)
        return Servers(pg, url, f"${ENV_DSN} ({mask_dsn(url)})")
    _say("starting PostgreSQL (tests._servers.start_postgres) …")
    try:
        pg = start_postgres()
    except UnavailableError as exc:
        raise SystemExit(f"cannot start PostgreSQL: {exc} — or set ${ENV_DSN}") from exc
    started.append(pg)
    binaries = pg.cluster.binaries.bin_dir if pg.cluster is not None else "?"
    return Servers(pg, pg.dsn, f"started here on 127.0.0.1:{pg.port} from {binaries} (fsync=off)")


def _pgbouncer(servers: Servers, started: list[PgServer | PgBouncer]) -> None:
    _say("starting PgBouncer (tests._servers.start_pgbouncer) …")
    try:
        bouncer = start_pgbouncer(servers.pg)
    except UnavailableError as exc:
        servers.pooler_note = f"pooler lane SKIPPED: {exc}"
        _say(servers.pooler_note)
        return
    started.append(bouncer)
    servers.pooler_dsn = bouncer.dsn
    servers.pooler_note = (
        f"{_pgbouncer_version()} on 127.0.0.1:{bouncer.port}, pool_mode=transaction, default_pool_size=2"
    )


def _pgbouncer_version() -> str:
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "PgBouncer ?"
    return (done.stdout.strip().splitlines() or ["PgBouncer ?"])[0]


def load() -> str:
    """``uptime``-style load averages, to print next to each measurement (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(dsn: str, servers: Servers) -> dict[str, Any]:
    """Versions, machine, date and load: what a reader needs to compare two runs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()
    libpq = psycopg.pq.version()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "libpq": f"{libpq // 10000}.{libpq % 10000}",
        "psycopg_pool": _version("psycopg-pool"),
        "asyncpg": _version("asyncpg"),
        "sqlalchemy": _version("sqlalchemy"),
        "postgresql": server_version[0] if server_version else "?",
        "server": servers.source,
        "pooler": servers.pooler_note or "not used",
        "machine": f"{platform.platform()}, {_cpu_model()}, {os.cpu_count()} CPUs",
        "load_at_start": load(),
    }


def print_environment(env: dict[str, Any], out: Any = sys.stdout) -> None:
    """The environment as aligned ``key: value`` lines."""
    for key, value in env.items():
        print(f"{key:>14}: {value}", file=out)
