"""axonstore: named stores over PostgreSQL tables, with a closed, injection-proof filter language."""

from __future__ import annotations

from axonstore.errors import *  # noqa: F403  (the error hierarchy is public API)
from axonstore.errors import __all__ as _error_names

__all__ = [*_error_names]
