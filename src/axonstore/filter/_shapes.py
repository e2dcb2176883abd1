"""Parses shared by expressions that differ in their literals only: the parse cache's second level.

``amount > 5 AND tier = 'gold'`` and ``amount > 7 AND tier = 'free'`` have one *shape*: the same tokens
but for their string and number literals, so the same tree with other Values in it, and the same SQL
(every literal is a parameter). Filters from requests and language models mostly arrive like that — one
shape, new literals — so a new expression of a known shape is built, not parsed:

* its key is its token list with every string and unsigned number replaced by a mark (its quote, or
  ``#``: no other token is either), found by :func:`shape_key` in two ``map`` calls over
  :func:`~._lexer.scan`'s tokens;
* the first parse of a key is only noted; the second (if the parse cache would hold it) becomes the
  shape's *template* (:func:`learn`) — most never-seen shapes are never seen again;
* a later expression with that key has each literal made what the parser makes of such a token there
  (:data:`CONVERTERS`), and nothing more (:meth:`Shape.build`): its tree — the template's nodes copied
  around those literals, its §12 nodes placed in its own text — is made when first read
  (:meth:`Shape.tree`), and its render plans come from the shape's with the new literals in their
  parameters (:meth:`Shape.plan`).

Why a copy equals the parse. The parser decides the tree from the tokens that are not literals and from
each literal's kind — its quote or digit, and the kind of Value it makes; it reads a literal's content in
three places only: the ``Value`` it becomes, an ``interval '…'`` body (inlined, not a parameter) and the
JSON of ``@>`` (checked, and a parameter). So a template is kept only when its literal tokens and its
tree's literal Values pair up one to one in source order, each Value what its converter makes of its
token; an interval's body must be the template's, token for token, and a negative number (its ``-`` is
not a mark) is part of the key. A literal that its converter refuses — a float where the template has
an integer, JSON that does not decode, an index past int4, a ``$`` in a JSON literal — sends the
expression to the parser, whose tree or error is then the answer. ``tests/filter/test_filter_shapes.py``
checks built filters against parses on generated expressions.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final, NamedTuple

from axonstore.errors import InvalidNumber
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
from axonstore.filter._lexer import scan, text, token_ends
from axonstore.filter._parser import INT4_MAX, check_json, number_literal, place_nodes
from axonstore.filter._render import Param, RenderPlan, Template, new_plan

__all__ = ["CONVERTERS", "Shape", "learn", "shape_key", "shape_size"]

#: A literal's mark in a shape key, by its first character (every other token stands as it is).
_MARKS: Final[dict[str, str]] = {"'": "'", '"': '"', **dict.fromkeys("0123456789", "#")}
_LITERAL_MARKS: Final = frozenset(_MARKS.values())
_first = itemgetter(0)
_PLANS_PER_SHAPE: Final = 64


def shape_key(tokens: list[str]) -> tuple[str, ...]:
    """``tokens`` with each string and (unsigned) number replaced by its mark: equal keys, equal shapes
    but for the literals.

    >>> from axonstore.filter._lexer import scan
    >>> shape_key(scan("a > 5 AND b = 'x'")) == shape_key(scan("a > 70 AND b = 'yz'"))
    True
    """
    return tuple(map(_MARKS.get, map(_first, tokens), tokens))


# ---- literals: what the parser makes of a token, by where it stands -----------------------------

_VALUE, _KEY, _DOCUMENT = 0, 1, 2  # where a literal stands: a value, a path step, the JSON of `@>`
Raw = str | int | float
#: What the parser makes a token into where it stands (a Value's content), or ``None``: not that.
Converter = Callable[[str], Raw | None]


def _text_literal(token: str) -> Raw | None:
    return token[1:-1] if "\\" not in token else text(token)  # the parser's fast path, and its rule


def _integer_literal(token: str) -> Raw | None:
    if len(token) < 19 and token.isdigit():  # the parser's fast path for a plain i64
        return int(token)
    return _number_of_kind(token, "integer")


def _float_literal(token: str) -> Raw | None:
    return _number_of_kind(token, "float")


def _number_of_kind(token: str, kind: str) -> Raw | None:
    """The number the parser reads from ``token`` if it is of ``kind`` (an i64, or else a float)."""
    try:
        value = number_literal(token)
    except InvalidNumber:
        return None
    return value.value if value.kind == kind else None


def _array_index(token: str) -> Raw | None:
    # as the parser's path step reads a number: ASCII digits, at most int4 (ten digits at most first)
    if token.isdigit() and len(token) <= 10 and int(token) <= INT4_MAX:
        return int(token)
    return None


def _json_document(token: str) -> Raw | None:
    document = text(token)
    if "$" in document:  # read after interpolation: such a parse depends on the bindings
        return None
    try:
        check_json(document)
    except (ValueError, RecursionError):
        return None
    return document


#: The converter of a literal, by (where it stands, the kind of Value the parser made of it).
CONVERTERS: Final[Mapping[tuple[int, str], Converter]] = {
    (_VALUE, "text"): _text_literal,
    (_VALUE, "integer"): _integer_literal,
    (_VALUE, "float"): _float_literal,
    (_KEY, "text"): _text_literal,
    (_KEY, "integer"): _array_index,
    (_DOCUMENT, "text"): _json_document,
}


# ---- one walk over a tree, to learn a template and to copy it ------------------------------------

#: Gives each literal Value of a tree (not booleans: those are words, part of the shape) its
#: replacement, told where it stands.
Swap = Callable[[Value, int], Value]
Placed = list[JsonPath | Contains | TextSearch]


def _copy(node: Node, swap: Swap, placed: Placed) -> Node:
    """``node`` copied with every literal Value swapped, left to right (source order), the copied §12
    nodes appended to ``placed`` in that order; a node that holds no Value (``IS NULL``, ``now()``) is
    shared, not copied, as are boolean Values (words: part of the shape)."""
    if type(node) is Compare:
        return Compare(node.column, node.op, _one(node.value, swap))
    if type(node) is And or type(node) is Or:
        items = []
        for item in node.items:  # a loop, not a comprehension: in 3.11 that is one call more
            items.append(_copy(item, swap, placed))
        return And(tuple(items)) if type(node) is And else Or(tuple(items))
    return _COPIERS[type(node)](node, swap, placed)


def _values(values: tuple[Value, ...], swap: Swap, where: int) -> tuple[Value, ...]:
    swapped = []
    for value in values:  # a loop, not a comprehension: in 3.11 that is one call more
        swapped.append(value if value.kind == "boolean" else swap(value, where))
    return tuple(swapped)


def _one(value: Value, swap: Swap) -> Value:
    return value if value.kind == "boolean" else swap(value, _VALUE)


def _path(path: JsonPath, swap: Swap, placed: Placed) -> JsonPath:
    copied = JsonPath(path.column, _values(path.keys, swap, _KEY), path.text, path.pos)
    placed.append(copied)
    return copied


def _shared(node: NullTest | TimeCompare, swap: Swap, placed: Placed) -> Node:
    del swap, placed
    return node


def _in_list(node: InList, swap: Swap, placed: Placed) -> Node:
    del placed
    return InList(node.column, _values(node.values, swap, _VALUE), node.negated)


def _between(node: Between, swap: Swap, placed: Placed) -> Node:
    del placed
    return Between(node.column, _one(node.low, swap), _one(node.high, swap), node.negated)


def _path_compare(node: PathCompare, swap: Swap, placed: Placed) -> Node:
    return PathCompare(_path(node.path, swap, placed), node.op, _one(node.value, swap))


def _path_null_test(node: PathNullTest, swap: Swap, placed: Placed) -> Node:
    return PathNullTest(_path(node.path, swap, placed), node.negated)


def _path_in_list(node: PathInList, swap: Swap, placed: Placed) -> Node:
    return PathInList(_path(node.path, swap, placed), _values(node.values, swap, _VALUE), node.negated)


def _contains(node: Contains, swap: Swap, placed: Placed) -> Node:
    document = None if node.document is None else swap(node.document, _DOCUMENT)
    copied = Contains(node.column, node.op, document, _values(node.values, swap, _VALUE), node.pos)
    placed.append(copied)
    return copied


def _text_search(node: TextSearch, swap: Swap, placed: Placed) -> Node:
    copied = TextSearch(node.column, swap(node.query, _VALUE), node.pos)
    placed.append(copied)
    return copied


def _not(node: Not, swap: Swap, placed: Placed) -> Node:
    return Not(_copy(node.child, swap, placed))


def _group(node: Group, swap: Swap, placed: Placed) -> Node:
    return Group(_copy(node.child, swap, placed))


#: The copy of each node kind but the commonest three, which :func:`_copy` makes itself.
_COPIERS: Final[dict[type, Callable[[Any, Swap, Placed], Node]]] = {
    NullTest: _shared,
    TimeCompare: _shared,
    InList: _in_list,
    Between: _between,
    PathCompare: _path_compare,
    PathNullTest: _path_null_test,
    PathInList: _path_in_list,
    Contains: _contains,
    TextSearch: _text_search,
    Not: _not,
    Group: _group,
}


# ---- shapes and their plans -----------------------------------------------------------------------


class _ShapePlan(NamedTuple):
    """A render plan with its literals' parameters marked: (parameter index, literal index) pairs."""

    sql: str
    constants: list[Param]  # copied for each plan made from it
    templates: tuple[Template, ...]  # those of the parameters that are not literals
    literals: tuple[tuple[int, int], ...]


