"""The JSON value type, and the text -> JSON converters by type OID that :mod:`axonstore.rows` loads with.

Scalars (float, json, bytea, time of day) convert the same way in every session; dates and times depend
on the session's DateStyle and TimeZone, so ``_session_converters`` builds (and caches) one table per
pair from :mod:`axonstore.rows._time`. Separate from the loaders and the registry so that the value rules
read on their own and the array parser (:mod:`axonstore.rows._arrays`) can use them without a cycle.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from axonstore.rows._time import _iso_date, _iso_timestamp, _iso_timestamptz, _NonIsoStyle, _time

if TYPE_CHECKING:
    from psycopg._connection_base import BaseConnection

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
# Converter tables per session (DateStyle, TimeZone) and the session's text codec


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
