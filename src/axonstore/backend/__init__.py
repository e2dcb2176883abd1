"""The PostgreSQL backend: ``PostgresStoreBackend`` over one pool, safe behind transaction-mode poolers.

* ``core.py`` — what both flavours decide without I/O (the hit/miss decision, statements, pages);
* ``aio.py`` — the async driver (``axonstore.PostgresStoreBackend``);
* ``sync.py`` — its synchronous twin (``axonstore.sync.PostgresStoreBackend``), generated from
  ``aio.py`` by ``tools/async_to_sync.py``;
* ``connections.py`` — pool settings, pins and transactions, and the mapping of driver errors.
"""

from axonstore.backend.aio import DEFAULT_CAPACITY, Pin, PostgresStoreBackend, Transaction

__all__ = ["DEFAULT_CAPACITY", "Pin", "PostgresStoreBackend", "Transaction"]
