"""The one place the MCP server reaches the data: prepared operations run through a ``StoreHandle``.

Everything above this module works on prepared specs (:mod:`axonstore.operations`) whose filters are
trees; everything here is I/O. Each call runs in one transaction with ``SET LOCAL statement_timeout``
(read-only for reads), so a slow filter is cancelled by the server and a write that touches more rows
than allowed is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from axonstore.errors import TooManyRowsAffected
from axonstore.operations import Delete, Insert, PageRead, Read, Update
from axonstore.registry import StoreHandle

__all__ = ["live_columns", "role_problem", "run_page", "run_read", "run_write"]

Row = dict[str, Any]

# The role of the store's connection, and whether it may touch server files or programs.
_ROLE_SQL = (
    "SELECT current_user::text, r.rolsuper, "
    "pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'), "
    "pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'), "
    "pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"
)
_FILE_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")


async def live_columns(handle: StoreHandle) -> dict[str, str]:
    """The table's columns and their types (``pg_type.typname``), in table order, read live."""
    resolved = await handle.backend.refresh_schema(handle.name)  # type: ignore[union-attr]
    return dict(resolved.column_types)


async def role_problem(handle: StoreHandle) -> tuple[str, str | None]:
    """The store's role, and why it may not serve agents (``None`` when it may)."""
    rows = await handle.backend.catalog_rows(_ROLE_SQL, ())  # type: ignore[union-attr]
    role, superuser, *files = rows[0]
    if superuser:
        return str(role), "is a superuser"
    for name, member in zip(_FILE_ROLES, files, strict=True):
        if member:
            return str(role), f"is a member of {name}"
    return str(role), None


async def run_read(
    handle: StoreHandle, read: Read, capabilities: Collection[str], timeout_ms: int, max_rows: int
) -> tuple[list[Row], bool]:
    """The rows of a prepared (composed) retrieve, at most ``max_rows``, and whether more were left."""
    async with handle.transaction(read_only=True, statement_timeout_ms=timeout_ms) as tx:
        result = await handle.run_read(read, capabilities=capabilities, max_rows=max_rows, conn=tx)
    return list(result.rows), result.stream.truncated


async def run_page(
    handle: StoreHandle, page: PageRead, capabilities: Collection[str], timeout_ms: int
) -> tuple[list[Row], str | None]:
    """One keyset page of a prepared (composed) retrieve, and the position of the next one (its
    transaction sent in one round trip: ``StoreHandle.run_page_alone``)."""
    result = await handle.run_page_alone(page, capabilities=capabilities, statement_timeout_ms=timeout_ms)
    return list(result.rows), result.next


async def run_write(
    handle: StoreHandle,
    spec: Insert | Update | Delete,
    capabilities: Collection[str],
    timeout_ms: int,
    max_affected: int | None,
) -> int:
    """A prepared write in one transaction, rolled back when it touched more than ``max_affected`` rows."""
    async with handle.transaction(statement_timeout_ms=timeout_ms) as tx:
        count = await handle.run_write(spec, capabilities=capabilities, conn=tx)
        assert isinstance(count, int)  # the server never asks for RETURNING
        if max_affected is not None and count > max_affected:
            raise TooManyRowsAffected(spec.op, handle.name, count, max_affected)  # rolls back
    return count
