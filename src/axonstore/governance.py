"""Governance without I/O: the capability gate, the confidence floor, the retrieve envelope, the audit chain.

Everything here is pure (no database, no network); the registry calls it around each operation::

    check_capability("claims", spec.capability, capabilities)        # every verb, before any I/O
    check_write_floor("claims", spec.confidence_floor, data)          # persist (and mutate: op="mutate")
    result = Retrieval.build(outcome.rows, spec.confidence_floor, StreamMeta.from_outcome(policy, outcome))
    registry.audit.append("persist", "claims", summary_for("persist", "claims", n))

Canonical JSON (the audit chain's hashes and ``Retrieval.to_json()``) has sorted keys, no spaces and raw
UTF-8: ``"Bogotá"`` is written as its UTF-8 bytes, never as ``\\u00e1``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, Protocol, TextIO

from axonstore._memory_values import to_json
from axonstore.errors import (
    AuditChainBroken,
    CapabilityDenied,
    MalformedConfidence,
    SubFloorWrite,
    UnelevatedWrite,
)

__all__ = [
    "CONFIDENCE_COLUMN",
    "GENESIS_HASH",
    "TAINT",
    "AuditChain",
    "AuditEntry",
    "Retrieval",
    "StreamMeta",
    "canonical_json",
    "check_capability",
    "check_write_floor",
    "json_text",
    "partition_by_floor",
    "read_confidence",
    "summary_for",
]

#: The reserved column that carries a row's confidence.
CONFIDENCE_COLUMN = "_confidence"
#: Every retrieve result is marked untrusted: it is data, not instructions.
TAINT = "untrusted"
#: The ``previous_hash`` of the first audit entry.
GENESIS_HASH = "0" * 64

Row = dict[str, Any]
WriteOp = Literal["persist", "mutate", "purge"]
_WRITE_OPS: frozenset[str] = frozenset(("persist", "mutate", "purge"))


# --------------------------------------------------------------------------------------------------
# Capability (ANCHOR §9.1)


def check_capability(store: str, required: str | None, held: Collection[str] | None) -> None:
    """Raise ``CapabilityDenied`` unless the caller may use ``store``.

    ``held=None`` is an in-process caller the application trusts (no check). A collection means
    "enforce": a store whose ``required`` capability is set and not held is refused. A plain ``str`` is
    taken as one capability, never as a set of characters.
    """
    if held is None or not required:
        return
    caps = (held,) if isinstance(held, str) else held
    if required not in caps:
        raise CapabilityDenied(store, required, tuple(sorted(caps)))


# --------------------------------------------------------------------------------------------------
# Confidence (ANCHOR §9.3, CONTRACT §6 settled details, D15)


def read_confidence(value: object) -> float:
    """A row's ``_confidence`` as a float: a finite number or numeric text; anything else reads as 0.0."""
    number = _finite_number(value)
    return 0.0 if number is None else number


def _finite_number(value: object) -> float | None:
    """The finite float ``value`` denotes, or ``None`` (bool, NULL, NaN/inf, non-numeric text, other)."""
    if type(value) is float:  # float8 columns: the fast path of a 10 000-row retrieve
        return value if math.isfinite(value) else None
    if isinstance(value, str):  # numeric columns arrive as text
        return _parse_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an int too large for a float; a signalling-NaN Decimal
        return None
    return number if math.isfinite(number) else None


def _parse_number(text: str) -> float | None:
    """Numeric text as Rust's f64 parser takes it: no whitespace, no ``_``, ASCII digits; finite only."""
    try:
        number = float(text)
    except ValueError:
        return None
    # float() also takes " 1", "1_0" and non-ASCII digits; for ASCII text without whitespace or "_",
    # what it takes is exactly [+-]digits[.digits][e[+-]digits] (plus inf/nan, refused as non-finite).
    if not math.isfinite(number) or not text.isascii() or "_" in text or text != text.strip():
        return None
    return number


