"""The public verbs, written once over the prepared operations (CONTRACT §3.2, §11).

Each verb takes the contract's text arguments, prepares the operation (:mod:`axonstore.operations`:
every check that needs no database, in the contract's order) and hands it to the backend's ``run_*``
methods — the only part a backend writes itself. :class:`AsyncVerbs` (``aio.py``) serves the async
PostgreSQL and in-memory backends; :class:`SyncVerbs` (``sync.py``) is generated from it by
``tools/async_to_sync.py`` for :mod:`axonstore.sync`.
"""

from axonstore.verbs._shared import Row, Rows, bounded_max_rows
from axonstore.verbs.aio import AsyncVerbs
from axonstore.verbs.sync import SyncVerbs

__all__ = ["AsyncVerbs", "Row", "Rows", "SyncVerbs", "bounded_max_rows"]
