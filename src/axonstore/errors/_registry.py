"""Registry, declarations and governance (confidence floors, capabilities, the audit chain)."""

from __future__ import annotations

from dataclasses import dataclass

from axonstore.errors._base import StoreError


@dataclass(eq=False)
class RegistryError(StoreError):
    """A store declaration or registry lookup that cannot be honoured."""


@dataclass(eq=False)
class UnknownStore(RegistryError):
    """``registry.store(name)`` for a name that is not declared."""

    name: str
    declared: tuple[str, ...]

    def message(self) -> str:
        names = ", ".join(self.declared) if self.declared else "none"
        return f"axonstore `{self.name}` is not declared (declared stores: {names}) — check the name"


@dataclass(eq=False)
class UnknownBackend(RegistryError):
    """A backend outside the closed catalog."""

    store: str
    backend: str

    def message(self) -> str:
        return (
            f"axonstore `{self.store}` declares unknown backend `{self.backend}` — the closed catalog is "
            "{in_memory, postgresql}"
        )


@dataclass(eq=False)
class DuplicateStore(RegistryError):
    """Two stores with the same name."""

    store: str

    def message(self) -> str:
        return f"axonstore `{self.store}` is declared twice — store names must be unique"


@dataclass(eq=False)
class UnknownResource(RegistryError):
    """A store names a resource that is not declared."""

    store: str
    resource: str

    def message(self) -> str:
        return (
            f"axonstore `{self.store}` uses resource `{self.resource}`, which is not declared — add "
            f"[resources.{self.resource}] with `endpoint` and `capacity`"
        )


@dataclass(eq=False)
class UnresolvedEndpoint(RegistryError):
    """A resource's endpoint could not be resolved to a DSN."""

    resource: str
    endpoint: str
    detail: str

    def message(self) -> str:
        return (
            f"resource `{self.resource}` endpoint `{self.endpoint}` could not be resolved: {self.detail} — "
            "set the variable it names"
        )


@dataclass(eq=False)
class InvalidDeclaration(RegistryError):
    """A declarations file with a syntax error, unknown key, wrong type or missing field."""

    path: str
    table: str | None
    key: str | None
    reason: str

    def message(self) -> str:
        where = self.path
        if self.table:
            where += f" [{self.table}]"
        if self.key:
            where += f" `{self.key}`"
        return f"invalid declaration in {where}: {self.reason}"


@dataclass(eq=False)
class MissingPerTenantSchemaEnv(RegistryError):
    """``schema = "env:VAR"`` with the variable unset at deploy time (axon-T806)."""

    store: str
    var: str

    def message(self) -> str:
        return (
            f"axon-T806 axonstore `{self.store}` declares `schema: env:{self.var}` but environment variable "
            f"`{self.var}` is not set at deploy time. Export the tenant namespace in `{self.var}`"
        )


@dataclass(eq=False)
class DeclaredVsLiveDrift(RegistryError):
    """Declared columns disagree with the live catalog (axon-T807)."""

    store: str
    drift: str

    def message(self) -> str:
        return (
            f"axon-T807 axonstore `{self.store}` declared column schema disagrees with the live database: "
            f"{self.drift}. Run `axonstore introspect {self.store}` and update the declaration or migrate "
            "the table"
        )


# Governance


@dataclass(eq=False)
class EpistemicError(StoreError):
    """A write refused by the store's confidence floor."""


@dataclass(eq=False)
class UnelevatedWrite(EpistemicError):
    """A write into a store with a floor carries no ``_confidence`` (or sets it to NULL)."""

    store: str
    floor: float
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: the store declares confidence_floor "
            f"{self.floor} but the row carries no `_confidence` value — an un-elevated (⊥) write. "
            "Add `_confidence` with a number in [0, 1]"
        )


@dataclass(eq=False)
class MalformedConfidence(EpistemicError):
    """``_confidence`` is not a number."""

    store: str
    value: object
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: `_confidence` is {self.value!r}, not a finite "
            "number — give a number in [0, 1]"
        )


@dataclass(eq=False)
class SubFloorWrite(EpistemicError):
    """``_confidence`` below the store's floor."""

    store: str
    confidence: float
    floor: float
    op: str = "persist"

    def message(self) -> str:
        return (
            f"{self.op} into axonstore `{self.store}` blocked: `_confidence` {self.confidence} is below the "
            f"store's confidence_floor {self.floor}"
        )


@dataclass(eq=False)
class CapabilityDenied(StoreError):
    """The caller's capability set lacks the store's capability."""

    store: str
    required: str
    held: tuple[str, ...]

    def message(self) -> str:
        held = ", ".join(f'"{h}"' for h in sorted(self.held))
        return (
            f"access to axonstore `{self.store}` denied: it requires capability `{self.required}`, which "
            f"the caller does not hold (held: [{held}])"
        )


@dataclass(eq=False)
class AuditChainBroken(StoreError):
    """An audit chain whose links or signatures do not verify."""

    index: int
    reason: str

    def message(self) -> str:
        return f"audit chain broken at entry {self.index}: {self.reason}"