class Shape:
    """A template tree and how to build the tree of another expression with the same key from it."""

    __slots__ = ("columns", "conditions", "fixed", "placed", "plans", "root", "size", "slots")

    def __init__(
        self,
        parsed: Filter,
        slots: tuple[tuple[int, Converter], ...],
        fixed: tuple[tuple[int, str], ...],
        placed: tuple[int, ...],
    ) -> None:
        self.root = parsed.root
        self.size = len(parsed.source or "")  # what the cache charges it: its tree scales with it
        self.columns = parsed.columns
        self.conditions = parsed.conditions
        self.slots = slots  # (token index, converter) of each literal, in source order
        self.fixed = fixed  # (token index, token) of each literal that must stay what it is
        self.placed = placed  # the token index of each §12 node's symbol, in source order
        self.plans: dict[object, _ShapePlan] = {}

    def build(self, expr: str, tokens: list[str]) -> Filter | None:
        """The filter of ``expr`` (``tokens`` its scan, with this shape's key), or ``None`` when one of
        its literals is not what the template's is (then the parser must answer). Its tree is built
        when first read (:meth:`tree`): a render through the shape's plan needs only the literals."""
        for index, token in self.fixed:
            if tokens[index] != token:
                return None
        literals = []
        for index, convert in self.slots:
            raw = convert(tokens[index])
            if raw is None:
                return None
            literals.append(raw)
        return Filter(None, self.columns, self.conditions, {}, expr, (self, tuple(literals)))

    def tree(self, expr: str, literals: tuple[Raw, ...]) -> Node:
        """The template's tree with ``literals`` (source order) in it, its §12 nodes placed in ``expr``."""
        fresh = iter(literals).__next__
        placed: Placed = []
        root = _copy(self.root, lambda value, _where: Value(value.kind, fresh()), placed)
        if placed:
            for node, index in zip(placed, self.placed, strict=True):
                node.pos = index
            place_nodes(expr, scan(expr), placed)  # scanned again: a filter keeps no tokens
        return root

    def plan(self, key: object, literals: tuple[Raw, ...]) -> RenderPlan | None:
        """The render plan for ``key`` with ``literals`` in it, if one was learnt for the shape."""
        shaped = self.plans.get(key)
        if shaped is None:
            return None
        constants = shaped.constants.copy()
        templates = shaped.templates
        for index, literal in shaped.literals:
            raw = literals[literal]
            constants[index] = raw
            if type(raw) is str and "$" in raw:  # as the renderer's placeholder() makes a template
                templates += ((index, interpolator(raw)),)
        return new_plan(shaped.sql, tuple(constants), templates)

    def learn_plan(self, key: object, plan: RenderPlan, sources: list[Value], tree: Node) -> None:
        """Keep ``plan`` (rendered from ``tree``, a tree of this shape; ``sources`` the Value behind
        each parameter) for every expression of the shape."""
        where = {id(value): number for number, value in enumerate(literal_values(tree))}
        marked = tuple(
            (index, where[id(source)]) for index, source in enumerate(sources) if id(source) in where
        )
        if len(marked) != len(where):  # a literal rendered twice or not at all: keep nothing
            return
        indexes = {index for index, _ in marked}
        templates = tuple(template for template in plan.templates if template[0] not in indexes)
        plans = self.plans
        if len(plans) >= _PLANS_PER_SHAPE:  # as a filter's own plans: another thread's may go too
            plans.clear()
        plans[key] = _ShapePlan(plan.sql, list(plan.constants), templates, marked)


