"""The schema admin for Apache Cassandra and Astra DB (cassandra-driver).

Rules kept here:

* every write at LOCAL_QUORUM and every lightweight transaction at LOCAL_SERIAL (Astra
  rejects ONE/ANY writes; a weaker write could let two runs both believe they hold the lock);
* after every schema change, wait for schema agreement, with a timeout and a clear error, so
  the next statement never reaches a node that has not seen the previous one;
* catalog questions go to ``system_schema``, never to the text of an error;
* on Astra (a secure connect bundle) protocol v4, username ``token``, and no keyspace DDL.

Cassandra has no DDL transactions: a statement and its progress record are two writes. The
runner covers the gap between them with a catalog check on resume.

The lock is a row written with ``INSERT ... IF NOT EXISTS USING TTL``: the TTL is the lease,
renewed with a conditional ``UPDATE ... USING TTL ... IF holder = me``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cassandra import OperationTimedOut, WriteTimeout
from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.hints import MessagePart, SchemaCommand
from persistence_cassandra.schema.admin import (
    HistoryEntry,
    LockHolder,
    MigrationKind,
    MigrationRecord,
    MigrationState,
    StatementOutcome,
    StatementRecord,
    StoredVersion,
    utc_now,
)
from persistence_cassandra.schema.cassandra_connection import (
    CassandraRequests,
    SchemaAgreementTimeout,
    cassandra_health,
    connect_cluster,
    describe_endpoint,
    ensure_profile,
    quote_name,
)
from persistence_cassandra.schema.command_hints import ASTRA_KEYSPACE_MESSAGE
from persistence_cassandra.schema.definitions import (
    Definition,
    declared,
    index_class_name,
    member_definition,
    normalize_type,
)
from persistence_cassandra.schema.effects import SchemaObject
from persistence_cassandra.schema.statements import Statement

__all__ = [
    "ASTRA_KEYSPACE_MESSAGE",
    "CassandraKeyspaceAdmin",
    "CassandraSchemaAdmin",
    "SchemaAgreementTimeout",
    "cassandra_health",
]

LOCK_NAME = "migration"


_VERSION_TABLES_CQL = (
    "CREATE TABLE IF NOT EXISTS {ks}.schema_version (keyspace_name text PRIMARY KEY, "
    "creation_time timestamp, curr_version text, min_compatible_version text)",
    "CREATE TABLE IF NOT EXISTS {ks}.schema_update_history (year int, month int, "
    "update_time timestamp, description text, manifest_md5 text, new_version text, "
    "old_version text, PRIMARY KEY ((year, month), update_time))",
)
_MIGRATION_TABLES_CQL = {
    "schema_migration": "CREATE TABLE IF NOT EXISTS {ks}.schema_migration (keyspace_name text, "
    "version text, kind text, state text, description text, manifest_md5 text, "
    "file_checksums text, statement_count int, started_at timestamp, finished_at timestamp, "
    "run_by text, adaptation text, backup text, PRIMARY KEY ((keyspace_name), version))",
    "schema_migration_statement": "CREATE TABLE IF NOT EXISTS {ks}.schema_migration_statement "
    "(keyspace_name text, version text, statement_index int, file_name text, "
    "statement_checksum text, outcome text, applied_at timestamp, "
    "PRIMARY KEY ((keyspace_name, version), statement_index))",
    "schema_migration_lock": "CREATE TABLE IF NOT EXISTS {ks}.schema_migration_lock "
    "(lock_name text PRIMARY KEY, holder text, host text, pid int, acquired_at timestamp, "
    "renewed_at timestamp)",
}

_UPSERT_VERSION = (
    "INSERT INTO {ks}.schema_version (keyspace_name, creation_time, curr_version, "
    "min_compatible_version) VALUES (%s, %s, %s, %s)"
)
_INSERT_HISTORY = (
    "INSERT INTO {ks}.schema_update_history (year, month, update_time, old_version, new_version, "
    "manifest_md5, description) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_UPSERT_MIGRATION = (
    "INSERT INTO {ks}.schema_migration (keyspace_name, version, kind, state, description, "
    "manifest_md5, file_checksums, statement_count, started_at, finished_at, run_by, adaptation, "
    "backup) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_STATEMENT = (
    "INSERT INTO {ks}.schema_migration_statement (keyspace_name, version, statement_index, "
    "file_name, statement_checksum, outcome, applied_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CassandraSchemaAdmin:
    """A :class:`~persistence_cassandra.schema.admin.SchemaAdmin` over one keyspace."""

    backend = "cassandra"

    def __init__(
        self,
        session: Session,
        keyspace: str,
        *,
        timeout: float = 30.0,
        where: str = "",
        astra: bool = False,
        owns_cluster: bool = False,
    ) -> None:
        """Use a connected ``session``; a session of another component is fine (an execution
        profile of our own carries the consistency settings)."""
        ensure_profile(session, timeout)
        self._driver = CassandraRequests(session, timeout)
        self._keyspace = keyspace
        self._quoted_keyspace = quote_name(keyspace)
        self._where = where or "Cassandra"
        self.astra = astra
        self._owns_cluster = owns_cluster

    @classmethod
    async def connect(
        cls, config: CassandraConfig, *, request_timeout: float = 30.0
    ) -> CassandraSchemaAdmin:
        """Connect and select ``config.keyspace``, which must exist."""
        _cluster, session = await connect_cluster(config, request_timeout)
        admin = cls(
            session,
            config.keyspace,
            timeout=request_timeout,
            where=describe_endpoint(config),
            astra=config.astra is not None,
            owns_cluster=True,
        )
        try:
            rows, _ = await admin._driver.run(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
                (config.keyspace,),
            )
            if not rows:
                create: list[MessagePart] = (
                    [ASTRA_KEYSPACE_MESSAGE.split(":")[1].strip()]
                    if admin.astra
                    else [
                        "run `",
                        SchemaCommand("cassandra", config.keyspace, "create-keyspace"),
                        "`",
                    ]
                )
                raise SchemaToolError(
                    [f"keyspace '{config.keyspace}' does not exist at {admin._where}; ", *create]
                )
            await asyncio.to_thread(session.set_keyspace, config.keyspace)
        except BaseException:
            await admin.close()
            raise
        return admin

    @property
    def scope(self) -> str:
        return self._keyspace

    @property
    def target_description(self) -> str:
        return f"keyspace '{self._keyspace}' at {self._where}"

    async def close(self) -> None:
        if self._owns_cluster:
            await asyncio.to_thread(self._driver.session.cluster.shutdown)

    def _in_keyspace(self, query: str) -> str:
        # Bookkeeping tables are always named with their keyspace: a borrowed session may be
        # bound to no keyspace, or to another one.
        return query.replace("{ks}", self._quoted_keyspace)

    async def _rows(self, query: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        rows, _ = await self._driver.run(self._in_keyspace(query), params)
        return rows

    async def _ddl(self, query: str) -> None:
        query = self._in_keyspace(query)
        _, response = await self._driver.run(query)
        if not response.is_schema_agreed:
            await self._driver.wait_for_agreement(query[:80])

    async def server_description(self) -> str:
        rows = await self._rows("SELECT release_version, data_center FROM system.local")
        row = rows[0] if rows else {}
        return (
            f"Cassandra {row.get('release_version', '?')} (datacenter "
            f"{row.get('data_center', '?')}) at {self._where}"
        )

    # ------------------------------------------------------------------ version tables
    async def existing_tables(self) -> set[str]:
        rows = await self._rows(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (self._keyspace,),
        )
        return {str(row["table_name"]) for row in rows}

    def bookkeeping_ddl(self, table: str) -> str:
        ddl = dict(
            zip(("schema_version", "schema_update_history"), _VERSION_TABLES_CQL, strict=True)
        )
        ddl.update(_MIGRATION_TABLES_CQL)
        return self._in_keyspace(ddl[table])

    async def create_version_tables(self) -> None:
        existing = await self.existing_tables()
        for statement, name in zip(
            _VERSION_TABLES_CQL, ("schema_version", "schema_update_history"), strict=True
        ):
            if name not in existing:
                await self._ddl(statement)

    async def read_version(self) -> StoredVersion | None:
        if "schema_version" not in await self.existing_tables():
            return None
        rows = await self._rows(
            "SELECT keyspace_name, curr_version, min_compatible_version, creation_time "
            "FROM {ks}.schema_version WHERE keyspace_name = %s",
            (self._keyspace,),
        )
        if not rows or rows[0]["curr_version"] is None:
            return None
        row = rows[0]
        created = row["creation_time"]
        return StoredVersion(
            scope=self._keyspace,
            curr_version=str(row["curr_version"]),
            min_compatible_version=row["min_compatible_version"],
            creation_time=None if created is None else _utc(created),
        )

    def _version_writes(
        self, version: str, min_compatible: str, history: HistoryEntry
    ) -> list[tuple[str, tuple[Any, ...]]]:
        time = history.update_time
        return [
            (_UPSERT_VERSION, (self._keyspace, time, version, min_compatible)),
            (
                _INSERT_HISTORY,
                (
                    time.year,
                    time.month,
                    time,
                    history.old_version,
                    history.new_version,
                    history.manifest_md5,
                    history.description,
                ),
            ),
        ]

    async def _logged_batch(self, writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        # One logged batch: the writes land together or, after a coordinator failure, are
        # replayed together from the batchlog; never half of them.
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for query, params in writes:
            batch.add(SimpleStatement(self._in_keyspace(query)), params)
        await self._driver.run(batch)

    async def write_version(self, version: str, min_compatible: str, history: HistoryEntry) -> None:
        await self._logged_batch(self._version_writes(version, min_compatible, history))

    async def read_history(self) -> list[HistoryEntry]:
        rows = await self._rows(
            "SELECT update_time, old_version, new_version, manifest_md5, description "
            "FROM {ks}.schema_update_history"
        )
        entries = [
            HistoryEntry(
                _utc(row["update_time"]),
                str(row["old_version"]),
                str(row["new_version"]),
                row["manifest_md5"] or "",
                row["description"] or "",
            )
            for row in rows
        ]
        return sorted(entries, key=lambda entry: entry.update_time)

    # ------------------------------------------------------------------ our record
    async def create_migration_tables(self) -> None:
        # Checked first: concurrent CREATE TABLE of the same table from several coordinators
        # can leave diverging table ids on Cassandra < 5.1; only the very first run creates.
        existing = await self.existing_tables()
        for name, statement in _MIGRATION_TABLES_CQL.items():
            if name not in existing:
                await self._ddl(statement)
        if "schema_migration" in existing and not await self._has_adaptation_column():
            # Made by a version of the tool from before the Astra adaptation was recorded.
            await self._ddl("ALTER TABLE {ks}.schema_migration ADD adaptation text")
        if "schema_migration" in existing and "backup" not in await self._migration_columns():
            # Made by a version of the tool from before --backup recorded the backup's name.
            await self._ddl("ALTER TABLE {ks}.schema_migration ADD backup text")

    async def _migration_columns(self) -> set[str]:
        rows = await self._rows(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
            "AND table_name = 'schema_migration'",
            (self._keyspace,),
        )
        return {str(row["column_name"]) for row in rows}

    async def _has_adaptation_column(self) -> bool:
        rows = await self._rows(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
            "AND table_name = 'schema_migration' AND column_name = 'adaptation'",
            (self._keyspace,),
        )
        return bool(rows)

    async def read_migrations(self) -> list[MigrationRecord]:
        if "schema_migration" not in await self.existing_tables():
            return []
        adaptation = ", adaptation" if await self._has_adaptation_column() else ""
        backup = ", backup" if "backup" in await self._migration_columns() else ""
        rows = await self._rows(
            "SELECT version, kind, state, description, manifest_md5, file_checksums, "
            f"statement_count, started_at, finished_at, run_by{adaptation}{backup} "
            "FROM {ks}.schema_migration WHERE keyspace_name = %s",
            (self._keyspace,),
        )
        return [
            MigrationRecord(
                version=str(row["version"]),
                kind=cast(MigrationKind, row["kind"]),
                state=cast(MigrationState, row["state"]),
                description=row["description"] or "",
                manifest_md5=row["manifest_md5"] or "",
                file_checksums=json.loads(row["file_checksums"] or "{}"),
                statement_count=int(row["statement_count"] or 0),
                started_at=_utc(row["started_at"]),
                finished_at=None if row["finished_at"] is None else _utc(row["finished_at"]),
                run_by=row["run_by"] or "",
                adaptation=tuple(json.loads(row.get("adaptation") or "[]")),
                backup=row.get("backup"),
            )
            for row in rows
        ]

    def _migration_write(self, record: MigrationRecord) -> tuple[str, tuple[Any, ...]]:
        return (
            _UPSERT_MIGRATION,
            (
                self._keyspace,
                record.version,
                record.kind,
                record.state,
                record.description,
                record.manifest_md5,
                json.dumps(dict(record.file_checksums), sort_keys=True),
                record.statement_count,
                record.started_at,
                record.finished_at,
                record.run_by,
                json.dumps(list(record.adaptation)) if record.adaptation else None,
                record.backup,
            ),
        )

    async def write_migration(self, record: MigrationRecord) -> None:
        query, params = self._migration_write(record)
        await self._rows(query, params)

    async def read_statement_records(self, version: str) -> list[StatementRecord]:
        if "schema_migration_statement" not in await self.existing_tables():
            return []
        rows = await self._rows(
            "SELECT version, statement_index, file_name, statement_checksum, outcome, applied_at "
            "FROM {ks}.schema_migration_statement WHERE keyspace_name = %s AND version = %s",
            (self._keyspace, version),
        )
        return [
            StatementRecord(
                version=str(row["version"]),
                index=int(row["statement_index"]),
                file_name=str(row["file_name"]),
                checksum=str(row["statement_checksum"]),
                outcome=cast(StatementOutcome, row["outcome"]),
                applied_at=_utc(row["applied_at"]),
            )
            for row in sorted(rows, key=lambda row: int(row["statement_index"]))
        ]

    async def finish_version(
        self, record: MigrationRecord, min_compatible: str, history: HistoryEntry
    ) -> None:
        writes = [self._migration_write(record)]
        writes += self._version_writes(record.version, min_compatible, history)
        await self._logged_batch(writes)

    # ------------------------------------------------------------------ statements
    async def execute(
        self, statement: Statement, record: StatementRecord | None, *, transactional: bool
    ) -> list[str]:
        if self._driver.session.keyspace != self._keyspace:
            # Version files name their tables without a keyspace.
            await asyncio.to_thread(self._driver.session.set_keyspace, self._keyspace)
        _, response = await self._driver.run(statement.text)
        warnings = [str(warning) for warning in (response.warnings or [])]
        agreement: SchemaAgreementTimeout | None = None
        if not response.is_schema_agreed:
            try:
                await self._driver.wait_for_agreement(statement.excerpt(60))
            except SchemaAgreementTimeout as exc:
                agreement = exc
        if record is not None:
            # The statement is applied either way: record it before reporting disagreement.
            await self.record_statement(record)
        if agreement is not None:
            raise agreement
        return warnings

    async def record_statement(self, record: StatementRecord) -> None:
        await self._rows(
            _INSERT_STATEMENT,
            (
                self._keyspace,
                record.version,
                record.index,
                record.file_name,
                record.checksum,
                record.outcome,
                record.applied_at,
            ),
        )

    async def object_present(self, obj: SchemaObject) -> bool | None:
        ks = self._keyspace
        if obj.kind == "table":
            rows = await self._rows(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s "
                "AND table_name = %s",
                (ks, obj.name),
            )
        elif obj.kind == "type":
            rows = await self._rows(
                "SELECT type_name FROM system_schema.types WHERE keyspace_name = %s "
                "AND type_name = %s",
                (ks, obj.name),
            )
        elif obj.kind == "view":
            rows = await self._rows(
                "SELECT view_name FROM system_schema.views WHERE keyspace_name = %s "
                "AND view_name = %s",
                (ks, obj.name),
            )
        elif obj.kind == "column":
            rows = await self._rows(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
                "AND table_name = %s AND column_name = %s",
                (ks, obj.parent, obj.name),
            )
        elif obj.kind == "index":
            found = await self._rows(
                "SELECT index_name FROM system_schema.indexes WHERE keyspace_name = %s", (ks,)
            )
            rows = [row for row in found if row["index_name"] == obj.name]
        elif obj.kind == "field":
            found = await self._rows(
                "SELECT field_names FROM system_schema.types WHERE keyspace_name = %s "
                "AND type_name = %s",
                (ks, obj.parent),
            )
            rows = [row for row in found if obj.name in (row["field_names"] or [])]
        elif obj.kind == "trigger":
            found = await self._rows(
                "SELECT trigger_name FROM system_schema.triggers WHERE keyspace_name = %s", (ks,)
            )
            rows = [row for row in found if row["trigger_name"] == obj.name]
        else:
            return None
        return bool(rows)

    async def declared_definition(
        self, statement: Statement, obj: SchemaObject
    ) -> Definition | None:
        return declared(statement, obj)

    async def existing_definition(self, obj: SchemaObject) -> Definition | None:
        if obj.kind in ("table", "column"):
            table = obj.name if obj.kind == "table" else obj.parent
            return member_definition(await self._table_definition(str(table)), obj)
        if obj.kind in ("type", "field"):
            name = obj.name if obj.kind == "type" else obj.parent
            return member_definition(await self._type_definition(str(name)), obj)
        if obj.kind == "index":
            return await self._index_definition(obj.name)
        return None

    async def _table_definition(self, name: str) -> Definition | None:
        rows = await self._rows(
            "SELECT column_name, kind, position, clustering_order, type "
            "FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
            (self._keyspace, name),
        )
        if not rows:
            return None

        def of_kind(kind: str) -> list[dict[str, Any]]:
            chosen = (r for r in rows if r["kind"] == kind)
            return sorted(chosen, key=lambda r: int(r["position"] or 0))

        partition = tuple(str(r["column_name"]) for r in of_kind("partition_key"))
        clustering = tuple(
            f"{r['column_name']} {str(r['clustering_order'] or 'asc').lower()}"
            for r in of_kind("clustering")
        )
        columns = tuple((str(r["column_name"]), normalize_type(str(r["type"]))) for r in rows)
        return Definition("table", name, columns, partition, clustering)

    async def _type_definition(self, name: str) -> Definition | None:
        rows = await self._rows(
            "SELECT field_names, field_types FROM system_schema.types "
            "WHERE keyspace_name = %s AND type_name = %s",
            (self._keyspace, name),
        )
        if not rows:
            return None
        names, kinds = rows[0]["field_names"] or [], rows[0]["field_types"] or []
        fields = tuple((str(n), normalize_type(str(t))) for n, t in zip(names, kinds, strict=False))
        return Definition("type", name, fields)

    async def _index_definition(self, name: str) -> Definition | None:
        rows = await self._rows(
            "SELECT index_name, table_name, kind, options FROM system_schema.indexes "
            "WHERE keyspace_name = %s",
            (self._keyspace,),
        )
        found = next((r for r in rows if r["index_name"] == name), None)
        if found is None:
            return None
        options = dict(found["options"] or {})
        # A legacy secondary index has no class name; SAI and others are CUSTOM with one.
        custom = str(found["kind"]).upper() == "CUSTOM"
        index_class = (
            index_class_name(str(options.get("class_name", ""))) if custom else "legacy_local_table"
        )
        target = f"{found['table_name']}({str(options.get('target', '')).lower()})"
        return Definition("index", name, target=target, index_class=index_class)

    async def drop_all_objects(self, keep: Collection[str]) -> list[str]:
        ks = self._keyspace
        dropped: list[str] = []
        for row in await self._rows(
            "SELECT view_name FROM system_schema.views WHERE keyspace_name = %s", (ks,)
        ):
            await self._ddl(
                f"DROP MATERIALIZED VIEW IF EXISTS {{ks}}.{quote_name(row['view_name'])}"
            )
            dropped.append(f"view {row['view_name']}")
        for name in sorted(await self.existing_tables()):
            if name in keep:
                continue
            await self._ddl(f"DROP TABLE IF EXISTS {{ks}}.{quote_name(name)}")
            dropped.append(f"table {name}")
        # Types may reference each other: drop what nothing references, until none are left.
        remaining = {
            row["type_name"]
            for row in await self._rows(
                "SELECT type_name FROM system_schema.types WHERE keyspace_name = %s", (ks,)
            )
        }
        while remaining:
            progress = False
            for name in sorted(remaining):
                try:
                    await self._ddl(f"DROP TYPE IF EXISTS {{ks}}.{quote_name(name)}")
                except SchemaAgreementTimeout:
                    raise
                except SchemaToolError:
                    continue  # still referenced by another type; retried next round
                remaining.discard(name)
                dropped.append(f"type {name}")
                progress = True
            if not progress:
                raise SchemaToolError(f"cannot drop types {sorted(remaining)} of keyspace {ks}")
        return dropped

    # ------------------------------------------------------------------ lock
    async def try_lock(self, holder: LockHolder, ttl: float) -> LockHolder | None:
        now = utc_now()
        query = (
            "INSERT INTO {ks}.schema_migration_lock (lock_name, holder, host, pid, acquired_at, "
            "renewed_at) VALUES (%s, %s, %s, %s, %s, %s) IF NOT EXISTS USING TTL %s"
        )
        params = (LOCK_NAME, holder.holder_id, holder.host, holder.pid, now, now, max(1, int(ttl)))
        for attempt in range(3):
            try:
                rows = await self._rows(query, params)
                break
            except SchemaToolError as exc:
                # A timed-out LWT may have been applied: ask again; if it was, the row we
                # read back names us and the caller treats the lock as ours.
                if attempt == 2 or not isinstance(exc.__cause__, WriteTimeout | OperationTimedOut):
                    raise
        row = rows[0]
        if row.get("[applied]"):
            return None
        # The lease is the row's TTL: read what is left of it for the waiting message.
        lease = await self._rows(
            "SELECT TTL(holder) AS remaining FROM {ks}.schema_migration_lock WHERE lock_name = %s",
            (LOCK_NAME,),
        )
        remaining = lease[0]["remaining"] if lease else None
        return LockHolder(
            holder_id=str(row.get("holder") or "?"),
            host=str(row.get("host") or "?"),
            pid=int(row.get("pid") or 0),
            acquired_at=_utc(row.get("acquired_at") or now),
            renewed_at=_utc(row.get("renewed_at") or row.get("acquired_at") or now),
            expires_at=None if remaining is None else utc_now() + timedelta(seconds=remaining),
        )

    async def _rewrite_lock(
        self, holder: LockHolder, ttl: float, *, acquired_at: datetime, if_holder: str
    ) -> bool:
        # Every column is rewritten with the new TTL: the row lives while any cell does. The
        # condition on the current holder makes renewals and take-overs exclusive.
        rows = await self._rows(
            "UPDATE {ks}.schema_migration_lock USING TTL %s SET holder = %s, host = %s, pid = %s, "
            "acquired_at = %s, renewed_at = %s WHERE lock_name = %s IF holder = %s",
            (
                max(1, int(ttl)),
                holder.holder_id,
                holder.host,
                holder.pid,
                acquired_at,
                utc_now(),
                LOCK_NAME,
                if_holder,
            ),
        )
        return bool(rows and rows[0].get("[applied]"))

    async def renew_lock(self, holder: LockHolder, ttl: float) -> bool:
        return await self._rewrite_lock(
            holder, ttl, acquired_at=holder.acquired_at, if_holder=holder.holder_id
        )

    async def take_over_lock(self, dead: LockHolder, holder: LockHolder, ttl: float) -> bool:
        # Conditional on the dead holder's id: of several runs taking over at once, one wins.
        return await self._rewrite_lock(
            holder, ttl, acquired_at=utc_now(), if_holder=dead.holder_id
        )

    async def release_lock(self, holder: LockHolder) -> None:
        await self._rows(
            "DELETE FROM {ks}.schema_migration_lock WHERE lock_name = %s IF holder = %s",
            (LOCK_NAME, holder.holder_id),
        )


class CassandraKeyspaceAdmin:
    """``create-keyspace`` / ``drop-keyspace`` (refused on Astra DB)."""

    def __init__(self, cluster: Cluster, session: Session, *, timeout: float, astra: bool) -> None:
        ensure_profile(session, timeout)
        self._cluster = cluster
        self._driver = CassandraRequests(session, timeout)
        self.astra = astra

    @classmethod
    async def connect(
        cls, config: CassandraConfig, *, request_timeout: float = 30.0
    ) -> CassandraKeyspaceAdmin:
        if config.astra is not None:
            raise SchemaToolError(ASTRA_KEYSPACE_MESSAGE)
        cluster, session = await connect_cluster(config, request_timeout)
        return cls(cluster, session, timeout=request_timeout, astra=False)

    async def keyspace_exists(self, name: str) -> bool:
        rows, _ = await self._driver.run(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
        )
        return bool(rows)

    async def _ddl(self, query: str) -> None:
        _, response = await self._driver.run(query)
        if not response.is_schema_agreed:
            await self._driver.wait_for_agreement(query[:80])

    async def create_keyspace(
        self, name: str, *, replication_factor: int = 1, datacenter: str | None = None
    ) -> bool:
        if self.astra:
            raise SchemaToolError(ASTRA_KEYSPACE_MESSAGE)
        if replication_factor < 1:
            raise SchemaToolError("the replication factor must be at least 1")
        if await self.keyspace_exists(name):
            return False
        if datacenter:
            replication = (
                f"{{'class': 'NetworkTopologyStrategy', '{datacenter.replace(chr(39), '')}': "
                f"{replication_factor}}}"
            )
        else:
            replication = (
                f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
            )
        await self._ddl(
            f"CREATE KEYSPACE IF NOT EXISTS {quote_name(name)} WITH replication = {replication}"
        )
        return True

    async def drop_keyspace(self, name: str) -> bool:
        if self.astra:
            raise SchemaToolError(ASTRA_KEYSPACE_MESSAGE)
        if not await self.keyspace_exists(name):
            return False
        await self._ddl(f"DROP KEYSPACE IF EXISTS {quote_name(name)}")
        return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._cluster.shutdown)
