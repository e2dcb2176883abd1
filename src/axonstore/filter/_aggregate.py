"""``aggregate:`` and ``group_by:`` (ANCHOR §3.12): a closed catalog of five functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from axonstore._text import trim
from axonstore.errors import BadAggregate, BadGroupBy
from axonstore.idents import is_safe_identifier

_FUNCTIONS: Final = ("count", "sum", "avg", "min", "max")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One aggregate over an optional column, grouped by zero or more columns."""

    function: str  # count | sum | avg | min | max
    column: str | None  # None for count
    group_by: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every table column this aggregate names (group columns, then the aggregated one)."""
        return self.group_by + ((self.column,) if self.column else ())


def parse_aggregate(expr: str) -> tuple[str, str | None] | None:
    """``"sum(amount)"`` → ``("sum", "amount")``; ``"count"`` → ``("count", None)``; blank → ``None``."""
    raw = trim(expr)
    if not raw:
        return None
    if "(" not in raw:
        name, column = raw, ""
    else:
        if not raw.endswith(")"):
            raise BadAggregate(f"`{raw}` is missing the closing `)`")
        open_at = raw.index("(")
        name, column = trim(raw[:open_at]), trim(raw[open_at + 1 : raw.rindex(")")])
        if not column:
            raise BadAggregate(f"`{name}(…)` needs a column argument")
    function = name.lower()
    if function not in _FUNCTIONS:
        raise BadAggregate(f"`{name}` is not an aggregate function")
    if function == "count":
        if column:
            raise BadAggregate(f"`count` takes no column (it counts rows): write `count`, not `{raw}`")
        return function, None
    if not column:
        raise BadAggregate(f"`{name}(…)` needs a column argument")
    if not is_safe_identifier(column):
        raise BadAggregate(f"`{column}` is not a valid column identifier for `{function}`")
    return function, column


def parse_group_by(expr: str) -> tuple[str, ...]:
    """``"a, b"`` → ``("a", "b")``; blank → ``()``; ``BadGroupBy`` for empty, unsafe or repeated terms."""
    if not trim(expr):
        return ()
    columns: list[str] = []
    for term in (trim(part) for part in expr.split(",")):
        if not term:
            raise BadGroupBy("an empty group term (a stray comma?)")
        if not is_safe_identifier(term):
            raise BadGroupBy(f"`{term}` is not a valid column identifier")
        if term in columns:
            raise BadGroupBy(f"`{term}` is listed twice")
        columns.append(term)
    return tuple(columns)


def parse_aggregate_clause(
    aggregate: str, group_by: str, order_by: str = "", limit: str = ""
) -> Aggregate | None:
    """Validate aggregate + group_by together; ``None`` when there is no aggregate.

    >>> parse_aggregate_clause("sum(amount)", "region")
    Aggregate(function='sum', column='amount', group_by=('region',))
    """
    parsed = parse_aggregate(aggregate)
    groups = parse_group_by(group_by)
    if parsed is None:
        if groups:
            raise BadGroupBy("`group_by:` was given without an `aggregate:`")
        return None
    if trim(order_by) or trim(limit):
        raise BadAggregate("an aggregate returns one row per group, so it takes no `order_by:` or `limit:`")
    function, column = parsed
    if column is not None and column in groups:
        raise BadGroupBy(f"`{column}` is both the aggregated column and a group column")
    return Aggregate(function, column, groups)


def render_aggregate_select(agg: Aggregate) -> str:
    """The select list: group columns, then ``count(*) AS "count"`` / ``sum("c")::float8 AS "sum"`` / …"""
    if agg.function == "count":
        expr = 'count(*) AS "count"'
    elif agg.function in ("sum", "avg"):
        expr = f'{agg.function}("{agg.column}")::float8 AS "{agg.function}"'
    else:
        expr = f'{agg.function}("{agg.column}") AS "{agg.function}"'
    return ", ".join([*(f'"{column}"' for column in agg.group_by), expr])


def render_group_by_suffix(agg: Aggregate) -> str:
    """``' GROUP BY "a", "b"'``, or ``""`` without group columns."""
    if not agg.group_by:
        return ""
    return " GROUP BY " + ", ".join(f'"{column}"' for column in agg.group_by)
