"""Both flavours: every database test of this package runs against the async backend and against
``axonstore.sync.PostgresStoreBackend`` (through :class:`tests.backend.SyncAsAsync`), on both lanes.

A test that cannot mean the same thing for the sync flavour is listed in :data:`ASYNC_ONLY` with the
reason; any other test whose sync run built no backend through ``make_backend`` fails, so a test that
builds its backend another way is never counted as a sync proof it is not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backend import FLAVOUR, FLAVOURS

_DB = frozenset({"dsn", "direct_dsn", "pooler_dsn"})

#: test name → why it runs for the async flavour only.
ASYNC_ONLY: dict[str, str] = {
    "test_another_event_loop_is_refused_not_hung": "no event loop in sync, so no EventLoopMismatch",
    "test_a_cancelled_call_cancels_the_statement": "a cancelled task cannot stop a call in a thread",
    "test_a_page_alone_cancelled_half_way_leaves_the_pool_working": "no task to cancel in sync",
    "test_both_flavours_give_the_same_rows_and_errors_on_one_table": "it runs both flavours itself",
    "test_the_page_settings_hold_for_their_implicit_transaction_only": "it tests the SQL, not a flavour",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every database test over the flavours (except the async-only ones)."""
    if not (_DB & set(metafunc.fixturenames)) or metafunc.function.__name__ in ASYNC_ONLY:
        return
    metafunc.parametrize("flavour", FLAVOURS, indirect=True)


@pytest.fixture(autouse=True)
def flavour(request: pytest.FixtureRequest) -> Iterator[str]:
    """The flavour :func:`tests.backend.make_backend` builds for this test (``async`` when the test
    is not parametrized over flavours)."""
    chosen = str(getattr(request, "param", "async"))
    FLAVOUR.name, FLAVOUR.built = chosen, 0
    try:
        yield chosen
    finally:
        built, FLAVOUR.name = FLAVOUR.built, "async"
    if chosen == "sync" and built == 0:
        pytest.fail(
            f"{request.node.name} ran for the sync flavour but built no backend through make_backend: "
            "build it with make_backend, or list it in tests/backend/conftest.py ASYNC_ONLY with why",
            pytrace=False,
        )
