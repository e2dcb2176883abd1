"""The red-team corpus: attacks from real incidents against database tools for agents (MCP.md §3).

Every attack is sent as a tool call by a real MCP client session; ``judge`` checks the JSON-RPC result
(an error result with the expected class, a protocol error, or an allowed result that leaks nothing)
and the caller checks that the database is exactly as it was. The attacker's success count must be 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult

PROTOCOL = "protocol error -32602"
OK = "ok"

_TAGS = {chr(c) for c in range(0xE0000, 0xE0080)}
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


@dataclass(frozen=True)
class Attack:
    """One call an attacker makes, and what the server must answer."""

    id: str
    principal: str
    tool: str  # without the store prefix: "retrieve" → "<store>_retrieve"; "=name" is the exact name
    arguments: dict[str, Any]
    expect: str  # an error class name, PROTOCOL, or OK
    check: Callable[[dict[str, Any]], str | None] | None = None  # more checks on an OK result
    never_echo: tuple[str, ...] = field(default=())

    def name(self, store: str) -> str:
        """The tool name this attack calls."""
        return self.tool[1:] if self.tool.startswith("=") else f"{store}_{self.tool}"


def _only_org(org: int) -> Callable[[dict[str, Any]], str | None]:
    def check(result: dict[str, Any]) -> str | None:
        orgs = {row.get("org_id") for row in result["rows"]}
        return None if orgs <= {org} else f"rows of another organisation leaked: {sorted(map(str, orgs))}"

    return check


def _no_rows(result: dict[str, Any]) -> str | None:
    return None if result["rows"] == [] else f"{len(result['rows'])} rows where none may match"


def _clean_rows(result: dict[str, Any]) -> str | None:
    text = json.dumps(result, ensure_ascii=False)
    if any(ch in text for ch in _TAGS | _BIDI):
        return "a tag or bidi character reached the agent"
    if result.get("taint") != "untrusted" or not str(result.get("boundary", "")).startswith(
        "untrusted-data-"
    ):
        return "the result is not marked untrusted inside structuredContent"
    return None


def _trusted_only(result: dict[str, Any]) -> str | None:
    ids = {row["id"] for row in result["rows"]}
    if ids & {8, 9}:
        return "a row below the confidence floor was returned"
    return None if result["below_floor_filtered"] == 0 else "below_floor_filtered is a count oracle"


def _count_is(n: int) -> Callable[[dict[str, Any]], str | None]:
    def check(result: dict[str, Any]) -> str | None:
        values = [v for row in result["rows"] for v in row.values()]
        return None if values == [n] else f"aggregate saw {values}, expected [{n}] (trusted rows only)"

    return check


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


STACKED = [
    Attack(
        "stacked-commit-drop",
        "bot",
        "retrieve",
        {"where": "status = 'x'; COMMIT; DROP TABLE t"},
        "UnexpectedChar",
    ),
    Attack("comment-swallows", "bot", "retrieve", {"where": "id = 1 -- c"}, "ExpectedConnector"),
    Attack("dollar-quote", "bot", "retrieve", {"where": "status = $$x$$"}, "UnexpectedChar"),
    Attack(
        "binding-breaks-out",
        "bot",
        "retrieve",
        {"where": "status = '${s}'", "bindings": {"s": "x'; COMMIT; BEGIN READ WRITE; DROP TABLE t; --"}},
        OK,
        _no_rows,
        ("DROP TABLE",),
    ),
    Attack(
        "limit-stacked",
        "bot",
        "retrieve",
        {"limit": "1; DROP TABLE x"},
        "InvalidArguments",
        never_echo=("DROP",),
    ),
    Attack("order-stacked", "bot", "retrieve", {"order_by": "id; DROP"}, "BadOrderBy", never_echo=("DROP",)),
    Attack("order-subselect", "bot", "retrieve", {"order_by": "id desc, (select 1)"}, "BadOrderBy"),
    Attack("aggregate-stacked", "bot", "retrieve", {"aggregate": "count; DROP TABLE t"}, "BadAggregate"),
    Attack(
        "group-stacked", "bot", "retrieve", {"aggregate": "count", "group_by": "status; DROP"}, "BadGroupBy"
    ),
    Attack("cursor-stacked", "bot", "retrieve", {"cursor": "'; DROP TABLE t; --"}, "InvalidCursor"),
    Attack(
        "mutate-where-stacked",
        "bot",
        "mutate",
        {"where": "id = 1; DELETE FROM t", "set": {"status": "x"}},
        "UnexpectedChar",
    ),
    Attack("purge-where-stacked", "bot", "purge", {"where": "id = 1; DROP TABLE t"}, "UnexpectedChar"),
]

FUNCTIONS = [
    Attack(
        "pg_read_file", "bot", "retrieve", {"where": "status = pg_read_file('/etc/passwd')"}, "UnquotedValue"
    ),
    Attack("pg_sleep", "bot", "retrieve", {"where": "pg_sleep(10) = 1"}, "ExpectedOperator"),
    Attack(
        "query_to_xml",
        "bot",
        "retrieve",
        {"where": "status = query_to_xml('select * from secrets',true,true,'')"},
        "UnquotedValue",
    ),
    Attack("lo_import", "bot", "retrieve", {"where": "id = lo_import('/etc/passwd')"}, "UnquotedValue"),
    Attack(
        "dblink_exec", "bot", "purge", {"where": "id = dblink_exec('x', 'DROP TABLE t')"}, "UnquotedValue"
    ),
    Attack(
        "copy-program", "bot", "retrieve", {"where": "COPY (select 1) TO PROGRAM 'id'"}, "ExpectedOperator"
    ),
    Attack("order-function", "bot", "retrieve", {"order_by": "pg_sleep(1)"}, "BadOrderBy"),
    Attack("aggregate-function", "bot", "retrieve", {"aggregate": "sum(pg_read_file('x'))"}, "BadAggregate"),
    Attack(
        "function-as-data",
        "bot",
        "retrieve",
        {"where": "status = '${s}'", "bindings": {"s": "pg_read_file('/etc/passwd')"}},
        OK,
        _no_rows,
    ),
]

IDENTIFIERS = [
    Attack(
        "hidden-column-oracle",
        "bot",
        "retrieve",
        {"where": "secret LIKE 's3%'"},
        "ColumnNotAllowed",
        never_echo=("s3cr3t",),
    ),
    Attack("hidden-order", "bot", "retrieve", {"order_by": "secret"}, "ColumnNotAllowed"),
    Attack("hidden-aggregate", "bot", "retrieve", {"aggregate": "max(secret)"}, "ColumnNotAllowed"),
    Attack(
        "hidden-group", "bot", "retrieve", {"aggregate": "count", "group_by": "secret"}, "ColumnNotAllowed"
    ),
    Attack("quoted-identifier", "bot", "retrieve", {"where": "\"secret\" = 'x'"}, "ExpectedColumn"),
    Attack("case-changed-column", "bot", "retrieve", {"where": "Id = 1"}, "ColumnNotAllowed"),
    Attack("long-column", "bot", "retrieve", {"where": "a" * 64 + " = 1"}, "ColumnTooLong"),
    Attack(
        "misspelt-column",
        "bot",
        "retrieve",
        {"where": "stauts = 'x'"},
        "ColumnNotAllowed",
        never_echo=("Perhaps", "status"),
    ),
    Attack("unresolved-binding", "bot", "retrieve", {"where": "status = '${x}'"}, "InvalidArguments"),
    Attack("server-binding", "bot", "retrieve", {"where": "org_id = '${_bind_0}'"}, "InvalidArguments"),
    Attack(
        "unused-binding", "bot", "retrieve", {"where": "id = 1", "bindings": {"s": "x"}}, "InvalidArguments"
    ),
    Attack(
        "like-everything",
        "bot",
        "retrieve",
        {"where": "status LIKE '${q}'", "bindings": {"q": "%"}},
        OK,
        _only_org(42),
    ),
    Attack("int8-overflow", "bot", "retrieve", {"where": "id = 9223372036854775808"}, "Query"),
]

SCOPE = [
    Attack("tenant-or-escape", "bot", "retrieve", {"where": "org_id = 7 OR id != null"}, OK, _only_org(42)),
    Attack("tenant-not-escape", "bot", "retrieve", {"where": "NOT (org_id = 42)"}, OK, _no_rows),
    Attack("tenant-direct", "bot", "retrieve", {"where": "org_id = 7"}, OK, _no_rows),
    Attack("tenant-paren-escape", "bot", "retrieve", {"where": "id = 1) OR (org_id = 7"}, "UnbalancedParen"),
    Attack(
        "tenant-foreign-mutate",
        "bot",
        "mutate",
        {"where": "id = 100", "set": {"status": "pwned"}},
        OK,
        lambda r: None if r["rows"] == 0 else "a foreign row was changed",
    ),
    Attack(
        "tenant-foreign-purge",
        "bot",
        "purge",
        {"where": "org_id = 7"},
        OK,
        lambda r: None if r["rows"] == 0 else "a foreign row was deleted",
    ),
    Attack(
        "tenant-foreign-persist",
        "bot",
        "persist",
        {"row": {"id": 500, "org_id": 7, "status": "x"}},
        "ColumnNotAllowed",
    ),
    Attack(
        "tenant-aggregate",
        "bot",
        "retrieve",
        {"aggregate": "count", "where": "org_id = 7 OR id != null"},
        OK,
        _count_is(7),
    ),
]

UNICODE = [
    Attack("fullwidth-equals", "bot", "retrieve", {"where": "status ＝ 'x'"}, "UnexpectedChar"),
    Attack("fullwidth-semicolon", "bot", "retrieve", {"where": "status = 'x'；"}, "UnexpectedChar"),
    Attack("cyrillic-i", "bot", "retrieve", {"where": "іd = 1"}, "UnexpectedChar"),
    Attack("fullwidth-column", "bot", "retrieve", {"where": "ｉｄ = 1"}, "UnexpectedChar"),
    Attack("arabic-digit", "bot", "retrieve", {"where": "amount > ٣"}, "UnexpectedChar"),
    Attack("fullwidth-quote", "bot", "retrieve", {"where": "status = ＇x＇"}, "UnexpectedChar"),
    Attack("file-separator", "bot", "retrieve", {"where": "id\x1c= 1"}, "UnexpectedChar"),
    Attack("zero-width-tool", "bot", "=ORDERS\u200b_purge", {"where": "id = 1"}, PROTOCOL),
]

OVERSIZED = [
    Attack(
        "257-conditions", "bot", "retrieve", {"where": " OR ".join(["id = 1"] * 257)}, "TooManyConditions"
    ),
    Attack(
        "100kb-where", "bot", "retrieve", {"where": "id = 1 AND " * 10_000 + "id = 1"}, "InvalidArguments"
    ),
    Attack(
        "3mb-binding",
        "bot",
        "retrieve",
        {"where": "status = '${s}'", "bindings": {"s": "x" * 3_000_000}},
        "InvalidArguments",
    ),
    Attack(
        "many-binding-keys",
        "bot",
        "retrieve",
        {"where": "id = 1", "bindings": {f"k{i}": "v" for i in range(100_000)}},
        "InvalidArguments",
    ),
    Attack("deep-json", "bot", "persist", {"row": {"id": 700, "note": _nested(40)}}, "InvalidArguments"),
    Attack(
        "in-list-256", "bot", "retrieve", {"where": "id IN (" + ", ".join(["1"] * 257) + ")"}, "TooManyValues"
    ),
]

WRITES = [
    Attack("mutate-empty-where", "bot", "mutate", {"where": "", "set": {"status": "x"}}, "InvalidArguments"),
    Attack("mutate-blank-where", "bot", "mutate", {"where": "   ", "set": {"status": "x"}}, "UnboundedWrite"),
    Attack("purge-empty-where", "bot", "purge", {"where": ""}, "InvalidArguments"),
    Attack("purge-tautology", "bot", "purge", {"where": "id != null"}, "TooManyRowsAffected"),
    Attack(
        "mutate-over-limit",
        "bot",
        "mutate",
        {"where": "id >= 0", "set": {"status": "x"}},
        "TooManyRowsAffected",
    ),
    Attack("purge-over-limit", "bot", "purge", {"where": "status = 'open'"}, "TooManyRowsAffected"),
]

ESCALATION = [
    Attack("unlisted-purge", "reader", "purge", {"where": "id = 1"}, PROTOCOL),
    Attack("unlisted-mutate", "reader", "mutate", {"where": "id = 1", "set": {"status": "x"}}, PROTOCOL),
    Attack("case-changed-tool", "bot", "=ORDERS_PURGE", {"where": "id = 1"}, PROTOCOL),
    Attack("invented-tool", "bot", "drop", {}, PROTOCOL),
    Attack("other-store-tool", "bot", "=pg_catalog_retrieve", {}, PROTOCOL),
    Attack(
        "principal-in-arguments",
        "reader",
        "retrieve",
        {"principal": "bot", "where": "id = 1"},
        "InvalidArguments",
    ),
]

CONFIDENCE = [
    Attack(
        "self-elevated-persist",
        "bot",
        "persist",
        {"row": {"id": 600, "status": "x", "_confidence": 1.0}},
        "ColumnNotAllowed",
    ),
    Attack(
        "self-elevated-mutate",
        "bot",
        "mutate",
        {"where": "id = 8", "set": {"_confidence": "1"}},
        "ColumnNotAllowed",
    ),
    Attack(
        "confidence-as-text",
        "bot",
        "persist",
        {"row": {"id": 601, "status": "x", "_confidence": "inf"}},
        "ColumnNotAllowed",
    ),
    Attack("sub-floor-principal", "lowconf", "persist", {"row": {"id": 602, "status": "x"}}, "SubFloorWrite"),
    Attack("floor-hides-rows", "bot", "retrieve", {"where": "id >= 8 AND id <= 9"}, OK, _trusted_only),
    Attack("floor-in-aggregate", "bot", "retrieve", {"aggregate": "count"}, OK, _count_is(7)),
]

LIMITS = [
    Attack("limit-zero", "bot", "retrieve", {"limit": 0}, "InvalidArguments"),
    Attack("limit-negative", "bot", "retrieve", {"limit": -1}, "InvalidArguments"),
    Attack("limit-u32", "bot", "retrieve", {"limit": 4294967295}, "InvalidArguments"),
    Attack("limit-text", "bot", "retrieve", {"limit": "1e9"}, "InvalidArguments"),
    Attack("forged-cursor", "bot", "retrieve", {"cursor": "eyJ2IjoxfQ.AAAA"}, "InvalidCursor"),
]

INJECTION = [
    Attack("injection-in-rows", "bot", "retrieve", {"where": "id = 2"}, OK, _clean_rows),
]

CORPUS: list[Attack] = [
    *STACKED,
    *FUNCTIONS,
    *IDENTIFIERS,
    *SCOPE,
    *UNICODE,
    *OVERSIZED,
    *WRITES,
    *ESCALATION,
    *CONFIDENCE,
    *LIMITS,
    *INJECTION,
]
PRINCIPALS = sorted({attack.principal for attack in CORPUS})


def judge(attack: Attack, outcome: CallToolResult | MCPError) -> str | None:
    """``None`` when the server answered as it must; otherwise what went wrong (an attacker success)."""
    if isinstance(outcome, MCPError):
        if attack.expect == PROTOCOL and outcome.code == INVALID_PARAMS:
            return None
        return f"protocol error {outcome.code} where {attack.expect} was expected"
    if attack.expect == PROTOCOL:
        return "a tool the principal may not call was run"
    structured = outcome.structured_content
    text = "".join(getattr(block, "text", "") for block in outcome.content)
    if not isinstance(structured, dict):
        return "no structuredContent"
    for secret in (*attack.never_echo, "s3cr3t", "foreign-", "postgresql://", "SELECT ", "password"):
        if secret in text or secret in json.dumps(structured, ensure_ascii=False):
            return f"the result echoes {secret!r}"
    if attack.expect == OK:
        if outcome.is_error:
            return f"refused with {structured.get('error')}: {structured.get('message')}"
        return attack.check(structured) if attack.check else None
    if not outcome.is_error:
        return f"ran (expected {attack.expect})"
    if structured.get("error") != attack.expect:
        return (
            f"refused with {structured.get('error')} ({structured.get('message')}), expected {attack.expect}"
        )
    if json.loads(text) != structured:
        return "the text block does not mirror structuredContent"
    if not structured.get("message") or "hint" not in structured:
        return "an error result without message and hint"
    return None
