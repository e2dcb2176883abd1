"""A backend or registry that is never closed never keeps the process alive (CONTRACT §3.1, issue 10.1).

Each case runs a small program in a subprocess with a timeout: a hang is a failure, not a stuck suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_ROOT = Path(__file__).resolve().parents[2]

_PROGRAMS = {
    "async-return": """
        import asyncio
        from axonstore import PostgresStoreBackend
        async def main():
            backend = PostgresStoreBackend.connect_named("env:AXON_TEST_DSN", "lifecycle")
            print(len(await backend.query("pg_class", "relname = 'pg_class'")))
        asyncio.run(main())
    """,
    "async-raise": """
        import asyncio
        from axonstore import PostgresStoreBackend, UnknownColumn
        async def main():
            backend = PostgresStoreBackend.connect_named("env:AXON_TEST_DSN", "lifecycle")
            await backend.query("pg_class", "no_such_column = 1")
        try:
            asyncio.run(main())
        except UnknownColumn:
            print("raised")
    """,
    "async-registry": """
        import asyncio
        from axonstore import StoreRegistry
        from axonstore.declarations import StoreSpec
        async def main():
            registry = StoreRegistry.build(
                [StoreSpec(name="pg_class", backend="postgresql", connection="env:AXON_TEST_DSN")]
            )
            result = await registry.store("pg_class").retrieve("relname = 'pg_class'")
            print(len(result.rows))
        asyncio.run(main())
    """,
    "async-open-stream": """
        import asyncio
        from axonstore import PostgresStoreBackend
        async def main():
            backend = PostgresStoreBackend.connect_named("env:AXON_TEST_DSN", "lifecycle")
            rows = backend.iter_rows("pg_attribute")
            print(len(await anext(rows)) > 0)   # left open, never closed
        asyncio.run(main())
    """,
    "sync-return": """
        from axonstore.sync import PostgresStoreBackend
        backend = PostgresStoreBackend.connect_named("env:AXON_TEST_DSN", "lifecycle")
        print(len(backend.query("pg_class", "relname = 'pg_class'")))
    """,
    "sync-open-stream": """
        from axonstore.sync import PostgresStoreBackend
        backend = PostgresStoreBackend.connect_named("env:AXON_TEST_DSN", "lifecycle")
        rows = backend.iter_rows("pg_attribute")
        print(len(next(rows)) > 0)
    """,
}
_EXPECTED = {"async-raise": "raised", "async-open-stream": "True", "sync-open-stream": "True"}


@pytest.mark.parametrize("case", sorted(_PROGRAMS))
def test_a_forgotten_close_never_keeps_the_process_alive(case: str, direct_dsn: str) -> None:
    env = {**os.environ, "AXON_TEST_DSN": direct_dsn, "PYTHONWARNINGS": "always::ResourceWarning"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PROGRAMS[case])],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == _EXPECTED.get(case, "1")
    if case.startswith("async") and case != "async-raise":
        assert "was never closed" in done.stderr  # the ResourceWarning says what to do
