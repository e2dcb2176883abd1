"""The synchronous twins are generated from the async source: a stale twin fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_generated_sync_module_is_stale() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "async_to_sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_transform_respells_what_differs_and_keeps_the_rest() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import async_to_sync as tool
    finally:
        sys.path.pop(0)
    source = (
        "import asyncio  # sync: import threading\n"
        "async def f(pool: AsyncConnectionPool[Any]) -> AsyncGenerator[Row, None]:\n"
        "    # async-only: begin\n"
        "    loop = asyncio.get_running_loop()\n"
        "    # async-only: end\n"
        "    async with contextlib.aclosing(g()) as rows:  # a comment stays\n"
        "        async for row in rows:\n"
        "            yield await h(row)\n"
        "    # sync: threading.Thread(target=k).start()\n"
        "from axonstore.verbs.aio import AsyncVerbs\n"
    )
    out = tool.transform(source, "x/aio.py").splitlines()[2:]
    assert out == [
        "import threading",
        "def f(pool: ConnectionPool[Any]) -> Generator[Row, None, None]:",
        "    with contextlib.closing(g()) as rows:  # a comment stays",
        "        for row in rows:",
        "            yield h(row)",
        "    threading.Thread(target=k).start()",
        "from axonstore.verbs.sync import SyncVerbs",
    ]
