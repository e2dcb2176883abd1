"""Row decoding (CONTRACT §3.4): every column type to a JSON-safe value, against a real PostgreSQL.

Expected values come from the mapping itself (literals), or from PostgreSQL in the same query: the
text output (``v::text``) for types that map to it, ``extract(epoch …)`` for timestamptz, and
psycopg's own list loader for text arrays.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import pq, sql
from psycopg.rows import dict_row, tuple_row

from axonstore import rows
from axonstore.rows import ADAPTERS, ArrayType, TypeRegistry, make_adapters, parse_array, type_info_query
from axonstore.rows._arrays import _array_decoder

_KW: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}


# --------------------------------------------------------------------------------------------------
# Fixtures: one schema of user-defined types for the module; connections with our adapters


@pytest.fixture(scope="module")
def schema(pg_server: Any) -> Iterator[str]:
    """A fresh schema holding an enum, a composite, domains and their arrays (dropped afterwards)."""
    name = f"rows_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.admin_dsn, **_KW) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hstore")
        ddl = f"""
            CREATE SCHEMA {name};
            CREATE TYPE {name}.tier AS ENUM ('gold', 'silver', 'with space', 'NULL');
            CREATE TYPE {name}.pair AS (a int, b text);
            CREATE DOMAIN {name}.posint AS int4 CHECK (VALUE > 0);
            CREATE DOMAIN {name}.posint2 AS {name}.posint;
            CREATE DOMAIN {name}.money2 AS numeric(10, 2);
            CREATE DOMAIN {name}.boxd AS box;
            CREATE DOMAIN {name}.stamp AS timestamptz;
            CREATE DOMAIN {name}.tiers AS {name}.tier[];
            CREATE DOMAIN {name}.tiers2 AS {name}.tiers;
        """
        conn.execute(ddl.encode())
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.admin_dsn, **_KW) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def registry(pg_server: Any, schema: str) -> TypeRegistry:
    """A registry that learnt the schema's array types through ``type_info_query``."""
    reg = TypeRegistry()
    with psycopg.connect(pg_server.dsn, **_KW) as conn:
        oids = [
            row[0]
            for row in conn.execute(
                "SELECT t.oid::int8 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = %s",
                [schema],
            )
        ]
        extension_arrays = conn.execute("SELECT '_citext'::regtype::oid::int8, '_hstore'::regtype::oid::int8")
        oids.extend(extension_arrays.fetchone() or ())
        pending = reg.pending(oids)
        query, params = type_info_query(pending)
        with psycopg.RawCursor(conn, row_factory=tuple_row) as cur:
            found = cur.execute(query, params).fetchall()
        reg.learn(pending, found)
    return reg


@pytest.fixture(scope="module")
def conn(pg_server: Any, registry: TypeRegistry) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection decoding with ``ADAPTERS`` and the registry's row factory."""
    with psycopg.connect(pg_server.dsn, context=ADAPTERS, row_factory=registry.row_factory, **_KW) as c:
        yield c


