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
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, LiteralString, TypeAlias
from zoneinfo import ZoneInfo

from psycopg import postgres
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.rows import RowMaker, no_result
from psycopg.types import TypesRegistry
from psycopg.types import array as _pg_array
from psycopg.types.bool import BoolLoader
from psycopg.types.numeric import IntLoader
from psycopg.types.string import TextLoader

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

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
Row: TypeAlias = dict[str, JSON]
Convert: TypeAlias = Callable[[str], JSON]

# Built-in type OIDs (stable across PostgreSQL versions).
_BOOL, _BYTEA, _INT8, _INT2, _INT4, _JSON = 16, 17, 20, 21, 23, 114
_FLOAT4, _FLOAT8, _DATE, _TIME, _TIMESTAMP, _TIMESTAMPTZ = 700, 701, 1082, 1083, 1114, 1184
_NUMERIC, _JSONB, _INVALID = 1700, 3802, 0


def _identity(text: str) -> JSON:
    return text


# --------------------------------------------------------------------------------------------------
# Scalars, from the text PostgreSQL prints


def _float(text: str) -> float | None:
    """float4/float8: ``NaN``, ``Infinity``, ``-Infinity`` (the only outputs ending in a letter) → None."""
    return None if text[-1] > "9" else float(text)


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if value - value == 0.0 else None  # inf - inf and nan - nan are nan


def _json(text: str) -> JSON:
    try:
        value: JSON = json.loads(text, parse_float=_finite_float)
    except ValueError:  # an integer past Python's int-parsing limit: keep its digits
        value = json.loads(text, parse_float=_finite_float, parse_int=_int_or_digits)
    except RecursionError:  # nested deeper than Python's parser goes: the document as text
        value = text
    return value


def _int_or_digits(text: str) -> int | str:
    return int(text) if len(text) <= 4000 else text


_BYTEA_ESCAPE = re.compile(rb"\\(\\|[0-7]{3})")


def _bytea(text: str) -> str:
    """bytea (``hex`` or ``escape`` output, whatever ``bytea_output`` is) → standard padded base64."""
    if text.startswith("\\x"):
        raw = binascii.a2b_hex(text[2:])
    else:  # escape format: `\\` is a backslash, `\ooo` an octal byte, everything else itself
        raw = _BYTEA_ESCAPE.sub(_bytea_octet, text.encode("latin-1"))
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _bytea_octet(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return b"\\" if code == b"\\" else bytes((int(code, 8),))


# Fraction digits to append, by the length of ``HH:MM:SS[.f]`` (PostgreSQL trims trailing zeros): the
# result has 0, 3 or 6 digits, the fewest that are exact (`.5` → `.500`, `.1234` → `.123400`).
_PAD: Final = ("",) * 10 + ("00", "0", "", "00", "0", "")


def _fraction(clock: str) -> str:
    return clock + _PAD[len(clock)]


def _time(text: str) -> str:
    return text + _PAD[len(text)] if len(text) <= 15 else text


def _bools() -> Convert:
    return {"t": True, "f": False}.__getitem__


_STATIC: Final[Mapping[int, Convert]] = {
    _BOOL: _bools(),
    _INT2: int,
    _INT4: int,
    _INT8: int,
    _FLOAT4: _float,
    _FLOAT8: _float,
    _JSON: _json,
    _JSONB: _json,
    _BYTEA: _bytea,
    _TIME: _time,
}


# --------------------------------------------------------------------------------------------------
# date / timestamp / timestamptz, per DateStyle


def _iso_date(text: str) -> str:
    return text  # already YYYY-MM-DD; BC, year > 9999 and infinity are the text output anyway


def _iso_timestamp(text: str) -> str:
    if text[4] == "-" and text[-1] != "C" and len(text) <= 26:  # 4-digit year, not BC, not infinity
        return f"{text[:10]}T{text[11:]}{_PAD[len(text) - 11]}"
    return text


def _iso_timestamptz(text: str) -> str:
    if text.endswith("+00") and text[4] == "-" and len(text) < 30:  # a UTC session: no arithmetic
        return text[:-3].replace(" ", "T") + _UTC_TAIL[len(text)]
    return _iso_shift(text)


# What follows ``YYYY-MM-DDTHH:MM:SS[.f]`` in a UTC value, by the length of PostgreSQL's text.
_UTC_TAIL: Final = tuple(_PAD[n - 14] + "+00:00" if n >= 22 else "" for n in range(30))


def _iso_shift(text: str) -> str:
    """``YYYY-MM-DD HH:MM:SS[.f]±HH[:MM]`` moved to UTC; only the minute and the day can change."""
    n = len(text)
    at = n - 3 if text[n - 3] in "+-" else n - 6
    if text[at] not in "+-" or text[4] != "-" or text[-1] == "C":
        return _iso_shift_exact(text)  # infinity, BC, year > 9999, or an offset with seconds (LMT)
    head = _utc_minute(text[:16], text[at:])
    return text if head is None else head + text[16:at] + _PAD[at - 11] + "+00:00"


_HHMM: Final = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))
_CLOCK: Final = {hhmm: minutes for minutes, hhmm in enumerate(_HHMM)}


