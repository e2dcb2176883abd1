"""DSN resolution, masking (D2) and application_name (ANCHOR §1, §2.4)."""

from __future__ import annotations

import pytest

from axonstore.dsn import application_name, mask_dsn, resolve_dsn, scrub_secrets, validate_dsn
from axonstore.errors import EmptyConnection, EmptyEnvVarName, MissingEnvVar, PoolInit, UnknownColumn


def test_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_T_X", "  postgresql://h/db ")
    monkeypatch.setenv("AXON_T_EMPTY", "")
    monkeypatch.delenv("AXON_NOPE_VAR", raising=False)
    assert resolve_dsn("  postgresql://h/db  ") == "postgresql://h/db"
    assert resolve_dsn(" env:AXON_T_X ") == "postgresql://h/db"  # trimmed like a literal DSN
    assert resolve_dsn("env: AXON_T_X") == "postgresql://h/db"
    assert resolve_dsn("env:AXON_T_EMPTY") == ""
    assert resolve_dsn("ENV:AXON_T_X") == "ENV:AXON_T_X"  # the prefix is case-sensitive
    assert resolve_dsn("\u3000postgresql://h/db\u2003") == "postgresql://h/db"
    for blank in ("", "   ", "\u3000"):
        with pytest.raises(EmptyConnection):
            resolve_dsn(blank)
    for bare in ("env:", "env:   "):
        with pytest.raises(EmptyEnvVarName):
            resolve_dsn(bare)
    with pytest.raises(MissingEnvVar) as raised:
        resolve_dsn("env:AXON_NOPE_VAR")
    assert raised.value.var == "AXON_NOPE_VAR"


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://user:fakecred0@localhost:5432/axon", "postgresql://user:***@localhost:5432/axon"),
        ("postgresql://u:p@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("postgresql://host/db", "postgresql://host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgres://u:p@ss@host/db", "postgres://u:***@host/db"),
        ("postgres://u:p:a:ss@host/db", "postgres://u:***@host/db"),
        ("host=h user=u password=secret dbname=d", "host=h user=u password=*** dbname=d"),
        ("host=h password = 'se cr\\'et' dbname=d", "host=h password = *** dbname=d"),
        ("PASSWORD=x host=h", "PASSWORD=*** host=h"),
        (
            "postgresql://u:p@h/db?sslmode=require&password=leak",
            "postgresql://u:***@h/db?sslmode=require&password=***",
        ),
        ("postgresql://h/db?password=leak#frag", "postgresql://h/db?password=***"),  # libpq: no fragments
        ("postgresql://h/db?password=le&ak&x=1", "postgresql://h/db?password=***&x=1"),
        ("postgresql://h/db?pass%77ord=leak", "postgresql://h/db?pass%77ord=***"),
        ("postgresql://u:p@h/db?x=a@b", "postgresql://u:***@h/db?x=a@b"),
        ("not a dsn", "not a dsn"),
        # D18: neither a URL nor key/value — every `:`…`@` run is masked
        ("postgresql//app:S3cr3t@127.0.0.1/db", "postgresql//app:***@127.0.0.1/db"),
        ("postgresql:/app:S3cr3t@h/db", "postgresql:***@h/db"),
        ("app:S3cr3t@h/db", "app:***@h/db"),
        ("postgres ql://u:pw@h/db", "postgres ql:***@h/db"),
        ("postgresql//u:pw@[::1]:5432/db", "postgresql//u:***@[::1]:5432/db"),
        ("a:one@b:two@c", "a:***@b:***@c"),
        ("host=h user=u:x@y", "host=h user=u:x@y"),  # valid key/value: a `:` in a user name is no secret
        # leading white space before a URL (libpq refuses it, so it is shown in PoolInit)
        (" postgresql://u:PW@h/db", " postgresql://u:***@h/db"),
        ("\npostgresql://u:PW@h/db\n", "\npostgresql://u:***@h/db\n"),
        ("postgresql://u:PW8 x@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:PW10%zz@h/db", "postgresql://u:***@h/db"),
    ],
)
def test_mask(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("postgresql://u:hunter2pass@h/db", "hunter2pass"),
        ("postgres://u:p@ss@host/db", "p@ss"),
        ("host=h password=sec ret dbname=d", "ret"),
        ("postgresql://u@h/db?password=topsecret", "topsecret"),
    ],
)
def test_masked_and_scrubbed_text_never_holds_the_password(dsn: str, secret: str) -> None:
    assert secret not in mask_dsn(dsn)
    assert secret not in scrub_secrets(f'driver said: bad "{secret}" near {dsn}', dsn)


