"""DSN resolution, masking (D2) and application_name (ANCHOR §1, §2.4)."""

from __future__ import annotations

import pytest

from axonstore.dsn import application_name, mask_dsn, resolve_dsn, scrub_secrets
from axonstore.errors import EmptyConnection, EmptyEnvVarName, MissingEnvVar


def test_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_T_X", "  postgresql://h/db ")
    monkeypatch.setenv("AXON_T_EMPTY", "")
    monkeypatch.delenv("AXON_NOPE_VAR", raising=False)
    assert resolve_dsn("  postgresql://h/db  ") == "postgresql://h/db"
    assert resolve_dsn(" env:AXON_T_X ") == "  postgresql://h/db "  # the value is verbatim
    assert resolve_dsn("env: AXON_T_X") == "  postgresql://h/db "
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
        ("postgresql://h/db?password=leak#frag", "postgresql://h/db?password=***#frag"),
        ("postgresql://h/db?pass%77ord=leak", "postgresql://h/db?pass%77ord=***"),
        ("postgresql://u:p@h/db?x=a@b", "postgresql://u:***@h/db?x=a@b"),
        ("not a dsn", "not a dsn"),
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
