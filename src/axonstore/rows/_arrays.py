"""PostgreSQL's array text output as nested lists: ``parse_array`` (public through :mod:`axonstore.rows`).

Quoting, backslash escapes, ``NULL``, nesting, a bounds prefix and any one-character delimiter, with
each element through a converter from :mod:`axonstore.rows._values`. Separate because the array grammar
is its own small parser, used both by the built-in array loader and by ``TypeRegistry``'s row factory.
"""

from __future__ import annotations

import binascii
import re
from functools import lru_cache

from axonstore.rows._values import JSON, Convert, _identity

# --------------------------------------------------------------------------------------------------
# Arrays


@lru_cache(maxsize=16)
def _array_token(delimiter: str) -> re.Pattern[str]:
    return re.compile(r'"((?:[^"\\]|\\.)*)"|(\{)|(\})|([^{}"' + re.escape(delimiter) + r"]+)", re.S)


_UNESCAPE = re.compile(r"\\(.)", re.S)


def parse_array(text: str, delimiter: str = ",", convert: Convert = _identity) -> list[JSON]:
    """Parse PostgreSQL's array text output into (nested) lists, each element through ``convert``.

    Handles quoting, backslash escapes, ``NULL`` (unquoted; ``"NULL"`` is a string), nesting, a
    ``[2:3]=`` bounds prefix (dropped) and any one-character ``delimiter``. Raises ``ValueError`` on
    text that is not an array literal.
    """
    if text[:1] == "[":
        text = text[text.index("=") + 1 :]
    if '"' not in text and text.rfind("{") == 0:  # one dimension, nothing quoted: split
        if text.find("}") != len(text) - 1:
            raise ValueError("not an array literal")
        body = text[1:-1]
        return [None if item == "NULL" else convert(item) for item in body.split(delimiter)] if body else []
    return _parse_nested(text, delimiter, convert)


def _parse_nested(text: str, delimiter: str, convert: Convert) -> list[JSON]:
    stack: list[list[JSON]] = []
    result: list[JSON] | None = None
    for match in _array_token(delimiter).finditer(text):
        kind = match.lastindex
        if kind == 2:
            child: list[JSON] = []
            if stack:
                stack[-1].append(child)
            stack.append(child)
        elif kind == 3:
            result = stack.pop()
        elif kind == 1:
            item = match.group(1)
            stack[-1].append(convert(_UNESCAPE.sub(r"\1", item) if "\\" in item else item))
        else:
            item = match.group(4)
            stack[-1].append(None if item == "NULL" else convert(item))
    if result is None or stack:
        raise ValueError("not an array literal")
    return result


def _array_decoder(delimiter: str, convert: Convert) -> Convert:
    def decode(text: str) -> JSON:
        try:
            return parse_array(text, delimiter, convert)
        except (ValueError, IndexError, KeyError, binascii.Error):  # never fail a retrieve
            return text

    return decode
