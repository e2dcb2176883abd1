"""The CLI's audit log: ``--audit-log FILE --key-file KEYFILE`` on the writes, and ``axonstore audit verify``.

An audit chain kept in a JSON-lines file across runs: each write takes an exclusive lock next to the file,
re-reads and verifies the chain (a broken chain or a wrong key refuses the write before it happens),
appends this run's entries and replaces the file atomically; a missing key file is created (0600) while
the log has no entries. Apart from :mod:`axonstore.cli` because file locking and key handling are their
own concern; ``read_key`` is re-exported there.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from axonstore.audit import AuditChain
from axonstore.cli._inputs import _DEFAULT_CONFIG, AsJson, Config, Debug, _opts
from axonstore.cli._output import EXIT_OK, _console, _Opts, _print_json, _run

__all__ = ["read_key"]

_audit_app = typer.Typer(help="Audit chains written with --audit-log.")

AuditLog = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        envvar="AXONSTORE_AUDIT_LOG",
        dir_okay=False,
        help="Append the write to an audit chain.",
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        metavar="KEYFILE",
        envvar="AXONSTORE_AUDIT_KEY_FILE",
        dir_okay=False,
        help="The chain's HMAC key (hex); created when neither it nor the log exists yet.",
    ),
]


@dataclass(frozen=True)
class _AuditFile:
    """An audit chain kept in a JSON-lines file across CLI runs, signed with the key in ``key_file``.

    Each write re-reads the file under an exclusive lock, verifies it, appends this run's entries and
    replaces the file atomically, so concurrent runs never lose or fork entries.
    """

    path: Path
    key_file: Path

    @classmethod
    def from_options(cls, path: Path | None, key_file: Path | None) -> _AuditFile | None:
        if path is None:
            if key_file is not None:
                raise typer.BadParameter("--key-file needs --audit-log", param_hint="'--key-file'")
            return None
        if key_file is None:
            raise typer.BadParameter("--audit-log needs --key-file (the HMAC key)", param_hint="'--key-file'")
        return cls(path, key_file)

    def check(self) -> None:
        with self._locked():
            self._load()

    def record(self, entries: AuditChain) -> None:
        with self._locked():
            chain = self._load()
            for entry in entries:
                payload = entry.payload
                chain.append(payload["op"], payload["store"], payload["summary"], payload["timestamp_ms"])
            text = io.StringIO()
            chain.export_jsonl(text)
            _replace(self.path, text.getvalue())

    def _load(self) -> AuditChain:
        has_entries = self.path.is_file() and self.path.stat().st_size > 0
        if not self.key_file.exists():
            if has_entries:
                raise typer.BadParameter(
                    f"{self.key_file} does not exist but {self.path} has entries — give the key they "
                    "were signed with",
                    param_hint="'--key-file'",
                )
            _replace(self.key_file, secrets.token_hex(32) + "\n", mode=0o600)
        key = read_key(self.key_file)
        if not has_entries:
            return AuditChain(key)
        with self.path.open(
            encoding="utf-8", errors="surrogateescape"
        ) as handle:  # bad bytes: AuditChainBroken
            chain = AuditChain.import_jsonl(handle, key=key)
        chain.verify()
        return chain

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def read_key(path: Path) -> bytes:
    """An audit key file: hex text (what the CLI writes) is decoded; any other content is the raw key."""
    data = path.read_bytes()
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = data
    if not key:
        raise typer.BadParameter(f"{path} is empty", param_hint="'--key-file'")
    return key


def _replace(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


@_audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, help="An audit log (JSON lines).")
    ],
    key_file: Annotated[
        Path, typer.Option(metavar="KEYFILE", exists=True, dir_okay=False, help="The chain's HMAC key.")
    ],
    head: Annotated[
        str | None, typer.Option(metavar="HASH", help="The head you kept: detects a cut tail.")
    ] = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Verify every link and signature of an exported audit chain."""
    _run(_opts(config, as_json, debug), lambda opts: _audit_verify(opts, file, key_file, head))


async def _audit_verify(opts: _Opts, file: Path, key_file: Path, head: str | None) -> int:
    key = read_key(key_file)
    with file.open(encoding="utf-8", errors="surrogateescape") as handle:  # bad bytes: AuditChainBroken
        chain = AuditChain.import_jsonl(handle, key=key)
    chain.verify(expected_head=head)
    if opts.json:
        _print_json({"file": str(file), "verified": True, "entries": len(chain), "head": chain.head})
    else:
        _console().print(Text(f"ok: {len(chain)} entries verified; head {chain.head}"))
    return EXIT_OK
