"""One sync backend shared by 16 threads through PgBouncer in transaction mode (2 server connections).

Every thread writes only its own rows (``owner`` = its number) and checks every read against its own
model of them, so a statement that ran on the wrong connection, in the wrong transaction or with another
thread's parameters is a wrong result even when it does not raise. The final table must equal the union
of the models, row for row.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from axonstore.sync import PostgresStoreBackend, StoreError
from tests._wire import WireLog

_THREADS = 16
_OPS = 50

Row = dict[str, Any]


class _Worker:
    """One thread's operations and its model of the rows it owns."""

    def __init__(self, backend: PostgresStoreBackend, table: str, owner: int) -> None:
        self.backend = backend
        self.table = table
        self.owner = owner
        self.rng = random.Random(owner)
        self.mine: dict[int, Row] = {}
        self.next_id = owner * 100_000
        self.wrong: list[str] = []

    def _new(self, n: int) -> Row:
        self.next_id += 1
        return {"id": self.next_id, "owner": self.owner, "n": n, "tag": f"t{self.owner}-{n}"}

    def _pick(self) -> Row | None:
        return self.mine[self.rng.choice(sorted(self.mine))] if self.mine else None

    def _check(self, what: str, got: object, expected: object) -> None:
        if got != expected:
            self.wrong.append(f"thread {self.owner} {what}: got {got!r}, expected {expected!r}")

    def _own(self) -> list[Row]:
        return [self.mine[key] for key in sorted(self.mine)]

    # ---- the operations ---------------------------------------------------------------------------

    def insert(self, step: int) -> None:
        row = self._new(step)
        self._check("insert", self.backend.insert(self.table, row), 1)
        self.mine[row["id"]] = row

    def insert_many(self, step: int) -> None:
        rows = [self._new(step * 10 + i) for i in range(3)]
        back = self.backend.insert_many(self.table, rows, returning="id, owner, n, tag")
        self._check("insert_many", back, rows)
        self.mine.update((row["id"], row) for row in rows)

    def get(self, step: int) -> None:
        row = self._pick() if step % 4 else None
        key = row["id"] if row else self.owner * 100_000  # an id nobody wrote
        got = self.backend.query(self.table, "id = '${id}'", {"id": str(key)})
        self._check("get", got, [row] if row else [])

    def mutate(self, step: int) -> None:
        row = self._pick()
        if row is None:
            return self.insert(step)
        got = self.backend.mutate(
            self.table, "id = '${id}'", {"n": step}, {"id": str(row["id"])}, returning="n"
        )
        self._check("mutate", got, [{"n": step}])
        row["n"] = step
        return None

    def upsert(self, step: int) -> None:
        row = self._pick() if step % 3 else None
        data = dict(row) if row else self._new(step)
        data["tag"] = f"u{self.owner}-{step}"
        self._check("upsert", self.backend.upsert(self.table, data, "id"), 1)
        self.mine[data["id"]] = data

    def purge(self, step: int) -> None:
        row = self._pick()
        if row is None:
            return self.insert(step)
        self._check("purge", self.backend.purge(self.table, "id = '${id}'", {"id": str(row["id"])}), 1)
        del self.mine[row["id"]]
        return None

    def own_rows(self, _: int) -> None:
        got = self.backend.query(
            self.table, "owner = '${o}'", {"o": str(self.owner)}, columns="id, owner, n, tag"
        )
        self._check("own rows", sorted(got, key=lambda r: r["id"]), self._own())

    def page(self, _: int) -> None:
        seen: list[Row] = []
        after = None
        while True:
            page = self.backend.page(
                self.table, "owner = '${o}'", {"o": str(self.owner)}, order_by="id", size=4, after=after
            )
            seen.extend(page.rows)
            if page.next is None:
                break
            after = page.next
        self._check("page walk", seen, self._own())

    def transaction(self, step: int) -> None:
        rows = [self._new(step), self._new(step + 1)]
        with self.backend.transaction() as tx:
            self._check("tx insert", self.backend.insert_many(self.table, rows, conn=tx), 2)
            got = self.backend.query(self.table, "owner = '${o}'", {"o": str(self.owner)}, conn=tx)
            self._check(
                "tx read",
                sorted(got, key=lambda r: r["id"]),
                sorted([*self._own(), *rows], key=lambda r: r["id"]),
            )
        self.mine.update((row["id"], row) for row in rows)

    def rolled_back(self, step: int) -> None:
        with contextlib.suppress(LookupError), self.backend.transaction() as tx:
            self.backend.insert(self.table, self._new(step), conn=tx)
            raise LookupError("roll back")  # nothing of this reaches the model or the table

    def pinned(self, _: int) -> None:
        with self.backend.acquire_pin() as pin:
            got = self.backend.query(self.table, "owner = '${o}'", {"o": str(self.owner)}, conn=pin)
            self._check("pinned read", sorted(got, key=lambda r: r["id"]), self._own())

    def iterate_early(self, _: int) -> None:
        rows = self.backend.iter_rows(self.table, "owner = '${o}'", {"o": str(self.owner)}, order_by="id")
        with contextlib.closing(rows):
            first = next(iter(rows), None)
        own = self._own()
        self._check("iter_rows first", first, own[0] if own else None)

    def run(self, errors: list[BaseException]) -> None:
        ops: list[Callable[[int], None]] = [
            self.insert, self.insert_many, self.get, self.mutate, self.upsert, self.purge, self.own_rows,
            self.page, self.transaction, self.rolled_back, self.pinned, self.iterate_early,
        ]  # fmt: skip
        for step in range(_OPS):
            op = ops[step] if step < len(ops) else self.rng.choice(ops)  # every kind at least once
            try:
                op(step)
            except (StoreError, AssertionError, psycopg.Error) as exc:  # an error is an error: count it
                errors.append(exc)


@pytest.mark.slow
def test_sixteen_threads_through_pgbouncer(
    pooler_dsn: str, admin: psycopg.Connection[Any], unique_name: str, wire_log: WireLog
) -> None:
    admin.execute(f"CREATE TABLE {unique_name} (id int8 PRIMARY KEY, owner int4, n int4, tag text)")
    mark = wire_log.mark()
    errors: list[BaseException] = []
    with PostgresStoreBackend.connect_named_sized(pooler_dsn, "threads", None, 4) as backend:
        workers = [_Worker(backend, unique_name, owner) for owner in range(1, _THREADS + 1)]
        start = threading.Barrier(_THREADS)

        def run(worker: _Worker) -> None:
            start.wait()  # every thread starts at once: 16 concurrent cold-cache misses
            worker.run(errors)

        threads = [threading.Thread(target=run, args=(w,), name=f"w{w.owner}") for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
    wrong = [line for worker in workers for line in worker.wrong]
    assert errors == [], errors[:5]
    assert wrong == [], wrong[:5]
    expected = sorted(
        (row["id"], row["owner"], row["n"], row["tag"]) for worker in workers for row in worker.mine.values()
    )
    assert admin.execute(f"SELECT id, owner, n, tag FROM {unique_name} ORDER BY id").fetchall() == expected
    assert len(expected) > _THREADS * 10  # the workload wrote plenty
    assert wire_log.named_parses(mark) == []
    assert len(wire_log.parses(mark)) >= _THREADS * _OPS
