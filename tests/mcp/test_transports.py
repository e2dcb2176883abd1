"""``axonstore mcp`` as an agent's client sees it: subprocesses over stdio and over streamable HTTP.

The whole red-team corpus runs through each transport (0 successes for the attacker, the database
unchanged), every call lands in the ``--audit-log`` file, and ``axonstore audit verify`` accepts it.
HTTP adds its own attacks: no token, a wrong token, a rebinding Host, a foreign Origin, a body past
4 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from tests.mcp._corpus import CORPUS, PRINCIPALS, judge
from tests.mcp._session import CLI, call, child_env, free_port, http_server, over_http, over_stdio
from tests.mcp.conftest import TOKENS, AgentEnv

pytestmark = pytest.mark.slow


def _audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line)["payload"] for line in path.read_text(encoding="utf-8").splitlines() if line]


def _verify(log: Path, key: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-c", CLI, "audit", "verify", str(log), "--key-file", str(key), "--json"]
    return subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=60, check=False)


async def test_corpus_over_stdio(agent_env: AgentEnv, tmp_path: Path) -> None:
    log, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    before = agent_env.snapshot()
    failures: list[str] = []
    for principal in PRINCIPALS:
        attacks = [a for a in CORPUS if a.principal == principal]
        async with over_stdio(
            agent_env.config, principal, "--audit-log", str(log), "--key-file", str(key)
        ) as client:
            for attack in attacks:
                problem = judge(attack, await call(client, attack.name(agent_env.store), attack.arguments))
                if problem:
                    failures.append(f"{attack.id}: {problem}")
    assert failures == []
    assert agent_env.snapshot() == before
    calls = [p for p in _audit_lines(log) if str(p["op"]).startswith("mcp.")]
    assert len(calls) == len(CORPUS)
    verified = _verify(log, key)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["verified"] is True


async def test_corpus_over_http(agent_env: AgentEnv, tmp_path: Path) -> None:
    log, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    before = agent_env.snapshot()
    failures: list[str] = []
    with http_server(agent_env.config, port, "--audit-log", str(log), "--key-file", str(key)):
        for principal in PRINCIPALS:
            async with over_http(url, TOKENS[principal]) as client:
                for attack in (a for a in CORPUS if a.principal == principal):
                    problem = judge(
                        attack, await call(client, attack.name(agent_env.store), attack.arguments)
                    )
                    if problem:
                        failures.append(f"{attack.id}: {problem}")
        statuses = await _http_attacks(url, port)
        async with over_http(url, TOKENS["reader"]) as client:  # the server survived all of them
            still = [tool.name for tool in (await client.list_tools()).tools]
    assert failures == []
    assert still == [f"{agent_env.store}_retrieve"]
    assert statuses == {
        "no token": 401,
        "wrong token": 401,
        "token of a hash, not the token": 401,
        "rebinding host": 421,
        "foreign origin": 403,
        "body over 4 MiB": 413,
        "json nested 100 000 deep": 400,
        "malformed json": 400,
    }
    assert agent_env.snapshot() == before
    calls = [p for p in _audit_lines(log) if str(p["op"]).startswith("mcp.")]
    assert len(calls) == len(CORPUS)
    assert _verify(log, key).returncode == 0


async def _http_attacks(url: str, port: int) -> dict[str, int]:
    import hashlib

    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    good = {"Authorization": f"Bearer {TOKENS['bot']}", **headers}
    cases = {
        "no token": (headers, json.dumps(ping)),
        "wrong token": ({"Authorization": "Bearer nope", **headers}, json.dumps(ping)),
        "token of a hash, not the token": (
            {"Authorization": f"Bearer {hashlib.sha256(TOKENS['bot'].encode()).hexdigest()}", **headers},
            json.dumps(ping),
        ),
        "rebinding host": ({**good, "Host": f"evil.example:{port}"}, json.dumps(ping)),
        "foreign origin": ({**good, "Origin": "http://evil.example"}, json.dumps(ping)),
        "body over 4 MiB": (good, json.dumps({**ping, "pad": "x" * (4 * 1024 * 1024 + 1)})),
        "json nested 100 000 deep": (
            good,
            '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
            '{"name": "x", "arguments": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}}",
        ),
        "malformed json": (good, '{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {'),
    }
    statuses: dict[str, int] = {}
    async with httpx2.AsyncClient(timeout=30) as http:
        for name, (sent, body) in cases.items():
            response = await http.post(url, headers=sent, content=body)
            statuses[name] = response.status_code
    return statuses


async def test_without_the_extra_the_command_says_how_to_install(agent_env: AgentEnv) -> None:
    code = "import sys; sys.modules['mcp'] = None; from axonstore.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "mcp", "--config", str(agent_env.config), "--principal", "bot"]
    done = subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "pip install 'axonstore[mcp]'" in done.stderr
    assert done.stdout == ""


async def test_stdio_needs_a_declared_principal(agent_env: AgentEnv) -> None:
    for extra in ([], ["--principal", "nobody"]):
        args = [sys.executable, "-c", CLI, "mcp", "--config", str(agent_env.config), *extra]
        done = subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1, done.stderr
        assert "principal" in done.stderr and done.stdout == ""
