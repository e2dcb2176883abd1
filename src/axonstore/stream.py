"""Bounded streaming: the four backpressure policies over any source of rows (ANCHOR §7.4).

Pure with respect to the database. :class:`PolicyGate` holds every decision — keep a row, hold it in a
window, or stop reading — so that the async and the sync drivers, and both backends, share one
implementation; :func:`drain_with_policy` (async) and :func:`drain_rows` (sync) pull rows through a
gate. Whoever owns the source closes it afterwards, which is what cancels the server's work when a
drain stops early.

Example::

    outcome = await drain_with_policy(rows, Backpressure.DROP_OLDEST, max_rows=10)
    outcome.rows      # the last 10 rows
    outcome.dropped   # how many older rows were let go
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias

from axonstore.errors import BadLimit, BadPolicy, Query

__all__ = [
    "DEFAULT_MAX_ROWS",
    "HOLD",
    "KEEP",
    "STOP",
    "Backpressure",
    "CancelSignal",
    "PolicyGate",
    "RowStreamOutcome",
    "adrain_chunks",
    "check_max_rows",
    "drain_chunks",
    "drain_rows",
    "drain_with_policy",
    "is_cancelled",
    "iter_with_policy",
    "stream_with_policy",
]

DEFAULT_MAX_ROWS = 10_000
#: The most rows one fetch of a server-side stream asks for.
STREAM_CHUNK: Final = 1_000

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
        if not isinstance(value, str):
            raise BadPolicy(f"<a {type(value).__name__}, not a policy name>")
        slug = value.strip().lower().replace("-", "_")
        for policy in cls:
            if policy.value == slug:
                return policy
        raise BadPolicy(value)


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


#: What a gate says of a row: yield it now, hold it (in a DROP_OLDEST window), or stop reading.
KEEP: Final = 0
HOLD: Final = 1
STOP: Final = 2


class PolicyGate:
    """The decisions of one bounded stream, row by row (ANCHOR §7.4), with the counters in ``outcome``.

    * PAUSE_UPSTREAM keeps the first ``max_rows`` rows, then stops and marks ``truncated``;
    * DROP_OLDEST holds a sliding window of the last ``max_rows`` rows (``held()`` at the end) and counts
      the rest in ``dropped``;
    * FAIL raises ``Query`` as soon as a row beyond ``max_rows`` arrives;
    * DEGRADE_QUALITY keeps every row.

    The cancel signal is checked as each row arrives (an empty stream never reports ``cancelled``).
    ``outcome.rows`` is left to the caller.
    """

    __slots__ = ("_bound", "_cancel", "_kept", "_policy", "_window", "outcome")

    def __init__(
        self,
        policy: Backpressure,
        max_rows: int = DEFAULT_MAX_ROWS,
        cancel: CancelSignal | None = None,
        outcome: RowStreamOutcome | None = None,
    ) -> None:
        self._policy = policy
        self._bound = max_rows
        self._cancel = cancel
        self._kept = 0
        # DROP_OLDEST's window drops its oldest row by itself (``maxlen``), a chunk at a time too.
        self._window: deque[Row] = deque(maxlen=max_rows if policy is Backpressure.DROP_OLDEST else None)
        self.outcome = outcome if outcome is not None else RowStreamOutcome()

    def offer(self, row: Row) -> int:
        """``KEEP``, ``HOLD`` or ``STOP`` for the row that just arrived."""
        outcome = self.outcome
        if self._cancel is not None and is_cancelled(self._cancel):
            outcome.cancelled = True
            return STOP
        outcome.total_seen += 1
        policy = self._policy
        if policy is Backpressure.DROP_OLDEST:
            window = self._window
            if len(window) == self._bound:
                outcome.dropped += 1  # the append below pushes the oldest row out
            window.append(row)
            return HOLD
        if policy is not Backpressure.DEGRADE_QUALITY and self._kept >= self._bound:
            if policy is Backpressure.FAIL:
                raise Query(
                    "retrieve",
                    f"result set exceeds the {self._bound}-row stream bound (backpressure policy: fail) — "
                    "narrow the filter, add a limit, or raise max_rows",
                )
            outcome.truncated = True
            return STOP
        self._kept += 1
        return KEEP

    def offer_chunk(self, rows: list[Row], kept: list[Row]) -> bool:
        """:meth:`offer` for each of ``rows`` in order, the rows to keep appended to ``kept``; ``False``
        once the stream must stop. Without a cancel signal (checked before every row, so it keeps
        :meth:`offer`'s exactness) the chunk is decided at once: a chunk of a thousand rows costs a few
        list operations, not a thousand calls."""
        if self._cancel is not None:
            for row in rows:
                verdict = self.offer(row)
                if verdict == KEEP:
                    kept.append(row)
                elif verdict == STOP:
                    return False
            return True
        outcome = self.outcome
        policy = self._policy
        count = len(rows)
        if policy is Backpressure.DROP_OLDEST:
            outcome.total_seen += count
            outcome.dropped += max(0, len(self._window) + count - self._bound)
            self._window.extend(rows)
            return True
        room = count if policy is Backpressure.DEGRADE_QUALITY else self._bound - self._kept
        if count <= room:
            outcome.total_seen += count
            self._kept += count
            kept.extend(rows)
            return True
        kept.extend(rows[:room])  # the rows up to the bound, then the one past it stops the stream
        outcome.total_seen += room
        self._kept += room
        return self.offer(rows[room]) != STOP

    @property
    def fetch_size(self) -> int:
        """Rows per fetch of the server-side stream: enough to amortise a round trip, never far past
        what the policy will keep (DEGRADE_QUALITY and DROP_OLDEST read everything)."""
        if self._policy is Backpressure.DEGRADE_QUALITY or self._policy is Backpressure.DROP_OLDEST:
            return STREAM_CHUNK
        return max(1, min(self._bound + 1, STREAM_CHUNK))

    def held(self) -> list[Row]:
        """The DROP_OLDEST window, to emit once the source is exhausted (empty for other policies)."""
        return list(self._window)

    def finish(self, kept: list[Row]) -> RowStreamOutcome:
        """The outcome of a drain that kept ``kept`` (the window's rows for DROP_OLDEST)."""
        self.outcome.rows = self.held() if self._policy is Backpressure.DROP_OLDEST else kept
        return self.outcome


def drain_rows(source: Iterable[Row], gate: PolicyGate) -> RowStreamOutcome:
    """Pull rows from ``source`` through ``gate`` into a :class:`RowStreamOutcome` (the sync drain)."""
    kept: list[Row] = []
    offer = gate.offer
    for row in source:
        verdict = offer(row)
        if verdict == KEEP:
            kept.append(row)
        elif verdict == STOP:
            break
    return gate.finish(kept)


async def drain_with_policy(source: AsyncIterator[Row], gate: PolicyGate) -> RowStreamOutcome:
    """:func:`drain_rows` for an async source (the async drain)."""
    kept: list[Row] = []
    offer = gate.offer
    async for row in source:
        verdict = offer(row)
        if verdict == KEEP:
            kept.append(row)
        elif verdict == STOP:
            break
    return gate.finish(kept)


async def adrain_chunks(source: AsyncIterator[list[Row]], gate: PolicyGate) -> RowStreamOutcome:
    """:func:`drain_with_policy` for a source of row chunks (the PostgreSQL backend's streams)."""
    kept: list[Row] = []
    offer_chunk = gate.offer_chunk
    async for chunk in source:
        if not offer_chunk(chunk, kept):
            break
    return gate.finish(kept)


def drain_chunks(source: Iterable[list[Row]], gate: PolicyGate) -> RowStreamOutcome:
    """:func:`adrain_chunks` for a synchronous source (the sync backend's streams)."""
    kept: list[Row] = []
    offer_chunk = gate.offer_chunk
    for chunk in source:
        if not offer_chunk(chunk, kept):
            break
    return gate.finish(kept)


async def stream_with_policy(
    source: AsyncIterator[Row],
    policy: Backpressure,
    max_rows: int = DEFAULT_MAX_ROWS,
    cancel: CancelSignal | None = None,
    outcome: RowStreamOutcome | None = None,
) -> AsyncGenerator[Row, None]:
    """Yield the rows ``policy`` keeps, as early as it can know them; counters go into ``outcome``.

    PAUSE_UPSTREAM, FAIL and DEGRADE_QUALITY yield each row as it arrives; DROP_OLDEST can only know
    its tail window at the end, so it yields that window once the source is exhausted.
    """
    gate = PolicyGate(policy, max_rows, cancel, outcome)
    async for row in source:
        verdict = gate.offer(row)
        if verdict == STOP:
            break
        if verdict == KEEP:
            yield row
    for row in gate.held():
        yield row


def iter_with_policy(
    source: Iterator[Row],
    policy: Backpressure,
    max_rows: int = DEFAULT_MAX_ROWS,
    cancel: CancelSignal | None = None,
    outcome: RowStreamOutcome | None = None,
) -> Iterator[Row]:
    """:func:`stream_with_policy` for a synchronous source."""
    gate = PolicyGate(policy, max_rows, cancel, outcome)
    for row in source:
        verdict = gate.offer(row)
        if verdict == STOP:
            break
        if verdict == KEEP:
            yield row
    yield from gate.held()
