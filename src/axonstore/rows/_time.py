"""Dates and times from PostgreSQL's text output to RFC 3339, per the session's DateStyle and TimeZone.

Pure ``str -> str`` functions for :mod:`axonstore.rows` (whose docstring says which values become what):
the ISO fast paths (``_iso_date``, ``_iso_timestamp``, ``_iso_timestamptz``, ``_time``), the exact
datetime arithmetic behind them, and ``_NonIsoStyle`` for the ``SQL``, ``German`` and ``Postgres``
styles with zone abbreviations resolved through :mod:`zoneinfo`. Separate because calendar and zone rules
are a concern of their own; nothing here knows about psycopg or type OIDs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final, TypeAlias
from zoneinfo import ZoneInfo

# Fraction digits to append, by the length of ``HH:MM:SS[.f]`` (PostgreSQL trims trailing zeros): the
# result has 0, 3 or 6 digits, the fewest that are exact (`.5` → `.500`, `.1234` → `.123400`).
_PAD: Final = ("",) * 10 + ("00", "0", "", "00", "0", "")


def _fraction(clock: str) -> str:
    return clock + _PAD[len(clock)]


def _time(text: str) -> str:
    return text + _PAD[len(text)] if len(text) <= 15 else text


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
