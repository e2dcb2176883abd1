"""The CLI fixtures (``cli``, ``config``, ``table``, ``embedded_root``) for every module of this package.

They are defined in :mod:`tests.cli.test_cli`, next to the tests that first needed them.
"""

from tests.cli.test_cli import cli, config, embedded_root, table

__all__ = ["cli", "config", "embedded_root", "table"]
