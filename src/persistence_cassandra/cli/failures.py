"""How every command reports a failure: one ``error: ...`` line and an exit status.

One path for the whole command line: the root group (:class:`~.main.CommandGroup`) hands any
exception to :func:`raise_failure`; no group or command below it reports on its own. Status 2
is for usage and configuration mistakes, 1 for runtime failures; ``schema -q`` keeps it 0 (as
Temporal's schema tool does). ``--verbose`` adds the traceback.

Groups say what the report should know through :func:`reporting`, which lives in the click
context's ``meta`` (shared by every context of one invocation): the root group records
``--config``/``--store``, the schema group the connection flags the user typed and ``-q``. The
commands an error names (:class:`~persistence_cassandra.hints.SchemaCommand`) are then printed
with those settings, so that they run as printed.
"""

from __future__ import annotations

import shlex
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from persistence_cassandra.cli.context import Interrupted
from persistence_cassandra.errors import (
    ConfigError,
    PersistenceError,
    SchemaVersionMismatch,
    Timeout,
    Unavailable,
    UserFacingError,
)
from persistence_cassandra.hints import MessagePart, SchemaCommand, as_parts, render_message

__all__ = [
    "FAILURE_EXIT",
    "USAGE_EXIT",
    "CliFailure",
    "CliUsageFailure",
    "FailureReporting",
    "describe_failure",
    "raise_failure",
    "reporting",
    "usage_failure",
]

USAGE_EXIT = 2
FAILURE_EXIT = 1
_META_KEY = "persistence_cassandra.failure_reporting"


def one_line(message: str) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) or "unknown error"


class CliFailure(click.ClickException):
    """A runtime failure already worded for the user: shown as one ``error:`` line, exit 1.
    A message given as parts keeps the commands it names as data, so that they are printed
    with the user's settings."""

    exit_code = FAILURE_EXIT

    def __init__(self, message: str | Sequence[MessagePart]) -> None:
        self.parts = as_parts(message)
        super().__init__(one_line(render_message(self.parts)))

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)

    @staticmethod
    def with_exit(message: str | Sequence[MessagePart], exit_code: int) -> CliFailure:
        return CliUsageFailure(message) if exit_code == USAGE_EXIT else CliFailure(message)


class CliUsageFailure(CliFailure):
    """A usage or configuration mistake: one ``error:`` line, exit 2."""

    exit_code = USAGE_EXIT


@dataclass(slots=True)
class FailureReporting:
    """What the one failure path knows about this invocation."""

    config_path: Path | None = None
    store: str | None = None
    connection_flags: str = ""
    """Connection flags the user typed on ``schema`` (quoted; secrets as ``"${VAR}"``)."""
    quiet: bool = False
    """``schema -q``: report, but exit 0."""
    verbose: bool = False

    def render_command(self, command: SchemaCommand) -> str:
        """``command`` as the user should run it: through their ``--config`` (which names the
        target, every host, TLS option and secret) or with the connection flags they typed."""
        global_flags = ""
        if self.config_path is not None:
            global_flags = f"--config {shlex.quote(str(self.config_path))}"
            if self.store:
                global_flags += f" --store {shlex.quote(self.store)}"
        return command.command_line(
            global_flags=global_flags, connection_flags=self.connection_flags
        )

    def reword(self, parts: tuple[MessagePart, ...]) -> str:
        return render_message(parts, self.render_command)


def reporting(ctx: click.Context) -> FailureReporting:
    """This invocation's :class:`FailureReporting` (made on first use)."""
    found = ctx.meta.get(_META_KEY)
    if not isinstance(found, FailureReporting):
        found = FailureReporting()
        ctx.meta[_META_KEY] = found
    return found


def usage_failure(error: click.UsageError, command_path: str | None = None) -> CliFailure:
    path = error.ctx.command_path if error.ctx is not None else command_path
    hint = f" (see '{path} --help')" if path else ""
    return CliUsageFailure(error.format_message() + hint)


def describe_failure(error: BaseException) -> tuple[str, int]:
    """The one line shown for ``error`` (commands it names rendered by default) and the exit
    status it earns."""
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


def _message(error: BaseException, settings: FailureReporting) -> tuple[str, int]:
    message, exit_code = describe_failure(error)
    parts: tuple[MessagePart, ...] | None = getattr(error, "parts", None)
    if parts and message == str(error):
        message = settings.reword(parts)
    return message, exit_code


def raise_failure(ctx: click.Context, error: BaseException) -> NoReturn:
    """Report ``error`` (raised by a command under ``ctx``) the one way: re-raise what click
    shows itself, or a :class:`CliFailure` worded for the user."""
    settings = reporting(ctx)
    if isinstance(error, click.exceptions.Exit | click.Abort | click.exceptions.NoArgsIsHelpError):
        raise error
    if isinstance(error, Interrupted):
        failure: click.ClickException = error
    elif isinstance(error, CliFailure):
        failure = CliFailure.with_exit(settings.reword(error.parts), error.exit_code)
    elif isinstance(error, KeyboardInterrupt):
        # asyncio.run has cancelled the command's task and its cleanup (closing stores,
        # removing temporary files) has run: report it as the shell would, 128 + SIGINT.
        raise Interrupted() from None
    elif isinstance(error, click.UsageError):
        failure = usage_failure(error)
    elif isinstance(error, click.ClickException):
        failure = CliFailure.with_exit(error.format_message(), error.exit_code)
    else:
        if settings.verbose:
            traceback.print_exception(error, file=sys.stderr)
        message, exit_code = _message(error, settings)
        failure = CliFailure.with_exit(message, exit_code)
    if settings.quiet and not isinstance(failure, Interrupted):
        failure.show()
        raise click.exceptions.Exit(0) from None
    raise failure from None
