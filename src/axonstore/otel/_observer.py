"""One backend's spans and metrics (imported only once telemetry is on: it imports OpenTelemetry).

A backend with telemetry on holds one :class:`Observer`; each operation is one :class:`Operation` —
a ``CLIENT`` span named and attributed as CONTRACT §14 says, and one measurement of
``db.client.operation.duration`` when it ends. While an operation runs (``with op:``), its context is
the current one *with instrumentation suppressed*: so the miss path's introspection becomes its child
span, and ``opentelemetry-instrumentation-psycopg``, when the application turned it on, adds no second
``CLIENT`` span for the same statement (SCALEOUT §5, fix A). A stream's operation is never made current
(a generator's context is its consumer's between rows); its introspection names its parent explicitly.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from time import perf_counter
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from axonstore.otel import _conventions as sc
from axonstore.otel._statements import operation_name, query_text
from axonstore.schema import RESOLVE_SQL, SCHEMA_CACHE, ResolvedTable

__all__ = ["Observer", "Operation", "TransactionSpan"]

# Private in opentelemetry-api, and honoured by every contrib instrumentation through
# `is_instrumentation_enabled()`: the only way to keep psycopg's instrumentation from tracing our
# statements a second time. Without it (a future API that renamed it), operations still work and the
# application would see the duplicate spans, nothing worse.
_SUPPRESS: Final = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)


def _version() -> str:
    try:
        return metadata.version("axonstore")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0"


_VERSION: Final = _version()
V = TypeVar("V")


class _Stats(Protocol):
    """What the pool metrics read from a backend."""

    application_name: str

    def pool_stats(self) -> Mapping[str, int] | None: ...


class Observer:
    """The tracer, the instruments and the constant attributes of one backend's operations."""

    __slots__ = ("_base", "_dsn_key", "_duration", "_metric_base", "_server", "_tracer", "endpoint")

    def __init__(
        self,
        backend: _Stats,
        dsn: str,
        dsn_key: str,
        store: str,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self._server = sc.server_of(dsn)
        self._dsn_key = dsn_key
        self._tracer = _tracer(tracer_provider or trace.get_tracer_provider())
        instruments = _instruments(meter_provider or metrics.get_meter_provider())
        self._duration = instruments.duration
        instruments.watch(backend)
        #: ``axonstore.endpoint`` of this backend's operations (a reader's backend says ``reader``).
        self.endpoint = "primary"
        server = self._server
        self._base: dict[str, Any] = {
            sc.DB_SYSTEM: sc.POSTGRESQL,
            sc.SERVER_ADDRESS: server.address,
            sc.SERVER_PORT: server.port,
            sc.STORE: store,
        }
        self._metric_base: dict[str, Any] = {
            sc.DB_SYSTEM: sc.POSTGRESQL,
            sc.SERVER_ADDRESS: server.address,
            sc.SERVER_PORT: server.port,
        }

    @property
    def database(self) -> str:
        """The database the backend's DSN names (the first half of ``db.namespace``)."""
        return self._server.database

    def operation(self, spec: Any) -> Operation:
        """Start the span of one operation on ``spec`` (a prepared read, page or write)."""
        return Operation(self, spec)

    def transaction(self, isolation: str | None, read_only: bool) -> TransactionSpan:
        """The span of one ``backend.transaction()`` block (enter it to start it)."""
        return TransactionSpan(self, isolation, read_only)


class Operation:
    """One operation's span and duration. ``with op:`` makes it current (suppressing instrumentation
    beneath it) and ends it; a stream calls :meth:`end` itself and counts :attr:`rows`."""

    __slots__ = (
        "_collection",
        "_ended",
        "_namespace",
        "_observer",
        "_op",
        "_span",
        "_spec",
        "_start",
        "_table",
        "_token",
        "rows",
    )

    def __init__(self, observer: Observer, spec: Any) -> None:
        self._observer = observer
        self._spec = spec
        self._op = op = operation_name(spec)
        self._table = table = spec.table
        self._token: object | None = None
        self._ended = False
        #: Rows a stream handed out so far (-1: not a stream; the stream sets it to 0 and counts).
        self.rows = -1
        resolved = SCHEMA_CACHE.get((observer._dsn_key, table))
        hit = resolved is not None and resolved.first_missing(spec.named) is None
        attributes = dict(observer._base)
        attributes[sc.DB_OPERATION] = op
        attributes[sc.VERB] = spec.op
        attributes[sc.ENDPOINT] = observer.endpoint
        attributes[sc.CACHE] = "hit" if hit else "miss"
        if resolved is not None and hit:
            name = _where(attributes, observer.database, op, resolved.schema, table)
        else:
            # The schema is known once the miss path has resolved the table (:meth:`resolved`).
            name = f"{op} {table}"
            attributes[sc.DB_COLLECTION] = table
            attributes[sc.DB_SUMMARY] = name
            attributes[sc.DB_NAMESPACE] = observer.database
        self._collection = attributes[sc.DB_COLLECTION]
        self._namespace = attributes[sc.DB_NAMESPACE]
        self._span = span = observer._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        if resolved is not None and hit and span.is_recording():
            _set_text(span, spec, resolved)
        self._start = perf_counter()

    def __enter__(self) -> Operation:
        ctx = trace.set_span_in_context(self._span)
        if _SUPPRESS is not None:
            ctx = otel_context.set_value(_SUPPRESS, True, ctx)
        self._token = otel_context.attach(ctx)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        token = self._token
        if token is not None:
            self._token = None
            otel_context.detach(token)  # type: ignore[arg-type]
        self.end(error)

    def routed(self, endpoint: str) -> None:
        """Say where the operation went (``axonstore.endpoint``: ``primary`` or ``reader``), for a
        backend that routes reads."""
        self._span.set_attribute(sc.ENDPOINT, endpoint)

    def result(self, value: V) -> V:
        """Note the rows a read returned (a list, or a page's rows); ``value`` passes through."""
        rows = value if isinstance(value, list) else getattr(value, "rows", None)
        if isinstance(rows, list) and self._op == "SELECT":
            self._span.set_attribute(sc.DB_RETURNED_ROWS, len(rows))
        return value

    def resolved(self, resolved: ResolvedTable) -> ResolvedTable:
        """After the miss path resolved the table: the schema-qualified name, collection, namespace,
        summary and statement text. ``resolved`` passes through."""
        span = self._span
        attributes: dict[str, Any] = {}
        name = _where(attributes, self._observer.database, self._op, resolved.schema, self._table)
        self._collection = attributes[sc.DB_COLLECTION]
        self._namespace = attributes[sc.DB_NAMESPACE]
        if span.is_recording():
            span.update_name(name)
            span.set_attributes(attributes)
            _set_text(span, self._spec, resolved)
        return resolved

    @contextlib.contextmanager
    def introspection(self, table: str) -> Iterator[None]:
        """The miss path's catalog query, as a child span of this operation (made current, with
        instrumentation suppressed, while it runs)."""
        observer = self._observer
        span = self._span
        span.set_attribute(sc.CACHE, "miss")
        attributes = dict(observer._base)
        attributes[sc.DB_OPERATION] = "SELECT"
        attributes[sc.DB_COLLECTION] = "pg_catalog.pg_attribute"
        attributes[sc.DB_SUMMARY] = sc.INTROSPECTION_SPAN
        attributes[sc.DB_NAMESPACE] = f"{observer.database}|pg_catalog"
        attributes[sc.DB_TEXT] = RESOLVE_SQL
        attributes["axonstore.table"] = table
        child = observer._tracer.start_span(
            sc.INTROSPECTION_SPAN,
            context=trace.set_span_in_context(span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        ctx = trace.set_span_in_context(child)
        if _SUPPRESS is not None:
            ctx = otel_context.set_value(_SUPPRESS, True, ctx)
        token = otel_context.attach(ctx)
        try:
            yield
        except BaseException as exc:
            _failed(child, exc)
            raise
        finally:
            otel_context.detach(token)
            child.end()

    def end(self, error: BaseException | None = None) -> None:
        """End the span (with the error's SQLSTATE or class, when it failed) and record the duration.
        A second call does nothing; ``GeneratorExit`` (a stream closed early) is no failure."""
        if self._ended:
            return
        self._ended = True
        elapsed = perf_counter() - self._start
        observer = self._observer
        span = self._span
        measured = dict(observer._metric_base)
        measured[sc.DB_OPERATION] = self._op
        measured[sc.DB_COLLECTION] = self._collection
        measured[sc.DB_NAMESPACE] = self._namespace
        if self.rows >= 0:
            span.set_attribute(sc.DB_RETURNED_ROWS, self.rows)
        if error is not None and not isinstance(error, GeneratorExit):
            measured[sc.ERROR_TYPE] = _failed(span, error)
        span.end()
        observer._duration.record(elapsed, measured)


class TransactionSpan:
    """The ``INTERNAL`` span of a ``backend.transaction()`` block, current while the block runs (its
    operations are its children). Usable with ``with`` and ``async with``."""

    __slots__ = ("_attributes", "_name", "_span", "_token", "_tracer")

    def __init__(self, observer: Observer, isolation: str | None, read_only: bool) -> None:
        self._tracer = observer._tracer
        self._name = f"TRANSACTION {observer.database}"
        self._attributes = dict(observer._base)
        self._attributes[sc.DB_NAMESPACE] = observer.database
        self._attributes[sc.ENDPOINT] = observer.endpoint
        self._attributes[sc.READ_ONLY] = read_only
        if isolation is not None:
            self._attributes[sc.ISOLATION] = isolation
        self._span: Span | None = None
        self._token: object | None = None

    def __enter__(self) -> TransactionSpan:
        self._span = span = self._tracer.start_span(
            self._name, kind=SpanKind.INTERNAL, attributes=self._attributes
        )
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        if span is not None:
            if error is not None:
                _failed(span, error)
            span.end()

    async def __aenter__(self) -> TransactionSpan:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, error, tb)


def _where(attributes: dict[str, Any], database: str, op: str, schema: str, table: str) -> str:
    """Fill the attributes that name the table; the span's name (= ``db.query.summary``)."""
    collection = f"{schema}.{table}"
    name = f"{op} {collection}"
    attributes[sc.DB_COLLECTION] = collection
    attributes[sc.DB_NAMESPACE] = f"{database}|{schema}"
    attributes[sc.DB_SUMMARY] = name
    return name


def _set_text(span: Span, spec: Any, resolved: ResolvedTable) -> None:
    """``db.query.text``, unless rendering fails: then the operation itself fails the same way, and
    reports it — telemetry never raises in an operation's place."""
    try:
        text = query_text(spec, resolved)
    except Exception:  # the operation's own rendering raises it, typed
        return
    span.set_attribute(sc.DB_TEXT, text)


def _failed(span: Span, error: BaseException) -> str:
    """Mark ``span`` failed; the ``error.type``: the SQLSTATE when the server gave one, else the error
    class's name. The message is left out on purpose: a server's message can quote a row's values."""
    sqlstate = getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)
    kind = str(sqlstate) if sqlstate else type(error).__name__
    if sqlstate:
        span.set_attribute(sc.DB_STATUS, str(sqlstate))
    span.set_attribute(sc.ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR, kind))
    return kind


