"""Where commands print: a terminal gets rich's tables at its width; anything else (a pipe, a
file, a CI log) gets lines that are never wrapped or cut.

rich gives a console that is not a terminal 80 columns, and fits tables and long lines into
them by wrapping cells mid-word and truncating names with an ellipsis: a path in a log then
cannot be copied, nor a table read by a script. Off a terminal, the width here is large enough
that no table needs fitting (a table is only as wide as its contents) and text is not wrapped.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["PLAIN_WIDTH", "console_for"]

PLAIN_WIDTH = 1_000
"""Columns assumed when the output is not a terminal: wider than any table a command prints."""


def console_for(*, stderr: bool = False) -> Console:
    """The console for stdout (or stderr): the terminal's own, else one that never wraps."""
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=PLAIN_WIDTH, soft_wrap=True)
