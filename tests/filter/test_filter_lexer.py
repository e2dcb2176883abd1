"""Stage 1: tokens, positions, and the lexer's two errors (ANCHOR §3.2)."""

from __future__ import annotations

import pytest

from axonstore.errors import UnexpectedChar, UnterminatedString
from axonstore.filter._lexer import EOF, NUMBER, STRING, SYMBOL, WORD, tokenize


def kinds_and_texts(expr: str) -> list[tuple[int, str]]:
    return [(t.kind, t.text) for t in tokenize(expr)][:-1]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("a = 1", [(WORD, "a"), (SYMBOL, "="), (NUMBER, "1")]),
        ("a==-1.5", [(WORD, "a"), (SYMBOL, "=="), (NUMBER, "-1.5")]),
        ("a <> 'x'", [(WORD, "a"), (SYMBOL, "<>"), (STRING, "x")]),
        ('a = "it\'s"', [(WORD, "a"), (SYMBOL, "="), (STRING, "it's")]),
        (r"a = 'O\'Brien'", [(WORD, "a"), (SYMBOL, "="), (STRING, "O'Brien")]),
        (r"a = '\n\\'", [(WORD, "a"), (SYMBOL, "="), (STRING, "n\\")]),
        ("a = ''", [(WORD, "a"), (SYMBOL, "="), (STRING, "")]),
        (
            "now() - interval",
            [(WORD, "now"), (SYMBOL, "("), (SYMBOL, ")"), (SYMBOL, "-"), (WORD, "interval")],
        ),
        ("now() -5", [(WORD, "now"), (SYMBOL, "("), (SYMBOL, ")"), (NUMBER, "-5")]),
        ("1.5e3", [(NUMBER, "1.5"), (WORD, "e3")]),
        ("1.2.3", [(NUMBER, "1.2.3")]),
        (
            "a IN (1,2)",
            [
                (WORD, "a"),
                (WORD, "IN"),
                (SYMBOL, "("),
                (NUMBER, "1"),
                (SYMBOL, ","),
                (NUMBER, "2"),
                (SYMBOL, ")"),
            ],
        ),
        ("'it''s'", [(STRING, "it"), (STRING, "s")]),
        ("a\u3000=\u00a01", [(WORD, "a"), (SYMBOL, "="), (NUMBER, "1")]),
        ("_x9 >= 0", [(WORD, "_x9"), (SYMBOL, ">="), (NUMBER, "0")]),
        ("", []),
        ("  \t\n", []),
    ],
)
def test_tokens(expr: str, expected: list[tuple[int, str]]) -> None:
    assert kinds_and_texts(expr) == expected


def test_positions_are_character_indices_and_eof_closes_the_list() -> None:
    tokens = tokenize("x = 'é' AND b < 2")
    assert [t.pos for t in tokens] == [0, 2, 4, 8, 12, 14, 16, 17]
    assert tokens[-1].kind == EOF
    assert tokenize("AND and")[0].key == "AND" and tokenize("AND and")[1].key == "AND"


@pytest.mark.parametrize(
    ("expr", "ch", "pos"),
    [
        ("a = 1;", ";", 5),
        ("a ! 1", "!", 2),
        ("a =! 1", "!", 3),
        ("a = .5", ".", 4),
        ("naïve = 1", "ï", 2),
        ("a = $x", "$", 4),
        ("a = :x", ":", 4),
        ("a = 1 %", "%", 6),
        ("a\x1c= 1", "\x1c", 1),  # Python's isspace() says yes; Unicode White_Space says no
        ("(((a = 1;", ";", 8),
        ("   &", "&", 3),
    ],
)
def test_unexpected_char(expr: str, ch: str, pos: int) -> None:
    with pytest.raises(UnexpectedChar) as raised:
        tokenize(expr)
    assert (raised.value.ch, raised.value.pos) == (ch, pos)


@pytest.mark.parametrize(
    ("expr", "pos"),
    [("a = 'open", 4), ('a = "open', 4), ("a = 'tail\\", 4), ("a = 'x\\'", 4), ("  'a\" ", 2)],
)
def test_unterminated_string(expr: str, pos: int) -> None:
    with pytest.raises(UnterminatedString) as raised:
        tokenize(expr)
    assert raised.value.pos == pos


def test_first_lexer_error_wins_wherever_it_stands() -> None:
    with pytest.raises(UnexpectedChar) as raised:
        tokenize("a = 'fine' AND b = 1 ; c = 'open")
    assert raised.value.pos == 21


def test_hostile_long_input_is_linear() -> None:
    """Anchored, possessive scanning: a long run that fails at its end is not rescanned per position."""
    import time

    for expr in (" " * 200_000 + ";", "a" * 200_000 + " ;", "'" + "x" * 200_000):
        start = time.perf_counter()
        with pytest.raises((UnexpectedChar, UnterminatedString)):
            tokenize(expr)
        assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "expr",
    [
        "a->'->' = '->' AND b@>'x'",
        "m->>'k'->>'k' IN ('k', \"'k'\")\u3000AND\u00a0k->'k' IS NULL",
        "x = 'a b' AND 'a b' = x",
        "  ((a=1))  ",
        "t <@ ('<@', '@@') OR t@@'@@'",
    ],
)
def test_positions_found_by_text_are_the_scans_own(expr: str) -> None:
    """Positions are looked up by searching each token's text after the one before; they are exactly
    where the token regex matched (strings holding other tokens' text cannot mislead the search)."""
    from axonstore.filter._lexer import _TOKEN

    expected = [m.start(1) for m in _TOKEN.finditer(expr.rstrip())] + [len(expr)]
    assert [t.pos for t in tokenize(expr)] == expected
