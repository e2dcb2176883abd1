"""Store declarations: ``axonstore.toml`` parsed (with ``tomllib``) into frozen, validated specs.

A file looks like this::

    [resources.main]
    endpoint = "env:DATABASE_URL"
    capacity = 20

    [stores.claims]
    backend = "postgresql"
    resource = "main"              # or: connection = "env:CLAIMS_URL"
    schema = "env:TENANT"          # per-tenant namespace, stamped into application_name
    confidence_floor = 0.8
    capability = "claims.write"

    [stores.claims.columns]
    id = "uuid"
    amount = "numeric(12,2)"       # checked against the live table at deploy

    [stores.claims.agent]          # what `axonstore mcp` serves to AI agents (CONTRACT §15)
    verbs = ["retrieve", "mutate"]
    returned = ["id", "status", "amount"]
    writable = ["status"]
    bind = { org_id = "claim:org_id" }

    [principals.support_bot]       # who may call: a bearer token's hash, capabilities, claims
    token_sha256 = "<hex sha256 of the bearer token>"
    capabilities = ["claims.write"]
    claims = { org_id = "42" }

Every problem is an ``InvalidDeclaration(path, table, key, reason)`` naming the file, the TOML table
(``stores.claims``) and the key; a backend outside the catalog is ``UnknownBackend``; a store naming an
undeclared resource is ``UnknownResource``. Values are never echoed in messages (a ``connection`` may
hold a password).

``StoreSpec``, ``ResourceSpec``, ``AgentSpec`` and ``PrincipalSpec`` validate themselves, so specs built
in Python for ``StoreRegistry.build`` obey the same rules (their errors name the path ``<StoreSpec>``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from axonstore._text import TOML_MAX_NESTING, toml_too_deep, trim
from axonstore.dsn import mask_dsn
from axonstore.errors import InvalidDeclaration, UnknownBackend, UnknownResource
from axonstore.idents import is_safe_identifier
from axonstore.pgtypes import normalize_type_name

__all__ = [
    "AGENT_VERBS",
    "BACKENDS",
    "MAX_TOML_DEPTH",
    "AgentSpec",
    "Declarations",
    "PrincipalSpec",
    "ResourceSpec",
    "StoreSpec",
    "check_references",
    "classify_backend",
    "load_declarations",
    "parse_declarations",
]

Backend = Literal["postgresql", "in_memory"]
#: The closed catalog of backends.
BACKENDS: tuple[Backend, ...] = ("in_memory", "postgresql")

_CODE_PATH = "<StoreSpec>"  # the path named by errors of specs built in Python
_ENV_PREFIX = "env:"
_STORE_KEYS = (
    "agent",
    "backend",
    "capability",
    "capacity",
    "columns",
    "confidence_floor",
    "connection",
    "resource",
    "schema",
    "text_search",
)
_RESOURCE_KEYS = ("capacity", "endpoint", "max_lag_ms", "readers", "reads")
#: CONTRACT §13's read modes (the backend's router checks the same names: ``backend.replicas``).
_READ_MODES = ("primary", "replica", "session")
_TOP_KEYS = ("principals", "resources", "stores")
_MISSING_ENDPOINT = 'missing — add `endpoint = "env:VAR"` (the variable holding the DSN) or a DSN'
# Keys that only make sense for a store on a database.
_DATABASE_ONLY_KEYS = ("connection", "resource", "capacity", "schema")


# --------------------------------------------------------------------------------------------------
# Specs


def _empty_columns() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class StoreSpec:
    """One ``[stores.NAME]``: validated and normalised on construction.

    ``backend`` is ``"postgresql"`` or ``"in_memory"`` (given trimmed and in any case);
    ``connection`` is a DSN or ``env:VAR`` (resolved later by the registry); ``resource`` names a
    ``ResourceSpec``; ``capacity`` > 0; ``schema`` is ``env:VAR`` (the per-tenant namespace);
    ``confidence_floor`` is in [0, 1]; ``capability`` is non-blank; ``columns`` maps column names to
    type names normalised by ``normalize_type_name``.
    """

    name: str
    backend: str
    connection: str | None = None
    resource: str | None = None
    capacity: int | None = None
    schema: str | None = None
    confidence_floor: float | None = None
    capability: str | None = None
    columns: Mapping[str, str] = field(default_factory=_empty_columns, hash=False)
    agent: AgentSpec | None = None
    #: The full-text configuration of ``@@`` in this store's filters (a ``regconfig`` name).
    text_search: str = "simple"

    def __post_init__(self) -> None:
        table = _table_path("stores", self.name if isinstance(self.name, str) else "?")
        _check_store_name(self.name, table)
        self._set("backend", classify_backend(self.name, self.backend, table=table))
        self._set("connection", _opt_str(self.connection, table, "connection", blank_ok=True))
        self._set("resource", _opt_str(self.resource, table, "resource"))
        self._set("capacity", _opt_capacity(self.capacity, table))
        self._set("schema", _opt_schema(self.schema, table))
        self._set("confidence_floor", _opt_floor(self.confidence_floor, table))
        self._set("capability", _opt_str(self.capability, table, "capability"))
        self._set("columns", _columns(self.columns, table, _table_path("stores", self.name, "columns")))
        self._set("text_search", _text_search(self.text_search, table))
        self._check_combination(table)
        self._check_agent(table)

    def __repr__(self) -> str:
        # A connection may be a literal DSN with a password: show it masked, as everywhere else.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.connection is not None:
            shown["connection"] = mask_dsn(self.connection)
        shown["columns"] = dict(self.columns)
        return f"StoreSpec({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _check_combination(self, table: str) -> None:
        if self.backend == "in_memory":
            for key in _DATABASE_ONLY_KEYS:
                if getattr(self, key) is not None:
                    raise InvalidDeclaration(
                        _CODE_PATH, table, key, f"an in_memory store takes no `{key}` — remove it"
                    )
        elif self.connection is not None and self.resource is not None:
            raise InvalidDeclaration(
                _CODE_PATH,
                table,
                "connection",
                "give either `connection` or `resource`, not both",
            )

    def _check_agent(self, table: str) -> None:
        if self.agent is None:
            return
        if not isinstance(self.agent, AgentSpec):
            raise InvalidDeclaration(
                _CODE_PATH, table, "agent", f"must be a table [{table}.agent], got {_kind(self.agent)}"
            )
        if self.backend != "postgresql":
            # The agent guarantees (SET LOCAL statement_timeout, rollback past max_affected, least
            # privilege) are PostgreSQL's; an in-process store cannot keep them.
            raise InvalidDeclaration(
                _CODE_PATH, table, "agent", "agents are served from postgresql stores only — remove [agent]"
            )

    @property
    def schema_var(self) -> str | None:
        """The environment variable named by ``schema = "env:VAR"`` (``None`` without a schema)."""
        if self.schema is None:
            return None
        return trim(self.schema[len(_ENV_PREFIX) :])

    @property
    def needs_default_connection(self) -> bool:
        """True for a postgresql store with neither ``connection`` nor ``resource``.

        The registry serves such a store only when it was built with ``default_connection=``.
        """
        return self.backend == "postgresql" and self.connection is None and self.resource is None


@dataclass(frozen=True)
class ResourceSpec:
    """One ``[resources.NAME]``: a shared ``endpoint`` (a DSN or ``env:VAR``) and a pool ``capacity`` > 0
    (per endpoint); optionally ``readers`` (replicas' DSNs or ``env:VAR``), ``reads`` (``"primary"``,
    ``"replica"`` or ``"session"``) and ``max_lag_ms`` ≥ 0 (CONTRACT §13)."""

    name: str
    endpoint: str
    capacity: int | None = None
    readers: tuple[str, ...] = ()
    reads: str | None = None
    max_lag_ms: int | None = None

    def __post_init__(self) -> None:
        table = _table_path("resources", self.name if isinstance(self.name, str) else "?")
        if not isinstance(self.name, str) or not trim(self.name):
            raise InvalidDeclaration(_CODE_PATH, table, None, "a resource needs a non-blank name")
        if self.endpoint is None:
            raise InvalidDeclaration(_CODE_PATH, table, "endpoint", _MISSING_ENDPOINT)
        object.__setattr__(self, "endpoint", _opt_str(self.endpoint, table, "endpoint"))
        object.__setattr__(self, "capacity", _opt_capacity(self.capacity, table))
        object.__setattr__(self, "readers", _readers(self.readers, table))
        object.__setattr__(self, "reads", _reads(self.reads, table))
        object.__setattr__(self, "max_lag_ms", _max_lag(self.max_lag_ms, table))

    def __repr__(self) -> str:
        endpoint = mask_dsn(self.endpoint)
        routing = ""
        if self.readers:
            masked = [mask_dsn(reader) for reader in self.readers]
            routing = f", readers={masked!r}, reads={self.reads!r}, max_lag_ms={self.max_lag_ms!r}"
        return f"ResourceSpec(name={self.name!r}, endpoint={endpoint!r}, capacity={self.capacity!r}{routing})"


# --------------------------------------------------------------------------------------------------
# Agents (CONTRACT §15): what `axonstore mcp` serves, and to whom

#: The verbs an agent may be given, in tool-listing order.
AGENT_VERBS: tuple[str, ...] = ("retrieve", "persist", "mutate", "purge")
#: The deepest nesting a declarations file may use (tables, arrays, inline tables): a bound that keeps
#: a hostile file from exhausting the parser's recursion (issue 18).
MAX_TOML_DEPTH = TOML_MAX_NESTING

_AGENT_TABLE = "<agent>"  # relabelled stores.NAME.agent by the parser
_PRINCIPAL_TABLE = "<principal>"  # relabelled principals.NAME by the parser
_AGENT_KEYS = (
    "bind",
    "capabilities",
    "filterable",
    "max_affected",
    "max_rows",
    "returned",
    "statement_timeout_ms",
    "verbs",
    "writable",
)
_PRINCIPAL_KEYS = (
    "capabilities",
    "claims",
    "confidence",
    "max_calls_per_minute",
    "max_concurrent_calls",
    "token",
    "token_sha256",
)
_CLAIM_PREFIX = "claim:"
_MAX_ROWS_LIMIT = 1000
_MAX_TIMEOUT_MS = 600_000
_CONFIDENCE = "_confidence"  # the reserved column: stamped from the principal, never an agent's
_PRINCIPAL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _empty_text_map() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class AgentSpec:
    """``[stores.NAME.agent]``: the verbs, columns, rows and bound predicates an agent gets.

    ``returned=None`` shows every live column; ``filterable=None`` means ``returned``; ``writable`` is the
    columns ``persist`` / ``mutate`` may set; ``bind`` maps a column to ``claim:NAME`` (always AND-ed
    into every filter and set on every persist); ``capabilities`` maps a verb to the capability it needs
    (absent: the store's ``capability``). ``max_affected=None`` means 1 (the server warns).
    """

    verbs: tuple[str, ...] = ("retrieve",)
    returned: tuple[str, ...] | None = None
    filterable: tuple[str, ...] | None = None
    writable: tuple[str, ...] = ()
    max_rows: int = 50
    max_affected: int | None = None
    bind: Mapping[str, str] = field(default_factory=_empty_text_map, hash=False)
    statement_timeout_ms: int = 5000
    capabilities: Mapping[str, str] = field(default_factory=_empty_text_map, hash=False)

    def __post_init__(self) -> None:
        table = _AGENT_TABLE
        verbs = _name_list(self.verbs, table, "verbs", allowed=AGENT_VERBS)
        if not verbs:
            raise InvalidDeclaration(_CODE_PATH, table, "verbs", 'is empty — give at least ["retrieve"]')
        object.__setattr__(self, "verbs", verbs)
        for key in ("returned", "filterable"):
            value = getattr(self, key)
            object.__setattr__(self, key, None if value is None else _name_list(value, table, key))
        object.__setattr__(self, "writable", _name_list(self.writable, table, "writable"))
        object.__setattr__(
            self, "max_rows", _bounded_int(self.max_rows, table, "max_rows", 1, _MAX_ROWS_LIMIT)
        )
        if self.max_affected is not None:
            object.__setattr__(
                self, "max_affected", _bounded_int(self.max_affected, table, "max_affected", 1, 2**31 - 1)
            )
        object.__setattr__(
            self,
            "statement_timeout_ms",
            _bounded_int(self.statement_timeout_ms, table, "statement_timeout_ms", 1, _MAX_TIMEOUT_MS),
        )
        object.__setattr__(self, "bind", _bind_map(self.bind))
        object.__setattr__(self, "capabilities", _verb_capabilities(self.capabilities, verbs))
        self._check_columns()

    def _check_columns(self) -> None:
        table = _AGENT_TABLE
        if _CONFIDENCE in self.writable:
            raise InvalidDeclaration(
                _CODE_PATH,
                table,
                "writable",
                f"`{_CONFIDENCE}` is stamped from the principal's `confidence`, never written by an agent "
                "— remove it",
            )
        for column in self.bind:
            if column in self.writable:
                raise InvalidDeclaration(
                    _CODE_PATH,
                    table,
                    "writable",
                    f"`{column}` is bound (set from a claim on every persist) — remove it from `writable`",
                )
        writes = [verb for verb in ("persist", "mutate") if verb in self.verbs]
        if writes and not self.writable:
            raise InvalidDeclaration(
                _CODE_PATH,
                table,
                "writable",
                f"`{writes[0]}` is in `verbs` but no column is writable — list the columns it may set",
            )

    @property
    def bound_claims(self) -> Mapping[str, str]:
        """Bound column → the name of the principal's claim that supplies its value."""
        return MappingProxyType(
            {column: source[len(_CLAIM_PREFIX) :] for column, source in self.bind.items()}
        )

    @property
    def affected_limit(self) -> int:
        """The most rows a ``mutate`` / ``purge`` may touch before it is rolled back (default 1)."""
        return 1 if self.max_affected is None else self.max_affected

    def capability_for(self, verb: str, store_capability: str | None) -> str | None:
        """The capability a verb needs: the per-verb one, else the store's (``None``: anyone may call)."""
        return self.capabilities.get(verb, store_capability)


@dataclass(frozen=True)
class PrincipalSpec:
    """``[principals.NAME]``: who calls, what it holds, and what the server stamps for it.

    ``token_sha256`` is the hex SHA-256 of its bearer token (or ``token = "env:VAR"`` names a variable
    holding the token itself); ``claims`` feed the stores' bound predicates; ``confidence`` is the
    ``_confidence`` stamped on its persists (absent: refused on floored stores).
    """

    name: str
    token_sha256: str | None = None
    token: str | None = None
    capabilities: tuple[str, ...] = ()
    claims: Mapping[str, str] = field(default_factory=_empty_text_map, hash=False)
    confidence: float | None = None
    max_calls_per_minute: int = 120
    max_concurrent_calls: int = 4

    def __post_init__(self) -> None:
        table = _PRINCIPAL_TABLE
        if not isinstance(self.name, str) or _PRINCIPAL_NAME.fullmatch(self.name) is None:
            raise InvalidDeclaration(
                _CODE_PATH, table, None, "a principal name is 1–64 of [A-Za-z0-9_.-] — rename the table"
            )
        object.__setattr__(self, "token_sha256", _token_hash(self.token_sha256))
        object.__setattr__(self, "token", _env_token(self.token))
        if self.token_sha256 is not None and self.token is not None:
            raise InvalidDeclaration(
                _CODE_PATH, table, "token", "give either `token_sha256` or `token`, not both"
            )
        object.__setattr__(self, "capabilities", _text_list(self.capabilities, table, "capabilities"))
        object.__setattr__(self, "claims", _claims(self.claims))
        if self.confidence is not None:
            object.__setattr__(self, "confidence", _unit_number(self.confidence, table, "confidence"))
        for key, high in (("max_calls_per_minute", 1_000_000), ("max_concurrent_calls", 1024)):
            object.__setattr__(self, key, _bounded_int(getattr(self, key), table, key, 1, high))

    def __repr__(self) -> str:
        # A hash is not a secret, but a shortened one is all a log needs.
        shown = f"{self.token_sha256[:8]}…" if self.token_sha256 else None
        return (
            f"PrincipalSpec(name={self.name!r}, token_sha256={shown!r}, token={self.token!r}, "
            f"capabilities={self.capabilities!r}, claims={dict(self.claims)!r}, "
            f"confidence={self.confidence!r})"
        )


def check_agent_claims(stores: Mapping[str, StoreSpec], principals: Mapping[str, PrincipalSpec]) -> None:
    """Every principal that may call a store's tools holds the claims the store binds.

    A principal without the claim could otherwise only be refused call by call; say so at load time.
    """
    for store in stores.values():
        agent = store.agent
        if agent is None or not agent.bind:
            continue
        for principal in principals.values():
            if not _may_call_any(agent, store.capability, principal.capabilities):
                continue
            for column, claim in agent.bound_claims.items():
                if claim not in principal.claims:
                    raise InvalidDeclaration(
                        _CODE_PATH,
                        _table_path("principals", principal.name),
                        "claims",
                        f"store `{store.name}` binds `{column}` to claim `{claim}`, which this principal "
                        "lacks — add it to `claims`",
                    )


def _may_call_any(agent: AgentSpec, store_capability: str | None, held: tuple[str, ...]) -> bool:
    for verb in agent.verbs:
        needed = agent.capability_for(verb, store_capability)
        if needed is None or needed in held:
            return True
    return False


def _name_list(
    value: object, table: str, key: str, *, allowed: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """An array of distinct names: column identifiers, or members of ``allowed``."""
    if not isinstance(value, list | tuple):
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be an array of names, got {_kind(value)}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidDeclaration(_CODE_PATH, table, key, f"must hold strings, got {_kind(item)}")
        if allowed is not None and item not in allowed:
            close = difflib.get_close_matches(item, allowed, n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise InvalidDeclaration(
                _CODE_PATH, table, key, f"unknown verb — {hint}the verbs are {', '.join(allowed)}"
            )
        if allowed is None and not is_safe_identifier(item):
            raise InvalidDeclaration(
                _CODE_PATH, table, key, "a column name must match [A-Za-z_][A-Za-z0-9_]* and be ≤ 63 bytes"
            )
        if item in out:
            raise InvalidDeclaration(_CODE_PATH, table, key, f"`{item}` is listed twice")
        out.append(item)
    return tuple(out)


def _text_list(value: object, table: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be an array of strings, got {_kind(value)}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not trim(item):
            raise InvalidDeclaration(_CODE_PATH, table, key, "must hold non-blank strings")
        out.append(trim(item))
    return tuple(dict.fromkeys(out))


def _bounded_int(value: object, table: str, key: str, low: int, high: int) -> int:
    if type(value) is not int:
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be from {low} to {high}, got {value}")
    return value


def _unit_number(value: object, table: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be a number, got {_kind(value)}")
    number = float(value) if abs(value) < 2 else math.inf
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be between 0 and 1 inclusive, got {value}")
    return number


def _bind_map(value: object) -> Mapping[str, str]:
    table = f"{_AGENT_TABLE}.bind"
    if not isinstance(value, Mapping):
        raise InvalidDeclaration(
            _CODE_PATH,
            _AGENT_TABLE,
            "bind",
            f'must be a table of `column = "claim:NAME"`, got {_kind(value)}',
        )
    out: dict[str, str] = {}
    for column, source in value.items():
        key = column if isinstance(column, str) else repr(column)
        if not isinstance(column, str) or not is_safe_identifier(column) or column == _CONFIDENCE:
            raise InvalidDeclaration(
                _CODE_PATH, table, key, "a bound column must be a column name other than `_confidence`"
            )
        if not isinstance(source, str) or not source.startswith(_CLAIM_PREFIX):
            raise InvalidDeclaration(
                _CODE_PATH, table, key, 'must be "claim:NAME", a claim of the calling principal'
            )
        claim = source[len(_CLAIM_PREFIX) :]
        if _CLAIM_NAME.fullmatch(claim) is None:
            raise InvalidDeclaration(_CODE_PATH, table, key, "the claim name must be 1–64 of [A-Za-z0-9_.-]")
        out[column] = source
    return MappingProxyType(out)


def _verb_capabilities(value: object, verbs: tuple[str, ...]) -> Mapping[str, str]:
    table = f"{_AGENT_TABLE}.capabilities"
    if not isinstance(value, Mapping):
        raise InvalidDeclaration(
            _CODE_PATH,
            _AGENT_TABLE,
            "capabilities",
            f'must be a table of `verb = "capability"`, got {_kind(value)}',
        )
    out: dict[str, str] = {}
    for verb, capability in value.items():
        key = verb if isinstance(verb, str) else repr(verb)
        if verb not in verbs:
            raise InvalidDeclaration(
                _CODE_PATH,
                table,
                key,
                f"`{key}` is not in `verbs` ({', '.join(verbs)}) — add it or remove this",
            )
        if not isinstance(capability, str) or not trim(capability):
            raise InvalidDeclaration(_CODE_PATH, table, key, "must be a non-blank capability string")
        out[verb] = trim(capability)
    return MappingProxyType(out)


def _token_hash(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _SHA256_HEX.fullmatch(trim(value).lower()) is None:
        raise InvalidDeclaration(
            _CODE_PATH,
            _PRINCIPAL_TABLE,
            "token_sha256",
            "must be 64 hex digits: the SHA-256 of the bearer token (sha256sum of the token text)",
        )
    return trim(value).lower()


def _env_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(_ENV_PREFIX) or not trim(value[len(_ENV_PREFIX) :]):
        # Never a literal token in the file: it would sit in version control in clear.
        raise InvalidDeclaration(
            _CODE_PATH,
            _PRINCIPAL_TABLE,
            "token",
            'must be "env:VAR" (the variable holding the token), or use `token_sha256`',
        )
    return _ENV_PREFIX + trim(value[len(_ENV_PREFIX) :])


def _claims(value: object) -> Mapping[str, str]:
    table = f"{_PRINCIPAL_TABLE}.claims"
    if not isinstance(value, Mapping):
        raise InvalidDeclaration(
            _CODE_PATH, _PRINCIPAL_TABLE, "claims", f'must be a table of `name = "value"`, got {_kind(value)}'
        )
    out: dict[str, str] = {}
    for name, claim in value.items():
        key = name if isinstance(name, str) else repr(name)
        if not isinstance(name, str) or _CLAIM_NAME.fullmatch(name) is None:
            raise InvalidDeclaration(_CODE_PATH, table, key, "a claim name is 1–64 of [A-Za-z0-9_.-]")
        if isinstance(claim, bool) or not isinstance(claim, str | int):
            raise InvalidDeclaration(
                _CODE_PATH, table, key, f"must be a string or integer, got {_kind(claim)}"
            )
        out[name] = str(claim)
    return MappingProxyType(out)


@dataclass(frozen=True)
class Declarations:
    """A parsed declarations file: stores and resources by name, in file order, and where they came from."""

    stores: Mapping[str, StoreSpec]
    resources: Mapping[str, ResourceSpec]
    path: str
    principals: Mapping[str, PrincipalSpec] = field(default_factory=lambda: MappingProxyType({}))


def classify_backend(store: str, backend: object, *, table: str | None = None) -> Backend:
    """``backend`` trimmed and lower-cased, if it is in the catalog; else ``UnknownBackend(store, backend)``.

    A missing, non-string or blank backend is an ``InvalidDeclaration`` (``backend`` is required).
    """
    table = table if table is not None else _table_path("stores", store)
    if backend is None:
        raise InvalidDeclaration(_CODE_PATH, table, "backend", _missing_backend_reason())
    if not isinstance(backend, str):
        raise InvalidDeclaration(_CODE_PATH, table, "backend", f"must be a string, got {_kind(backend)}")
    slug = trim(backend).lower()
    if not slug:
        raise InvalidDeclaration(_CODE_PATH, table, "backend", f"is blank — {_missing_backend_reason()}")
    if slug == "postgresql":
        return "postgresql"
    if slug == "in_memory":
        return "in_memory"
    raise UnknownBackend(store, backend)


def check_references(stores: Iterable[StoreSpec], resources: Mapping[str, ResourceSpec]) -> None:
    """Raise ``UnknownResource`` for the first store whose ``resource`` is not declared."""
    for spec in stores:
        if spec.resource is not None and spec.resource not in resources:
            raise UnknownResource(spec.name, spec.resource)


def _missing_backend_reason() -> str:
    return 'every store needs `backend = "postgresql"` or `backend = "in_memory"`'


# --------------------------------------------------------------------------------------------------
# Field checks (each raises InvalidDeclaration naming _CODE_PATH; the parser relabels it with the file)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _table_path(*parts: str) -> str:
    """A TOML table path, quoting the parts that are not bare keys (``stores."my-store"`` stays readable)."""
    quoted = [
        p if _BARE_KEY.fullmatch(p) else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for p in parts
    ]
    return ".".join(quoted)


def _kind(value: object) -> str:
    """How TOML would call the value's type."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", dict: "a table"}
    names |= {list: "an array", tuple: "an array"}
    return names.get(type(value), f"a {type(value).__name__}")


def _check_store_name(name: object, table: str) -> None:
    if not isinstance(name, str) or not is_safe_identifier(name):
        raise InvalidDeclaration(
            _CODE_PATH,
            table,
            None,
            "a store name is its table's name, so it must match [A-Za-z_][A-Za-z0-9_]* and be ≤ 63 bytes",
        )


def _opt_str(value: object, table: str, key: str, *, blank_ok: bool = False) -> str | None:
    """An optional string, trimmed (kept as written when ``blank_ok``: ``resolve_dsn`` reports blanks)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidDeclaration(_CODE_PATH, table, key, f"must be a string, got {_kind(value)}")
    if blank_ok:
        return value
    if not trim(value):
        raise InvalidDeclaration(_CODE_PATH, table, key, "is blank — give a value or remove the key")
    return trim(value)


def _text_search(value: object, table: str) -> str:
    """A text-search configuration name (``simple``, ``english``, ``myschema.myconfig``)."""
    name = _opt_str(value, table, "text_search")
    parts = (name or "").split(".")
    if name is None or len(parts) > 2 or not all(is_safe_identifier(part) for part in parts):
        raise InvalidDeclaration(
            _CODE_PATH, table, "text_search",
            f"must name a text-search configuration such as `simple` or `english`, got {value!r}",
        )  # fmt: skip
    return name


def _opt_capacity(value: object, table: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise InvalidDeclaration(_CODE_PATH, table, "capacity", f"must be an integer, got {_kind(value)}")
    if value <= 0:
        raise InvalidDeclaration(
            _CODE_PATH, table, "capacity", f"must be at least 1 (the pool's maximum size), got {value}"
        )
    return value


def _readers(value: object, table: str) -> tuple[str, ...]:
    """An array of DSNs or ``env:VAR`` (never echoed: a DSN may hold a password)."""
    if not isinstance(value, list | tuple):
        raise InvalidDeclaration(
            _CODE_PATH, table, "readers", f'must be an array like ["env:READER_1"], got {_kind(value)}'
        )
    readers = []
    for index, reader in enumerate(value):
        if not isinstance(reader, str) or not trim(reader):
            got = "a blank string" if isinstance(reader, str) else _kind(reader)
            raise InvalidDeclaration(
                _CODE_PATH, table, "readers", f"item {index} must be a DSN or env:VAR, got {got}"
            )
        readers.append(trim(reader))
    return tuple(readers)


def _reads(value: object, table: str) -> str | None:
    if value is None:
        return None
    slug = trim(value).lower() if isinstance(value, str) else None
    if slug not in _READ_MODES:
        got = repr(value) if isinstance(value, str) else _kind(value)
        raise InvalidDeclaration(
            _CODE_PATH, table, "reads", f'must be "primary", "replica" or "session", got {got}'
        )
    return slug


def _max_lag(value: object, table: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        got = str(value) if type(value) is int else _kind(value)
        raise InvalidDeclaration(
            _CODE_PATH, table, "max_lag_ms", f"must be an integer ≥ 0 (milliseconds), got {got}"
        )
    return value


def _opt_floor(value: object, table: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDeclaration(
            _CODE_PATH, table, "confidence_floor", f"must be a number, got {_kind(value)}"
        )
    try:
        floor = float(value)
    except OverflowError:  # an integer too large for a float is far outside [0, 1] anyway
        floor = math.inf
    if not 0.0 <= floor <= 1.0:  # also refuses NaN
        raise InvalidDeclaration(
            _CODE_PATH, table, "confidence_floor", f"must be between 0 and 1 inclusive, got {value}"
        )
    return floor


def _opt_schema(value: object, table: str) -> str | None:
    schema = _opt_str(value, table, "schema")
    if schema is None:
        return None
    if not schema.startswith(_ENV_PREFIX) or not trim(schema[len(_ENV_PREFIX) :]):
        raise InvalidDeclaration(
            _CODE_PATH,
            table,
            "schema",
            'must be `env:VAR`, the environment variable holding the tenant namespace (e.g. "env:TENANT")',
        )
    return schema


def _columns(value: object, store_table: str, table: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidDeclaration(
            _CODE_PATH, store_table, "columns", f'must be a table of `column = "type"`, got {_kind(value)}'
        )
    out: dict[str, str] = {}
    for column, type_name in value.items():
        out[column] = _column_type(column, type_name, table)
    return MappingProxyType(out)


def _column_type(column: object, type_name: object, table: str) -> str:
    key = column if isinstance(column, str) else repr(column)
    if not isinstance(column, str) or not is_safe_identifier(column):
        raise InvalidDeclaration(
            _CODE_PATH, table, key, "a column name must match [A-Za-z_][A-Za-z0-9_]* and be ≤ 63 bytes"
        )
    if not isinstance(type_name, str):
        raise InvalidDeclaration(
            _CODE_PATH, table, key, f'a column type must be a string such as "uuid", got {_kind(type_name)}'
        )
    try:
        return normalize_type_name(type_name)
    except ValueError as exc:
        raise InvalidDeclaration(_CODE_PATH, table, key, str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Parsing


def load_declarations(path: str | os.PathLike[str]) -> Declarations:
    """Read and parse a declarations file; a missing or unreadable file is an ``InvalidDeclaration``."""
    shown = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InvalidDeclaration(
            shown,
            None,
            None,
            "the file does not exist — create it, or point --config / AXONSTORE_CONFIG at it",
        ) from None
    except OSError as exc:
        raise InvalidDeclaration(shown, None, None, f"the file cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDeclaration(shown, None, None, f"the file is not UTF-8 (byte {exc.start})") from None
    return parse_declarations(text, path=shown)


def parse_declarations(text: str, path: str = "<string>") -> Declarations:
    """Parse the text of a declarations file; ``path`` is only used in error messages."""
    _check_depth(text, path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDeclaration(path, None, None, f"TOML syntax error: {exc}") from None
    except RecursionError:  # defence in depth: the pre-check should have refused it
        raise InvalidDeclaration(path, None, None, _too_deep()) from None
    _check_keys(doc, _TOP_KEYS, path, None, "the top level")
    with _relabel(path):
        resources = {
            name: _parse_resource(name, body, path) for name, body in _tables(doc, "resources", path)
        }
        stores = {name: _parse_store(name, body, path) for name, body in _tables(doc, "stores", path)}
        principals = {
            name: _parse_principal(name, body, path) for name, body in _tables(doc, "principals", path)
        }
        check_agent_claims(stores, principals)
    check_references(stores.values(), resources)
    return Declarations(
        MappingProxyType(stores), MappingProxyType(resources), path, MappingProxyType(principals)
    )


def _too_deep() -> str:
    return f"arrays and inline tables are nested more than {MAX_TOML_DEPTH} deep — flatten the file"


def _check_depth(text: str, path: str) -> None:
    """Refuse nesting past ``MAX_TOML_DEPTH`` before ``tomllib`` recurses into it (issue 18)."""
    at = toml_too_deep(text, MAX_TOML_DEPTH)
    if at is not None:
        raise InvalidDeclaration(path, None, None, f"{_too_deep()} (at character {at})")


@contextmanager
def _relabel(path: str) -> Iterator[None]:
    """Spec validation names ``<StoreSpec>``; inside the parser, name the file instead."""
    try:
        yield
    except InvalidDeclaration as exc:
        if exc.path != _CODE_PATH:
            raise
        raise InvalidDeclaration(path, exc.table, exc.key, exc.reason) from None


def _tables(doc: Mapping[str, Any], section: str, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The ``[section.NAME]`` tables of the document, checked to be tables."""
    body = doc.get(section, {})
    if not isinstance(body, dict):
        raise InvalidDeclaration(
            path, None, section, f"must be a table of [{section}.NAME], got {_kind(body)}"
        )
    for name, value in body.items():
        if not isinstance(value, dict):
            raise InvalidDeclaration(
                path, section, name, f"must be a table [{section}.{name}], got {_kind(value)}"
            )
        yield name, value


def _parse_store(name: str, body: Mapping[str, Any], path: str) -> StoreSpec:
    table = _table_path("stores", name)
    _check_keys(body, _STORE_KEYS, path, table, "a store")
    if "backend" not in body:
        raise InvalidDeclaration(path, table, "backend", f"missing — {_missing_backend_reason()}")
    return StoreSpec(
        name=name,
        backend=body["backend"],
        connection=body.get("connection"),
        resource=body.get("resource"),
        capacity=body.get("capacity"),
        schema=body.get("schema"),
        confidence_floor=body.get("confidence_floor"),
        capability=body.get("capability"),
        columns=body.get("columns", {}),
        agent=None if "agent" not in body else _parse_agent(name, body["agent"], path),
        text_search=body.get("text_search", "simple"),
    )


def _parse_agent(store: str, body: object, path: str) -> AgentSpec:
    table = _table_path("stores", store, "agent")
    if not isinstance(body, Mapping):
        raise InvalidDeclaration(
            path, _table_path("stores", store), "agent", f"must be a table [{table}], got {_kind(body)}"
        )
    _check_keys(body, _AGENT_KEYS, path, table, "an agent table")
    defaults = AgentSpec()
    with _retabled(_AGENT_TABLE, table):
        return AgentSpec(
            verbs=body.get("verbs", defaults.verbs),
            returned=body.get("returned"),
            filterable=body.get("filterable"),
            writable=body.get("writable", ()),
            max_rows=body.get("max_rows", defaults.max_rows),
            max_affected=body.get("max_affected"),
            bind=body.get("bind", {}),
            statement_timeout_ms=body.get("statement_timeout_ms", defaults.statement_timeout_ms),
            capabilities=body.get("capabilities", {}),
        )


def _parse_principal(name: str, body: Mapping[str, Any], path: str) -> PrincipalSpec:
    table = _table_path("principals", name)
    _check_keys(body, _PRINCIPAL_KEYS, path, table, "a principal")
    with _retabled(_PRINCIPAL_TABLE, table):
        return PrincipalSpec(
            name=name,
            token_sha256=body.get("token_sha256"),
            token=body.get("token"),
            capabilities=body.get("capabilities", ()),
            claims=body.get("claims", {}),
            confidence=body.get("confidence"),
            max_calls_per_minute=body.get("max_calls_per_minute", 120),
            max_concurrent_calls=body.get("max_concurrent_calls", 4),
        )


@contextmanager
def _retabled(marker: str, table: str) -> Iterator[None]:
    """Agent and principal specs name a placeholder table; inside the parser, name the real one."""
    try:
        yield
    except InvalidDeclaration as exc:
        if exc.table is None or not exc.table.startswith(marker):
            raise
        raise InvalidDeclaration(exc.path, table + exc.table[len(marker) :], exc.key, exc.reason) from None


def _parse_resource(name: str, body: Mapping[str, Any], path: str) -> ResourceSpec:
    table = _table_path("resources", name)
    _check_keys(body, _RESOURCE_KEYS, path, table, "a resource")
    if "endpoint" not in body:
        raise InvalidDeclaration(path, table, "endpoint", _MISSING_ENDPOINT)
    return ResourceSpec(
        name=name,
        endpoint=body["endpoint"],
        capacity=body.get("capacity"),
        readers=body.get("readers", ()),
        reads=body.get("reads"),
        max_lag_ms=body.get("max_lag_ms"),
    )


def _check_keys(
    body: Mapping[str, Any], allowed: tuple[str, ...], path: str, table: str | None, what: str
) -> None:
    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise InvalidDeclaration(
                path, table, key, f"unknown key — {hint}{what} accepts {', '.join(f'`{k}`' for k in allowed)}"
            )
