#!/usr/bin/env python3
"""Generate the synchronous flavour of axonstore from its async source (the idea of psycopg's
``tools/async_to_sync.py``, on text rather than on the AST so that comments and docstrings survive).

Each async module (``<room>/aio.py``) has a generated twin (``<room>/sync.py``) that nobody edits. The
transform is small and closed:

* ``await x`` → ``x``; ``async def`` / ``async with`` / ``async for`` → ``def`` / ``with`` / ``for``;
* names in :data:`RENAMES` (``AsyncConnectionPool`` → ``ConnectionPool``, ``aclose`` → ``close``, …),
  matched as whole words, comments and docstrings included; ``AsyncGenerator[T, None]`` →
  ``Generator[T, None, None]``; ``axonstore.<room>.aio`` → ``axonstore.<room>.sync``;
* a line holding ``# sync: <code>`` becomes ``<code>`` at the same indentation (``# sync: drop``
  removes it), and the lines from ``# async-only: begin`` to ``# async-only: end`` are left out — how
  the few lines that differ in kind, not in spelling (the event loop's), are written once, side by side.

Then ``ruff`` sorts the imports and lays the result out. ``--check`` exits 1 when a generated file
is stale (the test suite runs it); otherwise the files are rewritten.

    python tools/async_to_sync.py          # regenerate
    python tools/async_to_sync.py --check  # CI: fail on a stale file
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "axonstore"
#: (async source, generated sync twin), relative to the package.
MODULES = (
    ("verbs/aio.py", "verbs/sync.py"),
    ("backend/aio.py", "backend/sync.py"),
    ("memory/aio.py", "memory/sync.py"),
    ("registry/aio.py", "registry/sync.py"),
)
RENAMES = {
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncRawCursor": "RawCursor",
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AsyncVerbs": "SyncVerbs",
    "AsyncGenerator": "Generator",
    "async_flavour": "sync_flavour",
    "asynccontextmanager": "contextmanager",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "aclosing": "closing",
    "aclose": "close",
    "athrow": "throw",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "drain_with_policy": "drain_rows",
    "adrain_chunks": "drain_chunks",
    "stream_with_policy": "iter_with_policy",
}
_WORDS = re.compile(r"\b(" + "|".join(sorted(RENAMES, key=len, reverse=True)) + r")\b")
_AWAIT = re.compile(r"\bawait\s+")
_ASYNC_KEYWORD = re.compile(r"\basync\s+(def|with|for)\b")
_ASYNC_GENERATOR = re.compile(r"\bAsyncGenerator\[([^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*), None\]")
_AIO_MODULE = re.compile(r"\baxonstore\.(\w+)\.aio\b")
_SPELLINGS = (
    (_AWAIT, ""),
    (_ASYNC_KEYWORD, r"\1"),
    (_ASYNC_GENERATOR, r"Generator[\1, None, None]"),
    (_AIO_MODULE, r"axonstore.\1.sync"),
)
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*#\s*sync:\s?(?P<sync>.*)$")


def transform(source: str, origin: str) -> str:
    """The sync twin of one async module's text (before formatting)."""
    out = [
        f"# Generated from src/axonstore/{origin} by tools/async_to_sync.py: do not edit; edit the async\n"
        "# source and run `python tools/async_to_sync.py` (a test fails while this file is stale).\n"
    ]
    skipping = False
    for given in source.splitlines(keepends=True):
        marker = given.strip()
        if marker in ("# async-only: begin", "# async-only: end"):
            skipping = marker.endswith("begin")
            continue
        if skipping:
            continue
        line = given
        directive = _DIRECTIVE.match(line)
        if directive is not None:
            replacement = directive["sync"].rstrip()
            if replacement == "drop":
                continue
            line = f"{directive['indent']}{replacement}\n"
        out.append(_respelled(line))
    return "".join(out)


def _respelled(line: str) -> str:
    for pattern, replacement in _SPELLINGS:
        line = pattern.sub(replacement, line)
    return _WORDS.sub(lambda m: RENAMES[m[1]], line)


def formatted(text: str, target: Path) -> str:
    """Sort the imports the renaming disordered, drop the ones it left unused, then ``ruff format`` —
    as if the text lived at ``target`` (the project's settings)."""
    fix = ["check", "--fix", "--exit-zero", "--quiet", "--select", "I001,F401"]
    for step in (fix, ["format"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *step, "--stdin-filename", str(target), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(f"ruff {step[0]} failed on the twin of {target}:\n{done.stderr}")
        text = done.stdout
    return text


def generate(check: bool) -> int:
    """Regenerate every twin (or, with ``check``, report the stale ones); the exit status."""
    stale = []
    for source, target in MODULES:
        path = PACKAGE / target
        text = formatted(transform((PACKAGE / source).read_text(), source), path)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(target)
        if not check:
            path.write_text(text)
    if stale and check:
        print("stale generated file(s): " + ", ".join(stale), file=sys.stderr)
        print("run: python tools/async_to_sync.py", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """The command line: ``--check`` or regenerate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    return generate(parser.parse_args().check)


if __name__ == "__main__":
    raise SystemExit(main())
