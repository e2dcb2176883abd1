"""Declared stores: the registry, store handles with governance, and deploy verification (CONTRACT §6).

::

    registry = StoreRegistry.from_toml("axonstore.toml")          # sync, no I/O
    claims = registry.store("claims")                             # a StoreHandle; the table is its name
    result = await claims.retrieve("status = '${s}'", {"s": "open"}, order_by="created desc", limit="50")
    n = await claims.persist({"id": "c-9", "status": "open", "_confidence": "0.92"})
    report = await registry.verify()
    registry.audit.verify()
    await registry.aclose()

Governance runs before any I/O, in this order: the capability gate (when the caller passes its
capability set), then the store's confidence floor on writes. Every successful persist / mutate /
purge is appended to ``registry.audit``; refused or failed writes are not.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from axonstore._text import trim
from axonstore.audit import AuditChain, summary_for
from axonstore.backend import DEFAULT_CAPACITY, PostgresStoreBackend
from axonstore.declarations import Declarations, ResourceSpec, StoreSpec, check_references, load_declarations
from axonstore.dsn import resolve_dsn
from axonstore.errors import (
    AmbiguousTable,
    DeclaredVsLiveDrift,
    DuplicateStore,
    InvalidDeclaration,
    MissingEnvVar,
    MissingPerTenantSchemaEnv,
    StoreError,
    TableNotResolved,
    UnknownStore,
    UnresolvedEndpoint,
)
from axonstore.governance import (
    CONFIDENCE_COLUMN,
    Retrieval,
    StreamMeta,
    check_capability,
    check_write_floor,
    read_confidence,
)
from axonstore.memory import InMemoryBackend
from axonstore.pgtypes import types_match
from axonstore.rows import Row
from axonstore.stream import (
    DEFAULT_MAX_ROWS,
    Backpressure,
    CancelSignal,
    RowStreamOutcome,
    check_max_rows,
    stream_with_policy,
)

__all__ = ["RowStream", "StoreHandle", "StoreRegistry", "VerifyReport"]

# The largest finite float8: the aggregate floor's upper bound, which keeps NaN and ±Infinity out.
_FINITE_MAX = str(int(1.7976931348623157e308))


#: What a store handle runs on: both backends have the same verbs and keywords.
_Backend = PostgresStoreBackend | InMemoryBackend


@dataclass
class VerifyReport:
    """Deploy verification: ``verified`` stores, ``missing`` (fatal) and ``unreachable`` (warnings)."""

    verified: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def has_fatal(self) -> bool:
        """True when a declared table does not resolve (or disagrees with its declaration)."""
        return bool(self.missing)

    def fatal_summary(self) -> str:
        """One line naming every missing store and why."""
        listed = "; ".join(f"`{store}` — {reason}" for store, reason in sorted(self.missing.items()))
        return (
            "deploy-time store-schema verification failed: "
            f"{len(self.missing)} declared postgresql store table(s) do not resolve on a reachable "
            f"database: {listed}"
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"verified", "missing", "unreachable"}`` (the CLI's ``--json``)."""
        return {"verified": self.verified, "missing": self.missing, "unreachable": self.unreachable}


