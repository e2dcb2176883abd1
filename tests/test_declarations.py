"""Declarations: axonstore.toml parsed into validated specs; column type names normalised."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axonstore.declarations import (
    BACKENDS,
    Declarations,
    ResourceSpec,
    StoreSpec,
    check_references,
    classify_backend,
    load_declarations,
    parse_declarations,
)
from axonstore.errors import InvalidDeclaration, StoreError, UnknownBackend, UnknownResource
from axonstore.pgtypes import BUILTIN_TYPES, normalize_type_name, types_match

FULL = """
# Shared database for the claims team
[resources.main]
endpoint = "env:DATABASE_URL"
capacity = 20

[stores.claims]
backend = " PostgreSQL "
resource = "main"
schema = "env:TENANT"
confidence_floor = 0.8
capability = "claims.write"

[stores.claims.columns]
id = "uuid"
amount = "numeric(12, 2)"
status = "character varying(20)"
opened_at = "timestamp with time zone"
tags = "text[]"
tier = "billing.tier"
_confidence = "double precision"

[stores.events]
backend = "postgresql"
connection = "postgresql://app:s3cret@db:5432/events"
capacity = 5

[stores.defaulted]
backend = "postgresql"

[stores.scratch]
backend = "IN_MEMORY"
confidence_floor = 1
columns = { n = "integer" }
"""


def _invalid(text: str, path: str = "decl.toml") -> InvalidDeclaration:
    with pytest.raises(InvalidDeclaration) as info:
        parse_declarations(text, path=path)
    assert info.value.path == path
    return info.value


# --------------------------------------------------------------------------------------------------
# A full file


def test_full_file() -> None:
    decl = parse_declarations(FULL, path="axonstore.toml")
    assert isinstance(decl, Declarations)
    assert decl.path == "axonstore.toml"
    assert list(decl.stores) == ["claims", "events", "defaulted", "scratch"]
    assert decl.resources["main"] == ResourceSpec("main", "env:DATABASE_URL", 20)

    claims = decl.stores["claims"]
    assert (claims.name, claims.backend, claims.connection, claims.resource) == (
        "claims",
        "postgresql",
        None,
        "main",
    )
    assert (claims.capacity, claims.schema, claims.schema_var) == (None, "env:TENANT", "TENANT")
    assert (claims.confidence_floor, claims.capability) == (0.8, "claims.write")
    assert dict(claims.columns) == {
        "id": "uuid",
        "amount": "numeric",
        "status": "varchar",
        "opened_at": "timestamptz",
        "tags": "_text",
        "tier": "billing.tier",
        "_confidence": "float8",
    }
    assert list(claims.columns) == ["id", "amount", "status", "opened_at", "tags", "tier", "_confidence"]
    assert not claims.needs_default_connection

    events = decl.stores["events"]
    assert (events.connection, events.capacity, events.confidence_floor) == (
        "postgresql://app:s3cret@db:5432/events",
        5,
        None,
    )
    assert dict(events.columns) == {}
    assert decl.stores["defaulted"].needs_default_connection

    scratch = decl.stores["scratch"]
    assert (scratch.backend, scratch.confidence_floor, dict(scratch.columns)) == (
        "in_memory",
        1.0,
        {"n": "int4"},
    )
    assert isinstance(scratch.confidence_floor, float)
    assert not scratch.needs_default_connection


def test_empty_file_declares_nothing() -> None:
    decl = parse_declarations("")
    assert (dict(decl.stores), dict(decl.resources), decl.path) == ({}, {}, "<string>")


def test_specs_are_frozen_and_hashable() -> None:
    spec = parse_declarations(FULL).stores["claims"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.capacity = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.columns["id"] = "text"  # type: ignore[index]
    assert hash(spec) == hash(dataclasses.replace(spec))


def test_load_declarations_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "axonstore.toml"
    path.write_text(FULL, encoding="utf-8")
    decl = load_declarations(path)
    assert decl.path == str(path)
    assert set(decl.stores) == {"claims", "events", "defaulted", "scratch"}


# --------------------------------------------------------------------------------------------------
# File-level errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(InvalidDeclaration) as info:
        load_declarations(path)
    assert (info.value.path, info.value.table, info.value.key) == (str(path), None, None)
    assert "does not exist" in info.value.reason


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDeclaration) as info:
        load_declarations(tmp_path)
    assert "cannot be read" in info.value.reason


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[stores.a]\nbackend = "in_memory"\n# caf\xe9\n')
    with pytest.raises(InvalidDeclaration) as info:
        load_declarations(os.fspath(path))
    assert "UTF-8" in info.value.reason


def test_toml_syntax_error_names_the_line() -> None:
    err = _invalid('[stores.a]\nbackend = "in_memory"\ncapacity = = 3\n')
    assert (err.table, err.key) == (None, None)
    assert "TOML syntax error" in err.reason
    assert "line 3" in err.reason


def test_unknown_top_level_key() -> None:
    err = _invalid("[store.claims]\nbackend = 'postgresql'\n")
    assert (err.table, err.key) == (None, "store")
    assert "did you mean `stores`" in err.reason


def test_stores_must_be_a_table() -> None:
    err = _invalid("stores = 3\n")
    assert (err.table, err.key) == (None, "stores")


def test_store_must_be_a_table() -> None:
    err = _invalid("[stores]\nclaims = 'postgresql'\n")
    assert (err.table, err.key) == ("stores", "claims")


def test_resource_must_be_a_table() -> None:
    err = _invalid("[resources]\nmain = 1\n")
    assert (err.table, err.key) == ("resources", "main")


# --------------------------------------------------------------------------------------------------
# [stores.X] errors


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        ('backend = "postgresql"\ncapacty = 3', "capacty", "did you mean `capacity`"),
        ('backend = "postgresql"\nname = "x"', "name", "unknown key"),
        ("connection = 'env:X'", "backend", "missing"),
        ("backend = 3", "backend", "must be a string, got an integer"),
        ("backend = '  '", "backend", "blank"),
        ('backend = "postgresql"\ncapacity = "ten"', "capacity", "must be an integer, got a string"),
        ('backend = "postgresql"\ncapacity = 0', "capacity", "at least 1"),
        ('backend = "postgresql"\ncapacity = -2', "capacity", "at least 1"),
        ('backend = "postgresql"\ncapacity = true', "capacity", "must be an integer, got a boolean"),
        ('backend = "postgresql"\ncapacity = 2.0', "capacity", "must be an integer, got a float"),
        ('backend = "postgresql"\nconnection = 5', "connection", "must be a string"),
        ('backend = "postgresql"\nresource = ""', "resource", "blank"),
        ('backend = "postgresql"\nconfidence_floor = 1.5', "confidence_floor", "between 0 and 1"),
        ('backend = "postgresql"\nconfidence_floor = -0.1', "confidence_floor", "between 0 and 1"),
        ('backend = "postgresql"\nconfidence_floor = nan', "confidence_floor", "between 0 and 1"),
        ('backend = "postgresql"\nconfidence_floor = "0.8"', "confidence_floor", "must be a number"),
        ('backend = "postgresql"\nconfidence_floor = false', "confidence_floor", "must be a number"),
        ('backend = "postgresql"\ncapability = " "', "capability", "blank"),
        ('backend = "postgresql"\ncapability = ["a"]', "capability", "got an array"),
        ('backend = "postgresql"\nschema = "tenant_a"', "schema", "env:VAR"),
        ('backend = "postgresql"\nschema = "env: "', "schema", "env:VAR"),
        ('backend = "postgresql"\ncolumns = "id uuid"', "columns", "must be a table"),
        ('backend = "in_memory"\nconnection = "postgresql://u:pw@h/db"', "connection", "in_memory"),
        ('backend = "in_memory"\nresource = "main"', "resource", "in_memory"),
        ('backend = "in_memory"\ncapacity = 3', "capacity", "in_memory"),
        ('backend = "in_memory"\nschema = "env:T"', "schema", "in_memory"),
        ('backend = "postgresql"\nconnection = "env:A"\nresource = "main"', "connection", "not both"),
    ],
)
def test_store_errors_name_table_and_key(body: str, key: str, reason: str) -> None:
    err = _invalid(f'[resources.main]\nendpoint = "env:X"\n[stores.claims]\n{body}\n')
    assert (err.table, err.key) == ("stores.claims", key)
    assert reason in err.reason
    assert str(err).startswith("invalid declaration in decl.toml [stores.claims]")


def test_repr_masks_passwords() -> None:
    decl = parse_declarations(
        '[resources.r]\nendpoint = "postgresql://u:hunter2@h/db"\n'
        '[stores.s]\nbackend = "postgresql"\nconnection = "postgresql://u:hunter2@h/db"\n'
    )
    assert "hunter2" not in repr(decl)
    assert "postgresql://u:***@h/db" in repr(decl.stores["s"])
    assert "postgresql://u:***@h/db" in repr(decl.resources["r"])
    assert repr(StoreSpec("m", "in_memory")) == (
        "StoreSpec(name='m', backend='in_memory', connection=None, resource=None, capacity=None, "
        "schema=None, confidence_floor=None, capability=None, columns={}, agent=None, "
        "text_search='simple')"
    )


def test_messages_never_echo_a_connection() -> None:
    err = _invalid('[stores.s]\nbackend = "in_memory"\nconnection = "postgresql://u:hunter2@h/db"\n')
    assert "hunter2" not in str(err)


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("my-store", "stores.my-store"),
        ("1st", "stores.1st"),
        ('"naïve"', 'stores."naïve"'),
        ('"a.b"', 'stores."a.b"'),
        ('"a b"', 'stores."a b"'),
        ('""', 'stores.""'),
        ("x" * 64, "stores." + "x" * 64),
    ],
)
def test_store_name_must_be_a_safe_identifier(name: str, table: str) -> None:
    err = _invalid(f'[stores.{name}]\nbackend = "in_memory"\n')
    assert err.key is None
    assert err.table == table
    assert "[A-Za-z_][A-Za-z0-9_]*" in err.reason


def test_store_name_of_63_bytes_is_fine() -> None:
    name = "x" * 63
    assert list(parse_declarations(f'[stores.{name}]\nbackend = "in_memory"\n').stores) == [name]


@pytest.mark.parametrize("backend", ["postgres", "sqlite", "mysql", "secrets", "in-memory"])
def test_unknown_backend(backend: str) -> None:
    with pytest.raises(UnknownBackend) as info:
        parse_declarations(f'[stores.claims]\nbackend = "{backend}"\n')
    assert (info.value.store, info.value.backend) == ("claims", backend)


@pytest.mark.parametrize(
    ("given_backend", "expected"), [(" postgresql", "postgresql"), ("In_Memory\t", "in_memory")]
)
def test_backend_is_trimmed_and_case_insensitive(given_backend: str, expected: str) -> None:
    spec = parse_declarations(f'[stores.s]\nbackend = "{given_backend}"\n').stores["s"]
    assert spec.backend == expected


# --------------------------------------------------------------------------------------------------
# [stores.X.columns] errors


@pytest.mark.parametrize(
    ("column", "type_text", "reason"),
    [
        ("id", "3", "must be a string"),
        ("id", "true", "must be a string"),
        ("id", '""', "blank"),
        ("id", '"text; drop table x"', "not a PostgreSQL type name"),
        ("id", '"double"', None),  # a bare identifier is a user-defined type: accepted
        ("id", '"varchar varying"', "not a PostgreSQL type name"),
        ("id", '"a.b.c"', "not a PostgreSQL type name"),
        ("id", '"pg_catalog.nosuch"', "not a pg_catalog type"),
        ("id", '"float(54)"', "out of range"),
        ("id", '"serial[]"', "array element"),
        ("id", '"_int4[]"', "already an array type"),
        ('"bad-col"', '"text"', "column name"),
    ],
)
def test_column_errors(column: str, type_text: str, reason: str | None) -> None:
    text = f'[stores.s]\nbackend = "postgresql"\n[stores.s.columns]\n{column} = {type_text}\n'
    if reason is None:
        parse_declarations(text)
        return
    err = _invalid(text)
    assert (err.table, err.key) == ("stores.s.columns", column.strip('"'))
    assert reason in err.reason


# --------------------------------------------------------------------------------------------------
# [resources.X]


def test_resource_errors() -> None:
    err = _invalid("[resources.main]\ncapacity = 3\n")
    assert (err.table, err.key) == ("resources.main", "endpoint")
    err = _invalid('[resources.main]\nendpoint = "env:X"\nendpont = 1\n')
    assert (err.table, err.key) == ("resources.main", "endpont")
    assert "did you mean `endpoint`" in err.reason
    err = _invalid('[resources.main]\nendpoint = "env:X"\ncapacity = 0\n')
    assert (err.table, err.key) == ("resources.main", "capacity")
    err = _invalid("[resources.main]\nendpoint = 1\n")
    assert (err.table, err.key) == ("resources.main", "endpoint")
    err = _invalid('[resources.main]\nendpoint = " "\n')
    assert "blank" in err.reason


def test_resource_capacity_is_optional() -> None:
    assert parse_declarations('[resources.r]\nendpoint = "env:X"\n').resources["r"].capacity is None


def test_store_naming_an_undeclared_resource() -> None:
    with pytest.raises(UnknownResource) as info:
        parse_declarations('[stores.s]\nbackend = "postgresql"\nresource = "nope"\n')
    assert (info.value.store, info.value.resource) == ("s", "nope")


# --------------------------------------------------------------------------------------------------
# Specs built in Python (StoreRegistry.build)


def test_store_spec_in_python_normalises() -> None:
    spec = StoreSpec("claims", " PostgreSQL", capability=" claims.write ", columns={"id": "INTEGER"})
    assert (spec.backend, spec.capability, dict(spec.columns)) == (
        "postgresql",
        "claims.write",
        {"id": "int4"},
    )
    assert spec.needs_default_connection


def test_store_spec_floor_from_a_huge_integer() -> None:
    with pytest.raises(InvalidDeclaration) as info:
        StoreSpec("s", "in_memory", confidence_floor=10**400)
    assert info.value.key == "confidence_floor"


def test_store_spec_in_python_errors_name_the_spec() -> None:
    with pytest.raises(InvalidDeclaration) as info:
        StoreSpec("claims", "postgresql", capacity=0)
    assert (info.value.path, info.value.table, info.value.key) == ("<StoreSpec>", "stores.claims", "capacity")
    with pytest.raises(InvalidDeclaration) as info:
        StoreSpec("claims", None)  # type: ignore[arg-type]
    assert info.value.key == "backend"
    with pytest.raises(InvalidDeclaration) as info:
        StoreSpec("bad name", "in_memory")
    assert info.value.table == 'stores."bad name"'
    with pytest.raises(InvalidDeclaration) as info:
        StoreSpec("s", "in_memory", columns=[("id", "uuid")])  # type: ignore[arg-type]
    assert (info.value.table, info.value.key) == ("stores.s", "columns")


def test_resource_spec_in_python() -> None:
    assert ResourceSpec("r", " env:X ", 4) == ResourceSpec("r", "env:X", 4)
    with pytest.raises(InvalidDeclaration) as info:
        ResourceSpec("r", None)  # type: ignore[arg-type]
    assert (info.value.table, info.value.key) == ("resources.r", "endpoint")
    with pytest.raises(InvalidDeclaration):
        ResourceSpec("", "env:X")


def test_classify_backend() -> None:
    assert BACKENDS == ("in_memory", "postgresql")
    assert classify_backend("s", "  POSTGRESQL\n") == "postgresql"
    assert classify_backend("s", "in_memory") == "in_memory"
    with pytest.raises(UnknownBackend):
        classify_backend("s", "secrets")


def test_check_references() -> None:
    stores = [StoreSpec("a", "postgresql", resource="r"), StoreSpec("b", "in_memory")]
    check_references(stores, {"r": ResourceSpec("r", "env:X")})
    with pytest.raises(UnknownResource):
        check_references(stores, {})


# --------------------------------------------------------------------------------------------------
# Type names (the expected typnames were checked against PostgreSQL 18's `'<name>'::regtype`)


@pytest.mark.parametrize(
    ("declared", "typname"),
    [
        ("integer", "int4"),
        ("int", "int4"),
        ("INT4", "int4"),
        ("bigint", "int8"),
        ("smallint", "int2"),
        ("serial", "int4"),
        ("bigserial", "int8"),
        ("smallserial", "int2"),
        ("boolean", "bool"),
        ("Bool", "bool"),
        ("real", "float4"),
        ("float", "float8"),
        ("float(24)", "float4"),
        ("float(25)", "float8"),
        ("double precision", "float8"),
        ("DOUBLE   PRECISION", "float8"),
        ("decimal(5,2)", "numeric"),
        ("numeric(10, 2)", "numeric"),
        ("varchar", "varchar"),
        ("varchar(255)", "varchar"),
        ("character varying", "varchar"),
        ("char", "bpchar"),
        ("character(3)", "bpchar"),
        ('"char"', "char"),
        ("text", "text"),
        ("timestamp with time zone", "timestamptz"),
        ("timestamp(3) with time zone", "timestamptz"),
        ("timestamp", "timestamp"),
        ("timestamp without time zone", "timestamp"),
        ("time", "time"),
        ("time with time zone", "timetz"),
        ("interval day to second", "interval"),
        ("bit varying(8)", "varbit"),
        ("json", "json"),
        ("jsonb", "jsonb"),
        ("bytea", "bytea"),
        ("date", "date"),
        ("uuid", "uuid"),
        ("int4[]", "_int4"),
        ("integer[]", "_int4"),
        ("integer[][]", "_int4"),
        ("integer array", "_int4"),
        ("integer ARRAY[3]", "_int4"),
        ("character varying(20)[]", "_varchar"),
        ("double precision[]", "_float8"),
        ("_int4", "_int4"),
        ("_TEXT", "_text"),
        ("pg_catalog.int4", "int4"),
        ("PG_CATALOG._text", "_text"),
        ("  uuid  ", "uuid"),
        ("tier", "tier"),
        ("Tier", "Tier"),
        ("billing.tier", "billing.tier"),
        ("billing.tier[]", "billing._tier"),
        ("citext", "citext"),
    ],
)
def test_normalize_type_name(declared: str, typname: str) -> None:
    assert normalize_type_name(declared) == typname


@pytest.mark.parametrize("typname", sorted(BUILTIN_TYPES - {"char"}))
def test_every_builtin_typname_normalises_to_itself(typname: str) -> None:
    assert normalize_type_name(typname) == typname
    assert normalize_type_name(typname.upper()) == typname
    assert normalize_type_name(f"{typname}[]") == f"_{typname}"
    assert normalize_type_name(f"_{typname}") == f"_{typname}"
    assert types_match(typname, typname)
    assert types_match(f"{typname}[]", f"_{typname}")


@given(st.text(max_size=300))
def test_normalize_raises_only_value_error(text: str) -> None:
    try:
        result = normalize_type_name(text)
    except ValueError:
        return
    assert result
    assert result == result.strip()


def test_normalize_refuses_very_long_names_quickly() -> None:
    with pytest.raises(ValueError, match="characters"):
        normalize_type_name("a" + "[]" * 2000 + "x")


@pytest.mark.parametrize(
    ("declared", "live", "expected"),
    [
        ("integer", "int4", True),
        ("int4", "int4", True),
        ("serial", "int4", True),
        ("text", "varchar", False),
        ("varchar(20)", "varchar", True),
        ("timestamp", "timestamptz", False),
        ("integer[]", "_int4", True),
        ("tier", "billing.tier", True),
        ("billing.tier", "billing.tier", True),
        ("billing.tier", "tier", True),
        ("other.tier", "billing.tier", False),
        ("tier[]", "billing._tier", True),
        ("Tier", "billing.tier", False),
        ("citext", "public.citext", True),
        ("uuid", "text", False),
        ("bpchar", "char", False),
        ('"char"', "char", True),
        ("char", "bpchar", True),
        ("int4", "pg_catalog.int4", True),
        ("int4", "PG_CATALOG.INT4", True),
    ],
)
def test_types_match(declared: str, live: str, expected: bool) -> None:
    assert types_match(declared, live) is expected


# --------------------------------------------------------------------------------------------------
# Properties


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_a_store_error(text: str) -> None:
    with contextlib.suppress(StoreError):
        parse_declarations(text)


_toml_values = st.one_of(
    st.integers(-3, 100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(
        ['"postgresql"', '"in_memory"', '"env:X"', '"main"', '""', '"integer"', "[1]", "{ a = 1 }"]
    ),
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "backend",
                "connection",
                "resource",
                "capacity",
                "schema",
                "confidence_floor",
                "capability",
                "columns",
                "extra",
            ]
        ),
        _toml_values,
        max_size=6,
    )
)
def test_any_store_table_parses_or_raises_a_store_error(body: dict[str, Any]) -> None:
    lines = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in body.items())
    text = f'[resources.main]\nendpoint = "env:X"\n[stores.s]\n{lines}\n'
    try:
        spec = parse_declarations(text).stores["s"]
    except (InvalidDeclaration, UnknownBackend, UnknownResource):
        return
    assert spec.backend in BACKENDS
    assert spec.capacity is None or spec.capacity >= 1
    assert spec.confidence_floor is None or 0.0 <= spec.confidence_floor <= 1.0


# --------------------------------------------------------------------------------------------------
# Agents and principals (CONTRACT §15)

AGENT = """
[stores.orders]
backend = "postgresql"
connection = "env:ORDERS_URL"
capability = "orders.read"

