"""Which known column types take the operators of CONTRACT §12 (pure; used by both backends).

A type is refused only when it is a built-in type (or an array of one) that PostgreSQL would refuse:
a user-defined type — a domain over jsonb, an enum array, ``schema.type`` — may well take the operator,
so it is left to the server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from axonstore.errors import OperatorNotForType
from axonstore.idents import type_cast
from axonstore.pgtypes import BUILTIN_TYPES

__all__ = [
    "JSON_TYPES",
    "SEARCHABLE_TYPES",
    "array_element",
    "is_array_type",
    "operator_type_error",
    "takes_operator",
]

JSON_TYPES: Final = frozenset({"json", "jsonb"})
#: What ``@@`` searches: text (through ``to_tsvector``) or a tsvector itself.
SEARCHABLE_TYPES: Final = frozenset({"text", "varchar", "bpchar", "name", "tsvector"})


def is_array_type(pg_type: str) -> bool:
    """``_int4``, ``schema._mytype``: PostgreSQL names an array type after its element, with a ``_``."""
    return pg_type.rpartition(".")[2].startswith("_")


def _builtin(pg_type: str) -> bool:
    """A built-in type or an array of one (a user type may take any operator: the server decides)."""
    return pg_type in BUILTIN_TYPES or (pg_type.startswith("_") and pg_type[1:] in BUILTIN_TYPES)


def operator_type_error(
    column: str, op: str, pg_type: str, *, document: bool = False
) -> OperatorNotForType | None:
    """The error for ``op`` on a column of known type ``pg_type``, or ``None`` when the type takes it.

    ``op`` is ``->``, ``->>``, ``@>``, ``<@``, ``&&`` or ``@@``; ``document`` says that ``@>`` has a JSON
    literal on its right (jsonb containment) rather than a list (array containment).
    """
    return None if takes_operator(op, pg_type, document) else OperatorNotForType(column, op, pg_type)


@lru_cache(maxsize=1024)  # asked once per §12 node rendered, of a handful of (operator, type) pairs
def takes_operator(op: str, pg_type: str, document: bool = False) -> bool:
    """Can a column of known type ``pg_type`` take ``op``? (:func:`operator_type_error` without the
    error: ``False`` exactly when that returns one.)"""
    if not _builtin(pg_type):
        return True
    if op in ("->", "->>") or document:
        return pg_type in JSON_TYPES
    if op == "@@":
        return pg_type in SEARCHABLE_TYPES
    return is_array_type(pg_type)


@lru_cache(maxsize=1024)  # asked once per array containment rendered, of a handful of types
def array_element(pg_type: str) -> str:
    """The cast for one element of an array column (``_int4`` → ``::int4``); ``""`` when not an array."""
    schema, dot, name = pg_type.rpartition(".")
    if not name.startswith("_"):
        return ""
    element = f"{schema}{dot}{name[1:]}"
    return type_cast({"element": element}, "element")
