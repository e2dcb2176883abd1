"""A primary and two streaming standbys on this machine, no Docker (TESTING.md, section "Replicas").

``standby1`` replays at once; ``standby2`` has ``recovery_min_apply_delay = '2s'``. The servers run as
the suite's server user (PostgreSQL refuses root), from the same binaries as the other tests, and are
stopped by PID. The whole set starts in about 3 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from axonstore.embedded import PgCluster, binaries_for, find_binaries, free_port, server_user
from axonstore.errors import Connect
from tests._servers import LOOPBACK, UnavailableError, _reap_if_orphaned, _run_dir, _tail, make_url

#: The standbys' apply delay (standby2): long enough that a read there right after a write is stale.
APPLY_DELAY_S = 2.0
# fsync off (throw-away data); full_page_writes stays on: a base backup needs it.
_SETTINGS = {
    "fsync": "off",
    "max_connections": "200",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_keep_size": "128MB",
}


@dataclass
class Node:
    """One server of the set."""

    name: str
    port: int
    cluster: PgCluster
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        """A direct URL to this node."""
        return make_url(LOOPBACK, self.port, user="postgres")

    @property
    def pid(self) -> int | None:
        """The postmaster's PID, or ``None`` when it is not running."""
        return self.cluster.pid

    def start(self) -> None:
        """Start (again) on the same port with the same settings."""
        self.cluster.start(self.port, self.settings)

    def stop(self) -> None:
        """Fast shutdown by PID (SIGINT)."""
        self.cluster.stop()

    def crash(self) -> None:
        """Immediate shutdown by PID (SIGQUIT: no checkpoint, sessions cut, like a crash)."""
        pid = self.cluster.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while self.cluster.pid is not None and time.monotonic() < deadline:
            time.sleep(0.01)

    def sql(self, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement on this node (autocommit) and return its rows."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


@dataclass
class ReplicaSet:
    """The primary and its standbys; :meth:`stop` stops every server by PID and deletes the folder."""

    run_dir: Path
    primary: Node
    standbys: list[Node]

    @property
    def nodes(self) -> list[Node]:
        """Every node, the primary first."""
        return [self.primary, *self.standbys]

    def wait_replayed(self, timeout: float = 15.0) -> None:
        """Until every running standby has replayed what the primary has written so far."""
        target = self.primary.sql("SELECT pg_current_wal_insert_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        for node in self.standbys:
            if node.pid is None:
                continue
            while not node.sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),))[0][0]:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{node.name} did not replay {target} within {timeout} s")
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop every server (by PID), then delete the folder."""
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _basebackup(bin_dir: Path, primary_port: int, target: Path, slot: str, cwd: Path) -> None:
    user = server_user()
    switch = not user.is_current
    cmd = [str(bin_dir / "pg_basebackup"), "-h", LOOPBACK, "-p", str(primary_port), "-U", "postgres"]
    cmd += ["-D", str(target), "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot, "--no-sync"]
    done = subprocess.run(
        cmd,
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        user=user.uid if switch else None,
        group=user.gid if switch else None,
        extra_groups=[] if switch else None,
    )
    if done.returncode != 0:
        raise Connect(f"pg_basebackup for {slot} failed (exit {done.returncode}): {done.stderr.strip()}")


def start_replica_set() -> ReplicaSet:
    """initdb a primary, base-backup two standbys from it and start all three (``UnavailableError``
    when PostgreSQL is not installed; ``Connect`` when it is but a server does not start)."""
    try:
        found = find_binaries()
    except Connect as exc:
        raise UnavailableError(exc.source) from exc
    user = server_user()
    run = _run_dir("axon-replicas-", user)
    binaries = binaries_for(user, found, run)
    nodes: list[Node] = []
    replica_set = None
    try:
        primary = Node(
            "primary",
            free_port(),
            PgCluster(
                run / "primary", binaries=binaries, user=user, log_file=run / "primary.log", socket_dir=run
            ),
            dict(_SETTINGS),
        )
        nodes.append(primary)
        primary.cluster.init()
        primary.start()
        _reap_if_orphaned(run, run / "primary" / "postmaster.pid", "INT")
        for n in (1, 2):
            name = f"standby{n}"
            _basebackup(binaries.bin_dir, primary.port, run / name, name, run)
            settings = dict(_SETTINGS, cluster_name=name)  # the walreceiver's application_name
            if n == 2:
                settings["recovery_min_apply_delay"] = f"{int(APPLY_DELAY_S * 1000)}ms"
            log = run / f"{name}.log"
            node = Node(
                name,
                free_port(),
                PgCluster(run / name, binaries=binaries, user=user, log_file=log, socket_dir=run),
                settings,
            )
            nodes.append(node)
            node.start()
            _reap_if_orphaned(run, run / name / "postmaster.pid", "INT")
        replica_set = ReplicaSet(run, primary, nodes[1:])
        _wait_streaming(replica_set)
    except BaseException:
        for node in reversed(nodes):
            with contextlib.suppress(Exception):
                node.stop()
        logs = "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted(run.glob("*.log")))
        shutil.rmtree(run, ignore_errors=True)
        if replica_set is None and logs:
            raise Connect(f"the replica set did not start:\n{logs}") from None
        raise
    return replica_set


def _wait_streaming(replica_set: ReplicaSet, timeout: float = 15.0) -> None:
    """Until the primary sees both standbys streaming."""
    deadline = time.monotonic() + timeout
    while True:
        rows = replica_set.primary.sql(
            "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
        )
        if {r[0] for r in rows} >= {"standby1", "standby2"}:
            return
        if time.monotonic() > deadline:
            raise Connect(f"the standbys are not streaming after {timeout} s: {rows}")
        time.sleep(0.05)


@contextlib.contextmanager
def replica_set() -> Iterator[ReplicaSet]:
    """A fresh set for the block."""
    started = start_replica_set()
    try:
        yield started
    finally:
        started.stop()
