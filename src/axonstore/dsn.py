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

import psycopg

from axonstore._text import trim
from axonstore.errors import EmptyConnection, EmptyEnvVarName, MissingEnvVar, PoolInit

__all__ = [
    "application_name",
    "mask_dsn",
    "resolve_dsn",
    "scrub_secrets",
    "url_password_problem",
    "validate_dsn",
    "without_password",
]

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
    """Where the passwords are, as non-overlapping (start, end) spans in ascending order."""
    if not _URL_SCHEME.match(dsn):
        return [m.span(2) for m in _KV_PASSWORD.finditer(dsn)]
    spans: list[tuple[int, int]] = []
    scheme_end, tail_start, userinfo_end = _url_userinfo(dsn)
    colon = dsn.find(":", scheme_end, userinfo_end) if userinfo_end != -1 else -1
    if colon != -1:
        spans.append((colon + 1, userinfo_end))
    # libpq reads it differently: to the FIRST `@` before any `/` (so `?` and `#` may be inside it).
    # Mask what either reading calls a password.
    slash = dsn.find("/", scheme_end)
    libpq_end = dsn.find("@", scheme_end, slash if slash != -1 else len(dsn))
    libpq_colon = dsn.find(":", scheme_end, libpq_end) if libpq_end != -1 else -1
    if libpq_colon != -1:
        spans.append((libpq_colon + 1, libpq_end))
    for m in _QUERY_PAIR.finditer(dsn, max(tail_start, libpq_end)):
        if unquote(m.group(2)).strip().lower() == "password":
            spans.append(m.span(3))
    return _merged(spans)


def _url_userinfo(url: str) -> tuple[int, int, int]:
    """Where a URL's authority starts, where its query/fragment starts, and where its userinfo ends.

    CONTRACT D2: the userinfo runs to the LAST ``@`` before the first ``?`` or ``#`` (-1: none).
    """
    scheme_end = url.index("://") + 3
    tail_start = min((p for p in (url.find(c, scheme_end) for c in "?#") if p != -1), default=len(url))
    return scheme_end, tail_start, url.rfind("@", scheme_end, tail_start)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def without_password(dsn: str) -> str:
    """The DSN with its password taken out entirely (a cache key: D5), unlike :func:`mask_dsn`.

    >>> without_password("postgresql://u:pw@h/db") == without_password("postgresql://u@h/db")
    True
    """
    out: list[str] = []
    last = 0
    for start, end in _secret_spans(dsn):
        head = dsn[last:start]
        if _URL_SCHEME.match(dsn) and head.endswith(":") and "@" in dsn[end : end + 1]:
            head = head[:-1]  # the userinfo's `:` goes with the password
        out.append(head)
        last = end
    out.append(dsn[last:])
    return "".join(out)


_PIECE_SEPARATORS = re.compile(r"[\s@:/?#&=]+")


def scrub_secrets(text: str, dsn: str) -> str:
    """Remove ``dsn``'s password (and its pieces, as a driver might quote them) from ``text``.

    A driver that misreads a DSN (a raw ``@`` or ``/`` in a URL password) can echo part of the password
    as a host, port or database name; every piece of 3 characters or more is removed.
    """
    for start, end in _secret_spans(dsn):
        secret = dsn[start:end]
        stripped = secret.strip("'\"")
        pieces = {secret, stripped, unquote(stripped), *_PIECE_SEPARATORS.split(stripped)}
        for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
            text = text.replace(piece, _MASK)
    return text


def url_password_problem(dsn: str) -> str | None:
    """Why libpq would misread this URL's password (a raw ``@`` or ``/`` in it), or ``None``.

    libpq ends the userinfo at the first ``@`` before any ``/``; a password holding either character
    must be percent-encoded, or the host, port or database it connects to come from the password.
    """
    if not _URL_SCHEME.match(dsn):
        return None
    scheme_end, _, userinfo_end = _url_userinfo(dsn)
    userinfo = dsn[scheme_end : max(userinfo_end, scheme_end)]
    for raw, encoded in (("@", "%40"), ("/", "%2F")):
        if raw in userinfo:
            return f"the user or password in the URL contains a raw `{raw}`: percent-encode it as `{encoded}`"
    return None


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


def validate_dsn(dsn: str) -> None:
    """Parse the DSN (URL or key/value) now, so a malformed one fails at construction, masked."""
    if not trim(dsn):
        raise PoolInit(mask_dsn(dsn), "the DSN is empty")
    problem = url_password_problem(dsn)
    if problem is not None:
        raise PoolInit(mask_dsn(dsn), problem)
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise PoolInit(mask_dsn(dsn), scrub_secrets(str(exc).strip(), dsn)) from None
