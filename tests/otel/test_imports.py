"""Without the extra nothing of OpenTelemetry is imported; with it, nothing is imported until the
application sets a provider; a global provider is picked up (each case in a fresh interpreter:
OpenTelemetry sets a global provider only once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: Makes `opentelemetry` unimportable, as in an environment without `axonstore[otel]`.
BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys
    class NoOpenTelemetry(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, NoOpenTelemetry())
    """
)

#: One sync operation on the suite's server, then what was imported and whether a span was seen.
RUN = textwrap.dedent(
    """
    import json, os, sys
    import axonstore, axonstore.sync, axonstore.otel
    from axonstore.sync import PostgresStoreBackend
    backend = PostgresStoreBackend.connect_named(os.environ["DSN"], "probe")
    with backend:
        first = backend.query(os.environ["TABLE"])
        observed_after_open = backend._observer is not None
        backend.query(os.environ["TABLE"])
    print(json.dumps({
        "modules": sorted(m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")),
        "rows": len(first),
        "observed_after_open": observed_after_open,
        "spans": [s.name for s in EXPORTER.get_finished_spans()] if "EXPORTER" in globals() else None,
    }))
    """
)

GLOBAL_SDK = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    EXPORTER = InMemorySpanExporter()
    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(_provider)
    """
)


def run(code: str, direct_dsn: str, table: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "DSN": direct_dsn, "TABLE": table}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> str:
    admin.execute(f"CREATE TABLE {unique_name} (id int)")
    admin.execute(f"INSERT INTO {unique_name} VALUES (1), (2)")
    return unique_name


def test_without_the_extra_nothing_of_opentelemetry_is_imported(direct_dsn: str, table: str) -> None:
    result = run(BLOCK + RUN, direct_dsn, table)
    assert result["modules"] == []
    assert result["rows"] == 2
    assert result["observed_after_open"] is False


def test_with_the_api_installed_but_unused_nothing_is_imported(direct_dsn: str, table: str) -> None:
    result = run(RUN, direct_dsn, table)
    assert result["modules"] == []
    assert result["observed_after_open"] is False


def test_a_global_provider_set_before_construction_is_used(direct_dsn: str, table: str) -> None:
    result = run(GLOBAL_SDK + RUN, direct_dsn, table)
    # A new process: the first query misses the schema cache (its introspection ends first).
    assert result["spans"] == [
        "SELECT pg_catalog.pg_attribute",
        f"SELECT public.{table}",
        f"SELECT public.{table}",
    ]


def test_a_global_provider_set_before_the_pool_opens_is_used_from_then_on(
    direct_dsn: str, table: str
) -> None:
    # The backend is built first; the provider is set before its first operation. That operation
    # opens the pool (the backend looks again then) and is not observed; the next one is.
    code = RUN.replace(
        'backend = PostgresStoreBackend.connect_named(os.environ["DSN"], "probe")',
        'backend = PostgresStoreBackend.connect_named(os.environ["DSN"], "probe")\n' + GLOBAL_SDK,
    )
    result = run(code, direct_dsn, table)
    assert result["observed_after_open"] is True
    assert result["spans"] == [f"SELECT public.{table}"]
