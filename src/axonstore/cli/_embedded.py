"""``axonstore embedded start|stop|status|url``: the CLI face of :class:`~axonstore.embedded.EmbeddedServer`.

A Typer group of its own that :mod:`axonstore.cli` mounts as ``embedded``; apart from the store commands
because it manages the server rather than the stores on it.
"""

from __future__ import annotations

import sys
import time

import typer
from rich.text import Text

from axonstore.cli._inputs import _DEFAULT_CONFIG, AsJson, Config, Debug, _opts
from axonstore.cli._output import EXIT_OK, _console, _flag, _Opts, _print_json, _run, _table
from axonstore.dsn import mask_dsn
from axonstore.embedded import EmbeddedServer, process_alive

_embedded_app = typer.Typer(help="The embedded PostgreSQL that stores without `connection` run on.")


# --------------------------------------------------------------------------------------------------
# embedded


@_embedded_app.command("start")
def embedded_start(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Start the embedded server (a no-op when it runs); print its URL."""
    _run(_opts(config, as_json, debug), _embedded_start)


async def _embedded_start(opts: _Opts) -> int:
    server = EmbeddedServer()
    url = server.ensure_running()
    return _show_status(opts, server, url)


@_embedded_app.command("stop")
def embedded_stop(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Stop the embedded server (fast shutdown)."""
    _run(_opts(config, as_json, debug), _embedded_stop)


async def _embedded_stop(opts: _Opts) -> int:
    server = EmbeddedServer()
    pid = server.status().pid
    stopped = server.stop()
    # `stop` waits for the postmaster; say "stopped" only once its PID is really gone (a server of
    # another user, or one that ignored the signals, may outlive the wait).
    exited = pid is None or _gone(pid, _STOP_GRACE_S)
    if opts.json:
        _print_json({"stopped": stopped, "exited": exited, "pid": pid})
    elif not stopped:
        _console().print(Text("not running"))
    elif exited:
        _console().print(Text(f"stopped (pid {pid} has exited)"))
    else:
        _console().print(
            Text(f"stopping: pid {pid} is still exiting — `axonstore embedded status` tells when")
        )
    return EXIT_OK


_STOP_GRACE_S = 5.0


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@_embedded_app.command("status")
def embedded_status(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """Whether the embedded server runs, with its PID, port, URL and data folder."""
    _run(_opts(config, as_json, debug), lambda opts: _async_value(_show_status(opts, EmbeddedServer(), None)))


async def _async_value(value: int) -> int:
    return value


def _show_status(opts: _Opts, server: EmbeddedServer, url: str | None) -> int:
    status = server.status()
    shown = {
        "running": status.running,
        "pid": status.pid,
        "port": status.port,
        "url": mask_dsn(url or status.url or "") or None,
        "data_dir": str(status.data_dir),
    }
    if opts.json:
        _print_json(shown)
    else:
        rows = [[key, "—" if value is None else _flag(value)] for key, value in shown.items()]
        _console().print(_table(["embedded", ""], rows))
    return EXIT_OK


@_embedded_app.command("url")
def embedded_url(config: Config = _DEFAULT_CONFIG, as_json: AsJson = False, debug: Debug = False) -> None:
    """The running server's URL (exit 1 when it is not running)."""
    _run(_opts(config, as_json, debug), _embedded_url_command)


async def _embedded_url_command(opts: _Opts) -> int:
    url = mask_dsn(EmbeddedServer().url())
    if opts.json:
        _print_json({"url": url})
    else:
        sys.stdout.write(url + "\n")
    return EXIT_OK
