"""``${name}`` / ``$name`` substitution (ANCHOR §3.8; Unicode-correct, D1)."""

from __future__ import annotations

import pytest

from axonstore.filter import interpolate

B = {
    "x": "1",
    "name": "Bogotá",
    "obj": '{"a": {"b": "deep", "n": 7, "arr": [1, 2]}, "s": "{\\"k\\": \\"v\\"}"}',
    "e.f": "exact",
    "": "empty-key",
    "y": "${x}",
    "num": 5,
    "flag": True,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("${x}", "1"),
        ("$x", "1"),
        ("$x1", "$x1"),
        ("$1", "$1"),
        ("$", "$"),
        ("$$x", "$1"),
        ("${missing}", "${missing}"),
        ("$missing", "$missing"),
        ("${x", "${x"),
        ("${x} ${x}", "1 1"),
        ("é${x}ü", "é1ü"),
        ("${name}", "Bogotá"),
        ("${y}", "${x}"),  # never re-scanned
        ("${}", "empty-key"),
        ("${e.f}", "exact"),
        ("${obj.a.b}", "deep"),
        ("${obj.a.n}", "7"),
        ("${obj.a}", '{"arr":[1,2],"b":"deep","n":7}'),
        ("${obj.s.k}", "v"),  # a JSON string holding an object is walked into
        ("${obj.a.missing}", "${obj.a.missing}"),
        ("${obj.a.arr.0}", "${obj.a.arr.0}"),
        ("${x.y}", "${x.y}"),  # 1 parses as JSON, but is not an object
        ("${name.k}", "${name.k}"),  # not JSON at all
        ("${num}-${flag}", "5-true"),
        ("{x} $ {x}", "{x} $ {x}"),
    ],
)
def test_interpolate(template: str, expected: str) -> None:
    assert interpolate(template, B) == expected


def test_no_bindings_leaves_the_template() -> None:
    assert interpolate("${x} $x", None) == "${x} $x"
    assert interpolate("${x} $x", {}) == "${x} $x"


def test_a_binding_nested_past_the_json_parsers_depth_stays_literal() -> None:
    deep = "[" * 100_000
    assert interpolate("'${a.b}'", {"a": deep}) == "'${a.b}'"
    assert interpolate("'${a.b}'", {"a": '{"b": ' * 50_000}) == "'${a.b}'"
