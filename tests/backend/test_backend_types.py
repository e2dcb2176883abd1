"""Every column type retrieves, in the contract's form (CONTRACT §3.4, D7, D11), and writes round-trip.

The tests run in a database of their own whose ``TimeZone`` is Asia/Kathmandu (+05:45, a zone with
minutes), set with ``ALTER DATABASE`` — so both lanes see it (PgBouncer refuses startup ``options``),
and a timestamptz must still come back in UTC.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from axonstore import PostgresStoreBackend
from axonstore.rows import JSON
from tests._servers import PgServer
from tests.backend import make_backend, with_params

_ZONE = "Asia/Kathmandu"
_UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

_COLUMNS = """
    id int PRIMARY KEY,
    u uuid, num numeric, num_s numeric(10, 2), f4 float4, f8 float8,
    tstz timestamptz, ts timestamp, d date, t time,
    b bytea, j json, jb jsonb, bo bool, i2 int2, i4 int4, i8 int8,
    tx text, vc varchar(10), bp char(5), nm name, ci citext,
    en tier, ens tier[], i4a int4[][], txa text[],
    ip inet, iv interval, mo money, tz timetz, pt point, o oid, x xml
"""


@pytest.fixture(scope="module")
def types_db(pg_server: PgServer) -> Iterator[str]:
    """A fresh database (non-UTC TimeZone, citext, an enum); dropped at the end of the module."""
    name = f"axon_types_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        conn.execute(f"ALTER DATABASE {name} SET timezone TO '{_ZONE}'")
        try:
            with psycopg.connect(with_params(pg_server.admin_dsn, dbname=name), autocommit=True) as db:
                db.execute("CREATE EXTENSION citext")
                db.execute("CREATE TYPE tier AS ENUM ('bronze', 'silver', 'gold')")
            yield name
        finally:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def db(pg_server: PgServer, types_db: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct autocommit connection to the types database, for set-up."""
    with psycopg.connect(with_params(pg_server.admin_dsn, dbname=types_db), autocommit=True) as conn:
        yield conn


def _backend(dsn: str, types_db: str) -> PostgresStoreBackend:
    return make_backend(with_params(dsn, dbname=types_db))


def _has_libxml(db: psycopg.Connection[Any]) -> bool:
    """Whether the server can parse xml values (an xml column holds NULL either way)."""
    try:
        with db.transaction():
            db.execute("SELECT '<a/>'::xml")
    except psycopg.errors.FeatureNotSupported:
        return False
    return True


def _text(db: psycopg.Connection[Any], table: str, column: str, id_: int) -> str:
    """PostgreSQL's own text output of one value."""
    row = db.execute(f"SELECT {column}::text FROM {table} WHERE id = %s", [id_]).fetchone()
    assert row is not None
    return str(row[0])


# --------------------------------------------------------------------------------------------------
# Values written in SQL, read through the backend

_ROW_1 = {
    "u": ("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", _UUID),
    "num": ("0.0000001", "0.0000001"),
    "num_s": ("1.5", "1.50"),
    "f4": ("0.1", 0.1),
    "f8": ("1e300", 1e300),
    "tstz": ("'2024-01-02 03:04:05.5+00'", "2024-01-02T03:04:05.500+00:00"),
    "ts": ("'2024-01-02 03:04:05.123456'", "2024-01-02T03:04:05.123456"),
    "d": ("'2024-02-29'", "2024-02-29"),
    "t": ("'03:04:05.5'", "03:04:05.500"),
    "b": ("'\\xdeadbeef'", "3q2+7w=="),
    "j": ("""'{"a": [1, 2.5, null], "b": {"c": "d"}}'""", {"a": [1, 2.5, None], "b": {"c": "d"}}),
    "jb": ("""'[1, "x", true, {"big": 1e400}]'""", [1, "x", True, {"big": 10**400}]),  # jsonb: numeric
    "bo": ("true", True),
    "i2": ("-32768", -32768),
    "i4": ("2147483647", 2147483647),
    "i8": ("-9223372036854775808", -9223372036854775808),
    "tx": ("'héllo ✓ 🎉'", "héllo ✓ 🎉"),
    "vc": ("'abc'", "abc"),
    "bp": ("'ab'", "ab   "),
    "nm": ("'pg_name'", "pg_name"),
    "ci": ("'MiXeD'", "MiXeD"),
    "en": ("'gold'", "gold"),
    "ens": ("'{gold,bronze,NULL}'", ["gold", "bronze", None]),
    "i4a": ("'{{1,2},{3,NULL}}'", [[1, 2], [3, None]]),
    "txa": ("""'{a,NULL,"NULL","","b,c","q\\"t"}'""", ["a", None, "NULL", "", "b,c", 'q"t']),
    "ip": ("'192.168.0.1/24'", "192.168.0.1/24"),
    "iv": ("'1 day 02:03:04'", "1 day 02:03:04"),
    "mo": ("12.34", None),  # PostgreSQL's text output (lc_monetary decides): compared below
    "tz": ("'03:04:05+02'", "03:04:05+02"),
    "pt": ("'(1,2)'", "(1,2)"),
    "o": ("42", "42"),
}
_XML_1 = {"x": ("'<a>1</a>'", "<a>1</a>")}  # only where the server has libxml (the embedded one has not)

