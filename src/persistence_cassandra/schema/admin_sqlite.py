"""The schema admin for SQLite (stdlib ``sqlite3``), one file per database.

SQLite has transactional DDL, so each migration statement and its progress record commit in
one transaction: after a crash a statement is either applied *and* recorded, or neither.
``BEGIN IMMEDIATE`` takes the database's write lock up front, which also makes the lock row
of ``schema_migration_lock`` a correct lease: reading the row and taking it over when it has
expired happen under that lock. All calls run on one dedicated thread, since a sqlite3
connection must not be used from two threads at once.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema import sql_bookkeeping as sql
from persistence_cassandra.schema.admin import (
    HistoryEntry,
    LockHolder,
    MigrationRecord,
    StatementRecord,
    StoredVersion,
    utc_now,
)
from persistence_cassandra.schema.definitions import (
    Definition,
    declared,
    member_definition,
    normalize_type,
)
from persistence_cassandra.schema.effects import SchemaObject
from persistence_cassandra.schema.statements import Statement

__all__ = ["SQLITE_DB_NAME", "SqliteKeyspaceAdmin", "SqliteSchemaAdmin"]

T = TypeVar("T")

SQLITE_DB_NAME = "main"
"""``db_name`` of the version rows: a SQLite file holds one database, whatever its path."""

_TYPES = sql.SqlTypes(name="TEXT", short="TEXT", text="TEXT", timestamp="TEXT")
_BUSY_TIMEOUT_SECONDS = 30.0


def _stamp(value: datetime) -> str:
    return value.isoformat()


def _error(exc: sqlite3.Error) -> SchemaToolError:
    return SchemaToolError(f"SQLite: {exc}")


class SqliteSchemaAdmin:
    """A :class:`~persistence_cassandra.schema.admin.SchemaAdmin` over one SQLite file."""

    backend = "sqlite"
    astra = False

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        path: str,
        executor: Executor | None = None,
    ) -> None:
        """Use ``connection`` (autocommit mode, ``isolation_level=None``); every call runs on
        ``executor``, which must be single-threaded (default: a private thread). The caller
        keeps ownership of ``connection``: :meth:`close` leaves it open."""
        self._conn = connection
        self._path = path
        self._owns_connection = False
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="sqlite-schema")

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = False) -> SqliteSchemaAdmin:
        """Open the database file at ``path``; a missing file is an error unless ``create``."""
        location = str(path)
        exists = location == ":memory:" or await asyncio.to_thread(Path(location).is_file)
        if not create and not exists:
            raise SchemaToolError(
                f"SQLite database {location} does not exist (setup-schema or create-keyspace "
                "creates it)"
            )
        executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-schema")

        def connect() -> sqlite3.Connection:
            if location != ":memory:":
                Path(location).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                location,
                timeout=_BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            return conn

        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect)
        except sqlite3.Error as exc:
            executor.shutdown(wait=False)
            raise SchemaToolError(f"cannot open SQLite database {location}: {exc}") from None
        admin = cls(conn, path=location, executor=executor)
        admin._owns_executor = admin._owns_connection = True
        return admin

    @property
    def scope(self) -> str:
        return self._path

    @property
    def target_description(self) -> str:
        return f"SQLite database {self._path}"

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(work, self._conn, *args)
            )
        except sqlite3.Error as exc:
            raise _error(exc) from exc

    async def close(self) -> None:
        if self._owns_connection:
            await self._run(lambda conn: conn.close())
        if self._owns_executor:
            self._executor.shutdown(wait=False)

    async def server_description(self) -> str:
        version = await self._run(lambda conn: conn.execute("SELECT sqlite_version()").fetchone())
        return f"SQLite {version[0]} ({self._path})"

    # ------------------------------------------------------------------ version tables
    async def existing_tables(self) -> set[str]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    def bookkeeping_ddl(self, table: str) -> str:
        return sql.bookkeeping_ddl(_TYPES, table)

    async def create_version_tables(self) -> None:
        await self._run(_in_transaction, list(sql.version_tables_ddl(_TYPES)))

    async def read_version(self) -> StoredVersion | None:
        if "schema_version" not in await self.existing_tables():
            return None
        row = await self._run(
            lambda conn: conn.execute(sql.SELECT_VERSION, (SQLITE_DB_NAME,)).fetchone()
        )
        return None if row is None or row[1] is None else sql.stored_version_from_row(row)

    def _version_writes(
        self, version: str, min_compatible: str, history: HistoryEntry
    ) -> list[tuple[str, tuple[Any, ...]]]:
        stamp = _stamp(history.update_time)
        return [
            (sql.UPSERT_VERSION, (SQLITE_DB_NAME, stamp, version, min_compatible)),
            (sql.INSERT_HISTORY, sql.history_row(history, stamp)),
        ]

    async def write_version(self, version: str, min_compatible: str, history: HistoryEntry) -> None:
        await self._run(_in_transaction, self._version_writes(version, min_compatible, history))

    async def read_history(self) -> list[HistoryEntry]:
        rows = await self._run(lambda conn: conn.execute(sql.SELECT_HISTORY).fetchall())
        return [sql.history_from_row(row) for row in rows]

    # ------------------------------------------------------------------ our record
    async def create_migration_tables(self) -> None:
        await self._run(_in_transaction, list(sql.migration_tables_ddl(_TYPES)))

    async def read_migrations(self) -> list[MigrationRecord]:
        if "schema_migration" not in await self.existing_tables():
            return []
        rows = await self._run(
            lambda conn: conn.execute(sql.SELECT_MIGRATIONS, (SQLITE_DB_NAME,)).fetchall()
        )
        return [sql.record_from_row(row) for row in rows]

    async def write_migration(self, record: MigrationRecord) -> None:
        row = sql.migration_row(SQLITE_DB_NAME, record, _stamp)
        await self._run(_in_transaction, [(sql.UPSERT_MIGRATION, row)])

    async def read_statement_records(self, version: str) -> list[StatementRecord]:
        if "schema_migration_statement" not in await self.existing_tables():
            return []
        rows = await self._run(
            lambda conn: conn.execute(sql.SELECT_STATEMENTS, (SQLITE_DB_NAME, version)).fetchall()
        )
        return [sql.statement_from_row(row) for row in rows]

    async def finish_version(
        self, record: MigrationRecord, min_compatible: str, history: HistoryEntry
    ) -> None:
        writes = [(sql.UPSERT_MIGRATION, sql.migration_row(SQLITE_DB_NAME, record, _stamp))]
        writes += self._version_writes(record.version, min_compatible, history)
        await self._run(_in_transaction, writes)

    # ------------------------------------------------------------------ statements
    def _record_write(self, record: StatementRecord) -> tuple[str, tuple[Any, ...]]:
        return (
            sql.INSERT_STATEMENT,
            sql.statement_row(SQLITE_DB_NAME, record, _stamp(record.applied_at)),
        )

    async def execute(
        self, statement: Statement, record: StatementRecord | None, *, transactional: bool
    ) -> list[str]:
        writes: list[tuple[str, tuple[Any, ...]]] = [(statement.text, ())]
        if record is not None:
            writes.append(self._record_write(record))
        if transactional:
            await self._run(_in_transaction, writes)
        else:
            for write in writes:
                await self._run(_in_transaction, [write])
        return []

    async def record_statement(self, record: StatementRecord) -> None:
        await self._run(_in_transaction, [self._record_write(record)])

    async def object_present(self, obj: SchemaObject) -> bool | None:
        if obj.kind in ("table", "index", "view", "trigger"):
            query = "SELECT 1 FROM sqlite_master WHERE type = ? AND lower(name) = lower(?)"
            params: tuple[Any, ...] = (obj.kind, obj.name)
        elif obj.kind == "column" and obj.parent is not None:
            query = "SELECT 1 FROM pragma_table_info(?) WHERE lower(name) = lower(?)"
            params = (obj.parent, obj.name)
        else:
            return None  # SQLite has no types or sequences
        row = await self._run(lambda conn: conn.execute(query, params).fetchone())
        return row is not None

    async def declared_definition(
        self, statement: Statement, obj: SchemaObject
    ) -> Definition | None:
        return declared(statement, obj, sql=True)

    async def existing_definition(self, obj: SchemaObject) -> Definition | None:
        table = obj.name if obj.kind == "table" else obj.parent
        if obj.kind not in ("table", "column") or table is None:
            return None
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT name, type FROM pragma_table_info(?)", (table,)
            ).fetchall()
        )
        columns = tuple((str(name).lower(), normalize_type(str(kind))) for name, kind in rows)
        whole = Definition("table", table, columns) if columns else None
        return member_definition(whole, obj)

    async def drop_all_objects(self, keep: Collection[str]) -> list[str]:
        return await self._run(_drop_all, set(keep))

    # ------------------------------------------------------------------ lock
    async def try_lock(self, holder: LockHolder, ttl: float) -> LockHolder | None:
        return await self._run(_try_lock, lock_name_for(), holder, ttl)

    async def renew_lock(self, holder: LockHolder, ttl: float) -> bool:
        now = utc_now()
        params = (
            _stamp(now),
            _stamp(now + timedelta(seconds=ttl)),
            lock_name_for(),
            holder.holder_id,
        )
        changed = await self._run(_write_count, sql.RENEW_LOCK, params)
        return changed == 1

    async def take_over_lock(self, dead: LockHolder, holder: LockHolder, ttl: float) -> bool:
        params = (*_lock_values(holder, ttl), lock_name_for(), dead.holder_id)
        return await self._run(_write_count, sql.TAKE_OVER_LOCK, params) == 1

    async def release_lock(self, holder: LockHolder) -> None:
        await self._run(_write_count, sql.DELETE_LOCK, (lock_name_for(), holder.holder_id))


def _lock_values(holder: LockHolder, ttl: float, now: datetime | None = None) -> tuple[Any, ...]:
    """holder, host, pid, acquired, renewed and expiry of a lease taken ``now``."""
    now = now or utc_now()
    expires = now + timedelta(seconds=ttl)
    return (holder.holder_id, holder.host, holder.pid, _stamp(now), _stamp(now), _stamp(expires))


def lock_name_for() -> str:
    return sql.lock_name(SQLITE_DB_NAME)


def _in_transaction(conn: sqlite3.Connection, writes: list[Any]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for write in writes:
            if isinstance(write, str):
                conn.execute(write)
            else:
                conn.execute(write[0], write[1])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _write_count(conn: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = conn.execute(query, params).rowcount
        conn.execute("COMMIT")
        return count
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _try_lock(
    conn: sqlite3.Connection, name: str, holder: LockHolder, ttl: float
) -> LockHolder | None:
    now = utc_now()
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(sql.SELECT_LOCK, (name,)).fetchone()
        if row is not None and row[0] != holder.holder_id and sql.to_datetime(row[5]) > now:
            conn.execute("ROLLBACK")
            return sql.lock_holder_from_row(row)
        conn.execute(sql.UPSERT_LOCK, (name, *_lock_values(holder, ttl, now)))
        conn.execute("COMMIT")
        return None
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _drop_all(conn: sqlite3.Connection, keep: set[str]) -> list[str]:
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger', 'table') "
        "AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    order = {"trigger": 0, "view": 1, "table": 2}
    dropped: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, name in sorted(rows, key=lambda row: order[row[0]]):
            if kind == "table" and name in keep:
                continue
            quoted = '"' + str(name).replace('"', '""') + '"'
            conn.execute(f"DROP {kind.upper()} IF EXISTS {quoted}")
            dropped.append(f"{kind} {name}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return dropped


def _delete_database_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class SqliteKeyspaceAdmin:
    """``create-keyspace`` / ``drop-keyspace`` for SQLite: create or delete the file."""

    async def keyspace_exists(self, name: str) -> bool:
        return await asyncio.to_thread(Path(name).is_file)

    async def create_keyspace(
        self, name: str, *, replication_factor: int = 1, datacenter: str | None = None
    ) -> bool:
        if await self.keyspace_exists(name):
            return False
        admin = await SqliteSchemaAdmin.open(name, create=True)
        await admin.close()
        return True

    async def drop_keyspace(self, name: str) -> bool:
        if not await self.keyspace_exists(name):
            return False
        await asyncio.to_thread(_delete_database_files, Path(name))
        return True

    async def close(self) -> None:
        return None