@pytest.mark.parametrize(
    ("store", "namespace", "expected"),
    [
        ("claims", None, "axon-store/claims"),
        ("", None, "axon-store"),
        ("claims", "tenant_42", "axon-store/claims/tenant_42"),
        ("claims", "", "axon-store/claims"),
        ("", "tenant_42", "axon-store/tenant_42"),
        ("claims", "introspect", "axon-store/claims/introspect"),
        ("s" * 200, None, "axon-store/" + "s" * 52),
        ("é" * 100, None, "axon-store/" + "é" * 26),
        ("s" * 50, "é" * 50, "axon-store/" + "s" * 50 + "/"),
    ],
)
def test_application_name(store: str, namespace: str | None, expected: str) -> None:
    assert application_name(store, namespace) == expected
    assert len(expected.encode()) <= 63


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("postgresql//app:S3cr3t@127.0.0.1/db", "S3cr3t"),
        ("app:pw@h/db", ":pw@"),
        (" postgresql://u:PW@h/db", ":PW@"),
        ("\tpostgresql://u:PW@h/db", ":PW@"),
        ("postgresql://u:PW8 x@h/db", "PW8"),
        ("postgresql://u:PW10%zz@h/db", "PW10"),
        ("host=h password=PW8 xq", "xq"),
        ("host=h password='a b", "'a b"),
        ("postgresql:/u:pw@[::1]/db", ":pw@"),
    ],
)
def test_pool_init_never_holds_the_password_in_text_or_chain(dsn: str, secret: str) -> None:
    """libpq quotes the DSN in its parse errors; the PoolInit keeps neither that text nor that exception."""
    with pytest.raises(PoolInit) as raised:
        validate_dsn(dsn)
    exc: BaseException | None = raised.value
    assert exc is not None
    assert exc.__cause__ is None
    assert exc.__context__ is None
    for text in (str(exc), repr(exc), exc.dsn_masked, exc.source):  # type: ignore[attr-defined]
        assert secret not in text


def test_resolve_trims_what_the_environment_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_T_PADDED", " \n postgresql://u:pw@h/db\n")
    assert resolve_dsn("env:AXON_T_PADDED") == "postgresql://u:pw@h/db"
    validate_dsn(resolve_dsn("env:AXON_T_PADDED"))  # parses once trimmed


def test_unknown_column_message_does_not_list_the_schema() -> None:
    exc = UnknownColumn("claims", "stauts", ("id", "status", "secret_col"))
    assert "secret_col" not in str(exc)
    assert "stauts" in str(exc)
    assert "claims" in str(exc)
    assert exc.columns == ("id", "status", "secret_col")


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("postgresql//app:pw@h/db", "the URL scheme `postgresql` must be followed by `://`"),
        ("postgresql:/app:pw@h/db", "the URL scheme `postgresql` must be followed by `://`"),
        ("postgres:app:pw@h/db", "the URL scheme `postgres` must be followed by `://`"),
        (" postgresql://app:pw@h/db", "the DSN starts or ends with white space: remove it"),
        ("\tpostgresql://app:pw@h/db\n", "the DSN starts or ends with white space: remove it"),
    ],
)
def test_pool_init_says_what_is_wrong_with_the_shape(dsn: str, reason: str) -> None:
    with pytest.raises(PoolInit) as raised:
        validate_dsn(dsn)
    assert raised.value.source.startswith(reason)
    assert ":pw@" not in str(raised.value)


@pytest.mark.parametrize("connection", [None, 123, b"postgresql://u:Mk7secret@h/db", ["env:X"], 1.5])
def test_a_connection_of_another_type_is_a_store_error(connection: object) -> None:
    for call in (resolve_dsn, validate_dsn):
        with pytest.raises(PoolInit) as raised:
            call(connection)  # type: ignore[arg-type]
        assert "must be a str" in str(raised.value)
        assert "Mk7secret" not in str(raised.value)
