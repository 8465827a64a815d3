"""The schema admin for PostgreSQL (psycopg 3, asyncio).

PostgreSQL has transactional DDL, so each migration statement and its progress record commit
in one transaction (statements PostgreSQL refuses inside a transaction, ``... CONCURRENTLY``,
run alone and are resumed through the catalog). The migration lock is a session-level advisory
lock: the database releases it when the holder's connection ends, so a crashed run never
blocks the next one. Who holds it is written to ``schema_migration_lock`` for the message a
waiting run prints.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql

from persistence_cassandra.config import SqlConfig
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
    added_type_text,
    member_definition,
)
from persistence_cassandra.schema.effects import SchemaObject
from persistence_cassandra.schema.statements import Statement

__all__ = ["PostgresKeyspaceAdmin", "PostgresSchemaAdmin", "postgres_conninfo"]

_TYPES = sql.SqlTypes(name="VARCHAR(255)", short="VARCHAR(64)", text="TEXT", timestamp="TIMESTAMP")
# Two-int advisory lock keys: (class, object). Class 0x5343 ("SC") names this tool; the object
# is derived from the database name. Creating the bookkeeping tables uses the next class.
_LOCK_CLASS = 0x5343
_DDL_LOCK_CLASS = 0x5344

_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() "
    "AND locktype = 'advisory' AND granted AND classid = %s::oid AND objid = %s::oid "
    "AND objsubid = 2)"
)
_HOLDER_SESSION = (
    "SELECT a.pid, coalesce(a.client_hostname, host(a.client_addr), 'local'), a.backend_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
    "AND l.granted AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 2"
)


def pgsql_ident(name: str) -> str:
    """A double-quoted identifier (the name exactly as the catalog holds it)."""
    return '"' + name.replace('"', '""') + '"'


def _q(query: str) -> str:
    return query.replace("?", "%s")


def _stamp(value: datetime) -> datetime:
    return value.replace(tzinfo=None)  # TIMESTAMP columns hold UTC without a zone


def _error(exc: psycopg.Error) -> SchemaToolError:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return SchemaToolError(f"PostgreSQL: {primary or str(exc).strip()}")


def postgres_conninfo(
    config: SqlConfig, *, database: str | None = None, timeout: float = 10
) -> str:
    """A libpq connection string for ``config`` (``connectAddr`` is ``host:port``)."""
    host, _, port = (config.connect_addr or "127.0.0.1:5432").rpartition(":")
    if not host:
        host, port = port, "5432"
    params: dict[str, Any] = {
        "host": host,
        "port": port or "5432",
        "dbname": database or config.database_name,
        "connect_timeout": max(1, int(timeout)),
        "application_name": "persistence-cassandra schema",
    }
    if config.user:
        params["user"] = config.user
    if config.password is not None:
        params["password"] = config.password.get_secret_value()
    tls = config.tls
    if tls.enabled:
        params["sslmode"] = "verify-full" if tls.enable_host_verification else "require"
        if tls.ca_file:
            params["sslrootcert"] = tls.ca_file
            if not tls.enable_host_verification:
                params["sslmode"] = "verify-ca"
        if tls.cert_file:
            params["sslcert"] = tls.cert_file
        if tls.key_file:
            params["sslkey"] = tls.key_file
    params.update(config.connect_attributes)
    return psycopg.conninfo.make_conninfo(**params)


async def _connect(conninfo: str, where: str) -> psycopg.AsyncConnection[Any]:
    try:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SchemaToolError(f"cannot connect to PostgreSQL {where}: {message}") from None


class PostgresSchemaAdmin:
    """A :class:`~persistence_cassandra.schema.admin.SchemaAdmin` over one PostgreSQL database
    (its tables live in the connection's current schema, normally ``public``)."""

    backend = "postgres"
    astra = False

    def __init__(
        self, connection: psycopg.AsyncConnection[Any], *, db_name: str, where: str
    ) -> None:
        """``connection`` must be in autocommit mode and not used concurrently by others while
        the admin works; the caller keeps ownership (:meth:`close` leaves it open)."""
        self._conn = connection
        self._owns_connection = False
        self._db = db_name
        self._where = where
        object_key = zlib.crc32(db_name.encode("utf-8")) & 0x7FFFFFFF
        self._lock_key = (_LOCK_CLASS, object_key)
        self._ddl_lock_key = (_DDL_LOCK_CLASS, object_key)

    @classmethod
    async def connect(
        cls, config: SqlConfig, *, request_timeout: float = 10
    ) -> PostgresSchemaAdmin:
        where = f"{config.connect_addr or '127.0.0.1:5432'}/{config.database_name}"
        conn = await _connect(postgres_conninfo(config, timeout=request_timeout), where)
        admin = cls(conn, db_name=config.database_name, where=where)
        admin._owns_connection = True
        return admin

    @property
    def scope(self) -> str:
        return self._db

    @property
    def target_description(self) -> str:
        return f"PostgreSQL database {self._where}"

    async def close(self) -> None:
        if self._owns_connection:
            await self._conn.close()

    async def _fetchall(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = await self._conn.execute(_q(query), params)
            return await cursor.fetchall()
        except psycopg.Error as exc:
            raise _error(exc) from exc

    async def _transaction(self, writes: list[tuple[str, tuple[Any, ...] | None]]) -> None:
        try:
            async with self._conn.transaction():
                for query, params in writes:
                    await self._conn.execute(query if params is None else _q(query), params)
        except psycopg.Error as exc:
            raise _error(exc) from exc

    async def server_description(self) -> str:
        rows = await self._fetchall("SELECT version()")
        return f"{str(rows[0][0]).split(' on ')[0]} ({self._where})"

    # ------------------------------------------------------------------ version tables
    async def existing_tables(self) -> set[str]:
        rows = await self._fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {str(row[0]) for row in rows}

    async def _create_tables(self, ddl: tuple[str, ...]) -> None:
        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog; serialize.
        writes: list[tuple[str, tuple[Any, ...] | None]] = [
            ("SELECT pg_advisory_xact_lock(?, ?)", self._ddl_lock_key)
        ]
        writes += [(statement, None) for statement in ddl]
        await self._transaction(writes)

    def bookkeeping_ddl(self, table: str) -> str:
        return sql.bookkeeping_ddl(_TYPES, table)

    async def create_version_tables(self) -> None:
        await self._create_tables(sql.version_tables_ddl(_TYPES))

    async def read_version(self) -> StoredVersion | None:
        if "schema_version" not in await self.existing_tables():
            return None
        rows = await self._fetchall(sql.SELECT_VERSION, (self._db,))
        return sql.stored_version_from_row(rows[0]) if rows and rows[0][1] is not None else None

    def _version_writes(
        self, version: str, min_compatible: str, history: HistoryEntry
    ) -> list[tuple[str, tuple[Any, ...] | None]]:
        stamp = _stamp(history.update_time)
        return [
            (sql.UPSERT_VERSION, (self._db, stamp, version, min_compatible)),
            (sql.INSERT_HISTORY, sql.history_row(history, stamp)),
        ]

    async def write_version(self, version: str, min_compatible: str, history: HistoryEntry) -> None:
        await self._transaction(self._version_writes(version, min_compatible, history))

    async def read_history(self) -> list[HistoryEntry]:
        return [sql.history_from_row(row) for row in await self._fetchall(sql.SELECT_HISTORY)]

    # ------------------------------------------------------------------ our record
    async def create_migration_tables(self) -> None:
        await self._create_tables(sql.migration_tables_ddl(_TYPES))

    async def read_migrations(self) -> list[MigrationRecord]:
        if "schema_migration" not in await self.existing_tables():
            return []
        rows = await self._fetchall(sql.SELECT_MIGRATIONS, (self._db,))
        return [sql.record_from_row(row) for row in rows]

    async def write_migration(self, record: MigrationRecord) -> None:
        await self._transaction(
            [(sql.UPSERT_MIGRATION, sql.migration_row(self._db, record, _stamp))]
        )

    async def read_statement_records(self, version: str) -> list[StatementRecord]:
        if "schema_migration_statement" not in await self.existing_tables():
            return []
        rows = await self._fetchall(sql.SELECT_STATEMENTS, (self._db, version))
        return [sql.statement_from_row(row) for row in rows]

    async def finish_version(
        self, record: MigrationRecord, min_compatible: str, history: HistoryEntry
    ) -> None:
        writes: list[tuple[str, tuple[Any, ...] | None]] = [
            (sql.UPSERT_MIGRATION, sql.migration_row(self._db, record, _stamp))
        ]
        writes += self._version_writes(record.version, min_compatible, history)
        await self._transaction(writes)

    # ------------------------------------------------------------------ statements
    def _record_write(self, record: StatementRecord) -> tuple[str, tuple[Any, ...] | None]:
        return (
            sql.INSERT_STATEMENT,
            sql.statement_row(self._db, record, _stamp(record.applied_at)),
        )

    async def execute(
        self, statement: Statement, record: StatementRecord | None, *, transactional: bool
    ) -> list[str]:
        # No parameters: psycopg then leaves '%' and '?' in the statement alone.
        writes: list[tuple[str, tuple[Any, ...] | None]] = [(statement.text, None)]
        if record is not None:
            writes.append(self._record_write(record))
        if transactional:
            await self._transaction(writes)
            return []
        for query, params in writes:
            try:
                await self._conn.execute(query if params is None else _q(query), params)
            except psycopg.Error as exc:
                raise _error(exc) from exc
        return []

    async def record_statement(self, record: StatementRecord) -> None:
        await self._transaction([self._record_write(record)])

    async def object_present(self, obj: SchemaObject) -> bool | None:
        schema = "current_schema()"
        queries: dict[str, tuple[str, tuple[Any, ...]]] = {
            "table": (
                f"SELECT 1 FROM information_schema.tables WHERE table_schema = {schema} "
                "AND table_name = ? AND table_type = 'BASE TABLE'",
                (obj.name,),
            ),
            "view": (
                f"SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname = {schema} AND c.relname = ? AND c.relkind IN ('v', 'm')",
                (obj.name,),
            ),
            "index": (
                f"SELECT 1 FROM pg_indexes WHERE schemaname = {schema} AND indexname = ?",
                (obj.name,),
            ),
            "sequence": (
                f"SELECT 1 FROM information_schema.sequences WHERE sequence_schema = {schema} "
                "AND sequence_name = ?",
                (obj.name,),
            ),
            "trigger": (
                f"SELECT 1 FROM information_schema.triggers WHERE trigger_schema = {schema} "
                "AND trigger_name = ?",
                (obj.name,),
            ),
            "type": (
                f"SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                f"WHERE n.nspname = {schema} AND t.typname = ?",
                (obj.name,),
            ),
            "column": (
                f"SELECT 1 FROM information_schema.columns WHERE table_schema = {schema} "
                "AND table_name = ? AND column_name = ?",
                (obj.parent, obj.name),
            ),
            "field": (
                f"SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                f"JOIN pg_attribute a ON a.attrelid = t.typrelid WHERE n.nspname = {schema} "
                "AND t.typname = ? AND a.attname = ?",
                (obj.parent, obj.name),
            ),
        }
        query, params = queries[obj.kind]
        return bool(await self._fetchall(query, params))

    async def drop_all_objects(self, keep: Collection[str]) -> list[str]:
        relations = await self._fetchall(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
        )
        types = await self._fetchall(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'c', 'd') "
            "AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) "
            "= 'c')"
        )
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        order = {"v": 0, "m": 1, "r": 2, "p": 2, "S": 3}
        writes: list[tuple[str, tuple[Any, ...] | None]] = []
        dropped: list[str] = []
        for name, kind in sorted(relations, key=lambda row: order[str(row[1])]):
            if kinds[kind] == "TABLE" and name in keep:
                continue
            statement = pgsql.SQL("DROP {} IF EXISTS {} CASCADE").format(
                pgsql.SQL(kinds[kind]), pgsql.Identifier(name)
            )
            writes.append((statement.as_string(self._conn), None))
            dropped.append(f"{kinds[kind].lower()} {name}")
        for (name,) in types:
            statement = pgsql.SQL("DROP TYPE IF EXISTS {} CASCADE").format(pgsql.Identifier(name))
            writes.append((statement.as_string(self._conn), None))
            dropped.append(f"type {name}")
        await self._transaction(writes)
        return dropped

    # ------------------------------------------------------------------ lock
    async def try_lock(self, holder: LockHolder, ttl: float) -> LockHolder | None:
        rows = await self._fetchall("SELECT pg_try_advisory_lock(?, ?)", self._lock_key)
        if rows[0][0]:
            now = utc_now()
            row = (
                sql.lock_name(self._db),
                holder.holder_id,
                holder.host,
                holder.pid,
                _stamp(now),
                _stamp(now),
                None,
            )
            await self._transaction([(sql.UPSERT_LOCK, row)])
            return None
        found = await self._fetchall(sql.SELECT_LOCK, (sql.lock_name(self._db),))
        if found:
            return sql.lock_holder_from_row(found[0])
        # The holder has not written its row yet (or it was removed): name its session.
        sessions = await self._fetchall(_HOLDER_SESSION, self._lock_key)
        if sessions:
            pid, host, started = sessions[0]
            since = sql.to_datetime(started)
            return LockHolder(f"backend {pid}", str(host), int(pid), since, since)
        now = utc_now()
        return LockHolder("unknown", "unknown", 0, now, now)

    async def renew_lock(self, holder: LockHolder, ttl: float) -> bool:
        rows = await self._fetchall(_HELD, self._lock_key)
        if not rows[0][0]:
            return False
        now = _stamp(utc_now())
        params = (now, None, sql.lock_name(self._db), holder.holder_id)
        await self._transaction([(sql.RENEW_LOCK, params)])
        return True

    async def _columns(self, schema: str | None, table: str) -> list[tuple[Any, ...]]:
        return await self._fetchall(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = coalesce(%s, current_schema()) AND c.relname = %s "
            "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (schema, table),
        )

    def _definition(
        self, obj: SchemaObject, table: str, rows: list[tuple[Any, ...]]
    ) -> Definition | None:
        columns = tuple((str(name), str(kind)) for name, kind in rows)
        return member_definition(Definition("table", table, columns) if columns else None, obj)

    async def existing_definition(self, obj: SchemaObject) -> Definition | None:
        table = obj.name if obj.kind == "table" else obj.parent
        if obj.kind not in ("table", "column") or table is None:
            return None
        return self._definition(obj, table, await self._columns(None, table))

    async def declared_definition(
        self, statement: Statement, obj: SchemaObject
    ) -> Definition | None:
        # PostgreSQL spells types its own way (int -> integer, varchar(64) -> character
        # varying(64)): let it say. The statement (or, for a column, a one-column table of
        # its type) is created in a scratch schema first on the search path, read from the
        # catalog, and rolled back; anything it cannot do means "cannot tell".
        if obj.kind == "table":
            names = [t for t in statement.tokens[:8] if t.kind == "punct" and t.text == "."]
            if names:
                return None  # a schema-qualified name would leave the scratch schema
            probe, probe_table = statement.text, obj.name
        elif obj.kind == "column":
            kind = added_type_text(statement, obj.name)
            if kind is None:
                return None
            probe_table = "pc_probe_column"
            probe = f"CREATE TABLE {probe_table} ({pgsql_ident(obj.name)} {kind})"
        else:
            return None
        scratch = f"pc_probe_{uuid.uuid4().hex[:12]}"
        try:
            async with self._conn.transaction(force_rollback=True):
                await self._conn.execute(f"CREATE SCHEMA {scratch}")
                await self._conn.execute(
                    f"SELECT set_config('search_path', '{scratch}, ' || current_schema(), true)"
                )
                await self._conn.execute(probe)
                rows = await self._columns(scratch, probe_table)
        except (psycopg.Error, SchemaToolError):
            return None
        return self._definition(obj, probe_table, rows)

    async def take_over_lock(self, dead: LockHolder, holder: LockHolder, ttl: float) -> bool:
        # The advisory lock belongs to the dead process's session, which the server ends;
        # until it does, nobody can take the lock over.
        return await self.try_lock(holder, ttl) is None

    async def release_lock(self, holder: LockHolder) -> None:
        await self._transaction([(sql.DELETE_LOCK, (sql.lock_name(self._db), holder.holder_id))])
        await self._fetchall("SELECT pg_advisory_unlock(?, ?)", self._lock_key)


class PostgresKeyspaceAdmin:
    """``create-keyspace`` / ``drop-keyspace`` for PostgreSQL: CREATE / DROP DATABASE, issued
    from the ``postgres`` maintenance database."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._conn = connection

    @classmethod
    async def connect(
        cls, config: SqlConfig, *, request_timeout: float = 10
    ) -> PostgresKeyspaceAdmin:
        where = f"{config.connect_addr or '127.0.0.1:5432'}/postgres"
        conninfo = postgres_conninfo(config, database="postgres", timeout=request_timeout)
        return cls(await _connect(conninfo, where))

    async def _fetchall(
        self, query: str | pgsql.Composed, params: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        try:
            cursor = await self._conn.execute(query, params or None)
            return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise _error(exc) from exc

    async def keyspace_exists(self, name: str) -> bool:
        return bool(await self._fetchall("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))

    async def create_keyspace(
        self, name: str, *, replication_factor: int = 1, datacenter: str | None = None
    ) -> bool:
        if await self.keyspace_exists(name):
            return False
        await self._fetchall(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        return True

    async def drop_keyspace(self, name: str) -> bool:
        if not await self.keyspace_exists(name):
            return False
        await self._fetchall(pgsql.SQL("DROP DATABASE {}").format(pgsql.Identifier(name)))
        return True

    async def close(self) -> None:
        await self._conn.close()
