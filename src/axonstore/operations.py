"""One pure prepare step for every verb, consumed by every backend and flavour.

A public verb takes text (a filter, a column list, an order) and hands it here first: each ``prepare_*``
function runs every check that needs no database, in the contract's order of errors (CONTRACT §3.2, D3,
D13), and returns an operation — a frozen spec holding the parsed filter *tree*, the column lists and
the values. Nothing below the verbs sees a ``where`` string again: the PostgreSQL backend renders the
spec (:mod:`axonstore.sql`) against the table's schema, the in-memory backend evaluates it, governance
and the MCP server compose trees into it (:meth:`Read.with_filter`), and the async and sync flavours
share all of it. No I/O happens here.

>>> read = prepare_read("claims", "status = '${s}'", {"s": "open"}, columns="id, status", limit="10")
>>> read.columns, read.limit, read.named
(('id', 'status'), 10, ('status', 'id'))
>>> prepare_update("claims", "", {"status": "closed"}, all_rows=True).filter is None   # D3: said so
True
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeAlias

from axonstore._json import canonical_json
from axonstore._text import trim
from axonstore.errors import (
    BadArgument,
    BadColumns,
    BadIsolation,
    BadLimit,
    BadPageToken,
    EmptyData,
    RaggedRows,
    UnboundedWrite,
)
from axonstore.filter import (
    DEFAULT_TEXT_SEARCH,
    MAX_PARAMETERS,
    Aggregate,
    Filter,
    check_parameter_count,
    parse_aggregate_clause,
    parse_filter,
    parse_limit,
    parse_order_by,
)
from axonstore.idents import checked_ident, is_safe_identifier

__all__ = [
    "MAX_PAGE_SIZE",
    "Bindings",
    "Data",
    "Delete",
    "Insert",
    "Operation",
    "OrderKeys",
    "Page",
    "PageKeys",
    "PageRead",
    "Read",
    "Reinforce",
    "Update",
    "Write",
    "check_bindings",
    "check_text",
    "check_transaction_options",
    "json_default",
    "page_token",
    "parse_column_list",
    "plain_value",
    "prepare_delete",
    "prepare_insert",
    "prepare_insert_many",
    "prepare_page",
    "prepare_page_of",
    "prepare_read",
    "prepare_reinforce",
    "prepare_update",
    "prepare_upsert",
]

#: Column data for a write: a mapping, or (column, value) pairs kept in the given order.
Data: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]]
#: ``${name}`` values: text (numbers and booleans are accepted and written as text).
Bindings: TypeAlias = Mapping[str, str] | None
OrderKeys: TypeAlias = tuple[tuple[str, str], ...]


class PageKeys(tuple[tuple[str, str], ...]):
    """The total order of a page walk (an :data:`OrderKeys`), knowing which of its columns can never
    be NULL (the primary key's, the row identity). A seek past a nullable key needs NULL branches
    (``ORDER BY`` puts NULLs last ascending, first descending); when no key can be NULL and all run one
    way, the seek is one row comparison an index answers."""

    not_null: frozenset[str]

    def __new__(cls, keys: Sequence[tuple[str, str]], not_null: Sequence[str] = ()) -> PageKeys:
        made = super().__new__(cls, keys)
        made.not_null = frozenset(not_null)
        return made


MAX_PAGE_SIZE: Final = 10_000
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_BINDING_SCALARS: Final = (str, bool, int, float, Decimal, uuid.UUID)
_VALUE_SCALARS: Final = (
    str, bool, int, float, Decimal, uuid.UUID, dt.date, dt.time, dt.timedelta, bytes, bytearray, memoryview,
)  # fmt: skip
_TOKEN_VERSION: Final = 1


# --------------------------------------------------------------------------------------------------
# The specs


@dataclass(frozen=True, slots=True)
class Read:
    """A retrieve: a filter tree, a projection (``()`` is ``*``), an order, a limit, or an aggregate."""

    table: str
    filter: Filter | None
    bindings: Bindings = None
    columns: tuple[str, ...] = ()
    order: OrderKeys = ()
    limit: int | None = None
    aggregate: Aggregate | None = None
    op: str = "retrieve"
    #: The full-text configuration of ``@@`` in the filter (a store's ``text_search`` declaration).
    text_search: str = DEFAULT_TEXT_SEARCH

    @property
    def named(self) -> tuple[str, ...]:
        """Every column the retrieve names — filter, projection, order or aggregate — first seen first."""
        named = self.filter.columns if self.filter is not None else ()
        if not (self.columns or self.order or self.aggregate):
            return named
        more = self.aggregate.columns if self.aggregate else tuple(c for c, _ in self.order)
        return tuple(dict.fromkeys((*named, *self.columns, *more)))

    def with_filter(self, filter: Filter | None) -> Read:
        """The same retrieve with another filter tree (a composed one: ``conjoin(bind, read.filter)``)."""
        return dataclasses.replace(self, filter=filter)


@dataclass(frozen=True, slots=True)
class PageRead:
    """One page of a keyset walk: the retrieve (its ``order`` as given), the page size, and where the
    previous page ended (the key values of its last row, or ``None`` for the first page)."""

    read: Read
    size: int
    after: tuple[object, ...] | None
    scope: str  # the hash a token of this query carries

    @property
    def table(self) -> str:
        """The table the page reads."""
        return self.read.table

    @property
    def op(self) -> str:
        """``retrieve``, as for any read."""
        return self.read.op

    @property
    def named(self) -> tuple[str, ...]:
        """As :attr:`Read.named`."""
        return self.read.named

    @property
    def filter(self) -> Filter | None:
        """The page's filter tree."""
        return self.read.filter

    def with_filter(self, filter: Filter | None) -> PageRead:
        """The same page with another filter tree (the token scope stays that of the caller's query)."""
        return dataclasses.replace(self, read=self.read.with_filter(filter))


@dataclass(frozen=True, slots=True)
class Insert:
    """``persist`` (one row), ``insert_many`` (``rows``) or ``upsert`` (with a conflict target).

    ``update`` lists the columns an upsert sets from ``EXCLUDED``; with ``conflict`` and an empty
    ``update`` the upsert is ``DO NOTHING``. ``returning`` is ``None`` for a row count, ``()`` for ``*``.
    """

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    returning: tuple[str, ...] | None = None
    conflict: tuple[str, ...] | None = None
    update: tuple[str, ...] = ()
    op: str = "persist"

    @property
    def named(self) -> tuple[str, ...]:
        """Every column the write names (data, conflict target, returning)."""
        return tuple(dict.fromkeys((*self.columns, *(self.conflict or ()), *(self.returning or ()))))


@dataclass(frozen=True, slots=True)
class Update:
    """``mutate``: SET ``pairs`` on the rows the filter matches."""

    table: str
    filter: Filter | None
    pairs: tuple[tuple[str, object], ...]
    bindings: Bindings = None
    returning: tuple[str, ...] | None = None
    op: str = "mutate"
    #: The full-text configuration of ``@@`` in the filter (a store's ``text_search`` declaration).
    text_search: str = DEFAULT_TEXT_SEARCH

    @property
    def named(self) -> tuple[str, ...]:
        """SET columns, then the filter's, then returning."""
        where = self.filter.columns if self.filter is not None else ()
        return tuple(dict.fromkeys((*(c for c, _ in self.pairs), *where, *(self.returning or ()))))

    def with_filter(self, filter: Filter | None) -> Update:
        """The same update with another filter tree."""
        return dataclasses.replace(self, filter=filter)


@dataclass(frozen=True, slots=True)
class Delete:
    """``purge``: delete the rows the filter matches."""

    table: str
    filter: Filter | None
    bindings: Bindings = None
    returning: tuple[str, ...] | None = None
    op: str = "purge"
    #: The full-text configuration of ``@@`` in the filter (a store's ``text_search`` declaration).
    text_search: str = DEFAULT_TEXT_SEARCH

    @property
    def named(self) -> tuple[str, ...]:
        """The filter's columns, then returning."""
        where = self.filter.columns if self.filter is not None else ()
        return tuple(dict.fromkeys((*where, *(self.returning or ()))))

    def with_filter(self, filter: Filter | None) -> Delete:
        """The same delete with another filter tree."""
        return dataclasses.replace(self, filter=filter)


@dataclass(frozen=True, slots=True)
class Reinforce:
    """The atomic edge-weight update (ANCHOR §3.14): ``$1`` delta, ``$2`` floor, then the edge's key."""

    table: str
    params: tuple[float, float, str, str, str]
    op: str = "reinforce"
    named: tuple[str, ...] = ("weight", "from_id", "to_id", "etype")
    returning: None = None  # an edge update returns its row count only


Write: TypeAlias = Insert | Update | Delete | Reinforce


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a keyset walk: its rows, and the token of the next page (``None`` on the last)."""

    rows: list[dict[str, object]]
    next: str | None


Operation: TypeAlias = Read | PageRead | Write


# --------------------------------------------------------------------------------------------------
# Argument checks at the public edge (CONTRACT §5.3: a wrong type is a StoreError, never a TypeError)


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def check_text(argument: str, value: object) -> str:
    """``value`` when it is a ``str`` (a filter, an order, a column list…), else ``BadArgument``."""
    if type(value) is str or isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            raise BadArgument(argument, "text without lone surrogates (valid Unicode)", "a lone surrogate")
        return value
    raise BadArgument(argument, "a str", _kind(value))


def check_bindings(bindings: object) -> Bindings:
    """``None`` or a mapping of names to text values (numbers and booleans are written as text)."""
    if bindings is None:
        return None
    if type(bindings) is not dict and not isinstance(bindings, Mapping):  # the ABC test only when needed
        raise BadArgument("bindings", "a mapping of names to text values (a dict)", _kind(bindings))
    for name, value in bindings.items():
        if type(name) is not str:
            raise BadArgument("bindings", "a mapping with str keys", f"a key of type {type(name).__name__}")
        if type(value) is str:
            if not value.isascii() and _SURROGATE.search(value):
                raise BadArgument(f"bindings[{name!r}]", "valid Unicode text", "a lone surrogate")
        elif value is not None and not isinstance(value, _BINDING_SCALARS):
            raise BadArgument(f"bindings[{name!r}]", "text (or a number or boolean)", _kind(value))
    return bindings


def _check_value(column: str, value: object) -> object:
    """A value a statement can carry: a scalar, or JSON-ready containers (dict / list)."""
    if value is None or plain_value(value):
        return value
    if isinstance(value, str):
        raise BadArgument(f"data[{column!r}]", "valid Unicode text", "a lone surrogate")
    if isinstance(value, dict | list | tuple):
        _check_json(column, value)
        return value
    raise BadArgument(f"data[{column!r}]", "a str, number, bool, None, date/time, UUID, bytes, dict or list",
                      _kind(value))  # fmt: skip


def plain_value(value: object) -> bool:
    """Would :func:`_check_value` pass ``value`` as it is, needing no adaptation? A number, a bool,
    text without lone surrogates, or another scalar a statement binds directly (date/time, UUID,
    bytes, Decimal) — not ``None`` (written inline) and not a container (JSON). The warm path binds
    such values without the full checks; any other value takes the cold path, which says what is wrong.
    """
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return True
    if isinstance(value, str):
        return value.isascii() or _SURROGATE.search(value) is None
    return value is not None and isinstance(value, _VALUE_SCALARS)


def json_default(value: object) -> object:
    """How a value JSON has no type for travels inside a json/jsonb value: a ``Decimal`` as a number,
    a UUID, date or time as its ISO text (``TypeError`` for anything else, as ``json.dumps`` says)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt.date | dt.time):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _check_json(column: str, value: object) -> None:
    try:
        text = json.dumps(value, allow_nan=False, default=json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
        raise BadArgument(f"data[{column!r}]", "JSON-ready data (dict, list, str, finite number, bool, None)",
                          reason[:120]) from None  # fmt: skip
    if not text.isascii() and _SURROGATE.search(text):
        raise BadArgument(f"data[{column!r}]", "valid Unicode text", "a lone surrogate")


def _pairs(data: object) -> list[tuple[str, object]]:
    """Column data as ordered pairs: identifiers checked, values of a type a statement can carry."""
    if type(data) is dict:  # the common case, without the generic checks below
        fast: list[tuple[str, object]] = []
        for column, value in data.items():
            checked_ident("column", column)
            fast.append((column, _check_value(column, value)))
        return fast
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes | bytearray):
        items = list(data)
    else:
        raise BadArgument("data", "a mapping of columns to values, or (column, value) pairs", _kind(data))
    out: list[tuple[str, object]] = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise BadArgument("data", "(column, value) pairs", f"an item {_kind(item)}")
        column, value = item
        checked_ident("column", column)
        out.append((column, _check_value(column, value)))
    return out