# ---- one tracer and one set of instruments per provider ------------------------------------------


class _Instruments:
    """The duration histogram and the pool's observable instruments of one meter provider.

    Instruments are created once per meter (a second ``create_*`` of the same name would keep the
    first one's callbacks only), and the pool callbacks read every live backend that uses this meter
    provider, summed by pool name (``application_name``: readers share their primary's).
    """

    def __init__(self, meter: Meter) -> None:
        # A reader's collection thread walks the backends while others may be built: under a lock.
        self._lock = threading.Lock()
        self._pools: weakref.WeakSet[_Stats] = weakref.WeakSet()
        self.duration = meter.create_histogram(
            sc.OPERATION_DURATION,
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        meter.create_observable_up_down_counter(
            sc.CONNECTION_COUNT,
            callbacks=[self._count],
            unit="{connection}",
            description="The number of connections in the state the state attribute names.",
        )
        meter.create_observable_up_down_counter(
            sc.CONNECTION_MAX,
            callbacks=[self._gauge("pool_max")],
            unit="{connection}",
            description="The maximum number of open connections allowed.",
        )
        meter.create_observable_up_down_counter(
            sc.PENDING_REQUESTS,
            callbacks=[self._gauge("requests_waiting")],
            unit="{request}",
            description="The number of current pending requests for an open connection.",
        )
        meter.create_observable_counter(
            sc.TIMEOUTS,
            callbacks=[self._gauge("requests_errors")],
            unit="{timeout}",
            description="The number of connection timeouts that have occurred trying to obtain a connection "
            "from the pool.",
        )

    def watch(self, backend: _Stats) -> None:
        """Report ``backend``'s pool while it lives (held weakly: a dropped backend is forgotten)."""
        with self._lock:
            self._pools.add(backend)

    def _stats(self) -> dict[str, Counter[str]]:
        totals: dict[str, Counter[str]] = {}
        with self._lock:
            backends = list(self._pools)
        for backend in backends:
            stats = backend.pool_stats()
            if stats is not None:
                totals.setdefault(backend.application_name, Counter()).update(stats)
        return totals

    def _count(self, _options: CallbackOptions) -> Iterable[Observation]:
        for name, stats in self._stats().items():
            idle = stats["pool_available"]
            yield Observation(stats["pool_size"] - idle, {sc.POOL_NAME: name, sc.CONNECTION_STATE: "used"})
            yield Observation(idle, {sc.POOL_NAME: name, sc.CONNECTION_STATE: "idle"})

    def _gauge(self, key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(stats[key], {sc.POOL_NAME: name}) for name, stats in self._stats().items()]

        return observe


_TRACERS: weakref.WeakKeyDictionary[TracerProvider, Tracer] = weakref.WeakKeyDictionary()
_INSTRUMENTS: weakref.WeakKeyDictionary[MeterProvider, _Instruments] = weakref.WeakKeyDictionary()


def _tracer(provider: TracerProvider) -> Tracer:
    tracer = _TRACERS.get(provider)
    if tracer is None:
        tracer = provider.get_tracer(sc.SCOPE, _VERSION, schema_url=sc.SCHEMA_URL)
        _TRACERS[provider] = tracer
    return tracer


def _instruments(provider: MeterProvider) -> _Instruments:
    instruments = _INSTRUMENTS.get(provider)
    if instruments is None:
        instruments = _Instruments(provider.get_meter(sc.SCOPE, _VERSION, schema_url=sc.SCHEMA_URL))
        _INSTRUMENTS[provider] = instruments
    return instruments
