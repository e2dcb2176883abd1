"""The test suite's servers: PostgreSQL (through ``axonstore.embedded``) and a hostile PgBouncer.

A server that is not installed raises :class:`UnavailableError`; the fixtures turn that into a loud skip
locally and a failure under ``CI=true`` (:func:`unavailable`). A server that is installed but does not
start is always a failure. Everything started here is stopped by PID.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict

from axonstore.embedded import (
    PgCluster,
    ServerUser,
    binaries_for,
    find_binaries,
    free_port,
    process_alive,
    server_user,
)
from axonstore.errors import Connect

EXTERNAL_ENV = "AXON_TEST_DATABASE_URL"
PG_PORT_ENV = "AXON_TEST_PG_PORT"
BOUNCER_PORT_ENV = "AXON_TEST_PGBOUNCER_PORT"
LOOPBACK = "127.0.0.1"

# Durability off: the suite's data is thrown away, and fsync dominates a test run's time.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class UnavailableError(Exception):
    """A server the database tests need is not installed here."""


def in_ci() -> bool:
    """True when ``CI`` says so (``true``/``1``/``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip loudly — or, under ``CI=true``, fail: a CI run never silently skips a database test."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(f"!!! DATABASE TEST SKIPPED !!! {reason} (with CI=true this is a failure)")


def make_url(
    host: str, port: int, *, user: str, password: str | None = None, dbname: str = "postgres"
) -> str:
    """A libpq URL with ``sslmode=disable`` (the wire logger cannot read TLS)."""
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):  # a Unix-socket folder
        query = f"host={quote(host)}&port={port}&sslmode=disable"
        return f"postgresql://{userinfo}@/{quote(dbname, safe='')}?{query}"
    netloc = f"[{host}]" if ":" in host else host
    return f"postgresql://{userinfo}@{netloc}:{port}/{quote(dbname, safe='')}?sslmode=disable"


