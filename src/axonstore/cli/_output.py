"""How the ``axonstore`` CLI writes: tables, JSON, error lines with hints, exit codes and ``--debug`` logs.

Everything the commands print goes through here, so the rules in :mod:`axonstore.cli`'s docstring hold in
one place: JSON and error text are written as they are, never through Rich markup; tables go through Rich
with every value as literal text, at full width when stdout is not a terminal; a ``StoreError`` is exit 1
with ``error:``/``hint:`` (a caret under a filter position), anything else exit 3; known passwords are
scrubbed from every line. Apart from the commands so that they stay thin; ``caret``, ``rows_table`` and
the exit codes are re-exported by :mod:`axonstore.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from axonstore._json import json_text
from axonstore.backend import connections
from axonstore.dsn import mask_dsn, resolve_dsn, scrub_secrets
from axonstore.errors import FilterError, StoreError, UnboundedWrite, UnknownColumn, UnknownStore
from axonstore.registry import StoreRegistry

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_STORE_ERROR", "EXIT_USAGE", "caret", "rows_table"]

#: Exit codes (CONTRACT §7).
EXIT_OK, EXIT_STORE_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

_WIDE = 100_000  # a console width no table reaches: tables are never cut when stdout is not a terminal
_EMBEDDED_PENDING = "embedded (not running — starts on first use)"


# --------------------------------------------------------------------------------------------------
# One invocation: its state, and its failure mapped to an exit code


@dataclass
class _Opts:
    """One invocation: the common options, the DSNs to scrub from logs, and the filter for a caret hint."""

    config: Path
    json: bool
    debug: bool
    dsns: list[str] = field(default_factory=list)


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
    hint = _hint(exc)
    if opts.json:
        payload = {"error": type(exc).__name__, "message": message, "hint": hint}
        _err(_json_text(payload))  # compact, like every other JSON the CLI prints
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


def _hint(exc: StoreError) -> str | None:
    """What the CLI suggests for ``exc`` (``None`` when the message says it all)."""
    if isinstance(exc, UnboundedWrite):
        return "give a WHERE filter, or add --all-rows to touch every row on purpose"
    if isinstance(exc, UnknownColumn):
        if exc.columns:
            return f"the columns of `{exc.table}` are: {', '.join(exc.columns)}"
        return f"`axonstore introspect {exc.table}` lists the table's columns"
    pos = getattr(exc, "pos", None)
    expr = getattr(exc, "expr", None)  # every FilterError carries its place (issue 9 §3)
    if isinstance(exc, FilterError) and isinstance(pos, int) and isinstance(expr, str):
        return f"position {pos} of the filter:\n{caret(expr, pos)}"
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
    """Rich on a terminal; otherwise plain and wide enough that no table is ever cut, with no padding
    at the ends of lines (Rich pads every line of a table to the console's width)."""
    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    if console.is_terminal:
        return console
    return Console(
        file=cast(TextIO, _TrimmedLines(sys.stdout)),
        highlight=False,
        markup=False,
        emoji=False,
        width=_WIDE,
        no_color=True,
    )


class _TrimmedLines(io.TextIOBase):
    """A text stream that drops the spaces Rich writes before each line end (one print is one write)."""

    _PADDING = re.compile(r"[ \t]+$", re.MULTILINE)

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(self._PADDING.sub("", text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False


def _print_json(value: object) -> None:
    sys.stdout.write(_json_text(value) + "\n")
    sys.stdout.flush()


_json_text = json_text  # the CLI prints JSON exactly as Retrieval.to_json() writes it


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
# What `stores`, `introspect`, `stream` and `embedded status` show


def _routing(registry: StoreRegistry, name: str) -> dict[str, Any]:
    """Where the store's reads go (readers masked, CONTRACT §13), or ``{}`` when that cannot be said
    without the store's variables (the listing never fails on them)."""
    try:
        return registry.routing(name)
    except StoreError:
        return {}


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
    entry["routing"] = _routing(registry, name)
    entry["pool"] = {
        "min_size": 0,
        "max_size": capacity,
        "acquire_timeout_s": connections.ACQUIRE_TIMEOUT,
        "max_idle_s": connections.MAX_IDLE,
        "max_lifetime_s": connections.MAX_LIFETIME,
        "check_after_idle_s": connections.CHECK_AFTER_IDLE,
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
# The exit code of a run


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    _err(str(code))
    return EXIT_INTERNAL
