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
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import logging
import math
import os
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from axonstore import _connections
from axonstore.backend import PostgresStoreBackend
from axonstore.declarations import Declarations, load_declarations
from axonstore.dsn import mask_dsn, resolve_dsn, scrub_secrets
from axonstore.embedded import EmbeddedServer
from axonstore.errors import (
    EmptyData,
    FilterError,
    StoreError,
    UnboundedWrite,
    UnknownColumn,
    UnknownStore,
)
from axonstore.filter import parse_filter
from axonstore.governance import AuditChain, canonical_json
from axonstore.introspect import manifest
from axonstore.registry import StoreHandle, StoreRegistry
from axonstore.stream import DEFAULT_MAX_ROWS, Backpressure

__all__ = ["app", "main"]

#: Exit codes (CONTRACT §7).
EXIT_OK, EXIT_STORE_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

_WIDE = 100_000  # a console width no table reaches: tables are never cut when stdout is not a terminal
_EMBEDDED_PENDING = "embedded (not running — starts on first use)"

app = typer.Typer(
    name="axonstore",
    help="Named stores over PostgreSQL tables, from the shell.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # help and usage errors as plain text: nothing a user typed becomes markup
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_embedded_app = typer.Typer(help="The embedded PostgreSQL that stores without `connection` run on.")
_audit_app = typer.Typer(help="Audit chains written with --audit-log.")
app.add_typer(_embedded_app, name="embedded")
app.add_typer(_audit_app, name="audit")


# --------------------------------------------------------------------------------------------------
# Options every command takes, and the per-invocation state


Config = Annotated[
    Path,
    typer.Option(
        "--config", envvar="AXONSTORE_CONFIG", help="The declarations file.", dir_okay=False, metavar="PATH"
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output (errors too, on stderr).")]
Debug = Annotated[bool, typer.Option("--debug", help="Library logs and tracebacks on stderr.")]
Store = Annotated[
    str, typer.Argument(metavar="STORE", help="A store declared in the config.", show_default=False)
]
Where = Annotated[
    str, typer.Argument(metavar="WHERE", help="A filter; one starting with '-' goes after '--'.")
]
Binds = Annotated[
    list[str] | None, typer.Option("--bind", "-b", metavar="NAME=VALUE", help="A ${NAME} value (repeat).")
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="COL=VALUE", help="A column value; COL alone sets NULL (repeat)."),
]
AllRows = Annotated[bool, typer.Option("--all-rows", help="Allow an empty WHERE to touch every row.")]
AuditLog = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        envvar="AXONSTORE_AUDIT_LOG",
        dir_okay=False,
        help="Append the write to an audit chain.",
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        metavar="KEYFILE",
        envvar="AXONSTORE_AUDIT_KEY_FILE",
        dir_okay=False,
        help="The chain's HMAC key (hex); created when neither it nor the log exists yet.",
    ),
]
_DEFAULT_CONFIG = Path("axonstore.toml")


@dataclass
class _Opts:
    """One invocation: the common options, the DSNs to scrub from logs, and the filter for a caret hint."""

    config: Path
    json: bool
    debug: bool
    dsns: list[str] = field(default_factory=list)
    caret_source: str | None = None


def _run(opts: _Opts, work: Callable[[_Opts], Awaitable[int]]) -> None:
    """Run one command's coroutine; map its failure to an exit code (raised as ``typer.Exit``)."""
    with _logging(opts):
        code = _guarded(opts, work)
    if code:
        raise typer.Exit(code)


def _guarded(opts: _Opts, work: Callable[[_Opts], Awaitable[int]]) -> int:
    try:
        return asyncio.run(_as_coroutine(work(opts)))
    except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
        raise  # Typer's own (usage errors exit 2 with its text); a closed pipe ends quietly (Typer)
    except StoreError as exc:
        _report_store_error(opts, exc)
        return EXIT_STORE_ERROR
    except Exception as exc:
        _report_internal(opts, exc)
        return EXIT_INTERNAL


async def _as_coroutine(awaitable: Awaitable[int]) -> int:
    return await awaitable


