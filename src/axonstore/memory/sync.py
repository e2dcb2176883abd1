# Generated from src/axonstore/memory/aio.py by tools/async_to_sync.py: do not edit; edit the async
# source and run `python tools/async_to_sync.py` (a test fails while this file is stale).
"""The async in-memory backend (``axonstore.InMemoryBackend``); ``sync.py`` is generated from it."""

from __future__ import annotations

import contextlib
from collections.abc import (
    Generator,
    Iterator,
    Mapping,
)

from axonstore.memory.engine import MemoryBase, MemoryTransaction
from axonstore.operations import Page, PageRead, Read, Write
from axonstore.stream import CancelSignal, PolicyGate, RowStreamOutcome
from axonstore.verbs import Row
from axonstore.verbs.sync import SyncVerbs

__all__ = ["InMemoryBackend"]


class InMemoryBackend(MemoryBase, SyncVerbs):
    """Stores held in this process, with the PostgreSQL backend's verbs, signatures and errors.

    ``declared`` maps table → {column: type} (see :meth:`declare_columns`). ``conn=`` is accepted (and
    ignored) by every verb, so callers can treat both backends alike — except a transaction's, which
    is checked (``TransactionClosed`` after its block).
    """

    def __init__(self, declared: Mapping[str, Mapping[str, str]] | None = None) -> None:
        super().__init__(declared)

    def __enter__(self) -> InMemoryBackend:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to close; the rows stay (the registry closes backends it may use again)."""

    def ping(self) -> None:
        """Always reachable."""

    def warm_schema(self, table: str) -> None:
        """Nothing to resolve; checks the table name."""
        self.check_table(table)

    @contextlib.contextmanager
    def transaction(
        self,
        isolation: str | None = None,
        read_only: bool = False,
        *,
        statement_timeout_ms: int | None = None,
    ) -> Iterator[MemoryTransaction]:
        """All or nothing for the rows this backend holds: an exception restores them (and is re-raised)."""
        with self.transaction_scope(isolation, read_only, statement_timeout_ms) as tx:
            yield tx

    # ---- the run_* methods of SyncVerbs -------------------------------------------------------------

    def run_rows(self, read: Read, conn: object) -> list[Row]:
        return self.rows(read, conn)

    def run_read(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        return self.drain(read, gate, conn)

    def iter_read(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object
    ) -> Generator[Row, None, None]:
        rows = self.bounded(read, bound, cancel, conn)
        return rows

    def run_page(self, page: PageRead, conn: object) -> Page:
        return self.page_of(page, conn)

    def run_write(self, write: Write, conn: object) -> int | list[Row]:
        return self.write(write, conn)
