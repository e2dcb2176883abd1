"""Row decoding: every PostgreSQL column type to a JSON-safe value (CONTRACT §3.4, D7, D11).

The backend makes every connection with ``context=ADAPTERS`` (psycopg copies the map, copy-on-write)
and ``row_factory=registry.row_factory``; results arrive in text format. Nothing here opens a
connection or runs SQL::

    registry = TypeRegistry()                        # one per database: OIDs are per database
    conn = await psycopg.AsyncConnection.connect(dsn, context=ADAPTERS,
                                                 row_factory=registry.row_factory, ...)
    # after introspection learnt the columns' type OIDs:
    if oids := registry.pending(column_type_oids):
        sql, params = type_info_query(oids)          # run it (no transaction needed), then
        registry.learn(oids, rows)                   # arrays of enums/domains/composites decode

This module holds the loaders, the adapters map and the registry; the text parsing under them is in
private modules: :mod:`axonstore.rows._values` (the ``JSON`` type, scalar converters, converter tables
per session), :mod:`axonstore.rows._time` (dates and times per DateStyle and TimeZone) and
:mod:`axonstore.rows._arrays` (array literals; ``parse_array`` is re-exported here).

How values are read, and why:

* ``ADAPTERS`` is built from psycopg's adapter *classes* into a fresh map, never copied from
  ``psycopg.adapters`` (a program may have changed that). Dumpers are psycopg's defaults. Every text
  loader is ours or one of psycopg's C loaders (bool, int2/4/8, text), so each value is turned into
  its final JSON form in one step; any OID we do not know falls to text, so no column type can fail.
* Dates and times are parsed from the text PostgreSQL prints, using the session's ``DateStyle`` and
  ``TimeZone`` as reported by ParameterStatus when the cursor's loaders are made (nothing is ``SET``,
  so transaction poolers are fine). ``ISO`` (the default) is the fast path; timestamptz is printed
  with a numeric offset and converted to UTC exactly. ``SQL``, ``German`` and ``Postgres`` styles are
  parsed too; there a timestamptz carries a zone *abbreviation*, resolved against the session's
  ``TimeZone`` with :mod:`zoneinfo` (the abbreviation picks the side of a DST fold). When that cannot
  be done for certain — a POSIX ``TimeZone`` such as ``<+03>-03``, an abbreviation our zone database
  does not give for that wall time, or any instant before 1970, where zone database builds disagree
  — the value is PostgreSQL's own text output. ``UTC``/``GMT`` and numeric abbreviations
  (``+0545``) are always exact.
* Values RFC 3339 cannot express (``infinity``, BC, years > 9999, a UTC instant before year 1 or
  after 9999) are PostgreSQL's own text output, as are numeric ``NaN``/``Infinity``.
* Arrays of built-in element types decode in the loader. PostgreSQL reports an array of a
  user-defined type (enum, domain, composite) under its own OID; :class:`TypeRegistry` learns those
  and its row factory parses them. An unregistered one is its text output.
* A database in ``SQL_ASCII`` has no declared encoding: its text is read as UTF-8 with invalid bytes
  replaced by U+FFFD, so the result stays JSON-safe.
* JSON numbers: a float that overflows (``1e400`` in a ``json`` column) becomes ``None`` like a
  float8 infinity; an integer longer than Python's int-parsing limit (4 300 digits) stays a string.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, LiteralString

from psycopg import postgres
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.rows import RowMaker, no_result
from psycopg.types import TypesRegistry
from psycopg.types import array as _pg_array
from psycopg.types.bool import BoolLoader
from psycopg.types.numeric import IntLoader
from psycopg.types.string import TextLoader

from axonstore.rows._arrays import _array_decoder, parse_array
from axonstore.rows._time import _UTC_TAIL, _iso_date, _iso_shift, _iso_timestamp, _iso_timestamptz, _time
from axonstore.rows._values import (
    _BOOL,
    _BYTEA,
    _DATE,
    _FLOAT4,
    _FLOAT8,
    _INT2,
    _INT4,
    _INT8,
    _INVALID,
    _JSON,
    _JSONB,
    _TIME,
    _TIMESTAMP,
    _TIMESTAMPTZ,
    JSON,
    Convert,
    Row,
    _bytea,
    _identity,
    _json,
    _session_converters,
    _text_codec,
)

if TYPE_CHECKING:
    from psycopg._connection_base import BaseConnection
    from psycopg._cursor_base import BaseCursor
    from psycopg.pq.abc import PGresult

__all__ = [
    "ADAPTERS",
    "JSON",
    "ArrayType",
    "Row",
    "TypeRegistry",
    "make_adapters",
    "parse_array",
    "row_factory",
    "type_info_query",
]


# --------------------------------------------------------------------------------------------------
# psycopg loaders (text format)


# Per-value functions on the buffer psycopg hands a text loader (a memoryview with the C extension,
# bytes without). Dates, times and bytea print in ASCII whatever the client encoding.


def _ascii(data: Buffer) -> str:
    return str(data, "ascii", "replace")


def _load_timestamptz_iso(data: Buffer) -> str:
    text = str(data, "ascii", "replace")
    if text.endswith("+00") and text[4] == "-" and len(text) < 30:  # _iso_timestamptz, inlined: hot
        return text[:-3].replace(" ", "T") + _UTC_TAIL[len(text)]
    return _iso_shift(text)


def _load_timestamp_iso(data: Buffer) -> str:
    return _iso_timestamp(str(data, "ascii", "replace"))


def _load_time(data: Buffer) -> str:
    return _time(str(data, "ascii", "replace"))


def _load_bytea(data: Buffer) -> str:
    if data[:2] == b"\\x":
        return binascii.b2a_base64(binascii.a2b_hex(data[2:]), newline=False).decode()
    return _bytea(str(data, "ascii", "replace"))


_FAST_LOADS: Final[Mapping[Convert, Callable[[Buffer], JSON]]] = {
    _iso_date: _ascii,
    _iso_timestamp: _load_timestamp_iso,
    _iso_timestamptz: _load_timestamptz_iso,
    _time: _load_time,
    _bytea: _load_bytea,
}


class _ConvertLoader(Loader):
    """Dates, times, bytea: the session's converter for this OID, applied to the ASCII text."""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._convert = convert = _session_converters(self.connection)[oid]
        if fast := _FAST_LOADS.get(convert):
            # psycopg looks `loader.load` up once per result and calls it per value: an instance
            # attribute holding a plain function saves a Python frame per value.
            self.load = fast  # type: ignore[method-assign,assignment]

    def load(self, data: Buffer) -> JSON:
        return self._convert(str(data, "ascii", "replace"))


