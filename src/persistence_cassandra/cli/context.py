"""What the global options select, shared by every command (``click.pass_obj`` gives it).

Commands of other groups (``schema``) reach it with ``click.get_current_context().find_object
(CliContext)`` to honour ``--config`` and ``--store``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from persistence_cassandra.config import (
    DatastoreConfig,
    PersistenceConfig,
    default_config,
    load_config,
)
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import MiddlewareOptions
from persistence_cassandra.persistence import Persistence

__all__ = ["INTERRUPTED_EXIT", "CliContext", "DaemonExecutor", "Interrupted", "run_async"]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

INTERRUPTED_EXIT = 130
"""The exit status of a command stopped by Ctrl-C (SIGINT), as shells report 128 + 2."""


class Interrupted(click.ClickException):
    """Ctrl-C stopped the command: one ``error:`` line saying what was kept, exit 130."""

    exit_code = INTERRUPTED_EXIT

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine on a fresh event loop (Ctrl-C cancels it, as
    ``asyncio.run`` does), whose blocking calls run on threads that never delay the exit."""
    with asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(DaemonExecutor())
        return runner.run(coroutine)


class DaemonExecutor(ThreadPoolExecutor):
    """The default executor of a command's loop: each call on a daemon thread of its own.

    ``asyncio.to_thread`` runs blocking driver calls (a Cassandra or PostgreSQL connect, a
    close) on the loop's default executor. The standard one is joined when the loop closes and
    again when the interpreter exits, so a command cancelled by Ctrl-C still waited for a
    connect to time out (10 s and more) before it could exit. Here a call the command no longer
    waits for is abandoned with its thread; what it would have done was already given up by
    the cancelled caller. Only the CLI uses this; the library leaves the loop's executor alone.
    (A ``ThreadPoolExecutor`` only because the loop accepts nothing else; none of its pool is
    used.)
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="pc-cli-blocking", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # Nothing to join: a call still running belongs to a caller that has given up on it.
        return


@dataclass(slots=True)
class CliContext:
    config_path: Path | None = None
    """``--config`` (or ``PC_CONFIG``); ``None`` selects the embedded SQLite default."""
    store: str | None = None
    """``--store``: a datastore other than ``defaultStore``."""
    verbose: bool = False
    _config: PersistenceConfig | None = field(default=None, init=False, repr=False)

    @property
    def config_source(self) -> str:
        if self.config_path is None:
            return "built-in default (embedded SQLite store)"
        return str(self.config_path)

    def load_config(self) -> PersistenceConfig:
        """The validated configuration (read once); ``ConfigError`` names the bad key."""
        if self._config is None:
            self._config = (
                default_config() if self.config_path is None else load_config(self.config_path)
            )
            # An unknown --store is a configuration mistake: report it now, not after connecting.
            # (An unset ${VAR} in it is reported by the command that uses it: `config show`
            # shows it as unset.)
            self._config.check_name(self.store)
        return self._config

    def datastore(self) -> DatastoreConfig:
        """The datastore the command works on."""
        return self.load_config().datastore(self.store)

    async def open(self, middleware: MiddlewareOptions | None = None) -> Persistence:
        """Open the selected datastore; the built-in default creates its file and schema."""
        config = self.load_config()
        # None lets the factory treat it as the embedded default (it creates the directory).
        chosen = None if self.config_path is None else config
        return await open_persistence(chosen, store=self.store, middleware=middleware)
