"""Secrets: a password never shows up in an error, a repr, ``masked_dsn()`` or a log record.

For every DSN shape of CONTRACT D2 — a URL whose password holds ``@`` (percent-encoded, as libpq needs)
or ``:``, key/value ``password=`` unquoted and quoted, ``password=`` in a URL's query string — a role
with a password made of unique markers runs operations that succeed and operations that fail in each
way a DSN can reach a message: a malformed DSN (``PoolInit``), an unreachable server (``Connect``), an
unknown table (``TableNotResolved``) and a bad value (``Query``). Every text those produce is searched
for every marker. The server trusts every login, so any password connects.

Beyond D2's shapes: a URL password with a raw ``?`` or ``#`` (libpq accepts and connects with it), and
one with a raw ``@`` or ``/`` (libpq misreads it: host or port taken from the password).
"""

from __future__ import annotations

import asyncio
import dataclasses
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from axonstore import Connect, PoolInit, PostgresStoreBackend, Query, StoreError, TableNotResolved
from axonstore.dsn import mask_dsn
from tests.backend_faults import (
    RecordSink,
    capture_logs,
    closed_port,
    only_unnamed_parses,  # noqa: F401 (an autouse fixture)
    render_record,
)

_TIMEOUT = 10.0


@dataclass
class _Secret:
    role: str
    markers: tuple[str, ...]
    password: str

    def leaks(self, text: str) -> list[str]:
        return [m for m in self.markers if m in text]


@dataclass(frozen=True)
class _Shape:
    """One way to write a DSN with a password: ``build(host, port, role, password)``."""

    name: str
    separator: str  # what joins the two markers of the password ("" for a single marker)
    build: Callable[[str, int, str, str], str]
    #: the same DSN broken so that libpq's parser rejects it
    malformed: Callable[[str, _Secret], str]
    #: whether libpq's message about the broken DSN quotes (part of) the password
    echoed: bool = True


def _url(host: str, port: int, role: str, password: str) -> str:
    return f"postgresql://{role}:{quote(password, safe='')}@{host}:{port}/postgres?sslmode=disable"


def _url_colon(host: str, port: int, role: str, password: str) -> str:
    return f"postgresql://{role}:{password}@{host}:{port}/postgres?sslmode=disable"  # ':' needs no escape


def _url_query(host: str, port: int, role: str, password: str) -> str:
    return f"postgresql://{role}@{host}:{port}/postgres?password={quote(password)}&sslmode=disable"


def _kv(host: str, port: int, role: str, password: str) -> str:
    return f"host={host} port={port} user={role} password={password} dbname=postgres sslmode=disable"


def _kv_quoted(host: str, port: int, role: str, password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return f"host={host} port={port} user={role} password = '{escaped}' dbname=postgres sslmode=disable"


def _bad_percent(dsn: str, _: _Secret) -> str:
    """An invalid %-escape at the end of the password: libpq's message quotes the whole token."""
    end = dsn.index("&", dsn.index("password=")) if "password=" in dsn else dsn.rindex("@")
    return f"{dsn[:end]}%zz{dsn[end:]}"


def _doubled(dsn: str, secret: _Secret) -> str:
    """``password=Mk… Mk…``: libpq takes the second word for a key and says `missing "=" after "Mk…"`."""
    return dsn.replace(f"password={secret.password}", f"password={secret.password} {secret.password}")


def _unquoted(dsn: str, secret: _Secret) -> str:
    """The quotes forgotten around a password with a space: `missing "=" after "<second half>"`."""
    return dsn.replace(f"'{secret.password}'", secret.password)


def _unterminated(dsn: str, _: _Secret) -> str:
    """The closing quote forgotten: the rest of the string is the (unterminated) password."""
    return dsn.replace("' dbname=", " dbname=")


SHAPES = [
    _Shape("url-percent-encoded-at", "@", _url, _bad_percent),
    _Shape("url-colon", ":", _url_colon, _bad_percent),
    _Shape("url-query", "", _url_query, _bad_percent),
    _Shape("kv-unquoted", "", _kv, _doubled),
    _Shape("kv-quoted-space", " ", _kv_quoted, _unquoted),
    _Shape("kv-quoted-quote", "'", _kv_quoted, _unterminated, echoed=False),
]


def _new_secret(separator: str) -> _Secret:
    markers = (
        (f"Mk{uuid.uuid4().hex[:10]}",)
        if not separator
        else tuple(f"Mk{uuid.uuid4().hex[:10]}" for _ in range(2))
    )
    return _Secret(f"r_{uuid.uuid4().hex[:10]}", markers, separator.join(markers))


@pytest.fixture
def table(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    admin.execute(f"CREATE TABLE public.{unique_name} (id text PRIMARY KEY, n int4)".encode())
    yield unique_name
    admin.execute(f"DROP TABLE IF EXISTS public.{unique_name}".encode())


def _create_role(admin: psycopg.Connection[Any], secret: _Secret, table: str) -> None:
    role = sql.Identifier(secret.role)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(secret.password)))
    admin.execute(sql.SQL("GRANT ALL ON public.{} TO {}").format(sql.Identifier(table), role))