class _FloatLoader(Loader):
    def load(self, data: Buffer) -> float | None:
        return None if data[-1] > 57 else float(data)  # NaN / ±Infinity end in a letter ("9" is 57)


class _JsonLoader(Loader):
    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._encoding = _text_codec(self.connection)

    def load(self, data: Buffer) -> JSON:
        return _json(str(data, self._encoding, "replace"))


class _ArrayLoader(Loader):
    """An array of a built-in element type: nested lists of that element's JSON values."""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        converters, self._encoding = _session_converters(self.connection), _text_codec(self.connection)
        element, delimiter = _BUILTIN_ARRAYS[oid]
        self._decode = _array_decoder(delimiter, converters.get(element, _identity))

    def load(self, data: Buffer) -> JSON:
        return self._decode(str(data, self._encoding, "replace"))


def _builtin_types() -> TypesRegistry:
    types = TypesRegistry()
    postgres.register_default_types(types)
    return types


# array OID → (element OID, delimiter) for every built-in type psycopg knows; all OIDs it knows.
_BUILTIN_ARRAYS: Final = {t.array_oid: (t.oid, t.delimiter) for t in _builtin_types() if t.array_oid}
_KNOWN_OIDS: Final = frozenset(oid for t in _builtin_types() for oid in (t.oid, t.array_oid) if oid)


def make_adapters() -> AdaptersMap:
    """A fresh adapters map for the backend's connections (pass it as ``context=``).

    Built from psycopg's adapter classes, not from ``psycopg.adapters``: a program's changes to the
    global map do not reach it. Dumpers are psycopg's defaults; every text-format loader is ours or
    one of psycopg's C loaders for bool, int2/4/8 and text, and every other OID loads as text.
    """
    adapters = AdaptersMap(types=TypesRegistry())
    postgres.register_default_types(adapters.types)
    postgres.register_default_adapters(adapters)
    _pg_array.register_all_arrays(adapters)
    for info in adapters.types:  # psycopg's loaders would make datetimes, Decimals, IPs…: replace all
        for oid in (info.oid, info.array_oid):
            if oid:
                adapters.register_loader(oid, _loader_for(oid))
    adapters.register_loader(_INVALID, TextLoader)  # unknown OIDs (enums, citext, composites…)
    return adapters