_ROW_2 = {  # the values the formats cannot express, and extremes
    "num": ("'NaN'", "NaN"),
    "num_s": ("-99999999.99", "-99999999.99"),
    "f4": ("'NaN'", None),
    "f8": ("'Infinity'", None),
    "tstz": ("'infinity'", "infinity"),
    "ts": ("'-infinity'", "-infinity"),
    "d": ("'2000-01-01 BC'", "2000-01-01 BC"),
    "t": ("'23:59:59.999999'", "23:59:59.999999"),
    "b": ("''", ""),
    "jb": ("'\"just a string\"'", "just a string"),
    "j": ("""'{"big": 1e400, "neg": -1e400}'""", {"big": None, "neg": None}),  # json keeps the text
    "i4a": ("'[2:3]={7,8}'", [7, 8]),
    "txa": ("'{}'", []),
    "ens": ("'{}'", []),
}

_ROW_3 = {
    "num": ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    "num_s": ("0", "0.00"),
    "f4": ("'-Infinity'", None),
    "f8": ("'-Infinity'", None),
    "tstz": ("'2024-03-01 00:10:00+05:45'", "2024-02-29T18:25:00+00:00"),
    "ts": ("'2024-01-02 03:04:05'", "2024-01-02T03:04:05"),
    "t": ("'00:00:00'", "00:00:00"),
    "j": ("'1e-20'", 1e-20),
}


def _insert_sql(table: str, id_: int, values: dict[str, tuple[str, object]]) -> str:
    columns = ", ".join(["id", *values])
    literals = ", ".join([str(id_), *(sql for sql, _ in values.values())])
    return f"INSERT INTO {table} ({columns}) VALUES ({literals})"


async def test_every_type_retrieves_in_the_contracts_form(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    db.execute(f"CREATE TABLE {unique_name} ({_COLUMNS})")
    db.execute(f"INSERT INTO {unique_name} (id) VALUES (4)")  # every column NULL
    first = {**_ROW_1, **(_XML_1 if _has_libxml(db) else {})}
    for id_, values in ((1, first), (2, _ROW_2), (3, _ROW_3)):
        db.execute(_insert_sql(unique_name, id_, values))  # type: ignore[arg-type]
    async with _backend(dsn, types_db) as backend:
        rows = {row["id"]: row for row in await backend.query(unique_name)}
        again = {row["id"]: row for row in (await backend.stream_retrieve(unique_name, order_by="id")).rows}
    assert rows == again  # the streaming path decodes the same way
    names = [
        name
        for (name,) in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            [unique_name],
        )
    ]
    for id_, values in ((1, first), (2, _ROW_2), (3, _ROW_3)):
        row = rows[id_]
        assert list(row) == names  # keys in the table's column order
        for column, (_, wanted) in values.items():
            expected = _text(db, unique_name, "mo", id_) if column == "mo" else wanted
            assert row[column] == expected, (id_, column, row[column])
            assert type(row[column]) is type(expected), (id_, column)
        json.dumps(row, allow_nan=False)  # JSON-safe: no NaN, no Infinity, no bytes, no datetimes
    assert set(rows[4].values()) == {4, None}


