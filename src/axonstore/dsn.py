"""Connection strings: ``env:VAR`` resolution, password masking and ``application_name``.

Example::

    >>> mask_dsn("postgresql://app:s3cret@db:5432/claims")
    'postgresql://app:***@db:5432/claims'
    >>> application_name("claims", "tenant_42")
    'axon-store/claims/tenant_42'
"""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import unquote

import psycopg

from axonstore._text import WHITE_SPACE_CLASS, trim
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

# Leading white space is allowed before the scheme: libpq refuses such a URL, but it must still be masked.
_URL_SCHEME = re.compile(rf"^[{WHITE_SPACE_CLASS}]*[A-Za-z][A-Za-z0-9+.\-]*://")
# D18: in text that is neither a URL nor key/value, every run from a `:` to the next `@` may be a password.
_COLON_TO_AT = re.compile(r":([^@]*)@")
# libpq key/value: `password = value`, the value single-quoted (backslash escapes) or a run of non-space.
# Whatever is glued to a quoted value (`'ab'cd`), and bare words after the value that are not themselves
# `key=` (libpq rejects both, quoting them), are taken as part of the password too: `password=sec ret`
# must not leak `ret` through a parser message.
_KV_PASSWORD = re.compile(
    r"(?i)(?<![\w.])(password\s*=\s*)((?:'(?:\\.|[^'\\])*'?|[^\s'])*(?:\s+(?![^\s=]+\s*=)[^\s=]+)*)"
)
# A URL query pair as libpq reads it: only `&` separates pairs (`#` and `;` are part of a value), and a
# following `&word` with no `=` (which libpq refuses, quoting it) is taken as part of the value.
_QUERY_PAIR = re.compile(r"([?&])([^=&]*)=([^&]*(?:&[^=&]*(?=&|$))*)")


def resolve_dsn(connection: str) -> str:
    """Turn a store's ``connection`` into a DSN: a literal DSN, or ``env:VAR`` read from the environment.

    Raises ``EmptyConnection``, ``EmptyEnvVarName`` or ``MissingEnvVar``. The DSN is not validated here.

    >>> resolve_dsn("  postgresql://h/db  ")
    'postgresql://h/db'
    """
    _require_str(connection)
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
    # Trimmed like a literal DSN: a value pasted with a leading space or a trailing newline is a DSN
    # libpq refuses, and untrimmed it reads as neither a URL nor key/value text.
    return trim(value)


def _require_str(connection: object) -> None:
    """A connection of another type is a ``StoreError`` at the public edge, never a ``TypeError``.

    Only its type is shown: its value (``bytes`` of a DSN, say) may hold a password.
    """
    if not isinstance(connection, str):
        shown = f"<{type(connection).__name__}>"
        raise PoolInit(shown, f"the connection must be a str (a DSN or `env:VARNAME`), not {shown}")


def mask_dsn(dsn: str) -> str:
    """Replace every password in a DSN with ``***`` (URL userinfo, URL query, key/value).

    Text that parses as neither a URL nor key/value (a mistyped scheme) is masked conservatively
    (CONTRACT D18): every run between a ``:`` and the next ``@`` becomes ``***``.

    >>> mask_dsn("host=h user=u password='a b' dbname=d")
    'host=h user=u password=*** dbname=d'
    >>> mask_dsn("postgresql://user@host/db")
    'postgresql://user@host/db'
    >>> mask_dsn("postgresql//app:S3cr3t@127.0.0.1/db")
    'postgresql//app:***@127.0.0.1/db'
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
        spans = [m.span(2) for m in _KV_PASSWORD.finditer(dsn)]
        if not _is_key_value(dsn):
            spans += [m.span(1) for m in _COLON_TO_AT.finditer(dsn) if m.end(1) > m.start(1)]
        return _merged(spans)
    spans = []
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


@functools.lru_cache(maxsize=64)
def _is_key_value(dsn: str) -> bool:
    """Whether libpq reads ``dsn`` as key/value text (cached: masking runs on every logged message)."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return False
    return True


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
        if head.endswith(":") and "@" in dsn[end : end + 1]:
            head = head[:-1]  # the userinfo's `:` goes with the password
        out.append(head)
        last = end
    out.append(dsn[last:])
    return "".join(out)


