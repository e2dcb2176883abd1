"""``next_cursor``: an opaque, signed, bound and expiring handle on the next page (pure).

A cursor carries the page position (the keyset token of the page verb) inside a body that names the
principal, the store and a hash of the query (filter, bindings, order, limit), with an expiry; an
HMAC-SHA256 over the body with the server's key seals it. A forged, altered, expired, replayed
elsewhere or other principal's cursor is ``InvalidCursor`` — the agent can only hand back what it got,
for the query it got it for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from axonstore.errors import InvalidCursor

__all__ = ["CURSOR_TTL_S", "MAX_CURSOR_LENGTH", "CursorSigner", "query_digest"]

#: How long a cursor stays valid (CONTRACT §15: 10 minutes).
CURSOR_TTL_S: Final = 600
#: The longest cursor text accepted (a keyset token of a few keys is far shorter).
MAX_CURSOR_LENGTH: Final = 4096
_VERSION: Final = 1


def query_digest(
    where: str, bindings: Mapping[str, str], order_by: str, limit: int | None, columns: tuple[str, ...]
) -> str:
    """A hash of everything that makes a page the page of one query."""
    material = _DIGESTED.encode([where, sorted(bindings.items()), order_by, limit, list(columns)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# Built once: json.dumps with options builds an encoder per call (see axonstore._json's _CANONICAL).
_DIGESTED: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class CursorSigner:
    """Issues and opens cursors with one HMAC key (random per server unless given)."""

    key: bytes
    ttl_s: int = CURSOR_TTL_S

    def issue(
        self, principal: str, store: str, digest: str, position: str, *, now: float | None = None
    ) -> str:
        """A cursor for ``position`` (the page token) of this principal's query on this store."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        body = json.dumps(
            {"v": _VERSION, "p": principal, "s": store, "q": digest, "n": position, "e": expires},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def open(self, cursor: str, principal: str, store: str, digest: str, *, now: float | None = None) -> str:
        """The page position of a cursor this server issued for exactly this principal, store and query."""
        body = self._verified(cursor)
        try:
            fields = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidCursor("it does not decode") from None
        if not isinstance(fields, dict) or fields.get("v") != _VERSION:
            raise InvalidCursor("it is not a cursor of this server")
        if fields.get("p") != principal:
            raise InvalidCursor("it was issued to another principal")
        if fields.get("s") != store:
            raise InvalidCursor("it was issued for another store")
        if fields.get("q") != digest:
            raise InvalidCursor("it was issued for another query (where, bindings, order_by or limit)")
        expires = fields.get("e")
        if type(expires) is not int or expires < (time.time() if now is None else now):
            raise InvalidCursor("it has expired (cursors last 10 minutes)")
        position = fields.get("n")
        if not isinstance(position, str):
            raise InvalidCursor("it is not a cursor of this server")
        return position

    def _verified(self, cursor: str) -> bytes:
        if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("a cursor is the `next_cursor` text a previous call returned")
        head, dot, tail = cursor.partition(".")
        if not dot:
            raise InvalidCursor("it is not a cursor of this server")
        try:
            body, mac = _unb64(head), _unb64(tail)
        except (ValueError, binascii.Error):
            raise InvalidCursor("it does not decode") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidCursor("its signature does not verify (forged or altered)")
        return body

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.key, body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
