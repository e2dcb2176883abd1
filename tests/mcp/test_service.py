"""What the server does for a well-behaved agent, through the SDK's client against a real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from mcp import MCPError
from tests._servers import PgServer
from tests.mcp._session import call, in_process, served
from tests.mcp.conftest import AgentEnv

from axonstore.errors import PrivilegedRole
from axonstore.mcp import ANONYMOUS, agent_tour


def _ok(outcome: Any) -> dict[str, Any]:
    assert not isinstance(outcome, MCPError), outcome
    assert not outcome.is_error, outcome.structured_content
    structured = outcome.structured_content
    assert isinstance(structured, dict)
    return structured


async def test_tools_per_principal_with_annotations(agent_env: AgentEnv) -> None:
    async with served(agent_env.config) as service:
        async with in_process(service, "bot") as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
        async with in_process(service, "reader") as client:
            reader = [t.name for t in (await client.list_tools()).tools]
    store = agent_env.store
    assert list(tools) == [f"{store}_retrieve", f"{store}_persist", f"{store}_mutate", f"{store}_purge"]
    assert reader == [f"{store}_retrieve"]
    hints = {name: tool.annotations for name, tool in tools.items()}
    assert all(hint is not None for hint in hints.values())
    assert getattr(hints[f"{store}_retrieve"], "read_only_hint", None) is True
    assert getattr(hints[f"{store}_purge"], "destructive_hint", None) is True
    assert getattr(hints[f"{store}_mutate"], "destructive_hint", None) is True
    assert tools[f"{store}_retrieve"].input_schema["additionalProperties"] is False


async def test_retrieve_pages_with_exact_truncation_and_bound_cursors(agent_env: AgentEnv) -> None:
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        first = _ok(await call(client, f"{store}_retrieve", {"order_by": "id"}))
        assert [r["id"] for r in first["rows"]] == [1, 2, 3, 4, 5]
        assert (first["row_count"], first["truncated"]) == (5, True)
        assert set(first["rows"][0]) == {"id", "org_id", "status", "amount", "note"}  # no secret, no floor
        assert first["rows"][0]["amount"] == "10.50"
        second = _ok(
            await call(client, f"{store}_retrieve", {"order_by": "id", "cursor": first["next_cursor"]})
        )
        assert [r["id"] for r in second["rows"]] == [6, 7]  # 8 and 9 are below the floor; 100+ foreign
        assert (second["truncated"], second["next_cursor"]) == (False, None)
        altered = await call(
            client, f"{store}_retrieve", {"order_by": "id desc", "cursor": first["next_cursor"]}
        )
        assert altered.structured_content["error"] == "InvalidCursor"  # type: ignore[union-attr]
        exact = _ok(await call(client, f"{store}_retrieve", {"where": "id <= 5", "limit": 5}))
        assert (exact["row_count"], exact["truncated"]) == (5, False)
        text = (await client.call_tool(f"{store}_retrieve", {"where": "id = 1"})).content[0].text  # type: ignore[union-attr]
    boundary = json.loads(text.split("\n")[2])["boundary"]
    assert text.split("\n")[1] == f"<{boundary}>" and text.endswith(f"</{boundary}>")
    async with served(agent_env.config) as service, in_process(service, "other") as client:
        stolen = await call(client, f"{store}_retrieve", {"order_by": "id", "cursor": first["next_cursor"]})
    assert stolen.structured_content["error"] == "InvalidCursor"  # type: ignore[union-attr]


async def test_persist_stamps_claims_and_confidence(agent_env: AgentEnv) -> None:
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        result = _ok(
            await call(client, f"{store}_persist", {"row": {"id": 50, "status": "new", "note": "n"}})
        )
        audit = [e.payload for e in service.registry.audit.entries]
    assert result == {"store": store, "op": "persist", "rows": 1}
    assert agent_env.rows("id = 50") == [(50, 42, "new", "n", 0.9)]
    assert [p["op"] for p in audit] == ["persist", f"mcp.{store}_persist"]


async def test_mutate_and_purge_within_max_affected(agent_env: AgentEnv) -> None:
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        changed = _ok(
            await call(
                client,
                f"{store}_mutate",
                {"where": "id = '${id}'", "bindings": {"id": "1"}, "set": {"status": "closed"}},
            )
        )
        purged = _ok(await call(client, f"{store}_purge", {"where": "id IN (3, 4)"}))
    assert (changed["rows"], purged["rows"]) == (1, 2)
    assert agent_env.rows("id = 1")[0][2] == "closed"
    assert agent_env.rows("id IN (3, 4)") == []


async def test_a_malformed_value_is_a_clean_error(agent_env: AgentEnv) -> None:
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        bad = await call(client, f"{store}_retrieve", {"where": "id = '${v}'", "bindings": {"v": "hunter2"}})
    assert bad.structured_content["error"] == "Query"  # type: ignore[union-attr]
    assert "hunter2" not in json.dumps(bad.structured_content)  # type: ignore[union-attr]
    assert "22P02" in bad.structured_content["message"]  # type: ignore[union-attr]


async def test_resources_describe_visible_stores(agent_env: AgentEnv) -> None:
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "reader") as client:
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        body = json.loads((await client.read_resource(f"axonstore://stores/{store}")).contents[0].text)  # type: ignore[union-attr]
        with pytest.raises(MCPError):
            await client.read_resource("axonstore://stores/pg_authid")
    assert listed == [f"axonstore://stores/{store}"]
    columns = {c["name"]: c for c in body["columns"]}
    assert "secret" not in columns and "_confidence" not in columns
    assert columns["status"] == {
        "name": "status",
        "type": "text",
        "returned": True,
        "filterable": True,
        "writable": True,
    }
    assert body["max_rows"] == 5 and "grammar" in body


async def _ids(client: Any, tool: str, arguments: dict[str, Any]) -> list[int]:
    return [row["id"] for row in _ok(await call(client, tool, arguments))["rows"]]


async def test_a_repeated_call_shape_still_reads_each_calls_values_and_principal(agent_env: AgentEnv) -> None:
    """Retrieves of one shape (filter text, order, binding names) reuse its parse, checks and composed
    filter; the binding values, the principal's bound tenant and the binding checks stay per call."""
    tool = f"{agent_env.store}_retrieve"
    where = "status = '${s}'"
    async with served(agent_env.config) as service:
        async with in_process(service, "bot") as bot:
            opened = await _ids(bot, tool, {"where": where, "bindings": {"s": "open"}, "order_by": "id"})
            closed = await _ids(bot, tool, {"where": where, "bindings": {"s": "closed"}, "order_by": "id"})
            unused = await call(bot, tool, {"where": where, "bindings": {"s": "open", "t": "x"}})
            missing = await call(bot, tool, {"where": where, "bindings": {}})
        async with in_process(service, "other") as other:
            foreign = await _ids(other, tool, {"where": where, "bindings": {"s": "closed"}, "order_by": "id"})
        shapes = len(service._shapes)
        async with in_process(service, "bot") as bot:  # a filter whose parse reads a binding: never kept
            timed = {"where": "amount < now() - interval '${n} days'", "bindings": {"n": "3"}}
            await call(bot, tool, timed)
        assert len(service._shapes) == shapes
    assert opened == [1, 2, 4, 5, 6]  # max_rows 5; 8 and 9 are below the floor, 100 is another org's
    assert closed == [3]
    assert foreign == [101]  # the other principal's org, through the same filter text
    for refused in (unused, missing):
        assert refused.structured_content["error"] == "InvalidArguments"  # type: ignore[union-attr]


