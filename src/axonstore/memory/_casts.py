"""Casts of the in-memory backend: ``$1::type`` as PostgreSQL applies it to a parameter.

:func:`coerce` casts a value of the Python type psycopg would send (an ``int`` is ``smallint`` /
``integer`` / ``bigint`` / ``numeric`` by magnitude, a ``str`` is an untyped literal) with PostgreSQL's
accepted spellings, rounding and SQLSTATEs, so that an in-memory store and a PostgreSQL one agree on
which writes and filters are valid. Pure; failures are :class:`~._memory_values.CastError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from axonstore._json import pg_text
from axonstore.memory._values import INT_RANGES, CastError, f32, family, instant, param_type, sql_name

__all__ = ["coerce", "coerce_literal"]

_FLOAT4_MAX: Final = 3.4028234663852886e38


def coerce(value: object, pg_type: str) -> object:
    """``value`` cast to ``pg_type`` as PostgreSQL casts a parameter; a type not modelled keeps it."""
    if value is None:
        return None
    caster = _CASTERS.get(pg_type)
    return value if caster is None else caster(value, pg_type)


def _cannot(value: object, pg_type: str) -> CastError:
    source = sql_name(param_type(value))
    return CastError("42846", f"cannot cast type {source} to {sql_name(pg_type)}")


def _syntax(pg_type: str, text: str, sqlstate: str = "22P02") -> CastError:
    return CastError(sqlstate, f'invalid input syntax for type {sql_name(pg_type)}: "{text}"')


def _in_range(number: int, pg_type: str, shown: object = None) -> int:
    bound = INT_RANGES[pg_type]
    if -bound <= number < bound:
        return number
    if shown is None:
        raise CastError("22003", f"{sql_name(pg_type)} out of range")
    raise CastError("22003", f'value "{shown}" is out of range for type {sql_name(pg_type)}')


_PG_SPACE: Final = " \t\n\r\v\f"
_INT_TEXT: Final = re.compile(
    r"([+-]?)(?:0[xX]((?:_?[0-9a-fA-F])+)|0[oO]((?:_?[0-7])+)|0[bB]((?:_?[01])+)|(\d(?:_?\d)*))"
)


def _parse_int_text(text: str) -> int | None:
    """PostgreSQL 16+ integer input: a sign, decimal/hex/octal/binary digits, ``_`` between digits."""
    match = _INT_TEXT.fullmatch(text.strip(_PG_SPACE))
    if match is None:
        return None
    sign, hexa, octal, binary, decimal = match.groups()
    digits, base = next((d, b) for d, b in ((hexa, 16), (octal, 8), (binary, 2), (decimal, 10)) if d)
    number = int(digits.lstrip("_").replace("_", ""), base)
    return -number if sign == "-" else number


def _to_int(value: object, pg_type: str) -> int:
    if isinstance(value, bool):
        if pg_type != "int4":  # PostgreSQL casts boolean to integer only
            raise _cannot(value, pg_type)
        return int(value)
    if isinstance(value, int):
        return _in_range(value, pg_type)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CastError("22003", f"{sql_name(pg_type)} out of range")
        return _in_range(round(value), pg_type)  # rint: halves to even
    if isinstance(value, Decimal):
        if not value.is_finite():
            what = "NaN" if value.is_nan() else "infinity"
            raise CastError("0A000", f"cannot convert {what} to {sql_name(pg_type)}")
        return _in_range(int(value.to_integral_value(ROUND_HALF_UP)), pg_type)  # halves away from 0
    if isinstance(value, str):
        number = _parse_int_text(value)
        if number is None:
            raise _syntax(pg_type, value)
        return _in_range(number, pg_type, value)
    raise _cannot(value, pg_type)


_FLOAT_TEXT: Final = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan|0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?)",
    re.IGNORECASE,
)


def _parse_float_text(text: str, pg_type: str) -> float:
    body = text.strip(_PG_SPACE)
    if _FLOAT_TEXT.fullmatch(body) is None:
        raise _syntax(pg_type, text)
    lowered = body.lower().lstrip("+-")
    number = float.fromhex(body) if lowered.startswith("0x") else float(body)
    named = lowered in ("inf", "infinity", "nan")
    mantissa = re.split(r"[eEpP]", lowered)[0]
    nonzero = any(ch not in "0.x" for ch in mantissa)
    if not named and (math.isinf(number) or (number == 0 and nonzero)):
        raise CastError("22003", f'"{text}" is out of range for type {sql_name(pg_type)}')
    return number


def _to_float(value: object, pg_type: str) -> float:
    if isinstance(value, bool) or family(value) not in ("number", "text"):
        raise _cannot(value, pg_type)
    if isinstance(value, str):
        number = _parse_float_text(value, pg_type)
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise CastError("22003", "value out of range: overflow") from None
        if math.isinf(number) and not (isinstance(value, Decimal) and value.is_infinite()):
            raise CastError("22003", "value out of range: overflow")
    return _float4(number) if pg_type == "float4" else number


def _float4(number: float) -> float:
    """A real: rounded to single precision, kept as the shortest decimal that reads back the same."""
    if not math.isfinite(number):
        return number
    if abs(number) > _FLOAT4_MAX:
        raise CastError("22003", "value out of range: overflow")
    single = f32(number)
    if single == 0 and number != 0:
        raise CastError("22003", "value out of range: underflow")
    for digits in range(1, 10):
        candidate = float(f"{single:.{digits}g}")
        if f32(candidate) == single:
            return candidate
    return single


_NUMERIC_TEXT: Final = re.compile(
    r"[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d+)?"
)
_NUMERIC_NAMES: Final = {
    "nan": "NaN",
    "inf": "Infinity",
    "+inf": "Infinity",
    "infinity": "Infinity",
    "+infinity": "Infinity",
    "-inf": "-Infinity",
    "-infinity": "-Infinity",
}


def _parse_numeric_text(text: str) -> Decimal:
    body = text.strip(_PG_SPACE)
    named = _NUMERIC_NAMES.get(body.lower())
    if named is not None:
        return Decimal(named)
    if _NUMERIC_TEXT.fullmatch(body):
        return _no_negative_zero(Decimal(body.replace("_", "")))
    number = _parse_int_text(body)  # 0x…, 0o…, 0b… integers
    if number is None:
        raise _syntax("numeric", text)
    return Decimal(number)


def _no_negative_zero(number: Decimal) -> Decimal:
    return number.copy_abs() if number.is_zero() else number


def _to_numeric(value: object, pg_type: str) -> Decimal:
    if isinstance(value, bool):
        raise _cannot(value, pg_type)
    if isinstance(value, Decimal):
        return _no_negative_zero(value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if math.isnan(value):
            return Decimal("NaN")
        if math.isinf(value):
            return Decimal("Infinity") if value > 0 else Decimal("-Infinity")
        return _no_negative_zero(Decimal(f"{value:.15g}"))  # float8 → numeric keeps 15 digits
    if isinstance(value, str):
        return _parse_numeric_text(value)
    raise _cannot(value, pg_type)


_TRUE_WORDS: Final = ("true", "yes", "on")
_FALSE_WORDS: Final = ("false", "no", "off")


def _parse_bool_text(text: str) -> bool | None:
    """``boolin``: a unique prefix of true/yes/on/false/no/off (``o`` alone is ambiguous), 1 or 0."""
    word = text.strip(_PG_SPACE).lower()
    if word in ("1", "0"):
        return word == "1"
    if not word or word == "o":
        return None
    if any(full.startswith(word) for full in _TRUE_WORDS):
        return True
    if any(full.startswith(word) for full in _FALSE_WORDS):
        return False
    return None


def _to_bool(value: object, pg_type: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and param_type(value) == "int4":  # only integer casts to boolean
        return value != 0
    if isinstance(value, str):
        parsed = _parse_bool_text(value)
        if parsed is None:
            raise _syntax(pg_type, value)
        return parsed
    raise _cannot(value, pg_type)


def _to_text(value: object, pg_type: str) -> str:
    del pg_type
    return pg_text(value)


_UUID_TEXT: Final = re.compile(r"[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}")


def _to_uuid(value: object, pg_type: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise _cannot(value, pg_type)
    body = value[1:-1] if value.startswith("{") and value.endswith("}") else value
    if _UUID_TEXT.fullmatch(body) is None:
        raise _syntax(pg_type, value)
    return UUID(hex=body.replace("-", ""))


# Dates and times: ISO 8601 and PostgreSQL's ISO output, with a numeric offset, Z/UTC or a zone name.
_DATE_PART: Final = r"(?P<y>\d{4,})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<y8>\d{4})(?P<m8>\d\d)(?P<d8>\d\d)"
_TIME_PART: Final = r"(?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.(?P<f>\d+))?)?"
_ZONE_PART: Final = (
    r"(?P<zone>[zZ]|UTC|GMT|[+-]\d{1,2}(?::?\d{2}(?::?\d{2})?)?|[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+)"
)
_DATETIME: Final = re.compile(rf"(?:{_DATE_PART})(?:(?:[tT]|\s+)(?:{_TIME_PART}))?\s*{_ZONE_PART}?")
_TIME_ONLY: Final = re.compile(rf"(?:{_TIME_PART})\s*{_ZONE_PART}?")
_SPECIAL: Final = ("now", "today", "tomorrow", "yesterday", "epoch")


def _special(word: str) -> datetime | None:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    table = {
        "now": now,
        "today": midnight,
        "tomorrow": midnight + timedelta(days=1),
        "yesterday": midnight - timedelta(days=1),
        "epoch": datetime(1970, 1, 1, tzinfo=UTC),
    }
    return table.get(word)


def _micro(fraction: str | None) -> int:
    """A fraction of a second in microseconds, rounded half to even as PostgreSQL does."""
    if not fraction:
        return 0
    scaled = Decimal("0." + fraction) * 1_000_000
    return int(scaled.to_integral_value())


def _zone(text: str | None, pg_type: str, raw: str) -> timedelta | ZoneInfo | None:
    if text is None:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    if text[0] in "+-":
        body = text[1:]
        if ":" in body:
            fields = [int(part) for part in body.split(":")]
        else:  # hh, hhmm or hhmmss (the hours may be one digit)
            cut = len(body) % 2 or 2
            fields = [int(body[:cut])] + [int(body[i : i + 2]) for i in range(cut, len(body), 2)]
        hours, minutes, seconds = [*fields, 0, 0][:3]
        delta = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return -delta if text[0] == "-" else delta
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise _syntax(pg_type, raw, "22023") from None


def _parse_datetime(text: str, pg_type: str) -> datetime:
    """``text`` as an aware datetime (no zone given: UTC, the session zone this backend models)."""
    body = text.strip(_PG_SPACE)
    special = _special(body.lower())
    if special is not None:
        return special
    if body.lower().lstrip("+-") == "infinity":
        raise CastError("22008", f'"{text}" cannot be represented by the in-memory backend')
    match = _DATETIME.fullmatch(body)
    if match is None:
        raise _syntax(pg_type, text, "22007")
    parts = match.groupdict()
    try:
        day = date(
            int(parts["y"] or parts["y8"]), int(parts["m"] or parts["m8"]), int(parts["d"] or parts["d8"])
        )
        clock = _parse_clock(parts)
        naive = datetime.combine(day, time()) + clock
    except (ValueError, OverflowError):
        raise CastError("22008", f'date/time field value out of range: "{text}"') from None
    zone = _zone(parts["zone"], pg_type, text)
    if isinstance(zone, ZoneInfo):
        return naive.replace(tzinfo=zone).astimezone(UTC)
    return (naive - (zone or timedelta(0))).replace(tzinfo=UTC)


def _parse_clock(parts: dict[str, str | None]) -> timedelta:
    if parts["H"] is None:
        return timedelta(0)
    hour, minute, second = int(parts["H"]), int(parts["M"] or 0), int(parts["S"] or 0)
    micro = _micro(parts["f"])
    if hour > 24 or minute > 59 or second > 60 or (hour == 24 and (minute or second or micro)):
        raise ValueError("clock out of range")  # PostgreSQL accepts 24:00:00 (the next midnight)
    return timedelta(hours=hour, minutes=minute, seconds=second, microseconds=micro)


def _to_timestamptz(value: object, pg_type: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return instant(value)
    if isinstance(value, str):
        return _parse_datetime(value, pg_type)
    raise _cannot(value, pg_type)


def _to_timestamp(value: object, pg_type: str) -> datetime:
    if isinstance(value, str):  # a zone written in the text is ignored, as PostgreSQL does
        body = value.strip(_PG_SPACE)
        match = _DATETIME.fullmatch(body)
        if match is not None and match.group("zone"):
            body = body[: match.start("zone")].rstrip()
        return _parse_datetime(body if match is not None else value, pg_type).replace(tzinfo=None)
    return _to_timestamptz(value, pg_type).replace(tzinfo=None)


def _to_date(value: object, pg_type: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _to_timestamp(value, pg_type).date()


def _to_time(value: object, pg_type: str) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, datetime):
        return _to_timestamp(value, pg_type).time()
    if not isinstance(value, str):
        raise _cannot(value, pg_type)
    match = _TIME_ONLY.fullmatch(value.strip(_PG_SPACE))
    if match is None:
        return _to_timestamp(value, pg_type).time()
    try:
        clock = _parse_clock(match.groupdict())
    except ValueError:
        raise CastError("22008", f'date/time field value out of range: "{value}"') from None
    if clock >= timedelta(days=1):
        raise CastError("22008", f'"{value}" (24:00:00) cannot be represented by this backend')
    return (datetime.min + clock).time()


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _to_json_value(value: object, pg_type: str) -> object:
    try:
        if isinstance(value, str):
            return json.loads(value, parse_constant=_reject_constant)
        if isinstance(value, dict | list | tuple):  # a fresh copy, checked to be JSON
            return json.loads(json.dumps(value, allow_nan=False))
    except (ValueError, TypeError) as exc:
        raise CastError("22P02", f"invalid input syntax for type {sql_name(pg_type)}: {exc}") from None
    raise _cannot(value, pg_type)


_BYTEA_ESCAPE: Final = re.compile(r"\\\\|\\[0-3][0-7]{2}|\\")


def _to_bytea(value: object, pg_type: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, str):
        raise _cannot(value, pg_type)
    if value.startswith("\\x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise _syntax(pg_type, value) from None
    out = bytearray()
    position = 0
    for match in _BYTEA_ESCAPE.finditer(value):
        out += value[position : match.start()].encode()
        token = match.group()
        if token == "\\":
            raise CastError("22P02", "invalid input syntax for type bytea")
        out += b"\\" if token == "\\\\" else bytes([int(token[1:], 8)])
        position = match.end()
    out += value[position:].encode()
    return bytes(out)


_CASTERS: Final[dict[str, Callable[[Any, str], object]]] = {
    "int2": _to_int,
    "int4": _to_int,
    "int8": _to_int,
    "float4": _to_float,
    "float8": _to_float,
    "numeric": _to_numeric,
    "bool": _to_bool,
    "text": _to_text,
    "varchar": _to_text,
    "bpchar": _to_text,
    "name": _to_text,
    "uuid": _to_uuid,
    "timestamptz": _to_timestamptz,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "time": _to_time,
    "json": _to_json_value,
    "jsonb": _to_json_value,
    "bytea": _to_bytea,
}


def coerce_literal(value: str | int | float | bool, pg_type: str) -> object:
    """:func:`coerce` for a filter literal, cached (a filter repeats its literals) — except the words
    whose value is the current time (``'now'``, ``'today'`` …), which are read afresh."""
    if isinstance(value, str) and value.strip(_PG_SPACE).lower() in _SPECIAL:
        return coerce(value, pg_type)
    return _coerce_cached(value, pg_type)


@lru_cache(maxsize=4096, typed=True)
def _coerce_cached(value: str | int | float | bool, pg_type: str) -> object:
    return coerce(value, pg_type)
