"""Text helpers shared by the pure modules: Unicode ``White_Space`` (as Rust's ``char::is_whitespace``)."""

from __future__ import annotations

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