@lru_cache(maxsize=8192)  # rows of one stream share minutes and offsets: most calls are hits
def _utc_minute(local: str, zone: str) -> str | None:
    """``YYYY-MM-DD HH:MM`` at offset ``±HH[:MM]`` → ``YYYY-MM-DDTHH:MM`` in UTC (None: out of range)."""
    offset = int(zone[1:3]) * 60 + (int(zone[4:6]) if len(zone) == 6 else 0)
    minutes = _CLOCK[local[11:]] + (offset if zone[0] == "-" else -offset)
    day = local[:10]
    if not 0 <= minutes < 1440:  # the instant is on another day in UTC
        days, minutes = divmod(minutes, 1440)
        if (shifted := _shift_day(day, days)) is None:
            return None
        day = shifted
    return day + "T" + _HHMM[minutes]


@lru_cache(maxsize=4096)
def _shift_day(day: str, days: int) -> str | None:
    try:
        return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
    except OverflowError:  # before year 1 or after 9999
        return None


def _iso_shift_exact(text: str) -> str:
    """Any ISO timestamptz (offsets with seconds, BC, 5-digit years) to UTC with datetime arithmetic."""
    match = _ISO_TSTZ.fullmatch(text)
    if match is None:  # infinity
        return text
    year, month, day, clock, sign, hours, minutes, seconds, bc = match.groups()
    offset = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    year_number = 1 - int(year) if bc else int(year)  # astronomical: 1 BC is year 0
    return _utc(year_number, int(month), int(day), clock, lambda _: -offset if sign == "-" else offset, text)


_ISO_TSTZ = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?"
)


def _naive(year: int, month: int, day: int, clock: str) -> datetime:
    micros = int(clock[9:].ljust(6, "0")) if len(clock) > 8 else 0
    return datetime(year, month, day, int(clock[:2]), int(clock[3:5]), int(clock[6:8]), micros)


def _utc(
    year: int, month: int, day: int, clock: str, offset: Callable[[datetime], int | None], text: str
) -> str:
    """The local wall time minus its UTC offset as RFC 3339, or ``text`` outside years 1..9999.

    Local years 0 (1 BC) and 10000 can still be in range in UTC; datetime cannot hold them, so the
    arithmetic runs 400 years away (the Gregorian calendar repeats exactly every 400 years).
    """
    if not 0 <= year <= 10000:
        return text
    cycle = 400 if year == 0 else -400 if year == 10000 else 0
    try:
        local = _naive(year + cycle, month, day, clock)
        seconds = offset(local)
        if seconds is None:
            return text
        moment = local - timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        return text
    if not 1 <= moment.year - cycle <= 9999:
        return text
    if cycle:
        moment = moment.replace(year=moment.year - cycle)
    micros = moment.microsecond
    spec = "seconds" if micros == 0 else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return moment.isoformat("T", spec) + "+00:00"


