"""The pure governance layer: capability gate, confidence floor, retrieve envelope, audit chain."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import enum
import hashlib
import hmac
import io
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axonstore._json import canonical_json
from axonstore.audit import GENESIS_HASH, AuditChain, AuditEntry, summary_for
from axonstore.errors import (
    AuditChainBroken,
    CapabilityDenied,
    EpistemicError,
    MalformedConfidence,
    SubFloorWrite,
    UnelevatedWrite,
)
from axonstore.governance import (
    Retrieval,
    StreamMeta,
    check_capability,
    check_write_floor,
    partition_by_floor,
    read_confidence,
)

KEY = b"k" * 32

# --------------------------------------------------------------------------------------------------
# Capability


def test_capability_trusted_caller_is_not_checked() -> None:
    check_capability("claims", "claims.write", None)


def test_capability_store_without_requirement_admits_any_set() -> None:
    check_capability("claims", None, set())
    check_capability("claims", "", {"x"})


def test_capability_held_admits() -> None:
    check_capability("claims", "claims.write", {"claims.read", "claims.write"})
    check_capability("claims", "claims.write", ["claims.write"])


def test_capability_missing_is_denied_with_sorted_held() -> None:
    with pytest.raises(CapabilityDenied) as info:
        check_capability("claims", "claims.write", {"b", "a"})
    assert (info.value.store, info.value.required, info.value.held) == ("claims", "claims.write", ("a", "b"))
    assert str(info.value) == (
        "access to axonstore `claims` denied: it requires capability `claims.write`, which the caller "
        'does not hold (held: ["a", "b"])'
    )


def test_capability_empty_set_is_enforced() -> None:
    with pytest.raises(CapabilityDenied) as info:
        check_capability("claims", "claims.write", frozenset())
    assert info.value.held == ()


def test_capability_string_is_one_capability_not_characters() -> None:
    check_capability("claims", "claims.write", "claims.write")
    # A substring must not pass, as `"claims" in "claims.write"` would.
    with pytest.raises(CapabilityDenied) as info:
        check_capability("claims", "claims", "claims.write")
    assert info.value.held == ("claims.write",)


def test_capability_is_case_sensitive() -> None:
    with pytest.raises(CapabilityDenied):
        check_capability("claims", "Claims.Write", {"claims.write"})


# --------------------------------------------------------------------------------------------------
# Confidence on read


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.92, 0.92),
        (1, 1.0),
        (0, 0.0),
        (-0.5, -0.5),
        ("0.92", 0.92),
        ("0.50", 0.5),
        ("1e-1", 0.1),
        ("+.5", 0.5),
        ("5.", 5.0),
        (decimal.Decimal("0.75"), 0.75),
    ],
)
def test_read_confidence_numbers_and_numeric_text(value: object, expected: float) -> None:
    assert read_confidence(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        math.nan,
        math.inf,
        -math.inf,
        True,
        False,
        "abc",
        "",
        "inf",
        "NaN",
        "1e999",
        " 0.9",
        "0.9 ",
        "1_0",
        "٠.٩",  # Arabic-Indic digits: Python's float() takes them, a numeric column never holds them
        "0x1",
        decimal.Decimal("NaN"),
        decimal.Decimal("sNaN"),
        decimal.Decimal("Infinity"),
        10**400,
        [0.9],
        {"v": 0.9},
        b"0.9",
    ],
)
def test_read_confidence_anything_else_is_zero(value: object) -> None:
    assert read_confidence(value) == 0.0


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.binary(),
    )
)
def test_read_confidence_is_total_and_finite(value: object) -> None:
    assert math.isfinite(read_confidence(value))


def _rows(*confidences: object) -> list[dict[str, Any]]:
    return [{"id": i, "_confidence": c} for i, c in enumerate(confidences)]


def test_partition_without_floor_trusts_everything() -> None:
    rows = _rows(None, 0.1, "x")
    trusted, below = partition_by_floor(rows, None)
    assert (trusted, below) == (rows, 0)


def test_partition_five_rows_floor_point_eight_leaves_three() -> None:
    # The reference's integration test t4: 5 rows, floor 0.8 → 3 trusted.
    rows = _rows(0.9, "0.85", 0.8, 0.5, None)
    trusted, below = partition_by_floor(rows, 0.8)
    assert [r["id"] for r in trusted] == [0, 1, 2]
    assert below == 2


def test_partition_missing_column_reads_as_zero() -> None:
    rows: list[dict[str, Any]] = [{"id": 1}]
    assert partition_by_floor(rows, 0.0) == (rows, 0)
    assert partition_by_floor(rows, 0.01) == ([], 1)


def test_partition_non_finite_reads_as_zero() -> None:
    assert partition_by_floor(_rows(math.inf, math.nan, "NaN"), 0.5) == ([], 3)


# --------------------------------------------------------------------------------------------------
# Confidence on write


def test_write_without_floor_is_never_checked() -> None:
    check_write_floor("s", None, {})
    check_write_floor("s", None, {"_confidence": "abc"})


def test_persist_without_confidence_is_unelevated() -> None:
    with pytest.raises(UnelevatedWrite) as info:
        check_write_floor("claims", 0.8, {"id": "c-1"})
    assert (info.value.store, info.value.floor) == ("claims", 0.8)


def test_mutate_without_confidence_is_allowed() -> None:
    check_write_floor("claims", 0.8, {"status": "closed"}, op="mutate")


@pytest.mark.parametrize("op", ["persist", "mutate"])
def test_null_confidence_is_unelevated(op: Any) -> None:
    with pytest.raises(UnelevatedWrite):
        check_write_floor("claims", 0.8, {"_confidence": None}, op=op)


@pytest.mark.parametrize("op", ["persist", "mutate"])
@pytest.mark.parametrize(
    "value", [True, False, "abc", "", " 0.9", "NaN", "inf", "1e999", math.nan, math.inf, [0.9], b"0.9"]
)
def test_malformed_confidence(op: Any, value: object) -> None:
    with pytest.raises(MalformedConfidence) as info:
        check_write_floor("claims", 0.5, {"_confidence": value}, op=op)
    assert info.value.store == "claims"
    assert info.value.value is value


@pytest.mark.parametrize("op", ["persist", "mutate"])
@pytest.mark.parametrize("value", [0.79, "0.79", 0, -1, decimal.Decimal("0.1")])
def test_below_floor(op: Any, value: Any) -> None:
    with pytest.raises(SubFloorWrite) as info:
        check_write_floor("claims", 0.8, {"_confidence": value}, op=op)
    assert (info.value.store, info.value.confidence, info.value.floor) == ("claims", float(value), 0.8)


@pytest.mark.parametrize("value", [0.8, "0.8", "0.80", 0.92, "1", 1, decimal.Decimal("0.8")])
def test_at_or_above_floor_is_accepted(value: object) -> None:
    check_write_floor("claims", 0.8, {"_confidence": value})
    check_write_floor("claims", 0.8, {"_confidence": value}, op="mutate")


def test_floor_zero_and_one_bounds() -> None:
    check_write_floor("s", 0.0, {"_confidence": 0})
    check_write_floor("s", 1.0, {"_confidence": "1.0"})
    with pytest.raises(SubFloorWrite):
        check_write_floor("s", 1.0, {"_confidence": 0.999})


def test_write_floor_accepts_pairs_and_checks_every_occurrence() -> None:
    check_write_floor("s", 0.5, [("id", 1), ("_confidence", "0.6")])
    with pytest.raises(SubFloorWrite):
        check_write_floor("s", 0.5, [("_confidence", "0.6"), ("_confidence", "0.1")])
    with pytest.raises(UnelevatedWrite):
        check_write_floor("s", 0.5, [("id", 1)])


def test_empty_persist_data_is_unelevated() -> None:
    with pytest.raises(UnelevatedWrite):
        check_write_floor("s", 0.5, {})


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()))
def test_write_floor_raises_only_epistemic_errors(value: object) -> None:
    with contextlib.suppress(EpistemicError):
        check_write_floor("s", 0.5, {"_confidence": value})


# --------------------------------------------------------------------------------------------------
# Retrieval envelope


@dataclass
class _Outcome:
    total_seen: int
    dropped: int
    truncated: bool
    cancelled: bool


class _Policy(enum.Enum):
    DROP_OLDEST = "drop_oldest"


def test_stream_meta_from_outcome_accepts_slug_or_enum() -> None:
    outcome = _Outcome(51, 40, False, False)
    assert StreamMeta.from_outcome(_Policy.DROP_OLDEST, outcome) == StreamMeta("drop_oldest", 51, 40)
    assert StreamMeta.from_outcome("fail", outcome).policy == "fail"


def test_stream_meta_default_is_plain_retrieve() -> None:
    assert StreamMeta().to_dict() == {
        "policy": "pause_upstream",
        "total_seen": 0,
        "dropped": 0,
        "truncated": False,
        "cancelled": False,
    }


def test_retrieval_applies_the_floor() -> None:
    rows = _rows(0.9, 0.1, "0.95")
    stream = StreamMeta(total_seen=3)
    result = Retrieval.build(rows, 0.8, stream)
    assert [r["id"] for r in result.rows] == [0, 2]
    assert (result.trusted_rows, result.below_floor_filtered, result.confidence_floor) == (2, 1, 0.8)
    assert result.taint == "untrusted"
    assert result.stream.total_seen == 3


def test_retrieval_without_floor() -> None:
    result = Retrieval.build(_rows(None, 0.1), None, StreamMeta())
    assert (result.trusted_rows, result.below_floor_filtered, result.confidence_floor) == (2, 0, None)


def test_retrieval_aggregate_keeps_rows_the_sql_already_filtered() -> None:
    result = Retrieval.build([{"count": 3}], 0.8, StreamMeta(), apply_floor=False)
    assert (result.rows, result.trusted_rows, result.below_floor_filtered) == ([{"count": 3}], 1, 0)


def test_envelope_json_is_compact_and_sorted() -> None:
    result = Retrieval.build([{"b": 1, "a": "x", "_confidence": 0.9}], 0.5, StreamMeta(total_seen=1))
    text = result.to_json()
    assert text == (
        '{"below_floor_filtered":0,"confidence_floor":0.5,'
        '"rows":[{"_confidence":0.9,"a":"x","b":1}],'
        '"stream":{"cancelled":false,"dropped":0,"policy":"pause_upstream","total_seen":1,"truncated":false},'
        '"taint":"untrusted","trusted_rows":1}'
    )
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_envelope_json_null_floor_and_nested_keys_sorted() -> None:
    result = Retrieval.build([{"doc": {"z": 1, "a": [{"y": 2, "b": 3}]}}], None, StreamMeta())
    text = result.to_json()
    assert '"confidence_floor":null' in text
    assert '{"doc":{"a":[{"b":3,"y":2}],"z":1}}' in text


def test_envelope_json_keeps_raw_utf8() -> None:
    result = Retrieval.build([{"city": "Bogotá", "emoji": "🙂"}], None, StreamMeta())
    text = result.to_json()
    assert "Bogotá" in text
    assert "🙂" in text
    assert "\\u" not in text


def test_envelope_json_non_finite_floats_become_null() -> None:
    result = Retrieval.build([{"x": math.nan, "y": [math.inf], "z": 1.5}], None, StreamMeta())
    assert json.loads(result.to_json())["rows"] == [{"x": None, "y": [None], "z": 1.5}]


def test_envelope_json_maps_python_values_like_the_backend() -> None:
    row = {
        "n": decimal.Decimal("0.0000001"),
        "b": b"\xde\xad\xbe\xef",
        "t": dt.datetime(2024, 1, 2, 3, 4, 5),
        "tz": dt.datetime(2024, 1, 2, 5, 4, 5, 500000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "d": dt.date(2024, 1, 2),
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    out = json.loads(Retrieval.build([row], None, StreamMeta()).to_json())["rows"][0]
    assert out == {
        "n": "0.0000001",
        "b": "3q2+7w==",
        "t": "2024-01-02T03:04:05",
        "tz": "2024-01-02T03:04:05.500+00:00",  # UTC, the fewest exact fraction digits (CONTRACT §3.4)
        "d": "2024-01-02",
        "u": "12345678-1234-5678-1234-567812345678",
    }


def test_envelope_json_refuses_an_unknown_python_type() -> None:
    result = Retrieval.build([{"x": object()}], None, StreamMeta())
    with pytest.raises(TypeError, match="object"):
        result.to_json()


# --------------------------------------------------------------------------------------------------
# Audit chain: construction and hashing


def _expected_link(key: bytes, previous: str, payload: dict[str, Any]) -> tuple[str, str, str]:
    """The spec's formulas, written out independently of the implementation."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    payload_hash = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    signature = hmac.new(key, f"{previous}|{payload_hash}".encode(), hashlib.sha256).hexdigest()
    chain_hash = hashlib.sha256(f"{previous}|{payload_hash}|{signature}".encode()).hexdigest()
    return payload_hash, signature, chain_hash


