"""Shapes: an expression with its literal values blanked out.

Expressions that differ only in their literal values (``amount > 100`` / ``amount > 250``, a filter
written by a program or a model with the values inline) have the same shape, hence the same parse and
the same SQL text: only the parameters differ. Compiling a never-seen expression whose shape is known
costs one regex pass over the text instead of a parse and a render.

The segmentation is the lexer's: quoted strings (with backslash escapes) and numbers (``-?[0-9][0-9.]*``)
are the literals; words are kept whole, so a digit inside a word is never taken for a number. A string
becomes ``''`` and a number ``-0`` in the shape; every other character stays as it is, so two
expressions with the same shape have the same tokens apart from the literals' contents. (A number
becomes ``-0``, not ``0``: after a lone ``-`` symbol, ``--5`` is the symbol and the number ``-5``, while
``-0`` would lex as one number — the shape must lex exactly as the expression does.) The literals come back in
source order, which is the order of the parameters (a literal only ever stands where a value does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from axonstore.filter._interpolate import interpolate
from axonstore.filter._parser import _number

_SEGMENT: Final = re.compile(
    r"""('(?:[^'\\]|\\.)*+'|"(?:[^"\\]|\\.)*+")"""  # 1: a string literal
    r"""|(-?[0-9][0-9.]*+)"""  # 2: a number
    r"""|([A-Za-z_][A-Za-z0-9_]*+|[^'"A-Za-z_0-9-]++|-)"""  # 3: words, runs of anything else
    r"""|(['"])""",  # 4: a quote that opens no complete string
    re.DOTALL,
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)


def shape_of(expr: str) -> tuple[str, list[str]] | None:
    """The expression with each string literal as ``''`` and each number as ``-0``, and the literals.

    ``None`` for an expression with a quote that opens no complete string: it does not lex, and its
    shape could (a backslash before a placeholder's quote would escape it), so it has no shape.

    >>> shape_of("a = 'x' AND b > -2.5 AND c1 IN ('y', 3)")
    ("a = '' AND b > -0 AND c1 IN ('', -0)", ["'x'", '-2.5', "'y'", '3'])
    """
    pieces: list[str] = []
    literals: list[str] = []
    for quoted, number, other, lone in _SEGMENT.findall(expr):
        if other:
            pieces.append(other)
        elif lone:
            return None
        elif quoted:
            pieces.append("''")
            literals.append(quoted)
        else:
            pieces.append("-0")
            literals.append(number)
    return "".join(pieces), literals


def literal_value(raw: str, bindings: Mapping[str, object] | None) -> str | int | float:
    """A literal's parameter value, exactly as the parser and renderer would make it.

    Raises ``InvalidNumber`` for a number that is neither an i64 nor a finite f64.
    """
    if raw[0] == "'" or raw[0] == '"':
        text = raw[1:-1]
        if "\\" in text:
            text = _ESCAPE.sub(r"\1", text)
        return interpolate(text, bindings) if "$" in text else text
    value = _number(raw).value
    assert not isinstance(value, bool)
    return value
