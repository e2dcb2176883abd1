"""OpenTelemetry spans and metrics for axonstore's operations (CONTRACT §14), an optional extra.

``pip install 'axonstore[otel]'`` brings ``opentelemetry-api`` only; the SDK and its exporters are the
application's choice. Nothing here imports OpenTelemetry until telemetry is on for a backend:

* a backend built with ``tracer_provider=`` or ``meter_provider=`` uses those (the other one from the
  global API);
* a backend built with neither uses the global providers when the application has set one
  (``opentelemetry.trace.set_tracer_provider`` / ``opentelemetry.metrics.set_meter_provider``, or
  ``opentelemetry-instrument``) by the time the backend is built — or, at the latest, by the time its
  pool opens (its first operation's connection): later operations are observed from then on. Only
  code that imported the API can have set a provider, so this asks ``sys.modules`` first and imports
  nothing when the application never imported OpenTelemetry;
* otherwise — the API not installed, or no provider set — the backend holds no observer, and an
  operation pays one ``is None`` test.

:func:`configure_from_env` is what ``axonstore --otel`` calls: the SDK, exporting where the standard
``OTEL_*`` variables say.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from axonstore.otel._conventions import DURATION_BUCKETS, SCHEMA_URL, SCOPE
from axonstore.otel._setup import TelemetryUnavailable, configure_from_env

if TYPE_CHECKING:
    from axonstore.otel._observer import Observer, Operation, TransactionSpan

__all__ = [
    "DURATION_BUCKETS",
    "SCHEMA_URL",
    "SCOPE",
    "Observer",
    "Operation",
    "TelemetryUnavailable",
    "TransactionSpan",
    "configure_from_env",
    "global_providers_set",
    "observer_for",
    "traced_command",
]


def observer_for(
    backend: Any,
    dsn: str,
    dsn_key: str,
    store: str,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> Observer | None:
    """The observer of a backend's operations, or ``None`` when telemetry is off for it (see above).

    ``backend`` must have ``application_name`` and ``pool_stats()`` (the pool metrics read them).
    """
    if tracer_provider is None and meter_provider is None and not global_providers_set():
        return None
    from axonstore.otel._observer import Observer  # noqa: PLC0415  # imports OpenTelemetry: only now

    return Observer(backend, dsn, dsn_key, store, tracer_provider, meter_provider)


def global_providers_set() -> bool:
    """Has the application set a global tracer or meter provider? Imports nothing: a provider can
    only have been set by code that imported ``opentelemetry.trace`` or ``opentelemetry.metrics``."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is not None and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return True
    metrics = sys.modules.get("opentelemetry.metrics")
    # The API's placeholder meter provider is private (`_ProxyMeterProvider`); its name is stable.
    return metrics is not None and type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"


@contextlib.contextmanager
def traced_command(tool: str, principal: str | None = None, tracer_provider: Any = None) -> Iterator[None]:
    """An ``INTERNAL`` span ``axonstore {tool}`` around a CLI command or an MCP tool call, carrying
    ``axonstore.tool`` and ``axonstore.principal`` (CONTRACT §14); the stores' operations inside are its
    children. Does nothing (and imports nothing) when telemetry is off."""
    if tracer_provider is None and not global_providers_set():
        yield
        return
    from opentelemetry import trace  # noqa: PLC0415  # telemetry is on: the API is importable

    provider = tracer_provider or trace.get_tracer_provider()
    tracer = provider.get_tracer(SCOPE, schema_url=SCHEMA_URL)
    attributes = {"axonstore.tool": tool}
    if principal is not None:
        attributes["axonstore.principal"] = principal
    kind = trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(f"axonstore {tool}", kind=kind, attributes=attributes):
        yield
