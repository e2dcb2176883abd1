"""A read in a transaction of its own, in one write and one read: libpq's pipeline through ``psycopg.pq``.

CONTRACT §15 runs every MCP call in a transaction with ``SET LOCAL statement_timeout``, so a page alone is
two statements: :data:`~.connections.READ_ONLY_TIMEOUT_SQL` and its ``SELECT``, with one Sync after both
(one implicit transaction). psycopg's async pipeline sends them as a user's would, but waits on the event
loop once per command — it flushes and polls after each ``execute`` — so the pair cost 102 µs more than
one ``SELECT`` (132 µs through PgBouncer; ``bench/pipeline_bench.py``). Here both statements and the
Sync go out in one write and the results are read in one loop: 31 µs more (23 µs through PgBouncer), and
an MCP retrieve's (tool call − framing) / retrieve fell from 2.20× to 1.64× on ``bench/mcp_bench.py``.

Only the libpq calls psycopg's own pipeline makes are used (``enter_pipeline_mode``,
``send_query_params``, ``pipeline_sync``, ``flush``, ``consume_input``, ``get_result``), under the
connection's lock, with its adapters dumping the parameters and loading the rows (text results, as a
cursor reads them). A failed statement is raised as psycopg raises it (``error_from_result``: the class
of its SQLSTATE, with its diagnostics) after the Sync, when the connection is idle again. Anything that
stops the exchange half-way — a lost connection, a cancelled task — closes the connection: its pool
then replaces it, and no half-read pipeline is ever handed to the next caller.

The synchronous flavour keeps psycopg's pipeline (:func:`settled_rows_sync`): a thread waits on its own
socket, so the per-command wait costs a system call, not an event-loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result  # what psycopg raises for a failed result, itself
from psycopg.rows import RowFactory, RowMaker

from axonstore.backend.connections import READ_ONLY_TIMEOUT_SQL

__all__ = ["MakeRows", "settled_rows", "settled_rows_sync"]

#: Rows from a result without a cursor: ``TypeRegistry.row_maker``.
MakeRows = Callable[[Any, pq.abc.PGresult], RowMaker[Any]]
_TEXT: Final = 0  # result and settings-parameter format: text, as a cursor reads and sends them
_SETTINGS: Final = READ_ONLY_TIMEOUT_SQL.encode()
_ANSWERED: Final = [pq.ExecStatus.TUPLES_OK, pq.ExecStatus.TUPLES_OK]  # the settings' no row, the rows


async def settled_rows(
    conn: psycopg.AsyncConnection[Any],
    sql: str,
    params: Sequence[Any],
    statement_timeout_ms: int,
    make_rows: MakeRows,
) -> list[Any]:
    """The rows of ``sql`` run read-only under ``statement_timeout_ms``, in one implicit transaction
    with the settings statement before it: one write, one read loop. Raises the ``psycopg.Error`` of a
    failed statement (the connection then idle and usable) or of a lost connection."""
    adapt = Transformer(conn)
    dumped = adapt.dump_sequence(params, [PyFormat.AUTO] * len(params))  # before any I/O: may raise
    query = sql.encode(conn.info.encoding)
    async with conn.lock:
        wire = conn.pgconn
        try:
            wire.enter_pipeline_mode()
            wire.send_query_params(_SETTINGS, [str(statement_timeout_ms).encode()], None, None, _TEXT)
            wire.send_query_params(query, dumped, adapt.types, adapt.formats, _TEXT)
            wire.pipeline_sync()
            await _flush(wire)
            results = await _results_until_sync(wire)
            wire.exit_pipeline_mode()
        except BaseException:
            wire.finish()  # half-way through a pipeline: closed, so that the pool replaces it
            raise
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise error_from_result(result, encoding=conn.info.encoding)
    if [result.status for result in results] != _ANSWERED:  # (chunked rows, a copy: not this query's)
        raise psycopg.InterfaceError(f"unexpected pipeline results: {[r.status for r in results]}")
    rows = results[-1]
    adapt.set_pgresult(rows)
    return adapt.load_rows(0, rows.ntuples, make_rows(conn, rows))


def settled_rows_sync(
    conn: psycopg.Connection[Any],
    sql: str,
    params: Sequence[Any],
    statement_timeout_ms: int,
    row_factory: RowFactory[Any],
) -> list[Any]:
    """:func:`settled_rows` for a thread: the same two statements and one Sync, through psycopg's
    pipeline (one cursor: its result is the last statement's, the rows)."""
    cursor = conn.cursor(row_factory=row_factory)
    with conn.pipeline():
        cursor.execute(READ_ONLY_TIMEOUT_SQL, [str(statement_timeout_ms)])
        cursor.execute(sql, params)
    return cursor.fetchall()


async def _flush(wire: pq.abc.PGconn) -> None:
    """Send what libpq holds; while it cannot, read what the server sends meanwhile (libpq's rule)."""
    while wire.flush():
        if await _wait(wire.socket, or_writable=True):
            wire.consume_input()


async def _results_until_sync(wire: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Every result of the pipeline up to its Sync (a failed statement's, then ``PIPELINE_ABORTED``
    for those after it)."""
    results: list[pq.abc.PGresult] = []
    while True:
        while wire.is_busy():
            await _wait(wire.socket)
            wire.consume_input()
        result = wire.get_result()
        if result is None:  # the end of one statement's results
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


async def _wait(fd: int, *, or_writable: bool = False) -> bool:
    """Until ``fd`` can be read (or, with ``or_writable``, written), on the running loop: whether it
    can be read."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()

    def seen(readable: bool) -> None:
        if not ready.done():
            ready.set_result(readable)

    loop.add_reader(fd, seen, True)
    if or_writable:
        loop.add_writer(fd, seen, False)
    try:
        return await ready
    finally:
        loop.remove_reader(fd)
        if or_writable:
            loop.remove_writer(fd)
