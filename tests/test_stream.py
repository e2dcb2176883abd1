"""The bounded-stream gate (``axonstore.stream``): a chunk at a time decides exactly what a row at a time
decides — the rows kept, and every counter — for every policy, bound and chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axonstore.errors import Query
from axonstore.stream import (
    Backpressure,
    PolicyGate,
    RowStreamOutcome,
    adrain_chunks,
    drain_chunks,
    drain_rows,
)

Rows = list[dict[str, object]]


def _rows(count: int) -> Rows:
    return [{"n": n} for n in range(count)]


def _chunked(rows: Rows, cuts: list[int]) -> list[Rows]:
    chunks, start = [], 0
    for cut in sorted({min(cut, len(rows)) for cut in cuts}):
        chunks.append(rows[start:cut])
        start = cut
    chunks.append(rows[start:])
    return [chunk for chunk in chunks if chunk]


def _summary(outcome: RowStreamOutcome) -> tuple[object, ...]:
    return (outcome.rows, outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled)


def _drain(drain: object, source: object, policy: Backpressure, bound: int) -> tuple[object, ...] | str:
    try:
        return _summary(drain(source, PolicyGate(policy, bound)))  # type: ignore[operator]
    except Query as error:
        return f"Query: {error}"


@given(
    st.sampled_from(list(Backpressure)),
    st.integers(0, 12),
    st.integers(0, 40),
    st.lists(st.integers(0, 40), max_size=6),
)
def test_a_chunk_at_a_time_decides_what_a_row_at_a_time_decides(
    policy: Backpressure, bound: int, count: int, cuts: list[int]
) -> None:
    rows = _rows(count)
    by_row = _drain(drain_rows, iter(rows), policy, bound)
    by_chunk = _drain(drain_chunks, iter(_chunked(rows, cuts)), policy, bound)
    assert by_chunk == by_row


def test_a_cancel_signal_is_still_checked_before_every_row() -> None:
    checks = 0

    def after_seven() -> bool:
        nonlocal checks
        checks += 1
        return checks > 7

    gate = PolicyGate(Backpressure.PAUSE_UPSTREAM, 100, after_seven)
    outcome = drain_chunks(iter([_rows(5), _rows(5)]), gate)
    assert (len(outcome.rows), outcome.total_seen, outcome.cancelled) == (7, 7, True)


@pytest.mark.parametrize("policy", list(Backpressure))
async def test_the_async_drain_agrees_with_the_sync_one(policy: Backpressure) -> None:
    chunks = [_rows(3), _rows(4), _rows(2)]

    async def source() -> object:
        for chunk in chunks:
            yield chunk

    sync = _drain(drain_chunks, iter(chunks), policy, 5)
    try:
        got: tuple[object, ...] | str = _summary(await adrain_chunks(source(), PolicyGate(policy, 5)))  # type: ignore[arg-type]
    except Query as error:
        got = f"Query: {error}"
    assert got == sync
