"""The parsed where-expression: frozen nodes, independent of bindings and column types.

String literals keep their *template* (the text before ``${…}`` interpolation), so one parse serves every
call with the same expression; the renderer (or an evaluator) interpolates per call.

Nodes are never changed after parsing (parses are shared through a cache). They are not declared
``frozen`` only because a frozen dataclass costs three times as much to build, and compiling a new
expression has a budget of a few microseconds (CONTRACT §8½).

Precedence is explicit: ``a AND b OR c`` is ``Or((And((a, b)), c))``. Rendering the tree without adding
parentheses reproduces the source order exactly, because AND binds tighter than OR in SQL too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:  # the renderer and the shapes build on these nodes: only their types come back
    from axonstore.filter._render import RenderPlan
    from axonstore.filter._shapes import Shape

ValueKind: TypeAlias = Literal["text", "integer", "float", "boolean"]

#: Comparison operators as rendered (``==`` is ``=``, ``<>`` is ``!=``).
CompareOp: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"]
LIKE_OPS: frozenset[str] = frozenset({"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})


@dataclass(slots=True)
class Value:
    """A bound literal. For ``text`` the value is the template, interpolated at render time."""

    kind: ValueKind
    value: str | int | float | bool


@dataclass(slots=True)
class Compare:
    """``column op value`` with a bound value."""

    column: str
    op: CompareOp
    value: Value


@dataclass(slots=True)
class NullTest:
    """``column IS [NOT] NULL`` (also what ``= null`` / ``!= null`` fold to)."""

    column: str
    negated: bool


@dataclass(slots=True)
class TimeCompare:
    """``column op now() [± interval 'amount unit']``, rendered inline with no parameter."""

    column: str
    op: CompareOp
    sign: str | None  # "+", "-" or None for bare now()
    amount: int = 0
    unit: str = ""  # lower-case singular


@dataclass(slots=True)
class InList:
    """``column [NOT] IN (v1, v2, …)``."""

    column: str
    values: tuple[Value, ...]
    negated: bool


@dataclass(slots=True)
class Between:
    """``column [NOT] BETWEEN low AND high``."""

    column: str
    low: Value
    high: Value
    negated: bool


@dataclass(slots=True)
class JsonPath:
    """``column->'k'->…`` (CONTRACT §12): at most 8 steps, each key a parameter.

    ``keys`` are text templates (object keys, interpolated like any string) or integers (array indexes);
    ``text`` is true when the last step is ``->>`` (the path yields text, not json). ``pos`` is where the
    first arrow stands, for an error about the column's type.
    """

    column: str
    keys: tuple[Value, ...]
    text: bool
    pos: int = 0


@dataclass(slots=True)
class PathCompare:
    """``path op value``; a number (boolean) on the right compares ``(path)::numeric`` (``::boolean``)."""

    path: JsonPath
    op: CompareOp
    value: Value


@dataclass(slots=True)
class PathNullTest:
    """``path IS [NOT] NULL``."""

    path: JsonPath
    negated: bool


@dataclass(slots=True)
class PathInList:
    """``path [NOT] IN (v1, v2, …)`` (a ``->>`` path)."""

    path: JsonPath
    values: tuple[Value, ...]
    negated: bool


ContainOp: TypeAlias = Literal["@>", "<@", "&&"]


@dataclass(slots=True)
class Contains:
    """``column @> 'json'`` (``document`` set, jsonb containment) or ``column @>|<@|&& (list)``
    (``values`` set, array containment / overlap). ``pos`` is the operator's position."""

    column: str
    op: ContainOp
    document: Value | None
    values: tuple[Value, ...]
    pos: int = 0


@dataclass(slots=True)
class TextSearch:
    """``column @@ 'websearch terms'``: full-text search with the store's text-search configuration."""

    column: str
    query: Value
    pos: int = 0


@dataclass(slots=True)
class Not:
    """``NOT x``."""

    child: Node


@dataclass(slots=True)
class Group:
    """A parenthesised sub-expression, kept so that it renders where it stood."""

    child: Node


@dataclass(slots=True)
class And:
    """Items joined by AND."""

    items: tuple[Node, ...]


@dataclass(slots=True)
class Or:
    """Items joined by OR."""

    items: tuple[Node, ...]


Condition: TypeAlias = (
    Compare
    | NullTest
    | TimeCompare
    | InList
    | Between
    | PathCompare
    | PathNullTest
    | PathInList
    | Contains
    | TextSearch
)
Node: TypeAlias = Condition | Not | Group | And | Or


class Filter:
    """A parsed, non-empty where-expression.

    ``columns`` lists every column it names (first occurrence order), so callers can check them against
    a table before any SQL runs. ``plans`` caches render plans by (offset, column types, text-search
    configuration). ``source`` is the expression it was parsed from (``None`` for a composed filter), so
    that an error found while rendering can carry its place. ``shape`` is the shape it was built from and
    its literals, in source order (:mod:`._shapes`; ``None`` for a filter parsed or composed): such a
    filter shares its render plans with the expressions that differ from it in their literals only, and
    its ``root`` is only built when something reads it (rendering through a shared plan does not).

    Compared by identity, as parses are shared through a cache.
    """

    __slots__ = ("_root", "columns", "conditions", "plans", "shape", "source")

    def __init__(
        self,
        root: Node | None,
        columns: tuple[str, ...],
        conditions: int,
        plans: dict[object, RenderPlan] | None = None,
        source: str | None = None,
        shape: tuple[Shape, tuple[str | int | float, ...]] | None = None,
    ) -> None:
        if root is None and (shape is None or source is None):
            raise TypeError("a Filter needs its root, or the shape and source to build it from")
        self._root = root
        self.columns = columns
        self.conditions = conditions
        self.plans: dict[object, RenderPlan] = {} if plans is None else plans
        self.source = source
        self.shape = shape

    @property
    def root(self) -> Node:
        """The tree (built from the shape on first use, for a filter that has one)."""
        root = self._root
        if root is None:
            shape, literals = self.shape  # type: ignore[misc]  # __init__: no root without a shape
            root = self._root = shape.tree(self.source, literals)  # type: ignore[arg-type]
        return root

    def __repr__(self) -> str:
        return f"Filter(root={self.root!r}, columns={self.columns!r}, conditions={self.conditions!r})"