def test_summaries() -> None:
    assert summary_for("persist", "claims", 1) == "persisted 1 row(s) to `claims`"
    assert summary_for("mutate", "claims", 0) == "mutated 0 row(s) in `claims`"
    assert summary_for("purge", "claims", 12) == "purged 12 row(s) from `claims`"
    with pytest.raises(ValueError, match="unknown audit op"):
        summary_for("select", "claims", 1)


def test_empty_chain() -> None:
    chain = AuditChain(KEY)
    assert (len(chain), chain.head, chain.entries) == (0, GENESIS_HASH, ())
    assert GENESIS_HASH == "0" * 64
    chain.verify()
    chain.verify(expected_head=GENESIS_HASH)


def test_append_follows_the_spec_formulas() -> None:
    chain = AuditChain(KEY)
    first = chain.append(
        "persist", "claims", "persisted 1 row(s) to `claims`", timestamp_ms=1_700_000_000_000
    )
    second = chain.append("purge", "claims", "purged 0 row(s) from `claims`", timestamp_ms=1_700_000_000_001)
    payload0 = {
        "seq": 0,
        "op": "persist",
        "store": "claims",
        "summary": "persisted 1 row(s) to `claims`",
        "timestamp_ms": 1_700_000_000_000,
    }
    assert dict(first.payload) == payload0
    assert (first.payload_hash, first.signature, first.chain_hash) == _expected_link(
        KEY, GENESIS_HASH, payload0
    )
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.chain_hash
    assert second.payload["seq"] == 1
    assert (len(chain), chain.head) == (2, second.chain_hash)
    chain.verify(expected_head=second.chain_hash)


