"""What a CLI command starts from: its options, its arguments, and the registry of the declared stores.

The options every command takes (``--config``, ``--json``, ``--debug``) and the shared argument types;
``--bind NAME=VALUE`` and ``--set COL=VALUE`` parsing; the filter's pure pre-check (so that an error's
position points into what the user typed); and the :class:`~axonstore.registry.StoreRegistry` a command
opens, starting the embedded server only when a store needs it. Apart from :mod:`axonstore.cli` so that
the command modules share them without importing the app.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from axonstore.cli._output import _err, _Opts
from axonstore.declarations import Declarations, load_declarations
from axonstore.dsn import resolve_dsn
from axonstore.embedded import EmbeddedServer
from axonstore.errors import StoreError, UnknownStore
from axonstore.filter import Value, interpolate, parse_filter
from axonstore.registry import StoreRegistry

# --------------------------------------------------------------------------------------------------
# Options every command takes


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
_DEFAULT_CONFIG = Path("axonstore.toml")


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


def _check_where(where: str, bindings: Mapping[str, str] | None, *, limit: str = "") -> None:
    """D17 before any I/O: every ``${name}`` must have a ``--bind`` and every ``--bind`` must be used (a
    usage error). The parse is the verb's own (the parse cache serves it again); a filter error carries
    its position and expression for the caret."""
    parsed = parse_filter(where, bindings)
    literals = [] if parsed is None else list(_text_literals(parsed.root))
    _check_bindings([*literals, limit], bindings or {})


# ``${name}`` / ``$name`` exactly as the library's interpolation finds them (ANCHOR §3.8).
_PLACEHOLDER = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _text_literals(node: object) -> Iterator[str]:
    """Every quoted literal's template in a parsed filter (any node shape: fields are walked)."""
    if isinstance(node, Value):
        if node.kind == "text" and isinstance(node.value, str):
            yield node.value
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _text_literals(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield from _text_literals(getattr(node, f.name))


def _resolves(placeholder: str, name: str, bindings: Mapping[str, str]) -> bool:
    """Whether the library's interpolation gives ``placeholder`` a value from ``bindings``."""
    if name in bindings:
        return True
    # `${row.field}`: the library walks the JSON of binding `row` (the field may be missing).
    return "." in name and interpolate(placeholder, bindings) != placeholder


def _check_bindings(templates: Sequence[str], bindings: Mapping[str, str]) -> None:
    """CONTRACT D17 in the CLI: a typo'd ``${stat}`` or ``--bind stat=…`` would silently match nothing.

    The library keeps an unknown ``${name}`` as literal text (parity with the reference); a person at a
    shell means a binding, so an unresolved placeholder and an unused ``--bind`` both exit 2.
    """
    used: set[str] = set()
    for template in templates:
        for match in _PLACEHOLDER.finditer(template):
            name = match.group(1) if match.group(1) is not None else match.group(2)
            if not _resolves(match.group(0), name, bindings):
                given = f" (given: {', '.join(bindings)})" if bindings else ""
                raise typer.BadParameter(
                    f"the filter uses `{match.group(0)}` but no --bind {name.partition('.')[0]}=VALUE "
                    f"gives it{given} — an unbound name would be compared as literal text",
                    param_hint="'--bind'",
                )
            used.add(name if name in bindings else name.partition(".")[0])
    unused = [name for name in bindings if name not in used]
    if unused:
        uses = ", ".join(sorted(used)) or "no bindings"
        raise typer.BadParameter(
            f"--bind {unused[0]} is not used by the filter (it uses: {uses}) — check the spelling; a "
            "binding is written `${" + unused[0] + "}` inside a quoted literal",
            param_hint="'--bind'",
        )


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
    for name, spec in declared.stores.items():
        if spec.backend != "postgresql" and names is not None and not opts.json:
            _err(f"note: `{name}` is an in_memory store: its rows live only for this command")
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
