"""Stage 3: a parsed :class:`Filter` → SQL text with ``$n`` placeholders, as a reusable plan.

A plan depends on the parameter offset and the types of the columns the filter names, never on the
bindings: the SQL text is fixed, and each parameter is either a constant or a string template that
:meth:`RenderPlan.params` interpolates per call. Unknown node types are refused, not guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from axonstore.errors import OperatorNotForType, TooManyParameters
from axonstore.filter._ast import (
    And,
    Between,
    Compare,
    Contains,
    Filter,
    Group,
    InList,
    JsonPath,
    Node,
    Not,
    NullTest,
    Or,
    PathCompare,
    PathInList,
    PathNullTest,
    TextSearch,
    TimeCompare,
    Value,
)
from axonstore.filter._interpolate import interpolator
from axonstore.filter._parser import at
from axonstore.filter._types import array_element, takes_operator
from axonstore.idents import type_cast

MAX_PARAMETERS: Final = 65_535  # PostgreSQL's limit on bind parameters per statement

Param = str | int | float | bool
Template = tuple[int, Callable[[Mapping[str, object] | None], str]]


@dataclass(frozen=True, slots=True)
class RenderPlan:
    """The clause, the constant parameters, and which of them are templates to interpolate per call."""

    sql: str
    constants: tuple[Param, ...]
    templates: tuple[Template, ...]

    def params(self, bindings: Mapping[str, object] | None) -> list[Param]:
        """The parameter list for one call."""
        values = list(self.constants)
        for index, resolve in self.templates:
            values[index] = resolve(bindings)
        return values


def check_parameter_count(param_offset: int, count: int) -> None:
    """``TooManyParameters`` when a statement would bind more than PostgreSQL accepts."""
    if count and param_offset + count > MAX_PARAMETERS:
        raise TooManyParameters(MAX_PARAMETERS)


def render(
    parsed: Filter,
    param_offset: int,
    column_types: Mapping[str, str] | None,
    text_search: str = "simple",
) -> RenderPlan:
    """Render ``parsed`` with placeholders numbered from ``param_offset + 1``.

    ``text_search`` is the text-search configuration of ``@@`` conditions, bound as a ``regconfig``
    parameter (never SQL text). ``OperatorNotForType`` when a known column type cannot take an operator.
    """
    return render_traced(parsed, param_offset, column_types, text_search)[0]


def render_traced(
    parsed: Filter,
    param_offset: int,
    column_types: Mapping[str, str] | None,
    text_search: str = "simple",
) -> tuple[RenderPlan, list[Value]]:
    """:func:`render`, and the :class:`Value` each parameter was made from (by index), so that a plan
    can be re-filled with another filter's literals where the two differ in nothing else."""
    renderer = _Renderer(param_offset, column_types, text_search)
    root = parsed.root
    try:
        sql = _DISPATCH.get(type(root), _Renderer.node)(renderer, root)  # node(), one call less
    except OperatorNotForType as error:
        error.expr = parsed.source
        raise
    values = renderer.values
    if values and param_offset + len(values) > MAX_PARAMETERS:  # check_parameter_count, inline
        raise TooManyParameters(MAX_PARAMETERS)
    return new_plan(sql, tuple(values), tuple(renderer.templates)), renderer.sources


_new = object.__new__
_set_sql = vars(RenderPlan)["sql"].__set__  # the slots' member descriptors
_set_constants = vars(RenderPlan)["constants"].__set__
_set_templates = vars(RenderPlan)["templates"].__set__


def new_plan(sql: str, constants: tuple[Param, ...], templates: tuple[Template, ...]) -> RenderPlan:
    """``RenderPlan(sql, constants, templates)`` at a third less: a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``, its slots' descriptors set them directly."""
    plan: RenderPlan = _new(RenderPlan)
    _set_sql(plan, sql)
    _set_constants(plan, constants)
    _set_templates(plan, templates)
    return plan


# `$1` … `$1023` made once: a placeholder is then an index, not an int formatted into a string.
_DOLLARS_KEPT: Final = 1024
_DOLLARS: Final = tuple(f"${number}" for number in range(_DOLLARS_KEPT))