def test_canonical_json_hashes_raw_utf8() -> None:
    chain = AuditChain(KEY)
    entry = chain.append("persist", "claims", "Bogotá ✓", timestamp_ms=5)
    raw = '{"op":"persist","seq":0,"store":"claims","summary":"Bogotá ✓","timestamp_ms":5}'.encode()
    assert entry.payload_hash == hashlib.sha256(raw).hexdigest()
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_append_defaults_timestamp_to_now() -> None:
    before = time.time_ns() // 1_000_000
    entry = AuditChain().append("mutate", "s", "x")
    after = time.time_ns() // 1_000_000
    assert before <= entry.payload["timestamp_ms"] <= after


def test_append_refuses_unknown_op() -> None:
    chain = AuditChain(KEY)
    with pytest.raises(ValueError, match="unknown audit op"):
        chain.append("select", "s", "x")  # type: ignore[arg-type]
    assert len(chain) == 0


@pytest.mark.parametrize(
    ("store", "summary", "stamp"), [(1, "x", 1), ("s", None, 1), ("s", "x", 1.5), ("s", "x", True)]
)
def test_append_refuses_what_verify_would_reject(store: Any, summary: Any, stamp: Any) -> None:
    chain = AuditChain(KEY)
    with pytest.raises(TypeError):
        chain.append("persist", store, summary, timestamp_ms=stamp)
    assert len(chain) == 0


