"""``axonstore demo``: a guided tour on a real PostgreSQL (the embedded one by default).

It creates the schema ``axon_demo`` (not on ``search_path``: the backend finds the table by its catalog
scan) holding an enum type and the table ``axon_demo_claims`` — uuid, numeric, timestamptz, jsonb, the
enum, a text array and ``_confidence`` — with a few hundred rows. Then, step by step, it shows the call,
the SQL it compiles to (from the same pure builders the backend uses), the parameters and the result:
filters with ``IN``, ``BETWEEN``, ``now() - interval``, bindings, ``NOT`` and groups; ordering and limits;
an aggregate; persist, mutate, purge; an unbounded write refused; two injection attempts rendered
harmless; a sub-floor write and a missing capability refused; streams under two backpressure policies;
and the audit chain verified (and a tampered copy failing).

Only the demo's own objects are touched: the schema carries a marker comment, a schema of the same name
without it is never dropped, and a relation named ``axon_demo_claims`` elsewhere stops the demo before it
writes anything. The schema is dropped at the end unless ``keep`` is set.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, LiteralString

import psycopg
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from axonstore._json import canonical_json
from axonstore.audit import AuditChain
from axonstore.backend import PostgresStoreBackend
from axonstore.cli._demo_agent import agent_session
from axonstore.cli._output import caret, rows_table
from axonstore.declarations import StoreSpec
from axonstore.dsn import mask_dsn
from axonstore.errors import AuditChainBroken, Connect, FilterError, Query, StoreError
from axonstore.introspect import manifest
from axonstore.operations import prepare_read
from axonstore.registry import StoreHandle, StoreRegistry
from axonstore.schema import ResolvedTable
from axonstore.sql import build_delete_sql, build_insert_sql, build_update_sql, read_sql

__all__ = ["SCHEMA", "TABLE", "DemoStep", "run"]

SCHEMA: Final = "axon_demo"
TABLE: Final = "axon_demo_claims"
ROWS: Final = 300
FLOOR: Final = 0.5
CAPABILITY: Final = "demo.claims"
_MARK: Final = "created by `axonstore demo`; dropped by it"
_SHOWN_ROWS: Final = 6

_SETUP: Final[tuple[LiteralString, ...]] = (
    "DROP SCHEMA IF EXISTS axon_demo CASCADE",
    "CREATE SCHEMA axon_demo",
    "COMMENT ON SCHEMA axon_demo IS 'created by `axonstore demo`; dropped by it'",
    "CREATE TYPE axon_demo.claim_status AS ENUM ('open', 'review', 'approved', 'rejected', 'closed')",
    """CREATE TABLE axon_demo.axon_demo_claims (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer    text NOT NULL,
    amount      numeric(10, 2) NOT NULL,
    status      axon_demo.claim_status NOT NULL DEFAULT 'open',
    created_at  timestamptz NOT NULL DEFAULT now(),
    details     jsonb NOT NULL DEFAULT '{}',
    tags        text[] NOT NULL DEFAULT '{}',
    _confidence float8
)""",
    # Deterministic rows: every tenth one sits below the store's confidence floor (0.3 < 0.5).
    """INSERT INTO axon_demo.axon_demo_claims
       (customer, amount, status, created_at, details, tags, _confidence)
SELECT (ARRAY['Ada', 'Grace', 'Linus', 'Barbara', 'Edsger', 'Margaret', 'Ken', 'Frances'])[1 + i % 8],
       round((10 + (i * 37) % 490)::numeric + (i % 100) / 100.0, 2),
       (enum_range(NULL::axon_demo.claim_status))[1 + i % 5],
       now() - i * interval '150 minutes',
       jsonb_build_object('channel', (ARRAY['web', 'phone', 'email'])[1 + i % 3], 'priority', i % 3),
       ARRAY[(ARRAY['auto', 'home', 'travel', 'health'])[1 + i % 4]],
       CASE WHEN i % 10 = 0 THEN 0.3 ELSE 0.6 + (i % 40) / 100.0 END
