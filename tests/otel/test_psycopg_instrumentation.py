"""With ``opentelemetry-instrumentation-psycopg`` active, an operation is one CLIENT span, not two
(SCALEOUT §5: axonstore suppresses instrumentation beneath its own span, fix A)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.trace import SpanKind

from axonstore import PostgresStoreBackend
from axonstore import sync as axon_sync
from axonstore.schema import SCHEMA_CACHE
from tests.otel.conftest import Telemetry

PSYCOPG_SCOPE = "opentelemetry.instrumentation.psycopg"


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """psycopg instrumented (as an application would) into the same in-memory tracer provider."""
    instrumentor = PsycopgInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, skip_dep_check=True)
    try:
        yield telemetry
    finally:
        instrumentor.uninstrument()


def scopes(telemetry: Telemetry) -> list[str]:
    return [
        span.instrumentation_scope.name if span.instrumentation_scope else "" for span in telemetry.spans()
    ]


async def test_the_instrumentation_is_active_for_plain_psycopg(
    direct_dsn: str, instrumented: Telemetry
) -> None:
    """The control: the same instrumentation does trace a connection axonstore does not run."""
    async with await psycopg.AsyncConnection.connect(direct_dsn) as conn:
        await conn.execute("SELECT 1")
    assert scopes(instrumented) == [PSYCOPG_SCOPE]


async def test_one_client_span_per_operation_with_the_instrumentation_active(
    direct_dsn: str, instrumented: Telemetry, claims: str
) -> None:
    SCHEMA_CACHE.clear()
    instrumented.clear()  # the fixtures' own set-up statements
    async with PostgresStoreBackend.connect_named(direct_dsn, "claims", **instrumented.providers) as backend:
        await backend.query(claims, "id = '${id}'", {"id": "1"})  # miss: introspection + select
        await backend.query(claims, "id = '${id}'", {"id": "1"})  # hit
        await backend.insert(claims, {"id": 9, "status": "new"})
        await backend.mutate(claims, "id = '${id}'", {"note": "x"}, {"id": "9"})
        rows = [row async for row in backend.iter_rows(claims)]
        assert len(rows) == 4
    assert PSYCOPG_SCOPE not in scopes(instrumented)
    client = [span for span in instrumented.spans() if span.kind is SpanKind.CLIENT]
    assert [span.name for span in client] == [
        "SELECT pg_catalog.pg_attribute",
        f"SELECT public.{claims}",
        f"SELECT public.{claims}",
        f"INSERT public.{claims}",
        f"UPDATE public.{claims}",
        f"SELECT public.{claims}",
    ]


def test_one_client_span_per_operation_in_the_sync_flavour(
    direct_dsn: str, instrumented: Telemetry, claims: str
) -> None:
    SCHEMA_CACHE.clear()
    instrumented.clear()  # the fixtures' own set-up statements
    with axon_sync.PostgresStoreBackend.connect_named(
        direct_dsn, "claims", **instrumented.providers
    ) as backend:
        backend.query(claims, "id = '${id}'", {"id": "1"})
        backend.insert(claims, {"id": 9, "status": "new"})
    assert PSYCOPG_SCOPE not in scopes(instrumented)
    assert [span.name for span in instrumented.spans()] == [
        "SELECT pg_catalog.pg_attribute",
        f"SELECT public.{claims}",
        f"INSERT public.{claims}",
    ]


async def test_outside_an_operation_the_application_keeps_its_instrumentation(
    direct_dsn: str, instrumented: Telemetry, claims: str
) -> None:
    """The suppression is scoped to axonstore's operation: the application's own queries after it
    are traced as before."""
    instrumented.clear()  # the fixtures' own set-up statements
    async with PostgresStoreBackend.connect_named(direct_dsn, "claims", **instrumented.providers) as backend:
        await backend.query(claims)
    assert PSYCOPG_SCOPE not in scopes(instrumented)
    instrumented.clear()
    with psycopg.connect(direct_dsn) as conn:
        conn.execute("SELECT 1")
    assert scopes(instrumented) == [PSYCOPG_SCOPE]
