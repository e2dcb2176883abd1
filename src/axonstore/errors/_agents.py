"""Errors of the MCP server (CONTRACT §15): what an agent may not do, and why the server will not start.

An agent sees these as ``{"error": "<class name>", "message", "hint"}``. Their messages never hold a
binding value, a row value, SQL text or a DSN; a quoted token is cut to 32 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from axonstore.errors._base import StoreError

_QUOTE_LIMIT = 32


def _quoted(token: str) -> str:
    """A token as an agent may see it again: at most 32 characters, control characters escaped."""
    shown = token if len(token) <= _QUOTE_LIMIT else token[:_QUOTE_LIMIT] + "…"
    return shown.encode("unicode_escape").decode("ascii") if not shown.isprintable() else shown


@dataclass(eq=False)
class AgentError(StoreError):
    """Base of the refusals the MCP server gives an agent."""


@dataclass(eq=False)
class ColumnNotAllowed(AgentError):
    """A column the agent's declaration does not open for this use (filter, order, write…)."""

    column: str
    use: str = "use"

    hint: ClassVar[str | None] = (
        "read the store's resource (axonstore://stores/<store>) for the columns you may use"
    )

    def message(self) -> str:
        return f"column `{_quoted(self.column)}` is not open to this agent for {self.use}"


@dataclass(eq=False)
class TooManyRowsAffected(AgentError):
    """A mutate / purge that touched more rows than ``max_affected``: it was rolled back."""

    op: str
    store: str
    affected: int
    limit: int

    hint: ClassVar[str | None] = "narrow the filter (for example by a key column) so that fewer rows match"

    def message(self) -> str:
        return (
            f"{self.op} on `{self.store}` would touch {self.affected} rows but at most {self.limit} may be "
            "touched per call — nothing was changed (rolled back)"
        )


@dataclass(eq=False)
class RateLimited(AgentError):
    """The principal's call rate or concurrency limit is reached."""

    principal: str
    reason: str

    hint: ClassVar[str | None] = "wait a little and call again; fewer calls in parallel help"

    def message(self) -> str:
        return f"principal `{self.principal}` is rate limited: {self.reason}"


@dataclass(eq=False)
class InvalidCursor(AgentError):
    """A ``cursor`` that this server did not issue for this principal and query, or that has expired."""

    reason: str

    hint: ClassVar[str | None] = "call again without `cursor` to start from the first page"

    def message(self) -> str:
        return f"the cursor is not valid: {self.reason}"


@dataclass(eq=False)
class InvalidArguments(AgentError):
    """Tool arguments that break the tool's input schema (checked by the server, not only advertised)."""

    detail: str

    hint: ClassVar[str | None] = "call tools/list and follow the tool's inputSchema"

    def message(self) -> str:
        return f"invalid arguments: {self.detail}"


@dataclass(eq=False)
class UnknownPrincipal(AgentError):
    """``--principal NAME`` names no declared principal (or one is required and missing)."""

    name: str | None
    declared: tuple[str, ...]

    hint: ClassVar[str | None] = "pass --principal with one of the [principals.NAME] of the config"

    def message(self) -> str:
        names = ", ".join(self.declared) if self.declared else "none"
        if self.name is None:
            return f"a principal is required when principals are declared (declared: {names})"
        return f"principal `{_quoted(self.name)}` is not declared (declared: {names})"


@dataclass(eq=False)
class PrivilegedRole(AgentError):
    """At start: a store's database role could read or write server files (least privilege)."""

    store: str
    role: str
    reason: str

    hint: ClassVar[str | None] = (
        "connect the store with a role that is not a superuser and not a member of pg_read_server_files, "
        "pg_write_server_files or pg_execute_server_program (or pass --allow-superuser for a local demo)"
    )

    def message(self) -> str:
        return f"refusing to serve `{self.store}` to agents: its role `{_quoted(self.role)}` {self.reason}"


@dataclass(eq=False)
class McpUnavailable(StoreError):
    """The ``mcp`` extra is not installed."""

    hint: ClassVar[str | None] = "pip install 'axonstore[mcp]'"

    def message(self) -> str:
        return "`axonstore mcp` needs the MCP SDK — install it with: pip install 'axonstore[mcp]'"