class StoreRegistry:
    """The closed catalog of declared stores. Building it does no I/O; pools open on first use."""

    def __init__(
        self,
        declarations: Declarations,
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
    ) -> None:
        check_references(declarations.stores.values(), declarations.resources)
        for spec in declarations.stores.values():
            if spec.needs_default_connection and default_connection is None:
                raise InvalidDeclaration(
                    declarations.path,
                    f"stores.{spec.name}",
                    "connection",
                    "a postgresql store needs `connection` (a DSN or env:VAR) or `resource`",
                )
        self.declarations = declarations
        self.default_connection = default_connection
        self.audit = AuditChain(audit_key)
        self._memory = InMemoryBackend()
        for spec in declarations.stores.values():
            if spec.backend == "in_memory" and spec.columns:
                self._memory.declare_columns(spec.name, spec.columns)
        self._backends: dict[tuple[str, str, str | None], PostgresStoreBackend] = {}
        self._handles: dict[str, StoreHandle] = {}

    @classmethod
    def from_toml(
        cls,
        path: str | os.PathLike[str] = "axonstore.toml",
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
    ) -> StoreRegistry:
        """Read ``axonstore.toml`` (``InvalidDeclaration`` names the file, table and key of a problem)."""
        return cls(load_declarations(path), audit_key=audit_key, default_connection=default_connection)

    @classmethod
    def build(
        cls,
        specs: Iterable[StoreSpec],
        resources: Iterable[ResourceSpec] = (),
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
    ) -> StoreRegistry:
        """From specs built in Python; a repeated store name is ``DuplicateStore``."""
        stores: dict[str, StoreSpec] = {}
        for spec in specs:
            if spec.name in stores:
                raise DuplicateStore(spec.name)
            stores[spec.name] = spec
        declared = Declarations(stores, {r.name: r for r in resources}, "<StoreRegistry.build>")
        return cls(declared, audit_key=audit_key, default_connection=default_connection)

    @property
    def declared(self) -> tuple[str, ...]:
        """Store names, in declaration order."""
        return tuple(self.declarations.stores)

    def spec(self, name: str) -> StoreSpec:
        """The declaration of ``name``; ``UnknownStore`` for an undeclared name (never a silent KV store)."""
        spec = self.declarations.stores.get(name)
        if spec is None:
            raise UnknownStore(name, self.declared)
        return spec

    def store(self, name: str) -> StoreHandle:
        """The handle of a declared store. A postgresql store resolves its DSN here (typed errors)."""
        handle = self._handles.get(name)
        if handle is None:
            spec = self.spec(name)
            backend: _Backend = self._memory if spec.backend == "in_memory" else self._postgres(spec)
            handle = StoreHandle(spec, backend, self.audit)
            self._handles[name] = handle
        return handle

    def connection_source(self, spec: StoreSpec) -> tuple[str, int]:
        """The store's ``connection`` (DSN or env:VAR, before resolution) and its pool capacity."""
        if spec.resource is not None:
            resource = self.declarations.resources[spec.resource]
            return resource.endpoint, resource.capacity or spec.capacity or DEFAULT_CAPACITY
        source = spec.connection if spec.connection is not None else self.default_connection
        assert source is not None  # refused at construction otherwise
        return source, spec.capacity or DEFAULT_CAPACITY

    def _postgres(self, spec: StoreSpec) -> PostgresStoreBackend:
        source, capacity = self.connection_source(spec)
        try:
            dsn = resolve_dsn(source)
        except MissingEnvVar as exc:
            if spec.resource is None:
                raise
            raise UnresolvedEndpoint(spec.resource, source, str(exc)) from exc
        namespace = _namespace(spec)
        key = (dsn, spec.name, namespace)  # one pool per (DSN, store, namespace): D6
        backend = self._backends.get(key)
        if backend is None:
            backend = PostgresStoreBackend(dsn, spec.name, namespace, capacity)
            self._backends[key] = backend
        return backend

    async def verify(self) -> VerifyReport:
        """Introspect every postgresql store live (bypassing and then refreshing the schema cache).

        A table that does not resolve, a declared column that disagrees with the live one, a missing
        per-tenant schema variable, or a floor without a ``_confidence`` column is ``missing`` (fatal);
        a database that cannot be reached is ``unreachable`` (a warning). Diagnostics mask DSNs.
        """
        report = VerifyReport()
        names = sorted(n for n, s in self.declarations.stores.items() if s.backend == "postgresql")
        outcomes = await asyncio.gather(*(self._verify_one(name) for name in names))
        for name, (kind, detail) in zip(names, outcomes, strict=True):
            if kind == "verified":
                report.verified.append(name)
            elif kind == "missing":
                report.missing[name] = detail
            else:
                report.unreachable[name] = detail
        return report

    async def _verify_one(self, name: str) -> tuple[str, str]:
        spec = self.declarations.stores[name]
        var = spec.schema_var
        if var is not None and not trim(os.environ.get(var, "")):
            return "missing", str(MissingPerTenantSchemaEnv(name, var))
        try:
            backend = self._postgres(spec)
        except StoreError as exc:
            return "unreachable", str(exc)
        try:
            resolved = await backend.refresh_schema(name)
        except (TableNotResolved, AmbiguousTable) as exc:
            return "missing", f"{exc} (database: {backend.masked_dsn()})"
        except StoreError as exc:
            return "unreachable", f"{exc} (database: {backend.masked_dsn()})"
        problem = _declaration_problem(spec, resolved.column_types, backend.masked_dsn())
        return ("missing", problem) if problem else ("verified", "")

    async def aclose(self) -> None:
        """Close every pool this registry opened."""
        backends = list(self._backends.values())
        self._backends.clear()
        self._handles.clear()
        await asyncio.gather(*(backend.aclose() for backend in backends))
        await self._memory.aclose()

    async def __aenter__(self) -> StoreRegistry:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}={s.backend}" for n, s in self.declarations.stores.items())
        return f"StoreRegistry({kinds})"


