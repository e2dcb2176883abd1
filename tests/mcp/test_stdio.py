"""The stdio wire on the event loop (``axonstore.mcp._stdio``), in subprocesses with real pipes.

What it must keep from the SDK's threaded transport: nothing but the protocol reaches the wire (a
stray ``print`` or fd write goes to stderr), the standard descriptors come back afterwards, a line over
4 MiB is dropped without losing the lines around it, and a file on stdin still gets served (by the
SDK's transport, which the loop cannot replace there).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mcp_types
import pytest
from tests.mcp._session import CLI, child_env
from tests.mcp.conftest import AgentEnv

from axonstore.mcp._stdio import MAX_LINE_BYTES

_ECHO = """
import asyncio, logging, os
from axonstore.mcp._stdio import claimed_wire, pipes_on_both_ends

logging.basicConfig()  # the library logs nowhere by default; show its warnings on stderr

async def main():
    print("pipes", pipes_on_both_ends(), flush=True)  # before the claim: still the wire
    async with claimed_wire() as (lines, writer):
        print("stray print", flush=True)
        os.write(1, b"stray fd write\\n")
        async for line in lines:
            await writer.write(f"echo {len(line)} {line[:5]!r}\\n")
            await writer.flush()
    print("after", flush=True)

asyncio.run(main())
"""


def _echo(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", _ECHO],
        input=stdin,
        env=child_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_only_the_protocol_reaches_the_wire_and_the_descriptors_come_back() -> None:
    done = _echo(b"hello\nworld\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "pipes True",
        "echo 6 'hello'",
        "echo 6 'world'",
        "after",  # fd 1 is the wire again once the claim ends
    ]
    assert b"stray print" in done.stderr
    assert b"stray fd write" in done.stderr


@pytest.mark.parametrize("newline", [b"\n", b""], ids=["newline", "at-end-of-input"])
def test_a_line_over_the_cap_is_dropped_and_the_rest_is_served(newline: bytes) -> None:
    overlong = b"x" * (MAX_LINE_BYTES + 10) + newline
    tail = b"world\n" if newline else b""
    done = _echo(b"hello\n" + overlong + tail)
    assert done.returncode == 0, done.stderr
    served = done.stdout.decode().splitlines()
    expected_tail = ["echo 6 'world'"] if newline else []
    # The dropped line reaches the SDK as one unparseable (empty) line, as any malformed message does.
    assert served == ["pipes True", "echo 6 'hello'", "echo 1 '\\n'", *expected_tail, "after"]
    assert f"a message over {MAX_LINE_BYTES} bytes was dropped".encode() in done.stderr


def test_a_line_of_exactly_the_cap_is_read_whole() -> None:
    body = b"y" * (MAX_LINE_BYTES - 1) + b"\n"  # the cap counts the newline
    done = _echo(body)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[1] == f"echo {MAX_LINE_BYTES} 'yyyyy'"


_BIG_ANSWER = """
import asyncio
from axonstore.mcp._stdio import claimed_wire

async def main():
    async with claimed_wire() as (lines, writer):
        await writer.write("a" * 60_000 + "\\n")  # the pipe (64 KiB) is now nearly full
        await writer.write("b" * 60_000 + "\\n")  # mostly buffered, under the pause mark: no wait

asyncio.run(main())
"""


def test_answers_still_buffered_at_exit_are_written() -> None:
    # The client reads only after a pause, so at exit the pipe is full and the tail is still buffered.
    child = subprocess.Popen(
        [sys.executable, "-c", _BIG_ANSWER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    time.sleep(1.0)
    out, err = child.communicate(input=b"", timeout=60)
    assert child.returncode == 0, err
    assert out == b"a" * 60_000 + b"\n" + b"b" * 60_000 + b"\n"


@pytest.mark.slow
async def test_a_file_on_stdin_is_served_by_the_threaded_transport(
    agent_env: AgentEnv, tmp_path: Path
) -> None:
    requests = tmp_path / "requests.jsonl"
    initialize = {
        "protocolVersion": mcp_types.LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "file", "version": "0"},
    }
    # Only the handshake: the SDK answers it before reading on, whereas a request after it races the end
    # of input (the SDK ends the session at EOF and cancels what is still running).
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize}]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    args = [sys.executable, "-c", CLI, "mcp", "--config", str(agent_env.config), "--principal", "bot"]
    with requests.open("rb") as stdin:
        done = subprocess.run(
            args, stdin=stdin, env=child_env(), capture_output=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [answer["id"] for answer in answers] == [1]
    assert answers[0]["result"]["serverInfo"]["name"] == "axonstore"