_PIECE_SEPARATORS = re.compile(r"[\s@:/?#&='\"%\\]+")
_QUOTED = re.compile(r'"([^"]+)"')


def scrub_secrets(text: str, dsn: str) -> str:
    """Remove ``dsn``'s password (and its pieces, as a driver might quote them) from ``text``.

    Three passes, because a short password (``pw``) cannot be searched for as a piece of free text:
    a quoted run of the DSN (libpq's ``missing "=" after "app:pw@h/db"``) that covers a password is
    shown masked; the whole DSN (and its trimmed form) is replaced by its masked form; and a driver
    that misreads a DSN (a raw ``@`` or ``/`` in a URL password) can echo part of the password as a
    host, port or database name, so every piece of 3 characters or more is removed.
    """
    spans = _secret_spans(dsn)
    if not spans:
        return text
    for whole in sorted({dsn, trim(dsn)}, key=len, reverse=True):
        if whole:
            text = text.replace(whole, mask_dsn(whole))
    text = _QUOTED.sub(lambda m: f'"{_masked_quote(m.group(1), dsn, spans)}"', text)
    for start, end in spans:
        secret = dsn[start:end]
        stripped = secret.strip("'\"")
        pieces = {secret, stripped, unquote(stripped), *_PIECE_SEPARATORS.split(stripped)}
        for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
            text = text.replace(piece, _MASK)
    return text


def _masked_quote(quoted: str, dsn: str, spans: list[tuple[int, int]]) -> str:
    """``quoted`` masked where it is a run of ``dsn`` that overlaps a password (else unchanged)."""
    at = dsn.find(quoted)
    while at != -1:
        end = at + len(quoted)
        overlapping = [(max(s, at), min(e, end)) for s, e in spans if s < end and e > at]
        if overlapping:
            out: list[str] = []
            last = at
            for start, stop in overlapping:
                out += [dsn[last:start], _MASK]
                last = stop
            out.append(dsn[last:end])
            return "".join(out)
        at = dsn.find(quoted, at + 1)
    return quoted


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
    """Parse the DSN (URL or key/value) now, so a malformed one fails at construction, masked.

    The ``PoolInit`` carries no driver exception in ``__cause__`` or ``__context__``: libpq's message
    quotes the DSN (``invalid percent-encoded token: "pw%zz"``), so only its scrubbed text is kept.
    """
    _require_str(dsn)
    if not trim(dsn):
        raise PoolInit(mask_dsn(dsn), "the DSN is empty")
    problem = url_password_problem(dsn) or _scheme_problem(dsn) or _parse_problem(dsn)
    if problem is not None:
        raise PoolInit(mask_dsn(dsn), problem)


# `postgresql//…`, `postgresql:/…`, `postgres:…`: a URL scheme without its `://` (CONTRACT D18's shapes).
_BROKEN_SCHEME = re.compile(r"^(postgres(?:ql)?)(?://|:/(?!/)|:(?!//))", re.IGNORECASE)


def _scheme_problem(dsn: str) -> str | None:
    """A mistyped URL scheme, said plainly (libpq would report a missing `=` of key/value text)."""
    match = _BROKEN_SCHEME.match(dsn)
    if match is None:
        return None
    return f"the URL scheme `{match.group(1)}` must be followed by `://` (write `{match.group(1)}://user@host/db`)"


def _parse_problem(dsn: str) -> str | None:
    """libpq's reason for refusing ``dsn``, scrubbed of its password, or ``None`` when it parses."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        # Returned, not raised from here: an exception raised in this block would keep `exc` (and the
        # password in its text) as its `__context__`, even `from None`.
        reason = scrub_secrets(str(exc).strip(), dsn)
    else:
        return None
    if trim(dsn) != dsn and _parse_problem(trim(dsn)) is None:
        return "the DSN starts or ends with white space: remove it"
    return reason
