"""The port the migration engine drives: one small implementation per database.

:class:`SchemaAdmin` is everything the runner needs from a database: Temporal's version tables
(``schema_version``, ``schema_update_history``), our own record of applied versions (with file
checksums) and of per-statement progress, statement execution, catalog lookups and the
migration lock. :class:`KeyspaceAdmin` creates and drops the keyspace (or database) itself.

Bookkeeping tables, created in the migrated keyspace / database:

``schema_version``, ``schema_update_history``
    Temporal's, exactly (SQL flavours add ``version_partition`` and key by ``db_name``).
``schema_migration``
    One row per version this tool applied (or is applying): state, manifest MD5, the SHA-256
    of each statement file, statement count, when and by whom.
``schema_migration_statement``
    One row per applied statement of a version (index, file, checksum): resume starts after
    the last one.
``schema_migration_lock``
    The migration lock (Cassandra, SQLite) or who holds it (PostgreSQL's advisory lock).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from persistence_cassandra.schema.definitions import Definition
from persistence_cassandra.schema.effects import SchemaObject
from persistence_cassandra.schema.statements import Statement

__all__ = [
    "BOOKKEEPING_TABLES",
    "LOCK_TABLE",
    "MIGRATION_TABLES",
    "VERSION_TABLES",
    "HistoryEntry",
    "KeyspaceAdmin",
    "LockHolder",
    "MigrationKind",
    "MigrationRecord",
    "MigrationState",
    "SchemaAdmin",
    "StatementOutcome",
    "StatementRecord",
    "StoredVersion",
    "VersionReader",
    "new_lock_holder",
    "utc_now",
]

VERSION_TABLES = ("schema_version", "schema_update_history")
LOCK_TABLE = "schema_migration_lock"
MIGRATION_TABLES = ("schema_migration", "schema_migration_statement", LOCK_TABLE)
BOOKKEEPING_TABLES = VERSION_TABLES + MIGRATION_TABLES

MigrationKind = Literal["setup", "update"]
MigrationState = Literal["running", "applied"]
StatementOutcome = Literal["executed", "already-present", "skipped"]
"""``skipped``: the Astra adaptation left nothing to run (an ALTER TABLE of ignored options)."""


_last_now = datetime.min.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """Now, in UTC, at the millisecond precision every backend can store; strictly increasing
    within the process, since history rows are keyed by their time."""
    global _last_now
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if now <= _last_now:
        now = _last_now + timedelta(milliseconds=1)
    _last_now = now
    return now


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """The ``schema_version`` row of a keyspace or database."""

    scope: str
    curr_version: str
    min_compatible_version: str | None
    creation_time: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ``schema_update_history`` row."""

    update_time: datetime
    old_version: str
    new_version: str
    manifest_md5: str
    description: str


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """One ``schema_migration`` row: a version this tool applied or is applying."""

    version: str
    kind: MigrationKind
    state: MigrationState
    description: str
    manifest_md5: str
    file_checksums: Mapping[str, str]
    """File name → SHA-256 of its bytes, as they were when the version was started."""
    statement_count: int
    started_at: datetime
    finished_at: datetime | None
    run_by: str
    adaptation: tuple[str, ...] = ()
    """Set when the version was applied adapted for Astra DB: one line per rewritten
    statement (the checksums above stay those of the original files)."""
    backup: str | None = None
    """The medusa backup taken before the run that applied this version (``--backup``;
    Cassandra only)."""


