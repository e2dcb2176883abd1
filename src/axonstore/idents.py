"""Identifiers: the one validation rule, the one quoting path, and type casts built from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from axonstore.errors import InvalidIdentifier

_SAFE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def is_safe_identifier(name: str) -> bool:
    """True iff ``name`` is 1–63 bytes of ASCII letters, digits and ``_``, not starting with a digit.

    >>> is_safe_identifier("user_id"), is_safe_identifier("public.users"), is_safe_identifier("naïve")
    (True, False, False)
    """
    return _SAFE.fullmatch(name) is not None


def shown(value: object) -> str:
    """How a value that is not text is named in an error: by its type (its ``str`` may fail, or hold
    what should not be echoed)."""
    return f"<a {type(value).__name__}, not a str>"


def quote_ident(name: str) -> str:
    """Double-quote a name already known to be safe (safe names contain no quote to escape)."""
    return f'"{name}"'


def checked_ident(kind: str, name: str) -> str:
    """Validate then quote; ``InvalidIdentifier(kind, name)`` for an unsafe name."""
    if type(name) is not str:
        raise InvalidIdentifier(kind, shown(name))
    return _checked(kind, name)


@lru_cache(maxsize=8192)  # every column of every write passes here: answer from memory
def _checked(kind: str, name: str) -> str:
    if _SAFE.fullmatch(name) is None:
        raise InvalidIdentifier(kind, name)
    return f'"{name}"'


def qualified_relation(table: str, schema: str | None) -> str:
    """``"schema"."table"`` when the schema is safe, else ``"table"``; ``InvalidIdentifier`` for the table."""
    if type(table) is not str:
        raise InvalidIdentifier("table", shown(table))
    return _qualified(table, schema)


@lru_cache(maxsize=4096)  # on every statement; the answer depends on the two names only
def _qualified(table: str, schema: str | None) -> str:
    quoted = checked_ident("table", table)
    if schema and _SAFE.fullmatch(schema):
        return f'"{schema}".{quoted}'
    return quoted


def type_cast(column_types: Mapping[str, str] | None, column: str) -> str:
    """``::udt`` for a known, safe type name; ``::"schema"."type"`` for a schema-qualified one (D12); ``""``
    when the type is unknown or unsafe."""
    if not column_types:
        return ""
    udt = column_types.get(column)
    if not udt or not isinstance(udt, str):
        return ""
    return _cast_for(udt)


@lru_cache(maxsize=4096)
def _cast_for(udt: str) -> str:
    if _SAFE.fullmatch(udt):
        return f"::{udt}"
    schema, dot, name = udt.partition(".")
    if dot and _SAFE.fullmatch(schema) and _SAFE.fullmatch(name):
        return f'::"{schema}"."{name}"'
    return ""
