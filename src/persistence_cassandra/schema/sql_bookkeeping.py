"""The bookkeeping tables and queries shared by the SQLite and PostgreSQL admins.

Temporal's SQL version tables key every row by ``(version_partition, db_name)`` with
``version_partition`` always 0; ours key by ``db_name`` too, so that one database could hold
several schemas' records. Queries use ``?`` placeholders; the PostgreSQL admin rewrites them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from persistence_cassandra.schema.admin import (
    HistoryEntry,
    LockHolder,
    MigrationKind,
    MigrationRecord,
    MigrationState,
    StatementOutcome,
    StatementRecord,
    StoredVersion,
)

__all__ = [
    "SqlTypes",
    "bookkeeping_ddl",
    "history_from_row",
    "history_row",
    "lock_holder_from_row",
    "lock_name",
    "migration_row",
    "migration_tables_ddl",
    "record_from_row",
    "statement_from_row",
    "statement_row",
    "stored_version_from_row",
    "to_datetime",
    "version_tables_ddl",
]

VERSION_PARTITION = 0


@dataclass(frozen=True, slots=True)
class SqlTypes:
    name: str
    """Names, holders, db names: VARCHAR(255)."""
    short: str
    """Versions, checksums, states: VARCHAR(64)."""
    text: str
    timestamp: str


def version_tables_ddl(types: SqlTypes) -> tuple[str, ...]:
    """Temporal's ``schema_version`` and ``schema_update_history`` (SQL flavour)."""
    return (
        "CREATE TABLE IF NOT EXISTS schema_version (version_partition INTEGER NOT NULL, "
        f"db_name {types.name} NOT NULL, creation_time {types.timestamp}, "
        f"curr_version {types.short}, min_compatible_version {types.short}, "
        "PRIMARY KEY (version_partition, db_name))",
        "CREATE TABLE IF NOT EXISTS schema_update_history (version_partition INTEGER NOT NULL, "
        f"year INTEGER NOT NULL, month INTEGER NOT NULL, update_time {types.timestamp} NOT NULL, "
        f"description {types.name}, manifest_md5 {types.short}, new_version {types.short}, "
        f"old_version {types.short}, PRIMARY KEY (version_partition, year, month, update_time))",
    )


def migration_tables_ddl(types: SqlTypes) -> tuple[str, ...]:
    return (
        f"CREATE TABLE IF NOT EXISTS schema_migration (db_name {types.name} NOT NULL, "
        f"version {types.short} NOT NULL, kind {types.short} NOT NULL, "
        f"state {types.short} NOT NULL, description {types.text}, manifest_md5 {types.short}, "
        f"file_checksums {types.text}, statement_count INTEGER, "
        f"started_at {types.timestamp}, finished_at {types.timestamp}, run_by {types.name}, "
        "PRIMARY KEY (db_name, version))",
        f"CREATE TABLE IF NOT EXISTS schema_migration_statement (db_name {types.name} NOT NULL, "
        f"version {types.short} NOT NULL, statement_index INTEGER NOT NULL, "
        f"file_name {types.name}, statement_checksum {types.short}, outcome {types.short}, "
        f"applied_at {types.timestamp}, PRIMARY KEY (db_name, version, statement_index))",
        f"CREATE TABLE IF NOT EXISTS schema_migration_lock (lock_name {types.name} NOT NULL "
        f"PRIMARY KEY, holder {types.name}, host {types.name}, pid INTEGER, "
        f"acquired_at {types.timestamp}, renewed_at {types.timestamp}, "
        f"expires_at {types.timestamp})",
    )


def bookkeeping_ddl(types: SqlTypes, table: str) -> str:
    """The ``CREATE TABLE`` of one bookkeeping table (what a dry run lists)."""
    for statement in version_tables_ddl(types) + migration_tables_ddl(types):
        if statement.split("(")[0].split()[-1] == table:
            return statement
    raise KeyError(table)


TAKE_OVER_LOCK = (
    "UPDATE schema_migration_lock SET holder = ?, host = ?, pid = ?, acquired_at = ?, "
    "renewed_at = ?, expires_at = ? WHERE lock_name = ? AND holder = ?"
)

