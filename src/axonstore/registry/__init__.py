"""Declared stores: the registry, store handles with governance, and deploy verification (CONTRACT §6).

* ``core.py`` — what both flavours share: the catalog of declarations, handle governance (the
  capability gate, the confidence floor as a filter tree, the audit ledger), verification reports;
* ``aio.py`` — ``StoreRegistry`` / ``StoreHandle`` / ``RowStream`` (async);
* ``sync.py`` — their synchronous twins for :mod:`axonstore.sync`, generated from ``aio.py``.
"""

from axonstore.registry.aio import RowStream, StoreHandle, StoreRegistry
from axonstore.registry.core import VerifyReport, declared_vs_live

__all__ = ["RowStream", "StoreHandle", "StoreRegistry", "VerifyReport", "declared_vs_live"]
