"""Per-principal call rate and concurrency limits (MCP servers "MUST rate limit" tool calls).

A token bucket per principal (``max_calls_per_minute`` tokens, refilled continuously) and a count of
calls in flight (``max_concurrent_calls``). A call over either limit is refused at once with
``RateLimited`` — never queued, so a flood cannot hold the pool. One event loop serves the server, so
plain counters suffice (no lock: nothing here awaits).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from axonstore.errors import RateLimited

__all__ = ["CallLimiter"]


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    in_flight: int = 0


@dataclass
class CallLimiter:
    """The limits of every principal; ``clock`` is injectable for tests (seconds, monotonic)."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @contextmanager
    def call(self, principal: str, per_minute: int, concurrent: int) -> Iterator[None]:
        """Hold one call slot for ``principal`` while the block runs; ``RateLimited`` when none is free."""
        now = self.clock()
        bucket = self._buckets.get(principal)
        if bucket is None:
            bucket = self._buckets[principal] = _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * per_minute / 60.0)
        bucket.stamp = now
        if bucket.in_flight >= concurrent:
            raise RateLimited(principal, f"{concurrent} calls are already running (max_concurrent_calls)")
        if bucket.tokens < 1.0:
            raise RateLimited(principal, f"more than {per_minute} calls in a minute (max_calls_per_minute)")
        bucket.tokens -= 1.0
        bucket.in_flight += 1
        try:
            yield
        finally:
            bucket.in_flight -= 1
