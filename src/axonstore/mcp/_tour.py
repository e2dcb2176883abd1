"""A short agent session for ``axonstore demo``: what an MCP client sees, step by step.

It drives the server with the SDK's own client, in-process: list the tools, a retrieve, a refused
injection, a refused unbounded purge. ``axonstore demo`` prints the steps; this module only runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp import Client, MCPError

from axonstore.declarations import PrincipalSpec
from axonstore.mcp._server import build_server
from axonstore.mcp._service import AgentService

__all__ = ["TourStep", "agent_tour"]


@dataclass(frozen=True)
class TourStep:
    """One step: what the agent did, the tool and arguments it sent, and what it got back."""

    title: str
    tool: str | None
    arguments: dict[str, Any]
    result: Any  # the tool names (listing), a structuredContent, or {"protocol_error": code}
    is_error: bool


async def agent_tour(service: AgentService, principal: PrincipalSpec, store: str) -> list[TourStep]:
    """Run the four steps against ``store`` as ``principal`` (who should hold retrieve and purge)."""
    steps: list[TourStep] = []
    async with Client(build_server(service, lambda: principal)) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        steps.append(TourStep("the tools this principal may call", None, {}, names, is_error=False))
        plan: list[tuple[str, str, dict[str, Any]]] = [
            ("a retrieve (rows are marked untrusted)", "retrieve", {"limit": 3}),
            (
                "an injection in the filter is refused by the grammar",
                "retrieve",
                {"where": "id = 1; DROP TABLE " + store},
            ),
            ("a purge without a filter is refused", "purge", {"where": "   "}),
        ]
        for title, verb, arguments in plan:
            tool = f"{store}_{verb}"
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError as exc:
                steps.append(TourStep(title, tool, arguments, {"protocol_error": exc.code}, is_error=True))
                continue
            steps.append(TourStep(title, tool, arguments, result.structured_content, bool(result.is_error)))
    return steps