@pytest.fixture
def session(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """``conn`` with the session settings a test changes put back afterwards."""
    yield conn
    conn.execute("RESET ALL")


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> dict[str, Any]:
    """The single row of ``query``, decoded; it must also serialise as strict JSON."""
    row = conn.execute(query.encode(conn.info.encoding), params).fetchone()
    assert isinstance(row, dict)
    json.dumps(row, allow_nan=False)
    return row


def value(conn: psycopg.Connection[Any], expression: str) -> Any:
    return one(conn, f"SELECT {expression} AS v")["v"]


def value_and_text(conn: psycopg.Connection[Any], expression: str) -> tuple[Any, Any]:
    """The decoded value of ``expression`` and PostgreSQL's text output of it, in one statement."""
    row = one(conn, f"SELECT {expression} AS v, ({expression})::text AS t")
    return row["v"], row["t"]


# --------------------------------------------------------------------------------------------------
# The adapters map


def test_connection_copies_our_adapters(conn: psycopg.Connection[Any]) -> None:
    loaders = {conn.adapters.get_loader(oid, pq.Format.TEXT) for oid in (700, 1184, 1009)}
    assert loaders == {ADAPTERS.get_loader(oid, pq.Format.TEXT) for oid in (700, 1184, 1009)}
    assert conn.adapters is not ADAPTERS  # a copy: the connection cannot change ours


def test_every_text_loader_is_ours_or_a_plain_c_loader() -> None:
    adapters = make_adapters()
    allowed_c = {"BoolLoader", "IntLoader", "TextLoader"}
    text_loaders = adapters._loaders[pq.Format.TEXT]  # no public way to list them
    assert len(text_loaders) > 150
    for oid, loader in text_loaders.items():
        ours = loader.__module__ == "axonstore.rows"
        assert ours or loader.__name__ in allowed_c, (oid, loader)
    assert text_loaders[0].__name__ == "TextLoader"  # unknown OIDs (enums, citext…) load as text


def test_global_psycopg_adapters_do_not_reach_us(pg_server: Any) -> None:
    class Silly(psycopg.adapt.Loader):
        def load(self, data: Any) -> Any:
            return f"silly {bytes(data)!r}"

    original = psycopg.adapters.get_loader(23, pq.Format.TEXT)
    assert original is not None
    psycopg.adapters.register_loader("int4", Silly)
    try:
        with psycopg.connect(pg_server.dsn, **_KW) as plain:
            assert plain.execute("SELECT 7::int4").fetchone() == ("silly b'7'",)  # the change is real
        fresh = make_adapters()  # built after the change, still unaffected
        for context in (ADAPTERS, fresh):
            with psycopg.connect(pg_server.dsn, context=context, row_factory=rows.row_factory, **_KW) as c:
                assert c.execute("SELECT 7::int4 AS n").fetchone() == {"n": 7}
    finally:
        psycopg.adapters.register_loader(23, original)
    with psycopg.connect(pg_server.dsn, **_KW) as plain:
        assert plain.execute("SELECT 7::int4").fetchone() == (7,)


def test_dumpers_are_there_for_parameters(conn: psycopg.Connection[Any]) -> None:
    got = one(
        conn, "SELECT %s::text AS s, %s::int8 AS i, %s::float8 AS f, %s::bool AS b", ["x", 2, 1.5, True]
    )
    assert got == {"s": "x", "i": 2, "f": 1.5, "b": True}


# --------------------------------------------------------------------------------------------------
# Scalars


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("true", True),
        ("false", False),
        ("(-32768)::int2", -32768),
        ("2147483647::int4", 2147483647),
        ("(-9223372036854775808)::int8", -9223372036854775808),
        ("'0.1'::float4", 0.1),
        ("'3.4028235e38'::float4", 3.4028235e38),
        ("'1.5'::float8", 1.5),
        ("'1e308'::float8", 1e308),
        ("'4.9e-324'::float8", 5e-324),
        ("'NaN'::float8", None),
        ("'Infinity'::float8", None),
        ("'-Infinity'::float8", None),
        ("'NaN'::float4", None),
        ("'-Infinity'::float4", None),
        ("'0.50'::numeric", "0.50"),
        ("'0.0000001'::numeric", "0.0000001"),
        ("'1e-30'::numeric", "0." + "0" * 29 + "1"),
        ("'1e40'::numeric", "1" + "0" * 40),
        ("'-12.340'::numeric(10,3)", "-12.340"),
        ("'NaN'::numeric", "NaN"),
        ("'Infinity'::numeric", "Infinity"),
        ("'-Infinity'::numeric", "-Infinity"),
        ("'héllo'::text", "héllo"),
        ("'ab'::varchar(5)", "ab"),
        ("'ab'::char(5)", "ab   "),
        ("'pg_class'::name", "pg_class"),
        ("'MiXeD'::citext", "MiXeD"),
        ("'x'::\"char\"", "x"),
        ("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("NULL::int4", None),
        ("NULL::text", None),
        ("NULL::timestamptz", None),
        ("NULL::int4[]", None),
    ],
)
def test_scalar(conn: psycopg.Connection[Any], expression: str, expected: Any) -> None:
    got = value(conn, expression)
    assert got == expected
    assert type(got) is type(expected)


