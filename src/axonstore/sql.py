"""Pure SQL: statements with ``$n`` placeholders and their parameter lists, rendered from prepared
operations (:mod:`axonstore.operations`) and a table's schema — never from a ``where`` string.

Identifiers are validated and double-quoted by one function (:mod:`axonstore.idents`); values only ever
travel as parameters, except SQL ``NULL`` in a write, which is written inline and takes no placeholder.

The contract's builders (``build_select_sql`` … ``build_reinforce_sql``, CONTRACT §4) take text, as the
reference's do, and are byte-identical to it for every input it accepts (ANCHOR §3.14); each parses at
its edge and renders the same way the backends do:

>>> build_update_sql("users", None, "id = 5", {"name": None, "age": 40})
('UPDATE "users" SET "name" = NULL, "age" = $1 WHERE "id"::text = $2', [40, 5])
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeAlias, cast

from axonstore.errors import BadPageToken
from axonstore.filter import (
    DEFAULT_TEXT_SEARCH,
    MAX_PARAMETERS,
    Aggregate,
    Filter,
    check_parameter_count,
    plan_for,
    render_aggregate_select,
    render_group_by_suffix,
)
from axonstore.idents import checked_ident, qualified_relation, type_cast
from axonstore.operations import (
    Data,
    Delete,
    Insert,
    OrderKeys,
    PageKeys,
    PageRead,
    Read,
    Reinforce,
    Update,
    prepare_delete,
    prepare_insert,
    prepare_read,
    prepare_update,
)

__all__ = [
    "Params",
    "Statement",
    "build_delete_sql",
    "build_insert_sql",
    "build_reinforce_sql",
    "build_retrieve_sql",
    "build_select_sql",
    "build_update_sql",
    "copy_sql",
    "delete_sql",
    "insert_chunks",
    "insert_sql",
    "page_sql",
    "read_sql",
    "reinforce_sql",
    "update_sql",
]

Params: TypeAlias = list[object]
Statement: TypeAlias = tuple[str, Params]
Types: TypeAlias = Mapping[str, str] | None


# --------------------------------------------------------------------------------------------------
# Pieces


def _where(
    parsed: Filter | None,
    offset: int,
    types: Types,
    bindings: Mapping[str, object] | None,
    text_search: str = DEFAULT_TEXT_SEARCH,
) -> Statement:
    """``(clause, params)``: ``TRUE`` for no filter, as the reference writes it."""
    if parsed is None:
        return "TRUE", []
    plan = plan_for(parsed, offset, types, text_search=text_search)
    params: Params = list(plan.params(bindings))
    return plan.sql, params


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join([f'"{column}"' for column in columns])


def _returning(columns: tuple[str, ...] | None) -> str:
    if columns is None:
        return ""
    return f" RETURNING {_column_list(columns) if columns else '*'}"


def _order_limit(order: OrderKeys, limit: int | None) -> str:
    out = ""
    if order:
        out = " ORDER BY " + ", ".join([f'"{column}" {direction}' for column, direction in order])
    if limit is not None:
        out += f" LIMIT {limit}"
    return out


def _select_list(read: Read, extra: Sequence[str] = (), types: Types = None) -> str:
    if read.aggregate is not None:
        return render_aggregate_select(read.aggregate)
    if not read.columns:
        # ``*`` holds every column but not a system column a page walk keys on (``ctid``): the walk
        # needs its value in each row to make the next token.
        hidden = [c for c in extra if types is not None and c not in types]
        return "*" if not hidden else f"*, {_column_list(hidden)}"
    return _column_list([*read.columns, *(c for c in extra if c not in read.columns)])


def _values(row: Sequence[object], columns: Sequence[str], types: Types, params: Params) -> str:
    """``($1::udt, NULL, …)``: a value takes the next placeholder, a ``None`` is an inline NULL."""
    out = []
    for column, value in zip(columns, row, strict=True):
        if value is None:
            out.append("NULL")
        else:
            params.append(value)
            out.append(f"${len(params)}{type_cast(types, column)}")
    return f"({', '.join(out)})"


# --------------------------------------------------------------------------------------------------
# Reads


def read_sql(read: Read, schema: str | None, types: Types = None) -> Statement:
    """``SELECT * | "a", "b" | <aggregate> FROM "schema"."table" WHERE … [ORDER BY …] [LIMIT n]``."""
    relation = qualified_relation(read.table, schema)
    clause, params = _where(read.filter, 0, types, read.bindings, read.text_search)
    if read.aggregate is not None:
        suffix = render_group_by_suffix(read.aggregate)
    else:
        suffix = _order_limit(read.order, read.limit)
    return f"SELECT {_select_list(read)} FROM {relation} WHERE {clause}{suffix}", params


def page_sql(page: PageRead, schema: str | None, types: Types, keys: OrderKeys) -> Statement:
    """A keyset page over ``keys`` (the order with the primary key appended), ``size + 1`` rows.

    ``WHERE (<filter>) AND ("k1", "k2") > ($n, $m)`` when every key runs one way; mixed directions
    expand to ``("k1" > $n OR ("k1" = $n AND "k2" < $m))``. Key values are parameters, cast to the
    key column's type.
    """
    read = page.read
    relation = qualified_relation(read.table, schema)
    clause, params = _where(read.filter, 0, types, read.bindings, read.text_search)
    if page.after is not None:
        seek = _seek(keys, page.after, types, params)
        clause = f"({clause}) AND {seek}" if read.filter is not None else seek
    select = _select_list(read, [column for column, _ in keys], types)
    order = _order_limit(keys, page.size + 1)
    return f"SELECT {select} FROM {relation} WHERE {clause}{order}", params


def _seek(keys: OrderKeys, after: Sequence[object], types: Types, params: Params) -> str:
    """The rows after the token's key values, in the walk's order, NULLs where ``ORDER BY`` puts them
    (last ascending, first descending): a NULL key value is never compared with ``=``, ``<`` or ``>``
    (that is NULL, which would drop rows). Only non-NULL values become parameters."""
    not_null = keys.not_null if isinstance(keys, PageKeys) else frozenset()
    marks: list[str | None] = []
    for (column, _), value in zip(keys, after, strict=True):
        if value is None:
            marks.append(None)
        else:
            params.append(_key_value(value, types.get(column) if types else None))
            marks.append(f"${len(params)}{type_cast(types, column)}")
    directions = {direction for _, direction in keys}
    if len(directions) == 1 and all(column in not_null for column, _ in keys) and None not in marks:
        op = ">" if directions == {"ASC"} else "<"
        return f"({_column_list([c for c, _ in keys])}) {op} ({', '.join(cast(list[str], marks))})"
    terms = []
    for depth, (column, direction) in enumerate(keys):
        step = _after_one(column, direction, marks[depth], column in not_null)
        if step is None:
            continue  # nothing sorts after NULL in an ascending column
        equal = [_equal_one(c, marks[i]) for i, (c, _) in enumerate(keys[:depth])]
        terms.append(f"({' AND '.join([*equal, step])})" if equal else step)
    return f"({' OR '.join(terms)})" if terms else "FALSE"


def _key_value(value: object, pg_type: str | None) -> object:
    """A token's key value as the seek binds it: rows show bytea as base64 text, the column takes bytes
    (bound as the base64 text, ``::bytea`` would read its characters, and the walk would stop); a jsonb
    value travels as its JSON text (a dict cannot be bound, a string would not parse as JSON)."""
    if pg_type in ("json", "jsonb"):
        return json.dumps(value)
    if pg_type == "bytea" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise BadPageToken("a bytea key value in it is not base64") from None
    return value


def _equal_one(column: str, mark: str | None) -> str:
    return f'"{column}" IS NULL' if mark is None else f'"{column}" = {mark}'


def _after_one(column: str, direction: str, mark: str | None, not_null: bool) -> str | None:
    """The rows after ``mark`` on one key: ascending, a greater value or NULL (NULLs last);
    descending, a smaller value (NULLs came first), or any value after a NULL."""
    if direction == "ASC":
        if mark is None:
            return None
        return f'"{column}" > {mark}' if not_null else f'("{column}" > {mark} OR "{column}" IS NULL)'
    return f'"{column}" IS NOT NULL' if mark is None else f'"{column}" < {mark}'


# --------------------------------------------------------------------------------------------------
# Writes


def insert_sql(insert: Insert, schema: str | None, types: Types = None) -> Statement:
    """``INSERT INTO … (…) VALUES (…)[, (…)…] [ON CONFLICT …] [RETURNING …]`` for every row of ``insert``.

    The text of a one-row insert is remembered by its shape (table, columns, which values are NULL,
    conflict, returning, column types): a warm ``persist`` renders nothing, it only lists its values.
    """
    if len(insert.rows) == 1:
        row = insert.rows[0]
        nulls = tuple([value is None for value in row])
        key = ("insert", insert.table, schema, insert.columns, nulls, insert.conflict, insert.update,
               insert.returning)  # fmt: skip
        sql = _remembered(key, types, lambda: _insert_statement(insert, schema, types)[0])
        return sql, [value for value in row if value is not None]
    return _insert_statement(insert, schema, types)  # a batch: rendered once, text and values together


def _insert_statement(insert: Insert, schema: str | None, types: Types) -> Statement:
    relation = qualified_relation(insert.table, schema)
    columns = [checked_ident("column", column) for column in insert.columns]
    params: Params = []
    rows = ", ".join([_values(row, insert.columns, types, params) for row in insert.rows])
    check_parameter_count(0, len(params))
    sql = f"INSERT INTO {relation} ({', '.join(columns)}) VALUES {rows}"
    return sql + _conflict(insert) + _returning(insert.returning), params


#: Statement texts by shape, each with the column-types mapping it was rendered for (compared by
#: identity: a cached schema keeps its mapping, so a re-resolved table renders afresh).
_TEXTS: dict[tuple[object, ...], tuple[str, object]] = {}
_TEXTS_MAX: Final = 4096


def _remembered(key: tuple[object, ...], types: Types, render: Callable[[], str]) -> str:
    hit = _TEXTS.get(key)
    if hit is not None and hit[1] is types:
        return hit[0]
    text = render()
    if len(_TEXTS) >= _TEXTS_MAX:
        _TEXTS.clear()  # a crude bound: shapes are few in practice, and re-rendering is cheap
    _TEXTS[key] = (text, types)
    return text


def _conflict(insert: Insert) -> str:
    if insert.conflict is None:
        return ""
    target = _column_list(insert.conflict)
    if not insert.update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join([f'"{column}" = EXCLUDED."{column}"' for column in insert.update])
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"


def insert_chunks(insert: Insert, limit: int = MAX_PARAMETERS) -> list[Insert]:
    """``insert`` split into inserts of whole rows that each bind at most ``limit`` parameters."""
    chunks: list[Insert] = []
    start, used = 0, 0
    for index, row in enumerate(insert.rows):
        cost = sum(value is not None for value in row)
        if used + cost > limit and index > start:
            chunks.append(_rows(insert, start, index))
            start, used = index, 0
        used += cost
    if start < len(insert.rows) or not chunks:
        chunks.append(_rows(insert, start, len(insert.rows)))
    return chunks


def _rows(insert: Insert, start: int, end: int) -> Insert:
    return Insert(
        insert.table, insert.columns, insert.rows[start:end], insert.returning, insert.conflict,
        insert.update, insert.op,
    )  # fmt: skip


def copy_sql(insert: Insert, schema: str | None) -> str:
    """``COPY "schema"."table" ("a", "b") FROM STDIN`` for a batch written with ``cursor.copy()``."""
    relation = qualified_relation(insert.table, schema)
    return f"COPY {relation} ({_column_list(insert.columns)}) FROM STDIN"


def update_sql(update: Update, schema: str | None, types: Types = None) -> Statement:
    """``UPDATE … SET "c" = $k::udt | NULL, … WHERE <clause> [RETURNING …]``, the clause numbered after
    the SET values (the SET text is remembered by its shape, as for a one-row insert)."""
    pairs = update.pairs
    params: Params = [value for _, value in pairs if value is not None]
    nulls = tuple([value is None for _, value in pairs])
    key = ("update", update.table, schema, tuple([c for c, _ in pairs]), nulls)
    head = _remembered(key, types, lambda: _update_head(update, schema, types))
    clause, where_params = _where(update.filter, len(params), types, update.bindings, update.text_search)
    return f"{head} WHERE {clause}{_returning(update.returning)}", params + where_params


def _update_head(update: Update, schema: str | None, types: Types) -> str:
    relation = qualified_relation(update.table, schema)
    assignments = []
    placeholder = 0
    for column, value in update.pairs:
        quoted = checked_ident("column", column)
        if value is None:
            assignments.append(f"{quoted} = NULL")
        else:
            placeholder += 1
            assignments.append(f"{quoted} = ${placeholder}{type_cast(types, column)}")
    check_parameter_count(0, placeholder)
    return f"UPDATE {relation} SET {', '.join(assignments)}"


def delete_sql(delete: Delete, schema: str | None, types: Types = None) -> Statement:
    """``DELETE FROM "schema"."table" WHERE <clause> [RETURNING …]``."""
    relation = qualified_relation(delete.table, schema)
    clause, params = _where(delete.filter, 0, types, delete.bindings, delete.text_search)
    return f"DELETE FROM {relation} WHERE {clause}{_returning(delete.returning)}", params


def reinforce_sql(reinforce: Reinforce, schema: str | None, types: Types = None) -> Statement:
    """The edge-weight update with its five parameters."""
    return build_reinforce_sql(reinforce.table, schema, types), list(reinforce.params)


# --------------------------------------------------------------------------------------------------
# The contract's text-taking builders (CONTRACT §4): parse at the edge, render as above


def build_select_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None = None,
    column_types: Types = None,
) -> Statement:
    """``SELECT * FROM "schema"."table" WHERE <clause>``."""
    return read_sql(prepare_read(table, where, _text_bindings(bindings)), schema, column_types)


def build_retrieve_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None,
    column_types: Types,
    bounds: str,
    aggregate: Aggregate | None,
) -> Statement:
    """A select with a rendered ``ORDER BY``/``LIMIT`` suffix (``bounds``, from
    :func:`axonstore.filter.render_bounds`), or an aggregate select (the two never mix)."""
    read = prepare_read(table, where, _text_bindings(bindings))
    if aggregate is not None:
        read = Read(read.table, read.filter, read.bindings, aggregate=aggregate)
    sql, params = read_sql(read, schema, column_types)
    return (sql + bounds if aggregate is None else sql), params


def build_insert_sql(table: str, schema: str | None, data: Data, column_types: Types = None) -> Statement:
    """``INSERT INTO "schema"."table" ("a", "b") VALUES ($1::udt, NULL)``."""
    return insert_sql(prepare_insert(table, data), schema, column_types)


def build_update_sql(
    table: str,
    schema: str | None,
    where: str,
    data: Data,
    bindings: Mapping[str, object] | None = None,
    column_types: Types = None,
) -> Statement:
    """``UPDATE … SET "c" = $k::udt | NULL, … WHERE <clause>`` (a blank where renders ``WHERE TRUE``)."""
    update = prepare_update(table, where, data, _text_bindings(bindings), all_rows=True)
    return update_sql(update, schema, column_types)


def build_delete_sql(
    table: str,
    schema: str | None,
    where: str,
    bindings: Mapping[str, object] | None = None,
    column_types: Types = None,
) -> Statement:
    """``DELETE FROM "schema"."table" WHERE <clause>``."""
    return delete_sql(
        prepare_delete(table, where, _text_bindings(bindings), all_rows=True), schema, column_types
    )


def build_reinforce_sql(table: str, schema: str | None, column_types: Types = None) -> str:
    """The atomic edge-weight update: ``weight = LEAST(GREATEST(weight + Δ, floor), 1.0)``.

    Parameters: ``$1`` delta, ``$2`` floor, ``$3`` from_id, ``$4`` to_id, ``$5`` etype.
    """
    relation = qualified_relation(table, schema)
    from_cast = type_cast(column_types, "from_id")
    to_cast = type_cast(column_types, "to_id")
    etype_cast = type_cast(column_types, "etype")
    return (
        f'UPDATE {relation} SET "weight" = LEAST(GREATEST("weight" + $1::float8, $2::float8), 1.0) '
        f'WHERE "from_id" = $3{from_cast} AND "to_id" = $4{to_cast} AND "etype" = $5{etype_cast}'
    )


def _text_bindings(bindings: Mapping[str, object] | None) -> Mapping[str, str] | None:
    """The pure builders accept any binding values the interpolation can write as text."""
    return bindings  # type: ignore[return-value]  # checked by check_bindings inside prepare_*
