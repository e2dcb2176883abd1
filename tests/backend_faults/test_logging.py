"""Logging under ``axonstore.store.*``: resolve failures, drift evictions and pin acquisitions are
recorded, each naming the database by its masked DSN (never the password)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from axonstore import PostgresStoreBackend, TableNotResolved, UnknownColumn
from axonstore.dsn import without_password
from axonstore.schema import SCHEMA_CACHE
from tests.backend_faults import (
    RecordSink,
    capture_logs,
    only_unnamed_parses,  # noqa: F401 (an autouse fixture)
)

_PASSWORD = "LogPw-7c1e9a"


@pytest.fixture
def dsn_with_password(direct_dsn: str) -> str:
    """The direct lane with a password in the URL (the server trusts any), so masking is visible."""
    params = conninfo_to_dict(direct_dsn)
    return (
        f"postgresql://{params['user']}:{_PASSWORD}@{params['host']}:{params['port']}/"
        f"{params['dbname']}?sslmode=disable"
    )


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    admin.execute(f"CREATE TABLE public.{unique_name} (id text PRIMARY KEY, n int4, c text)".encode())
    yield unique_name
    admin.execute(f"DROP TABLE IF EXISTS public.{unique_name}".encode())


def _only(sink: RecordSink, name: str, level: int) -> logging.LogRecord:
    records = sink.named(name)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == level
    return records[0]


def _names_the_database(record: logging.LogRecord, backend: PostgresStoreBackend) -> str:
    message = record.getMessage()
    assert "***" in backend.masked_dsn()
    assert backend.masked_dsn() in message
    assert _PASSWORD not in message
    return message


async def test_resolve_failure_is_logged_with_the_masked_dsn(
    dsn_with_password: str, unique_name: str
) -> None:
    async with PostgresStoreBackend.connect_named(dsn_with_password, "logs") as backend:
        with capture_logs("axonstore") as sink, pytest.raises(TableNotResolved):
            await backend.query(f"{unique_name}_ghost")
    record = _only(sink, "axonstore.store.resolve", logging.ERROR)
    message = _names_the_database(record, backend)
    assert f"{unique_name}_ghost" in message


async def test_drift_after_drop_column_evicts_and_logs(
    dsn_with_password: str, table: str, admin: psycopg.Connection[Any]
) -> None:
    async with PostgresStoreBackend.connect_named(dsn_with_password, "logs") as backend:
        await backend.warm_schema(table)
        admin.execute(f"ALTER TABLE public.{table} DROP COLUMN c".encode())
        with capture_logs("axonstore") as sink, pytest.raises(UnknownColumn) as unknown:
            await backend.query(table, "c = 'x'")  # the cache still has c: the hit fails with 42703
        assert unknown.value.column == "c"
        cached = SCHEMA_CACHE.get((without_password(dsn_with_password), table))
        assert cached is not None and "c" not in cached.column_types  # re-resolved and re-cached
    message = _names_the_database(_only(sink, "axonstore.store.cache", logging.WARNING), backend)
    assert "42703" in message and table in message and "evicted" in message


async def test_drift_after_alter_column_type_evicts_logs_and_heals(
    dsn_with_password: str, table: str, admin: psycopg.Connection[Any]
) -> None:
    async with PostgresStoreBackend.connect_named(dsn_with_password, "logs") as backend:
        assert await backend.insert(table, {"id": "a", "n": 5}) == 1  # caches n as int4
        admin.execute(f"ALTER TABLE public.{table} ALTER COLUMN n TYPE text".encode())
        with capture_logs("axonstore") as sink:
            rows = await backend.query(table, "n = 5")  # "n" = $1::int4 on text: 42883, evict, heal
        assert rows == [{"id": "a", "n": "5", "c": None}]
        first = _names_the_database(_only(sink, "axonstore.store.cache", logging.WARNING), backend)
        assert "42883" in first
        admin.execute(f"ALTER TABLE public.{table} ALTER COLUMN n TYPE int8 USING n::int8".encode())
        with capture_logs("axonstore") as sink:
            assert await backend.insert(table, {"id": "b", "n": 6}) == 1  # $1::text into int8: 42804
        second = _names_the_database(_only(sink, "axonstore.store.cache", logging.WARNING), backend)
        assert "42804" in second
        rows = sorted(await backend.query(table, "n > 4"), key=lambda row: str(row["id"]))
        assert rows == [{"id": "a", "n": 5, "c": None}, {"id": "b", "n": 6, "c": None}]


async def test_pin_acquisition_is_logged_with_the_masked_dsn(dsn_with_password: str) -> None:
    async with PostgresStoreBackend.connect_named(dsn_with_password, "pinned") as backend:
        with capture_logs("axonstore") as sink:
            async with backend.acquire_pin():
                pass
    message = _names_the_database(_only(sink, "axonstore.store.pin", logging.INFO), backend)
    assert "pinned" in message