def _drop_role(admin: psycopg.Connection[Any], secret: _Secret, table: str) -> None:
    role = sql.Identifier(secret.role)
    admin.execute(sql.SQL("REVOKE ALL ON public.{} FROM {}").format(sql.Identifier(table), role))
    admin.execute(sql.SQL("DROP ROLE {}").format(role))


def _texts_of(error: BaseException) -> list[str]:
    """Everything an error shows: its traceback (with causes), repr, args and every field, down BOTH
    chains — ``__cause__`` and ``__context__``, even when ``from None`` hides the context from a
    traceback (a debugger, a logging framework or ``exc.__context__`` still reach it: issue 18 §2)."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *map(repr, current.args)]
        texts += ["".join(traceback.format_exception(current))]
        if isinstance(current, StoreError):  # a dataclass: its fields are public attributes
            texts += [repr(getattr(current, f.name)) for f in dataclasses.fields(current)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


def _assert_clean(secret: _Secret, what: str, texts: list[str]) -> None:
    for text in texts:
        assert not secret.leaks(text), f"{what} leaks the password: {text!r}"


def _assert_logs_clean(secret: _Secret, sink: RecordSink, *, expect_records: bool = True) -> None:
    assert sink.records or not expect_records, "nothing was logged: the capture is not wired"
    for record in sink.records:
        _assert_clean(secret, f"log record of {record.name}", [render_record(record)])


async def _run_ops(dsn: str, table: str, secret: _Secret) -> list[StoreError]:
    """Operations that succeed, then the three failures a reachable server can give."""
    errors: list[StoreError] = []
    async with PostgresStoreBackend.connect_named_sized(dsn, "secrets", None, 2) as backend:
        _assert_clean(secret, "repr(backend)", [repr(backend), str(backend), backend.masked_dsn()])
        assert await backend.insert(table, {"id": "a", "n": 1}) == 1
        assert await backend.query(table, "id = '${id}'", {"id": "a"}) == [{"id": "a", "n": 1}]
        assert (await backend.stream_retrieve(table)).rows == [{"id": "a", "n": 1}]
        await backend.ping()
        async with backend.acquire_pin() as pin:
            _assert_clean(secret, "repr(pin)", [repr(pin)])
            assert await backend.purge(table, "id = 'a'", conn=pin) == 1
        with pytest.raises(TableNotResolved) as unknown:
            await backend.query(f"{table}_nope")
        with pytest.raises(Query) as bad_value:
            await backend.insert(table, {"id": "b", "n": "not a number"})
        errors += [unknown.value, bad_value.value]
    return errors


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
async def test_no_password_in_errors_reprs_or_logs(
    shape: _Shape, direct_dsn: str, admin: psycopg.Connection[Any], table: str
) -> None:
    host, port = _host_port(direct_dsn)
    secret = _new_secret(shape.separator)
    dsn = shape.build(host, port, secret.role, secret.password)
    assert conninfo_to_dict(dsn)["password"] == secret.password  # the shape says what we think it says
    _create_role(admin, secret, table)
    try:
        with capture_logs() as sink:
            errors = await _run_ops(dsn, table, secret)
            broken = shape.malformed(dsn, secret)
            with pytest.raises(psycopg.ProgrammingError) as libpq:
                conninfo_to_dict(broken)
            if shape.echoed:  # so the scrubbing of driver messages is really exercised
                assert secret.leaks(str(libpq.value)), f"libpq did not quote the password: {libpq.value}"
            with pytest.raises(PoolInit) as malformed:
                PostgresStoreBackend.connect_named(broken, "secrets")
            errors.append(malformed.value)
    finally:
        _drop_role(admin, secret, table)
    assert [type(e) for e in errors] == [TableNotResolved, Query, PoolInit]
    for error in errors:
        _assert_clean(secret, type(error).__name__, _texts_of(error))
    _assert_clean(secret, "masked_dsn of the malformed DSN", [malformed.value.dsn_masked])
    _assert_logs_clean(secret, sink)
    logged = {r.name for r in sink.records}
    assert {"axonstore.store.resolve", "axonstore.store.pin", "psycopg", "psycopg.pool"} <= logged, logged


async def test_no_password_when_the_server_is_unreachable() -> None:
    """Every shape at once (each waits out the 5 s acquire timeout): ``Connect``, masked, in the logs too."""
    port = closed_port()
    secrets = [_new_secret(shape.separator) for shape in SHAPES]
    dsns = [
        shape.build("127.0.0.1", port, s.role, s.password) for shape, s in zip(SHAPES, secrets, strict=True)
    ]
    with capture_logs() as sink:
        results = await asyncio.gather(*(_fail_to_connect(dsn) for dsn in dsns), return_exceptions=True)
    for shape, secret, result in zip(SHAPES, secrets, results, strict=True):
        assert isinstance(result, list), f"{shape.name}: {result!r}"
        assert all(isinstance(e, Connect) for e in result), f"{shape.name}: {result!r}"
        for error in result:
            assert isinstance(error, Connect), f"{shape.name}: {error!r}"
            _assert_clean(secret, f"{shape.name}: Connect", _texts_of(error))
        _assert_logs_clean(secret, sink)
    assert any(r.name == "psycopg.pool" and r.levelname == "WARNING" for r in sink.records), (
        "the pool's failed connection attempts were not captured"
    )


async def _fail_to_connect(dsn: str) -> list[object]:
    """A query and a ping at once; what each returned or raised."""
    async with PostgresStoreBackend.connect_named_sized(dsn, "secrets", None, 2) as backend:
        query = asyncio.wait_for(backend.query("anything"), _TIMEOUT)
        ping = asyncio.wait_for(backend.ping(), _TIMEOUT)
        return [*await asyncio.gather(query, ping, return_exceptions=True)]


@pytest.mark.parametrize("separator", ["@", "/"], ids=["at-sign", "slash"])
async def test_no_password_from_a_raw_at_or_slash_in_a_url_password(separator: str, direct_dsn: str) -> None:
    """``postgresql://u:Mk1@Mk2@host/db`` and ``postgresql://u:Mk1/Mk2@host/db``: D2 masks everything up
    to the LAST ``@`` as the password, but libpq reads these differently (host ``Mk2@host``; host ``u``,
    port ``Mk1``, dbname ``Mk2@host…``), so the connection cannot work. Whatever happens instead (a
    refusal to build, or a failed connection), no error and no log record may show a piece of it."""
    host, port = _host_port(direct_dsn)
    secret = _new_secret(separator)
    dsn = f"postgresql://{secret.role}:{secret.password}@{host}:{port}/postgres?sslmode=disable"
    assert "***@" in mask_dsn(dsn) and not secret.leaks(mask_dsn(dsn))
    assert conninfo_to_dict(dsn).get("password") != secret.password  # libpq misreads it
    errors: list[StoreError] = []
    with capture_logs() as sink:
        try:
            async with PostgresStoreBackend.connect_named_sized(dsn, "secrets", None, 2) as backend:
                await asyncio.wait_for(backend.query("anything"), _TIMEOUT)
        except StoreError as exc:
            errors.append(exc)
    assert errors, "a DSN that libpq misreads cannot have worked"
    for error in errors:
        _assert_clean(secret, type(error).__name__, _texts_of(error))
    _assert_logs_clean(secret, sink, expect_records=False)  # refused before any I/O: maybe no records


def _host_port(dsn: str) -> tuple[str, int]:
    params = conninfo_to_dict(dsn)
    return str(params["host"]), int(str(params["port"]))


@pytest.mark.parametrize("separator", ["?", "#"], ids=["question-mark", "hash"])
async def test_no_password_from_a_raw_query_or_fragment_character_in_a_url_password(
    separator: str, direct_dsn: str, admin: psycopg.Connection[Any], table: str
) -> None:
    """``postgresql://u:Mk1?Mk2@host/db`` is a DSN libpq accepts and connects with (its userinfo ends at
    the first ``@`` before any ``/``, so ``Mk1?Mk2`` is the password): it must be masked like any other."""
    host, port = _host_port(direct_dsn)
    secret = _new_secret(separator)
    dsn = f"postgresql://{secret.role}:{secret.password}@{host}:{port}/postgres?sslmode=disable"
    assert conninfo_to_dict(dsn)["password"] == secret.password
    _create_role(admin, secret, table)
    try:
        with capture_logs() as sink:
            errors = await _run_ops(dsn, table, secret)
    finally:
        _drop_role(admin, secret, table)
    for error in errors:
        _assert_clean(secret, type(error).__name__, _texts_of(error))
    _assert_logs_clean(secret, sink)


@pytest.mark.parametrize(
    "padding", [" ", "\n", " \t", "\u3000"], ids=["space", "newline", "tab", "ideographic"]
)
async def test_a_padded_env_dsn_connects_and_stays_masked(
    padding: str, direct_dsn: str, admin: psycopg.Connection[Any], table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 §2: ``" postgresql://u:PW@h/db"`` in an environment variable was refused by libpq and
    printed unmasked. The value is trimmed: it connects, and every text shows it masked."""
    host, port = _host_port(direct_dsn)
    secret = _new_secret("")
    monkeypatch.setenv(
        "AXON_T_PADDED_DSN", padding + _url(host, port, secret.role, secret.password) + padding
    )
    _create_role(admin, secret, table)
    try:
        with capture_logs() as sink:
            errors = await _run_ops("env:AXON_T_PADDED_DSN", table, secret)
            backend = PostgresStoreBackend.connect_named("env:AXON_T_PADDED_DSN", "secrets")
            async with backend:
                await asyncio.wait_for(backend.ping(), _TIMEOUT)
    finally:
        _drop_role(admin, secret, table)
    assert [type(e) for e in errors] == [TableNotResolved, Query]
    for error in errors:
        _assert_clean(secret, type(error).__name__, _texts_of(error))
    _assert_clean(secret, "repr", [repr(backend), backend.masked_dsn()])
    assert backend.masked_dsn().startswith("postgresql://") and "***@" in backend.masked_dsn()
    _assert_logs_clean(secret, sink)