_NUMERIC_DATE = re.compile(
    r"(\d\d)[/.-](\d\d)[/.-](\d{4,})(?: (\d\d:\d\d:\d\d(?:\.\d{1,6})?))?(?: (?!BC$)(\S+))?( BC)?"
)
_POSTGRES_TS = re.compile(
    r"[A-Z][a-z]{2} (?:([A-Z][a-z]{2}) (\d\d)|(\d\d) ([A-Z][a-z]{2})) "
    r"(\d\d:\d\d:\d\d(?:\.\d{1,6})?) (\d{4,})(?: (?!BC$)(\S+))?( BC)?"
)
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ZERO_ZONES: Final = frozenset({"UTC", "GMT", "UCT", "Z"})
_NUMERIC_ZONE = re.compile(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?")

_Parts: TypeAlias = tuple[int, int, int, "str | None", "str | None"]


def _parse_non_iso(text: str, dmy: bool) -> _Parts | None:
    """(astronomical year, month, day, clock, zone) of a ``SQL``/``German``/``Postgres`` value."""
    if match := _NUMERIC_DATE.fullmatch(text):
        first, second, year, clock, zone, bc = match.groups()
        day, month = (int(first), int(second)) if dmy or text[2] == "." else (int(second), int(first))
    elif match := _POSTGRES_TS.fullmatch(text):
        mon1, day1, day2, mon2, clock, year, zone, bc = match.groups()
        day, month = int(day1 or day2), _MONTHS[mon1 or mon2]
    else:
        return None
    return (1 - int(year) if bc else int(year)), month, day, clock, zone


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # a POSIX spec, or no zone database entry
        return None


def _zone_offset(zone: str, session_zone: str) -> Callable[[datetime], int | None]:
    """Seconds east of UTC meant by a printed ``zone`` (an offset or an abbreviation) at a wall time."""
    if match := _NUMERIC_ZONE.fullmatch(zone):
        sign, hours, minutes, seconds = match.groups()
        offset = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
        return lambda _: -offset if sign == "-" else offset

    if zone in _ZERO_ZONES:
        return lambda _: 0

    def by_abbreviation(local: datetime) -> int | None:
        # Zone databases agree from 1970 on; before, builds differ (backzone, links): Amsterdam's
        # LMT is +00:19:32 in one and +00:17:30 in another, both printed "LMT". Text, not a guess.
        if local.year < 1970 or (info := _zone(session_zone)) is None:
            return None
        for fold in (0, 1):  # the abbreviation tells the two sides of a DST fold apart
            aware = local.replace(tzinfo=info, fold=fold)
            if aware.tzname() == zone and (delta := aware.utcoffset()) is not None:
                return int(delta.total_seconds())
        return None

    return by_abbreviation


class _NonIsoStyle:
    """Converters for a session whose DateStyle is ``SQL``, ``German`` or ``Postgres``."""

    def __init__(self, datestyle: str, timezone: str) -> None:
        self._dmy = datestyle.endswith("DMY")
        self._timezone = timezone

    def date(self, text: str) -> str:
        parts = _parse_non_iso(text, self._dmy)
        if parts is None or not 1 <= parts[0] <= 9999 or parts[3] is not None:
            return text
        return f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}"

    def timestamp(self, text: str) -> str:
        parts = _parse_non_iso(text, self._dmy)
        if parts is None or not 1 <= parts[0] <= 9999 or parts[3] is None or parts[4] is not None:
            return text
        return f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}T{_fraction(parts[3])}"

    def timestamptz(self, text: str) -> str:
        parts = _parse_non_iso(text, self._dmy)
        if parts is None:
            return text
        year, month, day, clock, zone = parts
        if clock is None or zone is None:
            return text
        return _utc(year, month, day, clock, _zone_offset(zone, self._timezone), text)