async def test_rate_limit_per_principal(agent_env: AgentEnv) -> None:
    bot = 'claims = { org_id = "42" }\nconfidence = 0.9\n'  # the first principal: bot
    text = agent_env.config.read_text().replace(bot, bot + "max_calls_per_minute = 3\n", 1)
    agent_env.config.write_text(text)
    store = agent_env.store
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        results = [await call(client, f"{store}_retrieve", {"where": "id = 1"}) for _ in range(4)]
        outcomes = [e.payload["outcome"] for e in service.registry.audit.entries]
    assert [r.is_error for r in results] == [False, False, False, True]  # type: ignore[union-attr]
    assert results[3].structured_content["error"] == "RateLimited"  # type: ignore[union-attr]
    assert outcomes == ["ok", "ok", "ok", "RateLimited"]


async def test_statement_timeout_cancels_a_slow_filter(agent_env: AgentEnv) -> None:
    with psycopg.connect(agent_env.admin_dsn, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{agent_env.store}" (id, org_id, note, _confidence) '
            "SELECT g, 42, repeat(md5(g::text), 40), 0.9 FROM generate_series(1000, 300000) g"
        )
    text = agent_env.config.read_text().replace("statement_timeout_ms = 2000", "statement_timeout_ms = 1")
    agent_env.config.write_text(
        text.replace(
            'filterable = ["id", "org_id", "status", "amount"]',
            'filterable = ["id", "org_id", "status", "amount", "note"]',
        )
    )
    async with served(agent_env.config) as service, in_process(service, "bot") as client:
        slow = await call(
            client, f"{agent_env.store}_retrieve", {"where": "note ILIKE '%zz%yy%xx%'", "aggregate": "count"}
        )
    assert slow.structured_content["error"] == "QueryCanceled", slow.structured_content  # type: ignore[union-attr]


