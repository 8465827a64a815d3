"""``backup create | list | verify | restore | delete``: medusa backups of a Cassandra datastore,
and the schema tool's ``--backup`` (:class:`MigrationBackup`).

A thin adapter over :mod:`persistence_cassandra.backup`: progress on stderr, a result table on
stdout, every failure one ``error:`` line (exit 1; 2 for a configuration mistake).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.backup import (
    BackupOutcome,
    BackupSession,
    backup_before_migration,
    backup_session,
    migration_restore_command,
    refuse_astra,
)
from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.cli.context import CliContext
from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.schema.admin import BOOKKEEPING_TABLES

__all__ = ["MigrationBackup", "backup_group", "backup_option"]

F = TypeVar("F", bound=Callable[..., Any])

REPORT_WIDTH = 120


def _session(cli: CliContext) -> BackupSession:
    errors = Console(stderr=True, width=REPORT_WIDTH)
    return backup_session(
        cli.config_path, cli.store, lambda line: errors.print(line, highlight=False)
    )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _print_outcome(outcome: BackupOutcome) -> None:
    console = Console(width=REPORT_WIDTH)
    table = Table(title=f"backup {outcome.action}: {outcome.name}", title_justify="left")
    table.add_column("node")
    table.add_column("seconds", justify="right")
    show_files = outcome.action == "create"
    if show_files:
        table.add_column("files", justify="right")
        table.add_column("size", justify="right")
    table.add_column("result")
    for node in outcome.nodes:
        cells = [node.address, f"{node.seconds:.1f}"]
        if show_files:
            cells += [f"{node.files:,}", _size(node.size)]
        table.add_row(*cells, node.detail)
    console.print(table)
    console.print(f"{outcome.action} {outcome.name}: done in {outcome.seconds:.1f} s")


@click.group("backup")
def backup_group() -> None:
    """Back up, verify and restore a Cassandra datastore with cassandra-medusa.

    Needs --config FILE with a 'backup:' block for the datastore (docs/backup.md). medusa runs
    in its own environment, created from the package index on first use.
    """


@backup_group.command("create")
@click.argument("name", required=False)
@click.pass_obj
def create_command(cli: CliContext, name: str | None) -> None:
    """Back up every node under NAME (default pc-<UTC time>), check it holds data, verify."""
    _print_outcome(_session(cli).create(name))


@backup_group.command("list")
@click.pass_obj
def list_command(cli: CliContext) -> None:
    """The datastore's backups, oldest first."""
    listings = _session(cli).list()
    table = Table(title="backups", title_justify="left")
    # Names are what the other commands take: never shortened.
    widest = max((len(item.name) for item in listings), default=4)
    table.add_column("name", no_wrap=True, min_width=widest)
    for column in ("started (UTC)", "finished (UTC)", "complete", "nodes", "files", "size"):
        numeric = column in ("nodes", "files", "size")
        table.add_column(column, justify="right" if numeric else "left")
    for item in listings:
        table.add_row(
            item.name,
            _when(item.started),
            _when(item.finished),
            "yes" if item.complete else "NO",
            str(item.nodes),
            f"{item.files:,}",
            _size(item.size),
        )
    console = Console(width=REPORT_WIDTH)
    console.print(table)
    console.print(f"{len(listings)} backup(s)")


@backup_group.command("verify")
@click.argument("name")
@click.pass_obj
def verify_command(cli: CliContext, name: str) -> None:
    """Check that backup NAME is complete on every node and every file is there, intact."""
    outcome = _session(cli).verify(name)
    console = Console(width=REPORT_WIDTH)
    if outcome.ok:
        console.print(f"backup {name}: complete, every file present and intact")
        return
    for problem in outcome.problems:
        console.print(f"  {problem}", highlight=False)
    raise BackupError(f"backup {name} does not verify: {len(outcome.problems)} problem(s)")


@backup_group.command("restore")
@click.argument("name")
@click.option(
    "--keyspace",
    "keyspaces",
    multiple=True,
    metavar="KS",
    help="Replace only this keyspace's data (repeatable). The schema of every keyspace still "
    "returns to backup time: medusa always restores the system keyspaces.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def restore_command(cli: CliContext, name: str, keyspaces: tuple[str, ...], yes: bool) -> None:
    """Restore every node in place from backup NAME: each node is stopped, its data replaced
    and started again. Every write made since the backup is lost."""
    session = _session(cli)
    if not yes:
        click.confirm(
            f"Restore {len(session.nodes)} node(s) of {session.settings.store!r} from {name!r}? "
            "Every node restarts and every write since the backup is lost",
            abort=True,
        )
    _print_outcome(session.restore(name, keyspaces))


@backup_group.command("delete")
@click.argument("name")
@click.pass_obj
def delete_command(cli: CliContext, name: str) -> None:
    """Delete backup NAME from every node's storage."""
    _print_outcome(_session(cli).delete(name))


# ---------------------------------------------------------------- the schema tool's --backup


def backup_option(function: F) -> F:
    """``--backup`` of ``setup-schema`` and ``update-schema``."""
    return click.option(
        "--backup",
        is_flag=True,
        help="Back up every node with medusa first (needs --config with the datastore's "
        "'backup:' block); on failure, print the command that restores the keyspace.",
    )(function)


class MigrationBackup:
    """A backup before a migration: taken first, its name recorded with the versions the run
    applies, and, when the run fails, the exact restore command printed."""

    def __init__(
        self, wanted: bool, config_file: Path | None, store: str | None, datastore: Any
    ) -> None:
        self.wanted = wanted
        self.name: str | None = None
        self._config_file = config_file
        self._store = store
        self._cassandra: CassandraConfig | None = getattr(datastore, "cassandra", None)
        if wanted and self._cassandra is None:
            raise ConfigError("--backup is for Cassandra datastores (medusa)")
        if wanted and self._cassandra is not None:
            refuse_astra(self._cassandra)  # before connecting anywhere

    async def take(self, admin: Any, *, only_if_data: bool = False) -> None:
        """Back up now (``only_if_data``: only when the keyspace holds tables already)."""
        if not self.wanted or self._cassandra is None:
            return
        if only_if_data:
            tables = set(await admin.existing_tables()) - set(BOOKKEEPING_TABLES)
            if not tables:
                click.echo(
                    "--backup: the keyspace holds no tables yet; nothing to back up", err=True
                )
                return
        errors = Console(stderr=True, width=REPORT_WIDTH)
        self.name = await asyncio.to_thread(
            backup_before_migration,
            self._config_file,
            self._store,
            self._cassandra,
            lambda line: errors.print(line, highlight=False),
        )
        click.echo(f"backup {self.name} taken before the migration", err=True)

    @contextlib.contextmanager
    def restore_hint(self) -> Iterator[None]:
        """On a failure inside, print how to restore the backup, then let the failure go on."""
        try:
            yield
        except Exception:
            if self.name is not None and self._config_file is not None and self._cassandra:
                command = migration_restore_command(
                    self._config_file, self._store, self._cassandra.keyspace, self.name
                )
                click.echo("restore the keyspace as it was before this migration with:", err=True)
                click.echo(f"  {command}", err=True)
            raise
