"""What an agent's call may do, decided on trees and allow-lists before any SQL (pure).

* Arguments are checked against the tool's JSON Schema by the server (``InvalidArguments``), after a
  column check that names the column (``ColumnNotAllowed``) for a write of a bound, reserved or
  non-writable column.
* The agent's filter is parsed by the closed grammar; every column it, the order, the aggregate or the
  group names must be filterable (``ColumnNotAllowed``); every ``${name}`` it uses must be one of its
  bindings and every binding must be used (D17).
* The server's own predicates — the principal's bound columns, the store's confidence floor — are
  composed with the agent's filter as trees, ``(<bind>) AND (<agent filter>)``: built as nodes, never
  parsed from pasted text, so no input can close a parenthesis and escape them. Their values travel as
  bindings whose names start with ``_``, a namespace agent bindings cannot enter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from axonstore.errors import ColumnNotAllowed, InvalidArguments
from axonstore.filter import And, Compare, Filter, Group, Node, NullTest, Or, Value, conjoin
from axonstore.mcp._hygiene import quoted
from axonstore.mcp._schema import Check, compile_check, depth_bound
from axonstore.mcp._tools import CONFIDENCE, StoreView, Tool

__all__ = [
    "MAX_ARGUMENT_DEPTH",
    "bind_filter",
    "check_arguments",
    "check_columns",
    "check_placeholders",
    "compose",
    "floor_filter",
    "persist_row",
]

#: The deepest nesting tool arguments may have (a json column value included).
MAX_ARGUMENT_DEPTH: Final = 32
_BIND_PREFIX: Final = "_bind_"
# ${name}, ${base.path} or $name inside a quoted literal (the interpolation syntax of §5).
_PLACEHOLDER: Final = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_FINITE_MAX: Final = 1.7976931348623157e308
_ROW_ARGUMENT: Final = {"persist": "row", "mutate": "set"}


# --------------------------------------------------------------------------------------------------
# Arguments


def check_arguments(tool: Tool, view: StoreView, arguments: object) -> dict[str, Any]:
    """The arguments of a call, checked: depth, the write's columns, then the tool's JSON Schema."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidArguments("arguments must be a JSON object")
    compiled = _compiled(tool.input_schema)
    row_key = _ROW_ARGUMENT.get(tool.verb)
    # A value valid for a shallow schema cannot be too deep, so the walk waits for a failed check —
    # unless a row's columns are checked first, which must not see a too-deep value before the walk.
    depth_first = row_key is not None or not compiled.shallow
    if depth_first:
        _check_depth(arguments)
    row = arguments.get(row_key) if row_key else None
    if isinstance(row, dict):
        for column in row:
            if column not in view.writable:
                use = "writing: it is set by the server" if _server_set(view, column) else "writing"
                raise ColumnNotAllowed(str(column), use)
    if compiled.check is not None and compiled.check(arguments):
        return arguments  # certainly valid: jsonschema would find nothing (see _schema)
    if not depth_first:  # not certainly valid, so perhaps deep: the depth before jsonschema walks it
        _check_depth(arguments)
    error = next(iter(compiled.validator.iter_errors(arguments)), None)
    if error is not None:
        raise InvalidArguments(_describe(error))
    return arguments


def _server_set(view: StoreView, column: object) -> bool:
    return column == CONFIDENCE or column in view.bound


def _check_depth(value: object) -> None:
    """Iteratively (a recursive walk is what deep input attacks) refuse nesting past the bound."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_ARGUMENT_DEPTH:
            raise InvalidArguments(f"arguments are nested more than {MAX_ARGUMENT_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


@dataclass(frozen=True)
class _Compiled:
    """A tool schema's validators: the fast sufficient check, and jsonschema, which decides the rest."""

    schema: Mapping[str, Any]  # held, so the id keying the cache is never reused by another schema
    validator: Draft202012Validator
    check: Check | None
    shallow: bool  # the schema bounds nesting within MAX_ARGUMENT_DEPTH, and the check can tell


_COMPILED: dict[int, _Compiled] = {}


def _compiled(schema: Mapping[str, Any]) -> _Compiled:
    """The validators of a tool schema, compiled once (schemas are immutable once generated)."""
    entry = _COMPILED.get(id(schema))
    if entry is None or entry.schema is not schema:
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        plain = _plain(schema)
        check = compile_check(plain)
        bound = depth_bound(plain)
        shallow = check is not None and bound is not None and bound <= MAX_ARGUMENT_DEPTH
        entry = _COMPILED[id(schema)] = _Compiled(schema, Draft202012Validator(plain), check, shallow)
    return entry


