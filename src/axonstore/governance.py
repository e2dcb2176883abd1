"""Governance without I/O: the capability gate, the confidence floor and the retrieve envelope.

Everything here is pure (no database, no network); the store handles call it around each operation::

    check_capability("claims", spec.capability, capabilities)        # every verb, before any I/O
    check_write_floor("claims", spec.confidence_floor, data)          # persist (and mutate: op="mutate")
    read = with_floor(read, spec.confidence_floor)                    # an aggregate counts trusted rows only
    result = Retrieval.build(outcome.rows, spec.confidence_floor, StreamMeta.from_outcome(policy, outcome))

The audit chain is :mod:`axonstore.audit`; canonical JSON is :mod:`axonstore._json`.
"""

from __future__ import annotations

import decimal
import functools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Protocol

from axonstore._json import json_text
from axonstore.errors import (
    CapabilityDenied,
    MalformedConfidence,
    SubFloorWrite,
    UnelevatedWrite,
)
from axonstore.filter import And, Compare, Filter, Group, NullTest, Or, Value, conjoin

__all__ = [
    "CONFIDENCE_COLUMN",
    "TAINT",
    "Retrieval",
    "StreamMeta",
    "check_capability",
    "check_write_floor",
    "check_write_rows",
    "floor_filter",
    "partition_by_floor",
    "read_confidence",
    "with_floor",
]

#: The reserved column that carries a row's confidence.
CONFIDENCE_COLUMN = "_confidence"
#: Every retrieve result is marked untrusted: it is data, not instructions.
TAINT = "untrusted"

Row = dict[str, Any]
#: The largest finite float8: the floor's upper bound, which keeps NaN and ±Infinity out.
_FINITE_MAX = 1.7976931348623157e308


# --------------------------------------------------------------------------------------------------
# The floor as a filter tree (an aggregate or a page counts trusted rows only)


@functools.cache
def floor_filter(floor: float) -> Filter:
    """``"_confidence" >= floor AND "_confidence" <= <largest float8>`` as a tree — with
    ``OR "_confidence" IS NULL`` around it when the floor is 0 or less (a NULL reads as 0.0).

    Built from nodes, never parsed from text: the floor is composed with a user's filter as a tree
    (:func:`with_floor`), so no filter text can close a parenthesis and escape it.
    """
    bounded = And(
        (
            Compare(CONFIDENCE_COLUMN, ">=", Value("float", float(floor))),
            Compare(CONFIDENCE_COLUMN, "<=", Value("float", _FINITE_MAX)),
        )
    )
    if floor > 0:
        return Filter(bounded, (CONFIDENCE_COLUMN,), 2)
    return Filter(Group(Or((bounded, NullTest(CONFIDENCE_COLUMN, False)))), (CONFIDENCE_COLUMN,), 3)


def with_floor(filter: Filter | None, floor: float | None) -> Filter | None:
    """``(<filter>) AND <floor>`` (just the floor for no filter; the filter for no floor)."""
    if floor is None:
        return filter
    return conjoin(filter, floor_filter(floor), group_right=False)


# --------------------------------------------------------------------------------------------------
# Capability (ANCHOR §9.1)


def check_capability(store: str, required: str | None, held: Collection[str] | None) -> None:
    """Raise ``CapabilityDenied`` unless the caller may use ``store``.

    ``held=None`` is an in-process caller the application trusts (no check). A collection means
    "enforce": a store whose ``required`` capability is set and not held is refused. A plain ``str`` is
    taken as one capability, never as a set of characters.
    """
    if held is None or not required:
        return
    caps = (held,) if isinstance(held, str) else held
    if required not in caps:
        raise CapabilityDenied(store, required, tuple(sorted(caps)))


# --------------------------------------------------------------------------------------------------
# Confidence (ANCHOR §9.3, CONTRACT §6 settled details, D15)


def read_confidence(value: object) -> float:
    """A row's ``_confidence`` as a float: a finite number or numeric text; anything else reads as 0.0."""
    number = _finite_number(value)
    return 0.0 if number is None else number


def _finite_number(value: object) -> float | None:
    """The finite float ``value`` denotes, or ``None`` (bool, NULL, NaN/inf, non-numeric text, other)."""
    if type(value) is float:  # float8 columns: the fast path of a 10 000-row retrieve
        return value if math.isfinite(value) else None
    if isinstance(value, str):  # numeric columns arrive as text
        return _parse_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an int too large for a float; a signalling-NaN Decimal
        return None
    return number if math.isfinite(number) else None


def _parse_number(text: str) -> float | None:
    """Numeric text as Rust's f64 parser takes it: no whitespace, no ``_``, ASCII digits; finite only."""
    try:
        number = float(text)
    except ValueError:
        return None
    # float() also takes " 1", "1_0" and non-ASCII digits; for ASCII text without whitespace or "_",
    # what it takes is exactly [+-]digits[.digits][e[+-]digits] (plus inf/nan, refused as non-finite).
    if not math.isfinite(number) or not text.isascii() or "_" in text or text != text.strip():
        return None
    return number


