"""``axonstore --otel``: the OpenTelemetry SDK as the global providers, exporting where the standard
``OTEL_*`` environment variables say (imported lazily: the SDK and the exporters are optional)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from axonstore.errors import StoreError

__all__ = ["TelemetryUnavailable", "configure_from_env"]

_SDK_INSTALL: Final = "pip install 'axonstore[otel]' opentelemetry-sdk opentelemetry-exporter-otlp"
#: The OTLP exporters by ``OTEL_EXPORTER_OTLP_PROTOCOL``: (module of the span exporter, of the metric
#: exporter, the package that brings them).
_OTLP: Final = {
    "http/protobuf": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter",
        "opentelemetry-exporter-otlp-proto-http",
    ),
    "grpc": (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "opentelemetry-exporter-otlp-proto-grpc",
    ),
}


@dataclass(eq=False)
class TelemetryUnavailable(StoreError):
    """``--otel`` (or :func:`configure_from_env`) needs a package that is not installed, or an
    ``OTEL_*`` variable names an exporter axonstore does not know."""

    missing: str
    install: str

    hint: ClassVar[str | None] = "run without --otel, or install what the message names"

    def message(self) -> str:
        return f"OpenTelemetry export needs {self.missing} — {self.install}"


def configure_from_env(
    service_name: str = "axonstore", environ: Mapping[str, str] = os.environ
) -> Callable[[], None]:
    """Install the SDK's tracer and meter providers as the global ones, exporting as the standard
    variables say: ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` (``otlp`` by default,
    ``console`` or ``none``), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` by default, or
    ``grpc``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` and the rest, read by the exporters themselves;
    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` name the service (``service_name`` otherwise).

    Returns the function that flushes and shuts both providers down (call it before exiting).
    ``TelemetryUnavailable`` says what to install when the SDK or an exporter is missing. A global
    provider the application already set is kept (OpenTelemetry sets each only once per process).
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return _nothing
    sdk = _sdk()
    resource = sdk["Resource"].create(
        {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    )
    span_exporter, metric_exporter = _exporters(environ, sdk)
    tracer_provider = sdk["TracerProvider"](resource=resource)
    if span_exporter is not None:
        tracer_provider.add_span_processor(sdk["BatchSpanProcessor"](span_exporter))
    readers = [] if metric_exporter is None else [sdk["PeriodicExportingMetricReader"](metric_exporter)]
    meter_provider = sdk["MeterProvider"](resource=resource, metric_readers=readers)
    from opentelemetry import metrics, trace  # noqa: PLC0415  # present: the SDK depends on it

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return shutdown


def _nothing() -> None:
    """What there is to shut down when the SDK is disabled."""


def _sdk() -> dict[str, Any]:
    """The SDK's classes, or ``TelemetryUnavailable`` naming what to install."""
    try:
        resources = importlib.import_module("opentelemetry.sdk.resources")
        sdk_trace = importlib.import_module("opentelemetry.sdk.trace")
        trace_export = importlib.import_module("opentelemetry.sdk.trace.export")
        sdk_metrics = importlib.import_module("opentelemetry.sdk.metrics")
        metrics_export = importlib.import_module("opentelemetry.sdk.metrics.export")
    except ImportError as exc:
        raise TelemetryUnavailable("the OpenTelemetry SDK (opentelemetry-sdk)", _SDK_INSTALL) from exc
    return {
        "Resource": resources.Resource,
        "TracerProvider": sdk_trace.TracerProvider,
        "BatchSpanProcessor": trace_export.BatchSpanProcessor,
        "ConsoleSpanExporter": trace_export.ConsoleSpanExporter,
        "MeterProvider": sdk_metrics.MeterProvider,
        "PeriodicExportingMetricReader": metrics_export.PeriodicExportingMetricReader,
        "ConsoleMetricExporter": metrics_export.ConsoleMetricExporter,
    }


def _exporters(environ: Mapping[str, str], sdk: Mapping[str, Any]) -> tuple[Any, Any]:
    """(span exporter, metric exporter), each ``None`` for ``none``."""
    traces = _choice(environ, "OTEL_TRACES_EXPORTER")
    measures = _choice(environ, "OTEL_METRICS_EXPORTER")
    protocol = (environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    if "otlp" in (traces, measures) and protocol not in _OTLP:
        raise TelemetryUnavailable(
            f"a known OTLP protocol (OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r})",
            "set it to `http/protobuf` or `grpc`",
        )
    span_module, metric_module, package = _OTLP.get(protocol, _OTLP["http/protobuf"])
    span = _exporter(traces, sdk["ConsoleSpanExporter"], span_module, "OTLPSpanExporter", package)
    metric = _exporter(measures, sdk["ConsoleMetricExporter"], metric_module, "OTLPMetricExporter", package)
    return span, metric


def _choice(environ: Mapping[str, str], variable: str) -> str:
    value = (environ.get(variable) or "otlp").split(",")[0].strip().lower()
    if value not in ("otlp", "console", "none"):
        raise TelemetryUnavailable(
            f"a known exporter ({variable}={value!r})", "set it to `otlp`, `console` or `none`"
        )
    return value


def _exporter(choice: str, console: Any, module: str, name: str, package: str) -> Any:
    if choice == "none":
        return None
    if choice == "console":
        return console()
    try:
        exporter = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise TelemetryUnavailable(f"the OTLP exporter ({package})", f"pip install {package}") from exc
    return exporter()
