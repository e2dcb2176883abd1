"""The registry against the harness's real PostgreSQL: declarations, handles, governance, audit, verify."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from axonstore import PostgresStoreBackend, errors
from axonstore.audit import AuditChain
from axonstore.declarations import StoreSpec, parse_declarations
from axonstore.introspect import diff, manifest
from axonstore.registry import StoreRegistry

CLOSED = "postgresql://u:s3cret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=1"


def registry_for(*specs: StoreSpec, **options: Any) -> StoreRegistry:
    return StoreRegistry.build(specs, **options)


@pytest.fixture
def claims(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    admin.execute(
        f'CREATE TABLE "{unique_name}" (id text PRIMARY KEY, status text, amount numeric, '
        "_confidence float8, region text)"
    )
    yield unique_name
    admin.execute(f'DROP TABLE IF EXISTS "{unique_name}"')


def count(admin: psycopg.Connection[Any], table: str) -> int:
    row = admin.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


# ---- building ------------------------------------------------------------------------------------------


def test_from_toml_builds_without_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_T_DB", CLOSED)
    config = tmp_path / "axonstore.toml"
    config.write_text(
        """
[resources.main]
endpoint = "env:AXON_T_DB"
capacity = 3

[stores.claims]
backend = "PostgreSQL"
resource = "main"
confidence_floor = 0.8
capability = "claims.write"

