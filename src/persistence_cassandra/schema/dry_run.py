"""Dry runs: the real run's code path over an admin that reads for real and writes nothing.

A dry run must list everything the real run would do, bookkeeping included, and the surest
way to keep the two from drifting apart is to run the same code. :class:`DryRunAdmin` passes
every read to the real admin and turns every write (bookkeeping DDL, version records, the
lock, the schema statements) into a :class:`DryRunAction`. It takes no lock: the lock lines
say what the real run would take.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from persistence_cassandra.schema.admin import (
    MIGRATION_TABLES,
    VERSION_TABLES,
    HistoryEntry,
    LockHolder,
    MigrationRecord,
    SchemaAdmin,
    StatementRecord,
    StoredVersion,
)
from persistence_cassandra.schema.definitions import Definition
from persistence_cassandra.schema.effects import SchemaObject
from persistence_cassandra.schema.statements import Statement

__all__ = ["DryRunAction", "DryRunAdmin"]

ActionKind = Literal["bookkeeping", "statement", "skipped"]


@dataclass(frozen=True, slots=True)
class DryRunAction:
    kind: ActionKind
    """``statement``: a schema statement; ``skipped``: one the Astra adaptation left empty;
    ``bookkeeping``: the tool's own tables and the lock."""
    text: str
    key: tuple[str, int] | None = None
    """(version, statement index) of a schema statement, to find it in the plan."""


def _history(entry: HistoryEntry) -> str:
    return (
        f"schema_update_history row {entry.old_version} -> {entry.new_version} "
        f"(manifest md5 {entry.manifest_md5[:8] or '-'}, {entry.description!r})"
    )


@dataclass(slots=True)
class DryRunAdmin:
    """A :class:`SchemaAdmin` that records writes instead of making them."""

    real: SchemaAdmin
    actions: list[DryRunAction] = field(default_factory=list)
    _created: set[str] = field(default_factory=set)

    def _note(self, text: str) -> None:
        self.actions.append(DryRunAction("bookkeeping", text))

    @property
    def backend(self) -> str:
        return self.real.backend

    @property
    def scope(self) -> str:
        return self.real.scope

    @property
    def astra(self) -> bool:
        return self.real.astra

    @property
    def target_description(self) -> str:
        return self.real.target_description

    async def close(self) -> None:
        await self.real.close()

    async def server_description(self) -> str:
        return await self.real.server_description()

    # reads: the real database's answers, plus the tables this dry run "created"
    async def existing_tables(self) -> set[str]:
        return await self.real.existing_tables() | self._created

    async def read_version(self) -> StoredVersion | None:
        return await self.real.read_version()

    async def read_history(self) -> list[HistoryEntry]:
        return await self.real.read_history()

    async def read_migrations(self) -> list[MigrationRecord]:
        return await self.real.read_migrations()

    async def read_statement_records(self, version: str) -> list[StatementRecord]:
        return await self.real.read_statement_records(version)

    async def object_present(self, obj: SchemaObject) -> bool | None:
        return await self.real.object_present(obj)

    async def existing_definition(self, obj: SchemaObject) -> Definition | None:
        return await self.real.existing_definition(obj)

    async def declared_definition(
        self, statement: Statement, obj: SchemaObject
    ) -> Definition | None:
        return await self.real.declared_definition(statement, obj)

    def bookkeeping_ddl(self, table: str) -> str:
        return self.real.bookkeeping_ddl(table)

    # writes: recorded
    async def _create(self, tables: tuple[str, ...]) -> None:
        existing = await self.existing_tables()
        for table in tables:
            if table not in existing:
                self._note(self.real.bookkeeping_ddl(table))
                self._created.add(table)

    async def create_version_tables(self) -> None:
        await self._create(VERSION_TABLES)

    async def create_migration_tables(self) -> None:
        await self._create(MIGRATION_TABLES)

    async def write_version(self, version: str, min_compatible: str, history: HistoryEntry) -> None:
        self._note(
            f"write schema_version: curr_version {version}, min_compatible_version "
            f"{min_compatible}; {_history(history)}"
        )

    async def write_migration(self, record: MigrationRecord) -> None:
        adapted = (
            f"; adapted for Astra DB ({len(record.adaptation)} statement(s) rewritten)"
            if record.adaptation
            else ""
        )
        self._note(
            f"write schema_migration: v{record.version} {record.kind} {record.state}, "
            f"{record.statement_count} statement(s), sha256 of "
            f"{', '.join(record.file_checksums) or 'no file'}{adapted}"
        )

    async def finish_version(
        self, record: MigrationRecord, min_compatible: str, history: HistoryEntry
    ) -> None:
        unit = "logged batch" if self.backend == "cassandra" else "transaction"
        self._note(
            f"in one {unit}: schema_migration v{record.version} {record.state}; schema_version "
            f"{record.version} (min compatible {min_compatible}); {_history(history)}"
        )

    async def execute(
        self, statement: Statement, record: StatementRecord | None, *, transactional: bool
    ) -> list[str]:
        key = (record.version, record.index) if record is not None else None
        self.actions.append(DryRunAction("statement", statement.text, key))
        if record is not None:
            await self.record_statement(record)
        return []

    async def record_statement(self, record: StatementRecord) -> None:
        key = (record.version, record.index)
        if record.outcome == "skipped":
            self.actions.append(DryRunAction("skipped", "", key))
        self._note(
            f"write schema_migration_statement: v{record.version} statement {record.index + 1} "
            f"({record.file_name}) {record.outcome}"
        )

    async def drop_all_objects(self, keep: Collection[str]) -> list[str]:
        kept = f" except {', '.join(sorted(keep))}" if keep else ""
        self._note(f"drop every table, view and type{kept} (--overwrite)")
        return []

    async def try_lock(self, holder: LockHolder, ttl: float) -> LockHolder | None:
        self._note(f"take the migration lock (schema_migration_lock, lease {ttl:.0f}s, renewed)")
        return None

    async def renew_lock(self, holder: LockHolder, ttl: float) -> bool:
        return True

    async def take_over_lock(self, dead: LockHolder, holder: LockHolder, ttl: float) -> bool:
        return True

    async def release_lock(self, holder: LockHolder) -> None:
        self._note("release the migration lock")