def _plain(value: object) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _describe(error: ValidationError) -> str:
    """What broke the schema, from the schema's side only: the argument's path and the rule, never the
    value the agent sent (a key it invented is quoted, cut to 32 characters)."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{quoted(p)}" for p in error.absolute_path)
    where = f"`{path.lstrip('.')}`" if path else "the arguments"
    rule = "propertyNames" if "propertyNames" in error.relative_schema_path else error.validator
    expected = error.validator_value
    if rule == "additionalProperties":
        extra = _extra_key(error)
        return f"{where} has no property `{extra}`" if extra else f"{where} has an unknown property"
    if rule == "required":
        return f"{where} needs {', '.join(f'`{r}`' for r in expected)}"
    if rule == "type":
        kinds = expected if isinstance(expected, str) else " or ".join(expected)
        return f"{where} must be of type {kinds}"
    messages = {
        "maxLength": f"{where} is longer than {expected} characters",
        "minLength": f"{where} must not be empty",
        "maximum": f"{where} must be at most {expected}",
        "minimum": f"{where} must be at least {expected}",
        "maxProperties": f"{where} has more than {expected} entries",
        "minProperties": f"{where} needs at least {expected} entry",
        "maxItems": f"{where} has more than {expected} items",
        "pattern": f"{where} does not match {expected}",
        "propertyNames": f"{where} has a key that is not a binding name (letters, digits, _; no leading _)",
    }
    return messages.get(str(rule), f"{where} breaks the `{rule}` rule of the tool's input schema")


def _extra_key(error: ValidationError) -> str | None:
    allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    extras = [k for k in instance if k not in allowed]
    return quoted(extras[0]) if extras else None


# --------------------------------------------------------------------------------------------------
# Filters: allow-lists and placeholders on the parsed tree


def check_columns(columns: Iterable[str], view: StoreView, use: str) -> None:
    """Every column must be filterable by this agent (checked before any SQL)."""
    for column in columns:
        if column not in view.filterable:
            raise ColumnNotAllowed(column, use)


def _values(node: object) -> Iterator[Value]:
    """Every bound literal of a (sub)tree, whatever its node types (walked generically, so new forms of
    the grammar are covered without a change here)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Value):
            yield item
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))


def check_placeholders(parsed: Filter | None, bindings: Mapping[str, str]) -> None:
    """D17 for agents: every ``${name}`` names one of the call's bindings, and every binding is used.

    An unresolved placeholder would silently match its literal text; a binding the filter never uses is
    a typo the agent should hear about. The names are the agent's own, so quoting them echoes nothing.
    """
    used: set[str] = set()
    for name, base in () if parsed is None else _placeholders(parsed):
        if base not in bindings:
            raise InvalidArguments(
                f"the filter uses `${{{quoted(name)}}}` but `bindings` has no `{quoted(base)}`"
            )
        used.add(base)
    for name in bindings:
        if name not in used:
            raise InvalidArguments(f"binding `{quoted(name)}` is never used by the filter")


def _placeholders(parsed: Filter) -> Iterator[tuple[str, str]]:
    """``(name, base)`` of every ``${name}`` in the tree's text literals, in the order they occur (a
    retrieve's are checked once per call shape: ``AgentService`` keeps the checked read)."""
    for value in _values(parsed.root):
        if value.kind == "text" and isinstance(value.value, str) and "$" in value.value:
            for match in _PLACEHOLDER.finditer(value.value):
                name = match.group(1) if match.group(1) is not None else match.group(2)
                yield name, name.split(".", 1)[0]


# --------------------------------------------------------------------------------------------------
# The server's predicates, as trees


def bind_filter(view: StoreView, claims: Mapping[str, str]) -> tuple[Filter | None, dict[str, str]]:
    """``col1 = $claim1 AND col2 = $claim2 …`` as a tree, and the bindings carrying the claim values.

    A claim value is a binding, never template text: a claim holding ``${x}`` or a quote stays data.
    The tree depends on the bound columns only, so it is one object per store: composed with a cached
    agent filter, it makes the same composed filter — and the same cached render plan — every call.
    """
    if not view.bound:
        return None, {}
    values = {f"{_BIND_PREFIX}{index}": claims[claim] for index, claim in enumerate(view.bound.values())}
    return _bind_tree(tuple(view.bound)), values


@lru_cache(maxsize=1024)
def _bind_tree(columns: tuple[str, ...]) -> Filter:
    nodes: list[Node] = [
        Compare(column, "=", Value("text", "${" + f"{_BIND_PREFIX}{index}" + "}"))
        for index, column in enumerate(columns)
    ]
    root: Node = nodes[0] if len(nodes) == 1 else And(tuple(nodes))
    return Filter(root, columns, len(nodes))


@lru_cache(maxsize=256)
def floor_filter(floor: float | None) -> Filter | None:
    """``_confidence >= floor AND _confidence <= <largest float>`` (NULL counts as 0.0) as a tree
    (one object per floor, for the same reason as :func:`bind_filter`).

    Pushed into the SQL, so untrusted rows are never counted, never fill a page and never show up as a
    count an agent could probe.
    """
    if floor is None:
        return None
    low = Compare(CONFIDENCE, ">=", Value("float", float(floor)))
    high = Compare(CONFIDENCE, "<=", Value("float", _FINITE_MAX))
    root: Node = And((low, high))
    if floor <= 0:
        root = Or((Group(root), NullTest(CONFIDENCE, negated=False)))
    return Filter(root, (CONFIDENCE,), 3 if floor <= 0 else 2)


def compose(bind: Filter | None, agent: Filter | None, floor: Filter | None = None) -> Filter | None:
    """``(<bind>) AND (<agent filter>)``, then ``AND <floor>``: one tree, built from trees."""
    return conjoin(conjoin(bind, agent), floor, group_right=False)


# --------------------------------------------------------------------------------------------------
# Writes


def persist_row(
    view: StoreView, row: Mapping[str, object], claims: Mapping[str, str], confidence: float | None
) -> dict[str, object]:
    """The row a persist writes: the agent's writable columns, the bound columns from the principal's
    claims, and ``_confidence`` from the principal (when the table has the column) — never the agent's."""
    data: dict[str, object] = {column: value for column, value in row.items() if column in view.writable}
    for column, claim in view.bound.items():
        data[column] = claims[claim]
    if confidence is not None and view.has_confidence:
        data[CONFIDENCE] = confidence
    return data
