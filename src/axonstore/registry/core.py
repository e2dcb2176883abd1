"""What both flavours of the registry share: the catalog, handle governance and verification reports.

::

    registry = StoreRegistry.from_toml("axonstore.toml")          # no I/O
    claims = registry.store("claims")                             # a StoreHandle; the table is its name
    result = await claims.retrieve("status = '${s}'", {"s": "open"}, order_by="created desc", limit="50")
    n = await claims.persist({"id": "c-9", "status": "open", "_confidence": "0.92"})
    report = await registry.verify()
    registry.audit.verify()
    await registry.aclose()

Governance runs before any I/O, in this order: the capability gate (when the caller passes its
capability set), then the store's confidence floor on writes — every row of a batch. Every successful
write is appended to ``registry.audit`` (inside a transaction: when it commits); refused or failed
writes are not. On a floored store an aggregate and a page compose the floor into the filter *tree*
(``(<filter>) AND "_confidence" >= $n``), so no filter text can escape it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from axonstore._text import trim
from axonstore.audit import AuditChain, summary_for
from axonstore.backend.core import DEFAULT_CAPACITY, BackendCore
from axonstore.declarations import Declarations, ResourceSpec, StoreSpec, check_references, load_declarations
from axonstore.dsn import resolve_dsn
from axonstore.errors import (
    BadArgument,
    CrossDatabaseTransaction,
    DeclaredVsLiveDrift,
    DuplicateStore,
    InvalidDeclaration,
    MissingEnvVar,
    UnknownStore,
    UnresolvedEndpoint,
)
from axonstore.governance import (
    CONFIDENCE_COLUMN,
    Retrieval,
    StreamMeta,
    check_capability,
    check_write_floor,
    check_write_rows,
    with_floor,
)
from axonstore.memory.engine import MemoryBase
from axonstore.operations import Delete, Insert, PageRead, Read, Update, Write
from axonstore.pgtypes import types_match
from axonstore.rows import Row
from axonstore.stream import RowStreamOutcome

__all__ = [
    "AuditLedger",
    "HandleCore",
    "RegistryCore",
    "VerifyReport",
    "declaration_problem",
    "declared_vs_live",
    "namespace_of",
]

B = TypeVar("B", bound=BackendCore)
_Searched = TypeVar("_Searched", Read, Update, Delete)
M = TypeVar("M", bound=MemoryBase)
H = TypeVar("H", bound="HandleCore[Any]")


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

    def record(self, name: str, kind: str, detail: str) -> None:
        """File one store's outcome (``verified``, ``missing`` or ``unreachable``)."""
        if kind == "verified":
            self.verified.append(name)
        elif kind == "missing":
            self.missing[name] = detail
        else:
            self.unreachable[name] = detail


# --------------------------------------------------------------------------------------------------
# The audit, written on success — or on commit


class AuditLedger:
    """Appends a write's audit entry now, or — inside a transaction — when the transaction commits."""

    def __init__(self, audit: AuditChain) -> None:
        self.audit = audit
        self._pending: dict[int, list[tuple[str, str, str]]] = {}

    def begin(self, tx: object) -> None:
        """Entries of writes made with ``conn=tx`` wait for :meth:`commit`."""
        self._pending[id(tx)] = []

    def commit(self, tx: object) -> None:
        """The transaction committed: append its writes' entries, in order."""
        for op, store, summary in self._pending.pop(id(tx), []):
            self.audit.append(op, store, summary)  # type: ignore[arg-type]  # ops come from this module

    def discard(self, tx: object) -> None:
        """The transaction rolled back: its writes never happened."""
        self._pending.pop(id(tx), None)

    def record(self, op: str, store: str, summary: str, conn: object) -> None:
        """One successful write."""
        pending = self._pending.get(id(conn)) if conn is not None else None
        if pending is not None:
            pending.append((op, store, summary))
        else:
            self.audit.append(op, store, summary)  # type: ignore[arg-type]


def _count(result: int | list[Row]) -> int:
    return result if isinstance(result, int) else len(result)


# --------------------------------------------------------------------------------------------------
# The handle's governance


