"""Issue 18 §4 — a tampered audit export fails as ``AuditChainBroken`` at the tampered entry, never raw.

A property: take a valid three-entry export, replace one field of one line (or the whole line) with an
arbitrary JSON value — lists, objects, numbers, text with lone surrogates, nesting 100 000 deep — or with
bytes that are not UTF-8, then import and verify. The only failure allowed is ``AuditChainBroken``, and
its index is the tampered line's (the lines before it are intact).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonstore.audit import AuditChain, WriteOp, summary_for
from axonstore.errors import AuditChainBroken

_KEY = b"audit-key-for-tests-0123456789ab"
_FIELDS = ["payload", "payload_hash", "previous_hash", "signature", "chain_hash"]
_PAYLOAD_FIELDS = ["seq", "op", "store", "summary", "timestamp_ms"]


def _export() -> list[dict[str, Any]]:
    chain = AuditChain(_KEY)
    ops: tuple[WriteOp, ...] = ("persist", "mutate", "purge")
    for n, op in enumerate(ops):
        chain.append(op, "claims", summary_for(op, "claims", n + 1), 1_700_000_000_000 + n)
    return [entry.to_dict() for entry in chain]


_TEXT = st.text(
    alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])),  # lone surrogates too
    max_size=12,
)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
# Two levels of containers by hand (st.recursive's self-check misfires on these lazy strategies).
_FLAT = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3), st.dictionaries(_TEXT, _SCALAR, max_size=3))
_JSON = st.one_of(_FLAT, st.lists(_FLAT, max_size=3), st.dictionaries(_TEXT, _FLAT, max_size=3))


def _verify(lines: list[str]) -> None:
    chain = AuditChain.import_jsonl(io.StringIO("".join(lines)), key=_KEY)
    chain.verify()


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"  # ensure_ascii: surrogates as \\udXXX escapes


@settings(max_examples=500)
@given(st.integers(0, 2), st.sampled_from(_FIELDS + _PAYLOAD_FIELDS), _JSON)
def test_any_field_replaced_by_any_json_fails_typed_at_its_index(index: int, field: str, value: Any) -> None:
    entries = _export()
    target = entries[index]["payload"] if field in _PAYLOAD_FIELDS else entries[index]
    if target[field] == value:
        return  # not a change
    target[field] = value
    with pytest.raises(AuditChainBroken) as broken:
        _verify([_dump(e) for e in entries])
    assert broken.value.index == index


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"payload":' * 100_000 + "1" + "}" * 100_000,
        '{"payload": {"op": ["persist"]}}',
        "caf\udce9\n",  # a byte that was not UTF-8, read with errors="surrogateescape"
        '"\\ud800"',
        "not json at all",
    ],
    ids=["deep-array", "deep-object", "op-list", "not-utf8", "surrogate-string", "not-json"],
)
def test_a_replaced_line_fails_typed_at_its_index(line: str) -> None:
    lines = [_dump(e) for e in _export()]
    lines[1] = line if line.endswith("\n") else line + "\n"
    with pytest.raises(AuditChainBroken) as broken:
        _verify(lines)
    assert broken.value.index == 1
    assert broken.value.__context__ is None  # no parser exception (RecursionError…) rides along


def test_an_untampered_export_verifies() -> None:
    _verify([_dump(e) for e in _export()])
