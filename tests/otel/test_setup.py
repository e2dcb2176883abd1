"""``axonstore.otel.configure_from_env`` (what ``axonstore --otel`` calls): the SDK as the global
providers, exporters from the standard ``OTEL_*`` variables, and a clear ``TelemetryUnavailable`` when
something is missing (each case in a fresh interpreter: a global provider is set once per process)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import psycopg
import pytest

from axonstore.errors import StoreError
from axonstore.otel import TelemetryUnavailable, configure_from_env
from tests.otel.test_imports import BLOCK, SRC

RUN = textwrap.dedent(
    """
    import os
    from axonstore.otel import configure_from_env
    from axonstore.sync import PostgresStoreBackend
    shutdown = configure_from_env(service_name="axon-test")
    with PostgresStoreBackend.connect_named(os.environ["DSN"], "cli") as backend:
        backend.query(os.environ["TABLE"])
    shutdown()
    """
)


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**variables, "PYTHONPATH": str(SRC), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> str:
    admin.execute(f"CREATE TABLE {unique_name} (id int)")
    return unique_name


def test_console_exporter_prints_the_operations_spans(direct_dsn: str, table: str) -> None:
    done = run(RUN, DSN=direct_dsn, TABLE=table, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none")
    assert done.returncode == 0, done.stderr
    assert f'"name": "SELECT public.{table}"' in done.stdout
    assert '"kind": "SpanKind.CLIENT"' in done.stdout
    assert '"service.name": "axon-test"' in done.stdout


def test_otel_service_name_wins_over_the_default(direct_dsn: str, table: str) -> None:
    done = run(
        RUN,
        DSN=direct_dsn,
        TABLE=table,
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_SERVICE_NAME="billing",
    )
    assert done.returncode == 0, done.stderr
    assert '"service.name": "billing"' in done.stdout


def test_console_metrics_show_the_duration_histogram(direct_dsn: str, table: str) -> None:
    done = run(RUN, DSN=direct_dsn, TABLE=table, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="console")
    assert done.returncode == 0, done.stderr
    assert '"name": "db.client.operation.duration"' in done.stdout
    assert '"unit": "s"' in done.stdout


def test_otlp_over_http_reaches_the_endpoint_the_variables_name(direct_dsn: str, table: str) -> None:
    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
        done = run(RUN, DSN=direct_dsn, TABLE=table, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    finally:
        collector.shutdown()
        collector.server_close()
    assert done.returncode == 0, done.stderr
    paths = {path for path, _ in received}
    assert {"/v1/traces", "/v1/metrics"} <= paths
    traces = b"".join(body for path, body in received if path == "/v1/traces")
    assert f"SELECT public.{table}".encode() in traces  # protobuf carries strings as UTF-8 bytes
    metrics = b"".join(body for path, body in received if path == "/v1/metrics")
    assert b"db.client.operation.duration" in metrics


def test_a_missing_otlp_exporter_says_what_to_install() -> None:
    no_exporter = BLOCK.replace(
        'name == "opentelemetry" or name.startswith("opentelemetry.")',
        'name.startswith("opentelemetry.exporter")',
    )
    assert no_exporter != BLOCK
    done = run(no_exporter + "from axonstore.otel import configure_from_env\nconfigure_from_env()")
    assert done.returncode == 1
    assert "TelemetryUnavailable" in done.stderr
    assert "pip install opentelemetry-exporter-otlp-proto-http" in done.stderr


def test_a_missing_sdk_says_what_to_install() -> None:
    no_sdk = BLOCK.replace(
        'name == "opentelemetry" or name.startswith("opentelemetry.")', 'name.startswith("opentelemetry.sdk")'
    )
    assert no_sdk != BLOCK
    done = run(no_sdk + "from axonstore.otel import configure_from_env\nconfigure_from_env()")
    assert done.returncode == 1
    assert "TelemetryUnavailable" in done.stderr
    assert "opentelemetry-sdk" in done.stderr


def test_an_unknown_exporter_or_protocol_is_refused_before_anything_is_set() -> None:
    with pytest.raises(TelemetryUnavailable, match="OTEL_TRACES_EXPORTER='zipkin'") as caught:
        configure_from_env(environ={"OTEL_TRACES_EXPORTER": "zipkin"})
    assert isinstance(caught.value, StoreError)
    with pytest.raises(TelemetryUnavailable, match="http/json"):
        configure_from_env(environ={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_the_sdk_disabled_sets_nothing() -> None:
    done = run(
        "from axonstore.otel import configure_from_env\nconfigure_from_env()()\n"
        "from opentelemetry import trace\nprint(type(trace.get_tracer_provider()).__name__)",
        OTEL_SDK_DISABLED="true",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ProxyTracerProvider"