def test_float_negative_zero_and_float4_is_what_postgres_prints(conn: psycopg.Connection[Any]) -> None:
    got = value(conn, "'-0.0'::float8")
    assert got == 0.0 and math.copysign(1.0, got) == -1.0
    row = one(
        conn,
        "SELECT x AS v, x::text AS t FROM (VALUES ('0.1'::float4), ('1.17549435e-38'), ('123456.7')) s(x)",
    )
    assert row["v"] == float(row["t"])  # D11: not widened (0.10000000149011612)
    for text in ("0.1", "0.3", "16777217", "1.0000001"):
        row = one(conn, f"SELECT '{text}'::float4 AS v, '{text}'::float4::text AS t")
        assert row["v"] == float(row["t"])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'2024-02-29'::date", "2024-02-29"),
        ("'0001-01-01'::date", "0001-01-01"),
        ("'2024-01-02 03:04:05'::timestamp", "2024-01-02T03:04:05"),
        ("'2024-01-02 03:04:05.5'::timestamp", "2024-01-02T03:04:05.500"),
        ("'2024-01-02 03:04:05.12'::timestamp", "2024-01-02T03:04:05.120"),
        ("'2024-01-02 03:04:05.123'::timestamp", "2024-01-02T03:04:05.123"),
        ("'2024-01-02 03:04:05.1234'::timestamp", "2024-01-02T03:04:05.123400"),
        ("'2024-01-02 03:04:05.123456'::timestamp", "2024-01-02T03:04:05.123456"),
        ("'2024-01-02 03:04:05.000001'::timestamp", "2024-01-02T03:04:05.000001"),
        ("'12:34:56'::time", "12:34:56"),
        ("'12:34:56.5'::time", "12:34:56.500"),
        ("'12:34:56.1234'::time", "12:34:56.123400"),
        ("'24:00:00'::time", "24:00:00"),
        ("'2024-01-02 03:04:05+00'::timestamptz", "2024-01-02T03:04:05+00:00"),
        ("'2024-01-02 03:04:05.5+02'::timestamptz", "2024-01-02T01:04:05.500+00:00"),
        ("'2024-01-01 01:00:00.12+05:30'::timestamptz", "2023-12-31T19:30:00.120+00:00"),
    ],
)
def test_temporal(conn: psycopg.Connection[Any], expression: str, expected: str) -> None:
    assert value(conn, expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "'0044-03-15 BC'::date",
        "'infinity'::date",
        "'-infinity'::date",
        "'10000-01-01'::date",
        "'0044-03-15 12:00:00 BC'::timestamp",
        "'infinity'::timestamp",
        "'12345-06-07 08:09:10'::timestamp",
        "'0044-03-15 12:00:00+00 BC'::timestamptz",
        "'-infinity'::timestamptz",
        "'infinity'::timestamptz",
        "'10000-01-01 00:00:00+00'::timestamptz",
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_temporal_values_rfc3339_cannot_express_are_postgres_text(
    session: psycopg.Connection[Any], expression: str, zone: str
) -> None:
    session.execute(f"SET TIME ZONE '{zone}'".encode())
    row = one(session, f"SELECT {expression} AS v, ({expression})::text AS t")
    assert row["v"] == row["t"]


def _rfc3339_utc(epoch: Decimal) -> str:
    """An independent rendering of the mapping: UTC, ``+00:00``, 0/3/6 fraction digits."""
    moment = datetime(1970, 1, 1) + timedelta(microseconds=int(epoch * 1_000_000))
    micros = moment.microsecond
    spec = "seconds" if micros == 0 else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return moment.isoformat("T", spec) + "+00:00"


_INSTANTS = [
    "2024-01-01 00:00:00+00",
    "2024-03-05 06:07:08.5+00",
    "2024-06-30 23:59:59.999999+00",
    "2024-11-03 05:30:00.12+00",  # 01:30 EDT, the first of two 01:30s in New York
    "2024-11-03 06:30:00.1234+00",  # 01:30 EST, the second
    "2024-03-10 07:00:00+00",  # just after New York springs forward
    "2000-02-29 18:30:00+00",  # midnight in Kolkata, on a leap day
    "1999-12-31 23:59:59.5+00",
    "1900-01-01 00:00:00+00",  # local mean time in several zones: offsets with seconds
    "1850-06-01 12:00:00+00",
    "0001-01-01 12:00:00+00",
    "0001-01-01 02:00:00+00",  # still 1 BC in New York (and printed so)
    "9999-12-31 12:00:00+00",
    "1970-01-01 00:00:00.001+00",
]
_ZONES = [
    "UTC",
    "Asia/Kolkata",
    "America/New_York",
    "Asia/Kathmandu",
    "Europe/Amsterdam",
    "Pacific/Kiritimati",
]


@pytest.mark.parametrize("zone", _ZONES)
def test_timestamptz_is_utc_whatever_the_session_zone(session: psycopg.Connection[Any], zone: str) -> None:
    session.execute(f"SET TIME ZONE '{zone}'".encode())
    for instant in _INSTANTS:
        row = one(
            session,
            f"SELECT '{instant}'::timestamptz AS v, extract(epoch FROM '{instant}'::timestamptz) AS e",
        )
        assert row["v"] == _rfc3339_utc(Decimal(row["e"])), (zone, instant)


def test_timestamptz_near_the_range_ends_stays_text_when_utc_leaves_it(
    session: psycopg.Connection[Any],
) -> None:
    session.execute(b"SET TIME ZONE 'Asia/Kolkata'")
    got, text = value_and_text(session, "'0001-01-01 03:00:00+05:30'::timestamptz")
    assert got == text  # 0001-01-01 03:00 IST is in year 0 in UTC (1 BC)
    session.execute(b"SET TIME ZONE 'America/New_York'")
    got, text = value_and_text(session, "'9999-12-31 23:00:00-05'::timestamptz")
    assert got == text  # year 10000 in UTC


_STYLES = ["ISO, DMY", "SQL, DMY", "SQL, MDY", "German", "Postgres, MDY", "Postgres, DMY", "SQL, YMD"]


def _style_columns() -> dict[str, str]:
    columns = {}
    for n, instant in enumerate(_INSTANTS):
        for prefix, kind in (("tz", "timestamptz"), ("ts", "timestamp"), ("dt", "date")):
            columns[f"{prefix}{n}"] = f"'{instant}'::{kind}"
    columns["za"] = "ARRAY['2024-11-03 05:30:00+00'::timestamptz, NULL]"
    columns["da"] = "ARRAY['2024-01-02'::date]"
    return columns


@pytest.mark.parametrize("style", _STYLES)
@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Kolkata", "America/New_York", "Asia/Kathmandu", "Europe/Amsterdam"]
)
def test_every_datestyle_decodes_like_iso(session: psycopg.Connection[Any], style: str, zone: str) -> None:
    columns = _style_columns()
    query = "SELECT " + ", ".join(f"{e} AS {k}" for k, e in columns.items())
    texts_query = "SELECT " + ", ".join(f"({e})::text AS {k}" for k, e in columns.items())
    session.execute(f"SET TIME ZONE '{zone}'; SET DateStyle = 'ISO, MDY'".encode())
    iso = one(session, query)
    session.execute(f"SET DateStyle = '{style}'".encode())
    other, texts = one(session, query), one(session, texts_query)
    for key, expected in iso.items():
        if other[key] != expected:  # the documented fallback, only where a zone database may differ
            assert other[key] == texts[key], (style, zone, key)
            assert key.startswith("tz") and _INSTANTS[int(key[2:])] < "1970-01-02", (
                style,
                zone,
                key,
                other[key],
            )


