"""The ``persistence-cassandra`` command line: global options, error reporting, command list.

Commands are thin adapters over typed functions (``config_commands``, ``doctor``, ``demo``,
and the ``schema`` group). Every failure is reported in one place: :class:`CommandGroup` hands
it to :func:`~.failures.raise_failure` (one ``error: ...`` line on stderr, exit status 2 for
usage and configuration mistakes and 1 for runtime failures; ``--verbose`` adds the
traceback).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from persistence_cassandra import __version__
from persistence_cassandra.cli.backup_command import backup_group
from persistence_cassandra.cli.bench_command import bench_command
from persistence_cassandra.cli.config_commands import config_group
from persistence_cassandra.cli.context import CliContext
from persistence_cassandra.cli.copy_command import copy_command
from persistence_cassandra.cli.demo import demo_command
from persistence_cassandra.cli.doctor import doctor_command
from persistence_cassandra.cli.failures import raise_failure, reporting, usage_failure
from persistence_cassandra.cli.schema_commands import schema_group
from persistence_cassandra.cli.visibility_command import visibility_group
from persistence_cassandra.cli.workload_command import workload_command

__all__ = ["CommandGroup", "cli", "main"]

PROG_NAME = "persistence-cassandra"


class CommandGroup(click.Group):
    """The root group: turns every failure below it into one line and an exit status."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            raise usage_failure(error, info_name) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as error:
            raise_failure(ctx, error)


@click.group(
    cls=CommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PC_CONFIG",
    show_envvar=True,
    metavar="FILE",
    help="YAML file with a 'persistence:' block. Default: the embedded SQLite store "
    "under $PC_DATA_DIR.",
)
@click.option(
    "--store",
    metavar="NAME",
    help="Work on this datastore instead of the config's defaultStore.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and more detail.")
@click.version_option(__version__, prog_name=PROG_NAME)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, store: str | None, verbose: bool) -> None:
    """The persistence layer of a durable-execution server: Cassandra, SQLite, PostgreSQL.

    Without --config, commands use the embedded SQLite store (created on first use).
    """
    ctx.obj = CliContext(config_path=config_path, store=store, verbose=verbose)
    report = reporting(ctx)
    report.config_path, report.store, report.verbose = config_path, store, verbose


cli.add_command(config_group)
cli.add_command(doctor_command)
cli.add_command(demo_command)
cli.add_command(schema_group)
cli.add_command(workload_command)
cli.add_command(copy_command)
cli.add_command(bench_command)
cli.add_command(backup_group)
cli.add_command(visibility_group)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    # SIGTERM (a service manager, `timeout`, `kill`) would end the process at once, leaving a
    # bench's temporary store and an unsaved copy state behind: stop the way Ctrl-C does, so
    # the command's cleanup runs.
    signal.raise_signal(signal.SIGINT)


def main() -> None:
    """Entry point of ``persistence-cassandra`` and ``python -m persistence_cassandra``."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    cli.main(prog_name=PROG_NAME)
