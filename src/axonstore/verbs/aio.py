"""The public verbs, written once per flavour over the prepared operations (CONTRACT §3.2, §11).

Each verb takes the contract's text arguments, prepares the operation (:mod:`axonstore.operations`: every
check that needs no database, in the contract's order) and hands it to the backend's ``run_*`` method —
the only part a backend writes itself. :class:`AsyncVerbs` serves the async PostgreSQL backend and the
async in-memory backend; :class:`SyncVerbs` their twins in :mod:`axonstore.sync`. The two classes differ
only by ``await``: the decisions live in the operations and in the backends' shared cores.

``returning=""`` makes a write return its row count; ``returning="id, created"`` (or ``"*"``) returns
the written rows, decoded like query rows (the overloads tell ``mypy`` which).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, cast, overload

from axonstore.operations import (
    Bindings,
    Data,
    Page,
    PageRead,
    Read,
    Write,
    prepare_delete,
    prepare_insert,
    prepare_insert_many,
    prepare_page,
    prepare_read,
    prepare_reinforce,
    prepare_update,
    prepare_upsert,
)
from axonstore.plans import COLD, Hit, WarmPlans
from axonstore.stream import DEFAULT_MAX_ROWS, Backpressure, CancelSignal, PolicyGate, RowStreamOutcome
from axonstore.verbs._shared import Row, Rows, bounded_max_rows, gate

__all__ = ["AsyncVerbs"]


class AsyncVerbs(ABC):
    """The verbs of an async backend, over the five ``run_*`` methods and ``transaction`` it implements."""

    #: The warm plans of a backend that keeps them (PostgreSQL, while telemetry and read routing are
    #: off); a repeated call then skips its preparation (:mod:`axonstore.plans`). ``None``: every call
    #: is prepared.
    warm: WarmPlans | None = None

    # ---- what a backend implements ----------------------------------------------------------------

    @abstractmethod
    async def run_rows(self, read: Read, conn: object) -> list[Row]:
        """Every row of a prepared retrieve."""

    @abstractmethod
    async def run_read(self, read: Read, gate: PolicyGate, conn: object) -> RowStreamOutcome:
        """A prepared retrieve drained through ``gate`` (a bounded stream)."""

    @abstractmethod
    def iter_read(
        self, read: Read, bound: int | None, cancel: CancelSignal | None, conn: object
    ) -> AsyncGenerator[Row, None]:
        """The rows of a prepared retrieve as they arrive (closing it early stops the server's work)."""

    @abstractmethod
    async def run_page(self, page: PageRead, conn: object) -> Page:
        """One page of a prepared keyset walk."""

    @abstractmethod
    async def run_write(self, write: Write, conn: object) -> int | list[Row]:
        """A prepared write: its row count, or the rows it returned."""

    @abstractmethod
    def transaction(
        self,
        isolation: str | None = None,
        read_only: bool = False,
        *,
        statement_timeout_ms: int | None = None,
    ) -> AbstractAsyncContextManager[Any]:
        """A transaction whose yielded object every verb takes as ``conn=``."""

    async def run_page_alone(self, page: PageRead, *, statement_timeout_ms: int) -> Page:
        """One page in a read-only transaction of its own whose statements time out after
        ``statement_timeout_ms`` (the MCP server's reads, CONTRACT §15). The PostgreSQL backend sends
        it in one round trip; this is the meaning."""
        async with self.transaction(read_only=True, statement_timeout_ms=statement_timeout_ms) as tx:
            return await self.run_page(page, tx)

    async def run_warm(self, hit: Hit | None) -> Any:
        """Run a warm plan and its parameters on a connection of the pool: its rows or row count, or
        :data:`COLD` when there is none (``None``) or the cached schema proved stale (the call then
        takes the cold path, which re-resolves). Only a backend that sets :attr:`warm` is asked."""
        raise NotImplementedError(f"{type(self).__name__} keeps no warm plans")

    # ---- the verbs --------------------------------------------------------------------------------

    async def query(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        conn: object = None,
    ) -> list[Row]:
        """Rows of ``table`` matching ``where`` (only ``columns``, when given), as JSON-safe dicts."""
        if self.warm is not None and conn is None:  # a repeated call: its plan
            done = await self.run_warm(self.warm.query(table, where, bindings, columns))
            if done is not COLD:
                return cast("list[Row]", done)
        return await self.run_rows(prepare_read(table, where, bindings, columns=columns), conn)

    @overload
    async def insert(  # type: ignore[overload-overlap]  # "" counts, any other text returns rows
        self, table: str, data: Data, *, returning: Literal[""] = "", conn: object = None
    ) -> int: ...
    @overload
    async def insert(self, table: str, data: Data, *, returning: str, conn: object = None) -> list[Row]: ...
    async def insert(
        self, table: str, data: Data, *, returning: str = "", conn: object = None
    ) -> int | list[Row]:
        """Insert one row (a mapping, or (column, value) pairs in order): 1, or the returned row."""
        if self.warm is not None and conn is None:
            done = await self.run_warm(self.warm.insert(table, data, returning))
            if done is not COLD:
                return cast("int | list[Row]", done)
        return await self.run_write(prepare_insert(table, data, returning=returning), conn)

    @overload
    async def insert_many(  # type: ignore[overload-overlap]
        self, table: str, rows: Rows, *, returning: Literal[""] = "", conn: object = None
    ) -> int: ...
    @overload
    async def insert_many(
        self, table: str, rows: Rows, *, returning: str, conn: object = None
    ) -> list[Row]: ...
    async def insert_many(
        self, table: str, rows: Rows, *, returning: str = "", conn: object = None
    ) -> int | list[Row]:
        """Insert every row in one transaction, all or none (``RaggedRows`` before any SQL)."""
        return await self.run_write(prepare_insert_many(table, rows, returning=returning), conn)

    @overload
    async def upsert(  # type: ignore[overload-overlap]
        self,
        table: str,
        data: Data,
        on_conflict: str,
        *,
        update: str | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    async def upsert(
        self,
        table: str,
        data: Data,
        on_conflict: str,
        *,
        update: str | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    async def upsert(
        self,
        table: str,
        data: Data,
        on_conflict: str,
        *,
        update: str | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """``INSERT … ON CONFLICT (on_conflict) DO UPDATE SET …`` (``update=""``: ``DO NOTHING``)."""
        spec = prepare_upsert(table, data, on_conflict, update=update, returning=returning)
        return await self.run_write(spec, conn)

    @overload
    async def mutate(  # type: ignore[overload-overlap]
        self,
        table: str,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: Literal[""] = "",
    ) -> int: ...
    @overload
    async def mutate(
        self,
        table: str,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: str,
    ) -> list[Row]: ...
    async def mutate(
        self,
        table: str,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: str = "",
    ) -> int | list[Row]:
        """Update the rows matching ``where``; a blank ``where`` needs ``all_rows=True`` (D3)."""
        if self.warm is not None and conn is None and all_rows is False:
            done = await self.run_warm(self.warm.update(table, where, data, bindings, returning))
            if done is not COLD:
                return cast("int | list[Row]", done)
        spec = prepare_update(table, where, data, bindings, all_rows=all_rows, returning=returning)
        return await self.run_write(spec, conn)

    @overload
    async def purge(  # type: ignore[overload-overlap]
        self,
        table: str,
        where: str,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: Literal[""] = "",
    ) -> int: ...
    @overload
    async def purge(
        self,
        table: str,
        where: str,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: str,
    ) -> list[Row]: ...
    async def purge(
        self,
        table: str,
        where: str,
        bindings: Bindings = None,
        *,
        conn: object = None,
        all_rows: bool = False,
        returning: str = "",
    ) -> int | list[Row]:
        """Delete the rows matching ``where``; a blank ``where`` needs ``all_rows=True`` (D3)."""
        if self.warm is not None and conn is None and all_rows is False:
            done = await self.run_warm(self.warm.delete(table, where, bindings, returning))
            if done is not COLD:
                return cast("int | list[Row]", done)
        spec = prepare_delete(table, where, bindings, all_rows=all_rows, returning=returning)
        return await self.run_write(spec, conn)

    async def reinforce(
        self,
        table: str,
        from_id: str,
        to_id: str,
        etype: str,
        delta: float,
        floor: float,
        *,
        conn: object = None,
    ) -> int:
        """``weight = LEAST(GREATEST(weight + delta, floor), 1.0)`` on one edge; resolves on a miss (D9)."""
        spec = prepare_reinforce(table, from_id, to_id, etype, delta, floor)
        return cast(int, await self.run_write(spec, conn))

    async def page(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        order_by: str,
        size: int,
        after: str | None = None,
        columns: str = "",
        conn: object = None,
    ) -> Page:
        """One page of a keyset walk; pass ``page.next`` as ``after`` for the next (``None`` at the end)."""
        spec = prepare_page(
            table, where, bindings, order_by=order_by, size=size, after=after, columns=columns
        )
        return await self.run_page(spec, conn)

    async def stream_retrieve(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        policy: Backpressure | str = Backpressure.PAUSE_UPSTREAM,
        max_rows: int = DEFAULT_MAX_ROWS,
        cancel: CancelSignal | None = None,
        conn: object = None,
    ) -> RowStreamOutcome:
        """A bounded retrieve: rows stream from the server and ``policy`` decides what is kept
        (``truncated`` says rows were left out)."""
        bounded = gate(policy, max_rows, cancel)
        read = prepare_read(
            table, where, bindings, columns=columns, order_by=order_by, limit=limit, aggregate=aggregate,
            group_by=group_by,
        )  # fmt: skip
        return await self.run_read(read, bounded, conn)

    def iter_rows(
        self,
        table: str,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        max_rows: int | None = None,
        cancel: CancelSignal | None = None,
        conn: object = None,
    ) -> AsyncGenerator[Row, None]:
        """Rows as they arrive (at most ``max_rows`` when given); close it early to stop the server::

        async with contextlib.aclosing(backend.iter_rows("events")) as rows:
            async for row in rows: ...
        """
        bound = bounded_max_rows(max_rows)
        read = prepare_read(
            table, where, bindings, columns=columns, order_by=order_by, limit=limit, aggregate=aggregate,
            group_by=group_by,
        )  # fmt: skip
        return self.iter_read(read, bound, cancel, conn)
