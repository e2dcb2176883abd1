"""``axonstore demo``: in-process on both lanes of the test server, as a subprocess, and once end to end on
the real embedded default (a fresh ``AXONSTORE_EMBEDDED_DIR``, stopped afterwards by ``embedded stop``).

The demo owns the schema ``axon_demo`` of whatever database it runs on; these tests drop it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from axonstore.cli import main
from axonstore.cli._demo import SCHEMA, TABLE
from axonstore.embedded import EmbeddedServer, find_binaries, process_alive
from axonstore.errors import Connect
from tests._servers import unavailable

_ENV = (
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "AXONSTORE_DEMO_DSN",
    "AXONSTORE_CONFIG",
)
_SECRET = "demo-pw-41f"
_TITLES = [
    "The demo table",
    "IN, ordering and a limit",
    "BETWEEN",
    "A time window",
    "Bindings, NOT and groups",
    "An injection attempt through a binding",
    "An injection attempt in the filter itself",
    "An aggregate with group_by",
    "persist",
    "mutate",
    "purge",
    "An unbounded write, refused",
    "A write below the confidence floor, refused",
    "A missing capability, refused",
    "A stream under pause_upstream",
    "A stream under drop_oldest",
    "The audit chain",
    "A tampered copy of the chain",
    "Agent: the tools this principal may call",
    "Agent: a retrieve (rows are marked untrusted)",
    "Agent: an injection in the filter is refused by the grammar",
    "Agent: a purge without a filter is refused",
]


def _schema_exists(admin: psycopg.Connection[Any]) -> bool:
    return admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA]).fetchone() is not None


@pytest.fixture
def clean(
    admin: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[psycopg.Connection[Any]]:
    """No demo schema before or after the test; Rich sees a plain (non-terminal) stdout."""
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    yield admin
    admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    admin.execute(f"DROP TABLE IF EXISTS public.{TABLE}")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _password_dsn(url: str) -> str:
    changed = url.replace("://postgres@", f"://postgres:{_SECRET}@", 1)
    assert changed != url
    return changed


def test_demo_text_on_both_lanes(
    capsys: pytest.CaptureFixture[str], clean: Any, dsn: str, request: pytest.FixtureRequest
) -> None:
    pooled = request.node.callspec.params["dsn"] == "pooler"
    code, out, err = _run(capsys, "demo", "--dsn", _password_dsn(dsn))
    assert code == 0, err
    assert err == ""
    assert _SECRET not in out
    headings = [line for line in out.splitlines() if line.startswith("── ")]
    titles = _TITLES if not pooled else [t for t in _TITLES if not t.startswith("Agent:")]
    assert headings == [f"── {n}. {title} ──" for n, title in enumerate(titles, start=1)]
    relation, enum = '"axon_demo"."axon_demo_claims"', '"axon_demo"."claim_status"'
    assert f'SQL     SELECT * FROM {relation} WHERE "status" IN ($1::{enum}, $2::{enum})' in out
    assert 'params  ["x\'; DROP TABLE axon_demo.axon_demo_claims; --"]' in out
    assert "table still there: true" in out
    assert "spec    StoreSpec(name='axon_demo_claims'" in out  # a declaration, not labelled a call
    assert "call    StoreSpec" not in out
    assert "truncated: true" in out
    assert "refused UnboundedWrite:" in out
    assert "refused AuditChainBroken: audit chain broken at entry 0" in out
    if pooled:  # PgBouncer knows only its own users: the demo's agent role cannot log in there
        assert "the agent session was skipped: " in out
    else:
        assert "tools: axon_demo_claims_retrieve, axon_demo_claims_purge" in out  # the agent session (MCP)
        assert "refused UnexpectedChar:" in out and out.count("refused UnboundedWrite:") == 2
    assert (
        out.rstrip().splitlines()[-2]
        == f"dropped schema {SCHEMA} (run with --keep to leave it for your own queries)"
    )
    assert not _schema_exists(clean)


def test_demo_json_transcript(capsys: pytest.CaptureFixture[str], clean: Any, direct_dsn: str) -> None:
    code, out, err = _run(capsys, "demo", "--dsn", direct_dsn, "--json")
    assert code == 0, err
    assert out.count("\n") == 1
    document = json.loads(out)
    assert set(document) == {"database", "kept", "seconds", "steps", "table"}
    assert document["table"] == f"{SCHEMA}.{TABLE}"
    assert document["kept"] is False
    steps = {step["title"]: step for step in document["steps"]}
    assert list(steps) == _TITLES
    for step in document["steps"]:
        assert set(step) == {"title", "explain", "call", "sql", "params", "rows", "facts", "refused"}

    described = steps["The demo table"]
    assert {row["column"]: row["type"] for row in described["rows"]} == {
        "id": "uuid",
        "customer": "text",
        "amount": "numeric(10,2)",
        "status": "axon_demo.claim_status",
        "created_at": "timestamp with time zone",
        "details": "jsonb",
        "tags": "text[]",
        "_confidence": "double precision",
    }
    assert described["facts"]["schema"] == SCHEMA

    in_list = steps["IN, ordering and a limit"]
    assert in_list["params"] == ["open", "review"]
    assert len(in_list["rows"]) == 5
    assert {row["status"] for row in in_list["rows"]} <= {"open", "review"}
    amounts = [float(row["amount"]) for row in in_list["rows"]]
    assert amounts == sorted(amounts, reverse=True)

    between = steps["BETWEEN"]
    assert all(100 <= float(row["amount"]) <= 200 for row in between["rows"])
    assert all(isinstance(row["tags"], list) and isinstance(row["details"], dict) for row in between["rows"])

    hostile = steps["An injection attempt through a binding"]
    assert hostile["sql"].endswith('WHERE "customer" = $1::text')
    assert hostile["params"] == [f"x'; DROP TABLE {SCHEMA}.{TABLE}; --"]
    assert hostile["rows"] == []
    assert hostile["facts"]["table still there"] is True

    refused = {title: steps[title]["refused"]["error"] for title in steps if steps[title]["refused"]}
    assert refused == {
        "An injection attempt in the filter itself": "UnexpectedChar",
        "An unbounded write, refused": "UnboundedWrite",
        "A write below the confidence floor, refused": "SubFloorWrite",
        "A missing capability, refused": "CapabilityDenied",
        "A tampered copy of the chain": "AuditChainBroken",
        "Agent: an injection in the filter is refused by the grammar": "UnexpectedChar",
        "Agent: a purge without a filter is refused": "UnboundedWrite",
    }
    assert steps["An injection attempt in the filter itself"]["refused"]["hint"].endswith("^")

    grouped = steps["An aggregate with group_by"]
    assert '"_confidence" >= $1::float8' in grouped["sql"]
    assert sum(row["count"] for row in grouped["rows"]) == 270  # every tenth row is below the floor

    persisted = steps["persist"]
    assert persisted["facts"] == {"rows inserted": 1}
    assert persisted["rows"][0]["details"] == {"channel": "cli", "note": "Bogotá"}
    assert persisted["rows"][0]["tags"] == ["demo", "cli"]
    assert steps["mutate"]["rows"][0]["status"] == "review"
    assert steps["purge"]["facts"] == {"rows deleted": 1}

    paused = steps["A stream under pause_upstream"]["facts"]
    assert paused["truncated"] is True
    assert paused["total_seen"] == 26
    # issue 10 §9: the numbers explain each other — 25 kept, the floor hides some, total_seen is one more
    assert paused["kept (max_rows)"] == 25
    assert paused["below the floor"] + paused["trusted rows received"] == 25
    assert "one more than max_rows" in steps["A stream under pause_upstream"]["explain"]
    window = steps["A stream under drop_oldest"]["facts"]
    assert window["dropped"] == 50
    assert window["truncated"] is False
    # drop_oldest in created_at order keeps the newest claims: "oldest" reads naturally
    kept_at = [row["created_at"] for row in steps["A stream under drop_oldest"]["rows"]]
    assert kept_at == sorted(kept_at)
    assert "first to arrive" in steps["A stream under drop_oldest"]["explain"]
    counted = steps["An injection attempt through a binding"]["facts"]
    assert counted["trusted rows (of 300) counted before / after"] == "270 / 270"

    audit = steps["The audit chain"]
    assert [row["op"] for row in audit["rows"]] == ["persist", "mutate", "purge"]
    assert audit["facts"]["verified"] is True
    assert not _schema_exists(clean)


def test_demo_keep_leaves_the_schema_and_reruns(
    capsys: pytest.CaptureFixture[str], clean: psycopg.Connection[Any], direct_dsn: str
) -> None:
    code, out, _ = _run(capsys, "demo", "--dsn", direct_dsn, "--keep")
    assert code == 0
    assert f"kept {SCHEMA}.{TABLE}" in out
    assert f"axonstore retrieve {TABLE} 'status = \"open\"' --limit 5" in out  # pastes into bash
    assert "embedded PostgreSQL is still running" not in out  # --dsn: no embedded server was used
    assert 'connection = "env:DATABASE_URL"' in out
    row = clean.execute(f"SELECT count(*) FROM {SCHEMA}.{TABLE}").fetchone()
    assert row == (300,)
    code, _, err = _run(capsys, "demo", "--dsn", direct_dsn, "--json")  # its own schema: recreated
    assert code == 0, err
    assert not _schema_exists(clean)


def test_demo_leaves_foreign_objects_alone(
    capsys: pytest.CaptureFixture[str], clean: psycopg.Connection[Any], direct_dsn: str
) -> None:
    clean.execute(f"CREATE SCHEMA {SCHEMA}")
    clean.execute(f"CREATE TABLE {SCHEMA}.precious (n int)")
    code, _, err = _run(capsys, "demo", "--dsn", direct_dsn, "--json")
    assert code == 1
    payload = json.loads(err)
    assert payload["error"] == "Query"
    assert "was not created by the demo" in payload["message"]
    assert clean.execute(f"SELECT to_regclass('{SCHEMA}.precious')").fetchone() != (None,)

    clean.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    clean.execute(f"CREATE TABLE public.{TABLE} (n int)")
    code, _, err = _run(capsys, "demo", "--dsn", direct_dsn)
    assert code == 1
    assert err.startswith(
        f"error: axonstore `demo` SQL failed: a relation named {TABLE} exists in schema(s) public"
    )
    assert not _schema_exists(clean)


def _script() -> Path:
    script = Path(sys.executable).with_name("axonstore")
    assert script.is_file(), f"{script} is missing — install the package (pip install -e .)"
    return script


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env.update(extra)
    return env


def test_demo_subprocess_against_the_test_server(clean: Any, direct_dsn: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [str(_script()), "demo", "--json"],
        cwd=tmp_path,
        env=_env(AXONSTORE_DEMO_DSN=_password_dsn(direct_dsn)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert _SECRET not in run.stdout
    assert [step["title"] for step in json.loads(run.stdout)["steps"]] == _TITLES


@pytest.fixture
def embedded_root() -> Iterator[Path]:
    """A fresh embedded data root (reachable by the server user); its server is stopped afterwards."""
    try:
        find_binaries()
    except Connect as exc:
        unavailable(f"no PostgreSQL binaries for the embedded server: {exc}")
    parent = Path(tempfile.mkdtemp(prefix="axon-demo-"))
    os.chmod(parent, 0o755)
    root = parent / "embedded"
    try:
        yield root
    finally:
        EmbeddedServer(root).stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.slow
def test_demo_end_to_end_on_the_embedded_default(embedded_root: Path, tmp_path: Path) -> None:
    """What a fresh machine does: the first `axonstore demo` creates the cluster, starts it and tours."""
    env = _env(AXONSTORE_EMBEDDED_DIR=str(embedded_root))
    started = time.monotonic()
    run = subprocess.run(
        [str(_script()), "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert elapsed < 60, f"the demo took {elapsed:.1f} s"
    assert run.stderr.startswith("starting the embedded PostgreSQL")
    assert "── 18. A tampered copy of the chain ──" in run.stdout
    assert "demo finished in" in run.stdout
    assert "embedded PostgreSQL is still running" in run.stdout  # it says so, and how to stop it
    assert "axonstore embedded stop" in run.stdout

    status = EmbeddedServer(embedded_root).status()
    assert status.running
    assert status.pid is not None
    again = subprocess.run(
        [str(_script()), "demo", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""  # the server was reused
    assert EmbeddedServer(embedded_root).status().pid == status.pid

    stop = subprocess.run(
        [str(_script()), "embedded", "stop"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == f"stopped (pid {status.pid} has exited)"
    assert not process_alive(status.pid)