def test_random_keys_are_32_bytes_and_distinct() -> None:
    a, b = AuditChain(), AuditChain()
    assert len(a.key) == 32
    assert a.key != b.key


def test_key_must_be_non_empty_bytes() -> None:
    with pytest.raises(TypeError):
        AuditChain("secret")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        AuditChain(b"")
    assert AuditChain(bytearray(b"ab")).key == b"ab"


def test_entries_are_read_only() -> None:
    entry = AuditChain(KEY).append("persist", "s", "x", timestamp_ms=1)
    with pytest.raises(TypeError):
        entry.payload["summary"] = "y"  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Audit chain: verification


def _chain(n: int, key: bytes = KEY) -> AuditChain:
    chain = AuditChain(key)
    ops: tuple[Any, ...] = ("persist", "mutate", "purge")
    for i in range(n):
        op = ops[i % 3]
        chain.append(op, f"store_{i % 2}", summary_for(op, f"store_{i % 2}", i), timestamp_ms=1000 + i)
    return chain


def _broken(chain: AuditChain, expected_head: str | None = None) -> AuditChainBroken:
    with pytest.raises(AuditChainBroken) as info:
        chain.verify(expected_head=expected_head)
    return info.value


def _with_entries(chain: AuditChain, entries: list[AuditEntry]) -> AuditChain:
    return AuditChain.from_entries(entries, key=chain.key)


