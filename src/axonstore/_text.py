"""Text helpers shared by the pure modules: Unicode ``White_Space`` (as Rust's ``char::is_whitespace``) and a
TOML nesting pre-check."""

from __future__ import annotations

import re

# The Unicode White_Space property. Python's str.isspace() differs: it also counts U+001C..U+001F.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
WHITE_SPACE_CLASS = "".join(sorted(WHITE_SPACE)).encode("unicode_escape").decode("ascii")
_WHITE_SPACE_STR = "".join(WHITE_SPACE)


def trim(text: str) -> str:
    """Strip Unicode White_Space from both ends (Rust's ``str::trim``)."""
    return text.strip(_WHITE_SPACE_STR)


def split_whitespace(text: str) -> list[str]:
    """Split on runs of Unicode White_Space, dropping empty parts (Rust's ``split_whitespace``)."""
    parts: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in WHITE_SPACE:
            if current:
                parts.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


#: How deep arrays and inline tables of a declarations file may nest. No declaration nests more than
#: a few levels, and ``tomllib`` recurses once per level (it raises ``RecursionError`` near 400).
TOML_MAX_NESTING = 64

# What changes the nesting or hides brackets from it: string openers, comments, brackets.
_TOML_SIGNIFICANT = re.compile(r"\"\"\"|'''|[\"'#\[\]{}]")
_TOML_CLOSERS = {
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.DOTALL),
    "'''": re.compile(r"(?:[^']|'(?!''))*'''", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    "#": re.compile(r"[^\n]*"),
}


def toml_too_deep(text: str, limit: int = TOML_MAX_NESTING) -> int | None:
    """The offset in ``text`` where TOML arrays / inline tables nest deeper than ``limit``, or ``None``.

    A pre-check before ``tomllib.loads`` (which recurses per level and raises ``RecursionError`` on
    input nested a few hundred deep): brackets inside strings and comments do not count; table headers
    (``[a]``, ``[[a]]``) count 1–2 while they are open. An unterminated string ends the scan (the parser
    reports it). Linear in the length of ``text``.

    >>> toml_too_deep("a = [[1], {b = [2]}]  # ]]]")
    >>> toml_too_deep("a = " + "[" * 100 + "]" * 100)
    68
    """
    depth = 0
    pos = 0
    while (match := _TOML_SIGNIFICANT.search(text, pos)) is not None:
        token = match.group()
        if token in _TOML_CLOSERS:
            closed = _TOML_CLOSERS[token].match(text, match.end())
            if closed is None:
                return None
            pos = closed.end()
            continue
        if token in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        else:
            depth = max(depth - 1, 0)
        pos = match.end()
    return None