FROM generate_series(1, 300) AS i""",
)
_OWNER: Final[LiteralString] = (
    "SELECT coalesce(obj_description(oid, 'pg_namespace'), '') FROM pg_namespace WHERE nspname = 'axon_demo'"
)
_CLASH: Final[
    LiteralString
] = """SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'axon_demo_claims' AND n.nspname <> 'axon_demo'"""


@dataclass
class DemoStep:
    """One step of the tour: what it shows, the call, its SQL and parameters, and what came back."""

    title: str
    explain: str
    call: str = ""
    sql: str | None = None
    params: list[Any] | None = None
    rows: list[dict[str, Any]] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, Any] | None = None
    shown: int = field(default=_SHOWN_ROWS, repr=False)  # rows printed on a console (not in the JSON)
    #: What ``call`` is, as printed on a console: a call, or a declaration (a ``StoreSpec`` is not a call).
    call_label: str = field(default="call", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The step for the JSON transcript."""
        data = asdict(self)
        del data["shown"], data["call_label"]
        return data


class _Transcript:
    """Prints each step as it happens (Rich), or collects them for one JSON document."""

    def __init__(self, console: Console, as_json: bool) -> None:
        self.console = console
        self.as_json = as_json
        self.steps: list[DemoStep] = []

    def emit(self, step: DemoStep) -> None:
        self.steps.append(step)
        if not self.as_json:
            self._print(len(self.steps), step)

    def note(self, text: str) -> None:
        if not self.as_json:
            self.console.print(Text(text, style="dim"))

    def _print(self, number: int, step: DemoStep) -> None:
        out = self.console
        heading = Text(f"{number}. {step.title}", style="bold")
        # A rule spans the console: on a terminal that is its width; otherwise a plain heading.
        out.print(Rule(heading) if out.is_terminal else Text.assemble("── ", heading, " ──"))
        out.print(Text(step.explain))
        if step.call:
            out.print(_labelled(step.call_label, step.call))
        if step.sql is not None:
            out.print(_labelled("SQL", step.sql))
            out.print(_labelled("params", repr(step.params)))
        if step.rows is not None:
            shown = [_display(row) for row in step.rows[: step.shown]]
            if shown:
                out.print(rows_table(shown))
            if len(step.rows) > step.shown:
                out.print(Text(f"… and {len(step.rows) - step.shown} more row(s)", style="dim"))
        if step.facts:
            out.print(_labelled("result", " · ".join(f"{k}: {_fact(v)}" for k, v in step.facts.items())))
        if step.refused is not None:
            out.print(_labelled("refused", f"{step.refused['error']}: {step.refused['message']}", "bold red"))
            if step.refused.get("hint"):
                out.print(Text(str(step.refused["hint"]), style="yellow"))
        out.print()


def _labelled(label: str, text: str, style: str = "bold cyan") -> Text:
    return Text.assemble((f"{label:<8}", style), text)