def partition_by_floor(rows: Iterable[Row], floor: float | None) -> tuple[list[Row], int]:
    """Split rows into the trusted ones (confidence ≥ floor) and a count of the rest.

    Without a floor every row is trusted. A row without ``_confidence`` reads as 0.0.
    """
    if floor is None:
        return list(rows), 0
    trusted: list[Row] = []
    below = 0
    finite_number = _finite_number  # a local: this loop runs once per row
    for row in rows:
        if (finite_number(row.get(CONFIDENCE_COLUMN)) or 0.0) >= floor:
            trusted.append(row)
        else:
            below += 1
    return trusted, below


def check_write_floor(
    store: str,
    floor: float | None,
    data: Mapping[str, object] | Sequence[tuple[str, object]],
    *,
    op: Literal["persist", "mutate"] = "persist",
) -> None:
    """Refuse a write that a store's confidence floor does not allow; call it before any SQL.

    * ``persist``: the row must carry ``_confidence`` (else ``UnelevatedWrite``).
    * ``mutate``: checked only when the SET columns include ``_confidence`` (D15).
    * ``_confidence`` ``None`` → ``UnelevatedWrite``; a bool, non-numeric text or NaN/inf →
      ``MalformedConfidence``; below the floor → ``SubFloorWrite``. Exactly at the floor is accepted.

    ``data`` is a mapping or a sequence of ``(column, value)`` pairs; every ``_confidence`` is checked.
    """
    if floor is None:
        return
    pairs = data.items() if isinstance(data, Mapping) else data
    values = [value for column, value in pairs if column == CONFIDENCE_COLUMN]
    if not values and op == "persist":
        raise UnelevatedWrite(store, floor, op)
    for value in values:
        _check_one_confidence(store, floor, value, op)


def check_write_rows(
    store: str, floor: float | None, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """:func:`check_write_floor` for every row of a batch (one bad row refuses the batch, before SQL)."""
    if floor is None:
        return
    for row in rows:
        check_write_floor(store, floor, list(zip(columns, row, strict=True)))


def _check_one_confidence(store: str, floor: float, value: object, op: str) -> None:
    if value is None:
        raise UnelevatedWrite(store, floor, op)
    confidence = _finite_number(value)
    if confidence is None:
        raise MalformedConfidence(store, value, op)
    if confidence < floor:
        raise SubFloorWrite(store, confidence, floor, op)


# --------------------------------------------------------------------------------------------------
# The retrieve envelope (ANCHOR §7.4 stream metadata, §9.3)


class _OutcomeLike(Protocol):
    total_seen: int
    dropped: int
    truncated: bool
    cancelled: bool


@dataclass(frozen=True)
class StreamMeta:
    """How a retrieve's stream ended: the policy slug and the drain counters.

    ``total_seen`` counts rows before the confidence floor; ``dropped``, ``truncated`` and ``cancelled``
    are the drain's (ANCHOR §7.4).
    """

    policy: str = "pause_upstream"
    total_seen: int = 0
    dropped: int = 0
    truncated: bool = False
    cancelled: bool = False

    @classmethod
    def from_outcome(cls, policy: str | Enum, outcome: _OutcomeLike) -> StreamMeta:
        """From a policy (a slug, or an enum whose value is the slug) and a ``RowStreamOutcome``."""
        slug = policy.value if isinstance(policy, Enum) else policy
        return cls(str(slug), outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled)

    def to_dict(self) -> dict[str, Any]:
        """``{"policy", "total_seen", "dropped", "truncated", "cancelled"}``."""
        return {
            "policy": self.policy,
            "total_seen": self.total_seen,
            "dropped": self.dropped,
            "truncated": self.truncated,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class Retrieval:
    """The result of a retrieve: the trusted rows and what the floor and the stream bound left out.

    ``rows`` holds only trusted rows (all rows when the store has no floor); ``below_floor_filtered``
    counts the rows the floor removed. Every result is tainted ``"untrusted"``.
    """

    rows: list[Row]
    below_floor_filtered: int
    confidence_floor: float | None
    stream: StreamMeta

    @classmethod
    def build(
        cls, rows: Iterable[Row], floor: float | None, stream: StreamMeta, *, apply_floor: bool = True
    ) -> Retrieval:
        """Apply the floor to ``rows`` and wrap them. Pass ``apply_floor=False`` for an aggregate, whose
        SQL already excluded untrusted rows (its result rows carry no ``_confidence``)."""
        if not apply_floor:
            return cls(list(rows), 0, floor, stream)
        trusted, below = partition_by_floor(rows, floor)
        return cls(trusted, below, floor, stream)

    @property
    def trusted_rows(self) -> int:
        """How many rows passed the floor (``len(rows)``)."""
        return len(self.rows)

    @property
    def taint(self) -> str:
        """Always ``"untrusted"``."""
        return TAINT

    def to_dict(self) -> dict[str, Any]:
        """The ANCHOR §9.3 envelope as a dict."""
        return {
            "below_floor_filtered": self.below_floor_filtered,
            "confidence_floor": self.confidence_floor,
            "rows": self.rows,
            "stream": self.stream.to_dict(),
            "taint": TAINT,
            "trusted_rows": self.trusted_rows,
        }

    def to_json(self) -> str:
        """The envelope as compact JSON with sorted keys (row keys too) and raw UTF-8.

        A non-finite float becomes ``null`` (as serde_json writes it); a few non-JSON Python values an
        in-memory store may hold are written as the backend would (Decimal → text, bytes → base64,
        dates → ISO 8601, UUID → text).
        """
        return json_text(self.to_dict())
