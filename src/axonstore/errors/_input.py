"""Input that can never succeed: connection strings, identifiers, data, unbounded writes, columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from axonstore.errors._base import StoreError


@dataclass(eq=False)
class EmptyConnection(StoreError):
    """The ``connection`` is blank."""

    def message(self) -> str:
        return "axonstore `connection` is empty — expected a DSN or an `env:VARNAME` reference"


@dataclass(eq=False)
class EmptyEnvVarName(StoreError):
    """The ``connection`` is the bare ``env:`` prefix."""

    def message(self) -> str:
        return (
            "axonstore `connection` is the bare prefix `env:` with no variable name — write "
            "`env:DATABASE_URL` (or the name of your variable)"
        )


@dataclass(eq=False)
class MissingEnvVar(StoreError):
    """``env:VAR`` names a variable that is not set."""

    var: str

    def message(self) -> str:
        return (
            f'axonstore `connection: "env:{self.var}"` — environment variable `{self.var}` is not set '
            "(or not valid UTF-8); export it with the database URL"
        )


@dataclass(eq=False)
class PoolInit(StoreError):
    """The DSN could not be parsed (the DSN shown is masked)."""

    dsn_masked: str
    source: str

    def message(self) -> str:
        return (
            f"axonstore connection pool could not be initialised for `{self.dsn_masked}`: {self.source} — "
            "expected a postgresql:// URL or a `key=value` connection string"
        )


# Input that can never succeed


@dataclass(eq=False)
class InvalidIdentifier(StoreError):
    """A table or column name that is not a safe identifier."""

    kind: str
    name: str

    def message(self) -> str:
        return (
            f"unsafe {self.kind} identifier `{self.name}` — must match [A-Za-z_][A-Za-z0-9_]* and be "
            "≤ 63 bytes"
        )


@dataclass(eq=False)
class EmptyData(StoreError):
    """A write with no column data."""

    op: str

    def message(self) -> str:
        return f"axonstore `{self.op}` was given no column data — pass at least one column and value"


@dataclass(eq=False)
class UnboundedWrite(StoreError):
    """mutate / purge with a blank where, without ``all_rows=True``."""

    op: str
    table: str

    hint: ClassVar[str | None] = "pass all_rows=True (CLI: --all-rows) to touch every row on purpose"

    def message(self) -> str:
        return (
            f"axonstore `{self.op}` on `{self.table}` has an empty where and would touch every row — "
            "give a filter, or pass all_rows=True to mean it"
        )


@dataclass(eq=False)
class UnknownColumn(StoreError):
    """A column named in a filter, data, order_by, group_by or aggregate that the table lacks."""

    table: str
    column: str
    #: The table's live columns, when known (the CLI lists them in its hint). Never in the message:
    #: a service that forwards ``str(exc)`` must not disclose the schema (CONTRACT §5.3).
    columns: tuple[str, ...] = ()

    def message(self) -> str:
        return (
            f"table `{self.table}` has no column `{self.column}` — column names are case-sensitive; "
            "check the spelling"
        )
