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

Every problem is an ``InvalidDeclaration(path, table, key, reason)`` naming the file, the TOML table
(``stores.claims``) and the key; a backend outside the catalog is ``UnknownBackend``; a store naming an
undeclared resource is ``UnknownResource``. Values are never echoed in messages (a ``connection`` may
hold a password).

``StoreSpec`` and ``ResourceSpec`` validate themselves, so specs built in Python for
``StoreRegistry.build`` obey the same rules (their errors name the path ``<StoreSpec>``).
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

from axonstore._text import trim
from axonstore.dsn import mask_dsn
from axonstore.errors import InvalidDeclaration, UnknownBackend, UnknownResource
from axonstore.idents import is_safe_identifier
from axonstore.pgtypes import normalize_type_name

__all__ = [
    "BACKENDS",
    "Declarations",
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
    "backend",
    "capability",
    "capacity",
    "columns",
    "confidence_floor",
    "connection",
    "resource",
    "schema",
)
_RESOURCE_KEYS = ("capacity", "endpoint", "max_lag_ms", "readers", "reads")
#: CONTRACT §13's read modes (the backend's router checks the same names: ``backend.replicas``).
_READ_MODES = ("primary", "replica", "session")
_TOP_KEYS = ("resources", "stores")
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
        self._check_combination(table)

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


@dataclass(frozen=True)
class Declarations:
    """A parsed declarations file: stores and resources by name, in file order, and where they came from."""

    stores: Mapping[str, StoreSpec]
    resources: Mapping[str, ResourceSpec]
    path: str


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
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDeclaration(path, None, None, f"TOML syntax error: {exc}") from None
    _check_keys(doc, _TOP_KEYS, path, None, "the top level")
    with _relabel(path):
        resources = {
            name: _parse_resource(name, body, path) for name, body in _tables(doc, "resources", path)
        }
        stores = {name: _parse_store(name, body, path) for name, body in _tables(doc, "stores", path)}
    check_references(stores.values(), resources)
    return Declarations(MappingProxyType(stores), MappingProxyType(resources), path)


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
    )


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
