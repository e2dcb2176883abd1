"""Issue 18 §2 — passwords through side doors: every DSN shape, every way text leaves the library.

A property over DSN *shapes* (URL, URL with leading/trailing white space or a newline, a mistyped scheme
— ``postgresql//``, ``postgresql:/``, no scheme, a stray space —, a ``%`` escape, spaces and quotes in
the password, an IPv6 host, key/value quoted and unquoted, ``password=`` in a query string) and over
*passwords* (two random markers joined by a character a DSN treats specially). For each DSN, given
directly and through ``env:`` (whose value is trimmed), no marker may appear in: ``mask_dsn``,
``str``/``repr`` of the error or the backend, any exception along ``__cause__`` **and** ``__context__``,
the formatted traceback, a log record, or what ``axonstore stores`` / ``stores --json`` /
``ping --json`` / ``ping --debug`` print. No server is needed: every shape here is refused or built
without I/O (the live shapes are tests/backend_faults/test_secrets.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axonstore import PostgresStoreBackend, StoreError
from axonstore.cli import main
from axonstore.dsn import mask_dsn, scrub_secrets
from tests.backend_faults import capture_logs, render_record

# "Zq" + random: a marker can never be a word of a message by chance ("passwo" is in "password").
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
_MARKER = st.text(alphabet=_ALNUM, min_size=4, max_size=8).map(lambda s: "Zq" + s)
# Characters a DSN treats specially, or that a parser quotes when it refuses them.
_JOINER = st.sampled_from(["", " ", "%", "%zz", "%4", "'", '"', ":", "\\", "#", "?", "&", "=", "\t", "%20"])
_PAD = st.sampled_from(["", " ", "\n", "\t", " \n", "\u3000"])


@dataclass(frozen=True)
class Secret:
    """A password made of two markers that no message can contain by chance."""

    first: str
    joiner: str
    second: str

    @property
    def password(self) -> str:
        return f"{self.first}{self.joiner}{self.second}"

    def leaks(self, text: str) -> list[str]:
        return [m for m in (self.first, self.second) if m in text]


Shape = Callable[[str], str]
SHAPES: dict[str, Shape] = {
    "url": lambda pw: f"postgresql://app:{pw}@127.0.0.1:5432/db",
    "url-ipv6": lambda pw: f"postgresql://app:{pw}@[::1]:5432/db",
    "url-query": lambda pw: f"postgresql://app@127.0.0.1/db?sslmode=disable&password={pw}",
    "missing-slashes": lambda pw: f"postgresql//app:{pw}@127.0.0.1/db",
    "one-slash": lambda pw: f"postgresql:/app:{pw}@127.0.0.1/db",
    "no-scheme": lambda pw: f"app:{pw}@127.0.0.1/db",
    "space-in-scheme": lambda pw: f"postgre sql://app:{pw}@127.0.0.1/db",
    "missing-slashes-ipv6": lambda pw: f"postgresql//app:{pw}@[::1]:5432/db",
    "kv": lambda pw: f"host=127.0.0.1 user=app password={pw} dbname=db",
    "kv-quoted": lambda pw: f"host=127.0.0.1 user=app password='{pw}' dbname=db",
    "kv-spaced": lambda pw: f"host=127.0.0.1 user=app password = {pw}",
}


@st.composite
def dsns(draw: st.DrawFn) -> tuple[str, str, Secret]:
    secret = Secret(draw(_MARKER), draw(_JOINER), draw(_MARKER))
    shape = draw(st.sampled_from(sorted(SHAPES)))
    dsn = draw(_PAD) + SHAPES[shape](secret.password) + draw(_PAD)
    return shape, dsn, secret


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__`` (each once)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def texts_of(exc: BaseException) -> list[str]:
    out = ["".join(traceback.format_exception(exc))]
    for link in chain(exc):
        out += [str(link), repr(link), *(repr(a) for a in link.args)]
        out += [repr(v) for v in vars(link).values()]
    return out


def construct(connection: str) -> list[str]:
    """Everything a construction shows: the backend's repr and masked DSN, or the error's texts."""
    try:
        backend = PostgresStoreBackend.connect_named(connection, "secrets")
    except StoreError as exc:
        return texts_of(exc)
    return [repr(backend), backend.masked_dsn(), str(vars(backend).get("_masked"))]


@settings(max_examples=300)
@given(dsns())
def test_no_password_leaves_the_library(case: tuple[str, str, Secret]) -> None:
    shape, dsn, secret = case
    assert secret.leaks(dsn), "the generator must put the markers in the DSN"
    assert not secret.leaks(mask_dsn(dsn)), f"{shape}: {mask_dsn(dsn)!r}"
    assert not secret.leaks(scrub_secrets(f'driver said "{dsn}" and "{secret.password}"', dsn))
    with capture_logs() as sink, pytest.MonkeyPatch.context() as env:
        env.setenv("AXON_T_SIDE_DOOR", dsn)
        shown = construct(dsn) + construct("env:AXON_T_SIDE_DOOR")
    shown += [render_record(r) for r in sink.records]
    for text in shown:
        assert not secret.leaks(text), f"{shape}: {text!r}"


def test_a_padded_env_value_is_trimmed_and_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """``" postgresql://u:PW@h/db"`` in the environment is a working DSN, not a refused (leaked) one."""
    monkeypatch.setenv("AXON_T_PADDED", " \npostgresql://app:Mk9QwErTy@127.0.0.1/db\n")
    backend = PostgresStoreBackend.connect_named("env:AXON_T_PADDED", "secrets")
    assert backend.masked_dsn() == "postgresql://app:***@127.0.0.1/db"


# --------------------------------------------------------------------------------------------------
# The CLI: stores, stores --json, ping --json, ping --debug


def _run_cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("via_env", [False, True], ids=["literal", "env"])
def test_no_password_in_cli_output(
    shape: str, via_env: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = Secret("Mk7TqWzR", " ", "Mk3PxVnL%zz")
    dsn = " " + SHAPES[shape](secret.password) + "\n"
    monkeypatch.setenv("AXONSTORE_EMBEDDED_DIR", str(tmp_path / "embedded"))  # never the user's server
    monkeypatch.setenv("AXON_T_CLI_DSN", dsn)
    connection = "env:AXON_T_CLI_DSN" if via_env else dsn
    config = tmp_path / "axonstore.toml"
    config.write_text(f"[stores.s]\nbackend = 'postgresql'\nconnection = {json.dumps(connection)}\n")
    outputs = [
        _run_cli("stores", "--config", str(config)),
        _run_cli("stores", "--config", str(config), "--json"),
    ]
    if "url" not in shape and "kv" not in shape:  # refused at construction: no server is ever tried
        outputs += [
            _run_cli("ping", "s", "--config", str(config), "--json"),
            _run_cli("ping", "s", "--config", str(config), "--debug"),
        ]
        assert all(code == 1 for code, _ in outputs[2:]), outputs
    for code, text in outputs:
        assert code in (0, 1), text
        assert not secret.leaks(text), f"{shape}: {text}"
