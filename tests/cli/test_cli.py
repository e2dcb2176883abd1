"""The ``axonstore`` CLI, driven in-process through ``main([...])`` (and as a subprocess) on the test server.

Every store in these configs connects with a DSN that carries a password (the server trusts every login,
so any password connects); the ``cli`` runner checks that the password never appears in anything a
command prints — stdout or stderr, text or JSON, with or without ``--debug``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from axonstore.cli import caret, main
from axonstore.embedded import EmbeddedServer, find_binaries
from axonstore.errors import Connect
from tests._servers import unavailable

SECRET = "pw-Zq81xQ"
_RICH_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "NO_COLOR")
_CLI_ENV = ("AXONSTORE_CONFIG", "AXONSTORE_AUDIT_LOG", "AXONSTORE_AUDIT_KEY_FILE", "AXONSTORE_DEMO_DSN")
_ERROR_KEYS = {"error", "message", "hint"}


@dataclass(frozen=True)
class Result:
    """What one command did: its exit code and everything it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error(self) -> dict[str, Any]:
        """The ``--json`` error object on stderr (exactly one line)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        payload = json.loads(lines[0])
        assert set(payload) == _ERROR_KEYS
        return dict(payload)


Cli = Callable[..., Result]


def with_password(url: str, password: str = SECRET) -> str:
    """The harness URL (``postgresql://postgres@…``) with a password in its userinfo."""
    changed = url.replace("://postgres@", f"://postgres:{password}@", 1)
    assert changed != url
    return changed


def write_config(path: Path, stores: Mapping[str, Mapping[str, object]]) -> Path:
    """An ``axonstore.toml`` with one ``[stores.NAME]`` table per entry (values as TOML scalars)."""
    lines: list[str] = []
    for name, keys in stores.items():
        lines.append(f"[stores.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def embedded_root() -> Iterator[Path]:
    """An embedded data root reachable by the server user; its server (if any) is stopped afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="axon-cli-"))
    os.chmod(parent, 0o755)  # as root the server runs as another user, who must reach the data root
    root = parent / "embedded"
    try:
        yield root
    finally:
        EmbeddedServer(root).stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedded_root: Path
) -> Cli:
    """Run ``main(args)`` in ``tmp_path`` and capture what it printed; the password must never show."""
    for var in _RICH_ENV + _CLI_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AXONSTORE_EMBEDDED_DIR", str(embedded_root))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        assert SECRET not in out
        assert SECRET not in err
        return Result(code, out, err)

    return run


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> str:
    """A table (and store) of 30 items plus one whose name is Rich markup."""
    admin.execute(
        f"CREATE TABLE {unique_name} (id int PRIMARY KEY, name text, price numeric(8,2), meta jsonb)"
    )
    admin.execute(
        f"INSERT INTO {unique_name} SELECT i, 'item ' || i, i * 1.5, jsonb_build_object('k', i) "
        "FROM generate_series(1, 30) AS i"
    )
    admin.execute(f"INSERT INTO {unique_name} VALUES (100, '[bold]x[/] :smile:', 1, NULL)")
    return unique_name


@pytest.fixture
def config(tmp_path: Path, direct_dsn: str, table: str) -> Path:
    """``./axonstore.toml`` with the table's store (a password DSN) and an in-memory store."""
    return write_config(
        tmp_path / "axonstore.toml",
        {
            table: {"backend": "postgresql", "connection": with_password(direct_dsn)},
            "scratch": {"backend": "in_memory"},
        },
    )


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["id"]) for row in rows]


def _count(admin: psycopg.Connection[Any], table: str, where: str = "TRUE") -> int:
    row = admin.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


# --------------------------------------------------------------------------------------------------
# retrieve


