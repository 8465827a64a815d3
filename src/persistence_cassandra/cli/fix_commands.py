"""Fix commands in error messages that run as printed, with the user's own settings.

A store that is not ready says which schema command to run (``persistence-cassandra schema -k
ks setup-schema -v 0.0``), but the layer that words it knows only the keyspace or database:
run as printed, that command would go to 127.0.0.1 with no user, TLS or port. The CLI knows
where the settings came from: a ``--config`` file (and ``--store``). The schema group takes
its datastore from the same file, so the command is rewritten to carry ``--config FILE
--store NAME`` instead of the partial target flags: every host, port, user, TLS option and
secret reaches it, secrets staying the ``${VAR}`` references the file holds, never their values.

Without ``--config`` the store is the embedded SQLite file, whose path is its whole target,
and the command is left as it is.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

__all__ = ["with_config_target", "with_schema_flags"]

# The target flags the hints use: a keyspace, or an SQL plugin and database (and, if any,
# an endpoint and port), each followed by one value.
_HINT = re.compile(
    r"persistence-cassandra schema "
    r"(?:(?:-k|--keyspace|--plugin|--pl|--db|--database|--ep|--endpoint|-p|--port) \S+ )+"
)


def with_config_target(message: str, config_path: Path | None, store: str | None) -> str:
    """``message`` with each schema command's target flags replaced by ``--config FILE``
    (and ``--store NAME``); unchanged without a config file."""
    if config_path is None:
        return message
    target = f"--config {shlex.quote(str(config_path))}"
    if store:
        target += f" --store {shlex.quote(store)}"
    return _HINT.sub(f"persistence-cassandra {target} schema ", message)


def with_schema_flags(message: str, flags: str) -> str:
    """``message`` with ``flags`` (the connection flags the user typed, already quoted, secrets
    as ``"${VAR}"``) inserted into each schema command, before the target flags it names."""
    if not flags:
        return message
    head = "persistence-cassandra schema "
    return _HINT.sub(lambda found: head + flags + " " + found.group(0)[len(head) :], message)
