"""From a configured datastore to a :class:`~persistence_cassandra.backup.engine.BackupSession`:
the checks that come before medusa (a Cassandra datastore, not Astra DB, a ``backup:`` block),
then medusa's environment."""

from __future__ import annotations

from pathlib import Path

from persistence_cassandra.backup.engine import BackupSession, Progress
from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.backup.medusa_env import ensure_medusa
from persistence_cassandra.backup.settings import load_backup_settings
from persistence_cassandra.config import CassandraConfig, load_config
from persistence_cassandra.errors import ConfigError

__all__ = ["ASTRA_BACKUP_MESSAGE", "backup_session", "refuse_astra"]

ASTRA_BACKUP_MESSAGE = (
    "Astra DB keeps its own backups of every database; manage and restore them in the Astra "
    "Portal (or through DataStax support), not with medusa: backups here are for self-managed "
    "Cassandra"
)


def refuse_astra(cassandra: CassandraConfig) -> None:
    """``BackupError`` with :data:`ASTRA_BACKUP_MESSAGE` for an Astra DB datastore."""
    if cassandra.astra is not None:
        raise BackupError(ASTRA_BACKUP_MESSAGE)


def _cassandra_of(config_path: Path, store: str | None) -> tuple[str, CassandraConfig]:
    config = load_config(config_path)
    name = store or config.default_store
    datastore = config.datastore(name)
    if datastore.cassandra is None:
        raise ConfigError(
            f"datastore {name!r} is {datastore.backend_name}: backups (medusa) are for "
            "Cassandra datastores"
        )
    return name, datastore.cassandra


def backup_session(
    config_path: Path | None, store: str | None, progress: Progress | None = None
) -> BackupSession:
    """The backups of datastore ``store`` (default: ``defaultStore``) of ``config_path``;
    creates medusa's environment on first use."""
    if config_path is None:
        raise ConfigError(
            "backups need --config FILE with a Cassandra datastore and a 'backup:' block "
            "(see docs/backup.md); the embedded SQLite store is one file: copy it"
        )
    name, cassandra = _cassandra_of(config_path, store)
    refuse_astra(cassandra)
    settings = load_backup_settings(config_path, name)
    return BackupSession(settings, ensure_medusa(progress), cassandra, progress)