def test_retrieve_table_and_json(cli: Cli, config: Path, table: str) -> None:
    text = cli("retrieve", table, "id > 27 AND id < 100", "--order-by", "id desc")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert any(re.search(r"\bid\b.*\bname\b.*\bprice\b.*\bmeta\b", line) for line in lines)
    assert [line.split()[0] for line in lines if re.match(r"\s+\d+\s", line)] == ["30", "29", "28"]
    assert '{"k":29}' in text.out
    assert "3 row(s)" in text.out
    assert text.err == ""

    envelope = cli("retrieve", table, "id <= 3", "--order-by", "id", "--json")
    assert envelope.code == 0, envelope.err
    assert envelope.out.count("\n") == 1
    data = envelope.json()
    assert set(data) == {
        "below_floor_filtered",
        "confidence_floor",
        "rows",
        "stream",
        "taint",
        "trusted_rows",
    }
    assert data["rows"] == [
        {"id": i, "meta": {"k": i}, "name": f"item {i}", "price": f"{i * 1.5:.2f}"} for i in (1, 2, 3)
    ]
    assert data["taint"] == "untrusted"
    assert data["trusted_rows"] == 3
    assert data["stream"] == {
        "cancelled": False,
        "dropped": 0,
        "policy": "pause_upstream",
        "total_seen": 3,
        "truncated": False,
    }
    assert envelope.out == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def test_retrieve_bindings_limit_and_aggregate(cli: Cli, config: Path, table: str) -> None:
    bound = cli(
        "retrieve", table, "name = '${n}' OR id = '${i}'", "--bind", "n=item 4", "--bind", "i=7", "--json"
    )
    assert bound.code == 0, bound.err
    assert sorted(_ids(bound.json()["rows"])) == [4, 7]

    limited = cli("retrieve", table, "--order-by", "id", "--limit", "${n}", "--bind", "n=2", "--json")
    assert _ids(limited.json()["rows"]) == [1, 2]

    counted = cli("retrieve", table, "id <= 10", "--aggregate", "sum(price)", "--group-by", "name", "--json")
    assert counted.code == 0, counted.err
    rows = counted.json()["rows"]
    assert len(rows) == 10
    assert {row["name"]: row["sum"] for row in rows}["item 4"] == 6.0  # sum() is float8, as in the reference


def test_bind_and_set_split_at_the_first_equals(cli: Cli, config: Path, table: str, admin: Any) -> None:
    found = cli("retrieve", table, "name = '${v}'", "--bind", "v=a=b", "--json")
    assert found.json()["rows"] == []
    done = cli("persist", table, "--set", "id=200", "--set", "name=a=b", "--set", "meta", "--json")
    assert done.code == 0, done.err
    assert admin.execute(f"SELECT name, meta FROM {table} WHERE id = 200").fetchone() == ("a=b", None)
    again = cli("retrieve", table, "name = '${v}'", "--bind", "v=a=b", "--json")
    assert _ids(again.json()["rows"]) == [200]


def test_where_starting_with_a_dash_goes_after_double_dash(cli: Cli, config: Path, table: str) -> None:
    result = cli("retrieve", table, "--json", "--", "-1 = id")
    assert result.code == 1
    assert result.error()["error"] == "ExpectedColumn"  # the filter arrived as WHERE, not as an option


def test_markup_in_values_and_errors_prints_literally(cli: Cli, config: Path, table: str) -> None:
    shown = cli("retrieve", table, "id = 100")
    assert shown.code == 0, shown.err
    assert "[bold]x[/] :smile:" in shown.out
    assert "\x1b[" not in shown.out

    refused = cli("retrieve", table, "name = '[red]boom[/]' ; x")
    assert refused.code == 1
    assert "[red]boom[/]" in refused.err
    assert refused.err.startswith("error: unexpected character ';'")

    as_json = cli("retrieve", table, "id = 100", "--json")
    assert as_json.json()["rows"][0]["name"] == "[bold]x[/] :smile:"


# --------------------------------------------------------------------------------------------------
# Errors, hints and exit codes


def _caret_column(err: str) -> tuple[str, int]:
    """The filter line of a caret hint and the column of its ``^``."""
    lines = err.splitlines()
    marker = next(i for i, line in enumerate(lines) if line.strip() == "^")
    return lines[marker - 1], lines[marker].index("^")