def test_verify_edited_payload_in_memory() -> None:
    chain = _chain(4)
    entries = list(chain.entries)
    payload = dict(entries[2].payload) | {"summary": "persisted 999 row(s) to `store_0`"}
    entries[2] = replace(entries[2], payload=MappingProxyType(payload))
    err = _broken(_with_entries(chain, entries))
    assert err.index == 2
    assert "payload_hash" in err.reason


def test_verify_dropped_entry() -> None:
    chain = _chain(4)
    entries = list(chain.entries)
    del entries[1]
    assert _broken(_with_entries(chain, entries)).index == 1


def test_verify_reordered_entries() -> None:
    chain = _chain(4)
    entries = list(chain.entries)
    entries[1], entries[2] = entries[2], entries[1]
    assert _broken(_with_entries(chain, entries)).index == 1


def test_verify_duplicated_entry() -> None:
    chain = _chain(3)
    entries = list(chain.entries)
    entries.insert(2, entries[1])
    assert _broken(_with_entries(chain, entries)).index == 2


def test_verify_wrong_key() -> None:
    chain = _chain(3)
    other = AuditChain.from_entries(chain.entries, key=b"another key")
    err = _broken(other)
    assert err.index == 0
    assert "key" in err.reason


def test_verify_cut_tail_needs_the_head() -> None:
    chain = _chain(4)
    head = chain.head
    cut = _with_entries(chain, list(chain.entries)[:2])
    cut.verify()  # a prefix is a valid chain on its own
    err = _broken(cut, expected_head=head)
    assert err.index == 2
    assert "tail" in err.reason


def test_verify_everything_cut() -> None:
    chain = _chain(2)
    assert _broken(_with_entries(chain, []), expected_head=chain.head).index == 0