def test_unparseable_zone_abbreviation_falls_back_to_text(session: psycopg.Connection[Any]) -> None:
    session.execute(b"SET TIME ZONE '<+03>-03'; SET DateStyle = 'SQL, DMY'")  # a POSIX zone: no zoneinfo
    row = one(
        session,
        "SELECT '2024-01-02 03:04:05+00'::timestamptz AS v, '2024-01-02 03:04:05+00'::timestamptz::text AS t",
    )
    assert row["v"] in {"2024-01-02T03:04:05+00:00", row["t"]}  # exact, or the text — never wrong
    session.execute(b"SET TIME ZONE 'Asia/Kathmandu'")  # abbreviation "+0545": exact
    assert value(session, "'2024-01-02 03:04:05+00'::timestamptz") == "2024-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("''::bytea", ""),
        ("'\\xdeadbeef'::bytea", "3q2+7w=="),
        ("'\\x00ff10'::bytea", "AP8Q"),
        ("'abc\\\\'::bytea", "YWJjXA=="),
        ("decode(repeat('ff00', 1000), 'hex')", base64.b64encode(b"\xff\x00" * 1000).decode()),
    ],
)
@pytest.mark.parametrize("output", ["hex", "escape"])
def test_bytea_is_padded_base64(
    session: psycopg.Connection[Any], expression: str, expected: str, output: str
) -> None:
    session.execute(f"SET bytea_output = '{output}'".encode())
    assert value(session, expression) == expected
    assert value(session, f"ARRAY[{expression}, NULL]") == [expected, None]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('\'{"a": [1, 2.5, null, true, "x"]}\'::json', {"a": [1, 2.5, None, True, "x"]}),
        ('\'{"b": 1, "a": 2}\'::jsonb', {"a": 2, "b": 1}),
        ("'[]'::jsonb", []),
        ("'\"text\"'::json", "text"),
        ("'null'::jsonb", None),
        ("'12.50'::jsonb", 12.5),
        ("'true'::json", True),
        ("'\"\\u00e9\"'::json", "é"),
        ("'1e400'::json", None),
    ],
)
def test_json(conn: psycopg.Connection[Any], expression: str, expected: Any) -> None:
    assert value(conn, expression) == expected


def test_json_integer_past_pythons_digit_limit_stays_digits(conn: psycopg.Connection[Any]) -> None:
    got = value(conn, "jsonb_build_object('n', ('1' || repeat('0', 5000))::numeric)")
    assert got == {"n": "1" + "0" * 5000}


# --------------------------------------------------------------------------------------------------
# Types that map to their text output


@pytest.mark.parametrize(
    "expression",
    [
        "'192.168.0.1/24'::inet",
        "'10.0.0.0/8'::cidr",
        "'1 year 2 mons 3 days 04:05:06.7'::interval",
        "'-1 day'::interval",
        "'12.34'::money",
        "'12:34:56.5+05:30'::timetz",
        "'(1.5,2)'::point",
        "'((0,0),(1,1))'::box",
        "'<(0,0),1>'::circle",
        "'1234'::oid",
        "'pg_class'::regclass",
        "'a=>1, b=>NULL'::hstore",
        "'[1,10)'::int4range",
        "'{[1,3), [5,7)}'::int4multirange",
        "'a fat cat'::tsvector",
        "'fat & cat'::tsquery",
        "'08:00:2b:01:02:03'::macaddr",
        "B'1010'::bit(4)",
        "'16/B374D848'::pg_lsn",
        "'$.a'::jsonpath",
        "ROW(1, 'a \"b\"')",
        "'1 2 3'::int2vector",
        "txid_current_snapshot()",
    ],
)
def test_other_types_are_their_text_output(session: psycopg.Connection[Any], expression: str) -> None:
    session.execute(b"SET IntervalStyle = 'postgres_verbose'")
    row = one(session, f"SELECT {expression} AS v, ({expression})::text AS t")
    assert isinstance(row["v"], str)
    assert row["v"] == row["t"]


def test_xml_is_its_text_output(session: psycopg.Connection[Any]) -> None:
    assert ADAPTERS.get_loader(142, pq.Format.TEXT) is ADAPTERS.get_loader(0, pq.Format.TEXT)
    try:
        row = one(session, "SELECT '<a>x</a>'::xml AS v, '<a>x</a>'::xml::text AS t")
    except psycopg.errors.FeatureNotSupported:  # a server built without libxml cannot make one
        session.rollback()
        row = one(session, "SELECT NULL::xml AS v, NULL AS t")
        assert row == {"v": None, "t": None}
        return
    assert row["v"] == row["t"] == "<a>x</a>"


