"""Connection strings: ``env:VAR`` resolution, password masking and ``application_name``.

Example::

    >>> mask_dsn("postgresql://app:s3cret@db:5432/claims")
    'postgresql://app:***@db:5432/claims'
    >>> application_name("claims", "tenant_42")
    'axon-store/claims/tenant_42'
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from axonstore._text import trim
from axonstore.errors import EmptyConnection, EmptyEnvVarName, MissingEnvVar

__all__ = ["application_name", "mask_dsn", "resolve_dsn", "scrub_secrets"]

_ENV_PREFIX = "env:"
_MASK = "***"
_APP_NAME_MAX_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# libpq key/value: `password = value`, the value single-quoted (backslash escapes) or a run of non-space.
# Bare words after an unquoted value that are not themselves `key=` (libpq would reject them) are taken
# as part of the password too: `password=sec ret` must not leak `ret` through a parser message.
_KV_PASSWORD = re.compile(
    r"(?i)(?<![\w.])(password\s*=\s*)('(?:\\.|[^'\\])*'?|\S*(?:\s+(?![^\s=]+\s*=)[^\s=]+)*)"
)
_QUERY_PAIR = re.compile(r"([?&;])([^=&#;]*)=([^&#;]*)")


def resolve_dsn(connection: str) -> str:
    """Turn a store's ``connection`` into a DSN: a literal DSN, or ``env:VAR`` read from the environment.

    Raises ``EmptyConnection``, ``EmptyEnvVarName`` or ``MissingEnvVar``. The DSN is not validated here.

    >>> resolve_dsn("  postgresql://h/db  ")
    'postgresql://h/db'
    """
    conn = trim(connection)
    if not conn:
        raise EmptyConnection()
    if not conn.startswith(_ENV_PREFIX):
        return conn
    var = trim(conn[len(_ENV_PREFIX) :])
    if not var:
        raise EmptyEnvVarName()
    value = os.environ.get(var)
    if value is None:
        raise MissingEnvVar(var)
    return value


def mask_dsn(dsn: str) -> str:
    """Replace every password in a DSN with ``***`` (URL userinfo, URL query, key/value).

    >>> mask_dsn("host=h user=u password='a b' dbname=d")
    'host=h user=u password=*** dbname=d'
    >>> mask_dsn("postgresql://user@host/db")
    'postgresql://user@host/db'
    """
    out: list[str] = []
    last = 0
    for start, end in _secret_spans(dsn):
        out.append(dsn[last:start])
        out.append(_MASK)
        last = end
    out.append(dsn[last:])
    return "".join(out)


def _secret_spans(dsn: str) -> list[tuple[int, int]]:
    """Where the passwords are, as (start, end) spans in ascending order."""
    if not _URL_SCHEME.match(dsn):
        return [m.span(2) for m in _KV_PASSWORD.finditer(dsn)]
    spans: list[tuple[int, int]] = []
    scheme_end = dsn.index("://") + 3
    tail_start = min((p for p in (dsn.find(c, scheme_end) for c in "?#") if p != -1), default=len(dsn))
    userinfo_end = dsn.rfind("@", scheme_end, tail_start)
    colon = dsn.find(":", scheme_end, userinfo_end) if userinfo_end != -1 else -1
    if colon != -1:
        spans.append((colon + 1, userinfo_end))
    for m in _QUERY_PAIR.finditer(dsn, tail_start):
        if unquote(m.group(2)).strip().lower() == "password":
            spans.append(m.span(3))
    return spans


def scrub_secrets(text: str, dsn: str) -> str:
    """Remove ``dsn``'s password (and its pieces, as a driver might quote them) from ``text``.

    Driver messages about a malformed DSN can echo fragments of it; this keeps them out of errors.
    """
    for start, end in _secret_spans(dsn):
        secret = dsn[start:end]
        stripped = secret.strip("'\"")
        pieces = {secret, stripped, unquote(stripped), *stripped.split()}
        for piece in sorted((p for p in pieces if len(p) >= 2), key=len, reverse=True):
            text = text.replace(piece, _MASK)
    return text


def application_name(store: str = "", namespace: str | None = None) -> str:
    """``axon-store[/<store>][/<namespace>]``, cut to 63 bytes on a UTF-8 character boundary.

    >>> application_name()
    'axon-store'
    >>> application_name("claims")
    'axon-store/claims'
    """
    full = "axon-store" if not store else f"axon-store/{store}"
    if namespace:
        full = f"{full}/{namespace}"
    encoded = full.encode("utf-8")
    if len(encoded) <= _APP_NAME_MAX_BYTES:
        return full
    return encoded[:_APP_NAME_MAX_BYTES].decode("utf-8", errors="ignore")
