"""Fixtures of the OpenTelemetry tests: the SDK's in-memory span exporter and metric reader, handed to
each backend explicitly (``tracer_provider=`` / ``meter_provider=``), never set globally — Python's
OpenTelemetry sets a global provider only once per process (SCALEOUT §5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Telemetry:
    """A tracer provider and a meter provider whose spans and metrics stay in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    @property
    def providers(self) -> dict[str, Any]:
        """The constructors' keywords."""
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        """Every finished span so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        """Forget the spans so far."""
        self.exporter.clear()

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` in a fresh collection."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def metric(self, name: str) -> Any:
        """The metric ``name`` itself (its unit and aggregation), from a fresh collection."""
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return metric
        raise AssertionError(f"no metric {name!r} was recorded")

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Fresh in-memory providers for one test."""
    found = Telemetry()
    yield found
    found.shutdown()


@pytest.fixture
def claims(admin: psycopg.Connection[Any], unique_name: str) -> str:
    """A fresh table ``public.<unique_name>`` with three rows (id, status, amount, note)."""
    admin.execute(
        f"CREATE TABLE public.{unique_name} (id int PRIMARY KEY, status text NOT NULL, amount numeric, "
        "note text)"
    )
    admin.execute(
        f"INSERT INTO public.{unique_name} VALUES (1, 'open', 10, 'a'), (2, 'open', 20, 'b'), "
        "(3, 'closed', 30, 'c')"
    )
    return unique_name