def test_user_defined_scalars(conn: psycopg.Connection[Any], schema: str) -> None:
    row = one(
        conn,
        f"SELECT 'with space'::{schema}.tier AS e, ROW(1, 'x y')::{schema}.pair AS c,"
        f" 5::{schema}.posint AS d, 7::{schema}.posint2 AS dd, 1.5::{schema}.money2 AS m,"
        f" '((1,2),(3,4))'::{schema}.boxd AS b",
    )
    assert row == {"e": "with space", "c": '(1,"x y")', "d": 5, "dd": 7, "m": "1.50", "b": "(3,4),(1,2)"}


# --------------------------------------------------------------------------------------------------
# Arrays


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'{}'::int4[]", []),
        ("ARRAY[1, NULL, 3]::int4[]", [1, None, 3]),
        ("ARRAY[ARRAY[1, 2], ARRAY[3, NULL]]::int4[]", [[1, 2], [3, None]]),
        ("'{{{1},{2}},{{3},{4}}}'::int8[]", [[[1], [2]], [[3], [4]]]),
        ("'[2:3]={7,8}'::int4[]", [7, 8]),
        ("'[0:1][-1:0]={{1,2},{3,4}}'::int2[]", [[1, 2], [3, 4]]),
        (
            "ARRAY['a\"b', NULL, 'NULL', 'null', 'x\\y', '', ' sp', '{}', 'a,b', E'tab\\there', 'é']",
            ['a"b', None, "NULL", "null", "x\\y", "", " sp", "{}", "a,b", "tab\there", "é"],
        ),
        ("ARRAY[box '((1,2),(3,4))', box '((0,0),(1,1))']", ["(3,4),(1,2)", "(1,1),(0,0)"]),
        ("ARRAY[true, false, NULL]", [True, False, None]),
        ("ARRAY['NaN'::float8, 1.5, '-Infinity']", [None, 1.5, None]),
        ("ARRAY['0.1'::float4]", [0.1]),
        ("ARRAY[0.50, 'NaN']::numeric[]", ["0.50", "NaN"]),
        ("ARRAY['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid]", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
        ("ARRAY['2024-01-02'::date, 'infinity']", ["2024-01-02", "infinity"]),
        ("ARRAY['2024-01-02 03:04:05.5'::timestamp]", ["2024-01-02T03:04:05.500"]),
        ("ARRAY['12:00:00.25'::time]", ["12:00:00.250"]),
        ("ARRAY['{\"a\": [1, \"x,y\"]}'::jsonb, 'null', NULL]", [{"a": [1, "x,y"]}, None, None]),
        ("ARRAY['1 day'::interval]", ["1 day"]),
        ("ARRAY['[1,2)'::int4range, 'empty']", ["[1,2)", "empty"]),
        ("ARRAY['a'::citext, 'B C']", ["a", "B C"]),
        ("ARRAY[ROW(1, 'a b'), ROW(2, NULL)]", ['(1,"a b")', "(2,)"]),
        ("ARRAY['a=>1'::hstore]", ['"a"=>"1"']),
    ],
)
def test_arrays(session: psycopg.Connection[Any], expression: str, expected: Any) -> None:
    session.execute(b"SET TIME ZONE 'Asia/Kolkata'")
    assert value(session, expression) == expected


def test_timestamptz_array_in_a_non_utc_session(session: psycopg.Connection[Any]) -> None:
    session.execute(b"SET TIME ZONE 'Asia/Kolkata'")
    got = value(session, "ARRAY['2024-01-01 00:00:00.5+00'::timestamptz, 'infinity', NULL]")
    assert got == ["2024-01-01T00:00:00.500+00:00", "infinity", None]


def test_user_defined_arrays_through_the_registry(conn: psycopg.Connection[Any], schema: str) -> None:
    row = one(
        conn,
        f"SELECT ARRAY['gold', 'with space', 'NULL', NULL]::{schema}.tier[] AS e,"
        f" '[2:3]={{gold,silver}}'::{schema}.tier[] AS lb,"
        f" ARRAY[ARRAY['gold'::{schema}.tier], ARRAY[NULL::{schema}.tier]] AS e2,"
        f" ARRAY[ROW(1, 'a \"b\"')::{schema}.pair, NULL] AS c,"
        f" ARRAY[1, 2]::{schema}.posint[] AS d, ARRAY[3]::{schema}.posint2[] AS dd,"
        f" ARRAY[1.5]::{schema}.money2[] AS m,"
        f" ARRAY['((1,2),(3,4))'::{schema}.boxd, '((0,0),(1,1))'] AS b,"
        f" ARRAY['2024-01-01 00:00:00+00'::{schema}.stamp] AS s,"
        f" ARRAY['x'::citext] AS ci",
    )
    assert row == {
        "e": ["gold", "with space", "NULL", None],
        "lb": ["gold", "silver"],
        "e2": [["gold"], [None]],
        "c": ['(1,"a ""b""")', None],
        "d": [1, 2],
        "dd": [3],
        "m": ["1.50"],
        "b": ["(3,4),(1,2)", "(1,1),(0,0)"],
        "s": ["2024-01-01T00:00:00+00:00"],
        "ci": ["x"],
    }


