"""The red-team corpus, one test per attack: the SDK's client in-process against a real PostgreSQL.

For each attack: the JSON-RPC result is what it must be (``judge``), the database read back directly is
exactly as it was, and the call is in the audit chain with the principal and its outcome. The same
corpus runs whole over stdio and over HTTP in ``test_transports.py``.
"""

from __future__ import annotations

import pytest
from tests.mcp._corpus import CORPUS, OK, PROTOCOL, Attack, judge
from tests.mcp._session import call, in_process, served
from tests.mcp.conftest import AgentEnv


@pytest.mark.parametrize("attack", CORPUS, ids=[attack.id for attack in CORPUS])
async def test_attack_fails(agent_env: AgentEnv, attack: Attack) -> None:
    before = agent_env.snapshot()
    async with served(agent_env.config) as service, in_process(service, attack.principal) as client:
        outcome = await call(client, attack.name(agent_env.store), attack.arguments)
        calls = [e.payload for e in service.registry.audit.entries if e.payload["op"].startswith("mcp.")]
        service.registry.audit.verify()
    assert judge(attack, outcome) is None, judge(attack, outcome)
    assert agent_env.snapshot() == before, "the attack changed the database"
    assert len(calls) == 1
    assert calls[0]["principal"] == attack.principal
    expected = {OK: "ok", PROTOCOL: "UnknownTool"}.get(attack.expect, attack.expect)
    assert calls[0]["outcome"] == expected
