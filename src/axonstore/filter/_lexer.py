"""Stage 1: the where-expression as tokens (ANCHOR §3.2, plus `,` for IN lists and the §12 symbols).

The token grammar is stated once, in ``_TOKEN``; :func:`scan` runs it with one ``findall`` call, so the
whole input is tokenised, in C, before anything is parsed. A token is its source text (a string with its
quotes), so the parser reads plain ``str`` and its kind from the first character (:func:`kind`); no
object is built per token. Where a character outside the alphabet (or a quote that never closes)
stands, the last alternative swallows the rest of the input and yields ``""``: the scan stops there, as
the reference's does, and the error is raised with its position. Positions are only needed for errors
and for the three §12 nodes that carry one, so :func:`place` and :func:`symbol_place` find them on
demand.
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

#: Closes every token list: no token holds a NUL, so the parser needs no bounds checks.
END: Final = "\0"

# One alternative per token kind; their first characters are disjoint, so their order only serves
# speed (words first). `-` is a number's sign when a digit follows (`-5` is one token), else the
# symbol (or `->`, `->>`). `!`, `@` and `&` alone match nothing: an UnexpectedChar. Strings are
# unrolled and every repetition possessive: no backtracking, linear in the input. ASCII only: no
# Unicode case folding anywhere. Group 1 is the token; the last alternative (outside it) is the error.
_TOKEN: Final = re.compile(
    rf"""[{WHITE_SPACE_CLASS}]*+(?:(
      [A-Za-z_]\w*+
    | '[^'\\]*+(?:\\.[^'\\]*+)*+'
    | <[=>@]? | >=? | ==? | [()+,] | -?[0-9][0-9.]*+ | ->>? | -
    | "[^"\\]*+(?:\\.[^"\\]*+)*+"
    | @> | && | @@ | !=
    )|[^{WHITE_SPACE_CLASS}].*)""",
    re.VERBOSE | re.DOTALL | re.ASCII,
)
_WHITE_SPACE: Final = "".join(sorted(WHITE_SPACE))
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
#: A token's kind by its first character (absent: a symbol, or a number when `-` starts it: see kind()).
KINDS: Final[dict[str, int]] = {
    END: EOF,
    "'": STRING,
    '"': STRING,
    **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", WORD),
    **dict.fromkeys("0123456789", NUMBER),
}


def scan(expr: str) -> list[str]:
    """The tokens of ``expr`` as source text, closed by :data:`END`; the lexer's error at the first bad
    spot (``UnexpectedChar``, ``UnterminatedString``) wherever it stands.

    >>> scan("a >= 'x'")
    ['a', '>=', "'x'", '\\x00']
    """
    # Trailing blanks stripped first: then every scan position starts a token or the error.
    tokens: list[str] = _TOKEN.findall(expr.rstrip(_WHITE_SPACE))
    if tokens and not tokens[-1]:
        _raise_error(expr)
    tokens.append(END)
    return tokens


def kind(token: str) -> int:
    """The kind of a token from :func:`scan` (``EOF`` for :data:`END`)."""
    found = KINDS.get(token[0], SYMBOL)
    if token[0] == "-" and len(token) > 1 and token[1] != ">":
        return NUMBER  # `-5`; `->`, `->>` and `-` are symbols
    return found


def text(token: str) -> str:
    """What a token stands for: a string's unescaped content (before interpolation), else its text."""
    if token[0] in "'\"":
        body = token[1:-1]
        return _ESCAPE.sub(r"\1", body) if "\\" in body else body
    return "" if token == END else token


def token_ends(expr: str, tokens: list[str], first: int, stop: int, start: int = 0) -> list[int]:
    """Where ``tokens[first:stop]`` of ``scan(expr)`` end (character indexes; not ``END``), the first
    of them standing at or after ``start`` (the end of the token before it, or 0).

    Only blanks separate two tokens and no token starts with a blank, so each token is the first
    occurrence of its text after the end of the one before: a ``str.find`` per token, no second scan.
    """
    find = expr.find
    end = start
    return [(end := find(token, end) + len(token)) for token in tokens[first:stop]]


def symbol_place(expr: str, tokens: list[str], index: int, first: int, start: int) -> int:
    """The character index of the symbol ``tokens[index]``, the tokens from ``first`` on standing at
    or after ``start`` (the end of token ``first - 1``, or 0).

    A symbol holds no blank, so it is one ``str.find`` from ``start``, whatever the tokens between —
    unless its text also stands among them (inside a string; an earlier ``->`` for a ``->``). Joined
    without their blanks, those tokens show every place the text could stand before its own; only
    then is each token between found in turn (:func:`token_ends`). A §12 node needs its position,
    and a find per token cost a JSON-path expression a tenth of its compile.
    """
    symbol = tokens[index]
    run = "".join(tokens[first : index + 1])
    if run.find(symbol) == len(run) - len(symbol):
        return expr.find(symbol, start)
    return token_ends(expr, tokens, first, index + 1, start)[-1] - len(symbol)


def place(expr: str, tokens: list[str], index: int) -> int:
    """The character index of ``tokens[index]`` (``scan(expr)``'s tokens; ``END`` stands at the end of
    ``expr``): positions are only needed for errors, so they are found when one is raised."""
    if tokens[index] is END:
        return len(expr)
    return token_ends(expr, tokens, 0, index + 1)[index] - len(tokens[index])


class Token(NamedTuple):
    """One token, spelled out (for tests and diagnostics; the parser reads :func:`scan`'s strings).

    ``text`` is a string's unescaped content (before interpolation), else the source text; ``key`` is
    what keywords are matched against (upper-cased words, symbols as written, ``""`` otherwise).
    """

    kind: int
    text: str
    pos: int
    key: str


def tokenize(expr: str) -> list[Token]:
    """:func:`scan` with every token's kind, text, position and key, ending with an ``EOF`` token.

    >>> [t.text for t in tokenize("a >= 'x'")]
    ['a', '>=', 'x', '']
    """
    tokens = scan(expr)
    ends = token_ends(expr, tokens, 0, len(tokens) - 1)
    places = [end - len(token) for token, end in zip(tokens, ends, strict=False)] + [len(expr)]
    return [
        Token(kind(token), text(token), pos, _key(token)) for token, pos in zip(tokens, places, strict=True)
    ]


def _key(token: str) -> str:
    found = kind(token)
    if found == WORD:
        return token.upper()
    return token if found == SYMBOL else ""


def _raise_error(expr: str) -> None:
    """Raise the lexer's error: at the first character no token starts with (found by the scan that
    yielded ``""``), ``UnterminatedString`` for a quote and ``UnexpectedChar`` for anything else."""
    for m in _TOKEN.finditer(expr.rstrip(_WHITE_SPACE)):
        if m.start(1) < 0:
            pos = m.start() + len(m.group()) - len(m.group().lstrip(_WHITE_SPACE))
            ch = expr[pos]
            if ch in "'\"":
                raise UnterminatedString(pos)
            raise UnexpectedChar(ch, pos)