# --------------------------------------------------------------------------------------------------
# Errors, hints and logs


def _report_store_error(opts: _Opts, exc: StoreError) -> None:
    if opts.debug:
        _print_traceback(opts, exc)  # first, so that the error and its hint stay the last lines
    message = _scrub(opts, str(exc))
    hint = _hint(opts, exc)
    if opts.json:
        payload = {"error": type(exc).__name__, "message": message, "hint": hint}
        _err(json.dumps(payload, ensure_ascii=False))
    else:
        _err(f"error: {message}")
        if hint:
            _err(f"hint: {hint}")


def _report_internal(opts: _Opts, exc: BaseException) -> None:
    if opts.debug:
        _print_traceback(opts, exc)
    _err(_scrub(opts, f"internal error: {type(exc).__name__}: {exc}"))
    if not opts.debug:
        _err("hint: run again with --debug for the traceback")


def _print_traceback(opts: _Opts, exc: BaseException) -> None:
    """The plain traceback (never local variables), with known passwords scrubbed."""
    text = "".join(traceback.format_exception(exc))
    sys.stderr.write(_scrub(opts, text))
    sys.stderr.flush()


def _hint(opts: _Opts, exc: StoreError) -> str | None:
    """What the CLI suggests for ``exc`` (``None`` when the message says it all)."""
    if isinstance(exc, UnboundedWrite):
        return "give a WHERE filter, or add --all-rows to touch every row on purpose"
    if isinstance(exc, UnknownColumn):
        if exc.columns:
            return f"the columns of `{exc.table}` are: {', '.join(exc.columns)}"
        return f"`axonstore introspect {exc.table}` lists the table's columns"
    pos = getattr(exc, "pos", None)
    if isinstance(exc, FilterError) and isinstance(pos, int) and opts.caret_source is not None:
        return f"position {pos} of the filter:\n{caret(opts.caret_source, pos)}"
    if isinstance(exc, UnknownStore):
        return "`axonstore stores` lists the declared stores"
    return type(exc).hint


def caret(expr: str, pos: int) -> str:
    """The line of ``expr`` holding character ``pos``, indented, with ``^`` under that character."""
    start = expr.rfind("\n", 0, pos) + 1
    end = expr.find("\n", pos)
    line = expr[start : len(expr) if end == -1 else end]
    # Tabs would make the caret drift: show them as one space each, so one character is one column.
    prefix = expr[start:pos].replace("\t", " ")
    return f"  {line.replace(chr(9), ' ')}\n  {' ' * _cells(prefix)}^"


def _cells(text: str) -> int:
    return cell_len(text)  # wide (CJK) characters take two columns


def _scrub(opts: _Opts, text: str) -> str:
    for dsn in opts.dsns:
        text = scrub_secrets(text, dsn)
    return text


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class _ScrubbingFormatter(logging.Formatter):
    """Log lines with every known password removed (a driver message may echo part of a DSN)."""

    def __init__(self, opts: _Opts) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._opts = opts

    def format(self, record: logging.LogRecord) -> str:
        return _scrub(self._opts, super().format(record))


@contextlib.contextmanager
def _logging(opts: _Opts) -> Iterator[None]:
    """Library records (psycopg_pool's included) go to stderr with ``--debug``, and nowhere otherwise."""
    root = logging.getLogger()
    handler: logging.Handler
    if opts.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ScrubbingFormatter(opts))
    else:
        handler = logging.NullHandler()  # keeps logging's last-resort handler from printing warnings
    # psycopg quiets its loggers to WARNING on import; --debug wants the pool's life story too.
    quieted = logging.getLogger("psycopg")
    levels = (root.level, quieted.level)
    root.addHandler(handler)
    if opts.debug:
        root.setLevel(logging.DEBUG)
        quieted.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        quieted.setLevel(levels[1])


# --------------------------------------------------------------------------------------------------
# Output


def _console() -> Console:
    """Rich on a terminal; otherwise plain and wide enough that no table is ever cut."""
    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    if console.is_terminal:
        return console
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False, width=_WIDE, no_color=True)


