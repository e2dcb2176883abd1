"""The ``in_memory`` backend: the verbs and the filter language of :class:`PostgresStoreBackend`, over
rows held in this process. No I/O; each verb runs without an ``await`` inside, so under asyncio every
verb is atomic with respect to the others, and a failed write leaves the store exactly as it was.

Example::

    backend = InMemoryBackend()
    backend.declare_columns("claims", {"id": "int4", "amount": "numeric", "opened": "timestamptz"})
    await backend.insert("claims", {"id": "7", "amount": "10.50", "opened": "2024-01-02T03:04:05Z"})
    await backend.query("claims", "id = 7 AND amount >= 10")
    # [{'id': 7, 'amount': '10.50', 'opened': '2024-01-02T03:04:05+00:00'}]

**Tables and columns.** A table comes into being with its first write (or declaration). Its columns are
the declared ones (``declare_columns``, from ``[stores.X.columns]``), in declaration order, then every
column ever written to it by ``persist``, in order of first appearance (``persist`` adds columns, as an
``ALTER TABLE … ADD COLUMN`` would; ``purge`` never drops one). A column that was neither declared nor
ever written is unknown: naming it in where / data (mutate) / order_by / group_by / aggregate raises
``UnknownColumn(table, column, columns)``. So a table nobody wrote to returns ``[]`` for a blank where,
and ``UnknownColumn`` for a filter on any undeclared column (declare the columns to filter a table
that may be empty). Each output row has every column of the table, ``None`` where the row lacks it, as
a fresh dict of JSON-safe values (CONTRACT §3.4); nothing a caller does to a row or to the data it
passed in reaches the store. Constraints (primary keys, UNIQUE, NOT NULL, CHECK, defaults) are not modelled.

**Values.** A declared column of a type this backend models (int2/4/8, float4/8, numeric, bool, text,
varchar, bpchar, name, uuid, timestamptz, timestamp, date, time, json, jsonb, bytea) stores each written
value cast the way PostgreSQL casts ``$1::type`` for the parameter psycopg sends: the same accepted
spellings (``' 7 '``, ``0x1F``, ``1_000`` for integers; ``yes``/``on``/``t`` for booleans; ISO 8601
and PostgreSQL's ISO output for times, a zone as an offset, ``Z``/``UTC`` or an IANA name, none meaning
UTC), the same rounding (float → integer halves to even, numeric → integer away from zero, float →
numeric keeps 15 digits, a real keeps single precision) and the same SQLSTATE on failure (``22P02``
bad text, ``22003`` out of range, ``22007``/``22008`` bad date or time, ``42846`` no such cast, e.g. a
boolean into ``int8``, a small integer into ``bool``). The failure is ``Query(op, source, sqlstate)``
and nothing is written. Any other declared type, and every undeclared column, keeps the Python value
as given (a deep copy). ``declare_columns`` on a table that holds rows casts them too, or fails whole.

**Filters** (the whole language of CONTRACT §5) are evaluated with SQL's three-valued logic: a
comparison with NULL (or a missing column) is unknown; ``NOT`` unknown is unknown; ``AND`` is false if
any side is false, else unknown if any is unknown; ``OR`` is true if any side is true, else unknown if
any is; a row is kept only when the whole filter is true. ``IS [NOT] NULL`` is never unknown. ``IN``
is true on a match, else false (the list never holds NULL); ``NOT IN`` is its negation; both are
unknown for a NULL column. ``BETWEEN a AND b`` is ``>= a AND <= b`` (false when a > b).

*A declared column* compares as PostgreSQL's ``"col" op $1::type``: every literal is cast to the
column's type once, before any row is read, so ``id = 'abc'`` on an ``int4`` column is ``Query`` 22P02
even on an empty table, and ``id = '07'`` matches 7. ``LIKE``/``ILIKE`` on a non-text column, ``=`` on
json, and ``now()`` against a column that is not a date or timestamp are 42883.

*An undeclared column* has no type but its values': it compares as the SQL the reference renders for a
column of unknown type. ``=``, ``!=``, ``IN``: when either side is text, both compare as text — the
value's ``::text`` as PostgreSQL prints it (``7::text = '7'``, ``true::text = 'true'``, a timestamptz as
``2024-01-02 03:04:05+00``); numbers compare with numbers, booleans with booleans, and any other pair
(a number with a boolean, say) is ``Query`` 42883. ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``: a text
literal takes the value's type, as an untyped parameter does (``n < '8'`` compares 8; ``n < 'x'`` is
22P02); a number literal against a text value, or a boolean against a number, is 42883.
These errors are raised for the rows that hold such a value.

*Both*: text orders by code point (``COLLATE "C"``); numbers across int/float/numeric compare as
PostgreSQL does (in float8 when a float is involved; NaN equals NaN and sorts above everything);
a date or timestamp without zone is read as UTC (the session time zone this backend models).
``LIKE`` has ``%`` (any run), ``_`` (one character) and ``\\`` escaping the next character; a pattern
ending in a lone ``\\`` runs PostgreSQL's own matching algorithm, which raises 22025 only when the
match reaches that escape (``'a' LIKE 'a\\'`` is false, ``'ab' LIKE 'a\\'`` is the error), and
``ILIKE`` lower-cases both sides character by character (Unicode simple case mapping, as PostgreSQL
does: ``İ`` matches ``i``, ``Σ`` never becomes ``ς``). ``now()`` is read once per statement;
``now() ± interval 'n unit'`` adds fixed seconds … weeks, and calendar months for month/year with the
day clamped to the month's end (``Jan 31 + 1 month`` is Feb 29 in a leap year), as PostgreSQL does in
a UTC session.

**ORDER BY** sorts NULLs as larger than every value (last for ASC, first for DESC — PostgreSQL's
default); equal keys keep insertion order; an undeclared column holding values of two kinds (numbers
and text, say), or json, is 42883. **LIMIT** applies after ordering. **Aggregates**: ``count``
counts rows (an int); ``sum``/``avg`` are floats (``::float8``) over integers and numerics summed
exactly, floats summed in row order, ``avg`` of integers/numerics rounded to PostgreSQL's numeric
division scale; ``min``/``max`` give the column's value; NULLs are skipped and no non-NULL value gives
None; ``sum``/``avg`` of a non-number and ``min``/``max`` of a boolean, uuid or json column are 42883.
Groups keep their order of first appearance (PostgreSQL's is unspecified); NULLs form one group.

**Known differences from PostgreSQL** (asserted in ``tests/test_memory_vs_postgres.py``):

* Undeclared columns follow the unknown-type rendering above, PostgreSQL's typed table follows the cast
  rule; they differ for ``id = '07'`` (text ``'7'`` ≠ ``'07'``; PostgreSQL: 7 = 7), ``id = 'abc'`` and
  ``id IN (1, 'x')`` (false; PostgreSQL: 22P02), ``id = 2.5`` (false; PostgreSQL casts 2.5 to the
  integer 2), ``amount = '1e-7'`` (numeric text is ``0.0000001``), ``active = 'yes'`` (text ``'true'``
  ≠ ``'yes'``), ``uid = '<UPPER-CASE UUID>'``, ``name < 5`` (42883; PostgreSQL casts 5 to text) and
  ``active = 1`` (42883; PostgreSQL: 42846). An undeclared real (float4) column holds doubles, so its
  ``sum`` is not PostgreSQL's single-precision one. A filter on an undeclared table nobody wrote to is
  ``UnknownColumn`` (PostgreSQL's empty table has its columns). Declare the column types to get
  PostgreSQL's answers.
* Constraints are not enforced: a duplicate primary key is stored (PostgreSQL: 23505); nothing is
  coerced in an undeclared column, so ``mutate`` of an int column to ``'abc'`` succeeds.
* jsonb has no ordering here (42883 for ``<`` and ORDER BY; PostgreSQL orders jsonb); bytea has no
  ``LIKE`` (PostgreSQL has one); bpchar compares like text (PostgreSQL ignores trailing blanks).
* Times PostgreSQL accepts but Python cannot hold: ``infinity``, years after 9999 and the time
  ``24:00:00`` are 22008; BC dates and textual styles (``Jan 2 2024``) are 22007.
* The PostgreSQL backend reports a statement's 42883 as ``SchemaDrift`` (CONTRACT §3.2, step 5); this
  backend, which has no schema to drift, reports ``Query`` with the same SQLSTATE.
* A type error of an undeclared column is raised only for rows holding an offending value
  (PostgreSQL raises it when planning, whatever the rows).
* ``upsert`` treats its conflict columns as the key (no unique index is needed or checked): a stored row
  whose conflict columns all equal the new row's, none NULL, is the conflicting one.
* ``page`` orders ties by insertion order (PostgreSQL appends the primary key).
* A transaction (``async with backend.transaction()``) is all-or-nothing for the rows it holds: an
  exception restores every table as it was when the transaction began — including rows another caller
  wrote meanwhile (there is no isolation between concurrent callers).

The logic lives in :mod:`axonstore.memory.engine` and serves both flavours: this class (async) and
``axonstore.sync.InMemoryBackend`` (``aio.py`` and the generated ``sync.py``).
"""

from axonstore.memory.aio import InMemoryBackend
from axonstore.memory.engine import MemoryEngine, MemoryTransaction

__all__ = ["InMemoryBackend", "MemoryEngine", "MemoryTransaction"]
