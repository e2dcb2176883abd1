"""Aggregates of the in-memory backend: ``SELECT <groups>, <fn>(…) … GROUP BY <groups>``.

The results are PostgreSQL's to the last bit: ``sum``/``avg`` are ``::float8`` of an exact sum of
integers and numerics (floats summed in row order, reals in single precision), and ``avg`` of integers
or numerics is rounded to the scale of PostgreSQL's numeric division first. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from fractions import Fraction
from typing import Any, Final

from axonstore._json import to_json
from axonstore.filter import Aggregate
from axonstore.memory._eval import StoredRow
from axonstore.memory._values import (
    CastError,
    compare,
    family,
    group_key,
    inferred_type,
    sql_name,
    widen_float4,
)

__all__ = ["aggregate_rows"]

_NUMERIC_TYPES: Final = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})
_NO_MIN_MAX: Final = frozenset({"bool", "uuid", "json", "jsonb"})


def _type_of(value: object) -> str:
    return sql_name(inferred_type(value))


def aggregate_rows(
    rows: Iterable[StoredRow], agg: Aggregate, types: Mapping[str, str]
) -> list[dict[str, Any]]:
    """``SELECT <groups>, <fn> … GROUP BY <groups>`` as JSON rows, groups in order of first appearance.

    count → int; sum/avg → float (``::float8``); min/max → the column's value; NULLs are skipped and
    no non-NULL value gives None. Without groups there is always one row (count 0 on no rows).
    """
    _check_function(agg, types.get(agg.column) if agg.column else None)
    groups: dict[tuple[object, ...], tuple[tuple[object, ...], list[object]]] = {}
    for row in rows:
        values = tuple(row.get(column) for column in agg.group_by)
        key = tuple(group_key(value) for value in values)
        entry = groups.setdefault(key, (values, []))
        if agg.column is None:
            entry[1].append(True)
        elif (value := row.get(agg.column)) is not None:
            entry[1].append(value)
    if not groups and not agg.group_by:
        groups[()] = ((), [])
    pg_type = types.get(agg.column) if agg.column else None
    result = []
    for values, collected in groups.values():
        out = {column: to_json(value) for column, value in zip(agg.group_by, values, strict=True)}
        out[agg.function] = _finish(agg.function, collected, pg_type)
        result.append(out)
    return result


def _check_function(agg: Aggregate, pg_type: str | None) -> None:
    if pg_type is None:
        return
    numeric = agg.function in ("sum", "avg")
    if (numeric and pg_type not in _NUMERIC_TYPES) or (not numeric and pg_type in _NO_MIN_MAX):
        raise CastError("42883", f"function {agg.function}({sql_name(pg_type)}) does not exist")


def _finish(function: str, values: list[object], pg_type: str | None) -> Any:
    if function == "count":
        return len(values)
    if not values:
        return None
    kinds = {family(value) for value in values}
    first = values[0]
    if function in ("min", "max"):
        if len(kinds) > 1 or kinds & {"bool", "uuid", "json"}:
            raise CastError("42883", f"function {function}({_type_of(first)}) does not exist")
        best = first
        for value in values[1:]:
            order = compare(value, best)
            if (order < 0 and function == "min") or (order > 0 and function == "max"):
                best = value
        return to_json(best)
    if kinds != {"number"}:
        raise CastError("42883", f"function {function}({_type_of(first)}) does not exist")
    number = _sum(values, pg_type) if function == "sum" else _avg(values, pg_type)
    return number if math.isfinite(number) else None


def _float_values(values: list[object], pg_type: str | None) -> list[float] | None:
    """The values as floats when the sum is done in floating point (float4/float8), else ``None``."""
    if pg_type == "float4":
        return [widen_float4(float(v)) for v in values]  # type: ignore[arg-type]
    if pg_type == "float8" or any(isinstance(v, float) for v in values):
        return [float(v) for v in values]  # type: ignore[arg-type]
    return None


def _sum(values: list[object], pg_type: str | None) -> float:
    floats = _float_values(values, pg_type)
    if floats is not None:
        total = 0.0
        for value in floats:  # in row order, as PostgreSQL accumulates
            total = widen_float4(total + value) if pg_type == "float4" else total + value
        return total
    return float(_exact_sum(values))


# Addition in this context is exact whatever the digits (never used for division).
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


def _exact_sum(values: list[object]) -> Decimal:
    """An exact sum of integers and numerics (NaN and the infinities as PostgreSQL adds them)."""
    total = Decimal(0)
    for value in values:
        total = _EXACT.add(total, value if isinstance(value, Decimal) else Decimal(value))  # type: ignore[arg-type]
    return total


def _to_float(number: Fraction) -> float:
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _avg(values: list[object], pg_type: str | None) -> float:
    floats = _float_values(values, pg_type)
    if floats is not None:
        return sum_in_order(floats) / len(floats)
    total = _exact_sum(values)
    if not total.is_finite():  # NaN or an infinity
        return float(total)
    scale = max(_scale(v) for v in values)
    return _to_float(_numeric_div(Fraction(total), len(values), scale))


def sum_in_order(values: Iterable[float]) -> float:
    """Left-to-right float addition (``sum`` of floats, spelled out: the order matters)."""
    total = 0.0
    for value in values:
        total += value
    return total


def _scale(value: object) -> int:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0
    return 0


def _weight(number: Fraction) -> tuple[int, int]:
    """PostgreSQL numeric's weight (in base-10000 digits) and first base-10000 digit of ``number``."""
    magnitude = abs(number)
    exponent = len(str(magnitude.numerator)) - len(str(magnitude.denominator))
    while Fraction(10) ** exponent > magnitude:
        exponent -= 1
    while Fraction(10) ** (exponent + 1) <= magnitude:
        exponent += 1
    weight = exponent // 4
    return weight, math.floor(magnitude / Fraction(10000) ** weight)


def _numeric_div(total: Fraction, count: int, scale: int) -> Fraction:
    """``numeric_div(total, count)`` as PostgreSQL's avg does it: the result scale of
    ``select_div_scale`` (at least 16 significant digits), rounded half away from zero."""
    if total == 0:
        return Fraction(0)
    weight1, first1 = _weight(total)
    weight2, first2 = _weight(Fraction(count))
    quotient_weight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    rscale = min(max(16 - quotient_weight * 4, scale, 0), 1000)
    scaled = total / count * 10**rscale
    rounded = math.floor(abs(scaled) + Fraction(1, 2))
    return Fraction(rounded if scaled >= 0 else -rounded, 10**rscale)
