"""Integration tests of ``PostgresStoreBackend`` against the suite's real PostgreSQL (and PgBouncer).

Shared helpers live here. Each test builds its own backend (a pool belongs to the event loop of its
first operation, and pytest-asyncio gives every test a fresh loop) and closes it with ``async with``.
Tables are created through the ``admin`` fixture (a direct connection, not on the wire log) under a
``unique_name``, so tests never share state; the schema cache is process-wide, keyed by DSN and table.

Flavours — every database test here runs twice, ``async`` and ``sync`` (``conftest.py``): in the sync
run :func:`make_backend` builds ``axonstore.sync.PostgresStoreBackend`` behind :class:`SyncAsAsync`,
which runs each sync call in a worker thread (``asyncio.to_thread``), so one async test body proves
both flavours give the same rows, errors and wire traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any, Final, cast

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from axonstore import PostgresStoreBackend
from axonstore import sync as axon_sync
from axonstore.declarations import StoreSpec
from axonstore.dsn import application_name
from axonstore.registry import StoreHandle as AsyncStoreHandle
from axonstore.registry import StoreRegistry as AsyncStoreRegistry
from tests._wire import WireLog

#: A DSN whose port nothing listens on: any I/O through it fails (``Connect``, after the 5 s timeout).
CLOSED_PORT_DSN = "postgresql://axon:s3cr3t-pw@127.0.0.1:1/nowhere?sslmode=disable"


FLAVOURS: Final = ("async", "sync")


class _Flavour:
    """The flavour of the test running now (set by ``conftest.py``'s ``flavour`` fixture), and how
    many backends it built through :func:`make_backend` (a sync run that built none proved nothing)."""

    name = "async"
    built = 0


FLAVOUR = _Flavour()


def make_backend(
    dsn: str, store: str = "", namespace: str | None = None, capacity: int = 4
) -> PostgresStoreBackend:
    """A backend on ``dsn`` (no I/O until the first operation), of the running test's flavour."""
    FLAVOUR.built += 1
    if FLAVOUR.name == "sync":
        inner = axon_sync.PostgresStoreBackend.connect_named_sized(dsn, store, namespace, capacity)
        return cast(PostgresStoreBackend, SyncAsAsync(inner))
    return PostgresStoreBackend.connect_named_sized(dsn, store, namespace, capacity)


_END: Final = object()


def _next(rows: Iterator[Any]) -> Any:
    return next(rows, _END)


class _Threaded:
    """The async class's surface over its sync twin: every coroutine method of ``twin_of`` runs the sync
    method in a worker thread (``asyncio.to_thread``); context managers and iterators are entered,
    advanced and closed there too. Errors come through unchanged (the same classes), so an async test
    body holds for both flavours. Anything else (``masked_dsn``, ``cache_key``, ``_pool``, ``audit``)
    is the sync object's own."""

    twin_of: type

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if inspect.iscoroutinefunction(getattr(self.twin_of, name, None)):

            async def in_thread(*args: Any, **kwargs: Any) -> Any:
                return await asyncio.to_thread(attr, *args, **kwargs)

            return in_thread
        return attr

    def __repr__(self) -> str:
        return repr(self.inner)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """``close()`` in a worker thread."""
        await asyncio.to_thread(self.inner.close)

    @contextlib.asynccontextmanager
    async def transaction(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The sync ``with ….transaction(…)``, entered and left in worker threads."""
        async with _entered(self.inner.transaction(*args, **kwargs)) as tx:
            yield tx


class SyncAsAsync(_Threaded):
    """``axonstore.sync.PostgresStoreBackend`` as the async backend's surface (see :class:`_Threaded`)."""

    twin_of = PostgresStoreBackend

    @contextlib.asynccontextmanager
    async def acquire_pin(self) -> AsyncIterator[Any]:
        """The sync ``with backend.acquire_pin()``, entered and left in worker threads."""
        async with _entered(self.inner.acquire_pin()) as pin:
            yield pin

    def iter_rows(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """The sync iterator (its arguments checked now, as the async verb does), advanced in threads."""
        return _rows_of(self.inner.iter_rows(*args, **kwargs))

    def iter_read(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """``iter_read`` as :meth:`iter_rows`."""
        return _rows_of(self.inner.iter_read(*args, **kwargs))


class _SyncHandle(_Threaded):
    twin_of = AsyncStoreHandle

    async def aclose(self) -> None:  # pragma: no cover - a handle has nothing to close
        raise AttributeError("a StoreHandle has no aclose")


class _SyncRegistry(_Threaded):
    twin_of = AsyncStoreRegistry

    def store(self, name: str) -> AsyncStoreHandle:
        """The sync handle (built without I/O) behind the async surface."""
        return cast(AsyncStoreHandle, _SyncHandle(self.inner.store(name)))


def make_registry(*specs: StoreSpec, **options: Any) -> AsyncStoreRegistry:
    """``StoreRegistry.build(specs)`` of the running test's flavour (the sync one behind threads)."""
    FLAVOUR.built += 1
    if FLAVOUR.name == "sync":
        return cast(AsyncStoreRegistry, _SyncRegistry(axon_sync.StoreRegistry.build(specs, **options)))
    return AsyncStoreRegistry.build(specs, **options)


@contextlib.asynccontextmanager
async def _entered(manager: contextlib.AbstractContextManager[Any]) -> AsyncIterator[Any]:
    value = await asyncio.to_thread(manager.__enter__)
    try:
        yield value
    except BaseException as exc:
        if not await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def _rows_of(rows: Generator[Any, None, None]) -> AsyncGenerator[Any, None]:
    try:
        while (row := await asyncio.to_thread(_next, rows)) is not _END:
            yield row
    finally:
        await asyncio.to_thread(rows.close)  # closing early closes the server-side stream


def resolve_count(wire_log: WireLog, mark: int) -> int:
    """How many catalog resolutions (the ``to_regclass`` query) went over the wire since ``mark``."""
    return sum(1 for event in wire_log.parses(mark) if "to_regclass" in event.detail)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def statements(wire_log: WireLog, mark: int) -> list[str]:
    """The parameterised statements (Parse messages) sent since ``mark``, transaction control left out
    (the miss path pipelines its ``BEGIN`` with the catalog query)."""
    return [e.detail for e in wire_log.parses(mark) if e.detail not in _TRANSACTION_CONTROL]


def sessions(
    admin: psycopg.Connection[Any], store: str, namespace: str | None = None
) -> list[tuple[Any, ...]]:
    """``(pid, state, query)`` of every server backend carrying ``store``'s application_name."""
    name = application_name(store, namespace)
    return admin.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = %s ORDER BY pid", [name]
    ).fetchall()


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False).

    It sleeps on the event loop, so the pool's background work (returning connections) goes on.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)


def with_params(dsn: str, **params: Any) -> str:
    """``dsn`` with connection parameters replaced (``password=…``, ``dbname=…``)."""
    return make_conninfo(dsn, **params)


def lane_of(request: pytest.FixtureRequest) -> str:
    """``direct`` or ``pooler``: the lane a test parametrized by the ``dsn`` fixture runs on."""
    callspec = getattr(request.node, "callspec", None)
    return str(callspec.params.get("dsn", "direct")) if callspec is not None else "direct"


def dbname_of(dsn: str) -> str:
    """The database a DSN names."""
    return str(conninfo_to_dict(dsn)["dbname"])


def count(admin: psycopg.Connection[Any], relation: str) -> int:
    """``count(*)`` of a relation (``relation`` is a trusted test identifier, possibly qualified)."""
    row = admin.execute(f"SELECT count(*) FROM {relation}").fetchone()
    assert row is not None
    return int(row[0])