def _flag(argument: str, value: object) -> bool:
    if type(value) is not bool:
        raise BadArgument(argument, "True or False", _kind(value))
    return value


# --------------------------------------------------------------------------------------------------
# Column lists (columns, returning, on_conflict, update)


def parse_column_list(text: object, argument: str, *, star: bool = True) -> tuple[str, ...]:
    """``"a, b"`` → ``("a", "b")``; ``""`` or ``"*"`` → ``()`` (every column) where ``star`` allows it.

    >>> parse_column_list("id, status", "columns")
    ('id', 'status')
    """
    raw = trim(check_text(argument, text))
    if not raw or raw == "*":
        if not star:
            raise BadColumns(f"`{argument}` needs at least one column")
        return ()
    columns: list[str] = []
    for part in raw.split(","):
        name = trim(part)
        if not name:
            raise BadColumns(f"an empty name in `{argument}` (a stray comma?)")
        if not is_safe_identifier(name):
            shown = name if len(name) <= 32 else name[:32] + "…"
            raise BadColumns(
                f"`{shown}` in `{argument}` is not a column name ([A-Za-z_][A-Za-z0-9_]*, ≤ 63 bytes)"
            )
        if name in columns:
            raise BadColumns(f"`{name}` is listed twice in `{argument}`")
        columns.append(name)
    return tuple(columns)


