"""The agent service: tools per principal, and every call checked, run, shaped and audited.

Transport-free: the SDK glue (:mod:`axonstore.mcp._server`) resolves the principal — from the bearer
token over HTTP, from ``--principal`` over stdio, never from anything the agent sends — and hands the
call here. A call goes: the tool must be one this principal may call (checked on every call, not only
at listing) → rate and concurrency limits → arguments against the tool's schema → the filter parsed and
checked against the allow-lists → the server's predicates composed as trees → one transaction with a
statement timeout → a cleaned, untrusted-marked result. Every call is audited, refusals included.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from axonstore.declarations import PrincipalSpec
from axonstore.errors import InvalidArguments, StoreError
from axonstore.filter import Filter, reusable
from axonstore.governance import check_write_floor
from axonstore.mcp import _adapter
from axonstore.mcp._cursor import CursorSigner, query_digest
from axonstore.mcp._hygiene import (
    TAINT,
    boundary_name,
    clean,
    error_payload,
    retrieve_text,
    to_json,
)
from axonstore.mcp._limits import CallLimiter
from axonstore.mcp._policy import (
    bind_filter,
    check_arguments,
    check_columns,
    check_placeholders,
    compose,
    floor_filter,
    persist_row,
)
from axonstore.mcp._tools import CONFIDENCE, GRAMMAR, StoreView, Tool, build_view, tools_for
from axonstore.operations import (
    OrderKeys,
    PageRead,
    Read,
    check_bindings,
    prepare_delete,
    prepare_insert,
    prepare_page_of,
    prepare_read,
    prepare_update,
)
from axonstore.registry import StoreRegistry

__all__ = ["ANONYMOUS", "AgentService", "AuditHook", "CallOutcome", "UnknownTool"]

_log = logging.getLogger("axonstore.mcp")

#: The caller over stdio when no principal is declared: it holds no capability and no claim.
ANONYMOUS: Final = PrincipalSpec("anonymous")
_UNLISTED_OP: Final = "unlisted"
_MAX_SHAPES: Final = 1024  # retrieve call shapes kept (then the whole map is dropped and refilled)

#: Called after every call: (tool or "unlisted", store, summary, principal, outcome).
AuditHook = Callable[[str, str, str, str, str], None]


class UnknownTool(Exception):
    """A tool name this principal may not call (never run; the transport answers -32602)."""


@dataclass(frozen=True)
class CallOutcome:
    """A finished call: the structured result, its text block, and whether it is an error result."""

    structured: dict[str, Any]
    text: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a retrieve's call shape — store, principal, filter text, order, binding names — decides
    whatever the binding values: the composed filter (whose render plan the filter caches), the
    projection, the order, and the claim values the bound predicates read."""

    filter: Filter | None
    claims: Mapping[str, str]
    columns: tuple[str, ...]
    order: OrderKeys