def test_verify_seq_gap_even_when_resigned_with_the_key() -> None:
    # Someone holding the key drops entry 1 and re-signs the rest: only the seq gap shows it.
    key = KEY
    previous = GENESIS_HASH
    entries = []
    for seq in (0, 2, 3):
        payload = {"seq": seq, "op": "persist", "store": "s", "summary": "x", "timestamp_ms": seq}
        payload_hash, signature, chain_hash = _expected_link(key, previous, payload)
        entries.append(AuditEntry(MappingProxyType(payload), payload_hash, previous, signature, chain_hash))
        previous = chain_hash
    err = _broken(AuditChain.from_entries(entries, key=key))
    assert err.index == 1
    assert "seq" in err.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"extra": 1}, "fields"),
        ({"op": "select"}, "op"),
        ({"store": 5}, "strings"),
        ({"timestamp_ms": "now"}, "timestamp_ms"),
        ({"seq": True}, "seq"),
    ],
)
def test_verify_rejects_a_malformed_payload_even_when_signed_with_the_key(
    change: dict[str, Any], reason: str
) -> None:
    payload = {"seq": 0, "op": "persist", "store": "s", "summary": "x", "timestamp_ms": 0} | change
    payload_hash, signature, chain_hash = _expected_link(KEY, GENESIS_HASH, payload)
    entry = AuditEntry(MappingProxyType(payload), payload_hash, GENESIS_HASH, signature, chain_hash)
    err = _broken(AuditChain.from_entries([entry], key=KEY))
    assert err.index == 0
    assert reason in err.reason


def test_verify_rejects_payload_with_extra_field() -> None:
    chain = _chain(2)
    entries = list(chain.entries)
    payload = dict(entries[0].payload) | {"extra": 1}
    entries[0] = replace(entries[0], payload=MappingProxyType(payload))
    assert _broken(_with_entries(chain, entries)).index == 0


def test_verify_wrong_expected_head_on_full_chain() -> None:
    chain = _chain(2)
    assert _broken(chain, expected_head="f" * 64).index == 2
    assert _broken(chain, expected_head="é").index == 2  # non-ASCII input must not crash


async def test_concurrent_appends_from_tasks_and_threads_keep_the_chain_valid() -> None:
    chain = AuditChain(KEY)

    async def writer(i: int) -> None:
        for j in range(20):
            chain.append("persist", f"s{i}", f"t{j}")
            await asyncio.sleep(0)

    def thread_writer() -> None:
        for j in range(200):
            chain.append("mutate", "threaded", f"t{j}")

    threads = [threading.Thread(target=thread_writer) for _ in range(4)]
    for t in threads:
        t.start()
    await asyncio.gather(*(writer(i) for i in range(10)))
    for t in threads:
        t.join()
    assert len(chain) == 10 * 20 + 4 * 200
    assert [e.payload["seq"] for e in chain] == list(range(len(chain)))
    chain.verify(expected_head=chain.head)


# --------------------------------------------------------------------------------------------------
# Audit chain: export and import


def _export(chain: AuditChain) -> list[str]:
    buffer = io.StringIO()
    chain.export_jsonl(buffer)
    # split on "\n" only: summaries may hold U+2028 and friends, which str.splitlines() also splits on
    text = buffer.getvalue()
    assert text.endswith("\n") or not text
    return text.split("\n")[:-1]


def test_export_line_shape() -> None:
    chain = AuditChain(KEY)
    entry = chain.append("persist", "claims", "Bogotá", timestamp_ms=7)
    (line,) = _export(chain)
    obj = json.loads(line)
    assert list(obj) == ["payload", "payload_hash", "previous_hash", "signature", "chain_hash"]
    assert list(obj["payload"]) == ["op", "seq", "store", "summary", "timestamp_ms"]
    assert obj["payload"] == dict(entry.payload)
    assert (obj["payload_hash"], obj["previous_hash"], obj["signature"], obj["chain_hash"]) == (
        entry.payload_hash,
        GENESIS_HASH,
        entry.signature,
        entry.chain_hash,
    )
    assert "Bogotá" in line
    assert " " not in line.replace("Bogotá", "")


