"""The pure parts: where a DSN points (``server.*``, ``db.namespace``), and the SQL keyword and text an
operation's span carries."""

from __future__ import annotations

from axonstore.operations import prepare_delete, prepare_insert, prepare_insert_many, prepare_read
from axonstore.otel._conventions import Server, server_of
from axonstore.otel._statements import operation_name, query_text
from axonstore.schema import ResolvedTable


def test_server_of_reads_the_dsn_then_libpqs_defaults() -> None:
    assert server_of("postgresql://u:pw@db.internal:6432/app") == Server("app", "db.internal", 6432)
    assert server_of("host=a,b port=5433,5434 dbname=x user=u") == Server("x", "a", 5433)
    assert server_of("user=alice", environ={"PGHOST": "pg", "PGPORT": "7000"}) == Server("alice", "pg", 7000)
    assert server_of("", environ={"PGUSER": "bob", "PGDATABASE": "shop"}) == Server("shop", "localhost", 5432)


def test_operation_names_and_texts_are_the_statements_keyword_and_placeholders() -> None:
    resolved = ResolvedTable("public", {"id": "int4", "status": "text"}, primary_key=("id",))
    read = prepare_read("claims", "status = '${s}'", {"s": "secret"})
    assert operation_name(read) == "SELECT"
    assert query_text(read, resolved) == 'SELECT * FROM "public"."claims" WHERE "status" = $1::text'
    insert = prepare_insert("claims", {"id": 7, "status": "hidden"})
    assert operation_name(insert) == "INSERT"
    assert "hidden" not in query_text(insert, resolved) and "$2" in query_text(insert, resolved)
    big = prepare_insert_many("claims", [{"id": i, "status": "s"} for i in range(10_001)])
    assert operation_name(big) == "COPY"
    assert query_text(big, resolved).startswith('COPY "public"."claims"')
    assert operation_name(prepare_delete("claims", "id = '${id}'", {"id": "1"})) == "DELETE"
