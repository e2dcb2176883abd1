"""What the verbs of both flavours share: the row type and the bounds of a stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from axonstore.stream import Backpressure, CancelSignal, PolicyGate, check_max_rows

__all__ = ["Row", "Rows", "bounded_max_rows", "gate"]

Row: TypeAlias = dict[str, Any]
Rows: TypeAlias = Sequence[Mapping[str, object]]


def bounded_max_rows(max_rows: int | None) -> int | None:
    """``iter_rows``' bound: ``None`` (no bound) or a non-negative integer (``BadLimit`` otherwise)."""
    return None if max_rows is None else check_max_rows(max_rows)


def gate(policy: Backpressure | str, max_rows: int, cancel: CancelSignal | None) -> PolicyGate:
    """The backpressure gate of a bounded retrieve (``BadLimit`` / ``ValueError`` for bad arguments)."""
    return PolicyGate(Backpressure.parse(policy), check_max_rows(max_rows), cancel)
