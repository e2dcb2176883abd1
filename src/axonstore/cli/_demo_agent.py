"""The demo's last stage: a short agent session over MCP (issue 14 §7), when the ``mcp`` extra is there.

An AI agent gets the demo table as tools, through a least-privilege role made for the session: it
lists its tools, retrieves (rows marked untrusted), and sees an injection and an unbounded purge
refused. The role is dropped afterwards; without the extra the demo says how to add it.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from axonstore.declarations import parse_declarations
from axonstore.registry import StoreRegistry

__all__ = ["AGENT_ROLE", "agent_session"]

AGENT_ROLE: Final = "axon_demo_agent"
_PRINCIPAL: Final = "demo_bot"
_STEP_EXPLAIN: Final = {
    0: "What an MCP client (Claude Desktop, Cursor, an agent framework) is offered: one tool per "
    "declared verb of each store its principal may use — no SQL tool at all.",
    1: "A tool call with arguments checked against the tool's JSON Schema; the rows come back marked "
    "untrusted, only the declared columns, at most the declared number.",
    2: "The filter is the closed grammar: a statement separator is not a token of it, so nothing "
    "reaches the database.",
    3: "A purge needs a filter: an agent cannot empty the table.",
}


def _declarations(table: str, role_dsn: str, floor: float) -> str:
    return f"""
[stores.{table}]
backend = "postgresql"
connection = "{role_dsn}"
confidence_floor = {floor}

[stores.{table}.agent]
verbs = ["retrieve", "purge"]
returned = ["customer", "amount", "status"]
filterable = ["customer", "amount", "status"]
max_rows = 3

[principals.{_PRINCIPAL}]
capabilities = []
"""


def _role_dsn(admin_url: str, password: str) -> str:
    params = conninfo_to_dict(admin_url)
    params.update(user=AGENT_ROLE, password=password)
    return make_conninfo(**params)  # type: ignore[arg-type]


async def _grant(admin_url: str, schema: str, table: str, password: str) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await _revoke(conn)
        await conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(AGENT_ROLE), sql.Literal(password)
            )
        )
        await conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(AGENT_ROLE)
            )
        )
        await conn.execute(
            sql.SQL("GRANT SELECT, DELETE ON {}.{} TO {}").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(AGENT_ROLE)
            )
        )


async def _revoke(conn: psycopg.AsyncConnection[Any]) -> None:
    exists = await (await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [AGENT_ROLE])).fetchone()
    if exists is None:
        return
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [AGENT_ROLE]
    )
    await conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(AGENT_ROLE)))
    await conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(AGENT_ROLE)))


async def agent_session(admin_url: str, schema: str, table: str, floor: float) -> list[dict[str, Any]] | None:
    """The session's steps (title, explain, tool, arguments, result, refused), or ``None`` when the
    ``mcp`` extra is not installed."""
    try:
        from axonstore.mcp import AgentService, agent_tour  # noqa: PLC0415 — only with the extra
    except ImportError:
        return None
    password = secrets.token_hex(16)
    await _grant(admin_url, schema, table, password)
    try:
        declarations = parse_declarations(_declarations(table, _role_dsn(admin_url, password), floor))
        async with StoreRegistry(declarations) as registry:
            service = await AgentService.start(registry)
            steps = await agent_tour(service, service.principals[_PRINCIPAL], table)
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
            await _revoke(conn)
    return [
        {
            "title": step.title,
            "explain": _STEP_EXPLAIN.get(index, ""),
            "tool": step.tool,
            "arguments": step.arguments,
            "result": step.result,
            "refused": step.is_error,
        }
        for index, step in enumerate(steps)
    ]
