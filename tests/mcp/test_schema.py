"""The compiled argument check: it may only ever say "valid" where jsonschema says so too.

``_schema.compile_check`` answers ``True`` for certainly-valid arguments so that the server can skip
``jsonschema`` on the common path; anything it is not sure of goes to ``jsonschema``, which decides.
The property that keeps the server's enforcement intact: *fast says valid ⇒ jsonschema says valid*,
over every generated tool schema and arbitrary JSON values (near-misses of valid arguments included).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from axonstore.declarations import AgentSpec, PrincipalSpec, StoreSpec
from axonstore.mcp._policy import _plain
from axonstore.mcp._schema import compile_check, depth_bound
from axonstore.mcp._tools import build_view, tools_for

LIVE = {
    "id": "int4",
    "org_id": "int8",
    "status": "text",
    "amount": "numeric",
    "ratio": "float8",
    "done": "bool",
    "tags": "_text",
    "meta": "jsonb",
    "_confidence": "float8",
}
VIEW = build_view(
    StoreSpec(
        "orders",
        "postgresql",
        connection="postgresql://h/db",
        agent=AgentSpec(
            verbs=("retrieve", "persist", "mutate", "purge"),
            writable=("id", "status", "amount", "ratio", "done", "tags", "meta"),
            max_rows=20,
        ),
    ),
    LIVE,
)
TOOLS = tools_for({"orders": VIEW}, PrincipalSpec("p"))
SCHEMAS = {tool.verb: _plain(tool.input_schema) for tool in TOOLS.values()}
VALIDATORS = {verb: Draft202012Validator(schema) for verb, schema in SCHEMAS.items()}
CHECKS = {verb: compile_check(schema) for verb, schema in SCHEMAS.items()}

_KEYS = st.sampled_from(
    ["where", "bindings", "order_by", "limit", "aggregate", "group_by", "cursor", "row", "set", "x", "_a",
     "a\n", "id", "status", "amount", "ratio", "done", "tags", "meta", "org_id", "_confidence", "Ab_1"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from([0, 1, 20, 21, -1, 1.0, 20.0, 1.5, float("nan"), float("inf")])
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["", "x" * 4096, "x" * 4097, "y" * 513, "a\n"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=12,
)
_ARGUMENTS = st.dictionaries(_KEYS, _JSON, max_size=6)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_depth_bounds_of_the_generated_schemas() -> None:
    # Free-form members (a jsonb column's value) leave a write's nesting unbounded; a retrieve's and a
    # purge's arguments are an object of text, numbers and one object of text (the bindings).
    bounds = {verb: depth_bound(schema) for verb, schema in SCHEMAS.items()}
    assert bounds == {"retrieve": 2, "persist": None, "mutate": None, "purge": 2}
    assert depth_bound({"type": "object", "properties": {}, "additionalProperties": False}) == 1
    assert depth_bound({"type": "array", "items": {"type": "string"}}) == 1
    assert depth_bound({"type": "object"}) is None  # other properties may be anything
    assert depth_bound({"properties": {}}) is None  # no type: anything


@given(_ARGUMENTS)
def test_a_value_valid_for_a_bounded_schema_is_within_its_bound(arguments: dict[str, Any]) -> None:
    for verb, schema in SCHEMAS.items():
        bound = depth_bound(schema)
        if bound is not None and VALIDATORS[verb].is_valid(arguments):
            assert _depth(arguments) <= bound


def test_every_generated_schema_compiles() -> None:
    assert set(CHECKS) == {"retrieve", "persist", "mutate", "purge"}
    assert all(check is not None for check in CHECKS.values())


@given(st.sampled_from(sorted(SCHEMAS)), _ARGUMENTS)
def test_fast_valid_implies_jsonschema_valid(verb: str, arguments: dict[str, Any]) -> None:
    check = CHECKS[verb]
    assert check is not None
    if check(arguments):
        assert VALIDATORS[verb].is_valid(arguments), arguments


def test_common_arguments_take_the_fast_path() -> None:
    cases: dict[str, list[dict[str, Any]]] = {
        "retrieve": [
            {},
            {"where": "id = '${id}'", "bindings": {"id": "7"}, "limit": 20},
            {"order_by": "id desc", "aggregate": "count", "group_by": "status", "cursor": "abc.def"},
        ],
        "persist": [{"row": {"id": 1, "status": None, "amount": "1.50", "tags": ["a"], "meta": {"k": [1]}}}],
        "mutate": [{"where": "id = 1", "set": {"done": True, "ratio": 0.5}}],
        "purge": [{"where": "id = '${i}'", "bindings": {"i": "1"}}],
    }
    for verb, samples in cases.items():
        check = CHECKS[verb]
        assert check is not None
        for arguments in samples:
            assert check(arguments), (verb, arguments)
            assert VALIDATORS[verb].is_valid(arguments)


def test_refusals_are_left_to_jsonschema() -> None:
    check = CHECKS["retrieve"]
    assert check is not None
    for arguments in (
        {"wher": "x"},
        {"limit": 21},
        {"limit": 0},
        {"limit": True},
        {"limit": 1.0},  # valid for jsonschema ("integer"), but not certain here: jsonschema decides
        {"where": "x" * 4097},
        {"bindings": {"_x": "1"}},
        {"bindings": {"a": 1}},
        {"bindings": {f"k{i}": "v" for i in range(33)}},
    ):
        assert not check(arguments), arguments


def test_unknown_keywords_compile_to_none() -> None:
    assert compile_check({"type": "string", "format": "email"}) is None
    assert compile_check({"properties": {"a": {"enum": [1]}}}) is None
    assert compile_check({"type": "tuple"}) is None
    assert compile_check({"patternProperties": {}, "additionalProperties": False}) is None
