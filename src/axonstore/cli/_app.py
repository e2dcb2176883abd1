"""The ``axonstore`` command line (Typer + Rich): one command per process, over ``axonstore.toml``.

::

    axonstore stores                                   # declared stores, masked DSNs, pool settings
    axonstore retrieve claims 'status = "${s}"' --bind s=open --order-by 'created desc' --limit 20
    axonstore persist claims --set id=c-9 --set status=open --audit-log audit.jsonl --key-file audit.key
    axonstore audit verify audit.jsonl --key-file audit.key
    axonstore demo

Every command takes ``--config PATH`` (default ``./axonstore.toml`` or ``$AXONSTORE_CONFIG``), ``--json``
and ``--debug`` after its name, or before it (``axonstore --json stores``); ``axonstore --version``.
Exit codes: 0 success; 1 a ``StoreError`` (``error:`` and ``hint:`` on
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

import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
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
from axonstore.errors import EmptyData, StoreError
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

#: The options every command takes, also accepted before the command name (moved after it by ``main``).
_COMMON_FLAGS = frozenset({"--json", "--debug"})
_COMMON_VALUED = "--config"

app = typer.Typer(
    name="axonstore",
    help="Named stores over PostgreSQL tables, from the shell.\n\n"
    "Every command takes --config PATH, --json and --debug, after its name or before it.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # help and usage errors as plain text: nothing a user typed becomes markup
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(_embedded_app, name="embedded")
app.add_typer(_audit_app, name="audit")
app.command("mcp")(mcp_command)  # serve the agent stores over MCP (cli/_mcp.py)


def _version() -> str:
    try:
        return metadata.version("axonstore")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"axonstore {_version()}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """The group itself: only ``--version`` (the common options are moved after the command by ``main``)."""


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
    columns: Annotated[str, typer.Option(metavar="COLS", help="Only these columns: 'id, status'.")] = "",
    page_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=10_000, metavar="N", help="One keyset page of N rows; prints the next token."
        ),
    ] = None,
    after: Annotated[
        str | None, typer.Option(metavar="TOKEN", help="The page after TOKEN (from --page-size's output).")
    ] = None,
    max_rows: Annotated[
        int | None,
        typer.Option(
            min=0, metavar="N", help=f"The most rows read (default {DEFAULT_MAX_ROWS}); more are cut off."
        ),
    ] = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Rows matching WHERE as a table; --json prints the retrieval envelope."""
    bindings = _bindings(bind)
    if page_size is not None or after is not None:
        if page_size is None or limit or aggregate or group_by or max_rows is not None:
            raise typer.BadParameter(
                "--after needs --page-size, and a page takes neither --limit, --aggregate, --group-by "
                "nor --max-rows",
                param_hint="'--page-size'",
            )
        shape = _PageShape(order_by, page_size, after, columns)
        _run(_opts(config, as_json, debug), lambda opts: _page(opts, store, where, bindings, shape))
        return
    options: dict[str, Any] = {"order_by": order_by, "limit": limit, "aggregate": aggregate}
    options["group_by"] = group_by
    options["columns"] = columns
    if max_rows is not None:
        options["max_rows"] = max_rows
    _run(_opts(config, as_json, debug), lambda opts: _retrieve(opts, store, where, bindings, options))


@dataclass(frozen=True)
class _PageShape:
    order_by: str
    size: int
    after: str | None
    columns: str


async def _page(
    opts: _Opts, store: str, where: str, bindings: dict[str, str] | None, shape: _PageShape
) -> int:
    _check_where(where, bindings)
    async with _opened(opts, [store]) as registry:
        page = await registry.store(store).page(
            where,
            bindings,
            order_by=shape.order_by,
            size=shape.size,
            after=shape.after,
            columns=shape.columns,
        )
    if opts.json:
        _print_json({"rows": page.rows, "next": page.next})
        return EXIT_OK
    console = _console()
    console.print(rows_table(page.rows))
    tail = f"next page: --after {page.next}" if page.next else "last page"
    console.print(Text(f"{len(page.rows)} row(s); {tail}"))
    return EXIT_OK


async def _retrieve(
    opts: _Opts, store: str, where: str, bindings: dict[str, str] | None, options: dict[str, Any]
) -> int:
    _check_where(where, bindings, limit=options["limit"])
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
        bound = options.get("max_rows", DEFAULT_MAX_ROWS)
        notes.append(f"TRUNCATED at {bound} rows (--max-rows) — raise --max-rows or narrow the filter")
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
    _check_where(where, bindings, limit=shape.limit)
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
    from_jsonl: Annotated[
        Path | None,
        typer.Option(
            "--from-jsonl", metavar="FILE", help="One JSON object per line ('-': stdin); all rows or none."
        ),
    ] = None,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Insert one row built from --set COL=VALUE, or every row of --from-jsonl FILE (all or none)."""
    data = _data(set_)
    audit = _AuditFile.from_options(audit_log, key_file)
    if from_jsonl is not None:
        if data:
            raise typer.BadParameter("give --set or --from-jsonl, not both", param_hint="'--from-jsonl'")
        rows = _jsonl_rows(from_jsonl)

        async def many(handle: StoreHandle) -> int:
            return await _persist_rows(handle, rows)

        _run(
            _opts(config, as_json, debug), lambda opts: _write(opts, store, "persist", audit, _no_check, many)
        )
        return

    def check(_: _Opts) -> None:
        if not data:
            raise EmptyData("persist")

    async def work(handle: StoreHandle) -> int:
        return await handle.persist(data)

    _run(_opts(config, as_json, debug), lambda opts: _write(opts, store, "persist", audit, check, work))


def _no_check(_: _Opts) -> None:
    """Rows from a file were checked as they were read."""


#: Rows per statement batch of ``persist --from-jsonl`` (one transaction for them all): the progress
#: bar advances per batch.
_JSONL_BATCH = 5_000


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file as a row (a usage error names the first bad line)."""
    raw = sys.stdin.buffer.read() if str(path) == "-" else _read_bytes(path)
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:80]
            raise typer.BadParameter(
                f"line {number} is not JSON ({reason})", param_hint="'--from-jsonl'"
            ) from None
        if not isinstance(row, dict):
            raise typer.BadParameter(f"line {number} is not a JSON object", param_hint="'--from-jsonl'")
        rows.append(row)
    return rows


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="'--from-jsonl'") from None


