"""Table manifests: a deep, stable description of a live table, with a content hash, and a diff.

Split like the rest: the catalog queries and the decoding are pure; :func:`manifest` fetches through the
backend. A manifest is plain JSON data::

    {"table": "claims", "schema": "public",
     "columns": [{"name": "id", "type": "uuid", "sql_type": "uuid", "nullable": false,
                  "default": "gen_random_uuid()", "identity": null, "serial": false, "generated": false}],
     "primary_key": ["id"], "unique": [["email"]], "hash": "<sha256 of the rest>"}

``type`` is spelled as the backend casts it (``pg_type.typname``, or ``schema.type`` outside
``pg_catalog``); ``sql_type`` is ``format_type`` (with lengths and precision).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, LiteralString

from axonstore.backend import PostgresStoreBackend

__all__ = ["COLUMNS_SQL", "CONSTRAINTS_SQL", "build_manifest", "diff", "manifest"]

COLUMNS_SQL: Final[LiteralString] = """\
SELECT a.attname,
       CASE WHEN tn.nspname = 'pg_catalog' THEN t.typname::text ELSE tn.nspname || '.' || t.typname END,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attidentity::text,
       a.attgenerated::text
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""

CONSTRAINTS_SQL: Final[LiteralString] = """\
SELECT c.contype::text,
       array(SELECT a.attname::text
             FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.position)
FROM pg_catalog.pg_constraint c
WHERE c.conrelid = to_regclass($1) AND c.contype IN ('p', 'u')
ORDER BY c.contype, c.conname"""

_IDENTITY: Final = {"a": "always", "d": "by default"}


def qualified_name(schema: str, table: str) -> str:
    """The ``to_regclass`` argument for a resolved (safe) schema and table."""
    return f'"{schema}"."{table}"'


def build_manifest(
    schema: str, table: str, columns: Sequence[Sequence[Any]], constraints: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """The manifest from the rows of :data:`COLUMNS_SQL` and :data:`CONSTRAINTS_SQL` (pure)."""
    described = [
        {
            "name": name,
            "type": type_name,
            "sql_type": sql_type,
            "nullable": bool(nullable),
            "default": default,
            "identity": _IDENTITY.get(identity or ""),
            "serial": isinstance(default, str) and default.startswith("nextval("),
            "generated": generated == "s",
        }
        for name, type_name, sql_type, nullable, default, identity, generated in columns
    ]
    primary = next((list(keys) for kind, keys in constraints if kind == "p"), [])
    unique = sorted(list(keys) for kind, keys in constraints if kind == "u")
    body: dict[str, Any] = {
        "table": table,
        "schema": schema,
        "columns": described,
        "primary_key": primary,
        "unique": unique,
    }
    body["hash"] = content_hash(body)
    return body


def content_hash(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact) of everything but the hash itself."""
    content = {key: value for key, value in body.items() if key != "hash"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def manifest(backend: PostgresStoreBackend, table: str) -> dict[str, Any]:
    """Resolve ``table`` live (refreshing the schema cache) and describe it."""
    resolved = await backend.refresh_schema(table)
    name = [qualified_name(resolved.schema, table)]
    columns = await backend.catalog_rows(COLUMNS_SQL, name)
    constraints = await backend.catalog_rows(CONSTRAINTS_SQL, name)
    return build_manifest(resolved.schema, table, columns, constraints)


def diff(saved: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """What changed from ``saved`` to ``live``, one line per difference (empty when they agree)."""
    changes: list[str] = []
    before = {c["name"]: c for c in saved.get("columns", [])}
    after = {c["name"]: c for c in live.get("columns", [])}
    for name in before.keys() - after.keys():
        changes.append(f"column `{name}` is gone from the live table")
    for name in after.keys() - before.keys():
        changes.append(f"column `{name}` is new on the live table ({after[name]['sql_type']})")
    for name in [n for n in before if n in after]:
        for key in ("sql_type", "nullable", "default", "identity", "serial", "generated"):
            if before[name].get(key) != after[name].get(key):
                changes.append(f"column `{name}`: {key} {before[name].get(key)!r} → {after[name].get(key)!r}")
    for key in ("schema", "primary_key", "unique"):
        if saved.get(key) != live.get(key):
            changes.append(f"{key}: {saved.get(key)!r} → {live.get(key)!r}")
    return sorted(changes)
