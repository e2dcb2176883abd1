"""The stdio wire on the event loop: the process's stdin and stdout as asyncio pipes, no threads.

The SDK's own ``stdio_server`` reads each line in a worker thread and writes and flushes each message
in two more, so every request crosses threads three times. Measured with ``bench/mcp_bench.py``, reading
and writing the pipes on the event loop instead took a tool call from 2238 to 1759–1825 µs and a
request with no I/O from 1410 to 930–947 µs. The SDK's loop is kept — this module only hands it the two
streams its ``stdio_server(stdin, stdout)`` accepts.

Like the SDK's transport, it takes the wire away from the standard descriptors while serving. fd 0
then reads the null device and fd 1 writes to stderr, so a stray ``print`` or a child process cannot
corrupt the protocol. Both are restored on exit, with their blocking mode. One line is at most 4 MiB,
the HTTP transport's body cap. A longer one is dropped and logged (a warning of the ``axonstore.mcp``
logger, which ``--debug`` shows on stderr). The SDK then sees an unparseable line, as for any
malformed message, and the lines after it are served.

Only pipes and sockets are served this way: what a client launching the server hands it. A terminal
or a regular file (``axonstore mcp < requests.jsonl``) takes the SDK's threaded transport. Setting
non-blocking mode on a terminal's descriptor would change it for the shell too, and the event loop
cannot poll a regular file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import Final

__all__ = ["MAX_LINE_BYTES", "WireLines", "WireWriter", "claimed_wire", "pipes_on_both_ends"]

#: The longest message line read (the HTTP transport's body cap, CONTRACT §15: 4 MiB).
MAX_LINE_BYTES: Final = 4 * 1024 * 1024
_log = logging.getLogger("axonstore.mcp")
_FLUSH_TIMEOUT_S: Final = 5.0  # at exit, how long a client that stopped reading may hold the last answer


def pipes_on_both_ends() -> bool:
    """Are fd 0 and fd 1 pipes or sockets (what the event loop can serve without threads)?"""
    if sys.platform == "win32":  # pragma: no cover - the Proactor loop has no pipe readers for fds
        return False
    try:
        modes = (os.fstat(0).st_mode, os.fstat(1).st_mode)
    except OSError:
        return False
    return all(stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) for mode in modes)


class WireLines:
    """The requests as text lines (``async for line in ...``, what the SDK's reader takes)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> WireLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # the client closed its end
            if not end.partial:
                raise StopAsyncIteration from None
            line = end.partial
        except asyncio.LimitOverrunError:
            await self._drop_line()
            _log.warning("mcp: a message over %d bytes was dropped", MAX_LINE_BYTES)
            return "\n"  # the SDK reports an unparseable line, as for any malformed message
        return line.decode("utf-8", "replace")

    async def _drop_line(self) -> None:
        """Discard the rest of an overlong line, through its newline (or to the end of input)."""
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as over:  # still no newline in the buffer: drop it
                await self._reader.readexactly(over.consumed)
            except asyncio.IncompleteReadError:
                return


class _Flow(asyncio.Protocol):
    """Write-side flow control: ``drained()`` waits while the pipe's buffer is over its high mark."""

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self._closed = False
        self.done = asyncio.Event()  # set once the transport is gone (after its buffer was written)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closed = True
        self._lost = exc if exc is not None else BrokenPipeError("the client closed the wire")
        self._wake(self._lost)
        self.done.set()

    def _wake(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    async def drained(self) -> None:
        if self._closed:
            assert self._lost is not None
            raise self._lost
        if self._paused:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter


class WireWriter:
    """The responses: ``await write(text)`` queues it on the pipe, waiting only while the pipe is
    full (a client that stops reading blocks this writer, never the event loop)."""

    def __init__(self, transport: asyncio.WriteTransport, flow: _Flow) -> None:
        self._transport = transport
        self._flow = flow

    async def write(self, text: str) -> None:
        """Send ``text`` (UTF-8)."""
        await self._flow.drained()  # a lost client raises here rather than buffering forever
        self._transport.write(text.encode("utf-8"))
        await self._flow.drained()

    async def flush(self) -> None:
        """Nothing to do: each write went to the pipe as it was made."""


@contextlib.asynccontextmanager
async def claimed_wire() -> AsyncIterator[tuple[WireLines, WireWriter]]:
    """The wire as ``(lines, writer)``: fd 0 and fd 1 moved to private descriptors for the duration,
    the standard ones pointed at the null device and at stderr (see the module docstring)."""
    loop = asyncio.get_running_loop()
    sys.stdout.flush()  # what Python buffered so far belongs to the wire's past, not to stderr
    wire_in = os.dup(0)
    wire_out = os.dup(1)
    blocking = (os.get_blocking(wire_in), os.get_blocking(wire_out))
    read_transport: asyncio.ReadTransport | None = None
    write_transport: asyncio.WriteTransport | None = None
    flow: _Flow | None = None
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0, closefd=False)
        )
        write_transport, flow = await loop.connect_write_pipe(
            _Flow, os.fdopen(wire_out, "wb", buffering=0, closefd=False)
        )
        _divert_standard_descriptors()
        yield WireLines(reader), WireWriter(write_transport, flow)
    finally:
        sys.stdout.flush()
        if read_transport is not None:
            read_transport.close()
        if write_transport is not None and flow is not None:
            write_transport.close()  # the last responses still buffered are written first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flow.done.wait(), _FLUSH_TIMEOUT_S)
        await asyncio.sleep(0)  # let the transports' close callbacks run before the fds go back
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        for fd, was_blocking in zip((wire_in, wire_out), blocking, strict=True):
            with contextlib.suppress(OSError):
                os.set_blocking(fd, was_blocking)
            os.close(fd)


def _divert_standard_descriptors() -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    os.dup2(2, 1)
