"""A least-recently-used map bounded by entries *and* by the size of what it holds (pure).

The parse cache holds trees keyed by expression text, and the shape cache (:mod:`._shapes`) a template
tree per shape: a few huge filters must not fill memory (issue 18), so each entry is charged the length
of its expression, which its tree scales with. Reads take no lock (dictionary operations are atomic);
changes take one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final, Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: What :meth:`BoundedCache.get` returns for a key it does not hold (no cached value is this object).
MISS: Final = object()


class CacheInfo(NamedTuple):
    """A cache's counters (as ``functools.lru_cache`` reports them, plus the characters held)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    chars: int


class BoundedCache(Generic[K, V]):
    """At most ``entries`` values whose sizes add up to at most ``chars``; one larger than ``largest``
    is never held. A full cache evicts the least recently used. A value's size is ``size(key, value)``,
    or the key's length without ``size`` (an expression: its tree scales with it)."""

    def __init__(
        self, entries: int, chars: int, largest: int, size: Callable[[K, V], int] | None = None
    ) -> None:
        self.entries = entries
        self.budget = chars
        self.largest = largest
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()
        self.chars = 0
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def get(self, key: K) -> V | object:
        """The value held for ``key`` (now the most recently used), else :data:`MISS`."""
        held = self.items.get(key, MISS)  # a miss raises nothing: exceptions cost a new expression
        if held is MISS:
            return MISS
        try:  # noqa: SIM105 - contextlib.suppress would cost a context manager per hit
            self.items.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread: the answer stands
            pass
        self.hits += 1
        return held

    def holds(self, key: K, value: object) -> bool:
        """Is ``value`` itself what the cache holds for ``key``? (No use is counted.)"""
        return self.items.get(key, MISS) is value

    def put(self, key: K, value: V) -> None:
        """Hold ``value`` for ``key`` (a miss, counted), unless it is larger than allowed."""
        self.misses += 1
        sizer = self.size
        size = len(key) if sizer is None else sizer(key, value)  # type: ignore[arg-type]  # sized keys
        if size > self.largest:
            return
        items, lock = self.items, self.lock
        lock.acquire()  # not `with`: its __enter__ and __exit__ cost a new expression twice as much
        try:
            if key in items:
                return
            items[key] = value
            chars = self.chars + size
            while len(items) > self.entries or chars > self.budget:  # a full cache: one eviction
                old, held = items.popitem(False)  # the least recently used
                chars -= len(old) if sizer is None else sizer(old, held)  # type: ignore[arg-type]
            self.chars = chars
        finally:
            lock.release()

    def clear(self) -> None:
        """Forget everything (the counters stay)."""
        with self.lock:
            self.items.clear()
            self.chars = 0

    def info(self) -> CacheInfo:
        """The counters and sizes now."""
        return CacheInfo(self.hits, self.misses, self.entries, len(self.items), self.chars)