@pytest.mark.parametrize(
    ("where", "error", "pos"),
    [
        ("name = 'x'; DROP TABLE t", "UnexpectedChar", 10),
        ("id = 1 AND name = 'open", "UnterminatedString", 18),
        ("(id = 1 OR id = 2", "UnbalancedParen", 0),
        ("id = 1)", "UnbalancedParen", 6),
    ],
)
def test_filter_errors_point_a_caret_at_the_position(
    cli: Cli, config: Path, table: str, where: str, error: str, pos: int
) -> None:
    text = cli("retrieve", table, where)
    assert text.code == 1
    assert text.err.startswith("error: ")
    assert f"position {pos}" in text.err
    line, column = _caret_column(text.err)
    assert line == "  " + where
    assert column == 2 + pos

    as_json = cli("retrieve", table, where, "--json")
    payload = as_json.error()
    assert payload["error"] == error
    assert payload["hint"].endswith(caret(where, pos))


def test_caret_handles_lines_and_wide_characters() -> None:
    assert caret("a = 1\nAND b = ;", 14) == "  AND b = ;\n          ^"
    assert caret("名前 = ;", 5) == "  名前 = ;\n         ^"


def test_unknown_column_hint_lists_the_columns(cli: Cli, config: Path, table: str) -> None:
    text = cli("retrieve", table, "nmae = 'x'")
    assert text.code == 1
    assert f"hint: the columns of `{table}` are: id, name, price, meta" in text.err
    payload = cli("mutate", table, "id = 1", "--set", "prize=3", "--json").error()
    assert payload["error"] == "UnknownColumn"
    assert payload["hint"] == f"the columns of `{table}` are: id, name, price, meta"


def test_unbounded_writes_need_all_rows(cli: Cli, config: Path, table: str, admin: Any) -> None:
    for args in (("purge", table), ("mutate", table, "--set", "name=z"), ("purge", table, "  ")):
        text = cli(*args)
        assert text.code == 1
        assert "--all-rows" in text.err.splitlines()[-1]
        assert text.err.splitlines()[-1].startswith("hint: ")
        payload = cli(*args, "--json").error()
        assert payload["error"] == "UnboundedWrite"
        assert "--all-rows" in payload["hint"]
    assert _count(admin, table) == 31
    done = cli("mutate", table, "--set", "name=same", "--all-rows", "--json")
    assert done.json() == {"op": "mutate", "rows": 31, "store": table}
    gone = cli("purge", table, "--all-rows", "--json")
    assert gone.json() == {"op": "purge", "rows": 31, "store": table}
    assert _count(admin, table) == 0


def test_usage_errors_exit_2_with_typers_text(cli: Cli, config: Path, table: str) -> None:
    cases = [
        ("retrieve", table, "--bind", "n"),
        ("retrieve",),
        ("retrieve", table, "--no-such-option"),
        ("stream", table, "--policy", "sometimes"),
        ("stream", table, "--max-rows", "-1"),
        ("persist", table, "--set", "id=1", "--set", "id=2"),
        ("persist", table, "--set", "id=1", "--audit-log", "a.jsonl"),
        ("introspect", "scratch"),
        ("nonsense",),
    ]
    for args in cases:
        result = cli(*args)
        assert result.code == 2, args
        assert "Usage: axonstore" in result.err, args
        assert "Error:" in result.err, args
        assert result.out == ""
    assert "'n' has no '='" in cli("retrieve", table, "--bind", "n").err


def test_store_errors_exit_1(cli: Cli, config: Path, table: str, admin: Any) -> None:
    empty = cli("persist", table, "--json")
    assert empty.code == 1
    assert empty.error()["error"] == "EmptyData"

    bad_value = cli("persist", table, "--set", "id=abc", "--json")
    assert bad_value.code == 1
    assert bad_value.error()["error"] == "Query"
    assert "22P02" in bad_value.error()["message"]

    assert cli("retrieve", table, "--limit", "lots", "--json").error()["error"] == "BadLimit"

    unknown = cli("retrieve", "nope")
    assert unknown.code == 1
    assert unknown.err.splitlines() == [
        f"error: axonstore `nope` is not declared (declared stores: {table}, scratch) — check the name",
        "hint: `axonstore stores` lists the declared stores",
    ]
    assert _count(admin, table) == 31