def partition_by_floor(rows: Iterable[Row], floor: float | None) -> tuple[list[Row], int]:
    """Split rows into the trusted ones (confidence ≥ floor) and a count of the rest.

    Without a floor every row is trusted. A row without ``_confidence`` reads as 0.0.
    """
    if floor is None:
        return list(rows), 0
    trusted: list[Row] = []
    below = 0
    finite_number = _finite_number  # a local: this loop runs once per row
    for row in rows:
        if (finite_number(row.get(CONFIDENCE_COLUMN)) or 0.0) >= floor:
            trusted.append(row)
        else:
            below += 1
    return trusted, below


def check_write_floor(
    store: str,
    floor: float | None,
    data: Mapping[str, object] | Sequence[tuple[str, object]],
    *,
    op: Literal["persist", "mutate"] = "persist",
) -> None:
    """Refuse a write that a store's confidence floor does not allow; call it before any SQL.

    * ``persist``: the row must carry ``_confidence`` (else ``UnelevatedWrite``).
    * ``mutate``: checked only when the SET columns include ``_confidence`` (D15).
    * ``_confidence`` ``None`` → ``UnelevatedWrite``; a bool, non-numeric text or NaN/inf →
      ``MalformedConfidence``; below the floor → ``SubFloorWrite``. Exactly at the floor is accepted.

    ``data`` is a mapping or a sequence of ``(column, value)`` pairs; every ``_confidence`` is checked.
    """
    if floor is None:
        return
    pairs = data.items() if isinstance(data, Mapping) else data
    values = [value for column, value in pairs if column == CONFIDENCE_COLUMN]
    if not values and op == "persist":
        raise UnelevatedWrite(store, floor, op)
    for value in values:
        _check_one_confidence(store, floor, value, op)


def _check_one_confidence(store: str, floor: float, value: object, op: str) -> None:
    if value is None:
        raise UnelevatedWrite(store, floor, op)
    confidence = _finite_number(value)
    if confidence is None:
        raise MalformedConfidence(store, value, op)
    if confidence < floor:
        raise SubFloorWrite(store, confidence, floor, op)


# --------------------------------------------------------------------------------------------------
# The retrieve envelope (ANCHOR §7.4 stream metadata, §9.3)


class _OutcomeLike(Protocol):
    total_seen: int
    dropped: int
    truncated: bool
    cancelled: bool


