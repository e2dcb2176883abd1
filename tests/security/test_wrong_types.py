"""Every failure at the public edge is a ``StoreError`` (issue 18 §4, property b): a value of a wrong
type at any argument of any verb raises a typed error that says what was expected — before any I/O,
on both backends and both flavours (the PostgreSQL backends point at a port nobody listens on: an
error that needed the server would be ``Connect``, and that is a failure here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonstore import Connect, InMemoryBackend, PostgresStoreBackend, StoreError
from axonstore import sync as axon_sync
from axonstore.operations import json_default

_NOWHERE = "postgresql://nobody@127.0.0.1:9/nowhere?connect_timeout=1"


class _Hostile:
    def __str__(self) -> str:
        raise RuntimeError("str() of this value fails")

    def __repr__(self) -> str:
        return "<_Hostile>"


WRONG = st.sampled_from(
    [None, 123, 1.5, b"bytes", bytearray(b"x"), [], ["a"], {}, {"a": 1}, object(), _Hostile(), {1, 2}, ("a",)]
)


def _never(_: object) -> bool:
    return False


def _is(*kinds: type) -> Callable[[object], bool]:
    return lambda value: type(value) in kinds


def _none_or(*kinds: type) -> Callable[[object], bool]:
    return lambda value: value is None or type(value) in kinds


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _json_ready(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False, default=json_default)
    except (TypeError, ValueError):
        return False
    return True


#: (verb, the arguments as a function of one value, whether that value is in fact right there)
CALLS: list[tuple[str, Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]], Callable[[object], bool]]] = [
    ("query", lambda v: (("t", v), {}), _never),  # where (None is not a filter: "" is)
    ("query", lambda v: (("t", "a = '${x}'", v), {}), _none_or(dict)),  # bindings
    ("query", lambda v: (("t", "", {"x": v}), {}), _none_or(int, float, bool)),  # a binding's value
    ("query", lambda v: ((v,), {}), _never),  # table
    ("query", lambda v: (("t",), {"columns": v}), _never),
    ("stream_retrieve", lambda v: (("t",), {"order_by": v}), _never),
    ("stream_retrieve", lambda v: (("t",), {"limit": v}), _never),
    ("stream_retrieve", lambda v: (("t",), {"aggregate": v}), _never),
    ("stream_retrieve", lambda v: (("t",), {"max_rows": v}), _count),
    ("stream_retrieve", lambda v: (("t",), {"policy": v}), _never),
    ("insert", lambda v: (("t", v), {}), lambda v: type(v) is dict and bool(v)),  # data
    ("insert", lambda v: (("t", {"a": {"k": v}}), {}), _json_ready),  # a value inside a json dict
    ("insert", lambda v: (("t", {"a": 1}), {"returning": v}), _never),
    ("insert_many", lambda v: (("t", v), {}), lambda v: type(v) in (list, tuple) and not v),
    ("insert_many", lambda v: (("t", [v]), {}), lambda v: type(v) is dict and bool(v)),
    ("upsert", lambda v: (("t", {"a": 1}, v), {}), _never),
    ("upsert", lambda v: (("t", {"a": 1}, "a"), {"update": v}), _none_or()),
    ("mutate", lambda v: (("t", v, {"a": 1}), {}), _never),
    ("mutate", lambda v: (("t", "a = 1", v), {}), lambda v: type(v) is dict and bool(v)),
    ("mutate", lambda v: (("t", "a = 1", {"a": 1}), {"all_rows": v}), _never),
    ("purge", lambda v: (("t", v), {}), _never),
    ("purge", lambda v: (("t", ""), {"all_rows": v}), _never),
    ("page", lambda v: (("t",), {"order_by": "a", "size": v}), lambda v: type(v) is int and 1 <= v <= 10_000),
    ("page", lambda v: (("t",), {"order_by": "a", "size": 5, "after": v}), _none_or()),
    ("page", lambda v: (("t",), {"order_by": v, "size": 5}), _never),
]


async def _call_async(backend: Any, verb: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    await getattr(backend, verb)(*args, **kwargs)


def _check(raised: BaseException | None, where: str) -> None:
    assert raised is not None, f"{where}: accepted"
    assert isinstance(raised, StoreError), f"{where}: {type(raised).__name__}: {raised!r}"
    assert not isinstance(raised, Connect), f"{where}: reached for the server: {raised}"
    assert str(raised)  # and it says something


@pytest.mark.parametrize("flavour", ["memory", "postgres", "memory-sync", "postgres-sync"])
@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(CALLS) - 1), value=WRONG)
def test_a_wrong_type_anywhere_is_a_store_error(flavour: str, position: int, value: object) -> None:
    verb, build, right = CALLS[position]
    if right(value):
        return
    args, kwargs = build(value)
    raised: BaseException | None = None
    try:
        if flavour == "memory":
            asyncio.run(_call_async(InMemoryBackend({"t": {"a": "int4"}}), verb, args, kwargs))
        elif flavour == "postgres":
            asyncio.run(_call_async(PostgresStoreBackend.connect(_NOWHERE), verb, args, kwargs))
        elif flavour == "memory-sync":
            getattr(axon_sync.InMemoryBackend({"t": {"a": "int4"}}), verb)(*args, **kwargs)
        else:
            getattr(axon_sync.PostgresStoreBackend.connect(_NOWHERE), verb)(*args, **kwargs)
    except BaseException as exc:  # the assertion below says what it was
        raised = exc
    _check(raised, f"{flavour} {verb}{args!r:.80} {kwargs!r:.80}")
