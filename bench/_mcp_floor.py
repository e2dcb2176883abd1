"""A bare MCP server for ``mcp_bench.py``'s reference line: what the SDK and the stdio wire cost alone.

One low-level SDK ``Server`` on the same stdio transport as ``axonstore mcp`` (``claimed_wire``), with
one tool that runs the benchmark's ``SELECT`` on one psycopg connection — no transaction, no checks,
no audit, no hygiene — and answers with a result of the same shape as a retrieve tool call's. Timed
like the real server, it shows how much of ``(tool call − framing) / retrieve`` the SDK's tool-call
path and the processes' turns on the machine cost before the server does anything of its own.

    python bench/_mcp_floor.py DSN TABLE      # speaks MCP on stdin/stdout
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, cast

import mcp_types as types
import psycopg
from mcp import stdio_server
from mcp.server.lowlevel import Server
from psycopg.rows import dict_row

from axonstore.mcp._stdio import claimed_wire

_SQL = 'SELECT id, status, amount::text FROM "{table}" WHERE id = $1 AND org_id = $2'


async def main(dsn: str, table: str) -> None:
    """Serve until the client hangs up."""
    conn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.AsyncRawCursor
    )
    sql = _SQL.format(table=table)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        del ctx
        key = int((params.arguments or {}).get("bindings", {}).get("id", "1"))
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(sql, [key, 42])
        rows = await cursor.fetchall()
        envelope = {
            "store": table, "rows": rows, "row_count": len(rows), "truncated": False, "next_cursor": None,
            "below_floor_filtered": 0, "confidence_floor": None, "taint": "untrusted",
            "boundary": "untrusted-data-00000000-0000-4000-8000-000000000000",
        }  # fmt: skip
        text = json.dumps(envelope, separators=(",", ":"))
        wire = {
            "content": [
                {"type": "text", "text": f"<{envelope['boundary']}>\n{text}\n</{envelope['boundary']}>"}
            ],
            "structuredContent": envelope,
            "isError": False,
            "resultType": "complete",
        }
        return cast("types.CallToolResult", wire)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        del ctx, params
        return types.ListToolsResult(
            tools=[types.Tool(name=f"{table}_retrieve", input_schema={"type": "object"})]
        )

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        del ctx, params
        template = types.ResourceTemplate(
            uri_template="axonstore://stores/{store}",
            name="store",
            description="A store.",
            mime_type="application/json",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    server = Server(
        "floor",
        on_call_tool=call_tool,
        on_list_tools=list_tools,
        on_list_resource_templates=list_templates,
        get_tool_input_schema=_no_header_parameters,
    )
    async with (
        claimed_wire() as (lines, writer),
        stdio_server(cast("Any", lines), cast("Any", writer)) as wire,
    ):
        await server.run(wire[0], wire[1], server.create_initialization_options())
    await conn.close()


def _no_header_parameters(name: str) -> None:
    """No tool maps parameters to headers (as in axonstore's server)."""
    del name


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