def test_unregistered_user_array_is_its_text_output(pg_server: Any, schema: str) -> None:
    with psycopg.connect(pg_server.dsn, context=ADAPTERS, row_factory=rows.row_factory, **_KW) as c:
        got, text = value_and_text(c, f"ARRAY['gold', NULL]::{schema}.tier[]")
    assert got == text == "{gold,NULL}"


def test_type_info_query_rows(pg_server: Any, schema: str, registry: TypeRegistry) -> None:
    with psycopg.connect(pg_server.dsn, **_KW) as c:
        oid = c.execute(f"SELECT '{schema}.boxd[]'::regtype::oid::int8, 'box'::regtype::oid::int8").fetchone()
    assert oid is not None
    assert ArrayType(oid[0], ";", oid[1]) in registry.arrays()  # domain resolved to box, its delimiter kept
    assert registry.pending([oid[0], 23, 1007]) == []


def test_domain_over_a_user_array_is_learnt_from_the_domain(pg_server: Any, schema: str) -> None:
    """Introspection sees the column's declared type (the domain); rows report the array under it."""
    registry = TypeRegistry()
    with psycopg.connect(pg_server.dsn, context=ADAPTERS, row_factory=registry.row_factory, **_KW) as c:
        declared = c.execute(f"SELECT '{schema}.tiers2'::regtype::oid::int8 AS d".encode()).fetchone()
        assert declared is not None
        query, params = type_info_query(registry.pending([declared["d"]]))
        with psycopg.RawCursor(c, row_factory=tuple_row) as cur:
            registry.learn([declared["d"]], cur.execute(query, params).fetchall())
        assert registry.pending([declared["d"]]) == []
        got = c.execute(f"SELECT '{{gold,NULL}}'::{schema}.tiers2 AS v".encode()).fetchone()
    assert got == {"v": ["gold", None]}


def test_row_keys_follow_the_select_and_the_last_duplicate_wins(conn: psycopg.Connection[Any]) -> None:
    row = one(conn, 'SELECT 3 AS c, 1 AS a, 2 AS b, 4 AS "ünï code"')
    assert list(row) == ["c", "a", "b", "ünï code"]
    assert one(conn, "SELECT 1 AS x, 2 AS x") == {"x": 2}
    assert conn.execute(b"SELECT FROM generate_series(1, 2)").fetchall() == [{}, {}]  # no columns


def test_builtin_types_psycopg_does_not_list_are_learnt(pg_server: Any) -> None:
    registry = TypeRegistry()
    with psycopg.connect(pg_server.dsn, context=ADAPTERS, row_factory=registry.row_factory, **_KW) as c:
        query = b"SELECT ARRAY[pg_current_snapshot(), NULL] AS v"
        assert isinstance(c.execute(query).fetchone()["v"], str)  # type: ignore[index]
        pending = registry.pending([5039])
        sql_text, params = type_info_query(pending)
        with psycopg.RawCursor(c, row_factory=tuple_row) as cur:
            registry.learn(pending, cur.execute(sql_text, params).fetchall())
        got = c.execute(query).fetchone()
    assert got is not None
    assert isinstance(got["v"], list) and got["v"][1] is None and isinstance(got["v"][0], str)


def test_a_table_of_every_type_retrieves(conn: psycopg.Connection[Any], schema: str, pg_server: Any) -> None:
    """D7: ``SELECT *`` over a table with one column of each kind never fails, and is strict JSON."""
    table = f"{schema}.everything"
    columns = {
        "b": "bool", "i2": "int2", "i8": "int8", "f4": "float4", "f8": "float8", "n": "numeric",
        "t": "text", "bp": "char(3)", "u": "uuid", "tz": "timestamptz", "ts": "timestamp", "d": "date",
        "tm": "time", "ttz": "timetz", "iv": "interval", "j": "json", "jb": "jsonb", "by": "bytea",
        "ip": "inet", "mo": "money", "pt": "point", "x": "xml", "h": "hstore", "ci": "citext",
        "e": f"{schema}.tier", "ea": f"{schema}.tier[]", "c": f"{schema}.pair", "ca": f"{schema}.pair[]",
        "dm": f"{schema}.posint", "ia": "int4[]", "ta": "text[]", "r": "int8range", "tv": "tsvector",
    }  # fmt: skip
    with psycopg.connect(pg_server.admin_dsn, **_KW) as admin:
        definitions = ", ".join(f"{k} {v}" for k, v in columns.items())
        admin.execute(f"CREATE TABLE {table} ({definitions})".encode())
        admin.execute(
            f"INSERT INTO {table} VALUES (true, 1, 2, 'NaN', '-Infinity', 'NaN', 't', 'a', gen_random_uuid(),"
            " 'infinity', '2024-01-01 01:02:03.5', '0001-01-01 BC', '23:59:59.999999', '01:00+01', '1 day',"
            " '{\"k\": [1]}', '[]', '\\x00', '::1', '1', '(0,0)', NULL, 'a=>b', 'Ci', 'gold',"
            " '{silver,NULL}', '(1,x)', '{\"(2,y)\"}', 3, '{{1,2},{3,4}}', '{a,NULL,\"\"}', '[1,5)',"
            " 'a b')".encode()
        )
        admin.execute(f"INSERT INTO {table} (b) VALUES (NULL)".encode())
    rows_ = conn.execute(f"SELECT * FROM {table}".encode()).fetchall()
    assert [list(r) for r in rows_] == [list(columns)] * 2
    json.dumps(rows_, allow_nan=False)
    assert all(v is None for v in rows_[1].values())
    first = rows_[0]
    assert (first["f4"], first["f8"], first["n"], first["tz"], first["d"]) == (
        None,
        None,
        "NaN",
        "infinity",
        "0001-01-01 BC",
    )
    assert (first["ea"], first["ca"], first["ia"], first["ta"]) == (
        ["silver", None],
        ["(2,y)"],
        [[1, 2], [3, 4]],
        ["a", None, ""],
    )