class HandleCore(Generic[B]):
    """One declared store: its spec, its backend, and the governance both flavours apply."""

    def __init__(self, spec: StoreSpec, backend: B | MemoryBase, ledger: AuditLedger) -> None:
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self._ledger = ledger

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, backend={self.spec.backend!r})"

    def gate(self, capabilities: Collection[str] | None) -> None:
        """``CapabilityDenied`` unless the caller holds the store's capability (``None``: trusted)."""
        check_capability(self.name, self.spec.capability, capabilities)

    def _own(self, spec: Any) -> None:
        if spec.table != self.name:
            raise BadArgument("spec", f"an operation on the table `{self.name}`", f"one on `{spec.table}`")

    def governed_read(self, read: Read) -> Read:
        """The retrieve as it runs: an aggregate on a floored store counts trusted rows only; ``@@``
        uses the store's text-search configuration."""
        self._own(read)
        read = self._searching(read)
        if read.aggregate is None or self.spec.confidence_floor is None:
            return read
        return read.with_filter(with_floor(read.filter, self.spec.confidence_floor))

    def governed_page(self, page: PageRead) -> PageRead:
        """A page on a floored store holds trusted rows only (the floor is in its filter)."""
        self._own(page.read)
        searched = self._searching(page.read)
        if searched is not page.read:  # a copy only when the configuration changes (most pages: not)
            page = dataclasses.replace(page, read=searched)
        if self.spec.confidence_floor is None:
            return page
        return page.with_filter(with_floor(page.filter, self.spec.confidence_floor))

    def governed_write(self, write: Write) -> Write:
        """The write as it runs: a filter's ``@@`` uses the store's text-search configuration."""
        if isinstance(write, Update):
            return self._searching(write)
        if isinstance(write, Delete):
            return self._searching(write)
        return write

    def _searching(self, spec: _Searched) -> _Searched:
        wanted = self.spec.text_search
        if spec.text_search == wanted or spec.filter is None:
            return spec
        return dataclasses.replace(spec, text_search=wanted)

    def retrieval(self, read: Read, outcome: RowStreamOutcome, policy: Any) -> Retrieval:
        """The untrusted envelope of a retrieve's outcome."""
        meta = StreamMeta.from_outcome(policy, outcome)
        floor = self.spec.confidence_floor
        return Retrieval.build(outcome.rows, floor, meta, apply_floor=read.aggregate is None)

    def stream_floor(self, read: Read) -> float | None:
        """The floor a stream's rows are held to (none for an aggregate: its SQL has it)."""
        return None if read.aggregate is not None else self.spec.confidence_floor

    def check_write(self, write: Write, capabilities: Collection[str] | None) -> None:
        """The capability gate, then the floor (every row of a batch; a mutate that sets it: D15)."""
        self.gate(capabilities)
        self._own(write)
        floor = self.spec.confidence_floor
        if isinstance(write, Insert):
            check_write_rows(self.name, floor, write.columns, write.rows)
        elif isinstance(write, Update):
            check_write_floor(self.name, floor, write.pairs, op="mutate")

    def audited(self, write: Write, result: int | list[Row], conn: object) -> int | list[Row]:
        """Record a successful write (``persisted``, ``upserted``, ``mutated``, ``purged``)."""
        n = _count(result)
        if isinstance(write, Insert):
            op = "persist"
            text = f"upserted {n} row(s) in `{self.name}`" if write.op == "upsert" else None
        else:
            op = "mutate" if isinstance(write, Update) else "purge" if isinstance(write, Delete) else ""
            text = None
        if op:
            self._ledger.record(op, self.name, text or summary_for(op, self.name, n), conn)
        return result


# --------------------------------------------------------------------------------------------------
# The catalog