def _namespace(spec: StoreSpec) -> str | None:
    """The per-tenant namespace from ``schema = "env:VAR"``, when the variable is set."""
    var = spec.schema_var
    if var is None:
        return None
    return trim(os.environ.get(var, "")) or None


def _declaration_problem(spec: StoreSpec, live: Mapping[str, str], masked_dsn: str) -> str:
    """Why a resolved table does not satisfy its declaration (empty when it does)."""
    if spec.confidence_floor is not None and CONFIDENCE_COLUMN not in live:
        return (
            f"store `{spec.name}` declares confidence_floor {spec.confidence_floor} but its table has no "
            f"`{CONFIDENCE_COLUMN}` column (database: {masked_dsn})"
        )
    drift = declared_vs_live(spec.columns, live)
    return str(DeclaredVsLiveDrift(spec.name, drift)) if drift else ""


def declared_vs_live(declared: Mapping[str, str], live: Mapping[str, str]) -> str:
    """The T807 drift text (empty when the declaration matches the live table)."""
    absent = [column for column in declared if column not in live]
    wrong = [
        f"`{column}` declared as `{kind}` but live type is `{live[column]}`"
        for column, kind in declared.items()
        if column in live and not types_match(kind, live[column])
    ]
    parts = []
    if absent:
        parts.append("missing on live database: {" + ", ".join(absent) + "}")
    if wrong:
        parts.append("type mismatches: {" + ", ".join(wrong) + "}")
    return "; ".join(parts)


