"""Bounded streaming: the four backpressure policies over any async source of rows (ANCHOR §7.4).

Pure with respect to the database: :func:`drain_with_policy` pulls from an async iterator and decides
what to keep. Whoever owns the iterator closes it afterwards, which is what cancels the server's work
when a drain stops early.

Example::

    outcome = await drain_with_policy(rows, Backpressure.DROP_OLDEST, max_rows=10)
    outcome.rows      # the last 10 rows
    outcome.dropped   # how many older rows were let go
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from axonstore.errors import BadLimit, BadPolicy, Query

__all__ = [
    "DEFAULT_MAX_ROWS",
    "Backpressure",
    "CancelSignal",
    "RowStreamOutcome",
    "check_max_rows",
    "drain_with_policy",
    "is_cancelled",
    "stream_with_policy",
]

DEFAULT_MAX_ROWS = 10_000

Row: TypeAlias = dict[str, Any]


class Backpressure(enum.Enum):
    """What a bounded stream does when more rows arrive than ``max_rows``."""

    #: Keep the first ``max_rows`` rows, stop reading, and report ``truncated``.
    PAUSE_UPSTREAM = "pause_upstream"
    #: Keep a sliding window of the last ``max_rows`` rows; count the rest in ``dropped``.
    DROP_OLDEST = "drop_oldest"
    #: Raise ``Query`` as soon as a row beyond ``max_rows`` arrives.
    FAIL = "fail"
    #: Keep every row (no bound): the identity "degrader".
    DEGRADE_QUALITY = "degrade_quality"

    @classmethod
    def parse(cls, value: Backpressure | str) -> Backpressure:
        """A policy from itself or its slug (``"drop_oldest"``, case-insensitive); ``BadPolicy`` else."""
        if isinstance(value, Backpressure):
            return value
        slug = str(value).strip().lower().replace("-", "_")
        for policy in cls:
            if policy.value == slug:
                return policy
        raise BadPolicy(str(value))


class _HasIsSet(Protocol):
    def is_set(self) -> bool: ...


#: A cancellation signal: an ``asyncio.Event`` / ``threading.Event``, or a callable returning True.
CancelSignal: TypeAlias = _HasIsSet | Callable[[], bool]


def is_cancelled(cancel: CancelSignal | None) -> bool:
    """Whether ``cancel`` (an event or a callable) says stop."""
    if cancel is None:
        return False
    if callable(cancel):
        return bool(cancel())
    return cancel.is_set()


@dataclass(slots=True)
class RowStreamOutcome:
    """What a bounded drain kept, and what it tells the caller about the rest."""

    rows: list[Row] = field(default_factory=list)
    total_seen: int = 0
    dropped: int = 0
    #: True when rows were left unread (PAUSE_UPSTREAM stopped at ``max_rows``).
    truncated: bool = False
    cancelled: bool = False


def check_max_rows(max_rows: int) -> int:
    """``max_rows`` must be a non-negative integer (a typed error before any I/O otherwise)."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise BadLimit(f"`max_rows` must be a non-negative integer, got {max_rows!r}")
    return max_rows


def _over_bound(policy: Backpressure, bound: int, kept: int, outcome: RowStreamOutcome) -> bool:
    """For PAUSE_UPSTREAM, FAIL and DEGRADE_QUALITY, with ``kept`` rows already kept: is the next row one
    too many? PAUSE_UPSTREAM marks the outcome truncated; FAIL raises."""
    if policy is Backpressure.DEGRADE_QUALITY or kept < bound:
        return False
    if policy is Backpressure.FAIL:
        raise Query(
            "retrieve",
            f"result set exceeds the {bound}-row stream bound (backpressure policy: fail) — narrow the "
            "filter, add a limit, or raise max_rows",
        )
    outcome.truncated = True
    return True


async def stream_with_policy(
    source: AsyncIterator[Row],
    policy: Backpressure,
    max_rows: int = DEFAULT_MAX_ROWS,
    cancel: CancelSignal | None = None,
    outcome: RowStreamOutcome | None = None,
) -> AsyncGenerator[Row, None]:
    """Yield the rows ``policy`` keeps, as early as it can know them; counters go into ``outcome``.

    PAUSE_UPSTREAM, FAIL and DEGRADE_QUALITY yield each row as it arrives; DROP_OLDEST can only know
    its tail window at the end, so it yields that window once the source is exhausted. The cancel
    check runs after each row is pulled (an empty stream never reports ``cancelled``); row errors
    propagate, so rows are never silently skipped. ``outcome.rows`` is left empty.
    """
    counters = outcome if outcome is not None else RowStreamOutcome()
    window: deque[Row] = deque()
    async for row in source:
        if is_cancelled(cancel):
            counters.cancelled = True
            break
        counters.total_seen += 1
        if policy is Backpressure.DROP_OLDEST:
            _slide(window, row, max_rows, counters)
        elif _over_bound(policy, max_rows, counters.total_seen - 1, counters):
            break
        else:
            yield row
    for row in window:
        yield row


def _slide(window: deque[Row], row: Row, bound: int, outcome: RowStreamOutcome) -> None:
    window.append(row)
    if len(window) > bound:
        window.popleft()
        outcome.dropped += 1


async def drain_with_policy(
    source: AsyncIterator[Row],
    policy: Backpressure,
    max_rows: int = DEFAULT_MAX_ROWS,
    cancel: CancelSignal | None = None,
) -> RowStreamOutcome:
    """Pull rows from ``source`` under ``policy`` into a :class:`RowStreamOutcome` (ANCHOR §7.4).

    The same decisions as :func:`stream_with_policy`, in one loop with no generator in between: this
    is every retrieve's path, and a generator layer costs about a microsecond per row.
    """
    outcome = RowStreamOutcome()
    if policy is Backpressure.DROP_OLDEST:
        window: deque[Row] = deque()
        async for row in source:
            if cancel is not None and is_cancelled(cancel):
                outcome.cancelled = True
                break
            outcome.total_seen += 1
            _slide(window, row, max_rows, outcome)
        outcome.rows = list(window)
        return outcome
    kept = outcome.rows
    async for row in source:
        if cancel is not None and is_cancelled(cancel):
            outcome.cancelled = True
            break
        outcome.total_seen += 1
        if _over_bound(policy, max_rows, len(kept), outcome):
            break
        kept.append(row)
    return outcome
