"""``backup create | list | verify | restore | delete``: medusa backups of a Cassandra datastore.

A thin adapter over :mod:`persistence_cassandra.backup`: progress on stderr, a result table on
stdout, every failure one ``error:`` line (exit 1; 2 for a configuration mistake).
"""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.backup import BackupOutcome, BackupSession, backup_session
from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.cli.context import CliContext

__all__ = ["backup_group"]

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
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


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
    for column in ("name", "started", "finished", "complete", "nodes", "files", "size"):
        table.add_column(
            column, justify="right" if column in ("nodes", "files", "size") else "left"
        )
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