def shape_size(shape: Shape | None) -> int:
    """What the shape cache charges for a shape: its template's expression length (1 for none)."""
    return 1 if shape is None else shape.size


def literal_values(tree: Node) -> list[Value]:
    """The literal Values of ``tree`` (not booleans), in source order: what a shape's slots fill."""
    return [value for value, _ in _literals(tree, [])]


def _literals(tree: Node, placed: Placed) -> list[tuple[Value, int]]:
    """Each literal Value of ``tree`` with where it stands, in source order (its §12 nodes, copied,
    appended to ``placed``): :func:`_copy`'s walk, recording instead of swapping."""
    found: list[tuple[Value, int]] = []

    def record(value: Value, where: int) -> Value:
        found.append((value, where))
        return value

    _copy(tree, record, placed)
    return found


def learn(parsed: Filter, tokens: list[str]) -> Shape | None:
    """``parsed`` (the parse of ``tokens``) as the template of its shape, or ``None`` when its literal
    tokens and its tree's literal Values do not pair up exactly."""
    placed: Placed = []
    found = _literals(parsed.root, placed)
    literals: list[int] = []  # the tokens that make a Value, in source order
    fixed: list[tuple[int, str]] = []  # an interval's body: inlined, so the same in every expression
    for index, token in enumerate(tokens):
        first = token[0]
        if first in "'\"" and index and tokens[index - 1].upper() == "INTERVAL":
            fixed.append((index, token))
        elif first in _MARKS or (first == "-" and token[1:2].isdigit()):  # a negative number: no mark
            literals.append(index)
    if len(literals) != len(found):
        return None
    slots = []
    for index, (value, where) in zip(literals, found, strict=True):
        convert = CONVERTERS.get((where, value.kind))
        if convert is None or Value(value.kind, convert(tokens[index])) != value:  # type: ignore[arg-type]
            return None
        slots.append((index, convert))
    shape = Shape(parsed, tuple(slots), tuple(fixed), _token_indexes(parsed.source or "", tokens, placed))
    parsed.shape = (shape, tuple(value.value for value, _ in found))  # its plans are the shape's first
    return shape


def _token_indexes(expr: str, tokens: list[str], placed: Placed) -> tuple[int, ...]:
    """The token index of each placed node's symbol, from its character position."""
    if not placed:
        return ()
    ends = token_ends(expr, tokens, 0, len(tokens) - 1)
    index_at = {end - len(token): index for index, (token, end) in enumerate(zip(tokens, ends, strict=False))}
    return tuple(index_at[node.pos] for node in placed)
