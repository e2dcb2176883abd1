"""PostgreSQL type names: the built-in ``pg_type.typname`` spellings, SQL aliases, and the rule that says
whether a declared type matches a live one (a shared leaf: declarations, the in-memory backend and deploy
verification all use it).

>>> normalize_type_name("timestamp with time zone"), normalize_type_name("integer[]")
('timestamptz', '_int4')
>>> types_match("integer", "int4"), types_match("text", "varchar")
(True, False)
"""

from __future__ import annotations

import re

from axonstore._text import trim
from axonstore.idents import is_safe_identifier

__all__ = ["BUILTIN_TYPES", "normalize_type_name", "types_match"]


# Base types in pg_catalog as pg_type.typname spells them (PostgreSQL 18; no composite or pseudo types).
BUILTIN_TYPES = frozenset(
    """
    aclitem bit bool box bpchar bytea char cid cidr circle date datemultirange daterange float4 float8
    gtsvector inet int2 int2vector int4 int4multirange int4range int8 int8multirange int8range interval
    json jsonb jsonpath line lseg macaddr macaddr8 money name numeric nummultirange numrange oid oidvector
    path pg_brin_bloom_summary pg_brin_minmax_multi_summary pg_dependencies pg_lsn pg_mcv_list
    pg_ndistinct pg_node_tree pg_snapshot point polygon refcursor regclass regcollation regconfig
    regdictionary regnamespace regoper regoperator regproc regprocedure regrole regtype text tid time
    timestamp timestamptz timetz tsmultirange tsquery tsrange tstzmultirange tstzrange tsvector
    txid_snapshot uuid varbit varchar xid xid8 xml
    """.split()  # noqa: SIM905 (a list literal of 85 names would take 85 lines)
)

# SQL spellings (lower case, single spaces, modifiers removed) and their typname.
_ALIASES = {
    "integer": "int4",
    "int": "int4",
    "serial": "int4",
    "serial4": "int4",
    "bigint": "int8",
    "bigserial": "int8",
    "serial8": "int8",
    "smallint": "int2",
    "smallserial": "int2",
    "serial2": "int2",
    "boolean": "bool",
    "real": "float4",
    "float": "float8",
    "double precision": "float8",
    "decimal": "numeric",
    "dec": "numeric",
    "character varying": "varchar",
    "char varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",  # SQL's char(n); the one-byte internal type is written "char" with its quotes
    '"char"': "char",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time with time zone": "timetz",
    "time without time zone": "time",
    "bit varying": "varbit",
}
# Two 63-byte identifiers, a dot, modifiers and array bounds fit with room to spare.
_MAX_TYPE_CHARS = 200
_SERIALS = frozenset(("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"))

_ARRAY_SUFFIX = re.compile(r"^(?P<elem>.*?)\s*(?:(?:\[\s*\d*\s*\])+|\s+array(?:\s*\[\s*\d*\s*\])?)$", re.I)
_FLOAT_P = re.compile(r"^float\s*\(\s*(\d+)\s*\)$", re.I)
_MODIFIER = re.compile(r"\s*\(\s*\d+\s*(?:,\s*-?\d+\s*)?\)")
_INTERVAL_FIELDS = re.compile(
    r"^interval(?: (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?$"
)


def normalize_type_name(name: str) -> str:
    """A declared column type as ``pg_type.typname`` spells it: ``integer`` → ``int4``,
    ``integer[]`` → ``_int4``, ``varchar(20)`` → ``varchar``, ``timestamp with time zone`` →
    ``timestamptz``, ``float(24)`` → ``float4``.

    Built-in names are case-insensitive; any other name is a user-defined type (enum, domain, …),
    ``type`` or ``schema.type`` with safe identifier parts, kept as written (``pg_catalog.`` is
    dropped). Type modifiers (lengths, precision) are dropped: only the type is compared.
    Raises ``ValueError`` (with a reason) for anything else.

    The input is a SQL spelling, so ``char`` is ``bpchar`` (as in ``CREATE TABLE``); the one-byte
    internal type is written ``"char"``. That is the one typname that does not normalise to itself.
    """
    text = " ".join(trim(name).split())
    if not text:
        raise ValueError('a column type must not be blank — write a PostgreSQL type such as "text"')
    if len(text) > _MAX_TYPE_CHARS:  # also keeps the regular expressions below cheap
        raise ValueError(f"a column type of {len(text)} characters is not a PostgreSQL type name")
    array = _ARRAY_SUFFIX.match(text)
    if array is not None and array.group("elem"):
        return _array_of(array.group("elem"))
    return _scalar_type(text)


