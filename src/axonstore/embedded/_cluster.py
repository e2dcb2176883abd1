"""One PostgreSQL cluster (data folder) and its server process: :class:`PgCluster` and process helpers.

:class:`PgCluster` runs ``initdb``, starts the server on ``127.0.0.1:<port>``, fast-stops it by PID and
restarts it; the helpers below it pick free ports, tell a live process from a zombie, read the
postmaster's PID file and stop a server by PID. The test harness drives these directly. Apart from
:mod:`axonstore.embedded` (the long-lived, file-locked server the CLI uses) so that the low level reads
on its own; :mod:`axonstore.embedded` re-exports the public names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from axonstore.embedded._binaries import _SUPERUSER, PgBinaries, ServerUser, _failure, _run
from axonstore.errors import Connect

__all__ = ["PgCluster", "free_port", "postmaster_pid", "process_alive", "stop_postmaster"]

# One logger name for the embedded server, whichever of its modules logs.
_LOG = logging.getLogger("axonstore.embedded")

_HOST = "127.0.0.1"


# --------------------------------------------------------------------------------------------------
# Ports and processes


def free_port(host: str = _HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int, host: str = _HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def process_alive(pid: int) -> bool:
    """True for a live process; a zombie (nobody reaped it: our PID 1 may not) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc/self").exists()  # no procfs (not Linux): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return not Path("/proc/self").exists()


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID of the postmaster serving ``data_dir``, or ``None`` when none is alive."""
    lines = _pidfile_lines(data_dir)
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    return pid if process_alive(pid) and _is_postgres(pid) else None


def _pidfile_lines(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _lock_pid(lock: Path) -> int | None:
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return abs(int(first)) if first.lstrip("-").isdigit() else None  # a standalone backend writes -pid


def _pidfile_port(data_dir: Path) -> int | None:
    lines = _pidfile_lines(data_dir)
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def stop_postmaster(data_dir: Path, timeout: float = 30.0) -> bool:
    """Fast-stop the server of ``data_dir`` by PID (SIGINT; SIGQUIT after ``timeout``).

    Returns ``False`` when no server was running.
    """
    pid = postmaster_pid(data_dir)
    if pid is None:
        return False
    _LOG.info("stopping PostgreSQL (pid %d, %s)", pid, data_dir)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: roll back sessions, checkpoint, exit
        if not _wait_gone(pid, timeout):
            _LOG.warning(
                "PostgreSQL pid %d ignored a fast shutdown for %.0f s; sending SIGQUIT", pid, timeout
            )
            os.kill(pid, signal.SIGQUIT)
            _wait_gone(pid, 10.0)
    return True


# --------------------------------------------------------------------------------------------------
# One cluster (data folder) and its server


def _locale_args() -> list[str]:
    # C.UTF-8 keeps sorting byte-wise but lets lower()/ILIKE fold non-ASCII; not every system has it.
    return ["--locale=C.UTF-8"] if Path("/usr/lib/locale/C.utf8").is_dir() else ["--no-locale"]


class PgCluster:
    """A PostgreSQL data folder and the server on ``host:port`` that serves it.

    Every file the server writes (``data_dir``, ``log_file``, ``socket_dir``) must be writable by ``user``.
    ``socket_dir=None`` disables the Unix socket.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        binaries: PgBinaries,
        user: ServerUser,
        log_file: Path,
        socket_dir: Path | None = None,
        host: str = _HOST,
    ) -> None:
        self.data_dir = data_dir
        self.binaries = binaries
        self.user = user
        self.log_file = log_file
        self.socket_dir = socket_dir
        self.host = host
        self.port: int | None = None
        self._settings: dict[str, str] = {}

    @property
    def initialized(self) -> bool:
        """True once ``initdb`` has run here."""
        return (self.data_dir / "PG_VERSION").is_file()

    @property
    def pid(self) -> int | None:
        """The postmaster's PID, or ``None`` when it is not running."""
        return postmaster_pid(self.data_dir)

    def init(self) -> None:
        """Create the cluster: superuser ``postgres``, trust auth, UTF-8, no fsync during initdb."""
        args = ["-D", str(self.data_dir), "-U", _SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync"]
        _run([self.binaries.tool("initdb"), *args, *_locale_args()], self.user, cwd=self._cwd, what="initdb")
        _LOG.info("initialised PostgreSQL cluster in %s", self.data_dir)

    def start(self, port: int, settings: Mapping[str, str] | None = None, timeout: float = 60.0) -> int:
        """Start the server on ``host:port`` with ``-c settings``; wait until it accepts; return its PID."""
        self.port, self._settings = port, dict(settings or {})
        deadline = time.monotonic() + timeout
        while True:
            self._remove_stale_locks()
            try:
                self._pg_ctl_start(port, max(1.0, deadline - time.monotonic()))
                break
            except Connect:
                # After a kill -9 the old children may still hold the shared memory for a moment.
                if time.monotonic() > deadline or not self._log_says("is still in use", "already exists"):
                    raise
                time.sleep(0.1)
        pid = self.pid
        if pid is None:
            raise _failure(f"server on port {port} exited right after starting", self.log_file)
        _LOG.info("PostgreSQL %s ready on %s:%d (pid %d)", self.data_dir, self.host, port, pid)
        return pid

    def stop(self, timeout: float = 30.0) -> bool:
        """Fast-stop the server by PID; ``False`` if it was not running."""
        return stop_postmaster(self.data_dir, timeout)

    def restart(self, timeout: float = 60.0) -> int:
        """Fast-stop, then start again with the same port and settings; return the new PID."""
        if self.port is None:
            raise _failure("restart() before start(): no port known")
        self.stop()
        return self.start(self.port, self._settings, timeout)

    @property
    def _cwd(self) -> Path:
        return self.data_dir.parent  # root's cwd may be unreadable for the server user

    def _pg_ctl_start(self, port: int, timeout: float) -> None:
        opts = ["-h", self.host, "-p", str(port), "-k", str(self.socket_dir or "")]
        for key, value in self._settings.items():
            opts += ["-c", f"{key}={value}"]
        cmd = [self.binaries.tool("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w"]
        cmd += ["-t", str(max(1, round(timeout))), "-o", shlex.join(opts), "start"]
        _run(
            cmd, self.user, cwd=self._cwd, what=f"starting the server on port {port}", log_file=self.log_file
        )

    def _remove_stale_locks(self) -> None:
        """Delete lock files of a dead server. PostgreSQL would do it, but it takes a zombie (a killed
        postmaster that nobody reaped yet) for a live server and refuses to start."""
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists() or self.pid is not None:
            return
        stale = [pidfile]
        if self.socket_dir is not None:
            stale += self.socket_dir.glob(".s.PGSQL.*.lock")  # only a live server's PID keeps one
        for lock in stale:
            pid = _lock_pid(lock)
            if pid is None or not process_alive(pid):
                _LOG.info("removing stale %s (its server is gone)", lock)
                lock.unlink(missing_ok=True)

    def _log_says(self, *needles: str) -> bool:
        try:
            tail = self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return False
        return any(needle in tail for needle in needles)