def test_config_option_env_and_missing_file(
    cli: Cli, config: Path, table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "conf" / "other.toml"
    elsewhere.parent.mkdir()
    config.rename(elsewhere)
    missing = cli("retrieve", table, "--json")
    assert missing.code == 1
    assert missing.error()["error"] == "InvalidDeclaration"
    assert "axonstore.toml" in missing.error()["message"]

    assert cli("retrieve", table, "id = 1", "--config", str(elsewhere)).code == 0
    monkeypatch.setenv("AXONSTORE_CONFIG", str(elsewhere))
    assert _ids(cli("retrieve", table, "id = 1", "--json").json()["rows"]) == [1]


def test_internal_errors_exit_3(cli: Cli, config: Path, table: str, tmp_path: Path) -> None:
    target = str(tmp_path / "no" / "such" / "dir" / "m.json")  # writing the manifest fails: an OSError
    plain = cli("introspect", table, "--out", target)
    assert plain.code == 3
    assert plain.err.startswith("internal error: FileNotFoundError: ")
    assert "Traceback" not in plain.err
    assert "--debug" in plain.err

    debug = cli("introspect", table, "--out", target, "--debug")
    assert debug.code == 3
    assert "Traceback (most recent call last)" in debug.err
    assert debug.err.rstrip().splitlines()[-1].startswith("internal error: FileNotFoundError")


def test_debug_shows_a_traceback_without_locals(cli: Cli, config: Path, table: str) -> None:
    marker = "local-value-7f3a"
    plain = cli("retrieve", table, "nmae = '${v}'", "--bind", f"v={marker}")
    assert plain.code == 1
    assert "Traceback" not in plain.err

    debug = cli("retrieve", table, "nmae = '${v}'", "--bind", f"v={marker}", "--debug")
    assert debug.code == 1
    assert "Traceback (most recent call last)" in debug.err
    assert "axonstore.errors.UnknownColumn" in debug.err
    assert marker not in debug.err  # the binding lives only in local variables
    assert debug.err.rstrip().splitlines()[-1].startswith("hint: the columns of")


def test_library_logs_reach_stderr_only_with_debug(cli: Cli, config: Path, table: str) -> None:
    quiet = cli("retrieve", table, "id = 1")
    assert quiet.code == 0
    assert quiet.err == ""
    loud = cli("retrieve", table, "id = 1", "--debug")
    assert loud.code == 0
    assert "psycopg.pool" in loud.err
    assert "connection requested from" in loud.err
    assert quiet.out == loud.out


def test_pool_warnings_stay_off_stderr_without_debug(tmp_path: Path) -> None:
    """Subprocesses (pytest's own log handlers would hide a leak in-process): a dead server makes
    psycopg_pool log warnings; they show with --debug only, and never with the password."""
    with tempfile.TemporaryDirectory() as scratch:
        port = _closed_port()
        dead = f"postgresql://axon:{SECRET}@127.0.0.1:{port}/nowhere?sslmode=disable&connect_timeout=1"
        write_config(
            Path(scratch) / "axonstore.toml", {"dead": {"backend": "postgresql", "connection": dead}}
        )
        runs = [
            subprocess.Popen(
                [str(_script()), "ping", "dead", *extra],
                cwd=scratch,
                env=_clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for extra in ((), ("--debug",))
        ]
        (quiet_out, quiet_err), (loud_out, loud_err) = (run.communicate(timeout=60) for run in runs)
    assert [run.returncode for run in runs] == [1, 1]
    assert quiet_err.startswith("error: axonstore could not reach the database")
    assert "psycopg.pool" not in quiet_err
    assert "WARNING psycopg.pool: error connecting in 'axonstore/dead'" in loud_err
    for text in (quiet_out, quiet_err, loud_out, loud_err):
        assert SECRET not in text


# --------------------------------------------------------------------------------------------------
# persist, mutate, purge


def test_writes_print_store_op_rows(cli: Cli, config: Path, table: str, admin: Any) -> None:
    made = cli("persist", table, "--set", "id=300", "--set", "name=new", "--set", "price=2.50", "--json")
    assert made.code == 0, made.err
    assert made.json() == {"op": "persist", "rows": 1, "store": table}
    changed = cli("mutate", table, "id >= '${lo}'", "--bind", "lo=29", "--set", "name", "--json")
    assert changed.json() == {"op": "mutate", "rows": 4, "store": table}
    assert _count(admin, table, "name IS NULL") == 4
    gone = cli("purge", table, "id = 300", "--json")
    assert gone.json() == {"op": "purge", "rows": 1, "store": table}
    text = cli("purge", table, "id = 301")
    assert text.code == 0
    assert text.out.strip() == f"purge: 0 row(s) in `{table}`"


def test_audit_log_round_trip(cli: Cli, config: Path, table: str, tmp_path: Path, admin: Any) -> None:
    log, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    audit = ("--audit-log", str(log), "--key-file", str(key))
    assert cli("persist", table, "--set", "id=400", *audit).code == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n", key.read_text())
    assert cli("mutate", table, "id = 400", "--set", "name=n", *audit).code == 0
    assert cli("purge", table, "id = 400", *audit).code == 0
    assert cli("purge", table, *audit).code == 1  # refused writes are not recorded

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["payload"]["seq"], e["payload"]["op"]) for e in lines] == [
        (0, "persist"),
        (1, "mutate"),
        (2, "purge"),
    ]
    assert lines[2]["payload"]["summary"] == f"purged 1 row(s) from `{table}`"

    ok = cli("audit", "verify", str(log), "--key-file", str(key))
    assert ok.code == 0
    assert ok.out.strip() == f"ok: 3 entries verified; head {lines[2]['chain_hash']}"
    report = cli("audit", "verify", str(log), "--key-file", str(key), "--json").json()
    assert report == {"entries": 3, "file": str(log), "head": lines[2]["chain_hash"], "verified": True}

    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(log.read_text().replace("purged 1 row", "purged 9 row"))
    broken = cli("audit", "verify", str(tampered), "--key-file", str(key), "--json")
    assert broken.code == 1
    assert broken.error()["error"] == "AuditChainBroken"
    assert broken.error()["message"].startswith("audit chain broken at entry 2: payload_hash")

    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(log.read_text().splitlines(keepends=True)[:2]))
    assert cli("audit", "verify", str(cut), "--key-file", str(key)).code == 0
    tail = cli("audit", "verify", str(cut), "--key-file", str(key), "--head", lines[2]["chain_hash"])
    assert tail.code == 1
    assert tail.err.startswith("error: audit chain broken at entry 2: the chain ends at head")

    other_key = tmp_path / "other.key"
    other_key.write_text("00" * 32)
    wrong = cli("audit", "verify", str(log), "--key-file", str(other_key))
    assert wrong.code == 1
    assert "entry 0: the signature does not verify" in wrong.err

    refused = cli("persist", table, "--set", "id=401", "--audit-log", str(tampered), "--key-file", str(key))
    assert refused.code == 1
    assert "audit chain broken at entry 2" in refused.err
    assert _count(admin, table, "id = 401") == 0  # the write never happened
    assert cli("audit", "verify", str(tmp_path / "none.jsonl"), "--key-file", str(key)).code == 2