SELECT_VERSION = (
    "SELECT db_name, curr_version, min_compatible_version, creation_time FROM schema_version "
    "WHERE version_partition = 0 AND db_name = ?"
)
UPSERT_VERSION = (
    "INSERT INTO schema_version (version_partition, db_name, creation_time, curr_version, "
    "min_compatible_version) VALUES (0, ?, ?, ?, ?) ON CONFLICT (version_partition, db_name) "
    "DO UPDATE SET creation_time = excluded.creation_time, "
    "curr_version = excluded.curr_version, "
    "min_compatible_version = excluded.min_compatible_version"
)
INSERT_HISTORY = (
    "INSERT INTO schema_update_history (version_partition, year, month, update_time, "
    "old_version, new_version, manifest_md5, description) VALUES (0, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_HISTORY = (
    "SELECT update_time, old_version, new_version, manifest_md5, description "
    "FROM schema_update_history WHERE version_partition = 0 ORDER BY update_time"
)
SELECT_MIGRATIONS = (
    "SELECT version, kind, state, description, manifest_md5, file_checksums, statement_count, "
    "started_at, finished_at, run_by FROM schema_migration WHERE db_name = ?"
)
UPSERT_MIGRATION = (
    "INSERT INTO schema_migration (db_name, version, kind, state, description, manifest_md5, "
    "file_checksums, statement_count, started_at, finished_at, run_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (db_name, version) DO UPDATE SET "
    "kind = excluded.kind, state = excluded.state, description = excluded.description, "
    "manifest_md5 = excluded.manifest_md5, file_checksums = excluded.file_checksums, "
    "statement_count = excluded.statement_count, started_at = excluded.started_at, "
    "finished_at = excluded.finished_at, run_by = excluded.run_by"
)
SELECT_STATEMENTS = (
    "SELECT version, statement_index, file_name, statement_checksum, outcome, applied_at "
    "FROM schema_migration_statement WHERE db_name = ? AND version = ? ORDER BY statement_index"
)
INSERT_STATEMENT = (
    "INSERT INTO schema_migration_statement (db_name, version, statement_index, file_name, "
    "statement_checksum, outcome, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_LOCK = (
    "SELECT holder, host, pid, acquired_at, renewed_at, expires_at FROM schema_migration_lock "
    "WHERE lock_name = ?"
)
UPSERT_LOCK = (
    "INSERT INTO schema_migration_lock (lock_name, holder, host, pid, acquired_at, renewed_at, "
    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lock_name) DO UPDATE SET "
    "holder = excluded.holder, host = excluded.host, pid = excluded.pid, "
    "acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, "
    "expires_at = excluded.expires_at"
)
RENEW_LOCK = (
    "UPDATE schema_migration_lock SET renewed_at = ?, expires_at = ? "
    "WHERE lock_name = ? AND holder = ?"
)
DELETE_LOCK = "DELETE FROM schema_migration_lock WHERE lock_name = ? AND holder = ?"


def lock_name(db_name: str) -> str:
    return f"migration:{db_name}"


def to_datetime(value: Any) -> datetime:
    """A stored timestamp (ISO text on SQLite, naive UTC on PostgreSQL) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_version_from_row(row: Sequence[Any]) -> StoredVersion:
    return StoredVersion(
        scope=str(row[0]),
        curr_version=str(row[1]),
        min_compatible_version=None if row[2] is None else str(row[2]),
        creation_time=None if row[3] is None else to_datetime(row[3]),
    )


def history_row(entry: HistoryEntry, stamp: Any) -> tuple[Any, ...]:
    time = entry.update_time
    return (
        time.year,
        time.month,
        stamp,
        entry.old_version,
        entry.new_version,
        entry.manifest_md5,
        entry.description,
    )


def history_from_row(row: Sequence[Any]) -> HistoryEntry:
    return HistoryEntry(to_datetime(row[0]), str(row[1]), str(row[2]), row[3] or "", row[4] or "")


def migration_row(db_name: str, record: MigrationRecord, stamp: Any) -> tuple[Any, ...]:
    return (
        db_name,
        record.version,
        record.kind,
        record.state,
        record.description,
        record.manifest_md5,
        json.dumps(dict(record.file_checksums), sort_keys=True),
        record.statement_count,
        stamp(record.started_at),
        None if record.finished_at is None else stamp(record.finished_at),
        record.run_by,
    )


def record_from_row(row: Sequence[Any]) -> MigrationRecord:
    return MigrationRecord(
        version=str(row[0]),
        kind=cast(MigrationKind, row[1]),
        state=cast(MigrationState, row[2]),
        description=row[3] or "",
        manifest_md5=row[4] or "",
        file_checksums=json.loads(row[5] or "{}"),
        statement_count=int(row[6] or 0),
        started_at=to_datetime(row[7]),
        finished_at=None if row[8] is None else to_datetime(row[8]),
        run_by=row[9] or "",
    )


def statement_row(db_name: str, record: StatementRecord, stamp: Any) -> tuple[Any, ...]:
    return (
        db_name,
        record.version,
        record.index,
        record.file_name,
        record.checksum,
        record.outcome,
        stamp,
    )


def statement_from_row(row: Sequence[Any]) -> StatementRecord:
    return StatementRecord(
        version=str(row[0]),
        index=int(row[1]),
        file_name=str(row[2]),
        checksum=str(row[3]),
        outcome=cast(StatementOutcome, row[4]),
        applied_at=to_datetime(row[5]),
    )


def lock_holder_from_row(row: Sequence[Any]) -> LockHolder:
    return LockHolder(
        holder_id=str(row[0]),
        host=str(row[1] or "?"),
        pid=int(row[2] or 0),
        acquired_at=to_datetime(row[3]),
        renewed_at=to_datetime(row[4] if row[4] is not None else row[3]),
        expires_at=None if len(row) < 6 or row[5] is None else to_datetime(row[5]),
    )
