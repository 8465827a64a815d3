"""The commands an error tells the user to run, kept as data until the message is shown.

A store that is not ready knows its backend and keyspace or database, and words the command to
run next (``persistence-cassandra schema -k ks setup-schema -v 0.0``). Printed as it is, that
command would go to 127.0.0.1 with no user, TLS or port: only the command line knows where the
user's settings came from (a ``--config`` file and ``--store``, or connection flags). So an
error keeps its message as :data:`MessagePart` pieces, text and :class:`SchemaCommand`, and the
CLI renders each command with the user's settings (:func:`render_message`); everywhere else
the default rendering is the error's ``str()``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["PROGRAM", "MessagePart", "SchemaCommand", "as_parts", "render_message"]

PROGRAM = "persistence-cassandra"


@dataclass(frozen=True, slots=True)
class SchemaCommand:
    """``persistence-cassandra schema <target> <arguments>`` for one keyspace or database."""

    backend: str
    """``cassandra``, ``sqlite`` or ``postgres``."""
    scope: str
    """The keyspace (Cassandra) or database (SQL)."""
    arguments: str
    """The subcommand and its own flags, e.g. ``setup-schema -v 0.0``."""

    def target_flags(self) -> str:
        scope = shlex.quote(self.scope)
        if self.backend == "cassandra":
            return f"-k {scope}"
        return f"--plugin {self.backend} --db {scope}"

    def command_line(self, *, global_flags: str = "", connection_flags: str = "") -> str:
        """The command with ``global_flags`` (``--config FILE``, which then names the target
        itself) before ``schema`` and ``connection_flags`` after it."""
        words = [PROGRAM]
        if global_flags:
            words.append(global_flags)
        words.append("schema")
        if connection_flags:
            words.append(connection_flags)
        if not global_flags:
            words.append(self.target_flags())
        words.append(self.arguments)
        return " ".join(words)

    def __str__(self) -> str:
        return self.command_line()


MessagePart = str | SchemaCommand


def as_parts(message: str | Sequence[MessagePart]) -> tuple[MessagePart, ...]:
    return (message,) if isinstance(message, str) else tuple(message)


def render_message(
    parts: Sequence[MessagePart], render: Callable[[SchemaCommand], str] = str
) -> str:
    """The message text, each command rendered by ``render``."""
    return "".join(render(part) if isinstance(part, SchemaCommand) else part for part in parts)
