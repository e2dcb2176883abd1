"""The ``axonstore`` command line (Typer + Rich): one command per process, over ``axonstore.toml``.

::

    axonstore stores                                   # declared stores, masked DSNs, pool settings
    axonstore retrieve claims "status = '${s}'" --bind s=open --order-by "created desc" --limit 20
    axonstore persist claims --set id=c-9 --set status=open --audit-log audit.jsonl --key-file audit.key
    axonstore audit verify audit.jsonl --key-file audit.key
    axonstore demo

Every command takes ``--config PATH`` (default ``./axonstore.toml`` or ``$AXONSTORE_CONFIG``), ``--json``
and ``--debug`` after its name. Exit codes: 0 success; 1 a ``StoreError`` (``error:`` and ``hint:`` on
stderr, or one JSON object with ``--json``); 2 a usage error (Typer's text); 3 anything else
(``internal error: …``). Tracebacks appear only with ``--debug`` (never with local variables), and so do
library log records. JSON and error text are written as they are, never through Rich markup; tables go
through Rich with every value as literal text, at full width when stdout is not a terminal.

This module is the Typer app and its commands. What they share lives in private modules: output, errors
and exit codes in :mod:`axonstore.cli._output`; options, arguments and the registry in
:mod:`axonstore.cli._inputs`; the audit log (and ``audit verify``) in :mod:`axonstore.cli._audit`; the
``embedded`` group in :mod:`axonstore.cli._embedded`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from axonstore.backend import PostgresStoreBackend
from axonstore.cli._audit import AuditLog, KeyFile, _audit_app, _AuditFile, read_key
from axonstore.cli._embedded import _embedded_app
from axonstore.cli._inputs import (
    _DEFAULT_CONFIG,
    AllRows,
    AsJson,
    Binds,
    Config,
    Debug,
    Sets,
    Store,
    Where,
    _bindings,
    _check_where,
    _data,
    _embedded_url,
    _opened,
    _opts,
)
from axonstore.cli._mcp import mcp_command
from axonstore.cli._output import (
    _EMBEDDED_PENDING,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_STORE_ERROR,
    EXIT_USAGE,
    _console,
    _describe_store,
    _err,
    _exit_code,
    _flag,
    _json_text,
    _Opts,
    _or_dash,
    _pool_text,
    _print_json,
    _print_manifest,
    _run,
    _scrub,
    _stream_with_progress,
    _table,
    caret,
    rows_table,
)
from axonstore.declarations import load_declarations
from axonstore.embedded import EmbeddedServer
from axonstore.errors import EmptyData
from axonstore.introspect import manifest
from axonstore.registry import StoreHandle, StoreRegistry
from axonstore.stream import DEFAULT_MAX_ROWS, Backpressure

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_STORE_ERROR",
    "EXIT_USAGE",
    "app",
    "caret",
    "main",
    "read_key",
    "rows_table",
]

app = typer.Typer(
    name="axonstore",
    help="Named stores over PostgreSQL tables, from the shell.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # help and usage errors as plain text: nothing a user typed becomes markup
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(_embedded_app, name="embedded")
app.add_typer(_audit_app, name="audit")
app.command("mcp")(mcp_command)  # serve the agent stores over MCP (cli/_mcp.py)


# --------------------------------------------------------------------------------------------------
# stores, ping, introspect, verify


@app.command()
def stores(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Declared stores: backend, masked DSN, capacity, floor, capability and pool settings."""
    _run(_opts(config, as_json, debug), _stores)


async def _stores(opts: _Opts) -> int:
    declared = load_declarations(opts.config)
    running = EmbeddedServer().status().url  # never starts the server
    registry = StoreRegistry(declared, default_connection=running or _EMBEDDED_PENDING)
    described = [_describe_store(registry, name) for name in registry.declared]
    await registry.aclose()
    if opts.json:
        _print_json(described)
        return EXIT_OK
    headers = ["store", "backend", "connection", "capacity", "floor", "capability", "pool"]
    keys = ["store", "backend", "connection", "capacity", "confidence_floor", "capability"]
    rows = [[_or_dash(d[k]) for k in keys] + [_pool_text(d["pool"])] for d in described]
    _console().print(_table(headers, rows))
    return EXIT_OK


@app.command()
def ping(
    store: Store, config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False
) -> None:
    """SELECT 1 through the store's pool."""
    _run(_opts(config, as_json, debug), lambda opts: _ping(opts, store))


