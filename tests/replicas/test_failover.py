"""Failover (CONTRACT §13): a crash of the primary and a promotion, with a multi-host primary DSN.

In the window operations raise ``Connect`` (typed, within the acquire timeout); writes resume on the
promoted standby; nothing acknowledged is lost. The last holds because the set replicates
synchronously to the standby that is promoted (``synchronous_standby_names``) — with asynchronous
replication PostgreSQL itself may lose the last commits at a crash; axonstore never retries a write,
so it never applies one twice either.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from axonstore import PostgresStoreBackend
from axonstore.backend.connections import ACQUIRE_TIMEOUT
from axonstore.errors import Connect, StoreError
from tests.replicas._cluster import ReplicaSet
from tests.replicas._helpers import wait_until

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _synchronous(replicas: ReplicaSet, standby: str) -> None:
    replicas.primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = '{standby}'")
    replicas.primary.sql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    query = "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s"
    while replicas.primary.sql(query, (standby,)) != [("sync",)]:
        assert time.monotonic() < deadline, f"{standby} did not become synchronous"
        time.sleep(0.05)


async def test_promotion_gives_typed_errors_and_loses_no_acknowledged_write(
    fresh_replicas: ReplicaSet,
) -> None:
    replicas = fresh_replicas
    old, new, other = replicas.primary, replicas.standbys[0], replicas.standbys[1]
    _synchronous(replicas, new.name)
    old.sql("CREATE TABLE events (id int4 PRIMARY KEY, writer int4)")
    replicas.wait_replayed()
    primary = (
        f"host=127.0.0.1,127.0.0.1 port={old.port},{new.port} user=postgres dbname=postgres "
        "sslmode=disable connect_timeout=2 target_session_attrs=read-write"
    )
    backend = PostgresStoreBackend.connect_named_sized(
        primary, "events", None, 4, readers=[other.dsn], reads="session"
    )
    acknowledged: list[int] = []
    errors: list[BaseException] = []
    promoted_at: list[float] = []
    resumed: list[float] = []
    after_promotion = 0
    stop = asyncio.Event()

    async def writer(wid: int) -> None:
        nonlocal after_promotion
        n = 0
        while not stop.is_set():
            n += 1
            key = wid * 1_000_000 + n
            started = time.monotonic()
            try:
                await backend.insert("events", {"id": key, "writer": wid})
            except Exception as exc:  # every failure is recorded and judged below
                errors.append(exc)
                assert time.monotonic() - started < 10, "an operation in the window outlived the timeouts"
                await asyncio.sleep(0.05)
                continue
            acknowledged.append(key)
            if promoted_at:
                after_promotion += 1
                if after_promotion == 1:
                    resumed.append(time.monotonic() - promoted_at[0])
            await asyncio.sleep(0.005)

    async with backend:
        await backend.ping()
        tasks = [asyncio.create_task(writer(w)) for w in range(4)]
        try:
            await asyncio.sleep(1.0)
            before_crash = len(acknowledged)
            await asyncio.to_thread(old.crash)
            # The window: no primary at all. An operation now is a typed Connect, within the timeouts.
            started = time.monotonic()
            with pytest.raises(Connect):
                await backend.insert("events", {"id": 0, "writer": -1})
            window = time.monotonic() - started
            assert window < ACQUIRE_TIMEOUT + 4, window
            new.sql("SELECT pg_promote(true, 30)")
            promoted_at.append(time.monotonic())
            assert await wait_until(lambda: after_promotion >= 50, 30), "writes did not resume"
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    assert before_crash > 0
    assert errors, "the writers ran through a window with no primary: some of them must have failed"
    untyped = [e for e in errors if not isinstance(e, StoreError)]
    assert untyped == []
    assert all(isinstance(e, Connect) for e in errors), {type(e).__name__ for e in errors}
    assert new.sql("SELECT pg_is_in_recovery()") == [(False,)]
    stored = {row[0] for row in new.sql("SELECT id FROM events")}
    lost = sorted(set(acknowledged) - stored)
    assert lost == [], f"{len(lost)} acknowledged write(s) lost: {lost[:10]}"
    print(  # the numbers behind the report (pytest -s)
        f"failover: {len(acknowledged)} writes acknowledged, {len(errors)} Connect in the window, "
        f"a lone write with no primary failed in {window:.2f} s, writes resumed {resumed[0]:.2f} s "
        "after the promotion, 0 lost"
    )
