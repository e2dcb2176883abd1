"""CONTRACT §14's spans on the suite's real PostgreSQL: one ``CLIENT`` span per operation, named
``{OPERATION} {schema}.{table}``, with every attribute of semantic conventions 1.44 that §14 lists; the
miss path's introspection as a child span; SQLSTATE on a failure; one span over a stream's drain."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from psycopg.conninfo import conninfo_to_dict

from axonstore import PostgresStoreBackend
from axonstore.errors import Query, UniqueViolation, UnknownColumn
from axonstore.schema import SCHEMA_CACHE
from tests.otel.conftest import Telemetry

INTROSPECTION = "SELECT pg_catalog.pg_attribute"


def backend_for(dsn: str, telemetry: Telemetry, store: str = "claims") -> PostgresStoreBackend:
    return PostgresStoreBackend.connect_named_sized(dsn, store, None, 2, **telemetry.providers)


def server(dsn: str) -> tuple[str, int]:
    parts = conninfo_to_dict(dsn)
    return str(parts["host"]), int(str(parts["port"]))


def database(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


def operations(telemetry: Telemetry) -> list[ReadableSpan]:
    """The operations' spans (not their introspection children)."""
    return [span for span in telemetry.spans() if span.name != INTROSPECTION]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_warm_select_is_one_client_span_with_every_attribute(
    dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with backend_for(dsn, telemetry) as backend:
        await backend.query(claims, "status = '${s}'", {"s": "open"})  # the miss: resolves and caches
        telemetry.clear()
        rows = await backend.query(claims, "status = '${s}' AND amount > 15", {"s": "open"}, columns="id")
    assert rows == [{"id": 2}]
    [span] = telemetry.spans()
    host, port = server(dsn)
    assert span.name == f"SELECT public.{claims}"
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "axonstore"
    assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.44.0"
    text = attrs(span).pop("db.query.text")
    assert attrs(span) | {"db.query.text": text} == {
        "db.system.name": "postgresql",
        "db.namespace": f"{database(dsn)}|public",
        "db.collection.name": f"public.{claims}",
        "db.operation.name": "SELECT",
        "db.query.summary": f"SELECT public.{claims}",
        "db.query.text": text,
        "db.response.returned_rows": 1,
        "server.address": host,
        "server.port": port,
        "axonstore.store": "claims",
        "axonstore.cache": "hit",
        "axonstore.endpoint": "primary",
        "axonstore.verb": "retrieve",
    }
    # The parameterised statement axonstore sent, never a value.
    where = '"status" = $1::text AND "amount" > $2::numeric'
    assert text == f'SELECT "id" FROM "public"."{claims}" WHERE {where}'


async def test_a_miss_has_its_introspection_as_a_child_span(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    SCHEMA_CACHE.clear()
    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims, "id = '${id}'", {"id": "1"})
    introspection, operation = telemetry.spans()  # the child ends first
    assert operation.name == f"SELECT public.{claims}"
    assert attrs(operation)["axonstore.cache"] == "miss"
    assert attrs(operation)["db.collection.name"] == f"public.{claims}"
    assert attrs(operation)["db.namespace"] == f"{database(direct_dsn)}|public"
    assert attrs(operation)["db.query.summary"] == f"SELECT public.{claims}"
    assert "$1" in attrs(operation)["db.query.text"]
    assert introspection.name == INTROSPECTION
    assert introspection.kind is SpanKind.CLIENT
    assert introspection.parent is not None
    assert introspection.parent.span_id == operation.context.span_id
    assert introspection.context.trace_id == operation.context.trace_id
    assert attrs(introspection)["axonstore.table"] == claims
    assert "to_regclass" in attrs(introspection)["db.query.text"]
    times = (operation.start_time, introspection.start_time, introspection.end_time, operation.end_time)
    assert None not in times
    assert list(times) == sorted(t or 0 for t in times)


async def test_every_write_verb_names_its_sql_operation(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims)
        telemetry.clear()
        await backend.insert(claims, {"id": 10, "status": "new", "amount": 1})
        await backend.insert_many(claims, [{"id": 11, "status": "new"}, {"id": 12, "status": "new"}])
        await backend.upsert(claims, {"id": 10, "status": "newer"}, "id")
        await backend.mutate(claims, "id = '${id}'", {"note": "secret-note"}, {"id": "10"})
        await backend.purge(claims, "id = '${id}'", {"id": "11"})
        page = await backend.page(claims, order_by="id ASC", size=2)
    assert len(page.rows) == 2
    names = [(span.name, attrs(span)["axonstore.verb"]) for span in operations(telemetry)]
    table = f"public.{claims}"
    assert names == [
        (f"INSERT {table}", "persist"),
        (f"INSERT {table}", "persist"),
        (f"INSERT {table}", "upsert"),
        (f"UPDATE {table}", "mutate"),
        (f"DELETE {table}", "purge"),
        (f"SELECT {table}", "retrieve"),
    ]
    for span in operations(telemetry):
        text = attrs(span)["db.query.text"]
        assert text.split()[0] == attrs(span)["db.operation.name"]
        for value in ("secret-note", "newer", "new"):
            assert f"'{value}'" not in text and value not in text
    assert attrs(operations(telemetry)[-1])["db.response.returned_rows"] == 2


async def test_a_failed_operation_carries_its_sqlstate(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims)
        telemetry.clear()
        with pytest.raises(UniqueViolation):
            await backend.insert(claims, {"id": 1, "status": "dup"})
        with pytest.raises(Query):
            await backend.mutate(claims, "id = '${id}'", {"amount": "not a number"}, {"id": "2"})
    duplicate, invalid = operations(telemetry)
    assert duplicate.name == f"INSERT public.{claims}"
    assert duplicate.status.status_code is StatusCode.ERROR
    assert duplicate.status.description == "23505"
    assert attrs(duplicate)["db.response.status_code"] == "23505"
    assert attrs(duplicate)["error.type"] == "23505"
    # The server's message quotes the row's key: it is not on the span (no events, no description).
    assert not duplicate.events
    assert attrs(invalid)["db.response.status_code"] == "22P02"
    assert attrs(invalid)["error.type"] == "22P02"
    # 22P02 on a hit may be a stale schema: the miss path re-resolved (a child span) and failed too.
    assert attrs(invalid)["axonstore.cache"] == "miss"
    [introspection] = [span for span in telemetry.spans() if span.name == INTROSPECTION]
    assert introspection.parent is not None and introspection.parent.span_id == invalid.context.span_id


async def test_an_error_without_a_sqlstate_is_named_by_its_class(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with backend_for(direct_dsn, telemetry) as backend:
        with pytest.raises(UnknownColumn):
            await backend.query(claims, "nope = '${x}'", {"x": "1"})
    [*_, operation] = telemetry.spans()
    assert operation.status.status_code is StatusCode.ERROR
    assert attrs(operation)["error.type"] == "UnknownColumn"
    assert "db.response.status_code" not in attrs(operation)


async def test_a_stream_is_one_span_over_the_drain_with_its_row_count(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    SCHEMA_CACHE.clear()
    async with backend_for(direct_dsn, telemetry) as backend:
        outcome = await backend.stream_retrieve(claims, "status = '${s}'", {"s": "open"})
        assert len(outcome.rows) == 2
        introspection, missed = telemetry.spans()
        telemetry.clear()
        seen = [row async for row in backend.iter_rows(claims, order_by="id ASC")]
        assert len(seen) == 3
        [warm] = telemetry.spans()
        telemetry.clear()
        async with contextlib.aclosing(backend.iter_rows(claims, order_by="id ASC")) as rows:
            async for _ in rows:
                break  # closed early: a normal end, not a failure
        [early] = telemetry.spans()
    assert introspection.parent is not None and introspection.parent.span_id == missed.context.span_id
    assert missed.name == warm.name == f"SELECT public.{claims}"
    assert attrs(missed)["db.response.returned_rows"] == 2
    assert attrs(missed)["axonstore.cache"] == "miss"
    assert attrs(warm)["db.response.returned_rows"] == 3
    assert attrs(warm)["axonstore.cache"] == "hit"
    assert early.status.status_code is StatusCode.UNSET
    # The rows the database returned: the stream fetches in chunks (all 3 rows came in one), whatever
    # the consumer took of them before it closed the stream.
    assert attrs(early)["db.response.returned_rows"] == 3


async def test_a_stream_that_fails_mid_drain_carries_the_failure(
    direct_dsn: str, telemetry: Telemetry, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    # The view divides by zero on its 3rd row: the server fails the stream after rows were handed out.
    admin.execute(
        f"CREATE VIEW {unique_name} AS SELECT g AS n, 1 / (3 - g) AS q FROM generate_series(1, 5) g"
    )
    seen: list[Any] = []

    async def drain(backend: PostgresStoreBackend) -> None:
        async for row in backend.iter_rows(unique_name, columns="n, q"):
            seen.append(row)

    async with backend_for(direct_dsn, telemetry) as backend:
        with pytest.raises(Query):
            await drain(backend)
    [*_, operation] = telemetry.spans()
    assert operation.status.status_code is StatusCode.ERROR
    assert attrs(operation)["error.type"] == "22012"
    assert attrs(operation)["db.response.returned_rows"] == len(seen)


async def test_a_transaction_is_an_internal_span_over_its_operations(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims)
        telemetry.clear()
        async with backend.transaction(isolation="serializable") as tx:
            await backend.insert(claims, {"id": 20, "status": "tx"}, conn=tx)
            await backend.query(claims, "id = '${id}'", {"id": "20"}, conn=tx)
        with pytest.raises(UniqueViolation):
            async with backend.transaction() as tx:
                await backend.insert(claims, {"id": 1, "status": "dup"}, conn=tx)
    insert, select, transaction, failed_insert, failed = telemetry.spans()
    assert transaction.name == f"TRANSACTION {database(direct_dsn)}"
    assert transaction.kind is SpanKind.INTERNAL
    assert attrs(transaction)["axonstore.isolation"] == "SERIALIZABLE"
    assert attrs(transaction)["axonstore.read_only"] is False
    for child in (insert, select):
        assert child.kind is SpanKind.CLIENT
        assert child.parent is not None and child.parent.span_id == transaction.context.span_id
    assert failed_insert.parent is not None and failed_insert.parent.span_id == failed.context.span_id
    assert attrs(failed)["error.type"] == "23505"
    assert failed.status.status_code is StatusCode.ERROR


async def test_a_registry_passes_its_providers_to_every_store(
    direct_dsn: str, telemetry: Telemetry, claims: str, tmp_path: Any
) -> None:
    from axonstore import StoreRegistry

    config = tmp_path / "axonstore.toml"
    config.write_text(f'[stores.{claims}]\nbackend = "postgresql"\nconnection = "{direct_dsn}"\n')
    async with StoreRegistry.from_toml(config, **telemetry.providers) as registry:
        await registry.store(claims).backend.query(claims)
    assert [span.name for span in operations(telemetry)] == [f"SELECT public.{claims}"]
    assert attrs(operations(telemetry)[0])["axonstore.store"] == claims


def test_without_providers_and_no_global_one_there_is_no_observer(direct_dsn: str) -> None:
    backend = PostgresStoreBackend.connect(direct_dsn)
    assert backend._observer is None


async def test_a_command_span_parents_the_operations_inside_it(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    from axonstore.otel import traced_command

    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims)
        telemetry.clear()
        with traced_command("verify", principal="ops-bot", tracer_provider=telemetry.tracer_provider):
            await backend.query(claims)
    operation, command = telemetry.spans()
    assert command.name == "axonstore verify"
    assert command.kind is SpanKind.INTERNAL
    assert attrs(command) == {"axonstore.tool": "verify", "axonstore.principal": "ops-bot"}
    assert operation.parent is not None and operation.parent.span_id == command.context.span_id


def test_a_routing_backend_can_say_an_operation_went_to_a_reader(
    direct_dsn: str, telemetry: Telemetry
) -> None:
    from axonstore.operations import prepare_read

    backend = backend_for(direct_dsn, telemetry)
    assert backend._observer is not None
    op = backend._observer.operation(prepare_read("claims", "", None))
    op.routed("reader")
    op.end()
    [span] = telemetry.spans()
    assert attrs(span)["axonstore.endpoint"] == "reader"


async def test_a_filter_the_cached_types_refuse_fails_as_the_operation_not_as_telemetry(
    direct_dsn: str, telemetry: Telemetry, claims: str
) -> None:
    from axonstore.errors import OperatorNotForType

    async with backend_for(direct_dsn, telemetry) as backend:
        await backend.query(claims)  # cached: `status` is text
        telemetry.clear()
        with pytest.raises(OperatorNotForType):
            await backend.query(claims, "status @> '[\"x\"]'")
    [span] = telemetry.spans()
    assert span.name == f"SELECT public.{claims}"
    assert attrs(span)["error.type"] == "OperatorNotForType"
    assert "db.query.text" not in attrs(span)  # nothing was sent: there is no statement to name