async def _ping(opts: _Opts, store: str) -> int:
    async with _opened(opts, [store]) as registry:
        backend = registry.store(store).backend
        started = time.perf_counter()
        database = "in-memory"
        if isinstance(backend, PostgresStoreBackend):
            await backend.ping()
            database = backend.masked_dsn()
        elapsed = round((time.perf_counter() - started) * 1000, 2)
    if opts.json:
        _print_json({"store": store, "ok": True, "ms": elapsed, "database": database})
    else:
        _console().print(Text(f"ok: `{store}` answered in {elapsed} ms ({database})"))
    return EXIT_OK


@app.command()
def introspect(
    store: Store,
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", dir_okay=False, help="Write the manifest (JSON) here.")
    ] = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """The live table's manifest: columns, keys, constraints and a content hash."""
    _run(_opts(config, as_json, debug), lambda opts: _introspect(opts, store, out))


async def _introspect(opts: _Opts, store: str, out: Path | None) -> int:
    async with _opened(opts, [store]) as registry:
        backend = registry.store(store).backend
        if not isinstance(backend, PostgresStoreBackend):
            raise typer.BadParameter(
                f"`{store}` is an in_memory store: introspect reads a PostgreSQL catalog", param_hint="STORE"
            )
        described = await manifest(backend, store)
    if out is not None:
        out.write_text(json.dumps(described, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if opts.json:
        _print_json(described)
        return EXIT_OK
    _print_manifest(described, out)
    return EXIT_OK


@app.command()
def verify(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Deploy verification of every declared postgresql store; exit 1 when one is missing."""
    _run(_opts(config, as_json, debug), _verify)


async def _verify(opts: _Opts) -> int:
    async with _opened(opts) as registry:
        report = await registry.verify()
    if opts.json:
        _print_json(report.to_dict())
    else:
        rows: list[list[object]] = [[name, "verified", ""] for name in report.verified]
        rows += [[name, "missing", _scrub(opts, why)] for name, why in report.missing.items()]
        rows += [[name, "unreachable", _scrub(opts, why)] for name, why in report.unreachable.items()]
        _console().print(_table(["store", "status", "detail"], sorted(rows, key=lambda r: str(r[0]))))
        if report.has_fatal:
            _err(f"error: {_scrub(opts, report.fatal_summary())}")
    return EXIT_STORE_ERROR if report.has_fatal else EXIT_OK


# --------------------------------------------------------------------------------------------------
# retrieve and stream


@app.command()
def retrieve(
    store: Store,
    where: Where = "",
    bind: Binds = None,
    order_by: Annotated[str, typer.Option(metavar="EXPR", help="e.g. 'created desc, id'.")] = "",
    limit: Annotated[str, typer.Option(metavar="N", help="A number or ${name}.")] = "",
    aggregate: Annotated[
        str, typer.Option(metavar="EXPR", help="count, sum(col), avg(col), min(col), max(col).")
    ] = "",
    group_by: Annotated[str, typer.Option(metavar="COLS", help="Columns for --aggregate.")] = "",
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Rows matching WHERE as a table; --json prints the retrieval envelope."""
    bindings = _bindings(bind)
    options = {"order_by": order_by, "limit": limit, "aggregate": aggregate, "group_by": group_by}
    _run(_opts(config, as_json, debug), lambda opts: _retrieve(opts, store, where, bindings, options))


async def _retrieve(
    opts: _Opts, store: str, where: str, bindings: dict[str, str] | None, options: dict[str, str]
) -> int:
    _check_where(opts, where, bindings)
    async with _opened(opts, [store]) as registry:
        result = await registry.store(store).retrieve(where, bindings, **options)
    if opts.json:
        sys.stdout.write(result.to_json() + "\n")
        return EXIT_OK
    console = _console()
    console.print(rows_table(result.rows))
    notes = [f"{result.trusted_rows} row(s)"]
    if result.below_floor_filtered:
        notes.append(
            f"{result.below_floor_filtered} below the confidence floor {result.confidence_floor} left out"
        )
    if result.stream.truncated:
        notes.append(f"TRUNCATED at {DEFAULT_MAX_ROWS} rows — add --limit or narrow the filter")
    console.print(Text("; ".join(notes)))
    return EXIT_OK


@app.command()
def stream(
    store: Store,
    where: Where = "",
    bind: Binds = None,
    policy: Annotated[
        Backpressure, typer.Option(case_sensitive=False, help="What to do past --max-rows.")
    ] = Backpressure.PAUSE_UPSTREAM,
    max_rows: Annotated[int, typer.Option(min=0, metavar="N", help="The stream bound.")] = DEFAULT_MAX_ROWS,
    order_by: Annotated[str, typer.Option(metavar="EXPR", help="e.g. 'created desc, id'.")] = "",
    limit: Annotated[str, typer.Option(metavar="N", help="A number or ${name}.")] = "",
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Rows as they arrive (a progress bar on a terminal), then the stream metadata."""
    bindings = _bindings(bind)
    shape = _StreamShape(policy, max_rows, order_by, limit)
    _run(_opts(config, as_json, debug), lambda opts: _stream(opts, store, where, bindings, shape))


@dataclass(frozen=True)
class _StreamShape:
    policy: Backpressure
    max_rows: int
    order_by: str
    limit: str


async def _stream(
    opts: _Opts, store: str, where: str, bindings: dict[str, str] | None, shape: _StreamShape
) -> int:
    _check_where(opts, where, bindings)
    async with _opened(opts, [store]) as registry:
        rows = registry.store(store).stream(
            where,
            bindings,
            order_by=shape.order_by,
            limit=shape.limit,
            policy=shape.policy,
            max_rows=shape.max_rows,
        )
        async with rows:
            console = _console()
            if opts.json or not console.is_terminal:
                async for row in rows:
                    sys.stdout.write(_json_text(row) + "\n")
                    sys.stdout.flush()
            else:
                await _stream_with_progress(console, rows)
        meta = rows.stream.to_dict()
    if opts.json:
        _print_json({"stream": meta})
        return EXIT_OK
    _console().print(Text("stream: " + " ".join(f"{k}={_flag(v)}" for k, v in meta.items())))
    if meta["truncated"]:
        _console().print(
            Text(f"TRUNCATED: more rows matched than --max-rows {shape.max_rows}; raise it or narrow WHERE")
        )
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# persist, mutate, purge (and their audit log)


@app.command()
def persist(
    store: Store,
    set_: Sets = None,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Insert one row built from --set COL=VALUE."""
    data = _data(set_)
    audit = _AuditFile.from_options(audit_log, key_file)

    def check(_: _Opts) -> None:
        if not data:
            raise EmptyData("persist")

    async def work(handle: StoreHandle) -> int:
        return await handle.persist(data)

    _run(_opts(config, as_json, debug), lambda opts: _write(opts, store, "persist", audit, check, work))


@app.command()
def mutate(
    store: Store,
    where: Where = "",
    set_: Sets = None,
    bind: Binds = None,
    all_rows: AllRows = False,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Update the rows matching WHERE with --set COL=VALUE."""
    data, bindings = _data(set_), _bindings(bind)
    audit = _AuditFile.from_options(audit_log, key_file)

    def check(opts: _Opts) -> None:
        _check_where(opts, where, bindings)

    async def work(handle: StoreHandle) -> int:
        return await handle.mutate(where, data, bindings, all_rows=all_rows)

    _run(_opts(config, as_json, debug), lambda opts: _write(opts, store, "mutate", audit, check, work))


@app.command()
def purge(
    store: Store,
    where: Where = "",
    bind: Binds = None,
    all_rows: AllRows = False,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Delete the rows matching WHERE."""
    bindings = _bindings(bind)
    audit = _AuditFile.from_options(audit_log, key_file)

    def check(opts: _Opts) -> None:
        _check_where(opts, where, bindings)

    async def work(handle: StoreHandle) -> int:
        return await handle.purge(where, bindings, all_rows=all_rows)

    _run(_opts(config, as_json, debug), lambda opts: _write(opts, store, "purge", audit, check, work))


async def _write(
    opts: _Opts,
    store: str,
    op: str,
    audit: _AuditFile | None,
    check: Callable[[_Opts], None],
    work: Callable[[StoreHandle], Awaitable[int]],
) -> int:
    check(opts)  # input that can never succeed fails before a server is started or a pool opened
    if audit is not None:
        audit.check()  # a broken chain or a wrong key refuses the write before it happens
    async with _opened(opts, [store]) as registry:
        count = await work(registry.store(store))
        if audit is not None:
            audit.record(registry.audit)
    if opts.json:
        _print_json({"store": store, "op": op, "rows": count})
    else:
        _console().print(Text(f"{op}: {count} row(s) in `{store}`"))
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# demo


@app.command()
def demo(
    dsn: Annotated[
        str | None,
        typer.Option(
            metavar="DSN",
            envvar="AXONSTORE_DEMO_DSN",
            help="Run on this database instead of the embedded one.",
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the axon_demo schema in place.")] = False,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """A guided tour on the embedded server: filters, their SQL, results, governance, the audit chain."""
    from axonstore.cli import _demo  # noqa: PLC0415 — _demo imports this module's renderers

    def work(opts: _Opts) -> Awaitable[int]:
        url = dsn if dsn else _embedded_url(opts)
        opts.dsns.append(url)
        return _demo.run(url, keep=keep, as_json=opts.json, console=_console(), embedded=not dsn)

    _run(_opts(config, as_json, debug), work)


# --------------------------------------------------------------------------------------------------
# Entry point


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (the ``axonstore`` script passes it to ``sys.exit``)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="axonstore", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
