"""Every ```python snippet of README.md and docs/*.md runs, as a new user would run it (issue 10 §5).

Convention — what a snippet may rely on (and nothing else):

* It runs as its own program: ``python -`` in a fresh temporary directory, with a timeout (a program
  that never exits — a pool left open — fails the test instead of hanging it).
* ``DATABASE_URL`` and ``AXONSTORE_DSN`` are set to a **fresh, empty database** on the suite's
  PostgreSQL, created for that snippet alone and dropped after it. A snippet creates the tables it needs
  (the README's ``CREATE TABLE`` is part of its quick start), so it can be pasted as it is.
* The document's first ```toml block, if it has one, is saved as ``axonstore.toml`` next to it, so a
  snippet that declares stores in prose and loads them with ``StoreRegistry.from_toml`` runs too.
* A snippet written as an interactive session (lines starting ``>>>``) is run by :mod:`doctest`
  (``ELLIPSIS``: write ``...`` for the parts of an output you leave out), in the same way.

A snippet is never skipped: the database comes from the ``pg_server`` fixture, which under ``CI=true``
fails when there is no server. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

import axonstore
from tests._servers import PgServer, make_url

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SRC = str(Path(axonstore.__file__).resolve().parents[1])  # the axonstore under test (a worktree's src)
_TIMEOUT_S = 120
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    """One fenced block: where it is, its language and its text."""

    document: Path
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def fenced_blocks(document: Path) -> list[Snippet]:
    """Every fenced block of a Markdown file, with the line its fence opens on."""
    text = document.read_text(encoding="utf-8")
    return [
        Snippet(document, text.count("\n", 0, m.start()) + 1, m.group(1).lower(), m.group(2))
        for m in _FENCE.finditer(text)
    ]


def python_snippets() -> list[Snippet]:
    return [s for doc in DOCUMENTS for s in fenced_blocks(doc) if s.language in ("python", "py", "pycon")]


@contextlib.contextmanager
def fresh_database(server: PgServer) -> Iterator[str]:
    """A new empty database on ``server`` (its URL), dropped afterwards with every session on it."""
    name = f"docs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server.host, server.port, user=server.user, password=server.password, dbname=name)
    finally:
        with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _program(snippet: Snippet) -> str:
    if not snippet.text.lstrip().startswith(">>>"):
        return snippet.text
    # An interactive session: run it through doctest, as its own program.
    return (
        "import doctest, sys\n"
        f"source = {snippet.text!r}\n"
        "parser = doctest.DocTestParser()\n"
        f"test = parser.get_doctest(source, {{}}, {snippet.id!r}, {snippet.id!r}, 0)\n"
        "flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE\n"
        "runner = doctest.DocTestRunner(optionflags=flags)\n"
        "runner.run(test)\n"
        "sys.exit(1 if runner.failures else 0)\n"
    )


def run_snippet(snippet: Snippet, database: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run one snippet as its own program (see the module docstring for what it may rely on)."""
    toml = next((b for b in fenced_blocks(snippet.document) if b.language == "toml"), None)
    if toml is not None:
        (workdir / "axonstore.toml").write_text(toml.text, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AXONSTORE_", "AXON_DB_"))},
        "DATABASE_URL": database,
        "AXONSTORE_DSN": database,
        "PYTHONPATH": _SRC,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [sys.executable, "-"],
        input=_program(snippet),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )


def test_the_documents_have_python_snippets() -> None:
    """The extraction itself: a fence that the pattern missed would make the test below pass vacuously."""
    readme = [s for s in python_snippets() if s.document.name == "README.md"]
    assert len(readme) >= 2
    fences = (ROOT / "README.md").read_text(encoding="utf-8").count("```python")
    assert len(readme) == fences


@pytest.mark.parametrize("snippet", python_snippets(), ids=lambda s: s.id)
def test_every_python_snippet_runs(snippet: Snippet, pg_server: PgServer) -> None:
    with fresh_database(pg_server) as database, tempfile.TemporaryDirectory() as scratch:
        try:
            run = run_snippet(snippet, database, Path(scratch))
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{snippet.id} did not exit within {_TIMEOUT_S} s (a pool left open?): {exc}")
    assert run.returncode == 0, f"{snippet.id} failed:\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
