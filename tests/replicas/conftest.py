"""The replica set's fixtures: it starts only for the tests that ask for it (once per session).

A missing PostgreSQL is a loud skip locally and a failure under ``CI=true``; an installed one that
does not start is always a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from axonstore.errors import Connect
from tests._servers import UnavailableError, unavailable
from tests.replicas._cluster import ReplicaSet, start_replica_set


def _start() -> ReplicaSet:
    try:
        return start_replica_set()
    except UnavailableError as exc:
        unavailable(f"no PostgreSQL for the replica set: {exc}")
    except Connect as exc:
        pytest.fail(f"PostgreSQL is installed but the replica set did not start: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def replicas() -> Iterator[ReplicaSet]:
    """A primary and two streaming standbys (standby2 replays 2 s late), shared by the session.

    Tests may stop and start a standby but must leave it running; the failover test uses its own set.
    """
    started = _start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def fresh_replicas() -> Iterator[ReplicaSet]:
    """A set of its own, for a test that destroys it (a crash and a promotion)."""
    started = _start()
    try:
        yield started
    finally:
        started.stop()
