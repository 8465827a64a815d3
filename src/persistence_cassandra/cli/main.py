"""The ``persistence-cassandra`` command line: global options, error reporting, command list.

Commands are thin adapters over typed functions (``config_commands``, ``doctor``, ``demo``,
and the ``schema`` group). Every failure is reported here, in one place
(:class:`CommandGroup`): one ``error: ...`` line on stderr and a non-zero exit status, 2 for
usage and configuration mistakes and 1 for runtime failures. ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from persistence_cassandra import __version__
from persistence_cassandra.cli.backup_command import backup_group
from persistence_cassandra.cli.bench_command import bench_command
from persistence_cassandra.cli.config_commands import config_group
from persistence_cassandra.cli.context import CliContext, Interrupted
from persistence_cassandra.cli.copy_command import copy_command
from persistence_cassandra.cli.demo import demo_command
from persistence_cassandra.cli.doctor import doctor_command
from persistence_cassandra.cli.fix_commands import with_config_target
from persistence_cassandra.cli.schema_commands import schema_group
from persistence_cassandra.cli.visibility_command import visibility_group
from persistence_cassandra.cli.workload_command import workload_command
from persistence_cassandra.errors import (
    ConfigError,
    PersistenceError,
    SchemaVersionMismatch,
    Timeout,
    Unavailable,
    UserFacingError,
)

__all__ = ["CliFailure", "CliUsageFailure", "CommandGroup", "cli", "describe_failure", "main"]

PROG_NAME = "persistence-cassandra"

USAGE_EXIT = 2
FAILURE_EXIT = 1


class CliFailure(click.ClickException):
    """A runtime failure already worded for the user: shown as one ``error:`` line, exit 1."""

    exit_code = FAILURE_EXIT

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)

    @staticmethod
    def with_exit(message: str, exit_code: int) -> CliFailure:
        return CliUsageFailure(message) if exit_code == USAGE_EXIT else CliFailure(message)


class CliUsageFailure(CliFailure):
    """A usage or configuration mistake: one ``error:`` line, exit 2."""

    exit_code = USAGE_EXIT


def _one_line(message: str) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) or "unknown error"


def _usage_failure(error: click.UsageError, command_path: str | None = None) -> CliFailure:
    path = error.ctx.command_path if error.ctx is not None else command_path
    hint = f" (see '{path} --help')" if path else ""
    return CliUsageFailure(error.format_message() + hint)


def describe_failure(error: BaseException) -> tuple[str, int]:
    """The one line shown for ``error`` and the exit status it earns."""
    if isinstance(error, ConfigError):
        return str(error), USAGE_EXIT
    if isinstance(error, UserFacingError | SchemaVersionMismatch):
        return str(error), FAILURE_EXIT
    if isinstance(error, Unavailable):
        return f"store unavailable: {error}", FAILURE_EXIT
    if isinstance(error, Timeout):
        return f"store timed out: {error}", FAILURE_EXIT
    if isinstance(error, PersistenceError):
        return f"{type(error).__name__}: {error}", FAILURE_EXIT
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}", FAILURE_EXIT
    return (
        f"unexpected {type(error).__name__}: {error} (rerun with --verbose for the traceback)",
        FAILURE_EXIT,
    )


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
            raise _usage_failure(error, info_name) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.exceptions.NoArgsIsHelpError):
            raise
        except (CliFailure, Interrupted):
            raise
        except KeyboardInterrupt:
            # asyncio.run has cancelled the command's task and its cleanup (closing stores,
            # removing temporary files) has run: report it as the shell would, 128 + SIGINT.
            raise Interrupted() from None
        except click.UsageError as error:
            raise _usage_failure(error) from None
        except click.ClickException as error:
            message = _with_settings(ctx, error.format_message())
            raise CliFailure.with_exit(message, error.exit_code) from None
        except Exception as error:
            if isinstance(ctx.obj, CliContext) and ctx.obj.verbose:
                traceback.print_exc(file=sys.stderr)
            message, exit_code = describe_failure(error)
            raise CliFailure.with_exit(_with_settings(ctx, message), exit_code) from None


def _with_settings(ctx: click.Context, message: str) -> str:
    """``message`` with its fix commands carrying the user's ``--config`` and ``--store``."""
    if not isinstance(ctx.obj, CliContext):
        return message
    return with_config_target(message, ctx.obj.config_path, ctx.obj.store)


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
