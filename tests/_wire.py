"""A wire logger: a small asyncio TCP proxy that records what clients send to PostgreSQL.

It passes bytes through untouched in both directions and parses the client → server stream of the v3
frontend protocol after the startup packet (an ``SSLRequest``/``GSSENCRequest`` is passed on and its
one-byte answer comes back through the other pipe; clients must use ``sslmode=disable`` so that no TLS
follows). It records every ``Parse`` (statement name and query), every ``Bind`` (statement name), and
every ``Close``/``Describe``. A ``CancelRequest`` connection is just piped.

The proxy runs on its own event loop in a background thread, so tests on any loop (or none) can use it.
A frame is recorded *before* it is forwarded, so by the time a client sees the server's answer, the
record exists.

Why: a named prepared statement behind a transaction-mode pooler runs on the wrong backend (ECOSYSTEM
§1); every ``Parse`` with an empty name is the cheapest proof that the library never creates one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

__all__ = ["WireEvent", "WireLog", "WireLogger"]

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102
_RECORDED = frozenset(b"PBCDSQ")  # Parse, Bind, Close, Describe, Sync, Query (simple protocol)
_CHUNK = 65536


@dataclass(frozen=True)
class WireEvent:
    """One recorded client message: ``kind`` is ``parse``, ``bind``, ``close``, ``describe``, ``sync`` or
    ``query`` (a simple-protocol query). A ``sync`` or a ``query`` ends a round trip: counting them
    counts the round trips an operation costs."""

    lane: str
    conn: int
    kind: str
    name: str
    detail: str = ""  # the query of a Parse; "S"/"P" (statement/portal) for Close and Describe


class WireLog:
    """A thread-safe list of :class:`WireEvent`, shared by any number of loggers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[WireEvent] = []

    def add(self, event: WireEvent) -> None:
        """Append one event."""
        with self._lock:
            self._events.append(event)

    def mark(self) -> int:
        """A position to pass to :meth:`since`."""
        with self._lock:
            return len(self._events)

    def since(self, mark: int = 0) -> list[WireEvent]:
        """Every event recorded after ``mark``."""
        with self._lock:
            return self._events[mark:]

    def parses(self, mark: int = 0) -> list[WireEvent]:
        """Every ``Parse`` after ``mark``."""
        return [e for e in self.since(mark) if e.kind == "parse"]

    def round_trips(self, mark: int = 0) -> int:
        """Client round trips since ``mark``: every Sync and every simple-protocol Query."""
        return sum(1 for event in self.since(mark) if event.kind in ("sync", "query"))

    def named_parses(self, mark: int = 0) -> list[WireEvent]:
        """Every ``Parse`` with a non-empty statement name after ``mark`` — what must never happen."""
        return [e for e in self.parses(mark) if e.name]


def _cstring(body: bytes, start: int) -> tuple[str, int]:
    end = body.index(0, start)
    return body[start:end].decode("utf-8", "replace"), end + 1


class _FrameParser:
    """Splits the client's byte stream into frames; decodes the few that are recorded."""

    def __init__(self, record: Callable[[str, str, str], None]) -> None:
        self._record = record
        self._buf = bytearray()
        self._skip = 0  # bytes left of a frame we do not record (CopyData can be large)

    def feed(self, data: bytes) -> None:
        """Consume a chunk of the stream, recording every complete frame of interest."""
        self._buf += data
        while True:
            if self._skip:
                taken = min(self._skip, len(self._buf))
                del self._buf[:taken]
                self._skip -= taken
                if self._skip:
                    return
            if len(self._buf) < 5:
                return
            kind, length = self._buf[0], int.from_bytes(self._buf[1:5], "big")
            if kind not in _RECORDED:
                del self._buf[:5]
                self._skip = length - 4
                continue
            if len(self._buf) < 1 + length:
                return
            body = bytes(self._buf[5 : 1 + length])
            del self._buf[: 1 + length]
            self._decode(kind, body)

    def _decode(self, kind: int, body: bytes) -> None:
        if kind == ord("P"):
            name, at = _cstring(body, 0)
            query, _ = _cstring(body, at)
            self._record("parse", name, query[:300])
        elif kind == ord("S"):
            self._record("sync", "", "")
        elif kind == ord("Q"):
            self._record("query", "", _cstring(body, 0)[0][:300])
        elif kind == ord("B"):
            _portal, at = _cstring(body, 0)
            self._record("bind", _cstring(body, at)[0], "")
        else:
            target = chr(body[0]) if body else "?"
            self._record("close" if kind == ord("C") else "describe", _cstring(body, 1)[0], target)


class WireLogger:
    """A recording proxy on ``127.0.0.1:<port>`` in front of ``upstream_host:upstream_port``.

    ``upstream_host`` starting with ``/`` is a Unix-socket folder (libpq's convention). Use it as a
    context manager or call :meth:`start` / :meth:`close`.
    """

    def __init__(self, upstream_host: str, upstream_port: int, log: WireLog, *, lane: str = "wire") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.log = log
        self.lane = lane
        self.host = "127.0.0.1"
        self.port = 0
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"wire-{lane}", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> WireLogger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> WireLogger:
        """Listen on a free loopback port (``self.port``) and serve in the background thread."""
        self._thread.start()
        self._call(self._listen()).result(10)
        return self

    def close(self) -> None:
        """Stop listening, drop every proxied connection, stop the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, None]) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}")
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        """One proxied connection. Being cancelled (by close()) ends it normally: asyncio's start_server
        logs a handler task that ends cancelled as an error."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        writers = [client_w]
        try:
            server_r, server_w = await self._open_upstream()
            writers.append(server_w)
            await self._relay(next(self._ids), client_r, client_w, server_r, server_w)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in writers:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            self._tasks.discard(task)

    async def _relay(
        self,
        conn: int,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_r: asyncio.StreamReader,
        server_w: asyncio.StreamWriter,
    ) -> None:
        down = asyncio.ensure_future(self._pipe(server_r, client_w, None))
        up = asyncio.ensure_future(self._client_stream(conn, client_r, server_w))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for side in (down, up):
                side.cancel()
            await asyncio.gather(down, up, return_exceptions=True)

    async def _client_stream(
        self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Pass the startup phase on as is, then parse every frame the client sends."""
        while True:
            head = await reader.readexactly(4)
            packet = head + await reader.readexactly(int.from_bytes(head, "big") - 4)
            writer.write(packet)
            await writer.drain()
            code = int.from_bytes(packet[4:8], "big")
            if code == _CANCEL_REQUEST:
                await self._pipe(reader, writer, None)
                return
            if code not in (_SSL_REQUEST, _GSSENC_REQUEST):
                break  # the StartupMessage: frames follow

        def record(kind: str, name: str, detail: str) -> None:
            self.log.add(WireEvent(self.lane, conn, kind, name, detail))

        await self._pipe(reader, writer, _FrameParser(record))

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: _FrameParser | None
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                if parser is not None:
                    parser.feed(data)  # record first: the answer cannot arrive before the forward
                writer.write(data)
                await writer.drain()