def _returning(text: object) -> tuple[str, ...] | None:
    """``""`` → ``None`` (a count); ``"*"`` → ``()`` (every column); else the columns."""
    if type(text) is str and not text:
        return None
    raw = trim(check_text("returning", text))
    if not raw:
        return None
    return parse_column_list(raw, "returning")


# --------------------------------------------------------------------------------------------------
# Reads


def _filter(where: object, bindings: Bindings) -> Filter | None:
    return parse_filter(check_text("where", where), bindings)


def prepare_read(
    table: str,
    where: str = "",
    bindings: Bindings = None,
    *,
    columns: str = "",
    order_by: str = "",
    limit: str = "",
    aggregate: str = "",
    group_by: str = "",
) -> Read:
    """A retrieve: the table, the filter, then the aggregate or the order and limit, then the projection."""
    checked_ident("table", table)
    bindings = check_bindings(bindings)
    parsed = _filter(where, bindings)
    if (order_by, limit, aggregate, group_by) == ("", "", "", ""):  # the common query(): no bounds
        projection = () if columns == "" else parse_column_list(columns, "columns")
        return Read(table, parsed, bindings, projection)
    agg = parse_aggregate_clause(
        check_text("aggregate", aggregate),
        check_text("group_by", group_by),
        check_text("order_by", order_by),
        check_text("limit", limit),
    )
    projection = parse_column_list(columns, "columns")
    if agg is not None:
        if projection:
            raise BadColumns("an aggregate selects its own columns (the group columns and the result)")
        return Read(table, parsed, bindings, (), (), None, agg)
    order = tuple(parse_order_by(order_by))
    return Read(table, parsed, bindings, projection, order, parse_limit(limit, bindings))


