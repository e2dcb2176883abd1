"""Values of the in-memory backend: their PostgreSQL types, comparison, text output and JSON output.

Everything here is pure. :func:`pg_text` is a value's ``::text`` in a session with ``TimeZone=UTC`` and
``DateStyle=ISO``; :func:`to_json` is CONTRACT §3.4; :func:`compare` / :func:`equal` are PostgreSQL's
operators for two values of one :func:`family`. Casts (``$1::type``) live in :mod:`._memory_casts`.

A failure is :class:`CastError` (a SQLSTATE and PostgreSQL's message); the backend turns it into
``Query(op, message, sqlstate)``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

__all__ = [
    "INT_RANGES",
    "KNOWN_TYPES",
    "ORDERABLE_FAMILIES",
    "TEXT_TYPES",
    "CastError",
    "compare",
    "equal",
    "f32",
    "family",
    "group_key",
    "inferred_type",
    "instant",
    "param_type",
    "sql_name",
    "widen_float4",
]


class CastError(Exception):
    """A value PostgreSQL would refuse: ``sqlstate`` and PostgreSQL's own wording."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message


_SQL_NAMES: Final = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "numeric": "numeric",
    "bool": "boolean",
    "text": "text",
    "varchar": "character varying",
    "bpchar": "character",
    "name": "name",
    "uuid": "uuid",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "date": "date",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "json": "json",
    "jsonb": "jsonb",
    "bytea": "bytea",
    "interval": "interval",
    "unknown": "unknown",
}
#: The declared types the in-memory backend models; any other declared type keeps values as given.
KNOWN_TYPES: Final = frozenset(_SQL_NAMES) - {"timetz", "interval", "unknown"}
TEXT_TYPES: Final = frozenset({"text", "varchar", "bpchar", "name"})
INT_RANGES: Final = {"int2": 2**15, "int4": 2**31, "int8": 2**63}


def sql_name(pg_type: str) -> str:
    """PostgreSQL's name for a type in messages (``int4`` → ``integer``)."""
    return _SQL_NAMES.get(pg_type, pg_type)


# --------------------------------------------------------------------------------------------------
# The PostgreSQL type of a Python value


def param_type(value: object) -> str:
    """The type psycopg sends ``value`` as (``"unknown"`` for ``str``: an untyped literal)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        for name, bound in INT_RANGES.items():
            if -bound <= value < bound:
                return name
        return "numeric"
    if isinstance(value, str):
        return "unknown"
    if isinstance(value, datetime):
        return "timestamp" if value.tzinfo is None else "timestamptz"
    return _OTHER_TYPES.get(family(value), "unknown") if not isinstance(value, time) else _time_type(value)


def _time_type(value: time) -> str:
    return "time" if value.tzinfo is None else "timetz"


_OTHER_TYPES: Final = {
    "number": "float8",
    "datetime": "date",
    "uuid": "uuid",
    "json": "jsonb",
    "bytes": "bytea",
    "interval": "interval",
}


def inferred_type(value: object) -> str:
    """The column type a stored value stands for when nothing is declared (``int`` → ``int8``)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, Decimal):
        return "numeric"
    if isinstance(value, int) and not isinstance(value, bool):
        return "int8"
    return param_type(value)


def family(value: object) -> str:
    """Which values compare with which: ``number``, ``text``, ``bool``, ``datetime``, ``time``, …"""
    kind = _FAMILY_OF_TYPE.get(type(value))
    if kind is None:
        kind = _FAMILY_OF_TYPE[type(value)] = _family(value)
    return kind


_FAMILY_OF_TYPE: dict[type, str] = {}  # filled as types are met (a handful of entries)


def _family(value: object) -> str:  # noqa: PLR0911 - one branch per family
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, date):  # datetime too
        return "datetime"
    if isinstance(value, time):
        return "time"
    if isinstance(value, UUID):
        return "uuid"
    if isinstance(value, dict | list | tuple):
        return "json"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, timedelta):
        return "interval"
    return "other"


#: Families with an ordering (json has none here; PostgreSQL's jsonb ordering is not modelled).
ORDERABLE_FAMILIES: Final = frozenset(
    {"number", "text", "bool", "datetime", "time", "uuid", "bytes", "interval"}
)


# --------------------------------------------------------------------------------------------------
# Comparison


def _is_nan(value: Any) -> bool:
    """NaN (a float or a Decimal) is the only number unequal to itself; ``!=`` never raises for it."""
    return bool(value != value)  # noqa: PLR0124


def _sign(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _number_cmp(a: float | Decimal, b: float | Decimal) -> int:
    a_nan, b_nan = _is_nan(a), _is_nan(b)
    if a_nan or b_nan:  # PostgreSQL: NaN equals NaN and sorts above every other value
        return int(a_nan) - int(b_nan)
    if isinstance(a, float) or isinstance(b, float):
        try:  # PostgreSQL compares an integer or numeric with a float in float8
            return _sign(float(a), float(b))
        except OverflowError:
            pass
    return _sign(a, b)


def instant(value: date) -> datetime:
    """A date or timestamp as an aware UTC instant (naive means UTC, the session zone modelled)."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_PLAIN: Final = frozenset({int, str, bool, bytes})


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 for two non-NULL values of one orderable family (see :func:`family`)."""
    if type(a) is type(b) and type(a) in _PLAIN:  # the common case, without the family dispatch
        return int(a > b) - int(a < b)
    kind = family(a)
    if kind == "number":
        return _number_cmp(a, b)
    form = _COMPARED_AS.get(kind)
    if form is not None:
        return _sign(form(a), form(b))
    return _sign(a, b)


_COMPARED_AS: Final[dict[str, Callable[[Any], Any]]] = {
    "datetime": instant,
    "time": lambda value: value.replace(tzinfo=None),
    "uuid": lambda value: value.int,
    "bytes": bytes,
}


def equal(a: object, b: object) -> bool:
    """SQL ``=`` for two non-NULL values of one family (json compared as jsonb: structurally)."""
    if type(a) is type(b) and type(a) in _PLAIN:
        return a == b
    kind = family(a)
    if kind == "json":
        return _json_equal(a, b)
    if kind in ORDERABLE_FAMILIES:
        return compare(a, b) == 0
    return a == b


def _json_equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if family(a) == family(b) == "number":
        return bool(a == b)
    return type(a) is type(b) and a == b


def group_key(value: object) -> object:
    """A hashable key under which GROUP BY puts ``value`` (NULLs together, NaNs together)."""
    if value is None:
        return None
    kind = family(value)
    if kind == "number" and _is_nan(value):
        return ("number", "NaN")
    if kind == "json":
        return ("json", json.dumps(value, sort_keys=True, default=str))
    if kind == "datetime":
        return ("datetime", instant(value))  # type: ignore[arg-type]
    try:
        hash(value)
    except TypeError:
        return ("other", repr(value))
    return (kind, value)


def f32(number: float) -> float:
    """``number`` rounded to single precision (and widened back)."""
    return float(struct.unpack("f", struct.pack("f", number))[0])


def widen_float4(number: float) -> float:
    """A stored real as PostgreSQL widens it to double precision (``0.1`` → ``0.10000000149011612``)."""
    return f32(number) if math.isfinite(number) else number
