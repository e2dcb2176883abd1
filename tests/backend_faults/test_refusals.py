"""A connection the server refuses for good fails at once, with its reason (CONTRACT §3.1, issue 10.3).

Waiting cannot fix a wrong password (28P01), a client the server does not let in (28000), a missing
database (3D000) or a role's connection limit (53300): the error says so within a second, not after
the 5 s acquire timeout, and never claims the database could not be reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from axonstore import Connect, PostgresStoreBackend
from axonstore import sync as axon_sync
from tests._servers import PgServer, unavailable

_ROLE = "axon_pw_role"


def _with(dsn: str, **changes: str) -> str:
    params = conninfo_to_dict(dsn)
    params.update(changes)
    return make_conninfo(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def password_role(pg_server: PgServer) -> Iterator[str]:
    """A role that must give its password (scram), on the suite's own server: its DSN."""
    if pg_server.cluster is None:
        unavailable("the password test edits pg_hba.conf of the suite's own server")
    hba = pg_server.cluster.data_dir / "pg_hba.conf"
    original = hba.read_text()
    line = f"host all {_ROLE} 127.0.0.1/32 scram-sha-256\nhost all {_ROLE} ::1/128 scram-sha-256\n"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {_ROLE}")
        admin.execute(f"CREATE ROLE {_ROLE} LOGIN PASSWORD 'right-pw'")
        hba.write_text(line + original)
        admin.execute("SELECT pg_reload_conf()")
    try:
        yield _with(pg_server.dsn, user=_ROLE, password="right-pw")
    finally:
        hba.write_text(original)
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(f"DROP ROLE IF EXISTS {_ROLE}")


def _query_once(dsn: str, flavour: str) -> None:
    if flavour == "sync":
        with axon_sync.PostgresStoreBackend.connect_named(dsn, "refusals") as backend:
            backend.query("pg_class")
        return

    async def run() -> None:
        async with PostgresStoreBackend.connect_named(dsn, "refusals") as backend:
            await backend.query("pg_class")

    asyncio.run(run())


def _refused(dsn: str, flavour: str) -> tuple[Connect, float]:
    started = time.monotonic()
    with pytest.raises(Connect) as raised:
        _query_once(dsn, flavour)
    return raised.value, time.monotonic() - started


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_a_wrong_password_fails_at_once_and_says_so(password_role: str, flavour: str) -> None:
    error, took = _refused(_with(password_role, password="Wr0ngS3cret"), flavour)
    assert took < 2.0
    assert "28P01" in str(error) and "password" in str(error)
    assert "could not reach" not in str(error)
    assert "Wr0ngS3cret" not in str(error) and "Wr0ngS3cret" not in repr(error)


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_the_right_password_connects(password_role: str, flavour: str) -> None:
    if flavour == "sync":
        with axon_sync.PostgresStoreBackend.connect_named(password_role, "refusals") as backend:
            assert backend.query("pg_class", "relname = 'pg_class'")
        return

    async def run() -> list[Any]:
        async with PostgresStoreBackend.connect_named(password_role, "refusals") as backend:
            return await backend.query("pg_class", "relname = 'pg_class'")

    assert asyncio.run(run())


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_a_missing_database_fails_at_once_and_says_so(direct_dsn: str, flavour: str) -> None:
    error, took = _refused(_with(direct_dsn, dbname="no_such_database_here"), flavour)
    assert took < 2.0
    assert "3D000" in str(error) and "no_such_database_here" in str(error)
    assert "check the database name" in str(error)
