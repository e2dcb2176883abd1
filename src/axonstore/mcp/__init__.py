"""``axonstore mcp``: declared stores as safe tools for AI agents (CONTRACT §15).

An agent gets exactly the stores, verbs, columns and rows declared for its principal, whatever it
sends: filters are the closed grammar (no functions, no statements), checked against allow-lists on
the parsed tree before any SQL; the principal's bound predicates are composed as trees; rows show only
the returned columns; writes are bounded and rolled back past ``max_affected``; every call runs with a
statement timeout, is rate limited and audited; results are cleaned and marked untrusted.

Needs the ``mcp`` extra (``pip install 'axonstore[mcp]'``)::

    registry = StoreRegistry.from_toml("axonstore.toml")
    service = await AgentService.start(registry)
    await serve_stdio(service, service.principals["support_bot"])          # or serve_http(service)
"""

from __future__ import annotations

from axonstore.errors import McpUnavailable

try:
    import jsonschema  # noqa: F401 — the mcp extra brings it; checked here for a clear error
    import mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the CLI's missing-extra path
    raise McpUnavailable() from exc

from axonstore.mcp._server import (
    RESOURCE_PREFIX,
    BearerTokens,
    build_server,
    http_app,
    serve_http,
    serve_stdio,
)
from axonstore.mcp._service import ANONYMOUS, AgentService, CallOutcome, UnknownTool
from axonstore.mcp._tools import GRAMMAR, StoreView, Tool, tool_name
from axonstore.mcp._tour import TourStep, agent_tour

__all__ = [
    "ANONYMOUS",
    "GRAMMAR",
    "RESOURCE_PREFIX",
    "AgentService",
    "BearerTokens",
    "CallOutcome",
    "StoreView",
    "Tool",
    "TourStep",
    "UnknownTool",
    "agent_tour",
    "build_server",
    "http_app",
    "serve_http",
    "serve_stdio",
    "tool_name",
]