# --------------------------------------------------------------------------------------------------
# stream


def test_stream_json_lines_and_truncation(cli: Cli, config: Path, table: str) -> None:
    result = cli("stream", table, "id < 100", "--order-by", "id", "--max-rows", "5", "--json")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert _ids(lines[:-1]) == [1, 2, 3, 4, 5]
    assert lines[-1] == {
        "stream": {
            "cancelled": False,
            "dropped": 0,
            "policy": "pause_upstream",
            "total_seen": 6,
            "truncated": True,
        }
    }

    window = cli(
        "stream",
        table,
        "id <= 20",
        "--order-by",
        "id",
        "--policy",
        "DROP_OLDEST",
        "--max-rows",
        "3",
        "--json",
    )
    rows = [json.loads(line) for line in window.out.splitlines()]
    assert _ids(rows[:-1]) == [18, 19, 20]
    assert rows[-1]["stream"]["dropped"] == 17
    assert rows[-1]["stream"]["truncated"] is False

    failing = cli("stream", table, "--policy", "fail", "--max-rows", "2", "--json")
    assert failing.code == 1
    assert failing.error()["error"] == "Query"


def test_stream_text_shows_rows_then_the_metadata(cli: Cli, config: Path, table: str) -> None:
    result = cli("stream", table, "id <= 3", "--order-by", "id", "--max-rows", "2")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [json.loads(line)["id"] for line in lines[:2]] == [1, 2]
    assert lines[2] == "stream: policy=pause_upstream total_seen=3 dropped=0 truncated=true cancelled=false"
    assert lines[3].startswith("TRUNCATED: more rows matched than --max-rows 2")