[stores.orders.agent]
verbs = ["retrieve", "persist", "mutate", "purge"]
returned = ["id", "status", "amount"]
filterable = ["status", "amount"]
writable = ["status"]
max_rows = 20
max_affected = 3
bind = { org_id = "claim:org_id" }
statement_timeout_ms = 1500

[stores.orders.agent.capabilities]
retrieve = "orders.read"
mutate = "orders.write"

[principals.support_bot]
token_sha256 = "%s"
capabilities = ["orders.read", "orders.write"]
claims = { org_id = "42" }
confidence = 0.9
max_calls_per_minute = 60
max_concurrent_calls = 2

[principals."ci.bot-1"]
token = "env:CI_TOKEN"
claims = { org_id = 7 }
""" % ("ab" * 32)


def test_agent_and_principal_declarations() -> None:
    decl = parse_declarations(AGENT, path="a.toml")
    agent = decl.stores["orders"].agent
    assert agent is not None
    assert agent.verbs == ("retrieve", "persist", "mutate", "purge")
    assert (agent.returned, agent.filterable, agent.writable) == (
        ("id", "status", "amount"),
        ("status", "amount"),
        ("status",),
    )
    assert (agent.max_rows, agent.max_affected, agent.affected_limit, agent.statement_timeout_ms) == (
        20,
        3,
        3,
        1500,
    )
    assert dict(agent.bind) == {"org_id": "claim:org_id"}
    assert dict(agent.bound_claims) == {"org_id": "org_id"}
    assert dataclasses.replace(agent, max_rows=10).bind == agent.bind
    assert agent.capability_for("mutate", "orders.read") == "orders.write"
    assert agent.capability_for("purge", "orders.read") == "orders.read"
    bot = decl.principals["support_bot"]
    assert (bot.token_sha256, bot.capabilities, dict(bot.claims), bot.confidence) == (
        "ab" * 32,
        ("orders.read", "orders.write"),
        {"org_id": "42"},
        0.9,
    )
    assert (bot.max_calls_per_minute, bot.max_concurrent_calls) == (60, 2)
    ci = decl.principals["ci.bot-1"]
    assert (ci.token, dict(ci.claims), ci.max_calls_per_minute, ci.max_concurrent_calls) == (
        "env:CI_TOKEN",
        {"org_id": "7"},
        120,
        4,
    )


def test_agent_defaults() -> None:
    decl = parse_declarations('[stores.s]\nbackend = "postgresql"\nconnection = "x"\n[stores.s.agent]\n')
    agent = decl.stores["s"].agent
    assert agent is not None
    assert (agent.verbs, agent.returned, agent.filterable, agent.writable) == (("retrieve",), None, None, ())
    assert (agent.max_rows, agent.max_affected, agent.affected_limit, agent.statement_timeout_ms) == (
        50,
        None,
        1,
        5000,
    )
    assert decl.stores["s"].agent is not None and decl.principals == {}


_STORE = '[stores.s]\nbackend = "postgresql"\nconnection = "x"\n'


@pytest.mark.parametrize(
    ("body", "table", "key", "reason"),
    [
        ('[stores.s.agent]\nverbs = ["drop"]', "stores.s.agent", "verbs", "unknown verb"),
        ('[stores.s.agent]\nverbs = ["retreive"]', "stores.s.agent", "verbs", "did you mean `retrieve`"),
        ("[stores.s.agent]\nverbs = []", "stores.s.agent", "verbs", "is empty"),
        ('[stores.s.agent]\nverbs = ["retrieve", "retrieve"]', "stores.s.agent", "verbs", "listed twice"),
        ('[stores.s.agent]\nreturned = ["a b"]', "stores.s.agent", "returned", "column name"),
        ('[stores.s.agent]\nfilterable = "id"', "stores.s.agent", "filterable", "array of names"),
        ("[stores.s.agent]\nmax_rows = 1001", "stores.s.agent", "max_rows", "from 1 to 1000"),
        ("[stores.s.agent]\nmax_rows = 0", "stores.s.agent", "max_rows", "from 1 to 1000"),
        ('[stores.s.agent]\nmax_rows = "5"', "stores.s.agent", "max_rows", "must be an integer"),
        ("[stores.s.agent]\nmax_affected = 0", "stores.s.agent", "max_affected", "from 1"),
        ("[stores.s.agent]\nstatement_timeout_ms = 0", "stores.s.agent", "statement_timeout_ms", "from 1"),
        ('[stores.s.agent]\nverbs = ["mutate"]', "stores.s.agent", "writable", "no column is writable"),
        (
            '[stores.s.agent]\nverbs = ["persist"]\nwritable = ["_confidence"]',
            "stores.s.agent",
            "writable",
            "stamped from the principal",
        ),
        (
            '[stores.s.agent]\nverbs = ["persist"]\nwritable = ["org_id"]\nbind = { org_id = "claim:org" }',
            "stores.s.agent",
            "writable",
            "is bound",
        ),
        ('[stores.s.agent]\nbind = { org_id = "42" }', "stores.s.agent.bind", "org_id", "claim:NAME"),
        (
            '[stores.s.agent]\nbind = { _confidence = "claim:c" }',
            "stores.s.agent.bind",
            "_confidence",
            "other than",
        ),
        ('[stores.s.agent]\nbind = { org_id = "claim:" }', "stores.s.agent.bind", "org_id", "claim name"),
        (
            '[stores.s.agent.capabilities]\npurge = "x"',
            "stores.s.agent.capabilities",
            "purge",
            "not in `verbs`",
        ),
        (
            '[stores.s.agent.capabilities]\nretrieve = " "',
            "stores.s.agent.capabilities",
            "retrieve",
            "non-blank",
        ),
        ("[stores.s.agent]\nrows = 5", "stores.s.agent", "rows", "unknown key"),
    ],
)
def test_agent_errors_name_table_and_key(body: str, table: str, key: str, reason: str) -> None:
    err = _invalid(_STORE + body)
    assert (err.table, err.key) == (table, key)
    assert reason in err.reason


def test_agent_on_an_in_memory_store_is_refused() -> None:
    err = _invalid('[stores.m]\nbackend = "in_memory"\n[stores.m.agent]\n')
    assert (err.table, err.key) == ("stores.m", "agent")


@pytest.mark.parametrize(
    ("body", "table", "key", "reason"),
    [
        ('[principals.p]\ntoken_sha256 = "abc"', "principals.p", "token_sha256", "64 hex digits"),
        ('[principals.p]\ntoken = "s3cret"', "principals.p", "token", "env:VAR"),
        (
            '[principals.p]\ntoken = "env:A"\ntoken_sha256 = "%s"' % ("a" * 64),
            "principals.p",
            "token",
            "not both",
        ),
        ("[principals.p]\ncapabilities = [1]", "principals.p", "capabilities", "non-blank strings"),
        ("[principals.p]\nclaims = { org = true }", "principals.p.claims", "org", "string or integer"),
        ("[principals.p]\nconfidence = 1.5", "principals.p", "confidence", "between 0 and 1"),
        ("[principals.p]\nconfidence = nan", "principals.p", "confidence", "between 0 and 1"),
        ("[principals.p]\nmax_calls_per_minute = 0", "principals.p", "max_calls_per_minute", "from 1"),
        ("[principals.p]\nmax_concurrent_calls = 5000", "principals.p", "max_concurrent_calls", "from 1"),
        ("[principals.p]\nrole = 'x'", "principals.p", "role", "unknown key"),
        ('[principals."a b"]', 'principals."a b"', None, "principal name"),
    ],
)
def test_principal_errors_name_table_and_key(body: str, table: str, key: str | None, reason: str) -> None:
    err = _invalid(body)
    assert (err.table, err.key) == (table, key)
    assert reason in err.reason
    assert "s3cret" not in str(err)


def test_a_principal_that_may_call_a_bound_store_needs_the_claim() -> None:
    text = (
        _STORE
        + '[stores.s.agent]\nbind = { org_id = "claim:org" }\n[principals.p]\nclaims = { other = "1" }\n'
    )
    err = _invalid(text)
    assert (err.table, err.key) == ("principals.p", "claims")
    assert "claim `org`" in err.reason
    capped = text.replace('connection = "x"\n', 'connection = "x"\ncapability = "s.read"\n')
    assert "p" in parse_declarations(capped).principals  # it may call nothing there, so it needs nothing


@pytest.mark.parametrize(
    "text", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{ b = " * 3000 + "1" + " }" * 3000]
)
def test_deep_toml_is_an_invalid_declaration(text: str) -> None:
    err = _invalid(text)
    assert "nested more than 64" in err.reason


def test_text_search_names_a_configuration() -> None:
    decl = parse_declarations('[stores.docs]\nbackend = "in_memory"\ntext_search = "english"\n')
    assert decl.stores["docs"].text_search == "english"
    assert parse_declarations('[stores.docs]\nbackend = "in_memory"\n').stores["docs"].text_search == "simple"
    for bad in ('"english; drop"', "3", '""', '"a.b.c"'):
        error = _invalid(f'[stores.docs]\nbackend = "in_memory"\ntext_search = {bad}\n')
        assert (error.table, error.key) == ("stores.docs", "text_search")
