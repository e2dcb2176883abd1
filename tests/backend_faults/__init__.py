"""``PostgresStoreBackend`` under hostility and faults: a transaction pooler, restarts, secrets, logs.

Helpers shared by the modules of this package live here (they are small, and only these tests use them).
Each module imports :func:`only_unnamed_parses`, an autouse fixture: whatever a test sends through the
wire-logged lanes (``direct_dsn``, ``pooler_dsn``) must be unnamed statements only.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests._wire import WireLog

#: Every logger whose records could carry a DSN: ours, the driver's (``psycopg.pool`` propagates to it)
#: and the pool scheduler's (``psycopg_pool.sched``).
CAPTURED_LOGGERS = ("axonstore", "psycopg", "psycopg_pool")


class RecordSink(logging.Handler):
    """Keeps every record it sees (at any level)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, name: str) -> list[logging.LogRecord]:
        """The records of exactly the logger ``name``."""
        return [r for r in self.records if r.name == name]


def render_record(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: message, args, extras and the traceback."""
    text = [logging.Formatter("%(name)s %(levelname)s %(message)s").format(record), repr(record.args)]
    text += [f"{key}={value!r}" for key, value in vars(record).items()]
    if record.exc_info and record.exc_info[1] is not None:
        text += traceback.format_exception(record.exc_info[1])
    return "\n".join(text)


@contextmanager
def capture_logs(*names: str) -> Iterator[RecordSink]:
    """Attach a sink at DEBUG to each logger in ``names`` (default: :data:`CAPTURED_LOGGERS`)."""
    sink = RecordSink()
    loggers = [logging.getLogger(name) for name in names or CAPTURED_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(sink)
    try:
        yield sink
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.removeHandler(sink)
            logger.setLevel(level)


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def only_unnamed_parses(wire_log: WireLog) -> Iterator[None]:
    """After each test: no named ``Parse`` went through a wire-logged lane while it ran."""
    mark = wire_log.mark()
    yield
    named = wire_log.named_parses(mark)
    assert named == [], f"named prepared statements on the wire: {named[:5]}"
