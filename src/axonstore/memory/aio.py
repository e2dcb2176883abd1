"""The async in-memory backend (``axonstore.InMemoryBackend``); ``sync.py`` is generated from it."""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Iterator,  # sync: drop
    Mapping,
)

from axonstore.memory.engine import MemoryBase, MemoryTransaction
from axonstore.operations import Page, PageRead, Read, Write
from axonstore.stream import CancelSignal, PolicyGate, RowStreamOutcome
from axonstore.verbs import Row
from axonstore.verbs.aio import AsyncVerbs

__all__ = ["InMemoryBackend"]


class InMemoryBackend(MemoryBase, AsyncVerbs):
    """Stores held in this process, with the PostgreSQL backend's verbs, signatures and errors.

    ``declared`` maps table → {column: type} (see :meth:`declare_columns`). ``conn=`` is accepted (and
    ignored) by every verb, so callers can treat both backends alike — except a transaction's, which
    is checked (``TransactionClosed`` after its block).
    """

    def __init__(self, declared: Mapping[str, Mapping[str, str]] | None = None) -> None:
        super().__init__(declared)

    async def __aenter__(self) -> InMemoryBackend:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to close; the rows stay (the registry closes backends it may use again)."""

    async def ping(self) -> None:
        """Always reachable."""

    async def warm_schema(self, table: str) -> None:
        """Nothing to resolve; checks the table name."""
        self.check_table(table)

    @contextlib.asynccontextmanager
    async def transaction(
        self,
        isolation: str | None = None,
        read_only: bool = False,
        *,
        statement_timeout_ms: int | None = None,
    ) -> AsyncIterator[MemoryTransaction]:
        """All or nothing for the rows this backend holds: an exception restores them (and is re-raised)."""
        with self.transaction_scope(isolation, read_only, statement_timeout_ms) as tx:
            yield tx

    # ---- the run_* methods of AsyncVerbs -------------------------------------------------------------

    async def run_rows(self, read: Read, conn: object) -> list[Row]:
        return self.rows(read, conn)

    async def run_read(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        return self.drain(read, gate, conn)

    def iter_read(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object
    ) -> AsyncGenerator[Row, None]:
        rows = self.bounded(read, bound, cancel, conn)
        return _as_async(rows)  # sync: return rows

    async def run_page(self, page: PageRead, conn: object) -> Page:
        return self.page_of(page, conn)

    async def run_write(self, write: Write, conn: object) -> int | list[Row]:
        return self.write(write, conn)


# async-only: begin
async def _as_async(rows: Iterator[Row]) -> AsyncGenerator[Row, None]:
    for row in rows:
        yield row


# async-only: end
