"""Talking to the server as a client would: the SDK's ``Client`` in-process, over stdio, or over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from axonstore.mcp import AgentService, build_server
from axonstore.registry import StoreRegistry

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLI = "import sys; from axonstore.cli import main; sys.exit(main())"


def child_env() -> dict[str, str]:
    """The environment of a server subprocess: this checkout's ``src`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


@contextlib.asynccontextmanager
async def served(config: Path, **options: Any) -> AsyncIterator[AgentService]:
    """An :class:`AgentService` over the declarations in ``config`` (its pools closed afterwards)."""
    registry = StoreRegistry.from_toml(config)
    try:
        yield await AgentService.start(registry, **options)
    finally:
        await registry.aclose()


@contextlib.asynccontextmanager
async def in_process(service: AgentService, principal: str) -> AsyncIterator[Client]:
    """The SDK's client connected in-process to the server, as ``principal``."""
    caller = service.principals[principal]
    async with Client(build_server(service, lambda: caller)) as client:
        yield client


@contextlib.asynccontextmanager
async def over_stdio(config: Path, principal: str, *extra: str) -> AsyncIterator[Client]:
    """``axonstore mcp --principal NAME`` as a subprocess, spoken to over its stdin/stdout."""
    args = ["-c", CLI, "mcp", "--config", str(config), "--principal", principal, *extra]
    params = StdioServerParameters(command=sys.executable, args=args, env=child_env())
    async with Client(params) as client:
        yield client


@contextlib.asynccontextmanager
async def over_http(url: str, token: str | None, **headers: str) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP with ``Authorization: Bearer <token>``."""
    sent = dict(headers)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=sent, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult | MCPError:
    """A tool call's result, or the protocol error it raised."""
    try:
        return await client.call_tool(tool, arguments)
    except MCPError as exc:
        return exc


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_server(config: Path, port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """``axonstore mcp --transport http`` as a subprocess, until the test ends (stopped by its PID)."""
    args = [
        sys.executable,
        "-c",
        CLI,
        "mcp",
        "--config",
        str(config),
        "--transport",
        "http",
        "--port",
        str(port),
    ]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*args, *extra], env=child_env(), stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_listening(proc, port, err)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, err: IO[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err.seek(0)
            raise RuntimeError(
                f"axonstore mcp exited with {proc.returncode}: {err.read().decode(errors='replace')}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("axonstore mcp did not listen in time")
