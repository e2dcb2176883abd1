"""The sync flavour (generated from the async one) observes its operations the same way."""

from __future__ import annotations

import contextlib

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from axonstore.errors import UniqueViolation
from axonstore.schema import SCHEMA_CACHE
from axonstore.sync import PostgresStoreBackend, StoreRegistry
from tests.otel.conftest import Telemetry
from tests.otel.test_spans import INTROSPECTION, attrs, database


def test_sync_spans_miss_hit_stream_and_transaction(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    SCHEMA_CACHE.clear()
    with PostgresStoreBackend.connect_named_with_namespace(
        direct_dsn, "claims", None, **telemetry.providers
    ) as backend:
        backend.query(claims, "id = '${id}'", {"id": "1"})
        backend.query(claims, "id = '${id}'", {"id": "2"})
        with contextlib.closing(backend.iter_rows(claims)) as rows:
            assert len(list(rows)) == 3
        with pytest.raises(UniqueViolation), backend.transaction() as tx:
            backend.insert(claims, {"id": 1, "status": "dup"}, conn=tx)
    introspection, miss, hit, stream, failed_insert, transaction = telemetry.spans()
    table = f"public.{claims}"
    assert introspection.name == INTROSPECTION
    assert introspection.parent is not None and introspection.parent.span_id == miss.context.span_id
    assert [miss.name, hit.name, stream.name] == [f"SELECT {table}"] * 3
    assert [attrs(s)["axonstore.cache"] for s in (miss, hit, stream)] == ["miss", "hit", "hit"]
    assert all(s.kind is SpanKind.CLIENT for s in (miss, hit, stream, failed_insert))
    assert attrs(stream)["db.response.returned_rows"] == 3
    assert attrs(hit)["db.namespace"] == f"{database(direct_dsn)}|public"
    assert failed_insert.parent is not None and failed_insert.parent.span_id == transaction.context.span_id
    assert attrs(failed_insert)["db.response.status_code"] == "23505"
    assert transaction.kind is SpanKind.INTERNAL
    assert transaction.status.status_code is StatusCode.ERROR


def test_sync_registry_build_takes_the_providers(direct_dsn: str, telemetry: Telemetry, claims: str) -> None:
    from axonstore.declarations import StoreSpec

    spec = StoreSpec(name=claims, backend="postgresql", connection=direct_dsn)
    with StoreRegistry.build([spec], **telemetry.providers) as registry:
        registry.store(claims).backend.query(claims)
    [*_, span] = telemetry.spans()
    assert span.name == f"SELECT public.{claims}"
    assert telemetry.points("db.client.operation.duration")
