"""Open the admin for a configured datastore; each database driver is imported only here,
when that database is actually used."""

from __future__ import annotations

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.admin import KeyspaceAdmin, SchemaAdmin

__all__ = ["keyspace_name", "open_keyspace_admin", "open_schema_admin", "server_health"]


def keyspace_name(datastore: DatastoreConfig) -> str:
    """The keyspace (Cassandra) or database (SQL) a datastore uses."""
    if datastore.cassandra is not None:
        return datastore.cassandra.keyspace
    if datastore.sql is not None:
        return datastore.sql.database_name
    raise SchemaToolError(f"the schema tool does not manage backend {datastore.backend_name!r}")


async def open_schema_admin(
    datastore: DatastoreConfig, *, request_timeout: float = 30.0, create: bool = False
) -> SchemaAdmin:
    """Connect to the keyspace / database of ``datastore``; it must exist, except that a
    SQLite file is created when ``create``."""
    if datastore.cassandra is not None:
        from persistence_cassandra.schema.admin_cassandra import CassandraSchemaAdmin

        return await CassandraSchemaAdmin.connect(
            datastore.cassandra, request_timeout=request_timeout
        )
    sql = datastore.sql
    if sql is not None and sql.dialect == "sqlite":
        from persistence_cassandra.schema.admin_sqlite import SqliteSchemaAdmin

        return await SqliteSchemaAdmin.open(sql.database_name, create=create)
    if sql is not None:
        from persistence_cassandra.schema.admin_postgres import PostgresSchemaAdmin

        return await PostgresSchemaAdmin.connect(sql, request_timeout=request_timeout)
    raise SchemaToolError(f"the schema tool does not manage backend {datastore.backend_name!r}")


async def open_keyspace_admin(
    datastore: DatastoreConfig, *, request_timeout: float = 30.0
) -> KeyspaceAdmin:
    """Connect where keyspaces (Cassandra) or databases (SQL) are created and dropped."""
    if datastore.cassandra is not None:
        from persistence_cassandra.schema.admin_cassandra import CassandraKeyspaceAdmin

        return await CassandraKeyspaceAdmin.connect(
            datastore.cassandra, request_timeout=request_timeout
        )
    sql = datastore.sql
    if sql is not None and sql.dialect == "sqlite":
        from persistence_cassandra.schema.admin_sqlite import SqliteKeyspaceAdmin

        return SqliteKeyspaceAdmin()
    if sql is not None:
        from persistence_cassandra.schema.admin_postgres import PostgresKeyspaceAdmin

        return await PostgresKeyspaceAdmin.connect(sql, request_timeout=request_timeout)
    raise SchemaToolError(f"the schema tool does not manage backend {datastore.backend_name!r}")


async def server_health(datastore: DatastoreConfig, *, request_timeout: float = 30.0) -> str:
    """Connect (to the cluster, not a keyspace, on Cassandra) and describe the server."""
    if datastore.cassandra is not None:
        from persistence_cassandra.schema.cassandra_connection import cassandra_health

        return await cassandra_health(datastore.cassandra, request_timeout=request_timeout)
    admin = await open_schema_admin(datastore, request_timeout=request_timeout)
    try:
        return await admin.server_description()
    finally:
        await admin.close()
