"""The ``axonstore`` command line (Typer + Rich), installed with ``pip install 'axonstore[cli]'``.

::

    axonstore stores                                   # declared stores, masked DSNs, pool settings
    axonstore retrieve claims 'status = "${s}"' --bind s=open --order-by 'created desc' --limit 20
    axonstore persist claims --set id=c-9 --set status=open --audit-log audit.jsonl --key-file audit.key
    axonstore audit verify audit.jsonl --key-file audit.key
    axonstore demo

The commands live in :mod:`axonstore.cli._app`. This module stays importable without the ``cli`` extra
(CONTRACT §2: a library install brings psycopg and psycopg_pool only), so that the ``axonstore`` script
can say what to install instead of failing with an ``ImportError``.
"""

from __future__ import annotations

import sys

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_STORE_ERROR",
    "EXIT_USAGE",
    "INSTALL_HINT",
    "app",
    "caret",
    "main",
    "read_key",
    "rows_table",
]

#: What ``axonstore`` prints (and exits 1 with) when the ``cli`` extra is not installed.
INSTALL_HINT = "the axonstore command needs the CLI extra: pip install 'axonstore[cli]'"
# The packages the extra brings; a missing one of these is "not installed", any other ImportError a bug.
_EXTRA_PACKAGES = frozenset({"typer", "click", "rich", "platformdirs"})
_missing: str | None = None

try:
    from axonstore.cli._app import (
        EXIT_INTERNAL,
        EXIT_OK,
        EXIT_STORE_ERROR,
        EXIT_USAGE,
        app,
        caret,
        read_key,
        rows_table,
    )
    from axonstore.cli._app import main as _app_main
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in _EXTRA_PACKAGES:
        raise
    _missing = exc.name


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code; without the ``cli`` extra, say what to install (1)."""
    if _missing is not None:
        sys.stderr.write(f"{INSTALL_HINT} ({_missing} is not installed)\n")
        return 1
    return _app_main(argv)