async def test_non_utc_timestamptz_is_converted_exactly(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    """Every minute of the offset counts, across a day and a year boundary, and across fractions."""
    db.execute(f"CREATE TABLE {unique_name} (id int, at timestamptz)")
    cases = {
        "2024-01-01 00:00:00+00": "2024-01-01T00:00:00+00:00",
        "2024-01-01 05:44:59.9+05:45": "2023-12-31T23:59:59.900+00:00",
        "2023-12-31 23:59:59.123456-10": "2024-01-01T09:59:59.123456+00:00",
        "1999-06-15 12:00:00.12+02": "1999-06-15T10:00:00.120+00:00",
    }
    for i, literal in enumerate(cases):
        db.execute(f"INSERT INTO {unique_name} VALUES (%s, %s::timestamptz)", [i, literal])
    async with _backend(dsn, types_db) as backend:
        rows = await backend.query(unique_name)
        zone = await _server_zone(backend, db, unique_name)
    assert zone == _ZONE
    assert [row["at"] for row in sorted(rows, key=lambda r: r["id"])] == list(cases.values())


async def _server_zone(backend: PostgresStoreBackend, db: psycopg.Connection[Any], table: str) -> JSON:
    """The TimeZone the backend's own sessions run with (through a view, so on either lane)."""
    view = f"{table}_zone"
    db.execute(f"CREATE VIEW {view} AS SELECT current_setting('TimeZone') AS zone")
    (row,) = await backend.query(view)
    return str(row["zone"])


# --------------------------------------------------------------------------------------------------
# Values written through insert() as Python values, read back

_WRITTEN: dict[str, tuple[object, JSON]] = {
    "u": ("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", _UUID),
    "num": ("0.50", "0.50"),
    "num_s": (3.14159, "3.14"),
    "f4": (0.1, 0.1),
    "f8": (-2.5, -2.5),
    "tstz": ("2024-06-01T12:00:00.25+02:00", "2024-06-01T10:00:00.250+00:00"),
    "ts": ("2024-06-01 12:00:00", "2024-06-01T12:00:00"),
    "d": ("2024-06-01", "2024-06-01"),
    "t": ("12:30:00.25", "12:30:00.250"),
    "b": (b"\x00\x01\xff", "AAH/"),
    "j": ({"k": [1, None, "v"]}, {"k": [1, None, "v"]}),
    "jb": ([1, "x", {"y": False}], [1, "x", {"y": False}]),
    "bo": (False, False),
    "i2": (7, 7),
    "i4": ("8", 8),
    "i8": (2**40, 2**40),
    "tx": ('it\'s "quoted" \\ ✓', 'it\'s "quoted" \\ ✓'),
    "vc": ("abc", "abc"),
    "bp": ("ab", "ab   "),
    "nm": ("nm", "nm"),
    "ci": ("CiText", "CiText"),
    "en": ("silver", "silver"),
    "ens": (["gold", "silver"], ["gold", "silver"]),
    "i4a": ([[1, 2], [3, 4]], [[1, 2], [3, 4]]),
    "txa": (["a", None, "b,c", ""], ["a", None, "b,c", ""]),
    "ip": ("10.0.0.1", "10.0.0.1"),
    "iv": ("1 hour 30 minutes", "01:30:00"),
    "mo": ("1.5", None),  # the text output: compared below
    "tz": ("01:02:03+01", "01:02:03+01"),
    "pt": ("(3,4)", "(3,4)"),
    "o": (7, "7"),
}
_XML_WRITTEN: dict[str, tuple[object, JSON]] = {"x": ("<b>2</b>", "<b>2</b>")}


async def test_python_values_round_trip_through_insert(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    db.execute(f"CREATE TABLE {unique_name} ({_COLUMNS})")
    written = {**_WRITTEN, **(_XML_WRITTEN if _has_libxml(db) else {})}
    async with _backend(dsn, types_db) as backend:
        assert await backend.insert(unique_name, {"id": 1, **{c: v for c, (v, _) in written.items()}}) == 1
        assert await backend.insert(unique_name, {"id": 2, **dict.fromkeys(written)}) == 1  # all NULL
        (row,) = await backend.query(unique_name, "id = 1")
        (nulls,) = await backend.query(unique_name, "id = 2")
        # and every value can be found again by an equality filter on its own column type
        found = await backend.query(
            unique_name,
            "u = '${u}' AND en = 'silver' AND i8 = 1099511627776 AND bo = false AND d = '2024-06-01'",
            {"u": _UUID.upper()},
        )
    for column, (_, wanted) in written.items():
        expected = _text(db, unique_name, "mo", 1) if column == "mo" else wanted
        assert row[column] == expected, (column, row[column])
    assert set(nulls.values()) == {2, None}
    assert [r["id"] for r in found] == [1]


async def test_floats_are_the_values_postgres_prints(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    """float4 0.1 stays 0.1 (D11); every NaN/±Inf is None, in scalars and in arrays."""
    db.execute(f"CREATE TABLE {unique_name} (id int, f4 float4, f8 float8, a4 float4[], a8 float8[])")
    db.execute(
        f"INSERT INTO {unique_name} VALUES (1, 0.1, 0.1, '{{0.1,NaN,-Infinity}}', '{{1e-300,Infinity}}'),"
        f" (2, 3.4028235e38, 1.7976931348623157e308, NULL, '{{}}')"
    )
    async with _backend(dsn, types_db) as backend:
        rows = await backend.query(unique_name, "id IN (1, 2)")
    first, second = sorted(rows, key=lambda r: r["id"])
    assert (first["f4"], first["f8"], first["a4"], first["a8"]) == (
        0.1,
        0.1,
        [0.1, None, None],
        [1e-300, None],
    )
    assert second["f4"] == 3.4028235e38 and second["f8"] == 1.7976931348623157e308
    assert all(not (isinstance(v, float) and math.isinf(v)) for v in second.values())


async def test_exotic_types_are_text_or_lists(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    """Types the contract names only as 'every other type': never a failed retrieve (D7)."""
    db.execute(
        f"CREATE TYPE {unique_name}_pair AS (a int, b text);"
        f"CREATE DOMAIN {unique_name}_pos AS int CHECK (VALUE > 0);"
        f"CREATE TABLE {unique_name} (id int, pair {unique_name}_pair, pairs {unique_name}_pair[],"
        f" pos {unique_name}_pos, poss {unique_name}_pos[], r int4range, tsv tsvector, bits bit(4),"
        f' ch "char", net cidr, mac macaddr, bx box, lsn pg_lsn, rc regclass, js jsonpath, u8 uuid[])'
    )
    db.execute(
        f"INSERT INTO {unique_name} VALUES (1, ROW(1, 'x'), ARRAY[ROW(2, 'y, z')::{unique_name}_pair],"
        f" 5, '{{6,7}}', '[1,5)', 'a fat cat', B'1010', 'c', '10.0.0.0/8', '08:00:2b:01:02:03',"
        f" '((0,0),(1,1))', '16/B374D848', 'pg_class', '$.a[*]', '{{{_UUID}}}')"
    )
    async with _backend(dsn, types_db) as backend:
        (row,) = await backend.query(unique_name)
    assert row["poss"] == [6, 7]  # an array of a domain over int4: its elements are ints
    assert row["u8"] == [_UUID]
    assert row["pos"] == 5  # the server describes a domain column by its base type
    assert isinstance(row["pairs"], list) and len(row["pairs"]) == 1
    for column in ("pair", "r", "tsv", "bits", "ch", "net", "mac", "bx", "lsn", "rc", "js"):
        assert row[column] == _text(db, unique_name, column, 1), column


async def test_python_objects_are_written_too(
    dsn: str, db: psycopg.Connection[Any], types_db: str, unique_name: str
) -> None:
    """Beyond str/int/float/bool/None: uuid.UUID, datetime, date, Decimal use psycopg's own dumpers."""
    db.execute(f"CREATE TABLE {unique_name} (id uuid, at timestamptz, day date, amount numeric, t time)")
    value = {
        "id": uuid.UUID(_UUID),
        "at": datetime(2024, 1, 2, 3, 4, 5, 500_000, tzinfo=timezone(timedelta(hours=-3))),
        "day": date(2024, 2, 29),
        "amount": Decimal("0.0100"),
        "t": time(23, 59, 1),
    }
    async with _backend(dsn, types_db) as backend:
        assert await backend.insert(unique_name, value) == 1
        rows = await backend.query(unique_name, "id = '${id}'", {"id": _UUID})
    assert rows == [
        {
            "id": _UUID,
            "at": "2024-01-02T06:04:05.500+00:00",
            "day": "2024-02-29",
            "amount": "0.0100",
            "t": "23:59:01",
        }
    ]