def _print_json(value: object) -> None:
    sys.stdout.write(_json_text(value) + "\n")
    sys.stdout.flush()


def _json_text(value: object) -> str:
    try:
        return canonical_json(value)
    except ValueError:  # NaN / ±inf (an in-memory float): JSON has no such number
        return canonical_json(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _cell(value: object) -> Text:
    """A table cell: the value as literal text (``NULL`` dimmed; JSON for containers)."""
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, dict | list):
        return Text(_json_text(value))
    return Text(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> Table:
    table = Table(
        *(Column(Text(h)) for h in headers),
        title=Text(title) if title else None,
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for row in rows:
        table.add_row(*(v if isinstance(v, Text) else _cell(v) for v in row))
    return table


def rows_table(rows: Sequence[Mapping[str, object]], title: str | None = None) -> Table:
    """Rows as a Rich table whose cells are literal text (columns in first-seen order)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return _table(columns, [[row.get(c) for c in columns] for row in rows], title)


# --------------------------------------------------------------------------------------------------
# Arguments


def _split(value: str, option: str, *, null_ok: bool) -> tuple[str, str | None]:
    name, sep, text = value.partition("=")
    if not sep:
        if null_ok:
            return name, None
        raise typer.BadParameter(f"{value!r} has no '=' — write NAME=VALUE", param_hint=f"'{option}'")
    return name, text


def _bindings(values: list[str] | None) -> dict[str, str] | None:
    """``--bind NAME=VALUE`` (split at the first ``=``; the value is text)."""
    if not values:
        return None
    pairs = [_split(v, "--bind", null_ok=False) for v in values]
    return {name: text or "" for name, text in pairs}


def _data(values: list[str] | None) -> dict[str, str | None]:
    """``--set COL=VALUE`` (text) or ``--set COL`` (NULL); a column given twice is a usage error."""
    data: dict[str, str | None] = {}
    for value in values or ():
        column, text = _split(value, "--set", null_ok=True)
        if column in data:
            raise typer.BadParameter(f"column {column!r} is set twice", param_hint="'--set'")
        data[column] = text
    return data


def _check_where(opts: _Opts, where: str, bindings: Mapping[str, str] | None) -> None:
    """Parse the filter first (pure), so a position in its error points into what the user typed."""
    opts.caret_source = where
    parse_filter(where, bindings)


# --------------------------------------------------------------------------------------------------
# The registry


def _registry(
    opts: _Opts, names: Sequence[str] | None = None, *, audit_key: bytes | None = None
) -> StoreRegistry:
    """The declared stores (only ``names`` when given); the embedded server starts only if one needs it."""
    declared = load_declarations(opts.config)
    if names is not None:
        for name in names:
            if name not in declared.stores:
                raise UnknownStore(name, tuple(declared.stores))
        declared = Declarations({n: declared.stores[n] for n in names}, declared.resources, declared.path)
    needs_embedded = any(spec.needs_default_connection for spec in declared.stores.values())
    default = _embedded_url(opts) if needs_embedded else None
    registry = StoreRegistry(declared, audit_key=audit_key, default_connection=default)
    for spec in declared.stores.values():
        if spec.backend == "postgresql":
            with contextlib.suppress(StoreError):  # the registry raises it, typed, when the store is used
                opts.dsns.append(resolve_dsn(registry.connection_source(spec)[0]))
    return registry


def _embedded_url(opts: _Opts) -> str:
    server = EmbeddedServer()
    if not server.status().running and not opts.json:
        _err(f"starting the embedded PostgreSQL (data in {server.data_root}) …")
    return server.ensure_running()


@contextlib.asynccontextmanager
async def _opened(
    opts: _Opts, names: Sequence[str] | None = None, *, audit_key: bytes | None = None
) -> AsyncIterator[StoreRegistry]:
    registry = _registry(opts, names, audit_key=audit_key)
    try:
        yield registry
    finally:
        await registry.aclose()


def _opts(config: Path, as_json: bool, debug: bool) -> _Opts:
    return _Opts(config, as_json, debug)


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


def _describe_store(registry: StoreRegistry, name: str) -> dict[str, Any]:
    spec = registry.spec(name)
    entry: dict[str, Any] = {
        "store": name,
        "backend": spec.backend,
        "connection": None,
        "capacity": None,
        "confidence_floor": spec.confidence_floor,
        "capability": spec.capability,
        "schema": spec.schema,
        "pool": None,
    }
    if spec.backend != "postgresql":
        return entry
    source, capacity = registry.connection_source(spec)
    entry["connection"] = _shown_connection(source, spec.needs_default_connection)
    entry["capacity"] = capacity
    entry["pool"] = {
        "min_size": 0,
        "max_size": capacity,
        "acquire_timeout_s": _connections.ACQUIRE_TIMEOUT,
        "max_idle_s": _connections.MAX_IDLE,
        "max_lifetime_s": _connections.MAX_LIFETIME,
        "check_after_idle_s": _connections.CHECK_AFTER_IDLE,
    }
    return entry


def _shown_connection(source: str, embedded: bool) -> str:
    """The DSN resolved from ``env:`` and masked; ``env:VAR (unset)`` when the variable is missing."""
    if embedded:
        return source if source == _EMBEDDED_PENDING else f"embedded: {mask_dsn(source)}"
    try:
        return mask_dsn(resolve_dsn(source))
    except StoreError:
        return f"{mask_dsn(source.strip())} (unset)"


def _or_dash(value: object) -> object:
    return "—" if value is None else value


def _pool_text(pool: Mapping[str, Any] | None) -> str:
    if pool is None:
        return "—"
    return (
        f"max {pool['max_size']}, acquire timeout {pool['acquire_timeout_s']:g} s, "
        f"idle {pool['max_idle_s']:g} s, lifetime {pool['max_lifetime_s']:g} s"
    )


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


def _print_manifest(described: Mapping[str, Any], out: Path | None) -> None:
    console = _console()
    headers = ["column", "type", "sql_type", "nullable", "default", "identity", "serial", "generated"]
    rows = [[c[h if h != "column" else "name"] for h in headers] for c in described["columns"]]
    console.print(_table(headers, rows, f"{described['schema']}.{described['table']}"))
    console.print(Text(f"primary key: {', '.join(described['primary_key']) or '—'}"))
    unique = "; ".join(", ".join(cols) for cols in described["unique"]) or "—"
    console.print(Text(f"unique: {unique}"))
    console.print(Text(f"hash: {described['hash']}"))
    if out is not None:
        console.print(Text(f"manifest written to {out}"))


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


def _flag(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


async def _stream_with_progress(console: Console, rows: AsyncIterator[dict[str, Any]]) -> None:
    columns = (SpinnerColumn(), TextColumn("{task.completed} row(s)"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("stream", total=None)
        async for row in rows:
            progress.console.print(Text(_json_text(row)))
            progress.advance(task)


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


@dataclass(frozen=True)
class _AuditFile:
    """An audit chain kept in a JSON-lines file across CLI runs, signed with the key in ``key_file``.

    Each write re-reads the file under an exclusive lock, verifies it, appends this run's entries and
    replaces the file atomically, so concurrent runs never lose or fork entries.
    """

    path: Path
    key_file: Path

    @classmethod
    def from_options(cls, path: Path | None, key_file: Path | None) -> _AuditFile | None:
        if path is None:
            if key_file is not None:
                raise typer.BadParameter("--key-file needs --audit-log", param_hint="'--key-file'")
            return None
        if key_file is None:
            raise typer.BadParameter("--audit-log needs --key-file (the HMAC key)", param_hint="'--key-file'")
        return cls(path, key_file)

    def check(self) -> None:
        with self._locked():
            self._load()

    def record(self, entries: AuditChain) -> None:
        with self._locked():
            chain = self._load()
            for entry in entries:
                payload = entry.payload
                chain.append(payload["op"], payload["store"], payload["summary"], payload["timestamp_ms"])
            text = io.StringIO()
            chain.export_jsonl(text)
            _replace(self.path, text.getvalue())

    def _load(self) -> AuditChain:
        has_entries = self.path.is_file() and self.path.stat().st_size > 0
        if not self.key_file.exists():
            if has_entries:
                raise typer.BadParameter(
                    f"{self.key_file} does not exist but {self.path} has entries — give the key they "
                    "were signed with",
                    param_hint="'--key-file'",
                )
            _replace(self.key_file, secrets.token_hex(32) + "\n", mode=0o600)
        key = read_key(self.key_file)
        if not has_entries:
            return AuditChain(key)
        with self.path.open(encoding="utf-8") as handle:
            chain = AuditChain.import_jsonl(handle, key=key)
        chain.verify()
        return chain

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def read_key(path: Path) -> bytes:
    """An audit key file: hex text (what the CLI writes) is decoded; any other content is the raw key."""
    data = path.read_bytes()
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = data
    if not key:
        raise typer.BadParameter(f"{path} is empty", param_hint="'--key-file'")
    return key


def _replace(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


@_audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, help="An audit log (JSON lines).")
    ],
    key_file: Annotated[
        Path, typer.Option(metavar="KEYFILE", exists=True, dir_okay=False, help="The chain's HMAC key.")
    ],
    head: Annotated[
        str | None, typer.Option(metavar="HASH", help="The head you kept: detects a cut tail.")
    ] = None,
    config: Config = _DEFAULT_CONFIG,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Verify every link and signature of an exported audit chain."""
    _run(_opts(config, as_json, debug), lambda opts: _audit_verify(opts, file, key_file, head))


async def _audit_verify(opts: _Opts, file: Path, key_file: Path, head: str | None) -> int:
    key = read_key(key_file)
    with file.open(encoding="utf-8") as handle:
        chain = AuditChain.import_jsonl(handle, key=key)
    chain.verify(expected_head=head)
    if opts.json:
        _print_json({"file": str(file), "verified": True, "entries": len(chain), "head": chain.head})
    else:
        _console().print(Text(f"ok: {len(chain)} entries verified; head {chain.head}"))
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# embedded


@_embedded_app.command("start")
def embedded_start(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Start the embedded server (a no-op when it runs); print its URL."""
    _run(_opts(config, as_json, debug), _embedded_start)


async def _embedded_start(opts: _Opts) -> int:
    server = EmbeddedServer()
    url = server.ensure_running()
    return _show_status(opts, server, url)


@_embedded_app.command("stop")
def embedded_stop(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Stop the embedded server (fast shutdown)."""
    _run(_opts(config, as_json, debug), _embedded_stop)


async def _embedded_stop(opts: _Opts) -> int:
    stopped = EmbeddedServer().stop()
    if opts.json:
        _print_json({"stopped": stopped})
    else:
        _console().print(Text("stopped" if stopped else "not running"))
    return EXIT_OK


@_embedded_app.command("status")
def embedded_status(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Whether the embedded server runs, with its PID, port, URL and data folder."""
    _run(_opts(config, as_json, debug), lambda opts: _async_value(_show_status(opts, EmbeddedServer(), None)))


async def _async_value(value: int) -> int:
    return value


def _show_status(opts: _Opts, server: EmbeddedServer, url: str | None) -> int:
    status = server.status()
    shown = {
        "running": status.running,
        "pid": status.pid,
        "port": status.port,
        "url": mask_dsn(url or status.url or "") or None,
        "data_dir": str(status.data_dir),
    }
    if opts.json:
        _print_json(shown)
    else:
        rows = [[key, "—" if value is None else _flag(value)] for key, value in shown.items()]
        _console().print(_table(["embedded", ""], rows))
    return EXIT_OK


@_embedded_app.command("url")
def embedded_url(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """The running server's URL (exit 1 when it is not running)."""
    _run(_opts(config, as_json, debug), _embedded_url_command)


async def _embedded_url_command(opts: _Opts) -> int:
    url = mask_dsn(EmbeddedServer().url())
    if opts.json:
        _print_json({"url": url})
    else:
        sys.stdout.write(url + "\n")
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
    from axonstore import _demo  # noqa: PLC0415 — _demo imports this module's renderers

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


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    _err(str(code))
    return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