class RegistryCore(Generic[B, M, H]):
    """The closed catalog of declared stores. Building it does no I/O; pools open on first use.

    A flavour names its classes: ``backend_class`` (``PostgresStoreBackend``), ``memory_class``
    (``InMemoryBackend``) and ``handle_class`` (``StoreHandle``).
    """

    backend_class: ClassVar[type[Any]]
    memory_class: ClassVar[type[Any]]
    handle_class: ClassVar[type[Any]]

    def __init__(
        self,
        declarations: Declarations,
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
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
        self.ledger = AuditLedger(self.audit)
        self._memory: M = self.memory_class()
        for spec in declarations.stores.values():
            if spec.backend == "in_memory" and spec.columns:
                self._memory.declare_columns(spec.name, spec.columns)
        self._backends: dict[tuple[str, str, str | None], B] = {}
        # OpenTelemetry providers for every postgresql store's backend (None: the global ones).
        self._telemetry = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        self._handles: dict[str, H] = {}

    @classmethod
    def from_toml(
        cls,
        path: str | os.PathLike[str] = "axonstore.toml",
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> Self:
        """Read ``axonstore.toml`` (``InvalidDeclaration`` names the file, table and key of a problem).

        ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers for the stores' spans and
        metrics (``axonstore[otel]``; the global ones when omitted).
        """
        return cls(
            load_declarations(path),
            audit_key=audit_key,
            default_connection=default_connection,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    @classmethod
    def build(
        cls,
        specs: Iterable[StoreSpec],
        resources: Iterable[ResourceSpec] = (),
        *,
        audit_key: bytes | None = None,
        default_connection: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> Self:
        """From specs built in Python; a repeated store name is ``DuplicateStore`` (the providers as
        for :meth:`from_toml`)."""
        stores: dict[str, StoreSpec] = {}
        for spec in specs:
            if spec.name in stores:
                raise DuplicateStore(spec.name)
            stores[spec.name] = spec
        declared = Declarations(stores, {r.name: r for r in resources}, "<StoreRegistry.build>")
        return cls(
            declared,
            audit_key=audit_key,
            default_connection=default_connection,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

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

    def store(self, name: str) -> H:
        """The handle of a declared store. A postgresql store resolves its DSN here (typed errors)."""
        handle = self._handles.get(name)
        if handle is None:
            spec = self.spec(name)
            backend = self._memory if spec.backend == "in_memory" else self.postgres(spec)
            handle = self.handle_class(spec, backend, self.ledger)
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

    def postgres(self, spec: StoreSpec) -> B:
        """The backend of a postgresql store (one pool per DSN, store and namespace: D6)."""
        source, capacity = self.connection_source(spec)
        try:
            dsn = resolve_dsn(source)
        except MissingEnvVar as exc:
            if spec.resource is None:
                raise
            raise UnresolvedEndpoint(spec.resource, source, str(exc)) from exc
        namespace = namespace_of(spec)
        key = (dsn, spec.name, namespace)
        backend = self._backends.get(key)
        if backend is None:
            backend = self.backend_class(
                dsn, spec.name, namespace, capacity, **self._routing(spec), **self._telemetry
            )
            self._backends[key] = backend
        return backend

    def _routing(self, spec: StoreSpec) -> dict[str, Any]:
        """The read-routing keywords of a store's resource (CONTRACT §13): its readers resolved."""
        if spec.resource is None:
            return {}
        resource = self.declarations.resources[spec.resource]
        readers = []
        for source in resource.readers:
            try:
                readers.append(resolve_dsn(source))
            except MissingEnvVar as exc:
                raise UnresolvedEndpoint(spec.resource, source, str(exc)) from exc
        routing: dict[str, Any] = {"readers": readers}
        if resource.reads is not None:
            routing["reads"] = resource.reads
        if resource.max_lag_ms is not None:
            routing["max_lag_ms"] = resource.max_lag_ms
        return routing

    def routing(self, name: str) -> dict[str, Any]:
        """How a store's reads are routed, for ``axonstore stores`` (readers masked): ``{"reads",
        "max_lag_ms", "readers", "routing_stats"}`` (this process's counts and the probes' last view);
        ``{}`` for an in-memory store. No I/O."""
        backend = self.store(name).backend
        if not isinstance(backend, BackendCore):
            return {}
        return backend.routing() | {"routing_stats": backend.routing_stats()}

    def postgres_names(self) -> list[str]:
        """The postgresql stores, sorted (what ``verify`` checks)."""
        return sorted(n for n, s in self.declarations.stores.items() if s.backend == "postgresql")

    def shared_backend(self, stores: tuple[str, ...]) -> B | MemoryBase:
        """The backend a transaction over ``stores`` runs on: the first store's, when every store
        reaches the same database (``CrossDatabaseTransaction`` otherwise)."""
        if not stores:
            raise BadArgument("stores", "at least one store name", "none")
        backends = [self.store(name).backend for name in stores]
        first = backends[0]
        for other in backends[1:]:
            same = other is first or (
                isinstance(first, BackendCore)
                and isinstance(other, BackendCore)
                and first.same_database(other)
            )
            if not same:
                raise CrossDatabaseTransaction(tuple(stores))
        return first

    def closing(self) -> tuple[list[B], M]:
        """Forget every pool and handle; what the flavour must close."""
        backends = list(self._backends.values())
        self._backends.clear()
        self._handles.clear()
        return backends, self._memory

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}={s.backend}" for n, s in self.declarations.stores.items())
        return f"StoreRegistry({kinds})"


def namespace_of(spec: StoreSpec) -> str | None:
    """The per-tenant namespace from ``schema = "env:VAR"``, when the variable is set."""
    var = spec.schema_var
    if var is None:
        return None
    return trim(os.environ.get(var, "")) or None


def declaration_problem(spec: StoreSpec, live: Mapping[str, str], masked_dsn: str) -> str:
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
