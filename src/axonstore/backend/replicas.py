"""Read routing over replicas (CONTRACT §13): which endpoint serves a read, decided without I/O.

axonstore never replicates: PostgreSQL's streaming replication (or Patroni, Aurora, Neon, Supabase)
does. This module decides, from what the health probes last saw, where a read goes:

* ``primary`` — always the primary;
* ``replica`` — a healthy reader whose lag ≤ ``max_lag_ms``, round-robin; none → the primary;
* ``session`` — as ``replica``, but after a write in the same ``contextvars`` context a reader serves
  only once it has replayed that write's commit LSN (read-your-writes, never a stale read).

The I/O (reader pools, the probe loop, the LSN read after ``COMMIT``) is in ``aio.py``/``sync.py``;
everything here is plain data and arithmetic, shared by both flavours.

LSN tokens are PostgreSQL's own text form (``"16/B374D848"``): ``write_token()`` returns one and
``consistent_with=`` accepts one, so a token can travel in a cookie or a task queue.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, Literal, LiteralString

from axonstore.errors import BadArgument

__all__ = [
    "DEFAULT_MAX_LAG_MS",
    "PRIMARY_PROBE_SQL",
    "PROBE_CONNECT_TIMEOUT",
    "PROBE_INTERVAL",
    "PROBE_STALE_AFTER",
    "READER_ACQUIRE_TIMEOUT",
    "READER_PROBE_SQL",
    "READ_MODES",
    "UNKNOWN_LSN",
    "WRITE_LSN_SQL",
    "Endpoint",
    "ReadMode",
    "Router",
    "check_max_lag",
    "check_reads",
    "demanded_lsn",
    "format_lsn",
    "lag_ms",
    "note_write",
    "parse_lsn",
    "parse_token",
    "required_lsn",
    "requiring",
    "written_lsn",
]

ReadMode = Literal["primary", "replica", "session"]
READ_MODES: Final[tuple[ReadMode, ...]] = ("primary", "replica", "session")
DEFAULT_MAX_LAG_MS: Final = 5000
#: Seconds between two probe rounds (each endpoint once per round, on its own connection).
PROBE_INTERVAL: Final = 1.0
#: A reader whose last good probe is older than this is out (the probe loop may be stuck on a server
#: that stopped answering): its lag is not known any more.
PROBE_STALE_AFTER: Final = 5.0
#: Seconds a probe may take to connect before the endpoint counts as down.
PROBE_CONNECT_TIMEOUT: Final = 2
#: Seconds a read waits for a reader's connection before it goes to the primary instead: short, so
#: that a reader that just died (or is saturated) costs a read this much at most, not the acquire timeout.
READER_ACQUIRE_TIMEOUT: Final = 1.0
#: The commit LSN of the write that just committed: read *after* ``COMMIT`` (before it, the commit
#: record is not written yet). Any connection to the primary will do: LSNs are server-global.
WRITE_LSN_SQL: Final[LiteralString] = "SELECT pg_catalog.pg_current_wal_insert_lsn()::text"
#: The primary's position (NULL when the "primary" is in recovery: not a primary at all).
PRIMARY_PROBE_SQL: Final[LiteralString] = (
    "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END"
)
#: A reader's state: in recovery?, what it has replayed (its own position when not a standby), and the
#: age of the last transaction it replayed in ms (grows while the primary is idle: only a fallback).
READER_PROBE_SQL: Final[LiteralString] = (
    "SELECT pg_catalog.pg_is_in_recovery(), "
    "CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text "
    "ELSE pg_catalog.pg_current_wal_lsn()::text END, "
    "(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.pg_last_xact_replay_timestamp())"
    " * 1000)::float8"
)
#: The session token when a write committed but its LSN could not be read (the primary went away
#: right after COMMIT): no reader can prove it has the write, so reads go to the primary until the
#: context's next write replaces it.
UNKNOWN_LSN: Final = (1 << 64) - 1

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
_TOKEN_EXPECTED = "a token from write_token() (an LSN like '16/B374D848') or None"


# --------------------------------------------------------------------------------------------------
# Arguments


def check_reads(reads: object) -> ReadMode:
    """``reads`` as a mode (trimmed, any case); ``BadArgument`` for anything else."""
    if isinstance(reads, str):
        slug = reads.strip().lower()
        for mode in READ_MODES:
            if slug == mode:
                return mode
    raise BadArgument("reads", '"primary", "replica" or "session"', repr(reads)[:60])


def check_max_lag(max_lag_ms: object) -> int:
    """``max_lag_ms`` as an integer ≥ 0; ``BadArgument`` for anything else."""
    if type(max_lag_ms) is not int or max_lag_ms < 0:
        raise BadArgument("max_lag_ms", "an integer ≥ 0 (milliseconds)", repr(max_lag_ms)[:60])
    return max_lag_ms


# --------------------------------------------------------------------------------------------------
# LSNs and the session's tokens


def parse_lsn(text: str) -> int:
    """PostgreSQL's ``X/Y`` LSN text → an integer (``ValueError`` when it is not one)."""
    match = _LSN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an LSN: {text[:40]!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(lsn: int) -> str:
    """An integer LSN as PostgreSQL writes it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_token(token: object) -> int | None:
    """A ``consistent_with=`` argument → an LSN (``None`` stays ``None``); ``BadArgument`` otherwise."""
    if token is None:
        return None
    if isinstance(token, str):
        with contextlib.suppress(ValueError):
            return parse_lsn(token)
    raise BadArgument("consistent_with", _TOKEN_EXPECTED, repr(token)[:60])


# Per context (an asyncio task and the tasks it starts, or a thread): the commit LSN of its last write,
# by database (the primary's DSN without password). LSNs of different clusters never compare.
_WRITTEN: ContextVar[Mapping[str, int] | None] = ContextVar("axonstore_written", default=None)
# A ``consistent_with=`` token for the read verb running in this context (set around the verb).
_CONSISTENT: ContextVar[int | None] = ContextVar("axonstore_consistent_with", default=None)


def note_write(cluster: str, lsn: int) -> None:
    """Remember ``lsn`` as this context's last write on ``cluster``.

    It replaces the previous token rather than taking the maximum: a context's writes are sequential,
    so a later capture is never behind an earlier one on the same timeline — and after a failover the
    old timeline's positions mean nothing, nor does an ``UNKNOWN_LSN`` a later write has covered.
    """
    current = _WRITTEN.get() or {}
    _WRITTEN.set({**current, cluster: lsn})


def written_lsn(cluster: str) -> int | None:
    """This context's last write on ``cluster`` (``None``: none yet)."""
    current = _WRITTEN.get()
    return None if current is None else current.get(cluster)


@contextlib.contextmanager
def requiring(lsn: int | None) -> Iterator[None]:
    """Within the block, reads of this context need ``lsn`` replayed (``None``: no extra demand)."""
    if lsn is None:
        yield
        return
    reset = _CONSISTENT.set(lsn)
    try:
        yield
    finally:
        _CONSISTENT.reset(reset)


def demanded_lsn() -> int | None:
    """The ``consistent_with=`` token of the read verb running in this context, if any: a stream made
    inside :func:`requiring` keeps it, since its body runs later, in whatever context iterates it."""
    return _CONSISTENT.get()


def required_lsn(cluster: str, mode: ReadMode, explicit: int | None = None) -> int | None:
    """What a reader must have replayed to serve this context's read: the largest of the explicit
    token, the verb's ``consistent_with=`` and — in ``session`` mode — the context's last write."""
    demands = [explicit, _CONSISTENT.get()]
    if mode == "session":
        demands.append(written_lsn(cluster))
    known = [lsn for lsn in demands if lsn is not None]
    return max(known) if known else None


# --------------------------------------------------------------------------------------------------
# Health and lag


def lag_ms(
    in_recovery: bool, replay_lsn: int | None, replay_age_ms: float | None, primary_lsn: int | None
) -> float | None:
    """How far behind a reader is, in ms (``None``: unknown, so beyond any bound).

    Judged by LSN first: a reader that has replayed what the primary had just before the probe is not
    behind at all, however long ago the last transaction was (time-based lag grows while the primary is
    idle). Otherwise the age of the last replayed transaction bounds it from above. A reader that is not
    in recovery (a promoted standby, an endpoint that is itself a primary) is current by definition.
    """
    if not in_recovery:
        return 0.0
    if replay_lsn is not None and primary_lsn is not None and replay_lsn >= primary_lsn:
        return 0.0
    if replay_age_ms is None:
        return None
    return max(replay_age_ms, 0.0)


@dataclass
class Endpoint:
    """What the router knows about one endpoint (the primary, or a reader)."""

    masked: str
    healthy: bool = False  # a reader is out until its first probe succeeds
    in_recovery: bool = False
    replay_lsn: int | None = None
    lag_ms: float | None = None
    reads: int = 0
    fallbacks: int = 0
    seen_at: float = 0.0  # time.monotonic() of the last good probe

    @property
    def current(self) -> bool:
        """Healthy at a probe recent enough to trust (``PROBE_STALE_AFTER``)."""
        return self.healthy and time.monotonic() - self.seen_at <= PROBE_STALE_AFTER

    def stats(self) -> dict[str, Any]:
        """The contract's ``routing_stats()`` entry."""
        lag = None if self.lag_ms is None else round(self.lag_ms, 1)
        return {"reads": self.reads, "fallbacks": self.fallbacks, "lag_ms": lag, "healthy": self.current}


def _unique(names: Sequence[str]) -> list[str]:
    """Masked DSNs as dictionary keys: a repeated one gets `` #2``, `` #3``…"""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


@dataclass
class Router:
    """The routing state of one backend: its endpoints' health and the round-robin position.

    Plain attribute updates only: the probe (a task or a daemon thread) and the callers share it, and
    a read that routes on a probe result one round old is still correct (see :meth:`pick`).
    """

    mode: ReadMode
    max_lag_ms: int
    primary: Endpoint
    readers: list[Endpoint] = field(default_factory=list)
    primary_lsn: int | None = None
    _next: int = 0

    @classmethod
    def build(cls, primary: str, readers: Sequence[str], mode: ReadMode, max_lag_ms: int) -> Router:
        """A router over masked DSNs; the primary counts as healthy until a probe says otherwise."""
        names = _unique([primary, *readers])
        return cls(mode, max_lag_ms, Endpoint(names[0], healthy=True), [Endpoint(n) for n in names[1:]])

    @property
    def routes(self) -> bool:
        """True when reads may leave the primary at all."""
        return self.mode != "primary" and bool(self.readers)

    def usable(self, reader: Endpoint, required: int | None) -> bool:
        """May ``reader`` serve a read that needs ``required`` replayed?

        Its replay LSN is from the last probe and only grows, so a reader that had replayed
        ``required`` then has it now: routing on a stale observation can send a read to the primary
        needlessly, never to a reader that lacks the write.
        """
        if not reader.current or reader.lag_ms is None or reader.lag_ms > self.max_lag_ms:
            return False
        return required is None or (reader.replay_lsn is not None and reader.replay_lsn >= required)

    def pick(self, required: int | None) -> int | None:
        """The reader (index) that serves the next read, round-robin; ``None``: the primary."""
        if not self.routes:
            return None
        count = len(self.readers)
        start = self._next
        for step in range(count):
            index = (start + step) % count
            if self.usable(self.readers[index], required):
                self._next = index + 1
                return index
        return None

    def counted(self, reader: int | None, *, fallback: bool) -> None:
        """A read was served by ``reader`` (``None``: the primary); ``fallback``: it was routable (no
        pin, no transaction) but went to the primary because no reader qualified."""
        if reader is None:
            self.primary.reads += 1
            if fallback and self.routes:
                self.primary.fallbacks += 1
        else:
            self.readers[reader].reads += 1

    def connect_failed(self, reader: int) -> None:
        """A read on ``reader`` failed with ``Connect``: it is out until a probe succeeds, and the read
        is retried on the primary (counted there)."""
        endpoint = self.readers[reader]
        endpoint.healthy = False
        endpoint.fallbacks += 1

    def primary_probed(self, lsn_text: str | None, reachable: bool) -> None:
        """The primary's probe: its WAL position (``None`` when unreachable or in recovery)."""
        self.primary.healthy = reachable and lsn_text is not None
        self.primary_lsn = _lsn_or_none(lsn_text)

    def reader_probed(self, reader: int, row: tuple[Any, ...] | None) -> None:
        """A reader's probe row (``READER_PROBE_SQL``), or ``None`` when the probe failed."""
        endpoint = self.readers[reader]
        if row is None:
            endpoint.healthy = False
            return
        in_recovery, lsn_text, age = bool(row[0]), row[1], row[2]
        endpoint.in_recovery = in_recovery
        endpoint.replay_lsn = _lsn_or_none(lsn_text)
        endpoint.lag_ms = lag_ms(in_recovery, endpoint.replay_lsn, age, self.primary_lsn)
        endpoint.healthy = True
        endpoint.seen_at = time.monotonic()

    def stats(self) -> dict[str, dict[str, Any]]:
        """``{endpoint_masked: {"reads", "fallbacks", "lag_ms", "healthy"}}``, the primary first."""
        primary = self.primary.stats() | {"lag_ms": 0.0, "healthy": self.primary.healthy}
        return {self.primary.masked: primary} | {r.masked: r.stats() for r in self.readers}


def _lsn_or_none(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_lsn(text)
    except ValueError:
        return None
