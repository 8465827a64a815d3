"""What the schema tool's tests share: a target keyspace / database with raw (non-engine)
access to it, and the fixture schema sets."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.servers import cassandra_endpoint
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.schema import SchemaAdmin, open_schema_admin

FIXTURES = Path(__file__).parent / "fixtures"
TEMPORAL_STYLE = FIXTURES / "temporal_style"
DIALECT_DIRS = {"sqlite": "sqlite", "postgres": "postgresql", "cassandra": "cassandra"}
BOOKKEEPING = (
    "schema_version",
    "schema_update_history",
    "schema_migration",
    "schema_migration_statement",
)


@dataclass
class SchemaTarget:
    """A fresh keyspace (Cassandra) or database (SQL), its config, and raw access to it."""

    backend: str
    datastore: DatastoreConfig
    cli_args: list[str]
    raw: Any
    """sqlite3 connection, psycopg connection, or cassandra-driver session."""
    admins: list[SchemaAdmin] = field(default_factory=list)

    @property
    def scope(self) -> str:
        if self.datastore.cassandra is not None:
            return self.datastore.cassandra.keyspace
        assert self.datastore.sql is not None
        return self.datastore.sql.database_name

    def fixture_set(self, tmp_path: Path | None = None) -> Path:
        """The Temporal-style versioned directory for this dialect (a private copy when
        ``tmp_path`` is given, for tests that edit files)."""
        source = TEMPORAL_STYLE / DIALECT_DIRS[self.backend] / "versioned"
        if tmp_path is None:
            return source
        copy = tmp_path / "versioned"
        shutil.copytree(source, copy)
        return copy

    async def admin(self) -> SchemaAdmin:
        admin = await open_schema_admin(self.datastore, request_timeout=30, create=True)
        self.admins.append(admin)
        return admin

    async def query(self, text: str) -> list[tuple[Any, ...]]:
        """Rows of ``text``, read with the raw driver (never through the engine)."""
        if self.backend == "sqlite":
            return await asyncio.to_thread(lambda: list(self.raw.execute(text).fetchall()))
        if self.backend == "postgres":
            cursor = await self.raw.execute(text)
            return list(await cursor.fetchall()) if cursor.description else []
        rows = await asyncio.to_thread(self._in_keyspace, text)
        return [tuple(row) for row in rows]

    def _in_keyspace(self, text: str) -> Any:
        # The Cassandra session is shared by all tests: point it at this test's keyspace.
        self.raw.set_keyspace(self.scope)
        return self.raw.execute(text)

    async def execute(self, text: str) -> None:
        """Run ``text`` directly, as an operator at a database shell would."""
        if self.backend == "sqlite":
            await asyncio.to_thread(self.raw.execute, text)
        elif self.backend == "postgres":
            await self.raw.execute(text)
        else:
            await asyncio.to_thread(self._in_keyspace, text)

    async def tables(self) -> set[str]:
        if self.backend == "sqlite":
            rows = await self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        elif self.backend == "postgres":
            rows = await self.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        else:
            rows = await self.query(
                f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{self.scope}'"
            )
        return {str(row[0]) for row in rows}

    async def audit(self) -> list[str]:
        """The versions recorded in the fixture's ``schema_audit`` table, sorted."""
        if "schema_audit" not in await self.tables():
            return []
        return sorted(str(row[0]) for row in await self.query("SELECT version FROM schema_audit"))

    async def snapshot(self) -> dict[str, list[str]]:
        """The catalog and every bookkeeping row: equal snapshots mean nothing changed."""
        if self.backend == "sqlite":
            catalog = await self.query("SELECT type, name, sql FROM sqlite_master")
        elif self.backend == "postgres":
            catalog = await self.query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
            catalog += await self.query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            )
        else:
            ks = self.scope
            catalog = await self.query(
                "SELECT table_name, column_name, type FROM system_schema.columns "
                f"WHERE keyspace_name = '{ks}'"
            )
            where = f"WHERE keyspace_name = '{ks}'"
            catalog += await self.query(
                f"SELECT type_name, field_names FROM system_schema.types {where}"
            )
            catalog += await self.query(
                f"SELECT table_name, index_name FROM system_schema.indexes {where}"
            )
        result = {"catalog": sorted(repr(tuple(row)) for row in catalog)}
        existing = await self.tables()
        for table in (*BOOKKEEPING, "schema_audit"):
            if table in existing:
                rows = await self.query(f"SELECT * FROM {table}")
                result[table] = sorted(repr(tuple(row)) for row in rows)
        return result


def cassandra_settings() -> tuple[str, int]:
    """Host and port of the test Cassandra node (found or started once per process)."""
    host, _, port = cassandra_endpoint().split(",")[0].partition(":")
    return host, int(port or 9042)


TEMPORAL_ASTRA = FIXTURES / "temporal_astra" / "versioned"
"""A Temporal-format directory written for Apache Cassandra: plain ``CREATE INDEX`` and
table options that Astra DB ignores, over several versions and multi-statement files."""

CLI_CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "CASSANDRA_HOST",
        "CASSANDRA_PORT",
        "CASSANDRA_KEYSPACE",
        "CASSANDRA_USER",
        "CASSANDRA_PASSWORD",
        "SQL_PLUGIN",
        "SQL_DATABASE",
        "ASTRA_TOKEN",
        "ASTRA_SECURE_CONNECT_BUNDLE",
        "PC_CONFIG",
    )
}


async def run_cli(*args: str, env: dict[str, str | None] | None = None, stdin: str = "") -> Any:
    """``persistence-cassandra schema ARGS`` through click, on a worker thread (each command
    runs its own event loop), with no connection settings from the environment."""
    from click.testing import CliRunner

    from persistence_cassandra.cli.main import cli

    merged = {**CLI_CLEAN_ENV, **(env or {})}
    return await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["schema", *args],
        env=merged,
        input=stdin,
        catch_exceptions=False,
    )