class AgentService:
    """Declared stores served to agents. Build with :meth:`start` (reads the live schemas)."""

    def __init__(
        self,
        registry: StoreRegistry,
        views: Mapping[str, StoreView],
        *,
        cursor_key: bytes | None = None,
        limiter: CallLimiter | None = None,
    ) -> None:
        self.registry = registry
        self.views = dict(views)
        self.principals = dict(registry.declarations.principals)
        self.cursors = CursorSigner(cursor_key if cursor_key is not None else secrets.token_bytes(32))
        self.limiter = limiter if limiter is not None else CallLimiter()
        self.audit_hooks: list[AuditHook] = []
        self._tools: dict[str, dict[str, Tool]] = {}
        self._shapes: dict[tuple[str, str, str, str, tuple[str, ...]], _Shape] = {}

    @classmethod
    async def start(
        cls, registry: StoreRegistry, *, allow_superuser: bool = False, cursor_key: bytes | None = None
    ) -> AgentService:
        """Read each agent store's live columns and check its role (least privilege), then serve.

        ``PrivilegedRole`` when a store's role is a superuser or may read/write server files or run
        programs, unless ``allow_superuser``; ``UnknownColumn`` when a declared column is not live.
        """
        from axonstore.errors import PrivilegedRole  # noqa: PLC0415 — only the start needs it

        views: dict[str, StoreView] = {}
        for name, spec in registry.declarations.stores.items():
            if spec.agent is None:
                continue
            handle = registry.store(name)
            role, problem = await _adapter.role_problem(handle)
            if problem is not None and not allow_superuser:
                raise PrivilegedRole(name, role, problem)
            views[name] = build_view(spec, await _adapter.live_columns(handle))
        return cls(registry, views, cursor_key=cursor_key)

    # ---- listing -------------------------------------------------------------------------------

    def tools(self, principal: PrincipalSpec) -> dict[str, Tool]:
        """The tools ``principal`` may call, by name (computed once per principal)."""
        tools = self._tools.get(principal.name)
        if tools is None:
            tools = self._tools[principal.name] = tools_for(self.views, principal)
        return tools

    def resource(self, store: str) -> dict[str, Any] | None:
        """``axonstore://stores/{store}``: columns, verbs, limits and the grammar (``None``: no such)."""
        view = self.views.get(store)
        if view is None:
            return None
        columns = [
            {
                "name": name,
                "type": pg_type,
                "returned": name in view.returned,
                "filterable": name in view.filterable,
                "writable": name in view.writable,
            }
            for name, pg_type in view.columns.items()
            if name in view.returned or name in view.filterable or name in view.writable
        ]
        return {
            "store": store,
            "verbs": list(view.agent.verbs),
            "columns": columns,
            "bound": list(view.bound),
            "max_rows": view.agent.max_rows,
            "max_affected": view.agent.affected_limit,
            "confidence_floor": view.floor,
            "grammar": GRAMMAR,
        }

    def visible_stores(self, principal: PrincipalSpec) -> list[str]:
        """The stores ``principal`` has at least one tool on."""
        return sorted({tool.store for tool in self.tools(principal).values()})

    # ---- calling -------------------------------------------------------------------------------

    async def call(self, principal: PrincipalSpec, name: str, arguments: object) -> CallOutcome:
        """Run one tool call for ``principal``; ``UnknownTool`` (audited) for a tool it may not call."""
        tool = self.tools(principal).get(name) if isinstance(name, str) else None
        if tool is None:
            self._audit(
                _UNLISTED_OP, "", "refused: a tool this principal may not call", principal, "UnknownTool"
            )
            raise UnknownTool
        try:
            with self.limiter.call(
                principal.name, principal.max_calls_per_minute, principal.max_concurrent_calls
            ):
                outcome, summary = await self._run(tool, principal, arguments)
        except StoreError as exc:
            self._audit(
                tool.name, tool.store, f"refused: {type(exc).__name__}", principal, type(exc).__name__
            )
            payload = error_payload(exc)
            return CallOutcome(payload, to_json(payload), is_error=True)
        except Exception:  # an internal failure: logged for the operator, a generic error for the agent
            _log.exception("mcp tool %s failed", tool.name)
            self._audit(tool.name, tool.store, "failed: internal error", principal, "InternalError")
            payload = {"error": "InternalError", "message": "the server failed to run the call", "hint": None}
            return CallOutcome(payload, to_json(payload), is_error=True)
        self._audit(tool.name, tool.store, summary, principal, "ok")
        return outcome

    async def _run(self, tool: Tool, principal: PrincipalSpec, arguments: object) -> tuple[CallOutcome, str]:
        view = self.views[tool.store]
        args = check_arguments(tool, view, arguments)
        if tool.verb == "retrieve":
            return await self._retrieve(view, principal, args)
        if tool.verb == "persist":
            return await self._persist(view, principal, args)
        return await self._change(view, principal, tool.verb, args)

    def _audit(self, tool: str, store: str, summary: str, principal: PrincipalSpec, outcome: str) -> None:
        self.registry.audit.append_call(
            f"mcp.{tool}", store, summary, principal=principal.name, outcome=outcome
        )
        for hook in self.audit_hooks:
            hook(tool, store, summary, principal.name, outcome)

    # ---- retrieve ------------------------------------------------------------------------------

    async def _retrieve(
        self, view: StoreView, principal: PrincipalSpec, args: dict[str, Any]
    ) -> tuple[CallOutcome, str]:
        where = args.get("where", "")
        bindings: dict[str, str] = args.get("bindings", {})
        order_by = args.get("order_by", "")
        size = min(args.get("limit", view.agent.max_rows), view.agent.max_rows)
        aggregate = args.get("aggregate", "")
        columns = _projection(view)
        aggregated = bool(aggregate.strip() or args.get("group_by", "").strip())
        if aggregated:
            if "cursor" in args:
                raise InvalidArguments("`cursor` pages rows; an aggregate has no pages")
            read = prepare_read(
                view.store, where, bindings, order_by=order_by, aggregate=aggregate,
                group_by=args.get("group_by", ""),
            )  # fmt: skip
            self._check_read(view, read, bindings)
            rows, truncated = await _adapter.run_read(
                self.registry.store(view.store),
                self._scoped(view, principal, read, bindings),
                self._held(view, "retrieve", principal),
                view.agent.statement_timeout_ms,
                size,
            )
            next_position = None
        else:
            digest = query_digest(where, bindings, order_by, size, columns)
            after = None
            if "cursor" in args:
                after = self.cursors.open(args["cursor"], principal.name, view.store, digest)
            rows, next_position = await _adapter.run_page(
                self.registry.store(view.store),
                self._scoped_page(view, principal, where, bindings, order_by, size, after),
                self._held(view, "retrieve", principal),
                view.agent.statement_timeout_ms,
            )
            truncated = next_position is not None
        # An aggregate's rows are its group columns (filterable) and its result; others show `returned`.
        # Cleaned at the depth they stand in the result (its `rows` list: 1), as a whole-result walk would.
        shown = clean([dict(row) for row in rows] if aggregated else [_shown(view, row) for row in rows], 1)
        cursor = None
        if next_position is not None:
            cursor = self.cursors.issue(principal.name, view.store, digest, next_position)
        envelope = {  # the rows cleaned above; everything else is the server's own ASCII (or a number)
            "store": view.store,
            "rows": shown,
            "row_count": len(shown),
            "truncated": truncated,
            "next_cursor": cursor,
            "below_floor_filtered": 0,  # the floor is part of the SQL: untrusted rows are never read
            "confidence_floor": view.floor,
            "taint": TAINT,
            "boundary": boundary_name(),
        }
        return CallOutcome(
            envelope, retrieve_text(envelope), is_error=False
        ), f"retrieve: {len(shown)} row(s)"

    def _scoped_page(
        self,
        view: StoreView,
        principal: PrincipalSpec,
        where: str,
        bindings: dict[str, str],
        order_by: str,
        size: int,
        after: str | None,
    ) -> PageRead:
        """The page a retrieve reads: the agent's filter parsed and checked, the server's predicates
        composed into it (:meth:`_shape`, kept per call shape), the bindings and the position added."""
        check_bindings(bindings)  # the values (a lone surrogate is refused); their names are in the key
        key = (view.store, principal.name, where, order_by, tuple(bindings))
        shape = self._shapes.get(key) or self._shape(key, view, principal, where, bindings, order_by)
        merged = {**bindings, **shape.claims}  # agent binding names never start with `_`
        read = Read(view.store, shape.filter, merged, shape.columns, shape.order)
        return prepare_page_of(read, where, order_by, size=size, after=after)

    def _shape(
        self,
        key: tuple[str, str, str, str, tuple[str, ...]],
        view: StoreView,
        principal: PrincipalSpec,
        where: str,
        bindings: dict[str, str],
        order_by: str,
    ) -> _Shape:
        """Parse and check a retrieve, compose the server's predicates, and keep the result for the
        next call of the same shape — unless the parse read a binding (an ``interval '${n} days'``)."""
        read = prepare_read(
            view.store, where, bindings, columns=", ".join(_projection(view)), order_by=order_by
        )
        self._check_read(view, read, bindings)
        scoped, claims = _server_scope(view, principal, read.filter)
        shape = _Shape(scoped, claims, read.columns, read.order)
        if read.filter is None or reusable(read.filter):
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape

    def _check_read(self, view: StoreView, read: Read, bindings: Mapping[str, str]) -> None:
        """The allow-lists and D17 on the parsed read, before any SQL."""
        check_placeholders(read.filter, bindings)
        if read.filter is not None:
            check_columns(read.filter.columns, view, "filtering")
        check_columns((column for column, _ in read.order), view, "ordering")
        if read.aggregate is not None:
            check_columns(read.aggregate.columns, view, "aggregating")

    def _scoped(
        self, view: StoreView, principal: PrincipalSpec, read: Read, bindings: Mapping[str, str]
    ) -> Read:
        """The read with the bound predicates and the floor composed into its filter, as trees."""
        scoped, claims = _server_scope(view, principal, read.filter)
        return dataclasses.replace(read, filter=scoped, bindings={**bindings, **claims})

    # ---- writes --------------------------------------------------------------------------------

    async def _persist(
        self, view: StoreView, principal: PrincipalSpec, args: dict[str, Any]
    ) -> tuple[CallOutcome, str]:
        row = persist_row(view, args["row"], principal.claims, principal.confidence)
        check_write_floor(view.store, view.floor, row, op="persist")
        spec = prepare_insert(view.store, row)
        count = await _adapter.run_write(
            self.registry.store(view.store),
            spec,
            self._held(view, "persist", principal),
            view.agent.statement_timeout_ms,
            None,
        )
        return _write_outcome(view.store, "persist", count), f"persist: {count} row(s)"

    async def _change(
        self, view: StoreView, principal: PrincipalSpec, verb: str, args: dict[str, Any]
    ) -> tuple[CallOutcome, str]:
        where: str = args["where"]
        bindings: dict[str, str] = args.get("bindings", {})
        spec = (
            prepare_update(view.store, where, args["set"], bindings)
            if verb == "mutate"
            else prepare_delete(view.store, where, bindings)
        )
        check_placeholders(spec.filter, bindings)
        if spec.filter is not None:
            check_columns(spec.filter.columns, view, "filtering")
        bind, values = bind_filter(view, principal.claims)
        scoped = dataclasses.replace(spec, filter=compose(bind, spec.filter), bindings={**bindings, **values})
        count = await _adapter.run_write(
            self.registry.store(view.store),
            scoped,
            self._held(view, verb, principal),
            view.agent.statement_timeout_ms,
            view.agent.affected_limit,
        )
        return _write_outcome(view.store, verb, count), f"{verb}: {count} row(s)"

    def _held(self, view: StoreView, verb: str, principal: PrincipalSpec) -> Collection[str]:
        """The capability set handed to the store (always a set: ``None`` would skip the check).

        A per-verb capability the principal holds stands in for the store's capability for that verb.
        """
        held = set(principal.capabilities)
        override = view.agent.capabilities.get(verb)
        if override is not None and override in held and view.capability is not None:
            held.add(view.capability)
        return frozenset(held)


def _server_scope(
    view: StoreView, principal: PrincipalSpec, agent: Filter | None
) -> tuple[Filter | None, dict[str, str]]:
    """``agent`` with the principal's bound predicates and the store's floor composed in, as trees, and
    the claim bindings those predicates read."""
    bind, claims = bind_filter(view, principal.claims)
    return compose(bind, agent, floor_filter(view.floor)), claims


def _projection(view: StoreView) -> tuple[str, ...]:
    """The columns a retrieve selects: the returned ones (plus ``_confidence`` on a floored store, which
    the floor may read; it is shown only when returned)."""
    if view.floor is not None and CONFIDENCE in view.columns and CONFIDENCE not in view.returned:
        return (*view.returned, CONFIDENCE)
    return view.returned


def _shown(view: StoreView, row: Mapping[str, Any]) -> dict[str, Any]:
    """The returned columns of a row."""
    return {column: row[column] for column in view.returned if column in row}


def _write_outcome(store: str, op: str, count: int) -> CallOutcome:
    structured = {"store": store, "op": op, "rows": count}
    return CallOutcome(structured, to_json(structured), is_error=False)
