"""``axonstore mcp``: serve the declared agent stores over the Model Context Protocol (CONTRACT §15).

stdio by default (the principal is ``--principal NAME``), or ``--transport http`` (streamable HTTP on
127.0.0.1:8765 unless told otherwise; each request's bearer token names the principal). Needs the
``mcp`` extra; without it the command says how to install it and exits 1. Nothing but the protocol is
ever written to stdout (a stdio client reads it); warnings go to stderr. With ``--audit-log FILE
--key-file KEYFILE`` every entry of the registry's audit chain — each tool call, refusals included, and
the writes they made — is appended to the JSON-lines file that ``axonstore audit verify`` checks.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from axonstore.audit import AuditChain
from axonstore.cli._audit import AuditLog, KeyFile, _AuditFile
from axonstore.cli._inputs import _DEFAULT_CONFIG, AsJson, Config, Debug, _opened, _opts
from axonstore.cli._output import EXIT_OK, _err, _Opts, _run
from axonstore.declarations import PrincipalSpec
from axonstore.errors import UnknownPrincipal

__all__ = ["mcp_command"]

Principal = Annotated[
    str | None,
    typer.Option("--principal", metavar="NAME", help="Who calls over stdio (a [principals.NAME])."),
]
Transport = Annotated[
    str, typer.Option("--transport", metavar="stdio|http", help="stdio (default) or streamable HTTP.")
]
Host = Annotated[
    str, typer.Option("--host", metavar="HOST", help="HTTP: the address to bind (loopback by default).")
]
Port = Annotated[int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="HTTP: the port.")]
AllowSuperuser = Annotated[
    bool,
    typer.Option(
        "--allow-superuser", help="Serve even through a superuser or file-reading role (local demos only)."
    ),
]


def mcp_command(
    principal: Principal = None,
    transport: Transport = "stdio",
    host: Host = "127.0.0.1",
    port: Port = 8765,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    allow_superuser: AllowSuperuser = False,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Serve the declared agent stores to AI agents over MCP (stdio, or --transport http)."""
    if transport not in ("stdio", "http"):
        raise typer.BadParameter("must be stdio or http", param_hint="'--transport'")
    if transport == "http" and principal is not None:
        raise typer.BadParameter(
            "over HTTP each request's bearer token names the principal", param_hint="'--principal'"
        )
    audit = _AuditFile.from_options(audit_log, key_file)
    serve = _Serve(transport, principal, host, port, audit, allow_superuser)
    _run(_opts(config, as_json, debug), serve.run)


class _Serve:
    """One ``axonstore mcp`` invocation."""

    def __init__(
        self,
        transport: str,
        principal: str | None,
        host: str,
        port: int,
        audit: _AuditFile | None,
        allow_superuser: bool,
    ) -> None:
        self.transport = transport
        self.principal = principal
        self.host = host
        self.port = port
        self.audit = audit
        self.allow_superuser = allow_superuser

    async def run(self, opts: _Opts) -> int:
        # Raises McpUnavailable (exit 1, with the pip line) when the extra is not installed.
        from axonstore import mcp as agents  # noqa: PLC0415 — the extra is optional

        sink = None if self.audit is None else _AuditSink(self.audit)
        async with _opened(opts) as registry:
            principals = dict(registry.declarations.principals)
            caller = None if self.transport == "http" else _stdio_principal(principals, self.principal)
            service = await agents.AgentService.start(registry, allow_superuser=self.allow_superuser)
            _warn_unbounded(service)
            if sink is not None:
                service.audit_hooks.append(lambda *_: sink.mirror(registry.audit))
            if caller is None:
                _err(f"axonstore mcp: serving http://{_shown(self.host)}:{self.port}/mcp")
                await agents.serve_http(service, host=self.host, port=self.port)
            else:
                await agents.serve_stdio(service, caller)
        return EXIT_OK


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stdio_principal(principals: dict[str, PrincipalSpec], name: str | None) -> PrincipalSpec:
    """``--principal NAME`` (required when principals are declared); with none declared, the anonymous
    caller, who holds no capability."""
    from axonstore.mcp import ANONYMOUS  # noqa: PLC0415 — the extra is optional

    declared = tuple(principals)
    if not principals:
        if name is not None:
            raise UnknownPrincipal(name, declared)
        return ANONYMOUS
    if name is None:
        raise UnknownPrincipal(None, declared)
    if name not in principals:
        raise UnknownPrincipal(name, declared)
    return principals[name]


def _warn_unbounded(service: object) -> None:
    views = getattr(service, "views", {})
    for store, view in views.items():
        writes = [v for v in view.agent.verbs if v in ("mutate", "purge")]
        if writes and view.agent.max_affected is None:
            _err(
                f"warning: store `{store}` gives agents {', '.join(writes)} without `max_affected`; "
                "each call may touch at most 1 row (set max_affected to say so)"
            )


class _AuditSink:
    """Mirrors the registry's audit chain into an ``--audit-log`` file, one JSON line per entry.

    The file is verified when the server starts (a broken chain or a wrong key refuses to start) and
    appended to under its lock; when another process wrote to it meanwhile, it is re-read and verified
    before this server's entries are signed onto its end.
    """

    def __init__(self, audit: _AuditFile) -> None:
        self._file = audit
        with audit._locked():
            self._chain = audit._load()
            self._size = _size(audit.path)
        self._copied = 0

    def mirror(self, source: AuditChain) -> None:
        """Append the entries of ``source`` this sink has not written yet."""
        entries = source.entries[self._copied :]
        if not entries:
            return
        self._copied += len(entries)
        with self._file._locked():
            if _size(self._file.path) != self._size:
                self._chain = self._file._load()
            text = io.StringIO()
            for entry in entries:
                self._copy(entry.payload)
            AuditChain.from_entries(self._chain.entries[-len(entries) :], key=self._chain.key).export_jsonl(
                text
            )
            with self._file.path.open("a", encoding="utf-8") as handle:
                handle.write(text.getvalue())
            self._size = _size(self._file.path)

    def _copy(self, payload: Mapping[str, Any]) -> None:
        """One entry re-signed onto the file's chain (a tool call keeps its principal and outcome)."""
        op, store, summary, stamp = (
            payload["op"],
            payload["store"],
            payload["summary"],
            payload["timestamp_ms"],
        )
        if "principal" in payload:
            self._chain.append_call(
                op,
                store,
                summary,
                principal=payload["principal"],
                outcome=payload["outcome"],
                timestamp_ms=stamp,
            )
        else:
            self._chain.append(op, store, summary, stamp)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0