def test_export_import_round_trip() -> None:
    chain = _chain(5)
    imported = AuditChain.import_jsonl(io.StringIO("\n".join(_export(chain)) + "\n\n"), key=KEY)
    assert imported.entries == chain.entries
    assert imported.head == chain.head
    imported.verify(expected_head=chain.head)


def test_imported_chain_continues() -> None:
    chain = _chain(2)
    imported = AuditChain.import_jsonl(_export(chain), key=KEY)
    imported.append("purge", "s", "x", timestamp_ms=1)
    imported.verify()
    assert len(imported) == 3


def test_import_with_wrong_key_fails_verify() -> None:
    imported = AuditChain.import_jsonl(_export(_chain(3)), key=b"wrong")
    assert _broken(imported).index == 0


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"payload": {}}', "must be an object with exactly"),
        ("EXTRA", "must be an object with exactly"),
        (
            '{"payload": [], "payload_hash": "", "previous_hash": "", "signature": "", "chain_hash": ""}',
            "payload",
        ),
        (
            '{"payload": {}, "payload_hash": 1, "previous_hash": "", "signature": "", "chain_hash": ""}',
            "strings",
        ),
        ("DUP", "not valid JSON"),
    ],
)
def test_import_malformed_line_names_its_index(bad_line: str, reason: str) -> None:
    lines = _export(_chain(3))
    if bad_line == "EXTRA":
        bad_line = json.dumps(json.loads(lines[1]) | {"extra": 1})
    if bad_line == "DUP":
        bad_line = lines[1][:-1] + ',"signature":"00"}'
    lines[1] = bad_line
    with pytest.raises(AuditChainBroken) as info:
        AuditChain.import_jsonl(lines, key=KEY)
    assert info.value.index == 1
    assert reason in info.value.reason
    assert "line 2" in info.value.reason


def test_import_index_counts_entries_not_blank_lines() -> None:
    lines = _export(_chain(2))
    with pytest.raises(AuditChainBroken) as info:
        AuditChain.import_jsonl([lines[0], "", "   ", "{"], key=KEY)
    assert info.value.index == 1
    assert "line 4" in info.value.reason


# --------------------------------------------------------------------------------------------------
# Property: any single change to an exported chain fails verify() at the first changed entry

_HEX = "0123456789abcdef"
_HASH_FIELDS = ("payload_hash", "previous_hash", "signature", "chain_hash")
_PAYLOAD_FIELDS = ("seq", "op", "store", "summary", "timestamp_ms")

_texts = st.text(min_size=0, max_size=12)


@st.composite
def _chains(draw: st.DrawFn) -> AuditChain:
    chain = AuditChain(draw(st.binary(min_size=1, max_size=40)))
    for _ in range(draw(st.integers(min_value=1, max_value=7))):
        op: Any = draw(st.sampled_from(["persist", "mutate", "purge"]))
        store = draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True))
        summary = draw(st.one_of(st.just(summary_for(op, store, draw(st.integers(0, 9)))), _texts))
        chain.append(op, store, summary, timestamp_ms=draw(st.integers(0, 2**53)))
    return chain


def _different(draw: Any, old: Any, field: str) -> Any:
    """A JSON value for ``field`` that differs from ``old``."""
    if field in ("seq", "timestamp_ms"):
        new: Any = draw(st.one_of(st.integers(-5, 2**53), st.text(max_size=3), st.floats(allow_nan=False)))
    elif field == "op":
        new = draw(st.sampled_from(["persist", "mutate", "purge", "select", ""]))
    elif field in _HASH_FIELDS:
        new = draw(st.one_of(st.text(_HEX, min_size=64, max_size=64), _texts))
    else:
        new = draw(_texts)
    if new == old and type(new) is type(old):
        new = f"{old}x"
    return new


