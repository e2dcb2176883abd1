"""The shape cache: same-shaped expressions share a parse and a plan, and compile exactly as alone."""

from __future__ import annotations

import pytest

from axonstore.errors import ExpectedValue, InvalidNumber, UnterminatedString
from axonstore.filter import build_pg_where, filter_columns
from axonstore.filter._shape import shape_of


def test_shape_blanks_literals_and_keeps_everything_else() -> None:
    assert shape_of("a = 'x' AND b1 > -2.5 OR c IN (\"y\", 3, true)") == (
        "a = '' AND b1 > -0 OR c IN ('', -0, true)",
        ["'x'", "-2.5", '"y"', "3"],
    )
    assert shape_of("x1 = 1AND y = 'it\\'s'") == ("x1 = -0AND y = ''", ["1", "'it\\'s'"])
    assert shape_of("a = 'open") is None  # a quote that opens no string: no shape


def test_siblings_share_the_plan_and_get_their_own_values() -> None:
    build_pg_where("amount > 100 AND region IN ('eu', 'us') AND flag = true", 2)
    assert build_pg_where("amount > 2.5 AND region IN ('${r}', 'x') AND flag = true", 2, {"r": "apac"}) == (
        '"amount" > $3 AND "region"::text IN ($4, $5) AND "flag"::text = $6',
        [2.5, "apac", "x", True],
    )
    assert filter_columns("amount > 7 AND region IN ('a', 'b') AND flag = true") == (
        "amount",
        "region",
        "flag",
    )


def test_a_sibling_with_a_bad_number_is_invalid_number() -> None:
    build_pg_where("n = 1 AND m = 2")
    with pytest.raises(InvalidNumber) as raised:
        build_pg_where("n = 1.2.3 AND m = 9.9.9")
    assert raised.value.token == "1.2.3"
    with pytest.raises(InvalidNumber):
        filter_columns("n = 7 AND m = 1..2")


def test_a_sign_before_a_number_is_not_absorbed_into_the_shape() -> None:
    build_pg_where("a IN (1, 2)")
    with pytest.raises(ExpectedValue) as raised:  # `-` then the number `-5`, not the number `--5`
        build_pg_where("a IN (1, --5)")
    assert raised.value.found == "-"


def test_an_unterminated_quote_never_borrows_a_placeholder_quote() -> None:
    """``'x \\"y"`` does not lex (the single quote never closes); its shape with the double-quoted
    string blanked to ``''`` would: the backslash would escape the placeholder's first quote."""
    build_pg_where("a = 'x'")
    with pytest.raises(UnterminatedString) as raised:
        build_pg_where('a = \'x \\"y"')
    assert raised.value.pos == 4
