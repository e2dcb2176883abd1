"""The CLI's embedded server: started on first use, reused, one per data folder, restarted when it died."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from axonstore.embedded import (
    ENV_BIN,
    ENV_DIR,
    EmbeddedServer,
    default_data_root,
    find_binaries,
    process_alive,
)
from axonstore.errors import Connect
from tests._servers import unavailable

_READY = "database system is ready to accept connections"


@pytest.fixture
def root() -> Iterator[Path]:
    """A fresh data root; whatever server it holds is stopped and the folder removed afterwards."""
    try:
        find_binaries()
    except Connect as exc:
        unavailable(f"no PostgreSQL binaries for the embedded server: {exc}")
    parent = Path(tempfile.mkdtemp(prefix="axon-emb-"))
    os.chmod(parent, 0o755)  # as root the server runs as another user, who must reach the data root
    data_root = parent / "embedded"
    try:
        yield data_root
    finally:
        EmbeddedServer(data_root).stop()
        shutil.rmtree(parent, ignore_errors=True)


def _select_one(url: str) -> None:
    with psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def _ready_lines(root: Path) -> int:
    return (root / "run" / "server.log").read_text().count(_READY)


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while process_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} survived SIGKILL"
        time.sleep(0.01)


@pytest.mark.db
def test_start_reuse_stop(root: Path) -> None:
    server = EmbeddedServer(root)
    assert not server.status().running
    with pytest.raises(Connect, match="axonstore embedded start"):
        server.url()

    url = server.ensure_running()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert url.endswith("/postgres?sslmode=disable")
    _select_one(url)
    first = server.status()
    assert first.running
    assert first.pid is not None
    assert first.url == url == server.url()
    assert first.data_dir == root / "pgdata"

    again = EmbeddedServer(root)  # a later CLI run
    assert again.ensure_running() == url
    assert again.status().pid == first.pid
    assert _ready_lines(root) == 1

    assert again.stop() is True
    assert not process_alive(first.pid)
    status = server.status()
    assert (status.running, status.pid, status.url, status.port) == (False, None, None, first.port)
    assert server.stop() is False


_STARTER = """
import json, sys
from pathlib import Path
from axonstore.embedded import EmbeddedServer
server = EmbeddedServer(Path(sys.argv[1]))
url = server.ensure_running()
print(json.dumps({"url": url, "pid": server.status().pid}))
"""


def _postmasters(data_dir: Path) -> list[int]:
    """PIDs of live processes running ``postgres -D <data_dir>`` (backends rewrite their titles)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(data_dir).encode() in argv and process_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


@pytest.mark.db
def test_concurrent_starts_make_one_server(root: Path) -> None:
    starters = [
        subprocess.Popen([sys.executable, "-c", _STARTER, str(root)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in starters]
    assert all(p.returncode == 0 for p in starters)
    assert len({r["url"] for r in results}) == 1
    assert len({r["pid"] for r in results}) == 1
    assert _postmasters(root / "pgdata") == [results[0]["pid"]]
    assert _ready_lines(root) == 1


@pytest.mark.db
def test_killed_server_is_started_again(root: Path) -> None:
    server = EmbeddedServer(root)
    url = server.ensure_running()
    dead = server.status().pid
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    _wait_dead(dead)
    assert not server.status().running

    assert server.ensure_running() == url  # the remembered port was free again
    assert server.status().pid not in (None, dead)
    _select_one(url)


@pytest.mark.db
def test_taken_port_is_replaced_and_remembered(root: Path) -> None:
    server = EmbeddedServer(root)
    server.ensure_running()
    old = server.status().port
    assert old is not None
    server.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        url = server.ensure_running()
    new = server.status().port
    assert new not in (None, old)
    assert url.startswith(f"postgresql://postgres@127.0.0.1:{new}/")
    _select_one(url)
    server.stop()
    assert EmbeddedServer(root).status().port == new


@pytest.mark.db
def test_start_failure_names_the_cause(root: Path) -> None:
    server = EmbeddedServer(root)
    server.ensure_running()
    server.stop()
    with open(root / "pgdata" / "postgresql.conf", "a") as conf:
        conf.write("\nno_such_setting = 1\n")
    with pytest.raises(Connect, match=r'(?s)starting the server.*"no_such_setting"'):
        server.ensure_running(timeout=10)
    assert not server.status().running


def test_missing_binaries_are_a_typed_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_BIN, str(tmp_path))
    with pytest.raises(Connect, match=f"{ENV_BIN}.*initdb"):
        find_binaries()


def test_data_root_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "x"))
    assert default_data_root() == tmp_path / "x"
    assert EmbeddedServer().data_dir == tmp_path / "x" / "pgdata"
    monkeypatch.delenv(ENV_DIR)
    assert default_data_root() != tmp_path / "x"