# --------------------------------------------------------------------------------------------------
# Encodings


def test_sql_ascii_database_stays_json_safe(pg_server: Any) -> None:
    name = f"rows_ascii_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin_dsn, **_KW) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
            " TEMPLATE template0".encode()
        )
    try:
        dsn = psycopg.conninfo.make_conninfo(pg_server.dsn, dbname=name)
        with psycopg.connect(dsn, context=ADAPTERS, row_factory=TypeRegistry().row_factory, **_KW) as c:
            assert c.info.encoding == "ascii"
            row = one(
                c,
                "SELECT convert_from('\\x68c3a9'::bytea, 'SQL_ASCII') AS utf8,"
                " convert_from('\\x61ff'::bytea, 'SQL_ASCII') AS bad, 1.50::numeric AS n,"
                " ARRAY[convert_from('\\x68c3a9'::bytea, 'SQL_ASCII')] AS arr,"
                ' \'{"k": "v"}\'::jsonb AS j, 7 AS i',
            )
        assert row == {"utf8": "hé", "bad": "a\ufffd", "n": "1.50", "arr": ["hé"], "j": {"k": "v"}, "i": 7}
    finally:
        with psycopg.connect(pg_server.admin_dsn, **_KW) as admin:
            admin.execute(f"DROP DATABASE {name}".encode())


def test_latin1_client_encoding(pg_server: Any) -> None:
    dsn = psycopg.conninfo.make_conninfo(pg_server.dsn, client_encoding="LATIN1")
    with psycopg.connect(dsn, context=ADAPTERS, row_factory=rows.row_factory, **_KW) as c:
        row = one(c, "SELECT 'é'::text AS t, ARRAY['é', 'ü b'] AS a, '{\"k\": \"é\"}'::jsonb AS j")
    assert row == {"t": "é", "a": ["é", "ü b"], "j": {"k": "é"}}


# --------------------------------------------------------------------------------------------------
# The backend's path: async streaming, both lanes


async def test_stream_through_each_lane(dsn: str, schema: str) -> None:
    registry = TypeRegistry()
    conn = await psycopg.AsyncConnection.connect(
        dsn, context=ADAPTERS, row_factory=registry.row_factory, **_KW
    )
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(f"SELECT '{schema}.tier[]'::regtype::oid::int8".encode())
            found = await cur.fetchone()
        assert found is not None
        pending = registry.pending([found[0]])
        query, params = type_info_query(pending)
        async with psycopg.AsyncRawCursor(conn, row_factory=tuple_row) as raw:
            registry.learn(pending, await (await raw.execute(query, params)).fetchall())
        await conn.execute(b"SET TIME ZONE 'Asia/Kolkata'")
        got = []
        async with conn.cursor() as cur:
            stream = cur.stream(
                f"SELECT g AS n, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' AS at,"
                f" ARRAY['gold'::{schema}.tier, NULL] AS tiers FROM generate_series(0, 29) g".encode()
            )
            async for row in stream:
                got.append(row)
        assert len(got) == 30
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for row in got:
            expected = (start + timedelta(hours=row["n"])).replace(tzinfo=None).isoformat() + "+00:00"
            assert row == {"n": row["n"], "at": expected, "tiers": ["gold", None]}
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------------
# The array-literal parser (pure)


@pytest.mark.parametrize(
    ("text", "delimiter", "expected"),
    [
        ("{}", ",", []),
        ("{a}", ",", ["a"]),
        ('{NULL,"NULL",null}', ",", [None, "NULL", "null"]),
        ('{"a\\"b","c\\\\d","e,f"}', ",", ['a"b', "c\\d", "e,f"]),
        ("{{1,2},{3,4}}", ",", [["1", "2"], ["3", "4"]]),
        ("[2:3]={x,y}", ",", ["x", "y"]),
        ("[1:1][0:1]={{x,y}}", ",", [["x", "y"]]),
        ("{(3,4),(1,2);(1,1),(0,0)}", ";", ["(3,4),(1,2)", "(1,1),(0,0)"]),
        ('{"{}","\\\\"}', ",", ["{}", "\\"]),
        ('{""}', ",", [""]),
    ],
)
def test_parse_array(text: str, delimiter: str, expected: list[Any]) -> None:
    assert parse_array(text, delimiter) == expected


