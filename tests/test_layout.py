"""The house in rooms: what one part of the package may take from another (STYLE.md, issue 9).

A *room* is a subpackage of ``axonstore`` (``backend``, ``memory``, ``rows``, ``cli``, …) or a top-level
module (``sql``, ``governance``, …). Inside a room, anything goes. Between rooms:

* no import of a ``_private`` name (a function, class or constant whose name starts with ``_``);
* no import of a subpackage's ``_private`` module from outside that subpackage;
* top-level ``_modules`` (``axonstore._text``, ``axonstore._json``) are leaves shared by the whole package,
  so any room may import them — but not their ``_private`` names;
* pure rooms never import I/O code: ``filter``, ``sql``, ``idents``, ``pgtypes``, ``operations``, ``verbs``,
  ``memory``, ``governance``, ``audit``, ``schema``, ``stream``, ``dsn`` and ``errors`` import neither
  psycopg's connections and pools nor another room that does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "axonstore"

#: Rooms that never touch a connection: they may not import these (directly).
PURE_ROOMS = ("filter", "sql", "idents", "pgtypes", "operations", "governance", "audit", "schema", "stream",
              "dsn", "errors", "_json", "_text", "verbs", "memory")  # fmt: skip
IO_MODULES = ("psycopg_pool", "axonstore.backend", "axonstore.registry", "axonstore.cli",
              "axonstore.embedded", "axonstore.sync", "asyncio", "socket", "subprocess")  # fmt: skip


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    names: tuple[str, ...]  # the names imported from it (empty for `import x`)
    line: int


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports() -> Iterator[Import]:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _dotted(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, path.name == "__init__.py", node)
                yield Import(module, target, tuple(a.name for a in node.names), node.lineno)


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "axonstore"
    return parts[1]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_module_of_other_room(imp: Import) -> bool:
    """``axonstore.<room>._x`` imported from outside ``<room>`` (top-level ``axonstore._x`` are leaves)."""
    parts = imp.target.split(".")
    if parts[0] != "axonstore" or len(parts) < 3:
        return False
    return any(_is_private(p) for p in parts[2:]) and _room(imp.target) != _room(imp.module)


def _violations() -> list[str]:
    found = []
    for imp in _imports():
        if not imp.target.startswith("axonstore"):
            continue
        if _private_module_of_other_room(imp):
            found.append(f"{imp.module}:{imp.line} imports private module {imp.target}")
        if _room(imp.target) != _room(imp.module) or imp.target.split(".")[-1].startswith("_"):
            same_room = _room(imp.target) == _room(imp.module) and _room(imp.module) != "axonstore"
            if same_room:
                continue
            for name in imp.names:
                if _is_private(name):
                    found.append(f"{imp.module}:{imp.line} imports private name {name} from {imp.target}")
    return found


def test_no_room_imports_another_rooms_private_names() -> None:
    assert _violations() == []


@pytest.mark.parametrize("room", PURE_ROOMS)
def test_pure_rooms_import_no_io(room: str) -> None:
    bad = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in _imports()
        if _room(imp.module) == room
        and any(imp.target == io or imp.target.startswith(io + ".") for io in IO_MODULES)
    ]
    assert bad == []


def test_every_room_named_in_the_layout_exists() -> None:
    for name in ("backend", "memory", "rows", "cli", "embedded", "filter", "errors", "verbs", "registry"):
        assert (PACKAGE / name / "__init__.py").is_file(), name
    for name in ("idents", "pgtypes", "_json", "audit", "operations", "sync"):
        assert (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file(), name


def test_the_layout_checker_sees_a_violation() -> None:
    """The checker itself: a private name across rooms is caught, one inside a room is not."""
    cross = Import("axonstore.cli._output", "axonstore.memory._values", ("CastError",), 1)
    inside = Import("axonstore.cli", "axonstore.cli._output", ("_console",), 1)
    assert _private_module_of_other_room(cross)
    assert not _private_module_of_other_room(inside)
    assert _room("axonstore.memory._eval") == "memory"
    assert _room("axonstore.sql") == "sql"