@dataclass(frozen=True)
class StreamMeta:
    """How a retrieve's stream ended: the policy slug and the drain counters.

    ``total_seen`` counts rows before the confidence floor; ``dropped``, ``truncated`` and ``cancelled``
    are the drain's (ANCHOR §7.4).
    """

    policy: str = "pause_upstream"
    total_seen: int = 0
    dropped: int = 0
    truncated: bool = False
    cancelled: bool = False

    @classmethod
    def from_outcome(cls, policy: str | Enum, outcome: _OutcomeLike) -> StreamMeta:
        """From a policy (a slug, or an enum whose value is the slug) and a ``RowStreamOutcome``."""
        slug = policy.value if isinstance(policy, Enum) else policy
        return cls(str(slug), outcome.total_seen, outcome.dropped, outcome.truncated, outcome.cancelled)

    def to_dict(self) -> dict[str, Any]:
        """``{"policy", "total_seen", "dropped", "truncated", "cancelled"}``."""
        return {
            "policy": self.policy,
            "total_seen": self.total_seen,
            "dropped": self.dropped,
            "truncated": self.truncated,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class Retrieval:
    """The result of a retrieve: the trusted rows and what the floor and the stream bound left out.

    ``rows`` holds only trusted rows (all rows when the store has no floor); ``below_floor_filtered``
    counts the rows the floor removed. Every result is tainted ``"untrusted"``.
    """

    rows: list[Row]
    below_floor_filtered: int
    confidence_floor: float | None
    stream: StreamMeta

    @classmethod
    def build(
        cls, rows: Iterable[Row], floor: float | None, stream: StreamMeta, *, apply_floor: bool = True
    ) -> Retrieval:
        """Apply the floor to ``rows`` and wrap them. Pass ``apply_floor=False`` for an aggregate, whose
        SQL already excluded untrusted rows (its result rows carry no ``_confidence``)."""
        if not apply_floor:
            return cls(list(rows), 0, floor, stream)
        trusted, below = partition_by_floor(rows, floor)
        return cls(trusted, below, floor, stream)

    @property
    def trusted_rows(self) -> int:
        """How many rows passed the floor (``len(rows)``)."""
        return len(self.rows)

    @property
    def taint(self) -> str:
        """Always ``"untrusted"``."""
        return TAINT

    def to_dict(self) -> dict[str, Any]:
        """The ANCHOR §9.3 envelope as a dict."""
        return {
            "below_floor_filtered": self.below_floor_filtered,
            "confidence_floor": self.confidence_floor,
            "rows": self.rows,
            "stream": self.stream.to_dict(),
            "taint": TAINT,
            "trusted_rows": self.trusted_rows,
        }

    def to_json(self) -> str:
        """The envelope as compact JSON with sorted keys (row keys too) and raw UTF-8.

        A non-finite float becomes ``null`` (as serde_json writes it); a few non-JSON Python values an
        in-memory store may hold are written as the backend would (Decimal → text, bytes → base64,
        dates → ISO 8601, UUID → text).
        """
        return json_text(self.to_dict())


def json_text(value: object) -> str:
    """:func:`canonical_json`, with a non-finite float written as ``null`` (JSON has no such number)."""
    try:
        return canonical_json(value)
    except ValueError:  # NaN / ±inf somewhere
        return canonical_json(_finite_json(value))


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, raw UTF-8 (``ensure_ascii=False``); NaN/inf refused with ``ValueError``."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def _json_default(value: object) -> object:
    """Python values a row may hold that ``json`` cannot write, mapped as CONTRACT §3.4 maps them.

    The in-memory backend's own mapping does it (timestamps in UTC with 0, 3 or 6 fraction digits,
    numeric text without an exponent), so an envelope reads the same whichever backend filled it.
    """
    if isinstance(value, decimal.Decimal | bytes | bytearray | memoryview | _dt.date | _dt.time | uuid.UUID):
        return to_json(value)
    raise TypeError(f"a row value of type {type(value).__name__} cannot be written as JSON")


def _finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_json(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# The audit chain (ANCHOR §9.2, CONTRACT §6 settled details)


def summary_for(op: str, store: str, n: int) -> str:
    """The audit summary of a successful write: ``persisted 3 row(s) to `claims``` and so on."""
    if op == "persist":
        return f"persisted {n} row(s) to `{store}`"
    if op == "mutate":
        return f"mutated {n} row(s) in `{store}`"
    if op == "purge":
        return f"purged {n} row(s) from `{store}`"
    raise ValueError(f"unknown audit op {op!r}: expected persist, mutate or purge")


_PAYLOAD_KEYS = frozenset(("seq", "op", "store", "summary", "timestamp_ms"))
_LINE_KEYS = ("payload", "payload_hash", "previous_hash", "signature", "chain_hash")


@dataclass(frozen=True)
class AuditEntry:
    """One link: the payload ``{seq, op, store, summary, timestamp_ms}`` and its hashes (hex strings)."""

    payload: Mapping[str, Any]
    payload_hash: str
    previous_hash: str
    signature: str
    chain_hash: str

    def to_dict(self) -> dict[str, Any]:
        """The exported form: ``{"payload", "payload_hash", "previous_hash", "signature", "chain_hash"}``."""
        return {
            "payload": dict(sorted(self.payload.items())),
            "payload_hash": self.payload_hash,
            "previous_hash": self.previous_hash,
            "signature": self.signature,
            "chain_hash": self.chain_hash,
        }


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sign(key: bytes, previous: str, payload_hash: str) -> str:
    return hmac.new(key, f"{previous}|{payload_hash}".encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also accepts non-ASCII text (an edited import may hold some)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _link(previous: str, payload_hash: str, signature: str) -> str:
    return _sha256_hex(f"{previous}|{payload_hash}|{signature}")


class AuditChain:
    """An HMAC-signed hash chain of the writes made through a registry.

    ``payload_hash = sha256(canonical_json(payload))``, ``signature = HMAC-SHA256(key, prev|payload_hash)``,
    ``chain_hash = sha256(prev|payload_hash|signature)``; the first ``prev`` is 64 zeros. Keep ``head``
    (and the key) to detect later that entries were cut from the tail::

        chain = AuditChain(key)
        chain.append("persist", "claims", summary_for("persist", "claims", 1))
        chain.verify()                                   # raises AuditChainBroken(index, reason)

    ``append`` is atomic (a lock), so concurrent tasks and threads may share one chain.
    """

    def __init__(self, key: bytes | bytearray | None = None) -> None:
        """``key`` is the HMAC key; ``None`` draws a random 32-byte one (see ``key``)."""
        self._key = secrets.token_bytes(32) if key is None else _check_key(key)
        self._entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    @property
    def key(self) -> bytes:
        """The HMAC key; save it (with ``head``) to verify an exported chain later."""
        return self._key

    @property
    def head(self) -> str:
        """The chain hash of the last entry, or ``GENESIS_HASH`` when the chain is empty."""
        with self._lock:
            return self._entries[-1].chain_hash if self._entries else GENESIS_HASH

    @property
    def entries(self) -> tuple[AuditEntry, ...]:
        """A snapshot of the entries, oldest first."""
        with self._lock:
            return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"AuditChain(len={len(self)}, head={self.head[:12]}…)"

    def append(self, op: WriteOp, store: str, summary: str, timestamp_ms: int | None = None) -> AuditEntry:
        """Record a successful write; ``timestamp_ms`` defaults to now (ms since the Unix epoch)."""
        if op not in _WRITE_OPS:
            raise ValueError(f"unknown audit op {op!r}: expected persist, mutate or purge")
        stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        # verify() accepts only this shape, so refuse here what would make the chain unverifiable.
        if not isinstance(store, str) or not isinstance(summary, str) or type(stamp) is not int:
            raise TypeError("store and summary must be str and timestamp_ms an int")
        with self._lock:
            previous = self._entries[-1].chain_hash if self._entries else GENESIS_HASH
            payload: dict[str, Any] = {
                "seq": len(self._entries),
                "op": op,
                "store": store,
                "summary": summary,
                "timestamp_ms": stamp,
            }
            entry = self._make_entry(payload, previous)
            self._entries.append(entry)
        return entry

    def _make_entry(self, payload: dict[str, Any], previous: str) -> AuditEntry:
        payload_hash = _sha256_hex(canonical_json(payload))
        signature = _sign(self._key, previous, payload_hash)
        chain_hash = _link(previous, payload_hash, signature)
        frozen = MappingProxyType(dict(sorted(payload.items())))
        return AuditEntry(frozen, payload_hash, previous, signature, chain_hash)

    def verify(self, expected_head: str | None = None) -> None:
        """Check every link and signature; raise ``AuditChainBroken(index, reason)`` at the first bad entry.

        Detects an edited, dropped, inserted or reordered entry, a ``seq`` gap and a wrong key. Given
        the ``head`` a caller kept earlier, a chain that verifies but ends elsewhere (a cut tail) fails
        with ``index == len(chain)``.
        """
        entries = self.entries
        previous = GENESIS_HASH
        for index, entry in enumerate(entries):
            reason = self._entry_problem(entry, index, previous)
            if reason is not None:
                raise AuditChainBroken(index, reason)
            previous = entry.chain_hash
        if expected_head is not None and not _same(previous, expected_head):
            raise AuditChainBroken(
                len(entries),
                f"the chain ends at head {previous[:16]}… but the expected head is {expected_head[:16]}… — "
                "entries were cut from the tail, or this is another chain",
            )

    def _entry_problem(self, entry: AuditEntry, index: int, previous: str) -> str | None:
        """Why ``entry`` (at ``index``, after a link ending in ``previous``) is not valid, or ``None``."""
        shape = _payload_problem(entry.payload, index)
        if shape is not None:
            return shape
        if entry.previous_hash != previous:
            return (
                "previous_hash does not match the chain hash before it "
                "(an entry was dropped, inserted or moved)"
            )
        return self._hash_problem(entry, previous)

    def _hash_problem(self, entry: AuditEntry, previous: str) -> str | None:
        """Why the entry's payload hash, signature or chain hash is wrong, or ``None``."""
        try:
            payload_hash = _sha256_hex(canonical_json(dict(entry.payload)))
        except (TypeError, ValueError):
            return "the payload cannot be written as canonical JSON"
        if entry.payload_hash != payload_hash:
            return "payload_hash does not match the payload (the payload or its hash was edited)"
        if not _same(entry.signature, _sign(self._key, previous, payload_hash)):
            return "the signature does not verify with this key (a wrong key, or a forged entry)"
        if entry.chain_hash != _link(previous, payload_hash, entry.signature):
            return "chain_hash does not match the entry's hashes (it was edited)"
        return None

    def export_jsonl(self, file: TextIO) -> None:
        """Write one JSON object per entry and line to a text file (open it with ``encoding="utf-8"``)."""
        for entry in self.entries:
            file.write(json.dumps(entry.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n")

    @classmethod
    def import_jsonl(cls, file: Iterable[str], *, key: bytes) -> AuditChain:
        """Read an exported chain; this only parses — call ``verify()`` to check it.

        Blank lines are skipped. A line that is not a JSON object with the five fields (string hashes,
        an object payload, no duplicate keys) raises ``AuditChainBroken`` with that entry's index.
        """
        entries: list[AuditEntry] = []
        for line_no, line in enumerate(file, start=1):
            if line.strip():
                entries.append(_parse_line(line, len(entries), line_no))
        return cls.from_entries(entries, key=key)

    @classmethod
    def from_entries(cls, entries: Iterable[AuditEntry], *, key: bytes) -> AuditChain:
        """A chain holding ``entries`` as given (unchecked until ``verify()``), signed with ``key``."""
        chain = cls(key)
        chain._entries = list(entries)
        return chain


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"the audit key must be bytes, not {type(key).__name__}")
    data = bytes(key)
    if not data:
        raise ValueError("the audit key must not be empty")
    return data


def _payload_problem(payload: Mapping[str, Any], index: int) -> str | None:
    """Why a payload does not have the exact shape ``append`` gives it, or ``None``."""
    if set(payload) != _PAYLOAD_KEYS:
        return f"the payload's fields are {sorted(payload)}, expected {sorted(_PAYLOAD_KEYS)}"
    seq = payload["seq"]
    if type(seq) is not int or seq != index:
        return f"seq is {seq!r}, expected {index} (an entry was dropped, inserted or moved)"
    if payload["op"] not in _WRITE_OPS:
        return f"op is {payload['op']!r}, expected persist, mutate or purge"
    if not isinstance(payload["store"], str) or not isinstance(payload["summary"], str):
        return "store and summary must be strings"
    if type(payload["timestamp_ms"]) is not int:
        return "timestamp_ms must be an integer"
    return None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _parse_line(line: str, index: int, line_no: int) -> AuditEntry:
    """One exported line as an ``AuditEntry``; ``AuditChainBroken(index, …)`` when it is not one."""
    try:
        obj = json.loads(line, object_pairs_hook=_reject_duplicates)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise AuditChainBroken(index, f"line {line_no} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != set(_LINE_KEYS):
        raise AuditChainBroken(
            index, f"line {line_no} must be an object with exactly {', '.join(_LINE_KEYS)}"
        )
    if not isinstance(obj["payload"], dict):
        raise AuditChainBroken(index, f"line {line_no}: payload must be an object")
    hashes = [obj[k] for k in _LINE_KEYS[1:]]
    if not all(isinstance(h, str) for h in hashes):
        raise AuditChainBroken(index, f"line {line_no}: the hashes and the signature must be strings")
    return AuditEntry(MappingProxyType(obj["payload"]), *hashes)