def _edit_field(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    i = draw(st.integers(0, len(lines) - 1))
    field = draw(st.sampled_from(_PAYLOAD_FIELDS + _HASH_FIELDS))
    line = json.loads(json.dumps(lines[i]))
    if field in _PAYLOAD_FIELDS:
        line["payload"][field] = _different(draw, line["payload"][field], field)
    else:
        line[field] = _different(draw, line[field], field)
    return [*lines[:i], line, *lines[i + 1 :]]


def _change_hash_char(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    i = draw(st.integers(0, len(lines) - 1))
    field = draw(st.sampled_from(_HASH_FIELDS))
    line = dict(lines[i])
    pos = draw(st.integers(0, 63))
    char = draw(st.sampled_from([c for c in _HEX if c != line[field][pos]]))
    line[field] = line[field][:pos] + char + line[field][pos + 1 :]
    return [*lines[:i], line, *lines[i + 1 :]]


def _drop(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    i = draw(st.integers(0, len(lines) - 1))
    return lines[:i] + lines[i + 1 :]


def _insert_copy(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    source = lines[draw(st.integers(0, len(lines) - 1))]
    at = draw(st.integers(0, len(lines)))
    return [*lines[:at], source, *lines[at:]]


def _insert_forged(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    # The strongest forgery without the key: a well-formed entry at the right place with the right
    # seq and previous hash, signed with another key.
    at = draw(st.integers(0, len(lines)))
    previous = lines[at - 1]["chain_hash"] if at else GENESIS_HASH
    payload = {"seq": at, "op": "persist", "store": "s", "summary": draw(_texts), "timestamp_ms": 0}
    payload_hash, signature, chain_hash = _expected_link(
        draw(st.binary(min_size=1).filter(lambda k: k != key)), previous, payload
    )
    forged = {
        "payload": payload,
        "payload_hash": payload_hash,
        "previous_hash": previous,
        "signature": signature,
        "chain_hash": chain_hash,
    }
    return [*lines[:at], forged, *lines[at:]]


def _swap(draw: Any, lines: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1).filter(lambda j: j != i))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


_MUTATIONS = [_edit_field, _change_hash_char, _drop, _insert_copy, _insert_forged, _swap]


def _first_difference(original: list[dict[str, Any]], changed: list[dict[str, Any]]) -> int:
    for index, (a, b) in enumerate(zip(original, changed, strict=False)):
        if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
            return index
    return min(len(original), len(changed))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(chain=_chains(), data=st.data())
def test_any_single_change_to_an_export_fails_verify_at_the_first_changed_entry(
    chain: AuditChain, data: st.DataObject
) -> None:
    lines = [json.loads(line) for line in _export(chain)]
    mutation = data.draw(st.sampled_from(_MUTATIONS if len(lines) > 1 else _MUTATIONS[:-1]))
    changed = mutation(data.draw, lines, chain.key)
    expected = _first_difference(lines, changed)
    assert expected < max(len(lines), len(changed)), "the mutation changed nothing"
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in changed)
    imported = AuditChain.import_jsonl(io.StringIO(text), key=chain.key)
    with pytest.raises(AuditChainBroken) as info:
        imported.verify(expected_head=chain.head)
    assert info.value.index == expected


@settings(max_examples=100)
@given(chain=_chains(), wrong=st.binary(min_size=1, max_size=40))
def test_an_untouched_export_verifies_and_a_wrong_key_does_not(chain: AuditChain, wrong: bytes) -> None:
    text = "".join(line + "\n" for line in _export(chain))
    AuditChain.import_jsonl(io.StringIO(text), key=chain.key).verify(expected_head=chain.head)
    if wrong != chain.key:
        with pytest.raises(AuditChainBroken) as info:
            AuditChain.import_jsonl(io.StringIO(text), key=wrong).verify()
        assert info.value.index == 0
