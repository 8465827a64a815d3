"""The one error of the backup commands."""

from __future__ import annotations

from persistence_cassandra.errors import UserFacingError

__all__ = ["BackupError"]


class BackupError(UserFacingError):
    """A backup, verification or restore cannot proceed, or failed: the message says what
    happened and what to do, in one line."""
