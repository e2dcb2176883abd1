"""The routing decisions, without a server: LSNs, lag, the round-robin, the session's tokens."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from axonstore import PostgresStoreBackend
from axonstore.backend.replicas import (
    PROBE_STALE_AFTER,
    UNKNOWN_LSN,
    Router,
    check_max_lag,
    check_reads,
    format_lsn,
    lag_ms,
    note_write,
    parse_lsn,
    parse_token,
    required_lsn,
    requiring,
    written_lsn,
)
from axonstore.errors import BadArgument, PoolInit


def test_lsn_text_round_trips() -> None:
    for text in ("0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF"):
        assert format_lsn(parse_lsn(text)) == text
    assert parse_lsn("1/0") == 1 << 32
    assert parse_lsn("0/10") > parse_lsn("0/F")  # numeric, not text, order
    assert parse_lsn("a/b") == parse_lsn("A/B")


@pytest.mark.parametrize("bad", ["", "16", "16/", "/1", "0x1/2", "1/2/3", "123456789/0", " 1 / 2", "g/1"])
def test_malformed_tokens_are_bad_arguments(bad: str) -> None:
    with pytest.raises(BadArgument, match="consistent_with"):
        parse_token(bad)


def test_a_token_of_the_wrong_type_is_a_bad_argument() -> None:
    with pytest.raises(BadArgument):
        parse_token(12)
    assert parse_token(None) is None


def test_modes_and_lag_bounds_are_checked() -> None:
    assert check_reads(" Replica ") == "replica"
    with pytest.raises(BadArgument, match="reads"):
        check_reads("nearest")
    with pytest.raises(BadArgument, match="max_lag_ms"):
        check_max_lag(-1)
    with pytest.raises(BadArgument):
        check_max_lag(True)
    assert check_max_lag(0) == 0


def test_lag_is_judged_by_lsn_first() -> None:
    # Caught up with the primary's last position: no lag, however old the last transaction.
    assert lag_ms(True, 100, 60_000.0, 100) == 0.0
    # Behind: the age of the last replayed transaction bounds it.
    assert lag_ms(True, 99, 2_500.0, 100) == 2_500.0
    # Behind and no transaction replayed yet: unknown (beyond any bound).
    assert lag_ms(True, 99, None, 100) is None
    # The primary unreachable: only time tells.
    assert lag_ms(True, 99, 10.0, None) == 10.0
    # Not in recovery (a promoted standby): current.
    assert lag_ms(False, 5, None, 100) == 0.0


def _router(mode: str = "replica", max_lag: int = 1000) -> Router:
    router = Router.build("p", ["r1", "r2"], check_reads(mode), max_lag)
    router.primary_probed("0/100", reachable=True)
    router.reader_probed(0, (True, "0/100", 5.0))
    router.reader_probed(1, (True, "0/100", 5.0))
    return router


def test_round_robin_over_healthy_readers() -> None:
    router = _router()
    assert [router.pick(None) for _ in range(4)] == [0, 1, 0, 1]


def test_readers_are_out_until_their_first_probe() -> None:
    router = Router.build("p", ["r1"], "replica", 1000)
    assert router.pick(None) is None
    router.reader_probed(0, (True, "0/1", 0.0))
    assert router.pick(None) == 0


def test_a_lagging_reader_is_skipped_and_a_failed_one_is_out() -> None:
    router = _router(max_lag=1000)
    router.primary_probed("0/200", reachable=True)
    router.reader_probed(1, (True, "0/100", 2_000.0))  # 2 s behind
    assert {router.pick(None) for _ in range(4)} == {0}
    router.connect_failed(0)
    assert router.pick(None) is None
    router.reader_probed(0, None)  # the probe fails too: still out
    assert router.pick(None) is None
    router.reader_probed(0, (True, "0/200", 0.0))  # a probe succeeds: in again
    assert router.pick(None) == 0
    stats = router.stats()
    assert stats["r1"]["fallbacks"] == 1
    assert stats["r2"]["lag_ms"] == 2000.0


def test_a_session_read_needs_its_write_replayed() -> None:
    router = _router()
    assert router.pick(parse_lsn("0/101")) is None  # neither reader has it: the primary
    router.reader_probed(1, (True, "0/101", 0.0))
    assert {router.pick(parse_lsn("0/101")) for _ in range(3)} == {1}
    assert router.pick(UNKNOWN_LSN) is None


def test_primary_mode_and_no_readers_never_route() -> None:
    assert _router("primary").pick(None) is None
    assert Router.build("p", [], "session", 1000).pick(None) is None


def test_counting_tells_fallbacks_from_pinned_reads() -> None:
    router = _router()
    router.counted(None, fallback=True)
    router.counted(None, fallback=False)
    router.counted(0, fallback=False)
    stats = router.stats()
    assert stats["p"] == {"reads": 2, "fallbacks": 1, "lag_ms": 0.0, "healthy": True}
    assert stats["r1"]["reads"] == 1


def test_repeated_endpoints_keep_their_own_entries() -> None:
    router = Router.build("p", ["r", "r"], "replica", 10)
    assert list(router.stats()) == ["p", "r", "r #2"]


def test_session_tokens_follow_the_context() -> None:
    def in_fresh_context() -> tuple[int | None, int | None]:
        note_write("db", 10)
        return written_lsn("db"), written_lsn("other-db")

    assert contextvars.Context().run(in_fresh_context) == (10, None)
    assert written_lsn("db") is None  # nothing leaked into this context

    def demands() -> tuple[int | None, int | None, int | None]:
        note_write("db", 10)
        with requiring(20):
            inside = required_lsn("db", "session")
        return inside, required_lsn("db", "session"), required_lsn("db", "replica")

    assert contextvars.Context().run(demands) == (20, 10, None)


async def test_tasks_inherit_the_parents_token_but_not_the_reverse() -> None:
    async def child_writes() -> int | None:
        seen = written_lsn("db")
        note_write("db", 99)
        return seen

    async def parent() -> tuple[int | None, int | None]:
        note_write("db", 7)
        seen_by_child = await asyncio.create_task(child_writes())
        return seen_by_child, written_lsn("db")

    assert await asyncio.create_task(parent(), context=contextvars.Context()) == (7, 7)


def test_constructors_check_routing_arguments_without_io() -> None:
    dsn = "postgresql://u:secret@primary/db"
    with pytest.raises(BadArgument, match="reads"):
        PostgresStoreBackend.connect_named_sized(
            dsn, "t", None, 2, readers=["postgresql://r/db"], reads="all"
        )
    with pytest.raises(PoolInit) as caught:
        PostgresStoreBackend.connect(dsn, readers=["postgresql://u:hunter22@r/db?bogus=1"])
    assert "hunter22" not in str(caught.value)
    backend = PostgresStoreBackend.connect(dsn, readers=["postgresql://u:hunter22@r/db"])
    assert "hunter22" not in repr(backend)
    assert "hunter22" not in str(backend.routing_stats())
    assert backend.routing() == {
        "reads": "session",
        "max_lag_ms": 5000,
        "readers": ["postgresql://u:***@r/db"],
    }
    assert backend.write_token() is None


def test_a_reader_whose_probes_stopped_coming_is_out(monkeypatch: pytest.MonkeyPatch) -> None:
    router = _router()
    later = time.monotonic() + PROBE_STALE_AFTER + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert router.pick(None) is None  # the probe loop may be stuck: their lag is not known any more
    assert router.stats()["r1"]["healthy"] is False
    router.reader_probed(0, (True, "0/100", 0.0))
    assert router.pick(None) == 0
