"""The CLI's share of the new verbs (CONTRACT §11): --columns, pages, --from-jsonl, upsert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

import axonstore
from tests.cli.test_cli import Cli


def _count(admin: psycopg.Connection[Any], table: str, where: str = "TRUE") -> int:
    row = admin.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def test_retrieve_columns_projects_in_the_given_order(cli: Cli, config: Path, table: str) -> None:
    shown = cli("retrieve", table, "id <= 2", "--columns", "name, id", "--order-by", "id", "--json")
    assert shown.code == 0, shown.err
    assert [set(row) for row in shown.json()["rows"]] == [{"name", "id"}] * 2  # the envelope sorts keys
    table_view = cli("retrieve", table, "id <= 2", "--columns", "name, id", "--order-by", "id")
    assert table_view.code == 0, table_view.err
    assert table_view.out.index("name") < table_view.out.index("id"), table_view.out
    bad = cli("retrieve", table, "--columns", "id; drop")
    assert bad.code == 1 and "BadColumns" not in bad.out, bad.err  # a StoreError: exit 1
    missing = cli("retrieve", table, "--columns", "nope")
    assert missing.code != 0 and "nope" in missing.err


def test_retrieve_pages_walk_every_row_once(cli: Cli, config: Path, table: str) -> None:
    seen: list[int] = []
    after: list[str] = []
    for _ in range(10):
        page = cli("retrieve", table, "--order-by", "price desc", "--page-size", "7", *after, "--json")
        assert page.code == 0, page.err
        body = page.json()
        seen += [int(row["id"]) for row in body["rows"]]
        if body["next"] is None:
            break
        after = ["--after", body["next"]]
    assert sorted(seen) == sorted({*range(1, 31), 100}) and len(seen) == 31
    plain = cli("retrieve", table, "--order-by", "id", "--page-size", "5")
    assert plain.code == 0 and "next page: --after " in plain.out
    wrong = cli("retrieve", table, "id > 3", "--order-by", "id", "--page-size", "5", *after)
    assert wrong.code != 0 and "another query" in wrong.err
    mixed = cli("retrieve", table, "--page-size", "5", "--limit", "3")
    assert mixed.code == 2


def test_persist_from_jsonl_is_all_or_nothing(
    cli: Cli, config: Path, table: str, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    good = tmp_path / "rows.jsonl"
    good.write_text("".join(json.dumps({"id": 1000 + i, "name": f"n{i}"}) + "\n" for i in range(12_000)))
    done = cli("persist", table, "--from-jsonl", str(good), "--json")
    assert done.code == 0, done.err
    assert done.json() == {"store": table, "op": "persist", "rows": 12_000}
    assert _count(admin, table, "id >= 1000") == 12_000

    clash = tmp_path / "clash.jsonl"
    clash.write_text(
        json.dumps({"id": 50_000, "name": "new"}) + "\n" + json.dumps({"id": 1, "name": "dup"}) + "\n"
    )
    refused = cli("persist", table, "--from-jsonl", str(clash))
    assert refused.code == 1, refused.err
    assert _count(admin, table, "id = 50000") == 0  # nothing of the failed file was kept

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 7}\n{not json}\n')
    usage = cli("persist", table, "--from-jsonl", str(broken))
    assert usage.code == 2 and "line 2" in usage.err


def test_upsert_inserts_then_updates(
    cli: Cli, config: Path, table: str, admin: psycopg.Connection[Any]
) -> None:
    first = cli("upsert", table, "--on-conflict", "id", "--set", "id=500", "--set", "name=fresh", "--json")
    assert first.code == 0, first.err
    assert first.json()["rows"] == 1
    again = cli("upsert", table, "--on-conflict", "id", "--set", "id=500", "--set", "name=again")
    assert again.code == 0, again.err
    row = admin.execute(f"SELECT name FROM {table} WHERE id = 500").fetchone()
    assert row == ("again",)
    keep = cli("upsert", table, "--on-conflict", "id", "--update", "", "--set", "id=500", "--set", "name=x")
    assert keep.code == 0, keep.err
    assert admin.execute(f"SELECT name FROM {table} WHERE id = 500").fetchone() == ("again",)
    no_target = cli("upsert", table, "--set", "id=501")
    assert no_target.code == 2


def test_otel_on_any_command_exports_the_commands_span_and_its_operations(config: Path, table: str) -> None:
    """``--otel``: the SDK's providers from the OTEL_* variables (here the console exporter), the command
    as one span with the store's operations inside it."""
    src = str(Path(axonstore.__file__).resolve().parents[1])
    environ = {
        **os.environ,
        "PYTHONPATH": src,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from axonstore.cli import main; sys.exit(main())",
         "retrieve", table, "id = 1", "--otel", "--json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=config.parent, env=environ,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spans = done.stdout + done.stderr
    assert '"name": "axonstore retrieve"' in spans, spans[-2000:]
    assert f'"name": "SELECT public.{table}"' in spans


def test_stores_json_shows_the_routing(cli: Cli, config: Path, table: str) -> None:
    listed = cli("stores", "--json")
    assert listed.code == 0, listed.err
    routing = {entry["store"]: entry.get("routing") for entry in listed.json()}
    assert routing[table]["reads"] == "primary", routing
