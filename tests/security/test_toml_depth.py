"""Issue 18 §4 — TOML nested 5 000 deep must be refused typed, not with ``RecursionError``.

``axonstore._text.toml_too_deep`` is the pre-check a declarations loader runs before ``tomllib``: a
property over generated TOML documents (arrays, inline tables, strings of every quoting that hold
brackets, comments that hold brackets) checks that it measures exactly the nesting ``tomllib`` sees, and
deep inputs check that it answers at once where ``tomllib`` would overflow the stack.
"""

from __future__ import annotations

import json
import time
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonstore._text import TOML_MAX_NESTING, toml_too_deep

_BRACKETY = st.text(alphabet="ab[]{}#'\" =,\\", max_size=8)


def _basic(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string (escapes included)


_SCALARS = st.one_of(
    st.integers(-5, 5).map(str),
    _BRACKETY.map(_basic),
    _BRACKETY.filter(lambda s: "'" not in s and "\n" not in s).map(lambda s: f"'{s}'"),
    _BRACKETY.filter(lambda s: "'''" not in s and not s.endswith("'")).map(lambda s: f"'''{s}'''"),
    _BRACKETY.filter(lambda s: '"' not in s and "\\" not in s).map(lambda s: f'"""{s}"""'),
)


def _array(children: list[tuple[str, int]]) -> tuple[str, int]:
    return "[" + ", ".join(c for c, _ in children) + "]", 1 + max((d for _, d in children), default=0)


def _table(children: list[tuple[str, int]]) -> tuple[str, int]:
    body = ", ".join(f"k{i} = {c}" for i, (c, _) in enumerate(children))
    return "{" + body + "}", 1 + max((d for _, d in children), default=0)


_VALUES = st.recursive(
    _SCALARS.map(lambda s: (s, 0)),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(_array), st.lists(inner, max_size=3).map(_table)),
    max_leaves=12,
)


@settings(max_examples=400)
@given(_VALUES, _BRACKETY.map(lambda s: s.replace("\n", "")))
def test_the_pre_check_measures_the_nesting_tomllib_sees(value: tuple[str, int], comment: str) -> None:
    text, depth = value
    document = f"# {comment}\n[section]\nx = {text}  # {comment}\n"
    tomllib.loads(document)  # the generator writes valid TOML
    # `[section]` is closed before the value: the value's own depth is the document's
    assert toml_too_deep(document, max(depth, 1)) is None
    if depth >= 2:
        assert toml_too_deep(document, depth - 1) is not None


@pytest.mark.parametrize("opener", ["[", "{x = "])
def test_deep_nesting_is_found_at_once_where_tomllib_overflows(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    document = "a = " + opener * 5_000 + "1" + closer * 5_000
    with pytest.raises(RecursionError):
        tomllib.loads(document)
    started = time.perf_counter()
    at = toml_too_deep(document)
    assert time.perf_counter() - started < 0.05
    assert at == 4 + len(opener) * TOML_MAX_NESTING


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    deep = "[" * 200
    document = f"a = \"{deep}\"\nb = '{deep}'\nc = \"\"\"\n{deep}\n\"\"\"\nd = '''{deep}'''\n# {deep}\n"
    assert tomllib.loads(document)["a"] == deep
    assert toml_too_deep(document) is None
    assert toml_too_deep('a = "\\"[[["  # \\" escapes', limit=0) is None