[stores.cache]
backend = "in_memory"
""",
        encoding="utf-8",
    )
    registry = StoreRegistry.from_toml(config)
    assert registry.declared == ("claims", "cache")
    assert registry.connection_source(registry.spec("claims")) == ("env:AXON_T_DB", 3)
    handle = registry.store("claims")  # resolves the DSN, opens nothing
    assert handle is registry.store("claims")
    assert "s3cret" not in repr(handle.backend)
    with pytest.raises(errors.UnknownStore) as raised:
        registry.store("claimz")
    assert raised.value.declared == ("claims", "cache")


def test_building_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.DuplicateStore):
        registry_for(StoreSpec("a", "in_memory"), StoreSpec("a", "in_memory"))
    with pytest.raises(errors.UnknownBackend):
        StoreSpec("a", "sqlite")
    with pytest.raises(errors.InvalidDeclaration) as raised:
        registry_for(StoreSpec("pg", "postgresql"))
    assert raised.value.key == "connection"
    registry_for(StoreSpec("pg", "postgresql"), default_connection=CLOSED)  # the CLI's embedded default
    monkeypatch.delenv("AXON_T_UNSET", raising=False)
    registry = registry_for(StoreSpec("pg", "postgresql", connection="env:AXON_T_UNSET"))
    with pytest.raises(errors.MissingEnvVar):
        registry.store("pg")
    declared = parse_declarations(
        '[resources.r]\nendpoint = "env:AXON_T_UNSET"\n[stores.s]\nbackend = "postgresql"\nresource = "r"\n'
    )
    with pytest.raises(errors.UnresolvedEndpoint) as unresolved:
        StoreRegistry(declared).store("s")
    assert unresolved.value.resource == "r"


def test_one_pool_per_store_even_on_a_shared_dsn() -> None:
    registry = registry_for(
        StoreSpec("a", "postgresql", connection=CLOSED, capacity=2),
        StoreSpec("b", "postgresql", connection=CLOSED, capacity=7),
    )
    a, b = registry.store("a").backend, registry.store("b").backend
    assert isinstance(a, PostgresStoreBackend)
    assert isinstance(b, PostgresStoreBackend)
    assert a is not b
    assert (a.application_name, a.max_connections) == ("axon-store/a", 2)
    assert (b.application_name, b.max_connections) == ("axon-store/b", 7)


# ---- governance before any I/O -------------------------------------------------------------------------


async def test_capability_and_floor_refuse_before_any_io() -> None:
    registry = registry_for(
        StoreSpec("claims", "postgresql", connection=CLOSED, confidence_floor=0.8, capability="claims.write")
    )
    claims = registry.store("claims")
    for call in (
        lambda: claims.retrieve(capabilities={"other"}),
        lambda: claims.persist({"id": "x"}, capabilities=set()),
        lambda: claims.mutate("id = 'x'", {"status": "y"}, capabilities={"claims.read"}),
        lambda: claims.purge("id = 'x'", capabilities=frozenset()),
    ):
        with pytest.raises(errors.CapabilityDenied) as denied:
            await call()
        assert denied.value.required == "claims.write"
    with pytest.raises(errors.UnelevatedWrite):
        await claims.persist({"id": "x"})
    with pytest.raises(errors.UnelevatedWrite):
        await claims.persist({"id": "x", "_confidence": None})
    with pytest.raises(errors.MalformedConfidence):
        await claims.persist({"id": "x", "_confidence": "high"})
    with pytest.raises(errors.MalformedConfidence):
        await claims.persist({"id": "x", "_confidence": True})
    with pytest.raises(errors.SubFloorWrite) as below:
        await claims.persist({"id": "x", "_confidence": "0.5"})
    assert (below.value.confidence, below.value.floor) == (0.5, 0.8)
    with pytest.raises(errors.SubFloorWrite) as lowered:
        await claims.mutate("id = 'x'", {"_confidence": 0.1})  # D15
    assert lowered.value.op == "mutate"
    assert len(registry.audit) == 0  # refused writes are not recorded
    await registry.aclose()


# ---- against the database ---------------------------------------------------------------------------


async def test_retrieve_envelope_with_a_floor(dsn: str, admin: psycopg.Connection[Any], claims: str) -> None:
    registry = registry_for(StoreSpec(claims, "postgresql", connection=dsn, confidence_floor=0.8))
    async with registry:
        handle = registry.store(claims)
        for i, confidence in [(0, "0.95"), (2, "0.81"), (3, "0.8")]:  # at the floor is accepted
            assert await handle.persist({"id": f"c{i}", "status": "open", "_confidence": confidence}) == 1
        # rows below the floor can only come from elsewhere: seed them directly
        admin.execute(
            f'INSERT INTO "{claims}" (id, status, _confidence) '
            "VALUES ('c1', 'open', 0.5), ('raw', 'open', NULL)"
        )
        result = await handle.retrieve("status = 'open'", order_by="id")
        assert [row["id"] for row in result.rows] == ["c0", "c2", "c3"]
        assert (result.trusted_rows, result.below_floor_filtered) == (3, 2)
        assert result.confidence_floor == 0.8
        assert result.taint == "untrusted"
        assert (result.stream.policy, result.stream.total_seen, result.stream.truncated) == (
            "pause_upstream",
            5,
            False,
        )
        envelope = result.to_json()
        assert envelope.startswith('{"below_floor_filtered":2,"confidence_floor":0.8,"rows":[')
        assert envelope.endswith(',"taint":"untrusted","trusted_rows":3}')


async def test_t4_five_rows_floor_leaves_three(dsn: str, admin: psycopg.Connection[Any], claims: str) -> None:
    values = ", ".join(f"('r{i}', 'open', {c})" for i, c in enumerate([0.9, 0.85, 0.5, 0.8, 0.2]))
    admin.execute(f'INSERT INTO "{claims}" (id, status, _confidence) VALUES {values}')
    registry = registry_for(StoreSpec(claims, "postgresql", connection=dsn, confidence_floor=0.8))
    async with registry:
        result = await registry.store(claims).retrieve()
        assert result.trusted_rows == 3
        assert result.below_floor_filtered == 2
        counted = await registry.store(claims).retrieve(aggregate="count")
        assert counted.rows == [{"count": 3}]  # the aggregate never counts untrusted rows
        assert counted.below_floor_filtered == 0
        grouped = await registry.store(claims).retrieve("status = 'open'", aggregate="sum(_confidence)")
        assert grouped.rows[0]["sum"] == pytest.approx(0.9 + 0.85 + 0.8)


async def test_writes_are_audited_and_verifiable(
    dsn: str, admin: psycopg.Connection[Any], claims: str
) -> None:
    key = b"k" * 32
    registry = registry_for(
        StoreSpec(claims, "postgresql", connection=dsn, capability="claims.write"), audit_key=key
    )
    async with registry:
        handle = registry.store(claims)
        held = {"claims.write"}
        assert await handle.persist({"id": "a", "status": "open"}, capabilities=held) == 1
        assert await handle.persist({"id": "b", "status": "open"}) == 1
        assert await handle.mutate("status = 'open'", {"status": "closed"}, capabilities=held) == 2
        assert await handle.purge("id = 'nope'") == 0  # 0-row writes are recorded
        with pytest.raises(errors.Query):
            await handle.persist({"id": "a", "status": "dup"})  # a failed write is not recorded
        with pytest.raises(errors.UnboundedWrite):
            await handle.purge("")
        assert await handle.purge("", all_rows=True) == 2
        chain = registry.audit
        assert len(chain) == 5
        assert [e.payload["summary"] for e in chain.entries] == [
            f"persisted 1 row(s) to `{claims}`",
            f"persisted 1 row(s) to `{claims}`",
            f"mutated 2 row(s) in `{claims}`",
            f"purged 0 row(s) from `{claims}`",
            f"purged 2 row(s) from `{claims}`",
        ]
        assert [e.payload["seq"] for e in chain.entries] == [0, 1, 2, 3, 4]
        chain.verify()
        exported = io.StringIO()
        chain.export_jsonl(exported)
        head = chain.head
        reread = AuditChain.import_jsonl(io.StringIO(exported.getvalue()), key=key)
        reread.verify(expected_head=head)
        tampered = exported.getvalue().replace("mutated 2", "mutated 9")
        with pytest.raises(errors.AuditChainBroken) as broken:
            AuditChain.import_jsonl(io.StringIO(tampered), key=key).verify()
        assert broken.value.index == 2
        with pytest.raises(errors.AuditChainBroken):
            AuditChain.import_jsonl(io.StringIO(exported.getvalue()), key=b"wrong").verify()
    assert count(admin, claims) == 0


async def test_stream_yields_trusted_rows_with_metadata(
    dsn: str, admin: psycopg.Connection[Any], claims: str
) -> None:
    values = ", ".join(f"('s{i:03}', 'open', {0.9 if i % 2 else 0.1})" for i in range(40))
    admin.execute(f'INSERT INTO "{claims}" (id, status, _confidence) VALUES {values}')
    registry = registry_for(StoreSpec(claims, "postgresql", connection=dsn, confidence_floor=0.5))
    async with registry:
        async with registry.store(claims).stream(order_by="id", policy="pause_upstream", max_rows=10) as rows:
            seen = [row["id"] async for row in rows]
        assert seen == [f"s{i:03}" for i in range(1, 10, 2)]
        assert rows.stream.total_seen == 11
        assert rows.stream.truncated is True
        tail = registry.store(claims).stream(order_by="id", policy="drop_oldest", max_rows=4)
        assert [row["id"] async for row in tail] == ["s037", "s039"]
        assert (tail.stream.dropped, tail.stream.truncated) == (36, False)


# ---- deploy verification -----------------------------------------------------------------------------


async def test_verify_reports_verified_missing_and_unreachable(
    dsn: str, admin: psycopg.Connection[Any], claims: str, monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    ghost = f"{unique_name}_ghost"
    monkeypatch.setenv("AXON_T_TENANT", "tenant_42")
    monkeypatch.delenv("AXON_T_TENANT_UNSET", raising=False)
    registry = registry_for(
        StoreSpec(
            claims,
            "postgresql",
            connection=dsn,
            schema="env:AXON_T_TENANT",
            columns={"id": "text", "amount": "decimal", "_confidence": "double precision"},
        ),
        StoreSpec(ghost, "postgresql", connection=dsn),
        StoreSpec("far", "postgresql", connection=CLOSED),
        StoreSpec("tenantless", "postgresql", connection=dsn, schema="env:AXON_T_TENANT_UNSET"),
        StoreSpec("memo", "in_memory"),
    )
    async with registry:
        report = await registry.verify()
        assert report.verified == [claims]
        assert set(report.missing) == {ghost, "tenantless"}
        assert "pg_catalog" in report.missing[ghost]
        assert "(database: postgresql://" in report.missing[ghost]
        assert "axon-T806" in report.missing["tenantless"]
        assert set(report.unreachable) == {"far"}
        assert "s3cret-pw" not in str(report.to_dict())
        assert report.has_fatal
        backend = registry.store(claims).backend
        assert isinstance(backend, PostgresStoreBackend)
        assert backend.application_name == f"axon-store/{claims}/tenant_42"


async def test_verify_sees_drift_and_floor_without_confidence(
    dsn: str, admin: psycopg.Connection[Any], claims: str, unique_name: str
) -> None:
    bare = f"{unique_name}_bare"
    admin.execute(f'CREATE TABLE "{bare}" (id int4)')
    try:
        registry = registry_for(
            StoreSpec(
                claims, "postgresql", connection=dsn, columns={"id": "uuid", "gone": "text", "status": "text"}
            ),
            StoreSpec(bare, "postgresql", connection=dsn, confidence_floor=0.5),
        )
        async with registry:
            await registry.store(claims).retrieve()  # warm the cache, then change the table behind it
            report = await registry.verify()
            assert report.verified == []
            drift = report.missing[claims]
            assert "axon-T807" in drift and "missing on live database: {gone}" in drift
            assert "`id` declared as `uuid` but live type is `text`" in drift
            assert f"axonstore introspect {claims}" in drift
            assert "_confidence" in report.missing[bare]
            admin.execute(f'ALTER TABLE "{claims}" DROP COLUMN status')
            again = await registry.verify()  # bypasses the warm cache: the dropped column is seen
            assert "status" in again.missing[claims]
    finally:
        admin.execute(f'DROP TABLE IF EXISTS "{bare}"')


async def test_manifest_and_diff(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> None:
    admin.execute(
        f'CREATE TABLE "{unique_name}" (id serial PRIMARY KEY, email text NOT NULL UNIQUE, '
        "n bigint GENERATED ALWAYS AS IDENTITY, note varchar(20) DEFAULT 'x', a int, b int, UNIQUE (a, b))"
    )
    registry = registry_for(StoreSpec(unique_name, "postgresql", connection=dsn))
    async with registry:
        backend = registry.store(unique_name).backend
        first = await manifest(backend, unique_name)  # type: ignore[arg-type]
        columns = {c["name"]: c for c in first["columns"]}
        assert columns["id"]["serial"] and columns["id"]["type"] == "int4"
        assert columns["n"]["identity"] == "always"
        assert columns["email"]["nullable"] is False
        assert columns["note"]["sql_type"] == "character varying(20)"
        assert first["primary_key"] == ["id"]
        assert first["unique"] == [["a", "b"], ["email"]]
        assert first["hash"] == (await manifest(backend, unique_name))["hash"]  # type: ignore[arg-type]
        admin.execute(f'ALTER TABLE "{unique_name}" ADD COLUMN extra jsonb, ALTER COLUMN note DROP DEFAULT')
        second = await manifest(backend, unique_name)  # type: ignore[arg-type]
        assert second["hash"] != first["hash"]
        changes = diff(first, second)
        assert any("`extra` is new" in line for line in changes)
        assert any("`note`: default" in line for line in changes)
    admin.execute(f'DROP TABLE "{unique_name}"')


def test_no_environment_leaks_between_tests() -> None:
    assert "AXON_T_TENANT" not in os.environ


async def test_in_memory_store_through_the_registry() -> None:
    declared = parse_declarations(
        """
