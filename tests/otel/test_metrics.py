"""CONTRACT §14's metrics: ``db.client.operation.duration`` (seconds, the advisory buckets) and the
pool's observable instruments from ``psycopg_pool``'s ``get_stats()``, named by the application_name."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from axonstore import PostgresStoreBackend
from axonstore.dsn import application_name
from axonstore.errors import Connect, UniqueViolation
from tests.otel.conftest import Telemetry
from tests.otel.test_spans import database, server

BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


def by_state(telemetry: Telemetry, pool: str) -> dict[str, int]:
    points = telemetry.points("db.client.connection.count")
    return {
        p.attributes["db.client.connection.state"]: p.value
        for p in points
        if p.attributes["db.client.connection.pool.name"] == pool
    }


def value(telemetry: Telemetry, name: str, pool: str) -> Any:
    [point] = [p for p in telemetry.points(name) if p.attributes["db.client.connection.pool.name"] == pool]
    return point.value


async def test_operation_duration_is_a_histogram_in_seconds_with_the_advisory_buckets(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with PostgresStoreBackend.connect_named(direct_dsn, "claims", **telemetry.providers) as backend:
        for _ in range(3):
            await backend.query(claims, "id = '${id}'", {"id": "1"})
        with pytest.raises(UniqueViolation):
            await backend.insert(claims, {"id": 1, "status": "dup"})
    metric = telemetry.metric("db.client.operation.duration")
    assert metric.unit == "s"
    points = {p.attributes.get("error.type"): p for p in metric.data.data_points}
    ok, failed = points[None], points["23505"]
    assert tuple(ok.explicit_bounds) == BUCKETS
    assert ok.count == 3
    assert 0 < ok.sum < 3 * 5  # seconds, not milliseconds
    host, port = server(direct_dsn)
    assert dict(ok.attributes) == {
        "db.system.name": "postgresql",
        "db.namespace": f"{database(direct_dsn)}|public",
        "db.collection.name": f"public.{claims}",
        "db.operation.name": "SELECT",
        "server.address": host,
        "server.port": port,
    }
    assert failed.count == 1
    assert failed.attributes["db.operation.name"] == "INSERT"
    assert failed.attributes["error.type"] == "23505"


async def test_pool_metrics_follow_the_pool(direct_dsn: str, telemetry: Telemetry, claims: str) -> None:
    backend = PostgresStoreBackend.connect_named_sized(direct_dsn, "pooled", None, 3, **telemetry.providers)
    pool = application_name("pooled")
    assert telemetry.points("db.client.connection.max") == []  # not reported before the pool opens
    async with backend:
        await backend.query(claims)
        async with backend.acquire_pin() as pin:
            await backend.query(claims, conn=pin)
            assert by_state(telemetry, pool)["used"] == 1
            assert value(telemetry, "db.client.connection.max", pool) == 3
            assert value(telemetry, "db.client.connection.pending_requests", pool) == 0
        assert by_state(telemetry, pool)["used"] == 0
        assert by_state(telemetry, pool)["idle"] >= 1
        assert value(telemetry, "db.client.connection.timeouts", pool) == 0
    # A closed backend's pool is not reported any more.
    assert [p for p in telemetry.points("db.client.connection.max") if p.attributes[
        "db.client.connection.pool.name"] == pool] == []  # fmt: skip


@pytest.mark.slow
async def test_an_acquire_timeout_counts_and_requests_wait(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    backend = PostgresStoreBackend.connect_named_sized(direct_dsn, "starved", None, 1, **telemetry.providers)
    pool = application_name("starved")
    async with backend, backend.acquire_pin():
        waiting = asyncio.ensure_future(backend.query(claims))
        await asyncio.sleep(0.5)
        assert value(telemetry, "db.client.connection.pending_requests", pool) == 1
        with pytest.raises(Connect):
            await waiting  # the acquire times out (5 s): the only connection is pinned
        assert value(telemetry, "db.client.connection.timeouts", pool) == 1
    [span] = [s for s in telemetry.spans() if s.name.startswith("SELECT")]
    assert span.attributes is not None and span.attributes["error.type"] == "Connect"


async def test_two_backends_on_one_meter_provider_report_each_pool(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with (
        PostgresStoreBackend.connect_named_sized(direct_dsn, "one", None, 2, **telemetry.providers) as one,
        PostgresStoreBackend.connect_named_sized(direct_dsn, "two", None, 5, **telemetry.providers) as two,
    ):
        await one.query(claims)
        await two.query(claims)
        assert value(telemetry, "db.client.connection.max", application_name("one")) == 2
        assert value(telemetry, "db.client.connection.max", application_name("two")) == 5
