"""Backups of Cassandra datastores with cassandra-medusa (``persistence-cassandra backup``).

medusa runs in a virtual environment of its own (:mod:`.medusa_env`), as a command, one
``medusa.ini`` per node (:mod:`.medusa`); :class:`BackupSession` backs up every node under one
name, checks and verifies the result, and restores in place. The ``backup:`` block of the
configuration file (:mod:`.settings`) says where backups go and how each node is reached.
"""

from __future__ import annotations

from persistence_cassandra.backup.datastore import (
    ASTRA_BACKUP_MESSAGE,
    backup_session,
    refuse_astra,
)
from persistence_cassandra.backup.engine import (
    BackupListing,
    BackupOutcome,
    BackupSession,
    NodeOutcome,
    VerifyOutcome,
    check_free_space,
    default_backup_name,
)
from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.backup.medusa_env import MEDUSA_VERSION, ensure_medusa
from persistence_cassandra.backup.migration import (
    backup_before_migration,
    migration_backup_name,
    migration_restore_command,
)
from persistence_cassandra.backup.settings import (
    BackupNode,
    BackupSettings,
    BackupStorage,
    load_backup_settings,
)

__all__ = [
    "ASTRA_BACKUP_MESSAGE",
    "MEDUSA_VERSION",
    "BackupError",
    "BackupListing",
    "BackupNode",
    "BackupOutcome",
    "BackupSession",
    "BackupSettings",
    "BackupStorage",
    "NodeOutcome",
    "VerifyOutcome",
    "backup_before_migration",
    "backup_session",
    "check_free_space",
    "default_backup_name",
    "ensure_medusa",
    "load_backup_settings",
    "migration_backup_name",
    "migration_restore_command",
    "refuse_astra",
]