def test_stream_on_a_terminal_uses_a_progress_bar(
    cli: Cli, config: Path, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # Rich treats the captured stdout as a terminal
    result = cli("stream", table, "id <= 3", "--order-by", "id")
    assert result.code == 0, result.err
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.out)
    for i in (1, 2, 3):
        assert f'"name":"item {i}"' in plain
    assert "row(s)" in plain  # the progress line
    assert "truncated=false" in plain


# --------------------------------------------------------------------------------------------------
# stores, ping, introspect, verify


def test_stores_masks_dsns_and_starts_nothing(
    cli: Cli, tmp_path: Path, direct_dsn: str, embedded_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AXON_CLI_UNSET_URL", raising=False)
    monkeypatch.setenv("AXON_CLI_SET_URL", with_password(direct_dsn))
    write_config(
        tmp_path / "axonstore.toml",
        {
            "direct": {"backend": "postgresql", "connection": with_password(direct_dsn), "capacity": 3},
            "fromenv": {
                "backend": "postgresql",
                "connection": "env:AXON_CLI_SET_URL",
                "confidence_floor": 0.7,
            },
            "unset": {
                "backend": "postgresql",
                "connection": "env:AXON_CLI_UNSET_URL",
                "capability": "c.read",
            },
            "local": {"backend": "postgresql"},
            "memo": {"backend": "in_memory"},
        },
    )
    text = cli("stores")
    assert text.code == 0, text.err
    rows = {line.split()[0]: line for line in text.out.splitlines() if line.strip()}
    assert "postgresql://postgres:***@" in rows["direct"]
    assert "postgresql://postgres:***@" in rows["fromenv"]
    assert "env:AXON_CLI_UNSET_URL (unset)" in rows["unset"]
    assert "embedded (not running" in rows["local"]
    assert "acquire timeout 5 s" in rows["direct"]

    listed = {entry["store"]: entry for entry in cli("stores", "--json").json()}
    assert list(listed) == ["direct", "fromenv", "unset", "local", "memo"]
    assert listed["direct"]["capacity"] == 3
    assert listed["direct"]["pool"]["max_size"] == 3
    assert listed["direct"]["pool"]["acquire_timeout_s"] == 5.0
    assert listed["fromenv"]["confidence_floor"] == 0.7
    assert listed["unset"]["capability"] == "c.read"
    assert listed["memo"]["connection"] is None
    assert listed["memo"]["pool"] is None
    assert not EmbeddedServer(embedded_root).status().running
    assert not (embedded_root / "pgdata").exists()


def test_ping_introspect_and_verify(cli: Cli, config: Path, table: str, tmp_path: Path, admin: Any) -> None:
    pong = cli("ping", table, "--json").json()
    assert pong["ok"] is True
    assert pong["database"].startswith("postgresql://postgres:***@")
    assert cli("ping", table).out.startswith(f"ok: `{table}` answered in ")

    out = tmp_path / "manifest.json"
    described = cli("introspect", table, "--out", str(out), "--json").json()
    assert json.loads(out.read_text()) == described
    assert [c["name"] for c in described["columns"]] == ["id", "name", "price", "meta"]
    assert described["primary_key"] == ["id"]
    text = cli("introspect", table)
    assert f"hash: {described['hash']}" in text.out
    assert re.search(r"price\s+numeric\s+numeric\(8,2\)\s+true", text.out)

    verified = cli("verify", "--json")
    assert verified.code == 0, verified.err
    assert verified.json() == {"missing": {}, "unreachable": {}, "verified": [table]}

    admin.execute(f"ALTER TABLE {table} RENAME TO {table}_moved")
    try:
        missing = cli("verify", "--json")
        assert missing.code == 1
        assert list(missing.json()["missing"]) == [table]
        assert "***" in missing.json()["missing"][table]
        text = cli("verify")
        assert text.code == 1
        assert re.search(rf"{table}\s+missing", text.out)
        assert text.err.startswith("error: deploy-time store-schema verification failed")
    finally:
        admin.execute(f"ALTER TABLE {table}_moved RENAME TO {table}")


def test_in_memory_store_round_trip(cli: Cli, config: Path) -> None:
    assert cli("persist", "scratch", "--set", "k=a", "--set", "v=1").code == 0
    # one process per command: an in-memory store starts empty every time
    result = cli("retrieve", "scratch", "--json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == []
    assert cli("ping", "scratch", "--json").json()["database"] == "in-memory"


# --------------------------------------------------------------------------------------------------
# The embedded server


def test_embedded_commands_and_the_default_store(cli: Cli, tmp_path: Path, embedded_root: Path) -> None:
    try:
        find_binaries()
    except Connect as exc:
        unavailable(f"no PostgreSQL binaries for the embedded server: {exc}")
    write_config(tmp_path / "axonstore.toml", {"local_items": {"backend": "postgresql"}})
    status = cli("embedded", "status", "--json")
    assert status.code == 0
    assert status.json()["running"] is False
    assert status.json()["data_dir"] == str(embedded_root / "pgdata")
    down = cli("embedded", "url", "--json")
    assert down.code == 1
    assert down.error()["error"] == "EmbeddedUnavailable"

    first = cli("retrieve", "local_items")  # the store has no connection: the embedded server starts
    assert first.code == 1
    assert "starting the embedded PostgreSQL" in first.err
    assert "error: axonstore table `local_items` was not found" in first.err
    url = cli("embedded", "url").out.strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE local_items (id int)")
        conn.execute("INSERT INTO local_items VALUES (1), (2)")
    second = cli("retrieve", "local_items", "--json")
    assert second.code == 0, second.err
    assert second.err == ""  # already running: no start message
    assert second.json()["rows"] == [{"id": 1}, {"id": 2}]

    started = cli("embedded", "start", "--json").json()
    assert started["running"] is True
    assert started["url"] == url
    assert cli("embedded", "status", "--json").json()["pid"] == started["pid"]
    pid = started["pid"]
    assert cli("embedded", "stop").out.strip() == f"stopped (pid {pid} has exited)"
    from axonstore.embedded import process_alive

    assert not process_alive(pid)  # "stopped" is said only once the postmaster is gone
    assert cli("embedded", "stop", "--json").json() == {"stopped": False, "exited": True, "pid": None}
    assert cli("embedded", "status", "--json").json()["running"] is False


# --------------------------------------------------------------------------------------------------
# As a subprocess (the installed script)


def _script() -> Path:
    script = Path(sys.executable).with_name("axonstore")
    assert script.is_file(), f"{script} is missing — install the package (pip install -e .)"
    return script


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _RICH_ENV + _CLI_ENV}
    env.update(extra)
    return env


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_subprocess_retrieve(config: Path, table: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [str(_script()), "retrieve", table, "id <= '${n}'", "--bind", "n=2", "--order-by", "id", "--json"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert _ids(json.loads(run.stdout)["rows"]) == [1, 2]
    assert run.stderr == ""

    table_run = subprocess.run(
        [str(_script()), "retrieve", table, "id = 100"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert table_run.returncode == 0
    assert "[bold]x[/] :smile:" in table_run.stdout

    failing = subprocess.run(
        [str(_script()), "retrieve", table, "id = 1;"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failing.returncode == 1
    assert failing.stderr.startswith("error: unexpected character ';' at position 6")
    assert failing.stdout == ""
    usage = subprocess.run(
        [str(_script()), "retrieve"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2
    for text in (run.stdout, run.stderr, table_run.stdout, failing.stderr):
        assert SECRET not in text