def prepare_page(
    table: str,
    where: str = "",
    bindings: Bindings = None,
    *,
    order_by: str = "",
    size: int = 100,
    after: str | None = None,
    columns: str = "",
) -> PageRead:
    """One page of a keyset walk (CONTRACT §11): ``size`` 1–10 000, ``after`` a token of this query."""
    read = prepare_read(table, where, bindings, columns=columns, order_by=order_by)
    return prepare_page_of(read, where, order_by, size=size, after=after)


def prepare_page_of(read: Read, where: str, order_by: str, *, size: int, after: str | None) -> PageRead:
    """:func:`prepare_page` for a retrieve already prepared from ``where`` and ``order_by`` (the source
    text a token's scope hashes, with ``read.bindings``).

    A caller that keeps the parsed and checked part of a repeated query (the MCP server, per tool-call
    shape) builds the ``Read`` itself and skips the parse and the column lists with this.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise BadLimit(f"a page size is a whole number from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    scope = _page_scope(read.table, where, read.bindings, order_by)
    keys = None if after is None else _read_token(after, scope)
    return PageRead(read, size, keys, scope)


def _page_scope(table: str, where: str, bindings: Bindings, order_by: str) -> str:
    shown = {name: str(value) for name, value in (bindings or {}).items()}
    material = canonical_json([table, trim(where), shown, " ".join(trim(order_by).split())])
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def page_token(scope: str, keys: Sequence[object]) -> str:
    """The opaque ``next`` token: base64url JSON of the last row's key values and the query's scope."""
    body = canonical_json({"v": _TOKEN_VERSION, "q": scope, "k": list(keys)})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _read_token(token: object, scope: str) -> tuple[object, ...]:
    if not isinstance(token, str) or not token or len(token) > 65_536:
        raise BadPageToken("a token is the non-empty text a previous page returned as `next`")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw.decode())
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise BadPageToken("it does not decode") from None
    if not isinstance(body, dict) or body.get("v") != _TOKEN_VERSION or not isinstance(body.get("k"), list):
        raise BadPageToken("it is not a page token of this version")
    if body.get("q") != scope:
        raise BadPageToken("it belongs to another query")
    return tuple(body["k"])


# --------------------------------------------------------------------------------------------------
# Writes


def prepare_insert(table: str, data: Data, *, returning: str = "") -> Insert:
    """``persist`` / ``insert``: one row, columns in the given order."""
    checked_ident("table", table)
    pairs = _pairs(data)
    if not pairs:
        raise EmptyData("insert")
    columns = tuple(column for column, _ in pairs)
    if len(pairs) > MAX_PARAMETERS:  # only then can the values be too many to bind
        check_parameter_count(0, sum(value is not None for _, value in pairs))
    return Insert(table, columns, (tuple(value for _, value in pairs),), _returning(returning))


def prepare_insert_many(table: str, rows: Sequence[Mapping[str, object]], *, returning: str = "") -> Insert:
    """``insert_many``: every row names the same columns (``RaggedRows`` otherwise), before any SQL."""
    checked_ident("table", table)
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Sequence):
        raise BadArgument("rows", "a sequence of mappings (a list of dicts)", _kind(rows))
    back = _returning(returning)
    if not rows:
        return Insert(table, (), (), back)
    first = _row_pairs(rows[0], 0)
    if not first:
        raise EmptyData("insert")
    columns = tuple(column for column, _ in first)
    values = [tuple(value for _, value in first)]
    keys = dict.fromkeys(columns).keys()
    for index in range(1, len(rows)):
        row = rows[index]
        if type(row) is dict and row.keys() == keys:  # the names were checked with the first row
            values.append(_row_values(row, columns))
        else:
            values.append(_same_columns(columns, _row_pairs(row, index), index))
    return Insert(table, columns, tuple(values), back)


def _row_values(row: dict[str, object], columns: tuple[str, ...]) -> tuple[object, ...]:
    """A row with the first row's keys: its values in the first row's column order, each checked."""
    return tuple([_check_value(column, row[column]) for column in columns])


def _row_pairs(row: object, index: int) -> list[tuple[str, object]]:
    if not isinstance(row, Mapping):
        raise BadArgument(f"rows[{index}]", "a mapping of columns to values", _kind(row))
    return _pairs(row)


def _same_columns(
    columns: tuple[str, ...], pairs: list[tuple[str, object]], index: int
) -> tuple[object, ...]:
    given = dict(pairs)
    if len(given) == len(columns) and all(c in given for c in columns):
        return tuple(given[c] for c in columns)
    missing = tuple(c for c in columns if c not in given)
    extra = tuple(c for c in given if c not in columns)
    raise RaggedRows(index, missing, extra)


def prepare_upsert(
    table: str,
    data: Data,
    on_conflict: str,
    *,
    update: str | None = None,
    returning: str = "",
) -> Insert:
    """``INSERT … ON CONFLICT (on_conflict) DO UPDATE SET c = EXCLUDED.c …`` (or ``DO NOTHING``).

    ``update=None`` sets every column of ``data`` not in the conflict target; ``update=""`` is
    ``DO NOTHING``; otherwise the listed columns, each of which ``data`` must hold.
    """
    row = prepare_insert(table, data, returning=returning)
    conflict = parse_column_list(on_conflict, "on_conflict", star=False)
    absent = [c for c in conflict if c not in row.columns]
    if absent:
        raise BadColumns(f"the conflict target `{absent[0]}` is not a column of the row")
    if update is None:
        sets = tuple(c for c in row.columns if c not in conflict)
    else:
        sets = parse_column_list(update, "update") if trim(check_text("update", update)) else ()
        stray = [c for c in sets if c not in row.columns]
        if stray:
            raise BadColumns(f"`update` names `{stray[0]}`, which the row does not set")
    return dataclasses.replace(row, conflict=conflict, update=sets, op="upsert")


def _refuse_unbounded(op: str, table: str, parsed: Filter | None, all_rows: bool) -> None:
    if parsed is None and not all_rows:
        raise UnboundedWrite(op, table)


def prepare_update(
    table: str,
    where: str,
    data: Data,
    bindings: Bindings = None,
    *,
    all_rows: bool = False,
    returning: str = "",
) -> Update:
    """``mutate``: identifiers, then the filter, then ``EmptyData``, then ``UnboundedWrite`` (D3)."""
    checked_ident("table", table)
    pairs = _pairs(data)
    bindings = check_bindings(bindings)
    parsed = _filter(where, bindings)
    if not pairs:
        raise EmptyData("mutate")
    _refuse_unbounded("mutate", table, parsed, _flag("all_rows", all_rows))
    return Update(table, parsed, tuple(pairs), bindings, _returning(returning))


def prepare_delete(
    table: str,
    where: str,
    bindings: Bindings = None,
    *,
    all_rows: bool = False,
    returning: str = "",
) -> Delete:
    """``purge``: a blank ``where`` needs ``all_rows=True`` (D3)."""
    checked_ident("table", table)
    bindings = check_bindings(bindings)
    parsed = _filter(where, bindings)
    _refuse_unbounded("purge", table, parsed, _flag("all_rows", all_rows))
    return Delete(table, parsed, bindings, _returning(returning))


def prepare_reinforce(
    table: str, from_id: str, to_id: str, etype: str, delta: float, floor: float
) -> Reinforce:
    """``reinforce``: the edge (from_id, to_id, etype) and the two numbers, checked."""
    checked_ident("table", table)
    keys = (check_text("from_id", from_id), check_text("to_id", to_id), check_text("etype", etype))
    return Reinforce(table, (_number("delta", delta), _number("floor", floor), *keys))


_ISOLATION: Final = {
    "read committed": "READ COMMITTED",
    "repeatable read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}


def check_transaction_options(
    isolation: str | None, read_only: bool, statement_timeout_ms: int | None
) -> str | None:
    """The isolation level as SQL spells it (``None``: the server's default), before any I/O.

    ``BadIsolation`` for a level other than read committed, repeatable read or serializable (any case,
    any spacing); ``BadArgument`` for a ``read_only`` that is not a bool or a timeout that is not a
    positive whole number of milliseconds.
    """
    _flag("read_only", read_only)
    if statement_timeout_ms is not None and (
        isinstance(statement_timeout_ms, bool)
        or not isinstance(statement_timeout_ms, int)
        or statement_timeout_ms <= 0
    ):
        raise BadArgument(
            "statement_timeout_ms", "a positive whole number of milliseconds", repr(statement_timeout_ms)
        )
    if isolation is None:
        return None
    if not isinstance(isolation, str):
        raise BadIsolation(repr(isolation))
    level = _ISOLATION.get(" ".join(isolation.lower().split()))
    if level is None:
        raise BadIsolation(isolation if len(isolation) <= 40 else isolation[:40] + "…")
    return level


def _number(argument: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise BadArgument(argument, "a number", _kind(value))
    return float(value)