def _fact(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _display(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row shortened for a terminal (the JSON transcript keeps the full values)."""
    shown = dict(row)
    if isinstance(shown.get("id"), str):
        shown["id"] = shown["id"][:8] + "…"
    if isinstance(shown.get("created_at"), str):
        shown["created_at"] = shown["created_at"][:16].replace("T", " ")
    return shown


def _call(verb: str, *args: object, **kwargs: object) -> str:
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"claims.{verb}({', '.join(shown)})"


def _refusal(exc: StoreError, source: str | None = None) -> dict[str, Any]:
    hint = type(exc).hint
    pos = getattr(exc, "pos", None)
    if isinstance(exc, FilterError) and isinstance(pos, int) and source is not None:
        hint = caret(source, pos)
    return {"error": type(exc).__name__, "message": str(exc), "hint": hint}


# --------------------------------------------------------------------------------------------------
# The tour


@dataclass
class _Tour:
    claims: StoreHandle
    backend: PostgresStoreBackend
    resolved: ResolvedTable
    out: _Transcript

    def retrieve_sql(
        self, where: str, bindings: Mapping[str, str] | None = None, **bounds: str
    ) -> tuple[str, list[Any]]:
        """The statement the backend runs for a retrieve (an aggregate also gets the store's floor)."""
        # The registry adds the confidence floor to an aggregate's filter tree (CONTRACT §6).
        read = self.claims.governed_read(prepare_read(TABLE, where, bindings, **bounds))
        return read_sql(read, self.resolved.schema, self.resolved.column_types)

    async def retrieve(
        self,
        title: str,
        explain: str,
        where: str,
        bindings: dict[str, str] | None = None,
        *,
        emit: bool = True,
        **bounds: str,
    ) -> DemoStep:
        """Run a retrieve and show it (``emit=False``: the caller adds facts and emits it)."""
        sql, params = self.retrieve_sql(where, bindings, **bounds)
        args: tuple[object, ...] = (where, bindings) if bindings else (where,)
        result = await self.claims.retrieve(
            where, bindings, order_by=bounds.get("order_by", ""), limit=bounds.get("limit", ""),
            aggregate=bounds.get("aggregate", ""), group_by=bounds.get("group_by", ""),
        )  # fmt: skip
        rows = result.rows
        if bounds.get("aggregate"):
            rows = sorted(rows, key=lambda r: str(next(iter(r.values()))))
        facts: dict[str, Any] = {"rows": result.trusted_rows}
        if result.below_floor_filtered:
            facts["below the floor, left out"] = result.below_floor_filtered
        step = DemoStep(title, explain, _call("retrieve", *args, **bounds), sql, params, rows, facts)
        if emit:
            self.out.emit(step)
        return step

    async def refused(
        self,
        title: str,
        explain: str,
        call: str,
        attempt: Callable[[], Awaitable[object]],
        source: str | None = None,
    ) -> DemoStep:
        """Run ``attempt``, which must fail with a StoreError, and show the refusal."""
        try:
            await attempt()
        except StoreError as exc:
            step = DemoStep(title, explain, call, refused=_refusal(exc, source))
        else:
            raise Query("demo", f"{call} was expected to be refused, and it was not")
        self.out.emit(step)
        return step

    async def count(self) -> int:
        result = await self.claims.retrieve("", aggregate="count")
        return int(result.rows[0]["count"]) if result.rows else 0


async def _filters(tour: _Tour) -> None:
    await tour.retrieve(
        "IN, ordering and a limit",
        "A closed filter language: each value becomes a $n parameter, cast to the column's type "
        "(here a schema-qualified enum).",
        "status IN ('open', 'review')",
        order_by="amount desc",
        limit="5",
    )
    await tour.retrieve(
        "BETWEEN",
        "Bounds of BETWEEN are parameters too; numeric values come back as text with their scale.",
        "amount BETWEEN 100 AND 200 AND status != 'closed'",
        order_by="amount, created_at",
        limit="5",
    )
    await tour.retrieve(
        "A time window",
        "now() - interval '<n> <unit>' is part of the grammar; timestamps come back in UTC (RFC 3339).",
        "created_at > now() - interval '2 days'",
        order_by="created_at desc",
        limit="5",
    )
    await tour.retrieve(
        "Bindings, NOT and groups",
        "${name} inside a quoted literal takes a request value after tokenising: it can never add syntax.",
        "customer ILIKE '${who}%' AND NOT (status = 'closed' OR status = 'rejected')",
        {"who": "ada"},
        order_by="amount desc",
        limit="4",
    )


async def _injection(tour: _Tour) -> None:
    hostile = f"x'; DROP TABLE {SCHEMA}.{TABLE}; --"
    before = await tour.count()
    step = await tour.retrieve(
        "An injection attempt through a binding",
        "The hostile value travels as ONE parameter of type text; the statement's shape cannot change.",
        "customer = '${who}'",
        {"who": hostile},
        emit=False,
    )
    after = await tour.count()
    # count() is an aggregate, so the floor applies: it counts trusted rows, not the table's ROWS.
    step.facts[f"trusted rows (of {ROWS}) counted before / after"] = f"{before} / {after}"
    step.facts["table still there"] = after == before
    tour.out.emit(step)
    where = f"customer = 'x'; DROP TABLE {TABLE}"
    await tour.refused(
        "An injection attempt in the filter itself",
        "The grammar has no ';' — the filter is refused before any SQL exists.",
        _call("retrieve", where),
        lambda: tour.claims.retrieve(where),
        source=where,
    )


async def _aggregate(tour: _Tour) -> None:
    await tour.retrieve(
        "An aggregate with group_by",
        f"On a store with confidence_floor {FLOOR}, the floor joins the filter: untrusted rows never count.",
        "",
        aggregate="count",
        group_by="status",
    )


async def _writes(tour: _Tour) -> None:
    schema, types = tour.resolved.schema, tour.resolved.column_types
    data = {
        "customer": "Zoe Demo",
        "amount": "420.50",
        "status": "open",
        "details": '{"channel": "cli", "note": "Bogotá"}',
        "tags": "{demo,cli}",
        "_confidence": "0.95",
    }
    sql, params = build_insert_sql(TABLE, schema, data, types)
    count = await tour.claims.persist(data)
    found = (await tour.claims.retrieve("customer = '${who}'", {"who": "Zoe Demo"})).rows
    tour.out.emit(
        DemoStep(
            "persist",
            "Values are text here and cast by the column's type (jsonb, text[], the enum, numeric).",
            _call("persist", data),
            sql,
            params,
            found,
            {"rows inserted": count},
        )
    )
    bindings = {"id": str(found[0]["id"])}
    change = {"status": "review", "amount": "399.00"}
    sql, params = build_update_sql(TABLE, schema, "id = '${id}'", change, bindings, types)
    count = await tour.claims.mutate("id = '${id}'", change, bindings)
    after = (await tour.claims.retrieve("id = '${id}'", bindings)).rows
    tour.out.emit(
        DemoStep(
            "mutate",
            "SET values come first, the filter's parameters after them.",
            _call("mutate", "id = '${id}'", change, bindings),
            sql,
            params,
            after,
            {"rows affected": count},
        )
    )
    sql, params = build_delete_sql(TABLE, schema, "id = '${id}'", bindings, types)
    count = await tour.claims.purge("id = '${id}'", bindings)
    tour.out.emit(
        DemoStep(
            "purge",
            "Deletes what the filter matches — and only that.",
            _call("purge", "id = '${id}'", bindings),
            sql,
            params,
            None,
            {"rows deleted": count},
        )
    )


async def _refusals(tour: _Tour) -> None:
    await tour.refused(
        "An unbounded write, refused",
        "An empty filter on mutate/purge would touch every row: it needs all_rows=True (CLI: --all-rows).",
        _call("purge", ""),
        lambda: tour.claims.purge(""),
    )
    low = {"customer": "Mallory", "amount": "1.00", "_confidence": "0.2"}
    await tour.refused(
        "A write below the confidence floor, refused",
        f"The store declares confidence_floor {FLOOR}: a row must carry _confidence ≥ {FLOOR}.",
        _call("persist", low),
        lambda: tour.claims.persist(low),
    )
    caps = {"demo.reports"}
    await tour.refused(
        "A missing capability, refused",
        f"The store requires capability {CAPABILITY!r}; a caller passing its set is checked on every verb.",
        _call("retrieve", "", capabilities=caps),
        lambda: tour.claims.retrieve("", capabilities=caps),
    )


_STREAMS: Final = (
    # (policy, max_rows, where, order_by): newest first under pause_upstream (the first rows are kept);
    # oldest first under drop_oldest, whose "oldest" means first to arrive, so the newest are kept.
    ("pause_upstream", 25, "", "created_at desc"),
    ("drop_oldest", 10, "status = 'open'", "created_at"),
)
_STREAM_EXPLAINED: Final = {
    "pause_upstream": "pause_upstream keeps the first max_rows rows, stops reading and says so: "
    "truncated. total_seen counts every row read — one more than max_rows, the row that shows more "
    "matched.",
    "drop_oldest": "drop_oldest keeps a window of the last max_rows rows to arrive — oldest means first "
    "to arrive — and counts the rest as dropped; in created_at order, the newest claims are kept.",
}


async def _streams(tour: _Tour) -> None:
    for policy, bound, where, order_by in _STREAMS:
        sql, params = tour.retrieve_sql(where, order_by=order_by)
        rows = tour.claims.stream(where, order_by=order_by, policy=policy, max_rows=bound)
        async with rows:
            got = [row async for row in rows]
        meta = rows.stream.to_dict()
        kept = bound if meta["truncated"] or meta["dropped"] else meta["total_seen"]
        explain = (
            f"{_STREAM_EXPLAINED[policy]} Then the floor hides the untrusted rows among the {kept} kept, "
            f"so {len(got)} reach the caller."
        )
        call = _call("stream", where, order_by=order_by, policy=policy, max_rows=bound)
        facts = {
            "kept (max_rows)": kept,
            "below the floor": kept - len(got),
            "trusted rows received": len(got),
        }
        facts |= meta
        tour.out.emit(DemoStep(f"A stream under {policy}", explain, call, sql, params, got, facts))


def _audit(tour: _Tour, chain: AuditChain) -> None:
    entries = [dict(e.payload) | {"chain_hash": e.chain_hash[:16] + "…"} for e in chain]
    chain.verify()
    tour.out.emit(
        DemoStep(
            "The audit chain",
            "Every successful write was appended to an HMAC-signed hash chain; refused writes were not.",
            "registry.audit.verify()",
            rows=entries,
            facts={"entries": len(chain), "verified": True, "head": chain.head[:16] + "…"},
        )
    )
    exported = io.StringIO()
    chain.export_jsonl(exported)
    lines = exported.getvalue().splitlines()
    edited = json.loads(lines[0])
    edited["payload"]["summary"] = edited["payload"]["summary"].replace("1 row", "0 row")
    lines[0] = json.dumps(edited)
    copy = AuditChain.import_jsonl(lines, key=chain.key)
    try:
        copy.verify()
    except AuditChainBroken as exc:
        refused = _refusal(exc)
    else:
        raise Query("demo", "a tampered audit chain verified")
    tour.out.emit(
        DemoStep(
            "A tampered copy of the chain",
            "The first entry's summary was edited in an exported copy: verification names the entry.",
            "AuditChain.import_jsonl(tampered, key=key).verify()",
            refused=refused,
        )
    )


# --------------------------------------------------------------------------------------------------
# Set-up, the run, clean-up


async def _setup(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, prepare_threshold=None, application_name="axon-store/demo"
    ) as conn:
        owner = await (await conn.execute(_OWNER)).fetchone()
        if owner is not None and owner[0] != _MARK:
            raise Query("demo", f"schema {SCHEMA} exists and was not created by the demo — it is left alone")
        clash = await (await conn.execute(_CLASH)).fetchall()
        if clash:
            where = ", ".join(sorted(str(row[0]) for row in clash))
            raise Query("demo", f"a relation named {TABLE} exists in schema(s) {where} — the demo stops")
        for statement in _SETUP:
            await conn.execute(statement)


async def _drop(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None) as conn:
        await conn.execute("DROP SCHEMA IF EXISTS axon_demo CASCADE")


def _registry(url: str) -> StoreRegistry:
    spec = StoreSpec(
        name=TABLE, backend="postgresql", connection=url, confidence_floor=FLOOR, capability=CAPABILITY
    )
    return StoreRegistry.build([spec])


async def _describe(tour: _Tour) -> None:
    described = await manifest(tour.backend, TABLE)
    columns = [
        {"column": c["name"], "type": c["sql_type"], "nullable": c["nullable"]} for c in described["columns"]
    ]
    tour.out.emit(
        DemoStep(
            "The demo table",
            f"{ROWS} rows in {SCHEMA}.{TABLE}; the schema is not on search_path, so the backend finds the "
            "table by its catalog scan. The store declares a confidence floor and a capability.",
            f"StoreSpec(name={TABLE!r}, backend='postgresql', confidence_floor={FLOOR}, "
            f"capability={CAPABILITY!r})",
            rows=columns,
            shown=len(columns),
            call_label="spec",
            facts={
                "rows": ROWS,
                "schema": described["schema"],
                "primary key": ", ".join(described["primary_key"]),
            },
        )
    )


_STAGES: Final[Sequence[Callable[[_Tour], Awaitable[None]]]] = (
    _describe,
    _filters,
    _injection,
    _aggregate,
    _writes,
    _refusals,
    _streams,
)


async def run(
    url: str,
    *,
    keep: bool = False,
    as_json: bool = False,
    console: Console | None = None,
    embedded: bool = True,
) -> int:
    """Run the tour on ``url``; print it (or, with ``as_json``, one JSON document). Returns 0.

    ``embedded`` says that ``url`` is the embedded server (the closing note's config depends on it).
    """
    started = time.perf_counter()
    out = _Transcript(console or Console(highlight=False, markup=False, emoji=False), as_json)
    out.note(f"axonstore demo on {mask_dsn(url)}")
    await _setup(url)
    try:
        registry = _registry(url)
        try:
            claims = registry.store(TABLE)
            backend = claims.backend
            assert isinstance(backend, PostgresStoreBackend)
            tour = _Tour(claims, backend, await backend.refresh_schema(TABLE), out)
            for stage in _STAGES:
                await stage(tour)
            _audit(tour, registry.audit)
        finally:
            await registry.aclose()
        await _agents(url, out)
    finally:
        if not keep:
            await _drop(url)
    elapsed = round(time.perf_counter() - started, 2)
    if as_json:
        document = {
            "database": mask_dsn(url),
            "table": f"{SCHEMA}.{TABLE}",
            "kept": keep,
            "seconds": elapsed,
            "steps": [step.to_dict() for step in out.steps],
        }
        sys.stdout.write(canonical_json(document) + "\n")
    else:
        _closing(out, keep, elapsed, embedded)
    return 0


async def _agents(url: str, out: _Transcript) -> None:
    """The MCP stage: an agent's session over the demo table (needs the ``mcp`` extra)."""
    try:
        steps = await agent_session(url, SCHEMA, TABLE, FLOOR)
    except Connect as exc:  # a pooler with its own user list, a server that refuses password logins
        out.note(f"the agent session was skipped: its login role could not connect ({exc.source})")
        return
    if steps is None:
        out.note("with the mcp extra the demo also shows an AI agent's session: pip install 'axonstore[mcp]'")
        return
    for step in steps:
        result = step["result"]
        call = f"{step['tool']}({canonical_json(step['arguments'])})" if step["tool"] else "tools/list"
        refused = None
        facts: dict[str, Any] = {}
        rows = None
        if step["refused"]:
            shown = result if isinstance(result, dict) else {}
            refused = {
                "error": str(shown.get("error", "refused")),
                "message": str(shown.get("message", "")),
                "hint": shown.get("hint"),
            }
        elif isinstance(result, list):
            facts["tools"] = ", ".join(result)
        elif isinstance(result, dict) and isinstance(result.get("rows"), list):
            rows = result["rows"]
            facts["rows"] = len(rows)
            facts["taint"] = result.get("taint", "untrusted")
        out.emit(
            DemoStep(f"Agent: {step['title']}", step["explain"], call, rows=rows, facts=facts,
                     refused=refused, call_label="MCP")
        )  # fmt: skip


def _closing(out: _Transcript, keep: bool, elapsed: float, embedded: bool) -> None:
    if keep:
        connection = "" if embedded else '\n  connection = "env:DATABASE_URL"  # the database the demo used'
        out.note(
            f"kept {SCHEMA}.{TABLE}. Try it from the shell with this axonstore.toml:\n"
            f'  [stores.{TABLE}]\n  backend = "postgresql"{connection}\n'
            f"then: axonstore retrieve {TABLE} 'status = \"open\"' --limit 5"
        )
    else:
        out.note(f"dropped schema {SCHEMA} (run with --keep to leave it for your own queries)")
    if embedded:
        out.note(
            "the embedded PostgreSQL is still running (later commands reuse it): stop it with "
            "`axonstore embedded stop`"
        )
    out.note(f"demo finished in {elapsed} s")