class StoreHandle:
    """One declared store: the four verbs plus streaming, with the store's governance applied."""

    def __init__(self, spec: StoreSpec, backend: _Backend, audit: AuditChain) -> None:
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self._audit = audit

    def __repr__(self) -> str:
        return f"StoreHandle({self.name!r}, backend={self.spec.backend!r})"

    async def retrieve(
        self,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        capabilities: Collection[str] | None = None,
    ) -> Retrieval:
        """A bounded retrieve (PAUSE_UPSTREAM, 10 000 rows) wrapped in the untrusted envelope."""
        self._gate(capabilities)
        policy = Backpressure.PAUSE_UPSTREAM
        aggregated = bool(trim(aggregate))
        outcome: RowStreamOutcome = await self.backend.stream_retrieve(
            self.name,
            self.effective_where(where, aggregate=aggregate),
            bindings,
            order_by=order_by,
            limit=limit,
            aggregate=aggregate,
            group_by=group_by,
            policy=policy,
            max_rows=DEFAULT_MAX_ROWS,
        )
        meta = StreamMeta.from_outcome(policy, outcome)
        return Retrieval.build(outcome.rows, self.spec.confidence_floor, meta, apply_floor=not aggregated)

    def stream(
        self,
        where: str = "",
        bindings: Mapping[str, str] | None = None,
        *,
        order_by: str = "",
        limit: str = "",
        aggregate: str = "",
        group_by: str = "",
        policy: Backpressure | str = Backpressure.PAUSE_UPSTREAM,
        max_rows: int = DEFAULT_MAX_ROWS,
        cancel: CancelSignal | None = None,
        capabilities: Collection[str] | None = None,
    ) -> RowStream:
        """Trusted rows as they arrive, under ``policy``; ``.stream`` holds the metadata at the end."""
        self._gate(capabilities)
        chosen = Backpressure.parse(policy)
        bound = check_max_rows(max_rows)
        aggregated = bool(trim(aggregate))
        source = self.backend.iter_rows(
            self.name,
            self.effective_where(where, aggregate=aggregate),
            bindings,
            order_by=order_by,
            limit=limit,
            aggregate=aggregate,
            group_by=group_by,
        )
        floor = None if aggregated else self.spec.confidence_floor
        return RowStream(source, chosen, bound, cancel, floor)

    async def persist(
        self, data: Mapping[str, object], *, capabilities: Collection[str] | None = None
    ) -> int:
        """Insert one row (the floor, when declared, needs ``_confidence``); the write is audited."""
        self._gate(capabilities)
        check_write_floor(self.name, self.spec.confidence_floor, data, op="persist")
        count = await self.backend.insert(self.name, data)
        self._audit.append("persist", self.name, summary_for("persist", self.name, count))
        return count

    async def mutate(
        self,
        where: str,
        data: Mapping[str, object],
        bindings: Mapping[str, str] | None = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
    ) -> int:
        """Update matching rows (a ``_confidence`` it sets is checked against the floor: D15)."""
        self._gate(capabilities)
        check_write_floor(self.name, self.spec.confidence_floor, data, op="mutate")
        count = await self.backend.mutate(self.name, where, data, bindings, all_rows=all_rows)
        self._audit.append("mutate", self.name, summary_for("mutate", self.name, count))
        return count

    async def purge(
        self,
        where: str,
        bindings: Mapping[str, str] | None = None,
        *,
        all_rows: bool = False,
        capabilities: Collection[str] | None = None,
    ) -> int:
        """Delete matching rows; the write is audited."""
        self._gate(capabilities)
        count = await self.backend.purge(self.name, where, bindings, all_rows=all_rows)
        self._audit.append("purge", self.name, summary_for("purge", self.name, count))
        return count

    def _gate(self, capabilities: Collection[str] | None) -> None:
        check_capability(self.name, self.spec.capability, capabilities)

    def effective_where(self, where: str, *, aggregate: str = "") -> str:
        """The filter a retrieve really runs: for an aggregate over a store with a floor, the floor joins
        the filter, so that untrusted rows never count (a NULL or non-finite ``_confidence`` reads as
        0.0 and passes only a floor of 0). Otherwise ``where`` unchanged.

        >>> handle.effective_where("region = 'eu'", aggregate="count")   # floor 0.8
        "(region = 'eu') AND _confidence >= 0.8 AND _confidence <= 1797…"
        """
        floor = self.spec.confidence_floor
        if floor is None or not trim(aggregate):
            return where
        low = format(Decimal(repr(floor)), "f")
        bounded = f"{CONFIDENCE_COLUMN} >= {low} AND {CONFIDENCE_COLUMN} <= {_FINITE_MAX}"
        if floor <= 0:
            bounded = f"({bounded} OR {CONFIDENCE_COLUMN} IS NULL)"
        return f"({where}) AND {bounded}" if trim(where) else bounded


class RowStream:
    """The rows of :meth:`StoreHandle.stream`: an async iterator (close it early to stop the server).

    ``stream`` holds the metadata (``policy``, ``total_seen`` counted before the floor, ``dropped``,
    ``truncated``, ``cancelled``); it is final once the iteration ends.
    """

    def __init__(
        self,
        source: AsyncIterator[Row],
        policy: Backpressure,
        max_rows: int,
        cancel: CancelSignal | None,
        floor: float | None,
    ) -> None:
        self.policy = policy
        self._outcome = RowStreamOutcome()
        self._source = source
        self._rows = self._trusted(stream_with_policy(source, policy, max_rows, cancel, self._outcome), floor)

    @property
    def stream(self) -> StreamMeta:
        """The stream metadata so far (final after the last row)."""
        return StreamMeta.from_outcome(self.policy, self._outcome)

    async def _trusted(self, rows: AsyncIterator[Row], floor: float | None) -> AsyncGenerator[Row, None]:
        async for row in rows:
            if floor is None or read_confidence(row.get(CONFIDENCE_COLUMN)) >= floor:
                yield row

    def __aiter__(self) -> RowStream:
        return self

    async def __anext__(self) -> Row:
        try:
            return await self._rows.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop reading: the server's work is cancelled and the connection released."""
        await self._rows.aclose()
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            await closer()

    async def __aenter__(self) -> RowStream:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
