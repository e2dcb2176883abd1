"""Every shell example of README.md and docs/cli.md survives being pasted into bash (issue 10 §4).

Each ``$ axonstore …`` line of a ```console block runs through ``bash -c`` — so the shell's own quoting
and ``${…}`` expansion apply, as when a user pastes it — in a scratch directory whose ``axonstore.toml``
declares the stores the examples use (``claims``, ``events``) on a fresh database of the suite's
PostgreSQL, with a few rows in each. ``axonstore`` on ``PATH`` is the package under test. The expected
exit code is read from the example itself: 1 when the output shown under it starts with ``error:``,
else 0. An example written ``"… '${s}' …"`` reaches axonstore with an empty literal and its ``--bind``
unused, which exits 2 (D17): it fails here instead of silently matching nothing for a reader.

Lines of other programs (``make``, ``psql``) are not run; the ``embedded`` examples run on a private
embedded server that is stopped afterwards; ``demo`` runs on the fresh database (``AXONSTORE_DEMO_DSN``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from axonstore.audit import AuditChain, summary_for
from axonstore.embedded import EmbeddedServer
from tests._servers import PgServer
from tests.test_docs import _SRC, ROOT, fenced_blocks, fresh_database

_DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "cli.md"]
_TIMEOUT_S = 120


@dataclass(frozen=True)
class Example:
    document: str
    line: int
    command: str
    shown: tuple[str, ...]  # the output printed under it in the document

    @property
    def expected_code(self) -> int:
        return 1 if self.shown and self.shown[0].startswith("error:") else 0


def shell_examples() -> list[Example]:
    examples: list[Example] = []
    for document in _DOCUMENTS:
        for block in fenced_blocks(document):
            if block.language != "console":
                continue
            lines = block.text.splitlines()
            for index, line in enumerate(lines):
                if not line.startswith("$ axonstore"):
                    continue
                shown: list[str] = []
                for following in lines[index + 1 :]:
                    if following.startswith("$ "):
                        break
                    shown.append(following)
                number = block.line + 1 + index
                examples.append(Example(document.name, number, line[2:], tuple(shown)))
    return examples


_SETUP = [
    "CREATE TABLE claims (id text PRIMARY KEY, status text, amount numeric(10,2), name text, note text,"
    " created timestamptz NOT NULL DEFAULT now())",
    "INSERT INTO claims (id, status, amount, name, created) SELECT 'k-' || i,"
    " (ARRAY['open', 'review', 'closed'])[1 + i % 3], 50 * i, 'claim ' || i, now() - i * interval '1 day'"
    " FROM generate_series(1, 12) AS i",
    "CREATE TABLE events (id serial PRIMARY KEY, kind text, at timestamptz NOT NULL DEFAULT now())",
    "INSERT INTO events (kind) SELECT (ARRAY['click', 'view'])[1 + i % 2] FROM generate_series(1, 20) AS i",
]


@pytest.fixture(scope="module")
def workdir(pg_server: PgServer) -> Iterator[Path]:
    """The scratch directory the examples run in: config, audit chain, an ``axonstore`` on PATH."""
    root = Path(tempfile.mkdtemp(prefix="axon-shell-examples-"))
    os.chmod(root, 0o755)  # as root the embedded server runs as another user, who must reach it
    with fresh_database(pg_server) as database:
        with psycopg.connect(database, autocommit=True) as conn:
            for statement in _SETUP:
                conn.execute(statement)  # fixed test DDL
        stores = "".join(
            f'[stores.{name}]\nbackend = "postgresql"\nconnection = {json.dumps(database)}\n\n'
            for name in ("claims", "events")
        )
        (root / "axonstore.toml").write_text(stores, encoding="utf-8")
        _write_audit_chain(root)
        _write_shim(root / "bin")
        (root / "database").write_text(database)
        try:
            yield root
        finally:
            EmbeddedServer(root / "embedded").stop()
            shutil.rmtree(root, ignore_errors=True)


def _write_audit_chain(root: Path) -> None:
    """``audit.jsonl`` with 3 entries, signed with ``audit.key`` (the `audit verify` example)."""
    key = bytes(range(32))
    chain = AuditChain(key)
    for op in ("persist", "mutate", "purge"):
        chain.append(op, "claims", summary_for(op, "claims", 1))
    with (root / "audit.jsonl").open("w", encoding="utf-8") as handle:
        chain.export_jsonl(handle)
    (root / "audit.key").write_text(key.hex() + "\n")


def _write_shim(bin_dir: Path) -> None:
    bin_dir.mkdir()
    shim = bin_dir / "axonstore"
    shim.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(_SRC)} exec {shlex.quote(sys.executable)} -c "
        "'import sys; from axonstore.cli import main; sys.exit(main())' \"$@\"\n"
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_the_documents_have_shell_examples() -> None:
    found = shell_examples()
    assert {e.document for e in found} == {"README.md", "cli.md"}
    assert len(found) >= 15


@pytest.mark.parametrize("example", shell_examples(), ids=lambda e: f"{e.document}:{e.line}")
def test_every_shell_example_runs_in_bash(example: Example, workdir: Path) -> None:
    if "embedded url" in example.command:
        EmbeddedServer(workdir / "embedded").ensure_running()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXONSTORE_")}
    env |= {
        "PATH": f"{workdir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "AXONSTORE_EMBEDDED_DIR": str(workdir / "embedded"),
        "AXONSTORE_DEMO_DSN": (workdir / "database").read_text(),
    }
    run = subprocess.run(
        ["bash", "-c", example.command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    where = f"{example.document}:{example.line}: {example.command}"
    assert run.returncode == example.expected_code, (
        f"{where}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    )
    if example.expected_code:
        assert run.stderr.startswith(example.shown[0].split("…")[0].rstrip(" —")), f"{where}\n{run.stderr}"
