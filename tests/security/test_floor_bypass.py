"""The floor-bypass class (issue 9 item 1, issue 18 item 1): a filter can never let untrusted rows into a
floored store's aggregate, page or stream, on PostgreSQL or in memory, in either flavour.

0.1 pasted the caller's text into ``f"({where}) AND <floor>"``, so ``x = 1) OR (x = 2`` closed the group
early and the ``x = 1`` rows escaped the floor. Governance now composes trees, so a hostile text is a
``FilterError`` before any I/O and a valid one is ANDed with the floor as one node. The property at the
end checks the whole class: for random filters — valid ones, and valid ones with a hostile tail — the
aggregate equals what PostgreSQL itself counts over the trusted rows (an oracle written here, in SQL,
independent of axonstore's rendering), or the filter is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axonstore import sync as axon_sync
from axonstore.declarations import StoreSpec
from axonstore.errors import FilterError
from axonstore.operations import prepare_read
from axonstore.registry import StoreRegistry

FLOOR = 0.5
#: id, x, name, amount, _confidence — trusted: ids 1, 4, 7 (and 11, whose x is NULL).
ROWS: list[tuple[int, int | None, str, int, float | None]] = [
    (1, 1, "n1", 10, 0.9),
    (2, 2, "n2", 20, 0.1),
    (3, 0, "n3", 30, 0.1),
    (4, 1, "n4", 40, 0.8),
    (5, 2, "n5", 50, 0.2),
    (6, 0, "n6", 60, 0.49),
    (7, 1, "n7", 70, 0.5),
    (8, 2, "n8", 80, 0.0),
    (9, 0, "n9", 90, 0.3),
    (10, 1, "n10", 100, None),  # no confidence: untrusted
    (11, None, "n11", 110, 1.0),
]
_COLUMNS = ("id", "x", "name", "amount", "_confidence")

#: The texts that escaped the floor in 0.1 (and forms like them): refused now, before any I/O.
HOSTILE = [
    "x = 1) OR (x = 2",
    "1 = 1) OR (1 = 1",
    "x = 1 OR",
    "x = 1) OR (_confidence < 1",
    "id >= 0) OR (id < 0",
    "x = 1)) OR ((x = 2",
    "(x = 1) OR (x = 2))",
    "x = 1 OR x = 2 OR",
    "x = 1) OR (TRUE",
]


def _trusted(where: Any) -> list[tuple[Any, ...]]:
    return [row for row in ROWS if row[4] is not None and row[4] >= FLOOR and where(row)]


def _load(admin: psycopg.Connection[Any], table: str) -> None:
    admin.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, x int4, name text, amount int4, _confidence float8)"
    )
    with admin.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", ROWS)


def _specs(table: str, dsn: str) -> list[StoreSpec]:
    return [
        StoreSpec(table, "postgresql", connection=dsn, confidence_floor=FLOOR),
        StoreSpec(f"{table}_m", "in_memory", confidence_floor=FLOOR),
    ]


def _memory_rows() -> list[dict[str, object]]:
    return [dict(zip(_COLUMNS, row, strict=True)) for row in ROWS]


@pytest.fixture
async def stores(dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> AsyncIterator[Any]:
    """An async registry with the same rows in a floored PostgreSQL store and a floored in-memory one."""
    _load(admin, unique_name)
    async with StoreRegistry.build(_specs(unique_name, dsn)) as registry:
        # the untrusted rows go in through the backend (ungoverned): a governed persist would refuse them
        await registry.store(f"{unique_name}_m").backend.insert_many(f"{unique_name}_m", _memory_rows())
        yield registry, (unique_name, f"{unique_name}_m")


async def test_the_hostile_texts_are_refused_before_any_io_on_both_backends(stores: Any) -> None:
    registry, names = stores
    for name in names:
        handle = registry.store(name)
        for where in HOSTILE:
            for aggregate in ("count", "sum(amount)"):
                with pytest.raises(FilterError):
                    await handle.retrieve(where, aggregate=aggregate)
            with pytest.raises(FilterError):
                await handle.page(where, order_by="id", size=5)
            with pytest.raises(FilterError):
                handle.stream(where, aggregate="count")


async def test_an_or_filter_is_held_to_the_floor_as_a_whole(stores: Any) -> None:
    registry, names = stores
    cases = [
        ("x = 1 OR x = 2", lambda r: r[1] in (1, 2)),
        ("(x = 1) OR (x = 2)", lambda r: r[1] in (1, 2)),
        ("id >= 0 OR id < 0", lambda _: True),
        ("x = 1 OR _confidence < 1", lambda r: r[1] == 1 or (r[4] is not None and r[4] < 1)),
        ("_confidence < 0.5 OR _confidence IS NULL", lambda _: False),  # asks for untrusted rows only
        ("NOT (x = 0) OR name = 'n3'", lambda r: (r[1] is not None and r[1] != 0) or r[2] == "n3"),
        ("name = '${v}'", lambda _: False),  # a hostile binding is one value
    ]
    bindings = {"v": "n1') OR ('1' = '1"}
    for name in names:
        handle = registry.store(name)
        for where, matches in cases:
            trusted = _trusted(matches)
            counted = await handle.retrieve(where, bindings, aggregate="count")
            summed = await handle.retrieve(where, bindings, aggregate="sum(amount)")
            assert counted.rows == [{"count": len(trusted)}], (name, where)
            expected_sum = sum(r[3] for r in trusted) if trusted else None
            assert summed.rows[0]["sum"] == expected_sum, (name, where)
            async with handle.stream(where, bindings, aggregate="count") as rows:
                assert [row async for row in rows] == [{"count": len(trusted)}], (name, where)
            page = await handle.page(where, bindings, order_by="id", size=100)
            assert [row["id"] for row in page.rows] == [r[0] for r in trusted], (name, where)
            # a prepared read (the MCP server's way in) is governed the same way
            read = prepare_read(name, where, bindings, aggregate="count")
            assert (await handle.run_read(read)).rows == [{"count": len(trusted)}], (name, where)


# --------------------------------------------------------------------------------------------------
# The class: random filters, an oracle in SQL


_ATOMS = st.one_of(
    st.builds("x = {}".format, st.integers(-1, 3)),
    st.builds("x <> {}".format, st.integers(-1, 3)),
    st.builds("x > {}".format, st.integers(-1, 3)),
    st.builds("amount >= {}".format, st.sampled_from([0, 35, 70, 110])),
    st.builds("id IN ({}, {})".format, st.integers(0, 12), st.integers(0, 12)),
    st.builds("name = 'n{}'".format, st.integers(0, 12)),
    st.sampled_from(
        ["x IS NULL", "x IS NOT NULL", "name LIKE 'n1%'", "_confidence < 0.5", "_confidence >= 0.9"]
    ),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds("{} AND {}".format, children, children),
        st.builds("{} OR {}".format, children, children),
        st.builds("({})".format, children),
        st.builds("NOT ({})".format, children),
    )


_FILTERS = st.recursive(_ATOMS, _combine, max_leaves=6)
_TAILS = st.sampled_from(["", "", "", ") OR (x = 1", ") OR (1 = 1", " OR", ") OR (_confidence < 1"])


@pytest.fixture
def sync_stores(direct_dsn: str, admin: psycopg.Connection[Any], unique_name: str) -> Iterator[Any]:
    """The sync flavour's registry over the same rows (hypothesis runs plain functions)."""
    _load(admin, unique_name)
    with axon_sync.StoreRegistry.build(_specs(unique_name, direct_dsn)) as registry:
        registry.store(f"{unique_name}_m").backend.insert_many(f"{unique_name}_m", _memory_rows())
        yield registry, (unique_name, f"{unique_name}_m"), admin


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=_FILTERS, tail=_TAILS)
def test_an_aggregate_counts_only_trusted_matching_rows(sync_stores: Any, where: str, tail: str) -> None:
    registry, names, admin = sync_stores
    text = where + tail
    if tail:
        for name in names:
            with pytest.raises(FilterError):
                registry.store(name).retrieve(text, aggregate="count")
        return
    # the oracle: PostgreSQL's own count over the trusted rows, the filter text being valid SQL too
    oracle = admin.execute(
        f"SELECT count(*), sum(amount) FROM {names[0]} WHERE ({text}) AND _confidence >= {FLOOR}"
    ).fetchone()
    assert oracle is not None
    for name in names:
        handle = registry.store(name)
        counted = handle.retrieve(text, aggregate="count").rows
        summed = handle.retrieve(text, aggregate="sum(amount)").rows
        assert counted == [{"count": oracle[0]}], (name, text)
        assert summed[0]["sum"] == oracle[1], (name, text)