def _env_port(var: str) -> int:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return free_port()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        pytest.fail(f"{var}={raw!r} is not a TCP port", pytrace=False)
    return int(raw)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _kill(pid: int, sig: signal.Signals, timeout: float = 10.0) -> None:
    """Signal ``pid`` and wait until it is gone; SIGKILL when it outlives ``timeout``."""
    try:
        os.kill(pid, sig)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _reap_if_orphaned(run_dir: Path, pidfile: Path, sig: str) -> None:
    """Stop the server and remove ``run_dir`` if this test process dies without its teardown.

    A killed or timed-out pytest (SIGKILL, a CI timeout) runs no finalizer; a small detached shell
    waits for it and cleans up, reading the PID from the pidfile then (a restart changes it). After a
    normal teardown the folder is gone and the shell only exits.
    """
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
        f'pid=$(head -n 1 "{pidfile}" 2>/dev/null) && [ -n "$pid" ] && kill -{sig} "$pid"; '
        f'sleep 2; rm -rf "{run_dir}"'
    )
    # Started in the background by a shell that exits at once: the watcher outlives this call without
    # a Popen object left waiting for it.
    subprocess.run(
        ["/bin/sh", "-c", f"( {script} ) >/dev/null 2>&1 &"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )


def _run_dir(prefix: str, user: ServerUser) -> Path:
    """A fresh folder owned by the server user: it writes data, socket, logs and pidfile there."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    user.own(path)
    return path


# --------------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass
class PgServer:
    """The server the suite talks to; ``dsn``/``admin_dsn`` are direct (the wire logger is elsewhere)."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str
    cluster: PgCluster | None = None  # None: an external server (AXON_TEST_DATABASE_URL)
    run_dir: Path | None = None

    @property
    def dsn(self) -> str:
        """A direct libpq URL (``sslmode=disable``)."""
        return make_url(self.host, self.port, user=self.user, password=self.password, dbname=self.dbname)

    @property
    def admin_dsn(self) -> str:
        """A superuser URL for DDL in test set-up (the same account here)."""
        return self.dsn

    def restart(self) -> None:
        """Fast restart (every session is cut); returns once the server accepts connections again."""
        if self.cluster is None:
            unavailable(f"restart() needs the suite's own server, not ${EXTERNAL_ENV}")
        self.cluster.restart()

    def stop(self) -> None:
        """Stop the server (by PID) and delete its folder; a no-op for an external server."""
        if self.cluster is not None:
            self.cluster.stop()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def external_postgres(url: str) -> PgServer:
    """The server named by ``AXON_TEST_DATABASE_URL`` (host defaults to localhost, port to 5432)."""
    params = conninfo_to_dict(url)
    user = str(params.get("user") or getpass.getuser())
    return PgServer(
        host=str(params.get("host") or "localhost"),
        port=int(params.get("port") or 5432),
        user=user,
        password=str(params["password"]) if params.get("password") else None,
        dbname=str(params.get("dbname") or user),
    )


def start_postgres() -> PgServer:
    """initdb + start a throw-away cluster on loopback TCP, as a non-root user, durability off."""
    try:
        binaries = find_binaries()
    except Connect as exc:
        raise UnavailableError(exc.source) from exc
    user = server_user()
    run = _run_dir("axon-pg-", user)
    server = PgServer(LOOPBACK, _env_port(PG_PORT_ENV), "postgres", None, "postgres", run_dir=run)
    try:
        server.cluster = PgCluster(
            run / "data",
            binaries=binaries_for(user, binaries, run),
            user=user,
            log_file=run / "postgres.log",
            socket_dir=run,
        )
        server.cluster.init()
        server.cluster.start(server.port, FAST_SETTINGS)
    except BaseException:
        server.stop()
        raise
    _reap_if_orphaned(run, run / "data" / "postmaster.pid", "INT")  # SIGINT: a fast shutdown
    return server


# --------------------------------------------------------------------------------------------------
# PgBouncer


@dataclass
class PgBouncer:
    """PgBouncer 1.18 in ``pool_mode=transaction`` with 2 server connections per pool."""

    host: str
    port: int
    dsn: str
    run_dir: Path
    pid: int | None = None

    def stop(self) -> None:
        """SIGTERM (immediate shutdown) by PID, then delete the folder."""
        if self.pid is not None:
            _kill(self.pid, signal.SIGTERM)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _pgbouncer_exe() -> str:
    exe = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if exe is None:
        raise UnavailableError("PgBouncer is not installed — apt-get install pgbouncer (or run .ci/run)")
    return exe


def _pgbouncer_ini(run: Path, pg: PgServer, port: int) -> Path:
    userlist = run / "userlist.txt"
    userlist.write_text(f'"{pg.user}" "{pg.password or ""}"\n')  # trust auth still needs the user listed
    ini = run / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host={pg.host} port={pg.port}
[pgbouncer]
listen_addr = {LOOPBACK}
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {userlist}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
admin_users = {pg.user}
logfile = {run / "pgbouncer.log"}
pidfile = {run / "pgbouncer.pid"}
"""
    )
    return ini


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_for_pgbouncer(bouncer: PgBouncer, timeout: float = 10.0) -> None:
    """``pgbouncer -d`` exits 0 even when the daemon dies at once: wait for the pidfile AND the port."""
    pidfile = bouncer.run_dir / "pgbouncer.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text.isdigit():
            bouncer.pid = int(text)
            if not process_alive(bouncer.pid):
                break
            if _accepts(bouncer.port):
                return
        time.sleep(0.01)
    raise RuntimeError(
        f"PgBouncer did not come up on port {bouncer.port}:\n{_tail(bouncer.run_dir / 'pgbouncer.log')}"
    )


def start_pgbouncer(pg: PgServer) -> PgBouncer:
    """Start PgBouncer in front of ``pg`` (as the server user: it refuses root)."""
    exe = _pgbouncer_exe()
    user = server_user()
    run = _run_dir("axon-pgb-", user)
    port = _env_port(BOUNCER_PORT_ENV)
    dsn = make_url(LOOPBACK, port, user=pg.user, password=pg.password, dbname=pg.dbname)
    bouncer = PgBouncer(LOOPBACK, port, dsn, run)
    try:
        ini = _pgbouncer_ini(run, pg, port)
        user.own(ini, run / "userlist.txt")
        drop = ["-u", user.name] if os.geteuid() == 0 else []
        with tempfile.TemporaryFile() as out:  # never a pipe: the daemon could inherit it
            done = subprocess.run(
                [exe, "-d", *drop, str(ini)], stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
            )
            out.seek(0)
            said = out.read().decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"pgbouncer exited {done.returncode}: {said}")
        _wait_for_pgbouncer(bouncer)
    except BaseException:
        bouncer.stop()
        raise
    _reap_if_orphaned(run, run / "pgbouncer.pid", "TERM")
    return bouncer
