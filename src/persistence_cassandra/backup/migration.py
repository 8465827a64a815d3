"""A backup before a schema migration (``schema update-schema --backup``).

The backup is taken before the migration lock: between the two a concurrent run could still
apply a version, which the lock then shows as already applied. Its name is recorded with every
version the run applies, and when the run fails the exact command that restores the keyspace
is printed. It names ``--keyspace``: the keyspace's data returns to backup time while the
others keep theirs (their schema returns too, but a backup taken moments before a migration
holds the same schema for them).
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

from persistence_cassandra.backup.datastore import backup_session, refuse_astra
from persistence_cassandra.backup.engine import Progress
from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import ConfigError

__all__ = ["backup_before_migration", "migration_backup_name", "migration_restore_command"]


def migration_backup_name(keyspace: str, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return f"pre-{re.sub(r'[^A-Za-z0-9_.-]', '-', keyspace)}-{moment:%Y%m%d-%H%M%S}"


def backup_before_migration(
    config_path: Path | None,
    store: str | None,
    cassandra: CassandraConfig,
    progress: Progress | None = None,
) -> str:
    """Back up every node of the datastore; returns the backup's name."""
    refuse_astra(cassandra)
    if config_path is None:
        raise ConfigError(
            "--backup needs --config FILE naming the datastore, with its 'backup:' block "
            "(see docs/backup.md)"
        )
    session = backup_session(config_path, store, progress)
    name = migration_backup_name(cassandra.keyspace)
    session.create(name)
    return name


def migration_restore_command(
    config_path: Path, store: str | None, keyspace: str, name: str
) -> str:
    """The exact command that brings ``keyspace`` back to backup ``name``."""
    words = ["persistence-cassandra", "--config", str(config_path)]
    if store:
        words += ["--store", store]
    words += ["backup", "restore", name, "--keyspace", keyspace, "--yes"]
    return " ".join(shlex.quote(word) for word in words)
