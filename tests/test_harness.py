"""The harness proves itself: the server is real, the pooler is hostile, the wire logger sees Parse names.

These tests are the reason the rest of the suite's results mean anything: a pooler lane that silently
tolerated named statements, or a wire logger that recorded nothing, would let a pooler-unsafe backend pass.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest

from tests._servers import PgBouncer, PgServer, in_ci, make_url, unavailable
from tests._wire import WireLog, WireLogger, _FrameParser

_CLIENTS = 20
_QUERIES = 100


# --------------------------------------------------------------------------------------------------
# Pure: the skip/fail policy


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true and no server"):
        unavailable("no server")


def test_missing_server_skips_loudly_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"DATABASE TEST SKIPPED.*no server.*CI=true"):
        unavailable("no server")


def test_make_url_quotes_credentials() -> None:
    url = make_url("127.0.0.1", 5, user="a b", password="p@ss/w:rd", dbname="d")
    assert url == "postgresql://a%20b:p%40ss%2Fw%3Ard@127.0.0.1:5/d?sslmode=disable"
    assert psycopg.conninfo.conninfo_to_dict(url)["password"] == "p@ss/w:rd"


def _frame(kind: bytes, body: bytes) -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


def test_wire_parser_is_indifferent_to_chunking() -> None:
    stream = b"".join(
        [
            _frame(b"P", b"_pg3_0\0select $1\0\0\0"),
            _frame(b"d", b"x" * 50_000),  # CopyData: skipped without buffering
            _frame(b"B", b"\0_pg3_0\0" + bytes(6)),
            _frame(b"D", b"P\0"),
            _frame(b"E", bytes(5)),
            _frame(b"C", b"S_pg3_0\0"),
            _frame(b"P", b"\0select 1\0\0\0"),
            _frame(b"S", b""),
        ]
    )
    expected = [
        ("parse", "_pg3_0", "select $1"),
        ("bind", "_pg3_0", ""),
        ("describe", "", "P"),
        ("close", "_pg3_0", "S"),
        ("parse", "", "select 1"),
        ("sync", "", ""),  # a Sync ends a round trip (counted by WireLog.round_trips)
    ]
    for size in (1, 5, 4096, len(stream)):
        seen: list[tuple[str, str, str]] = []
        parser = _FrameParser(lambda *event, into=seen: into.append(event))
        for start in range(0, len(stream), size):
            parser.feed(stream[start : start + size])
        assert seen == expected, size


# --------------------------------------------------------------------------------------------------
# The server


def test_server_is_real_and_tuned_for_tests(admin: psycopg.Connection[Any], pg_server: PgServer) -> None:
    row = admin.execute(
        "select current_setting('server_version_num')::int, current_setting('fsync'), "
        "inet_server_addr()::text, inet_server_port()"
    ).fetchone()
    assert row is not None
    version, fsync, addr, port = row
    assert version >= 150000
    if pg_server.cluster is not None:  # our own server, not AXON_TEST_DATABASE_URL
        assert (fsync, addr, port) == ("off", "127.0.0.1/32", pg_server.port)


def test_restart_cuts_sessions_and_comes_back(pg_server: PgServer, pooler_dsn: str) -> None:
    with psycopg.connect(pg_server.dsn, autocommit=True) as before:
        started = before.execute("select pg_postmaster_start_time()").fetchone()
        pg_server.restart()
        with pytest.raises(psycopg.OperationalError):
            before.execute("select 1")
    with psycopg.connect(pg_server.dsn, autocommit=True, prepare_threshold=None) as after:
        assert after.execute("select pg_postmaster_start_time()").fetchone() != started
    # PgBouncer drops its dead server connections and reconnects on its own.
    with psycopg.connect(pooler_dsn, autocommit=True, prepare_threshold=None) as pooled:
        deadline = time.monotonic() + 5
        while True:
            try:
                assert pooled.execute("select 41 + 1").fetchone() == (42,)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise


# --------------------------------------------------------------------------------------------------
# The wire logger


def test_both_lanes_go_through_the_wire_logger(dsn: str, wire_log: WireLog) -> None:
    mark = wire_log.mark()
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        assert conn.execute("select %s::int + 1", (41,)).fetchone() == (42,)
    parses = wire_log.parses(mark)
    assert [(p.name, p.detail) for p in parses] == [("", "select $1::int + 1")]
    binds = [e for e in wire_log.since(mark) if e.kind == "bind"]
    assert [b.name for b in binds] == [""]


def _via(logger: WireLogger, pg: PgServer) -> str:
    return make_url(logger.host, logger.port, user=pg.user, password=pg.password, dbname=pg.dbname)


def _six_executions(url: str, threshold: int | str | None) -> None:
    kwargs: dict[str, Any] = {} if threshold == "default" else {"prepare_threshold": threshold}
    with psycopg.connect(url, autocommit=True, **kwargs) as conn:
        for i in range(8):
            assert conn.execute("select %s::int * 2", (i,)).fetchone() == (2 * i,)


def test_wire_logger_sees_named_statements(pg_server: PgServer) -> None:
    """A separate logger (the session's check stays clean) sees psycopg's ``_pg3_0`` by default."""
    log = WireLog()
    with WireLogger(pg_server.host, pg_server.port, log, lane="probe") as logger:
        _six_executions(_via(logger, pg_server), "default")
    assert "_pg3_0" in {p.name for p in log.named_parses()}
    assert "_pg3_0" in {e.name for e in log.since() if e.kind == "bind"}


def test_wire_logger_sees_only_unnamed_without_preparing(pg_server: PgServer) -> None:
    log = WireLog()
    with WireLogger(pg_server.host, pg_server.port, log, lane="probe") as logger:
        _six_executions(_via(logger, pg_server), None)
    assert len(log.parses()) == 8
    assert log.named_parses() == []


def test_cancel_request_passes_through_the_logger(dsn: str) -> None:
    """Cancelling (a stream stopped early does it) opens a CancelRequest connection through the proxy."""
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        timer = threading.Timer(0.3, conn.cancel_safe)
        timer.start()
        began = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(10)")
        timer.join()
        assert time.monotonic() - began < 5
        assert conn.execute("select 1").fetchone() == (1,)


# --------------------------------------------------------------------------------------------------
# The pooler is hostile (ECOSYSTEM A.3)


async def _mixed_load(url: str, **kwargs: Any) -> tuple[int, int, int]:
    """20 clients × 100 queries, even clients ``+ 1`` and odd ones ``* 1000``: (correct, wrong, errors)."""
    counts = {"correct": 0, "wrong": 0, "errors": 0}

    async def client(n: int) -> None:
        query, factor = ("select %s::int + 1", 0) if n % 2 == 0 else ("select %s::int * 1000", 1000)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, **kwargs) as conn:
            for i in range(2, 2 + _QUERIES):
                try:
                    cur = await conn.execute(query, (i,))
                    row = await cur.fetchone()
                except psycopg.Error:
                    counts["errors"] += 1
                    continue
                expected = i * factor if factor else i + 1
                counts["correct" if row == (expected,) else "wrong"] += 1

    await asyncio.gather(*(client(n) for n in range(_CLIENTS)))
    return counts["correct"], counts["wrong"], counts["errors"]


async def test_pooler_breaks_named_statements(pgbouncer: PgBouncer) -> None:
    """With psycopg's default prepare_threshold, PgBouncer 1.18 gives errors or wrong results.

    ``pgbouncer.dsn`` bypasses the session's wire logger on purpose: these named statements are the point.
    """
    correct, wrong, errors = await _mixed_load(pgbouncer.dsn)
    assert correct + wrong + errors == _CLIENTS * _QUERIES
    assert wrong + errors > 0, "the pooler lane tolerated named statements: it is not hostile"


async def test_pooler_is_safe_for_unnamed_statements(pooler_dsn: str) -> None:
    assert await _mixed_load(pooler_dsn, prepare_threshold=None) == (_CLIENTS * _QUERIES, 0, 0)


def test_application_name_survives_pgbouncer(pooler_dsn: str) -> None:
    names = ["axon-store/a/t1", "axon-store/b/t2"]
    conns = [
        psycopg.connect(pooler_dsn, autocommit=True, prepare_threshold=None, application_name=n)
        for n in names
    ]
    try:
        for _ in range(10):  # interleaved: each statement may land on either of the 2 server connections
            for name, conn in zip(names, conns, strict=True):
                assert conn.execute("select current_setting('application_name')").fetchone() == (name,)
    finally:
        for conn in conns:
            conn.close()


def test_pooler_is_in_transaction_mode(pgbouncer: PgBouncer) -> None:
    admin_url = make_url(pgbouncer.host, pgbouncer.port, user="postgres", dbname="pgbouncer")
    with psycopg.connect(admin_url, autocommit=True) as console:
        result = console.pgconn.exec_(b"SHOW CONFIG")  # the admin console speaks only the simple protocol
        rows = [(result.get_value(i, 0), result.get_value(i, 1)) for i in range(result.ntuples)]
    config = {bytes(k or b"").decode(): bytes(v or b"").decode() for k, v in rows}
    assert (config["pool_mode"], config["default_pool_size"]) == ("transaction", "2")
