"""What an operation's span says about its statement: ``db.operation.name`` and ``db.query.text``,
taken from the backend's own decisions and renderers (imported only once telemetry is on)."""

from __future__ import annotations

from axonstore.backend import core
from axonstore.operations import Delete, Insert, PageRead, Read, Reinforce, Update, Write
from axonstore.schema import ResolvedTable
from axonstore.sql import copy_sql

__all__ = ["operation_name", "query_text"]


def operation_name(spec: Read | PageRead | Write) -> str:
    """``db.operation.name``: the SQL keyword of the statement the operation runs (``COPY`` for a
    batch large enough that the backend copies it)."""
    if isinstance(spec, Read | PageRead):
        return "SELECT"
    if isinstance(spec, Insert):
        return "COPY" if core.uses_copy(spec) else "INSERT"
    if isinstance(spec, Update | Reinforce):
        return "UPDATE"
    if isinstance(spec, Delete):
        return "DELETE"
    raise TypeError(f"not an operation: {spec!r}")  # pragma: no cover - the verbs prepare only these


def query_text(spec: Read | PageRead | Write, resolved: ResolvedTable) -> str:
    """``db.query.text``: the parameterised SQL the operation sends (the first statement of a batch
    of several), rendered as the backend renders it. It never holds a value: values travel as ``$n``
    parameters, and SQL ``NULL`` is the only literal a write writes inline."""
    if isinstance(spec, Read):
        return core.read_statement(spec, resolved)[0]
    if isinstance(spec, PageRead):
        return core.page_plan(spec, resolved)[1][0]
    if isinstance(spec, Insert) and core.uses_copy(spec):
        return copy_sql(spec, resolved.schema)
    return core.write_statements(spec, resolved)[0][0]