@dataclass(frozen=True, slots=True)
class StatementRecord:
    """One ``schema_migration_statement`` row: statement ``index`` of ``version`` is applied."""

    version: str
    index: int
    file_name: str
    checksum: str
    outcome: StatementOutcome
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or wants) the migration lock, and since when."""

    holder_id: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime = field(compare=False)
    expires_at: datetime | None = field(default=None, compare=False)
    """When the lease runs out unless renewed; ``None`` when the lock has no lease (a
    PostgreSQL advisory lock lasts as long as its session)."""

    def describe(self) -> str:
        since = self.acquired_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.host} pid {self.pid} (run {self.holder_id}) since {since}"

    def describe_lease(self) -> str:
        if self.expires_at is None:
            return "the lock is held until the holder's database session ends"
        expires = self.expires_at.astimezone(UTC).strftime("%H:%M:%S UTC")
        return f"its lease expires at {expires} unless the holder renews it"


def new_lock_holder() -> LockHolder:
    """A holder identity for this process and run."""
    now = utc_now()
    return LockHolder(uuid.uuid4().hex[:12], socket.gethostname(), os.getpid(), now, now)


class VersionReader(Protocol):
    """Enough to check a stored schema version (what a backend needs on open)."""

    @property
    def backend(self) -> str:
        """``cassandra``, ``sqlite`` or ``postgres``."""
        ...

    @property
    def scope(self) -> str:
        """The keyspace or database name."""
        ...

    async def read_version(self) -> StoredVersion | None:
        """The ``schema_version`` row; ``None`` when the table or the row does not exist."""
        ...


class SchemaAdmin(VersionReader, Protocol):
    """One keyspace or database, as the migration engine sees it.

    Writes use the backend's safe settings (Cassandra: LOCAL_QUORUM, LWTs at LOCAL_SERIAL).
    Database errors come out as :class:`~persistence_cassandra.errors.SchemaToolError`.
    """

    @property
    def astra(self) -> bool:
        """Whether the target is Astra DB (connected through a secure connect bundle)."""
        ...

    @property
    def target_description(self) -> str:
        """For messages: ``keyspace 'x' at host:port``, ``SQLite database /path``."""
        ...

    async def close(self) -> None: ...

    async def server_description(self) -> str:
        """A round trip proving the connection works; returns the server's name and version."""
        ...

    # Temporal's version tables ------------------------------------------------------------
    async def existing_tables(self) -> set[str]:
        """Names of the tables in the keyspace / database."""
        ...

    async def create_version_tables(self) -> None: ...

    def bookkeeping_ddl(self, table: str) -> str:
        """The statement that creates bookkeeping ``table`` (what a dry run lists)."""
        ...

    async def write_version(self, version: str, min_compatible: str, history: HistoryEntry) -> None:
        """Overwrite ``schema_version`` and append to ``schema_update_history``."""
        ...

    async def read_history(self) -> list[HistoryEntry]:
        """``schema_update_history``, oldest first."""
        ...

    # Our own record -----------------------------------------------------------------------
    async def create_migration_tables(self) -> None:
        """Create ``schema_migration*`` tables that are missing (safe to call concurrently)."""
        ...

    async def read_migrations(self) -> list[MigrationRecord]:
        """Every ``schema_migration`` row (empty when the table does not exist)."""
        ...

    async def write_migration(self, record: MigrationRecord) -> None: ...

    async def read_statement_records(self, version: str) -> list[StatementRecord]:
        """Applied statements of ``version``, by index."""
        ...

    async def finish_version(
        self, record: MigrationRecord, min_compatible: str, history: HistoryEntry
    ) -> None:
        """Mark ``record`` applied and move ``schema_version`` to it, as one unit where the
        database allows (a transaction on SQL, a logged batch on Cassandra)."""
        ...

    # Statements ---------------------------------------------------------------------------
    async def execute(
        self, statement: Statement, record: StatementRecord | None, *, transactional: bool
    ) -> list[str]:
        """Run ``statement`` and, if given, record it as applied; returns the server's warnings
        (Astra DB accepts unsupported table options with a warning only).

        SQL: both in one transaction when ``transactional``. Cassandra: the statement, then
        (after schema agreement for DDL) the record.
        """
        ...

    async def record_statement(self, record: StatementRecord) -> None:
        """Record a statement as applied without running it (its effect is already there)."""
        ...

    async def object_present(self, obj: SchemaObject) -> bool | None:
        """Whether ``obj`` exists in the catalog; ``None`` when this database cannot tell."""
        ...

    async def existing_definition(self, obj: SchemaObject) -> Definition | None:
        """How ``obj`` is defined in the catalog; ``None`` when it does not exist or this
        database cannot tell."""
        ...

    async def declared_definition(
        self, statement: Statement, obj: SchemaObject
    ) -> Definition | None:
        """How ``statement`` defines ``obj`` (one of the objects it creates), in the form of
        :meth:`existing_definition`; ``None`` when that cannot be told."""
        ...

    async def drop_all_objects(self, keep: Collection[str]) -> list[str]:
        """Drop every table, view and type except the tables named in ``keep``; returns what
        was dropped (``--overwrite``)."""
        ...

    # The migration lock -------------------------------------------------------------------
    async def try_lock(self, holder: LockHolder, ttl: float) -> LockHolder | None:
        """Take the lock for ``ttl`` seconds; ``None`` when taken, else the current holder."""
        ...

    async def renew_lock(self, holder: LockHolder, ttl: float) -> bool:
        """Extend the lock; ``False`` when it is no longer ``holder``'s."""
        ...

    async def take_over_lock(self, dead: LockHolder, holder: LockHolder, ttl: float) -> bool:
        """Replace ``dead``'s lock by ``holder``'s with a write conditional on ``dead`` still
        holding it; ``False`` when somebody else changed the lock first."""
        ...

    async def release_lock(self, holder: LockHolder) -> None: ...


class KeyspaceAdmin(Protocol):
    """Creates and drops the keyspace (Cassandra) or database (SQL) that a SchemaAdmin uses."""

    async def keyspace_exists(self, name: str) -> bool: ...

    async def create_keyspace(
        self, name: str, *, replication_factor: int = 1, datacenter: str | None = None
    ) -> bool:
        """Create ``name`` if absent; returns whether it was created."""
        ...

    async def drop_keyspace(self, name: str) -> bool:
        """Drop ``name`` if present; returns whether it existed."""
        ...

    async def close(self) -> None: ...