[stores.notes]
backend = "in_memory"
confidence_floor = 0.5
capability = "notes.rw"
[stores.notes.columns]
id = "integer"
body = "text"
_confidence = "float8"
"""
    )
    registry = StoreRegistry(declared)
    notes = registry.store("notes")
    held = {"notes.rw"}
    assert await notes.persist({"id": "1", "body": "kept", "_confidence": "0.9"}, capabilities=held) == 1
    assert await notes.persist({"id": 2, "body": "also", "_confidence": 0.5}, capabilities=held) == 1
    with pytest.raises(errors.SubFloorWrite):
        await notes.persist({"id": 3, "body": "low", "_confidence": 0.2}, capabilities=held)
    with pytest.raises(errors.Query) as bad:
        await notes.persist({"id": "three", "body": "x", "_confidence": 1}, capabilities=held)
    assert bad.value.sqlstate == "22P02"
    result = await notes.retrieve("id >= 1", order_by="id desc", capabilities=held)
    assert [row["id"] for row in result.rows] == [2, 1]  # coerced by the declared type
    assert (await notes.retrieve(aggregate="count", capabilities=held)).rows == [{"count": 2}]
    with pytest.raises(errors.UnknownColumn):
        await notes.retrieve("nope = 1", capabilities=held)
    assert [e.payload["op"] for e in registry.audit.entries] == ["persist", "persist"]
    await registry.aclose()


async def test_a_stores_text_search_configuration_reaches_the_sql(direct_dsn: str, unique_name: str) -> None:
    """``text_search = "english"`` on a store: ``@@`` stems (``cats`` finds ``cat``); ``simple`` does not."""
    import psycopg

    from axonstore import StoreRegistry
    from axonstore.declarations import StoreSpec

    with psycopg.connect(direct_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY, body text)")
        admin.execute(f"INSERT INTO {unique_name} VALUES (1, 'a cat sat'), (2, 'dogs ran')")
    english = StoreSpec(name=unique_name, backend="postgresql", connection=direct_dsn, text_search="english")
    async with StoreRegistry.build([english]) as registry:
        found = await registry.store(unique_name).retrieve("body @@ 'cats'")
        assert [row["id"] for row in found.rows] == [1]
        assert await registry.store(unique_name).purge("body @@ 'dog'") == 1
    plain = StoreSpec(name=unique_name, backend="postgresql", connection=direct_dsn)
    async with StoreRegistry.build([plain]) as registry:
        assert (await registry.store(unique_name).retrieve("body @@ 'cats'")).rows == []