class _Renderer:
    __slots__ = ("offset", "sources", "templates", "text_search", "types", "values")

    def __init__(self, offset: int, column_types: Mapping[str, str] | None, text_search: str) -> None:
        self.offset = offset
        self.types = column_types
        self.text_search = text_search
        self.values: list[Param] = []
        self.sources: list[Value] = []  # the Value behind each parameter, by index
        self.templates: list[Template] = []

    def known(self, column: str, op: str, pos: int, *, document: bool = False) -> str | None:
        """The column's known type (``None`` if unknown); ``OperatorNotForType`` if it cannot take ``op``."""
        pg_type = self.types.get(column) if self.types else None
        if not isinstance(pg_type, str) or not pg_type:
            return None
        if takes_operator(op, pg_type, document):  # cached: no error object built to say yes
            return pg_type
        raise at(OperatorNotForType(column, op, pg_type), pos)

    def placeholder(self, value: Value, cast: str) -> str:
        """``$n`` (with ``cast``) for one more parameter; a text value holding ``$`` is a template."""
        values = self.values
        raw = value.value
        if value.kind == "text" and "$" in raw:  # type: ignore[operator]  # text values are str
            self.templates.append((len(values), interpolator(raw)))  # type: ignore[arg-type]
        values.append(raw)
        self.sources.append(value)
        number = self.offset + len(values)
        try:  # free in 3.11 unless it raises: cheaper than a bounds test on every placeholder
            return _DOLLARS[number] + cast
        except IndexError:
            return f"${number}{cast}"

    def placeholders(self, values: tuple[Value, ...], cast: str) -> list[str]:
        """:meth:`placeholder` for each of ``values``, in one call (lists, paths)."""
        placeholder = self.placeholder
        dollars = []
        for value in values:  # a loop, not a comprehension: in 3.11 that is a function built and called
            dollars.append(placeholder(value, cast))
        return dollars

    def node(self, node: Node) -> str:
        method = _DISPATCH.get(type(node))
        if method is None:
            raise TypeError(f"cannot render filter node {node!r}")
        return method(self, node)

    def both(self, node: And | Or) -> str:
        dispatch, refuse = _DISPATCH, _Renderer.node
        parts = []
        for item in node.items:  # a loop, not a comprehension: in 3.11 that is one call more
            parts.append(dispatch.get(type(item), refuse)(self, item))
        return (" AND " if type(node) is And else " OR ").join(parts)

    def null_test(self, node: NullTest) -> str:
        return f'"{node.column}" IS NOT NULL' if node.negated else f'"{node.column}" IS NULL'

    def group(self, node: Group) -> str:
        child = node.child
        return f"({_DISPATCH.get(type(child), _Renderer.node)(self, child)})"

    def negation(self, node: Not) -> str:
        child = node.child
        inner = _DISPATCH.get(type(child), _Renderer.node)(self, child)
        return f"NOT {inner}" if type(child) is Group else f"NOT ({inner})"

    def compare(self, node: Compare) -> str:
        column, op = node.column, node.op
        cast = type_cast(self.types, column) if self.types else ""
        placeholder = self.placeholder(node.value, cast)
        if cast:
            return f'"{column}" {op} {placeholder}'
        # Unknown type: equality compares as text (works for any column type); ordering and LIKE stay
        # bare so that a type mismatch fails loudly instead of comparing lexicographically.
        if op == "=" or op == "!=":  # noqa: PLR1714 - two compares beat building a set here
            return f'"{column}"::text {op} {placeholder}'
        return f'"{column}" {op} {placeholder}'

    def in_list(self, node: InList) -> str:
        cast = type_cast(self.types, node.column) if self.types else ""
        column = f'"{node.column}"' if cast else f'"{node.column}"::text'
        listed = ", ".join(self.placeholders(node.values, cast))
        return f"{column} {'NOT IN' if node.negated else 'IN'} ({listed})"

    def between(self, node: Between) -> str:
        cast = type_cast(self.types, node.column) if self.types else ""
        low = self.placeholder(node.low, cast)
        high = self.placeholder(node.high, cast)
        keyword = "NOT BETWEEN" if node.negated else "BETWEEN"
        return f'"{node.column}" {keyword} {low} AND {high}'

    def time(self, node: TimeCompare) -> str:
        return _time(node)

    # ---- CONTRACT §12

    def path(self, path: JsonPath) -> str:
        """``"col"->$1->>$2``: every key a parameter (text, or an integer index)."""
        column, keys = path.column, path.keys
        self.known(column, "->>" if path.text and len(keys) == 1 else "->", path.pos)
        arrow = "->>" if path.text else "->"
        dollars = self.placeholders(keys, "")
        if len(dollars) == 1:  # the commonest path, one step: no list to join
            return f'"{column}"{arrow}{dollars[0]}'
        return f'"{column}"->{"->".join(dollars[:-1])}{arrow}{dollars[-1]}'

    def path_compare(self, node: PathCompare) -> str:
        path = self.path(node.path)
        return f"{_typed_path(path, node.value.kind)} {node.op} {self.placeholder(node.value, '')}"

    def path_null_test(self, node: PathNullTest) -> str:
        return f"{self.path(node.path)} IS {'NOT NULL' if node.negated else 'NULL'}"

    def path_in_list(self, node: PathInList) -> str:
        path = _typed_path(self.path(node.path), node.values[0].kind)
        listed = ", ".join(self.placeholders(node.values, ""))
        return f"{path} {'NOT IN' if node.negated else 'IN'} ({listed})"

    def contains(self, node: Contains) -> str:
        column = f'"{node.column}"'
        if node.document is not None:  # `@>` with a JSON literal: jsonb containment
            pg_type = self.known(node.column, "@>", node.pos, document=True)
            if pg_type == "json":  # json has no @>: compare as jsonb
                column += "::jsonb"
            return f"{column} @> {self.placeholder(node.document, '::jsonb')}"
        pg_type = self.known(node.column, node.op, node.pos)
        cast = array_element(pg_type) if pg_type else ""
        listed = ", ".join(self.placeholders(node.values, cast))
        return f"{column} {node.op} ARRAY[{listed}]"

    def text_search_node(self, node: TextSearch) -> str:
        pg_type = self.known(node.column, "@@", node.pos)
        config = self.placeholder(_text(self.text_search), "::regconfig")
        query = self.placeholder(node.query, "")
        searched = f'"{node.column}"' if pg_type == "tsvector" else f'to_tsvector({config}, "{node.column}")'
        return f"{searched} @@ websearch_to_tsquery({config}, {query})"