@lru_cache(maxsize=64)
def _converters(datestyle: bytes, timezone: bytes) -> Mapping[int, Convert]:
    """Element converters by type OID for a session (DateStyle and TimeZone as reported)."""
    table = dict(_STATIC)
    if datestyle.startswith(b"ISO"):
        table.update({_DATE: _iso_date, _TIMESTAMP: _iso_timestamp, _TIMESTAMPTZ: _iso_timestamptz})
    else:
        style = _NonIsoStyle(datestyle.decode("ascii", "replace"), timezone.decode("ascii", "replace"))
        table.update({_DATE: style.date, _TIMESTAMP: style.timestamp, _TIMESTAMPTZ: style.timestamptz})
    return table


def _session_converters(connection: BaseConnection[Any] | None) -> Mapping[int, Convert]:
    """The converters for ``connection``'s current DateStyle and TimeZone (ISO and UTC without one)."""
    if connection is None:
        return _converters(b"ISO, MDY", b"UTC")
    status = connection.pgconn.parameter_status
    return _converters(status(b"DateStyle") or b"ISO, MDY", status(b"TimeZone") or b"UTC")


def _text_codec(connection: BaseConnection[Any] | None) -> str:
    """The Python codec for ``connection``'s text; SQL_ASCII (no declared encoding) is read as UTF-8."""
    encoding = "utf-8" if connection is None else connection.info.encoding
    return "utf-8" if encoding == "ascii" else encoding


# --------------------------------------------------------------------------------------------------
# Arrays


@lru_cache(maxsize=16)
def _array_token(delimiter: str) -> re.Pattern[str]:
    return re.compile(r'"((?:[^"\\]|\\.)*)"|(\{)|(\})|([^{}"' + re.escape(delimiter) + r"]+)", re.S)


_UNESCAPE = re.compile(r"\\(.)", re.S)


def parse_array(text: str, delimiter: str = ",", convert: Convert = _identity) -> list[JSON]:
    """Parse PostgreSQL's array text output into (nested) lists, each element through ``convert``.

    Handles quoting, backslash escapes, ``NULL`` (unquoted; ``"NULL"`` is a string), nesting, a
    ``[2:3]=`` bounds prefix (dropped) and any one-character ``delimiter``. Raises ``ValueError`` on
    text that is not an array literal.
    """
    if text[:1] == "[":
        text = text[text.index("=") + 1 :]
    if '"' not in text and text.rfind("{") == 0:  # one dimension, nothing quoted: split
        if text.find("}") != len(text) - 1:
            raise ValueError("not an array literal")
        body = text[1:-1]
        return [None if item == "NULL" else convert(item) for item in body.split(delimiter)] if body else []
    return _parse_nested(text, delimiter, convert)


def _parse_nested(text: str, delimiter: str, convert: Convert) -> list[JSON]:
    stack: list[list[JSON]] = []
    result: list[JSON] | None = None
    for match in _array_token(delimiter).finditer(text):
        kind = match.lastindex
        if kind == 2:
            child: list[JSON] = []
            if stack:
                stack[-1].append(child)
            stack.append(child)
        elif kind == 3:
            result = stack.pop()
        elif kind == 1:
            item = match.group(1)
            stack[-1].append(convert(_UNESCAPE.sub(r"\1", item) if "\\" in item else item))
        else:
            item = match.group(4)
            stack[-1].append(None if item == "NULL" else convert(item))
    if result is None or stack:
        raise ValueError("not an array literal")
    return result


def _array_decoder(delimiter: str, convert: Convert) -> Convert:
    def decode(text: str) -> JSON:
        try:
            return parse_array(text, delimiter, convert)
        except (ValueError, IndexError, KeyError, binascii.Error):  # never fail a retrieve
            return text

    return decode


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
        encoding = cursor.connection.info.encoding
        names = [(result.fname(i) or b"").decode(encoding, "replace") for i in range(result.nfields)]
        sql_ascii = encoding == "ascii"
        fixes = self._fixes(cursor.connection, result, sql_ascii) if self._arrays or sql_ascii else None
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