def _loader_for(oid: int) -> type[Loader]:
    if oid in _BUILTIN_ARRAYS:
        return _ArrayLoader
    return _LOADERS.get(oid, TextLoader)


_LOADERS: Final[Mapping[int, type[Loader]]] = {
    _BOOL: BoolLoader,
    _INT2: IntLoader,
    _INT4: IntLoader,
    _INT8: IntLoader,
    _FLOAT4: _FloatLoader,
    _FLOAT8: _FloatLoader,
    _JSON: _JsonLoader,
    _JSONB: _JsonLoader,
    _BYTEA: _ConvertLoader,
    _TIME: _ConvertLoader,
    _DATE: _ConvertLoader,
    _TIMESTAMP: _ConvertLoader,
    _TIMESTAMPTZ: _ConvertLoader,
}

#: The backend's adapters map (built once; connections copy it on connect).
ADAPTERS: Final = make_adapters()


# --------------------------------------------------------------------------------------------------
# User-defined arrays and the row factory


@dataclass(frozen=True, slots=True)
class ArrayType:
    """What decoding needs about an array type: its OID, element delimiter and element base type."""

    oid: int
    delimiter: str = ","
    element_oid: int = 0  # the element's base type (domains resolved); 0 or unknown: elements as text


# Each queried type is followed through domains to its base; when that base is an array, the row
# names it (the OID RowDescription reports), its element delimiter and the element's base type.
_TYPE_INFO_SQL: Final[LiteralString] = (
    "WITH RECURSIVE q(cur, depth) AS ("
    "SELECT t.oid, 0 FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::pg_catalog.text::pg_catalog.oid[])"
    " UNION ALL SELECT t.typbasetype, q.depth + 1 FROM q JOIN pg_catalog.pg_type t ON t.oid = q.cur"
    " WHERE t.typtype = 'd' AND q.depth < 32"
    "), arr(array_oid, delimiter, cur, depth) AS ("
    "SELECT a.oid, e.typdelim::pg_catalog.text, e.oid, 0 FROM q"
    " JOIN pg_catalog.pg_type a ON a.oid = q.cur AND a.typtype <> 'd' AND a.typlen = -1 AND a.typelem <> 0"
    " JOIN pg_catalog.pg_type e ON e.oid = a.typelem"
    " UNION ALL SELECT arr.array_oid, arr.delimiter, e.typbasetype, arr.depth + 1"
    " FROM arr JOIN pg_catalog.pg_type e ON e.oid = arr.cur WHERE e.typtype = 'd' AND arr.depth < 32"
    ") SELECT DISTINCT arr.array_oid::pg_catalog.int8, arr.delimiter, arr.cur::pg_catalog.int8"
    " FROM arr JOIN pg_catalog.pg_type e ON e.oid = arr.cur WHERE e.typtype <> 'd'"
)


def type_info_query(oids: Iterable[int]) -> tuple[LiteralString, list[str]]:
    """The catalog query (``$1`` placeholder) and its parameters describing the array types in ``oids``.

    Pass the columns' declared type OIDs (``pg_attribute.atttypid``). Each row is ``(array_oid,
    delimiter, element_base_oid)``: a domain over an array is followed to that array (PostgreSQL
    reports a domain column under its base type), and a domain element to its base type. OIDs that
    are not arrays give no row. Feed the rows to :meth:`TypeRegistry.learn`. Read-only; it runs
    as one statement anywhere (autocommit, or inside the introspection transaction).
    """
    return _TYPE_INFO_SQL, ["{" + ",".join(str(int(oid)) for oid in oids) + "}"]