def _array_of(element: str) -> str:
    """The typname of an array of ``element`` (``s.t`` → ``s._t``)."""
    base = _scalar_type(element)
    if element.lower() in _SERIALS:
        raise ValueError(f"`{element}` cannot be an array element — use the integer type it stands for")
    schema, _, typ = base.rpartition(".")
    if typ.startswith("_") and typ[1:].lower() in BUILTIN_TYPES:
        raise ValueError(f"`{element}` is already an array type — write the element type with []")
    return f"{schema}._{typ}" if schema else f"_{typ}"


def _scalar_type(text: str) -> str:
    float_p = _FLOAT_P.match(text)
    if float_p is not None:
        return _float_precision(int(float_p.group(1)))
    bare = " ".join(_MODIFIER.sub(" ", text).split())
    lower = bare.lower()
    if lower in _ALIASES:
        return _ALIASES[lower]
    if lower in BUILTIN_TYPES or _INTERVAL_FIELDS.match(lower):
        return "interval" if lower.startswith("interval") else lower
    return _user_type(bare, text)


def _float_precision(bits: int) -> str:
    if 1 <= bits <= 24:
        return "float4"
    if 25 <= bits <= 53:
        return "float8"
    raise ValueError(f"float({bits}) is out of range — precision must be between 1 and 53 bits")


def _user_type(bare: str, original: str) -> str:
    """``type`` or ``schema.type`` (safe identifiers), or a built-in array typname such as ``_int4``."""
    parts = bare.split(".")
    if len(parts) > 2 or not all(is_safe_identifier(p) for p in parts):
        raise ValueError(
            f"`{original}` is not a PostgreSQL type name — use a built-in such as int4, text, uuid, "
            "timestamptz (or an alias: integer, bigint, boolean, varchar, …), or a user-defined "
            "`type` / `schema.type` made of [A-Za-z_][A-Za-z0-9_]* parts"
        )
    if len(parts) == 2 and parts[0].lower() == "pg_catalog":
        return _catalog_type(parts[1], original)
    if len(parts) == 1 and parts[0].startswith("_") and parts[0][1:].lower() in BUILTIN_TYPES:
        return parts[0].lower()
    return bare


def _catalog_type(typ: str, original: str) -> str:
    lower = typ.lower()
    if lower in BUILTIN_TYPES or (lower.startswith("_") and lower[1:] in BUILTIN_TYPES):
        return lower
    raise ValueError(f"`{original}` is not a pg_catalog type — write the typname, e.g. pg_catalog.int4")


def types_match(declared: str, live: str) -> bool:
    """Whether a declared column type matches the live one.

    ``declared`` is normalised (``integer`` matches ``int4``; ``text`` does not match ``varchar``);
    ``live`` is taken as ``pg_type.typname`` spells it, bare for pg_catalog types and ``schema.type``
    for the others, as introspection reports it (so a live ``char`` is the one-byte type, not
    ``bpchar``). A user-defined type matches with or without its schema on either side, but two
    different schemas do not match. A declared name that cannot be normalised is compared as written.
    """
    try:
        d = normalize_type_name(declared)
    except ValueError:
        d = declared
    lv = trim(live)
    if lv.lower().startswith("pg_catalog."):
        lv = lv[len("pg_catalog.") :].lower()
    if d == lv:
        return True
    d_schema, _, d_type = d.rpartition(".")
    l_schema, _, l_type = lv.rpartition(".")
    if d_schema and l_schema:
        return False
    return d_type == l_type
