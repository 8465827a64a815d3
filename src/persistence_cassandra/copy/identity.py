"""Which database a datastore really is, whatever name the config gives it.

``copy`` must refuse to copy a database onto itself (``--force`` would then overwrite records
with themselves while the digest compares a store with itself), and two datastores can name one
database differently: ``127.0.0.1`` and ``localhost``, a symlink or a hard link to one SQLite
file. So the comparison is of what the server or the file system says, not of the settings:

* SQLite: the file's device and inode (``:memory:`` is always a database of its own);
* PostgreSQL: the cluster's ``system_identifier`` (set once by ``initdb``) and the database;
* Cassandra: the cluster name, the host ids of its nodes, and the keyspace.

Each probe opens its own short-lived connection; a probe that fails gives ``None`` (unknown),
and the copy's own open then reports the connection error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from persistence_cassandra.config import CassandraConfig, DatastoreConfig, SqlConfig
from persistence_cassandra.errors import PersistenceError

__all__ = ["database_identity"]

_LOCAL = "SELECT cluster_name, host_id FROM system.local"
_PEERS = "SELECT host_id FROM system.peers"
_PG_IDENTITY = "SELECT system_identifier::text, current_database() FROM pg_control_system()"


async def database_identity(datastore: DatastoreConfig) -> tuple[str, ...] | None:
    """A key equal for two datastores exactly when they are one database; ``None`` when it
    cannot be known (an in-memory database, a third-party backend, a probe that failed)."""
    if datastore.sql is not None and datastore.sql.dialect == "sqlite":
        return _sqlite_identity(datastore.sql)
    if datastore.sql is not None:
        return await _postgres_identity(datastore.sql)
    if datastore.cassandra is not None and datastore.cassandra.astra is None:
        return await _cassandra_identity(datastore.cassandra)
    return None


def _sqlite_identity(sql: SqlConfig) -> tuple[str, ...] | None:
    if sql.database_name == ":memory:":
        return None
    path = Path(sql.database_name).expanduser()
    try:
        status = path.stat()
    except OSError:
        # Not there yet: then only the same path can be the same file.
        return ("sqlite-path", str(path.resolve()))
    return ("sqlite", str(status.st_dev), str(status.st_ino))


async def _postgres_identity(sql: SqlConfig) -> tuple[str, ...] | None:
    import psycopg

    from persistence_cassandra.backends.sql.postgres import connection_info

    conninfo, _ = connection_info(sql)

    def probe() -> tuple[str, ...] | None:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
            row = connection.execute(_PG_IDENTITY).fetchone()
        return None if row is None else ("postgres", str(row[0]), str(row[1]))

    try:
        return await asyncio.to_thread(probe)
    except psycopg.Error:
        return None


async def _cassandra_identity(config: CassandraConfig) -> tuple[str, ...] | None:
    from persistence_cassandra.backends.cassandra.session import CassandraSession

    try:
        session = await CassandraSession.connect(config)
    except PersistenceError:
        return None
    try:
        local = (await session.read(_LOCAL)).first()
        peers = await session.read(_PEERS)
    except PersistenceError:
        return None
    finally:
        await session.close()
    if local is None:
        return None
    hosts = sorted({str(local["host_id"]), *(str(row["host_id"]) for row in peers.rows)})
    return ("cassandra", str(local["cluster_name"]), ",".join(hosts), config.keyspace)
