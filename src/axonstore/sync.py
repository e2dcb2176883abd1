"""The synchronous API (CONTRACT §10): the same classes under the same names, for code without an event
loop — scripts, Django and Flask views, Celery tasks, notebooks, threads.

::

    from axonstore.sync import PostgresStoreBackend, StoreRegistry

    backend = PostgresStoreBackend.connect_named("env:DATABASE_URL", "claims")   # no I/O
    with backend:                                                                 # close() on exit
        rows = backend.query("claims", "status = '${s}'", {"s": "open"})

Built on psycopg's synchronous ``Connection`` and ``psycopg_pool.ConnectionPool`` — never on an event
loop, so a call works inside a running one (a notebook cell). One backend or registry may be shared by
any number of threads. The classes are generated from the async ones (``tools/async_to_sync.py``):
one implementation of the logic serves both flavours. Errors are the same classes as ``axonstore``'s.
"""

from __future__ import annotations

from axonstore import errors as _errors
from axonstore.backend.connections import Pin, Transaction
from axonstore.backend.sync import PostgresStoreBackend
from axonstore.errors import *  # noqa: F403  # every error, the same classes as axonstore's
from axonstore.governance import Retrieval
from axonstore.memory.sync import InMemoryBackend
from axonstore.operations import Page
from axonstore.registry.core import VerifyReport
from axonstore.registry.sync import RowStream, StoreHandle, StoreRegistry
from axonstore.stream import Backpressure, RowStreamOutcome

__all__ = [  # noqa: PLE0604  # the errors' names are listed by axonstore.errors itself
    "Backpressure",
    "InMemoryBackend",
    "Page",
    "Pin",
    "PostgresStoreBackend",
    "Retrieval",
    "RowStream",
    "RowStreamOutcome",
    "StoreHandle",
    "StoreRegistry",
    "Transaction",
    "VerifyReport",
    *(name for name in _errors.__all__ if name != "EventLoopMismatch"),  # no event loop here (§10)
]
del EventLoopMismatch  # noqa: F821  # from the star import: the sync API has no event loop to mismatch