@pytest.mark.parametrize("text", ["{a", "a}", "{{a}", "[1:2]", "{a}}", "plain"])
def test_parse_array_rejects_non_literals(text: str) -> None:
    with pytest.raises((ValueError, IndexError)):
        parse_array(text)


def test_an_unparseable_array_value_is_its_text() -> None:
    decode = _array_decoder(",", int)
    assert decode("{1,x}") == "{1,x}"  # an element its converter rejects
    assert decode("{1,{2}") == "{1,{2}"


def _needs_quotes(item: str, delimiter: str) -> bool:
    """PostgreSQL's array_out rule for quoting an element."""
    return (
        item == ""
        or item.upper() == "NULL"
        or any(ch in '{}"\\' or ch == delimiter or ch in " \t\n\r\v\f" for ch in item)
    )


def render_array(value: list[Any] | str | None, delimiter: str = ",") -> str:
    """Render nested lists of ``str | None`` as PostgreSQL's array text output."""
    if isinstance(value, list):
        return "{" + delimiter.join(render_array(v, delimiter) for v in value) + "}"
    if value is None:
        return "NULL"
    if _needs_quotes(value, delimiter):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


_PG_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
_ELEMENT = st.one_of(
    st.none(), _PG_TEXT, st.sampled_from(["NULL", "null", "", " ", "{", "}", '"', "\\", ",", ";"])
)


def _rectangular(depth: int) -> st.SearchStrategy[list[Any]]:
    """A PostgreSQL-shaped array: every sub-array of one level has the same length (≥ 1)."""

    def build(shape: list[int]) -> st.SearchStrategy[list[Any]]:
        if len(shape) == 1:
            return st.lists(_ELEMENT, min_size=shape[0], max_size=shape[0])
        return st.lists(build(shape[1:]), min_size=shape[0], max_size=shape[0])

    return st.lists(st.integers(1, 4), min_size=depth, max_size=depth).flatmap(build)


_ARRAYS = st.integers(1, 3).flatmap(_rectangular)


@given(value=_ARRAYS, delimiter=st.sampled_from([",", ";", "|"]), lower=st.integers(-3, 3))
def test_parse_array_round_trips_the_renderer(value: list[Any], delimiter: str, lower: int) -> None:
    text = render_array(value, delimiter)
    assert parse_array(text, delimiter) == value
    dims = []
    level: Any = value
    while isinstance(level, list):
        dims.append(f"[{lower}:{lower + len(level) - 1}]")
        level = level[0]
    assert parse_array("".join(dims) + "=" + text, delimiter) == value


@given(value=st.lists(_ELEMENT, max_size=8), delimiter=st.sampled_from([",", ";"]))
def test_parse_array_maps_every_element(value: list[str | None], delimiter: str) -> None:
    got = parse_array(render_array(value, delimiter), delimiter, lambda s: f"<{s}>")
    assert got == [None if v is None else f"<{v}>" for v in value]


@pytest.fixture(scope="module")
def plain(pg_server: Any) -> Iterator[psycopg.Connection[Any]]:
    """psycopg with its default adapters: the oracle for text[]."""
    with psycopg.connect(pg_server.dsn, **_KW) as c:
        yield c


@settings(max_examples=60, deadline=None)
@given(value=_ARRAYS)
def test_text_arrays_round_trip_through_postgres(
    conn: psycopg.Connection[Any], plain: psycopg.Connection[Any], value: list[Any]
) -> None:
    text = render_array(value)
    ours = one(conn, "SELECT %s::text[] AS v, %s::text[]::text AS t", [text, text])
    theirs = plain.cursor(row_factory=dict_row).execute("SELECT %s::text[] AS v", [text]).fetchone()
    assert theirs is not None
    assert ours["t"] == text  # the renderer is PostgreSQL's array_out
    assert ours["v"] == theirs["v"] == value


# --------------------------------------------------------------------------------------------------
# Registry and query builder (pure)


def test_registry_pending_and_learn() -> None:
    registry = TypeRegistry()
    assert registry.pending([23, 1007, 16384, 20000, 20000, 5039]) == [5039, 16384, 20000]
    registry.learn([16384, 20000], [(20000, ";", 603)])
    assert registry.pending([16384, 20000, 30000]) == [30000]
    assert registry.arrays() == [ArrayType(20000, ";", 603)]
    registry.clear()
    assert registry.pending([16384]) == [16384]


def test_type_info_query_is_parameterised() -> None:
    query, params = type_info_query([16385, 16390])
    assert params == ["{16385,16390}"]
    assert "$1" in query and "16385" not in query


def test_no_result_cursor() -> None:
    class NoResult:
        pgresult = None

    maker = rows.row_factory(NoResult())  # type: ignore[arg-type]
    with pytest.raises(psycopg.InterfaceError):
        maker([])
