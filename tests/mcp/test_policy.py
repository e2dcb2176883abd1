"""The pure half of the MCP server: schemas, allow-lists, tree composition, cursors, hygiene, limits."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import pytest

from axonstore.audit import AuditChain
from axonstore.declarations import AgentSpec, PrincipalSpec, StoreSpec, parse_declarations
from axonstore.errors import (
    AuditChainBroken,
    ColumnNotAllowed,
    InvalidArguments,
    InvalidCursor,
    Query,
    RateLimited,
    UnbalancedParen,
    UnexpectedChar,
    UnknownColumn,
)
from axonstore.filter import parse_filter, plan_for
from axonstore.mcp._cursor import CursorSigner, query_digest
from axonstore.mcp._hygiene import boundary_name, clean, error_payload, retrieve_text
from axonstore.mcp._limits import CallLimiter
from axonstore.mcp._policy import (
    bind_filter,
    check_arguments,
    check_columns,
    check_placeholders,
    compose,
    floor_filter,
    persist_row,
)
from axonstore.mcp._tools import build_view, tool_name, tools_for

LIVE = {
    "id": "int4",
    "org_id": "int4",
    "status": "text",
    "amount": "numeric",
    "secret": "text",
    "_confidence": "float8",
    "meta": "jsonb",
}


def _view(**agent: object):
    spec = StoreSpec(
        "orders",
        "postgresql",
        connection="postgresql://h/db",
        capability="orders.read",
        confidence_floor=agent.pop("floor", None),  # type: ignore[arg-type]
        agent=AgentSpec(**agent),  # type: ignore[arg-type]
    )
    return build_view(spec, LIVE)


BOT = PrincipalSpec(
    "bot", capabilities=("orders.read", "orders.write"), claims={"org_id": "42"}, confidence=0.9
)
FULL = {
    "verbs": ("retrieve", "persist", "mutate", "purge"),
    "returned": ("id", "status", "amount"),
    "filterable": ("id", "status", "amount"),
    "writable": ("status", "amount"),
    "bind": {"org_id": "claim:org_id"},
    "capabilities": {"mutate": "orders.write", "purge": "orders.write", "persist": "orders.write"},
}


# --------------------------------------------------------------------------------------------------
# Tools and schemas


def test_tools_follow_capabilities_claims_and_verbs() -> None:
    view = _view(**FULL)
    assert list(tools_for({"orders": view}, BOT)) == [
        "orders_retrieve",
        "orders_persist",
        "orders_mutate",
        "orders_purge",
    ]
    reader = PrincipalSpec("reader", capabilities=("orders.read",), claims={"org_id": "1"})
    assert list(tools_for({"orders": view}, reader)) == ["orders_retrieve"]
    no_claim = PrincipalSpec("nc", capabilities=("orders.read", "orders.write"))
    assert tools_for({"orders": view}, no_claim) == {}
    assert tool_name("a.b-c", "purge") == "a_b_c_purge"


def test_schemas_are_closed_2020_12_and_typed_from_the_live_table() -> None:
    tools = tools_for({"orders": _view(**FULL)}, BOT)
    for tool in tools.values():
        assert tool.input_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert tool.input_schema["additionalProperties"] is False
    retrieve = tools["orders_retrieve"].input_schema["properties"]
    assert retrieve["where"]["maxLength"] == 4096
    assert retrieve["bindings"]["maxProperties"] == 32
    assert retrieve["bindings"]["additionalProperties"] == {"type": "string", "maxLength": 4096}
    assert retrieve["order_by"]["maxLength"] == 512
    assert (retrieve["limit"]["minimum"], retrieve["limit"]["maximum"]) == (1, 50)
    row = tools["orders_persist"].input_schema["properties"]["row"]
    assert set(row["properties"]) == {"status", "amount"}
    assert row["properties"]["amount"]["type"] == ["number", "string", "null"]
    assert tools["orders_mutate"].input_schema["required"] == ["where", "set"]
    assert tools["orders_retrieve"].read_only and not tools["orders_retrieve"].destructive
    assert tools["orders_purge"].destructive and tools["orders_mutate"].destructive


def test_a_declared_column_missing_live_refuses_to_start() -> None:
    spec = StoreSpec("orders", "postgresql", connection="x", agent=AgentSpec(returned=("id", "gone")))
    with pytest.raises(UnknownColumn) as info:
        build_view(spec, LIVE)
    assert info.value.column == "gone"


# --------------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("orders_retrieve", {"limit": 51}, "at most 50"),
        ("orders_retrieve", {"limit": 0}, "at least 1"),
        ("orders_retrieve", {"limit": "1e9"}, "type integer"),
        ("orders_retrieve", {"where": "x" * 4097}, "longer than 4096"),
        ("orders_retrieve", {"bindings": {f"k{i}": "v" for i in range(33)}}, "more than 32"),
        ("orders_retrieve", {"bindings": {"_bind_0": "7"}}, "binding name"),
        ("orders_retrieve", {"bindings": {"s": {"nested": 1}}}, "type string"),
        ("orders_retrieve", {"principal": "admin"}, "no property `principal`"),
        ("orders_purge", {}, "needs `where`"),
        ("orders_purge", {"where": ""}, "must not be empty"),
        ("orders_mutate", {"where": "id = 1", "set": {}}, "at least 1"),
    ],
)
def test_schema_violations_are_invalid_arguments_without_the_value(tool, arguments, needle) -> None:
    view = _view(**FULL)
    tools = tools_for({"orders": view}, BOT)
    with pytest.raises(InvalidArguments) as info:
        check_arguments(tools[tool], view, arguments)
    assert needle in info.value.detail
    assert "1e9" not in info.value.detail and "xxxx" not in info.value.detail


@pytest.mark.parametrize("column", ["org_id", "_confidence", "secret", "nope"])
def test_writing_a_bound_reserved_or_unlisted_column_is_column_not_allowed(column: str) -> None:
    view = _view(**FULL)
    tools = tools_for({"orders": view}, BOT)
    for tool, key in (("orders_persist", "row"), ("orders_mutate", "set")):
        arguments = {key: {"status": "x", column: "7"}} | ({"where": "id = 1"} if key == "set" else {})
        with pytest.raises(ColumnNotAllowed) as info:
            check_arguments(tools[tool], view, arguments)
        assert info.value.column == column


def test_deep_arguments_are_refused_without_recursion() -> None:
    view = _view(**FULL)
    tool = tools_for({"orders": view}, BOT)["orders_persist"]
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidArguments, match="nested more than 32"):
        check_arguments(tool, view, {"row": {"status": deep}})


def test_deep_arguments_to_a_shallow_schema_are_refused_for_their_depth() -> None:
    # A retrieve's schema bounds nesting, so its depth is walked only when the fast check fails: a
    # deep value must still get the depth refusal, before jsonschema walks it.
    view = _view(**FULL)
    tool = tools_for({"orders": view}, BOT)["orders_retrieve"]
    deep: object = "x"
    for _ in range(100_000):
        deep = {"k": deep}
    with pytest.raises(InvalidArguments, match="nested more than 32"):
        check_arguments(tool, view, {"bindings": deep})


# --------------------------------------------------------------------------------------------------
# Trees: allow-lists, placeholders, composition


def test_hidden_columns_cannot_be_named_in_a_filter() -> None:
    view = _view(**FULL)
    parsed = parse_filter("secret LIKE 'a%' OR id = 1")
    assert parsed is not None
    with pytest.raises(ColumnNotAllowed) as info:
        check_columns(parsed.columns, view, "filtering")
    assert info.value.column == "secret"


def test_placeholders_must_be_the_agents_bindings_and_all_used() -> None:
    parsed = parse_filter("status = '${s}' AND id = '${_bind_0}'")
    with pytest.raises(InvalidArguments, match="_bind_0"):
        check_placeholders(parsed, {"s": "open"})
    with pytest.raises(InvalidArguments, match="never used"):
        check_placeholders(parse_filter("id = 1"), {"s": "open"})
    with pytest.raises(InvalidArguments, match="has no `x`"):
        check_placeholders(parse_filter("status = '${x.field}'"), {})
    check_placeholders(parse_filter("status = '$s' AND note = '${m.k}'"), {"s": "1", "m": "{}"})


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("org_id = 7 OR id != null", '("org_id" = $1::int4) AND ("org_id" = $2::int4 OR "id" IS NOT NULL)'),
        ("NOT (status = 'x')", '("org_id" = $1::int4) AND (NOT ("status" = $2::text))'),
        ("id = 1 OR id = 2", '("org_id" = $1::int4) AND ("id" = $2::int4 OR "id" = $3::int4)'),
    ],
)
def test_bound_predicates_compose_as_trees_that_agent_text_cannot_escape(agent: str, expected: str) -> None:
    view = _view(**FULL)
    bind, values = bind_filter(view, BOT.claims)
    composed = compose(bind, parse_filter(agent))
    assert composed is not None
    plan = plan_for(composed, 0, {"org_id": "int4", "id": "int4", "status": "text"})
    assert plan.sql == expected
    assert plan.params(values)[0] == "42"


def test_closing_a_parenthesis_does_not_escape_the_bind() -> None:
    with pytest.raises(UnbalancedParen):  # a stray ')' is not part of any expression the grammar accepts
        parse_filter("id = 1) OR (id = 2")


def test_a_claim_value_is_data_not_a_template() -> None:
    view = _view(**FULL)
    bind, values = bind_filter(view, {"org_id": "${x}' OR 1=1 --"})
    assert bind is not None
    plan = plan_for(bind)
    assert plan.sql == '"org_id"::text = $1'
    assert plan.params(values) == ["${x}' OR 1=1 --"]


def test_the_floor_is_part_of_the_sql() -> None:
    floor = floor_filter(0.8)
    assert floor is not None
    composed = compose(None, parse_filter("status = 'x'"), floor)
    assert composed is not None
    sql = plan_for(composed, 0, {"_confidence": "float8", "status": "text"}).sql
    assert sql == '("status" = $1::text) AND "_confidence" >= $2::float8 AND "_confidence" <= $3::float8'
    zero = floor_filter(0.0)
    assert zero is not None
    assert "IS NULL" in plan_for(zero).sql


def test_persist_rows_take_bound_columns_and_confidence_from_the_principal() -> None:
    view = _view(**FULL)
    row = persist_row(view, {"status": "open"}, BOT.claims, BOT.confidence)
    assert row == {"status": "open", "org_id": "42", "_confidence": 0.9}


# --------------------------------------------------------------------------------------------------
# Cursors


def test_cursors_are_bound_signed_and_expiring() -> None:
    signer = CursorSigner(b"k" * 32)
    digest = query_digest("status = 'x'", {"s": "1"}, "id", 10, ("id",))
    cursor = signer.issue("bot", "orders", digest, "POSITION", now=1000.0)
    assert signer.open(cursor, "bot", "orders", digest, now=1001.0) == "POSITION"
    for principal, store, other, now, reason in [
        ("eve", "orders", digest, 1001.0, "another principal"),
        ("bot", "users", digest, 1001.0, "another store"),
        ("bot", "orders", query_digest("", {}, "", 10, ()), 1001.0, "another query"),
        ("bot", "orders", digest, 1000.0 + 601, "expired"),
    ]:
        with pytest.raises(InvalidCursor, match=reason):
            signer.open(cursor, principal, store, other, now=now)
    body, _, mac = cursor.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    for forged in (
        tampered,
        "x",
        "",
        "a.b",
        "é.é",
        CursorSigner(b"z" * 32).issue("bot", "orders", digest, "P"),
    ):
        with pytest.raises(InvalidCursor):
            signer.open(forged, "bot", "orders", digest, now=1001.0)


# --------------------------------------------------------------------------------------------------
# Output hygiene and error payloads


def test_tag_and_bidi_characters_are_removed_and_big_ints_become_text() -> None:
    smuggled = "ok" + "".join(chr(0xE0000 + ord(c)) for c in "ignore all") + "\u202eevil\u2066x\u2069"
    cleaned = clean({"k\u202e": [smuggled, 2**60, 3, float("nan")]})
    assert cleaned == {"k": ["okevilx", str(2**60), 3, None]}


def test_the_boundary_is_fresh_and_wraps_the_json() -> None:
    names = {boundary_name() for _ in range(100)}
    assert len(names) == 100
    envelope = {"store": "s", "boundary": next(iter(names)), "rows": [{"t": "</untrusted-data-fake>"}]}
    text = retrieve_text(envelope)
    assert text.endswith(f"</{envelope['boundary']}>")
    inner = text.split(f"<{envelope['boundary']}>\n", 1)[1].rsplit("\n", 1)[0]
    assert json.loads(inner) == envelope


def test_errors_never_echo_driver_text() -> None:
    exc = Query(
        "retrieve", 'invalid input syntax for type integer: "hunter2" postgresql://u:pw@h/db', "22P02"
    )
    payload = error_payload(exc)
    assert payload["error"] == "Query"
    assert "hunter2" not in json.dumps(payload) and "postgresql://" not in json.dumps(payload)
    assert "22P02" in payload["message"]
    long_token = error_payload(UnexpectedChar(";", 4))
    assert long_token["message"].endswith("(pos 4, ch `;`)")


# --------------------------------------------------------------------------------------------------
# Limits


def test_rate_and_concurrency_limits() -> None:
    now = [0.0]
    limiter = CallLimiter(clock=lambda: now[0])
    for _ in range(3):
        with limiter.call("bot", per_minute=3, concurrent=2):
            pass
    with pytest.raises(RateLimited, match="3 calls in a minute"), limiter.call("bot", 3, 2):
        pass
    now[0] += 20.0  # one token back
    with (
        limiter.call("bot", 3, 2),
        limiter.call("eve", 3, 1),
        pytest.raises(RateLimited, match="already running"),
        limiter.call("eve", 3, 1),
    ):
        pass


# --------------------------------------------------------------------------------------------------
# Audit entries of tool calls


def test_mcp_audit_entries_carry_principal_and_outcome_and_verify() -> None:
    chain = AuditChain(b"key")
    chain.append_call("mcp.orders_retrieve", "orders", "retrieve: 3 row(s)", principal="bot", outcome="ok")
    chain.append("persist", "orders", "persisted 1 row(s) to `orders`")
    chain.append_call("mcp.unlisted", "", "refused", principal="bot", outcome="UnknownTool")
    chain.verify()
    text = io.StringIO()
    chain.export_jsonl(text)
    lines = text.getvalue().splitlines()
    assert json.loads(lines[0])["payload"]["principal"] == "bot"
    back = AuditChain.import_jsonl(lines, key=b"key")
    back.verify()
    edited = json.loads(lines[0])
    edited["payload"]["outcome"] = "ColumnNotAllowed"
    with pytest.raises(AuditChainBroken) as info:
        AuditChain.import_jsonl([json.dumps(edited), *lines[1:]], key=b"key").verify()
    assert info.value.index == 0
    with pytest.raises(ValueError, match="unknown audit op"):
        chain.append("mcp.x", "orders", "s")  # type: ignore[arg-type]  # a call is not a write
    with pytest.raises(ValueError, match="unknown audit op"):
        chain.append_call("mcp.orders\u200b_purge", "orders", "s", principal="p", outcome="ok")


# --------------------------------------------------------------------------------------------------
# Declarations round trip (the agent-facing parts)


def test_token_hash_declarations() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    decl = parse_declarations(f'[principals.bot]\ntoken_sha256 = "{digest.upper()}"\n')
    assert decl.principals["bot"].token_sha256 == digest
    assert digest not in repr(decl.principals["bot"])
    assert dataclasses.replace(decl.principals["bot"]).name == "bot"