# One method per node kind: a dictionary lookup instead of a chain of isinstance tests.
_DISPATCH: Final[dict[type, Callable[[_Renderer, Any], str]]] = {
    Compare: _Renderer.compare,
    And: _Renderer.both,
    Or: _Renderer.both,
    NullTest: _Renderer.null_test,
    Group: _Renderer.group,
    Not: _Renderer.negation,
    InList: _Renderer.in_list,
    Between: _Renderer.between,
    TimeCompare: _Renderer.time,
    PathCompare: _Renderer.path_compare,
    PathNullTest: _Renderer.path_null_test,
    PathInList: _Renderer.path_in_list,
    Contains: _Renderer.contains,
    TextSearch: _Renderer.text_search_node,
}


@lru_cache(maxsize=64)  # the text-search configurations in use: one Value each, not one per render
def _text(configuration: str) -> Value:
    return Value("text", configuration)


#: ``->>`` yields text: a number on the right compares it as numeric, a boolean as boolean.
_PATH_CASTS: Final = {"integer": "::numeric", "float": "::numeric", "boolean": "::boolean"}


def _typed_path(path: str, kind: str) -> str:
    """The text of ``path`` cast for comparing it with a value of ``kind``."""
    cast = _PATH_CASTS.get(kind)
    return f"({path}){cast}" if cast else path


def _time(node: TimeCompare) -> str:
    if node.sign is None:
        return f'"{node.column}" {node.op} now()'
    return f"\"{node.column}\" {node.op} now() {node.sign} interval '{node.amount} {node.unit}'"