async def test_superuser_and_file_roles_are_refused_at_start(
    agent_env: AgentEnv, pg_server: PgServer
) -> None:
    superuser = agent_env.config.read_text().replace(agent_env.role_dsn, pg_server.admin_dsn)
    agent_env.config.write_text(superuser)
    with pytest.raises(PrivilegedRole, match="superuser"):
        async with served(agent_env.config):
            pass
    async with served(agent_env.config, allow_superuser=True) as service:
        assert list(service.views) == [agent_env.store]
    agent_env.config.write_text(superuser.replace(pg_server.admin_dsn, agent_env.role_dsn))
    with psycopg.connect(agent_env.admin_dsn, autocommit=True) as conn:
        conn.execute(f'GRANT pg_read_server_files TO "{agent_env.role}"')
    with pytest.raises(PrivilegedRole, match="pg_read_server_files"):
        async with served(agent_env.config):
            pass


async def test_without_principals_the_caller_holds_no_capability(agent_env: AgentEnv) -> None:
    text = agent_env.config.read_text()
    text = text[: text.index("[principals.bot]")]  # no principal declared
    bound = text.replace('bind = { org_id = "claim:org_id" }\n', "")
    agent_env.config.write_text(bound)
    async with served(agent_env.config) as service:
        caller = ANONYMOUS
        assert service.tools(caller) == {}  # the store requires orders.read, which nobody holds
    agent_env.config.write_text(
        bound.replace('capability = "orders.read"\n', "").replace(
            "[stores."
            + agent_env.store
            + '.agent.capabilities]\npersist = "orders.write"\nmutate = "orders.write"\n'
            'purge = "orders.write"\n',
            "",
        )
    )
    async with served(agent_env.config) as service:
        assert list(service.tools(ANONYMOUS)) == [
            f"{agent_env.store}_{verb}" for verb in ("retrieve", "persist", "mutate", "purge")
        ]


async def test_the_demo_tour(agent_env: AgentEnv) -> None:
    before = agent_env.snapshot()
    async with served(agent_env.config) as service:
        steps = await agent_tour(service, service.principals["bot"], agent_env.store)
    listing, retrieve, injection, purge = steps
    assert f"{agent_env.store}_purge" in listing.result
    assert (
        not retrieve.is_error
        and retrieve.result["row_count"] == 3
        and retrieve.result["taint"] == "untrusted"
    )
    assert (injection.is_error, injection.result["error"]) == (True, "UnexpectedChar")
    assert (purge.is_error, purge.result["error"]) == (True, "UnboundedWrite")
    assert agent_env.snapshot() == before
