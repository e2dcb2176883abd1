"""Self-healing beyond the drift SQLSTATEs, the cache key without the password, DSNs libpq would misread."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from axonstore import BadPolicy, PoolInit, PostgresStoreBackend, Query
from axonstore.dsn import without_password
from axonstore.schema import SCHEMA_CACHE
from tests.backend import make_backend


async def test_a_column_whose_type_changed_heals_on_a_rejected_value(
    dsn: str, admin: psycopg.Connection[Any], unique_name: str
) -> None:
    admin.execute(f'CREATE TABLE "{unique_name}" (id int4 PRIMARY KEY, code int4)')
    async with make_backend(dsn, unique_name) as backend:
        assert await backend.insert(unique_name, {"id": 1, "code": "7"}) == 1  # cached: code is int4
        admin.execute(f'ALTER TABLE "{unique_name}" ALTER COLUMN code TYPE text')
        # the cached cast ($2::int4) refuses 'abc' with 22P02: evict, re-resolve, write once
        assert await backend.insert(unique_name, {"id": 2, "code": "abc"}) == 1
        rows = await backend.query(unique_name)
        assert sorted(str(r["code"]) for r in rows) == ["7", "abc"]
        with pytest.raises(Query) as bad:  # a value bad for the live type too is reported as it is
            await backend.insert(unique_name, {"id": "x", "code": "1"})
        assert bad.value.sqlstate == "22P02"
    count = admin.execute(f'SELECT count(*) FROM "{unique_name}"').fetchone()
    assert count == (2,)


async def test_the_schema_cache_key_never_holds_a_password(
    dsn: str, unique_name: str, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(f'CREATE TABLE "{unique_name}" (id int4)')
    with_pw = dsn.replace("postgresql://postgres@", "postgresql://postgres:topsecret1@")
    assert with_pw != dsn
    assert without_password(with_pw) == without_password(dsn)
    async with make_backend(with_pw) as backend:
        await backend.warm_schema(unique_name)
        assert "topsecret1" not in repr(backend) and "topsecret1" not in backend.masked_dsn()
    assert (without_password(dsn), unique_name) in SCHEMA_CACHE
    assert all("topsecret1" not in key[0] for key in list(SCHEMA_CACHE._entries))


@pytest.mark.parametrize(
    "dsn",
    ["postgresql://u:p@ss@127.0.0.1:5432/db", "postgresql://u:Mk1/Mk2@127.0.0.1:5432/db"],
    ids=["raw-at", "raw-slash"],
)
def test_a_url_password_libpq_would_misread_is_refused_at_construction(dsn: str) -> None:
    with pytest.raises(PoolInit) as raised:
        make_backend(dsn)
    assert "percent-encode" in str(raised.value)
    assert "ss@" not in str(raised.value) and "Mk2" not in str(raised.value)


async def test_an_unknown_policy_is_a_typed_error() -> None:
    backend = PostgresStoreBackend.connect("postgresql://u@127.0.0.1:1/db")
    with pytest.raises(BadPolicy):
        await backend.stream_retrieve("t", policy="sideways")
