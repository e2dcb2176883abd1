"""The audit chain: an HMAC-signed hash chain of the writes made through a registry (ANCHOR §9.2).

``payload_hash = sha256(canonical_json(payload))``, ``signature = HMAC-SHA256(key, prev|payload_hash)``,
``chain_hash = sha256(prev|payload_hash|signature)``; the first ``prev`` is :data:`GENESIS_HASH`. Pure: no
I/O but the text files a caller hands to :meth:`AuditChain.export_jsonl` / :meth:`AuditChain.import_jsonl`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TextIO

from axonstore._json import canonical_json
from axonstore.errors import AuditChainBroken

__all__ = ["GENESIS_HASH", "AuditChain", "AuditEntry", "summary_for"]

#: The ``previous_hash`` of the first audit entry.
GENESIS_HASH = "0" * 64

WriteOp = Literal["persist", "mutate", "purge"]
_WRITE_OPS: frozenset[str] = frozenset(("persist", "mutate", "purge"))
# An MCP tool call (CONTRACT §15): ``mcp.<tool>``, recorded with the principal and the outcome.
_MCP_OP = re.compile(r"mcp\.[A-Za-z0-9_.-]{1,128}")


def summary_for(op: str, store: str, n: int) -> str:
    """The audit summary of a successful write: ``persisted 3 row(s) to `claims``` and so on."""
    if op == "persist":
        return f"persisted {n} row(s) to `{store}`"
    if op == "mutate":
        return f"mutated {n} row(s) in `{store}`"
    if op == "purge":
        return f"purged {n} row(s) from `{store}`"
    raise ValueError(f"unknown audit op {op!r}: expected persist, mutate or purge")


#: Deeper than any export (2) and far below the parser's recursion limit; brackets inside strings count
#: too, which only makes the bound stricter for text no export holds.
_MAX_LINE_DEPTH = 32
_PAYLOAD_KEYS = frozenset(("seq", "op", "store", "summary", "timestamp_ms"))
_MCP_PAYLOAD_KEYS = _PAYLOAD_KEYS | {"principal", "outcome"}
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
    return hmac.digest(key, f"{previous}|{payload_hash}".encode(), "sha256").hex()  # one C call


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also accepts any text an edited import may hold (non-ASCII, and lone
    surrogates, which ``json.loads`` produces from ``"\\ud800"`` and UTF-8 cannot encode)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


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
        return self._append({"op": op, "store": store, "summary": summary}, timestamp_ms)

    def append_call(
        self,
        op: str,
        store: str,
        summary: str,
        *,
        principal: str,
        outcome: str,
        timestamp_ms: int | None = None,
    ) -> AuditEntry:
        """Record an MCP tool call (CONTRACT §15): ``op`` is ``mcp.<tool>``, ``outcome`` is ``ok`` or
        the error class; refusals and failures are recorded too."""
        if not isinstance(op, str) or _MCP_OP.fullmatch(op) is None:
            raise ValueError(f"unknown audit op {op!r}: expected mcp.<tool>")
        if not isinstance(principal, str) or not isinstance(outcome, str):
            raise TypeError("principal and outcome must be str")
        fields = {"op": op, "store": store, "summary": summary, "principal": principal, "outcome": outcome}
        return self._append(fields, timestamp_ms)

    def _append(self, fields: dict[str, Any], timestamp_ms: int | None) -> AuditEntry:
        stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        # verify() accepts only this shape, so refuse here what would make the chain unverifiable.
        if (
            not isinstance(fields["store"], str)
            or not isinstance(fields["summary"], str)
            or type(stamp) is not int
        ):
            raise TypeError("store and summary must be str and timestamp_ms an int")
        with self._lock:
            previous = self._entries[-1].chain_hash if self._entries else GENESIS_HASH
            payload: dict[str, Any] = {"seq": len(self._entries), **fields, "timestamp_ms": stamp}
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
    op = payload.get("op")
    is_mcp = isinstance(op, str) and _MCP_OP.fullmatch(op) is not None
    expected = _MCP_PAYLOAD_KEYS if is_mcp else _PAYLOAD_KEYS
    if set(payload) != expected:
        return f"the payload's fields are {sorted(payload)}, expected {sorted(expected)}"
    seq = payload["seq"]
    if type(seq) is not int or seq != index:
        return f"seq is {seq!r}, expected {index} (an entry was dropped, inserted or moved)"
    if not is_mcp and (not isinstance(op, str) or op not in _WRITE_OPS):
        return f"op is {op!r}, expected persist, mutate, purge or mcp.<tool>"
    texts = ("store", "summary", "principal", "outcome") if is_mcp else ("store", "summary")
    if not all(isinstance(payload[key], str) for key in texts):
        return f"{', '.join(texts)} must be strings"
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
    problem = _text_problem(line)
    if problem is not None:
        raise AuditChainBroken(index, f"line {line_no} {problem}")
    try:
        obj = json.loads(line, object_pairs_hook=_reject_duplicates)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        reason = f"line {line_no} is not valid JSON: {exc}"
    except RecursionError:
        reason = f"line {line_no} nests deeper than JSON can be read"
    else:
        return _entry_of(obj, index, line_no)
    raise AuditChainBroken(index, reason)  # outside the except: no parser exception in __context__


def _text_problem(line: str) -> str | None:
    """Why a line is not text an audit export can hold, or ``None`` (checked before parsing)."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, read with errors="surrogateescape"
        return "is not valid UTF-8 text"
    depth = 0
    for ch in line:  # an export nests 2 deep; refuse deep nesting before the parser recurses on it
        if ch in "[{":
            depth += 1
            if depth > _MAX_LINE_DEPTH:
                return f"nests more than {_MAX_LINE_DEPTH} levels deep (an export nests 2)"
        elif ch in "]}":
            depth -= 1
    return None


def _entry_of(obj: object, index: int, line_no: int) -> AuditEntry:
    """A parsed line as an ``AuditEntry``; ``AuditChainBroken(index, …)`` when its shape is wrong."""
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
