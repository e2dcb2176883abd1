"""The verbs of 0.2 (CONTRACT §11): column lists, many rows, pages, transactions — and arguments of the
wrong Python type at any public edge (CONTRACT §5.3: a ``TypeError`` never escapes)."""

from __future__ import annotations

from dataclasses import dataclass

from axonstore.errors._base import StoreError
from axonstore.errors._filter import FilterError


@dataclass(eq=False)
class BadArgument(StoreError, TypeError):
    """A public argument of the wrong Python type (or a value no statement could carry).

    Also a ``TypeError``, so code that catches the builtin keeps working; it is a ``StoreError`` first.
    """

    argument: str
    expected: str
    got: str

    def message(self) -> str:
        return f"axonstore: `{self.argument}` must be {self.expected}, got {self.got}"


@dataclass(eq=False)
class BadColumns(FilterError):
    """A column list (``columns``, ``returning``, ``on_conflict``, ``update``) that does not parse."""

    detail: str

    def message(self) -> str:
        return (
            f"invalid column list: {self.detail} — write column names separated by commas (`id, status`), "
            "or `*` for every column"
        )


@dataclass(eq=False)
class RaggedRows(StoreError):
    """A row of ``insert_many`` whose columns differ from the first row's."""

    index: int
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    def message(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"lacks {', '.join(self.missing)}")
        if self.extra:
            parts.append(f"adds {', '.join(self.extra)}")
        return (
            f"row {self.index} of the batch {' and '.join(parts)} compared with row 0 — every row of "
            "insert_many must name the same columns (use None for a NULL)"
        )


@dataclass(eq=False)
class BadPageToken(StoreError):
    """A ``page(after=…)`` token that does not decode, or that another query made."""

    reason: str

    def message(self) -> str:
        return (
            f"invalid page token: {self.reason} — pass the `next` token of the previous page of the same "
            "query (same table, where, bindings and order_by), or None for the first page"
        )


@dataclass(eq=False)
class NoPageKey(StoreError):
    """``page`` on a relation with no primary key and no row identity (a view, a foreign or a
    partitioned table): nothing makes its order total, so a walk could skip or repeat rows."""

    table: str

    def message(self) -> str:
        return (
            f"cannot page `{self.table}`: it has no primary key and no row identity (a view, a foreign or "
            "a partitioned table), so no order makes each row's place unique — page its base table, "
            "give it a primary key, or read it with retrieve(order_by=…, limit=…)"
        )


@dataclass(eq=False)
class TransactionClosed(StoreError):
    """A ``Transaction`` used after its block ended (committed or rolled back)."""

    def message(self) -> str:
        return (
            "this transaction has ended (its `with … transaction()` block is over) — start a new "
            "transaction, or run the statement without conn="
        )


@dataclass(eq=False)
class BadIsolation(StoreError):
    """An isolation level other than read committed, repeatable read or serializable."""

    value: str

    def message(self) -> str:
        return (
            f"unknown isolation level `{self.value}` — use 'read committed', 'repeatable read' or "
            "'serializable' (or None for the server's default)"
        )


@dataclass(eq=False)
class CrossDatabaseTransaction(StoreError):
    """``registry.transaction(*stores)`` over stores on different databases (or backends)."""

    stores: tuple[str, ...]

    def message(self) -> str:
        return (
            f"stores {', '.join(self.stores)} are not on one database — a transaction spans one "
            "connection; run one transaction per database"
        )