class TypeRegistry:
    """The user-defined array types of one database, and the row factory that decodes them.

    OIDs are per database, so keep one registry per DSN. Built-in types need no registration.
    """

    def __init__(self) -> None:
        self._arrays: dict[int, ArrayType] = {}
        self._seen: set[int] = set()  # every OID looked up, arrays or not

    def register_array(self, oid: int, delimiter: str = ",", element_oid: int = 0) -> None:
        """Decode columns of type ``oid`` as arrays (``element_oid``: the element's base type OID)."""
        # Copy on write: a row factory running in another thread never sees a dict change size.
        self._arrays = {**self._arrays, oid: ArrayType(oid, delimiter, element_oid)}
        self._seen = self._seen | {oid}

    def pending(self, oids: Iterable[int]) -> list[int]:
        """The OIDs among ``oids`` not looked up yet (empty: no query needed).

        That is user-defined types (enums, domains, composites, extension types and their arrays)
        and the few built-in types psycopg does not list (``pg_snapshot[]``, say).
        """
        return sorted({oid for oid in oids if oid not in _KNOWN_OIDS and oid not in self._seen})

    def learn(self, queried: Iterable[int], rows: Iterable[Sequence[Any]]) -> None:
        """Record the rows of :func:`type_info_query` for ``queried`` (the others are not arrays)."""
        for array_oid, delimiter, element_oid in rows:
            self.register_array(int(array_oid), str(delimiter), int(element_oid))
        self._seen = self._seen | set(queried)

    def clear(self) -> None:
        """Forget everything (after a type was dropped and re-created, say)."""
        self._arrays, self._seen = {}, set()

    def arrays(self) -> list[ArrayType]:
        """The registered array types."""
        return list(self._arrays.values())

    def row_factory(self, cursor: BaseCursor[Any, Any]) -> RowMaker[Row]:
        """A psycopg row factory: one dict per row, keys in column order, values JSON-safe."""
        result = cursor.pgresult  # read directly: building `cursor.description` costs more than a row
        if result is None:
            return no_result
        return self.row_maker(cursor.connection, result)

    def row_maker(self, connection: BaseConnection[Any], result: PGresult) -> RowMaker[Row]:
        """:meth:`row_factory` for a result read without a cursor (``backend.pipeline``)."""
        encoding = connection.info.encoding
        names = [(result.fname(i) or b"").decode(encoding, "replace") for i in range(result.nfields)]
        sql_ascii = encoding == "ascii"
        fixes = self._fixes(connection, result, sql_ascii) if self._arrays or sql_ascii else None
        if not fixes:

            def make_row(values: Sequence[Any]) -> Row:
                return dict(zip(names, values))  # noqa: B905 (a keyword costs ~0.2 µs a row; lengths match)

            return make_row
        return _fixing_row_maker(names, fixes)

    def _fixes(
        self, connection: BaseConnection[Any], result: PGresult, sql_ascii: bool
    ) -> list[tuple[int, Convert]]:
        """Per-column post-decoding for registered arrays (and, in SQL_ASCII, for raw bytes)."""
        oids = [result.ftype(i) for i in range(result.nfields)]
        fixes: list[tuple[int, Convert]] = []
        if not sql_ascii and not self._arrays.keys() & oids:
            return fixes
        converters = _session_converters(connection)
        for index, oid in enumerate(oids):
            if (array := self._arrays.get(oid)) is not None:
                element = converters.get(array.element_oid, _identity)
                fixes.append((index, _array_decoder(array.delimiter, element)))
            elif sql_ascii and oid not in _LOADERS and oid not in _BUILTIN_ARRAYS:
                fixes.append((index, _identity))
        return fixes


def _fixing_row_maker(names: list[str], fixes: list[tuple[int, Convert]]) -> RowMaker[Row]:
    def make_row(values: Sequence[Any]) -> Row:
        fixed = list(values)
        for index, convert in fixes:
            value = fixed[index]
            if value is not None:
                if isinstance(value, bytes):  # SQL_ASCII: psycopg's text loader gives raw bytes
                    value = value.decode("utf-8", "replace")
                fixed[index] = convert(value)
        return dict(zip(names, fixed))  # noqa: B905 (see make_row above)

    return make_row


_DEFAULT_REGISTRY: Final = TypeRegistry()


def row_factory(cursor: BaseCursor[Any, Any]) -> RowMaker[Row]:
    """The row factory for built-in types only (arrays of user-defined types stay text)."""
    return _DEFAULT_REGISTRY.row_factory(cursor)
