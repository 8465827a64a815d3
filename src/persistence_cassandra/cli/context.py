"""What the global options select, shared by every command (``click.pass_obj`` gives it).

Commands of other groups (``schema``) reach it with ``click.get_current_context().find_object
(CliContext)`` to honour ``--config`` and ``--store``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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

__all__ = ["INTERRUPTED_EXIT", "CliContext", "Interrupted", "run_async"]

T = TypeVar("T")

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
    """Run one command's coroutine on a fresh event loop."""
    return asyncio.run(coroutine)


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
