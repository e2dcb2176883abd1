"""Stage 1: the where-expression as a list of tokens (ANCHOR §3.2, plus `,` for IN lists).

The whole input is tokenised before anything is parsed, so a character outside the alphabet is reported
wherever it stands. One compiled regular expression drives the scan (each match is optional whitespace
plus one token); where it does not match, the first non-blank character is the error: an opening quote
with no close, or a character outside the alphabet. The list always ends with an ``EOF`` token, so the
parser never bounds-checks.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from axonstore._text import WHITE_SPACE, WHITE_SPACE_CLASS
from axonstore.errors import UnexpectedChar, UnterminatedString

EOF: Final = 0
WORD: Final = 1
STRING: Final = 2
NUMBER: Final = 3
SYMBOL: Final = 4  # = == != <> < <= > >= ( ) + - , and (CONTRACT §12) -> ->> @> <@ && @@


class Token(NamedTuple):
    """One token.

    ``text`` is a string's unescaped content (before interpolation), else the source text; ``key`` is
    what keywords are matched against (upper-cased words, symbols as written, ``""`` otherwise).
    """

    kind: int
    text: str
    pos: int
    key: str


# Alternatives in the reference's order of rules. `-` is a symbol only when no digit follows, so `-5`
# is one number token; `!`, `@` and `&` alone match nothing and become an UnexpectedChar. The longer
# symbols come first (`->>` before `->`, `<@` before `<`). ASCII only: no Unicode case folding anywhere.
_TOKEN: Final = re.compile(
    rf"""[{WHITE_SPACE_CLASS}]*+(?:
      '((?:[^'\\]|\\.)*+)'
    | "((?:[^"\\]|\\.)*+)"
    | (->>|->|@>|<@|&&|@@|==|!=|<=|>=|<>|[=<>()+,]|-(?![0-9]))
    | (-?[0-9][0-9.]*+)
    | ([A-Za-z_][A-Za-z0-9_]*+)
    )""",
    re.VERBOSE | re.DOTALL | re.ASCII,
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_new = tuple.__new__  # builds a Token without NamedTuple's Python-level __new__ (the lexer's hot path)


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens; raise ``UnexpectedChar`` / ``UnterminatedString`` at the first bad spot.

    >>> [t.text for t in tokenize("a >= 'x'")]
    ['a', '>=', 'x', '']
    """
    tokens: list[Token] = []
    append = tokens.append
    match = _TOKEN.match
    pos = 0
    end = len(expr)
    # Anchored matches, stopping at the first failure: a forward search from a failure point could
    # rescan the same run of text from every position (quadratic on hostile input).
    while pos < end:
        m = match(expr, pos)
        if m is None:
            _raise_gap(expr, pos)
            break
        pos = m.end()
        group = m.lastindex
        text = m.group(group)  # type: ignore[arg-type]  # every alternative has a group
        if group == 5:
            append(_new(Token, (WORD, text, m.start(5), text.upper())))
        elif group == 3:
            append(_new(Token, (SYMBOL, text, m.start(3), text)))
        elif group == 4:
            append(_new(Token, (NUMBER, text, m.start(4), "")))
        else:
            if "\\" in text:
                text = _ESCAPE.sub(r"\1", text)
            append(_new(Token, (STRING, text, m.start(group) - 1, "")))  # type: ignore[arg-type]
    append(_new(Token, (EOF, "", end, "")))
    return tokens


def _raise_gap(expr: str, pos: int) -> None:
    """Raise the error for the first character at or after ``pos`` that is not whitespace.

    Returns quietly when only whitespace is left (the expression simply ends there).
    """
    while pos < len(expr) and expr[pos] in WHITE_SPACE:
        pos += 1
    if pos == len(expr):
        return  # only trailing whitespace
    ch = expr[pos]
    if ch in "'\"":
        raise UnterminatedString(pos)
    raise UnexpectedChar(ch, pos)