async def _persist_rows(handle: StoreHandle, rows: list[dict[str, Any]]) -> int:
    """``persist_many`` in batches inside one transaction, with a progress bar on a terminal."""
    console = _console()
    async with handle.transaction() as tx:
        if not console.is_terminal or len(rows) <= _JSONL_BATCH:
            return await handle.persist_many(rows, conn=tx)
        done = 0
        with Progress(TextColumn("persist"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("rows", total=len(rows))
            for start in range(0, len(rows), _JSONL_BATCH):
                done += await handle.persist_many(rows[start : start + _JSONL_BATCH], conn=tx)
                bar.update(task, completed=done)
        return done


@app.command()
def upsert(
    store: Store,
    set_: Sets = None,
    on_conflict: Annotated[
        str, typer.Option("--on-conflict", metavar="COLS", help="The conflict target: 'id' or 'a, b'.")
    ] = "",
    update: Annotated[
        str | None,
        typer.Option(
            metavar="COLS", help="Columns to update on conflict (default: all but the target; '' : none)."
        ),
    ] = None,
    audit_log: AuditLog = None,
    key_file: KeyFile = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Insert a row from --set COL=VALUE, or update the row --on-conflict finds."""
    data = _data(set_)
    audit = _AuditFile.from_options(audit_log, key_file)

    def check(_: _Opts) -> None:
        if not data:
            raise EmptyData("upsert")
        if not on_conflict.strip():
            raise typer.BadParameter(
                "name the conflict target, e.g. --on-conflict id", param_hint="'--on-conflict'"
            )

    async def work(handle: StoreHandle) -> int:
        return await handle.upsert(data, on_conflict, update)

    _run(_opts(config, as_json, debug), lambda opts: _write(opts, store, "upsert", audit, check, work))


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

    def check(_: _Opts) -> None:
        _check_where(where, bindings)

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

    def check(_: _Opts) -> None:
        _check_where(where, bindings)

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
    args = list(sys.argv[1:] if argv is None else argv)
    bad = _not_utf8(args)
    if bad is not None:
        _err(f"Usage: axonstore [OPTIONS] COMMAND [ARGS]...\nError: {bad}")
        return EXIT_USAGE
    traced = "--otel" in args  # CONTRACT §14: any command, exported where the OTEL_* variables say
    if traced:
        args = [arg for arg in args if arg != "--otel"]
    command = typer.main.get_command(app)
    try:
        with _telemetry(traced, _command_name(args)):
            ordered = _common_options_last(command, args)
            command.main(args=ordered, prog_name="axonstore", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except StoreError as exc:  # --otel without the SDK or an exporter: what to install
        _err(f"error: {exc}")
        return EXIT_STORE_ERROR
    return EXIT_OK


@contextlib.contextmanager
def _telemetry(on: bool, name: str) -> Iterator[None]:
    """With ``--otel``: the SDK's providers from the standard ``OTEL_*`` variables, the command as one
    span around its operations, flushed at exit."""
    if not on:
        yield
        return
    from axonstore.otel import configure_from_env, traced_command  # noqa: PLC0415  # only with --otel

    shutdown = configure_from_env(service_name="axonstore-cli")
    try:
        with traced_command(name):
            yield
    finally:
        shutdown()


def _command_name(args: list[str]) -> str:
    """The command's name (the first argument that is not an option), for its span."""
    return next((arg for arg in args if not arg.startswith("-")), "axonstore")


def _not_utf8(args: list[str]) -> str | None:
    """Why an argument cannot be used (bytes that are not UTF-8 arrive as lone surrogates), or ``None``."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return f"argument {number} ({shown!r}) is not valid UTF-8 text — the shell's locale must be UTF-8"
    return None


def _common_options_last(command: object, args: list[str]) -> list[str]:
    """``axonstore --json retrieve s …`` → ``axonstore retrieve --json s …`` (CONTRACT §7, from 0.2).

    Only ``--config``/``--json``/``--debug`` in front of the command name move, to just after the
    command's full name (``embedded stop``), so that they come before any ``--``.
    """
    moved: list[str] = []
    rest = list(args)
    while rest and (rest[0] in _COMMON_FLAGS or rest[0].split("=", 1)[0] == _COMMON_VALUED):
        option = rest.pop(0)
        moved.append(option)
        if option == _COMMON_VALUED and rest:
            moved.append(rest.pop(0))
    if not moved:
        return args
    path = 0
    group = command  # a click Group has `commands` (Typer may vendor its own click: no isinstance)
    while path < len(rest) and rest[path] in getattr(group, "commands", {}):
        group = getattr(group, "commands")[rest[path]]  # noqa: B009
        path += 1
    return rest[:path] + moved + rest[path:]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
