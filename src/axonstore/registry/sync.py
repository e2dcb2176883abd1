# Generated from src/axonstore/registry/aio.py by tools/async_to_sync.py: do not edit; edit the async
# source and run `python tools/async_to_sync.py` (a test fails while this file is stale).
"""``StoreRegistry``, ``StoreHandle`` and ``RowStream`` (async); ``sync.py`` is generated from this file.

What both flavours decide — the catalog, the governance of each verb, the audit ledger — is in
``core.py``; this module only performs the calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

from axonstore.backend.replicas import parse_token, requiring
from axonstore.backend.sync import PostgresStoreBackend
from axonstore.errors import AmbiguousTable, MissingPerTenantSchemaEnv, StoreError, TableNotResolved
from axonstore.governance import CONFIDENCE_COLUMN, Retrieval, StreamMeta, read_confidence
from axonstore.memory.sync import InMemoryBackend
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
    prepare_update,
    prepare_upsert,
)
from axonstore.registry.core import (
    HandleCore,
    RegistryCore,
    VerifyReport,
    declaration_problem,
    namespace_of,
)
from axonstore.rows import Row
from axonstore.stream import (
    DEFAULT_MAX_ROWS,
    Backpressure,
    CancelSignal,
    PolicyGate,
    RowStreamOutcome,
    check_max_rows,
    iter_with_policy,
)

__all__ = ["RowStream", "StoreHandle", "StoreRegistry"]

_Backend = PostgresStoreBackend | InMemoryBackend


class StoreHandle(HandleCore[PostgresStoreBackend]):
    """One declared store: the verbs with the store's governance applied (CONTRACT §6, §11).

    Reads return the untrusted envelope (:class:`Retrieval`) or trusted rows; writes are audited. Every
    verb takes ``capabilities=`` (``None``: a trusted in-process caller) and ``conn=`` (a transaction
    from :meth:`transaction` or ``registry.transaction``, whose writes are audited when it commits).
    """

    backend: _Backend

    # ---- reads ------------------------------------------------------------------------------------

    def retrieve(
        self,
        where: str = "",
        bindings: Bindings = None,
        *,
        columns: str = "",
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        capabilities: Collection[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        conn: object = None,
        consistent_with: str | None = None,
    ) -> Retrieval:
        """A bounded retrieve (PAUSE_UPSTREAM, 10 000 rows) wrapped in the untrusted envelope;
        ``consistent_with=`` (a ``write_token()``, from any process) as for the backend's reads."""
        self.gate(capabilities)
        read = prepare_read(
            self.name, where, bindings, columns=columns, order_by=order_by, limit=limit,
            aggregate=aggregate, group_by=group_by,
        )  # fmt: skip
        with requiring(parse_token(consistent_with)):
            return self.run_read(read, max_rows=max_rows, conn=conn)

    def run_read(
        self,
        read: Read,
        *,
        capabilities: Collection[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        conn: object = None,
    ) -> Retrieval:
        """A prepared retrieve (``operations.prepare_read`` on this store, its filter composed as the
        caller likes) with the store's governance: the MCP server's and every caller's one way in."""
        self.gate(capabilities)
        governed = self.governed_read(read)
        policy = Backpressure.PAUSE_UPSTREAM
        gate = PolicyGate(policy, check_max_rows(max_rows))
        outcome = self.backend.run_read(governed, gate, conn)
        return self.retrieval(governed, outcome, policy)

    def stream(
        self,
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
        capabilities: Collection[str] | None = None,
        conn: object = None,
        consistent_with: str | None = None,
    ) -> RowStream:
        """Trusted rows as they arrive, under ``policy``; ``.stream`` holds the metadata at the end
        (``consistent_with=`` as for :meth:`retrieve`, checked now)::

        with handle.stream(order_by="id", max_rows=1000) as rows:
            for row in rows: ...
        """
        self.gate(capabilities)
        chosen = Backpressure.parse(policy)
        bound = check_max_rows(max_rows)
        read = self.governed_read(
            prepare_read(
                self.name, where, bindings, columns=columns, order_by=order_by, limit=limit,
                aggregate=aggregate, group_by=group_by,
            )
        )  # fmt: skip
        with requiring(parse_token(consistent_with)):  # the backend's stream keeps the token
            source = self.backend.iter_read(read, None, None, conn)
        return RowStream(source, chosen, bound, cancel, self.stream_floor(read))

    def page(
        self,
        where: str = "",
        bindings: Bindings = None,
        *,
        order_by: str,
        size: int,
        after: str | None = None,
        columns: str = "",
        capabilities: Collection[str] | None = None,
        conn: object = None,
        consistent_with: str | None = None,
    ) -> Page:
        """One page of a keyset walk over trusted rows; pass ``page.next`` as ``after`` for the next
        (``consistent_with=`` as for :meth:`retrieve`)."""
        self.gate(capabilities)
        spec = prepare_page(
            self.name, where, bindings, order_by=order_by, size=size, after=after, columns=columns
        )
        with requiring(parse_token(consistent_with)):
            return self.run_page(spec, conn=conn)

    def run_page(
        self, page: PageRead, *, capabilities: Collection[str] | None = None, conn: object = None
    ) -> Page:
        """A prepared page (``operations.prepare_page`` on this store) with the store's governance."""
        self.gate(capabilities)
        return self.backend.run_page(self.governed_page(page), conn)

    def run_page_alone(
        self, page: PageRead, *, capabilities: Collection[str] | None = None, statement_timeout_ms: int
    ) -> Page:
        """A prepared page with the store's governance, in a read-only transaction of its own bounded
        by ``statement_timeout_ms`` (one round trip on PostgreSQL when the schema is cached)."""
        self.gate(capabilities)
        return self.backend.run_page_alone(
            self.governed_page(page), statement_timeout_ms=statement_timeout_ms
        )

    # ---- writes -----------------------------------------------------------------------------------

    def run_write(
        self, write: Write, *, capabilities: Collection[str] | None = None, conn: object = None
    ) -> int | list[Row]:
        """A prepared write on this store: the capability gate, the floor, the write, the audit."""
        self.check_write(write, capabilities)
        result = self.backend.run_write(self.governed_write(write), conn)
        return self.audited(write, result, conn)

    @overload
    def persist(  # type: ignore[overload-overlap]  # "" counts, any other text returns rows
        self,
        data: Data,
        *,
        capabilities: Collection[str] | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    def persist(
        self,
        data: Data,
        *,
        capabilities: Collection[str] | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    def persist(
        self,
        data: Data,
        *,
        capabilities: Collection[str] | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """Insert one row (the floor, when declared, needs ``_confidence``); the write is audited."""
        self.gate(capabilities)
        return self.run_write(prepare_insert(self.name, data, returning=returning), conn=conn)

    @overload
    def persist_many(  # type: ignore[overload-overlap]
        self,
        rows: Sequence[Mapping[str, object]],
        *,
        capabilities: Collection[str] | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    def persist_many(
        self,
        rows: Sequence[Mapping[str, object]],
        *,
        capabilities: Collection[str] | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    def persist_many(
        self,
        rows: Sequence[Mapping[str, object]],
        *,
        capabilities: Collection[str] | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """Insert every row, all or none; the floor checks each row before any SQL."""
        self.gate(capabilities)
        spec = prepare_insert_many(self.name, rows, returning=returning)
        return self.run_write(spec, conn=conn)

    @overload
    def upsert(  # type: ignore[overload-overlap]
        self,
        data: Data,
        on_conflict: str,
        update: str | None = None,
        *,
        capabilities: Collection[str] | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    def upsert(
        self,
        data: Data,
        on_conflict: str,
        update: str | None = None,
        *,
        capabilities: Collection[str] | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    def upsert(
        self,
        data: Data,
        on_conflict: str,
        update: str | None = None,
        *,
        capabilities: Collection[str] | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """Insert, or update the row ``on_conflict`` finds (``update=""``: leave it as it is)."""
        self.gate(capabilities)
        spec = prepare_upsert(self.name, data, on_conflict, update=update, returning=returning)
        return self.run_write(spec, conn=conn)

    @overload
    def mutate(  # type: ignore[overload-overlap]
        self,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    def mutate(
        self,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    def mutate(
        self,
        where: str,
        data: Data,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """Update matching rows (a ``_confidence`` it sets is checked against the floor: D15)."""
        self.gate(capabilities)
        spec = prepare_update(self.name, where, data, bindings, all_rows=all_rows, returning=returning)
        return self.run_write(spec, conn=conn)

    @overload
    def purge(  # type: ignore[overload-overlap]
        self,
        where: str,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: Literal[""] = "",
        conn: object = None,
    ) -> int: ...
    @overload
    def purge(
        self,
        where: str,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: str,
        conn: object = None,
    ) -> list[Row]: ...
    def purge(
        self,
        where: str,
        bindings: Bindings = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
        returning: str = "",
        conn: object = None,
    ) -> int | list[Row]:
        """Delete matching rows; the write is audited."""
        self.gate(capabilities)
        spec = prepare_delete(self.name, where, bindings, all_rows=all_rows, returning=returning)
        return self.run_write(spec, conn=conn)

    # ---- transactions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self,
        isolation: str | None = None,
        read_only: bool = False,
        *,
        statement_timeout_ms: int | None = None,
    ) -> Iterator[Any]:
        """A transaction on this store's backend; pass the yielded object as ``conn=`` to the verbs.
        Their audit entries are appended when it commits (none when it rolls back)."""
        with _audited_transaction(
            self.backend, self._ledger, isolation, read_only, statement_timeout_ms
        ) as tx:
            yield tx


@contextlib.contextmanager
def _audited_transaction(
    backend: Any,  # a PostgresStoreBackend or an InMemoryBackend of this flavour
    ledger: Any,
    isolation: str | None,
    read_only: bool,
    statement_timeout_ms: int | None,
) -> Iterator[Any]:
    try:
        with backend.transaction(isolation, read_only, statement_timeout_ms=statement_timeout_ms) as tx:
            ledger.begin(tx)
            yield tx
    except BaseException:
        if "tx" in locals():
            ledger.discard(tx)  # rolled back (or the COMMIT failed): its writes never happened
        raise
    ledger.commit(tx)


class StoreRegistry(RegistryCore[PostgresStoreBackend, InMemoryBackend, StoreHandle]):
    """The closed catalog of declared stores (CONTRACT §6). Building it does no I/O."""

    backend_class = PostgresStoreBackend
    memory_class = InMemoryBackend
    handle_class = StoreHandle

    def verify(self) -> VerifyReport:
        """Introspect every postgresql store live (bypassing and then refreshing the schema cache).

        A table that does not resolve, a declared column that disagrees with the live one, a missing
        per-tenant schema variable, or a floor without a ``_confidence`` column is ``missing`` (fatal);
        a database that cannot be reached is ``unreachable`` (a warning). Diagnostics mask DSNs.
        """
        report = VerifyReport()
        names = self.postgres_names()
        outcomes = [self._verify_one(name) for name in names]
        for name, (kind, detail) in zip(names, outcomes, strict=True):
            report.record(name, kind, detail)
        return report

    def _verify_one(self, name: str) -> tuple[str, str]:
        spec = self.declarations.stores[name]
        if spec.schema_var is not None and namespace_of(spec) is None:
            return "missing", str(MissingPerTenantSchemaEnv(name, spec.schema_var))
        try:
            backend = self.postgres(spec)
        except StoreError as exc:
            return "unreachable", str(exc)
        try:
            resolved = backend.refresh_schema(name)
        except (TableNotResolved, AmbiguousTable) as exc:
            return "missing", f"{exc} (database: {backend.masked_dsn()})"
        except StoreError as exc:
            return "unreachable", f"{exc} (database: {backend.masked_dsn()})"
        problem = declaration_problem(spec, resolved.column_types, backend.masked_dsn())
        return ("missing", problem) if problem else ("verified", "")

    @contextlib.contextmanager
    def transaction(
        self,
        *stores: str,
        isolation: str | None = None,
        read_only: bool = False,
        statement_timeout_ms: int | None = None,
    ) -> Iterator[Any]:
        """One transaction over several stores of the same database (``CrossDatabaseTransaction``
        otherwise), on the first store's pool; pass the yielded object as ``conn=`` to each store's
        verbs. Audit entries are appended when it commits."""
        backend = self.shared_backend(stores)
        with _audited_transaction(backend, self.ledger, isolation, read_only, statement_timeout_ms) as tx:
            yield tx

    def close(self) -> None:
        """Close every pool this registry opened."""
        backends, memory = self.closing()
        for backend in backends:
            backend.close()
        memory.close()

    def __enter__(self) -> StoreRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RowStream:
    """The rows of :meth:`StoreHandle.stream`: an iterator (async in ``axonstore``, plain in
    ``axonstore.sync``) — close it early to stop the server.

    ``stream`` holds the metadata (``policy``, ``total_seen`` counted before the floor, ``dropped``,
    ``truncated``, ``cancelled``); it is final once the iteration ends.
    """

    def __init__(
        self,
        source: Generator[Row, None, None],
        policy: Backpressure,
        max_rows: int,
        cancel: CancelSignal | None,
        floor: float | None,
    ) -> None:
        self.policy = policy
        self._outcome = RowStreamOutcome()
        self._source = source
        self._rows = _trusted(iter_with_policy(source, policy, max_rows, cancel, self._outcome), floor)

    @property
    def stream(self) -> StreamMeta:
        """The stream metadata so far (final after the last row)."""
        return StreamMeta.from_outcome(self.policy, self._outcome)

    def __iter__(self) -> RowStream:
        return self

    def __next__(self) -> Row:
        try:
            return self._rows.__next__()
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading: the server's work is cancelled and the connection released."""
        self._rows.close()
        self._source.close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _trusted(rows: Iterator[Row], floor: float | None) -> Generator[Row, None, None]:
    for row in rows:
        if floor is None or read_confidence(row.get(CONFIDENCE_COLUMN)) >= floor:
            yield row
