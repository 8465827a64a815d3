"""Creating the keyspace and schema on open (``create_schema``), and the version check.

``OpenOptions(create_schema=True)`` (development and test setups) hands the work to the schema
engine (:mod:`persistence_cassandra.schema`): create the keyspace if it is missing (SimpleStrategy
RF 1, or NetworkTopologyStrategy with RF 1 in the configured datacenter; never on Astra DB,
whose keyspaces are made in the portal), then ``ensure_schema`` with the bundled
``cassandra/persistence`` set, under the engine's migration lock and with its bookkeeping, so
the schema tool later sees exactly what it would have done itself.

The version check on every open reads Temporal's ``schema_version`` row through the store's own
session (no extra connection) and lets the engine word the error, which names the command to
run.
"""

from __future__ import annotations

from datetime import UTC

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.hints import SchemaCommand
from persistence_cassandra.schema.admin import StoredVersion
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION, ensure_bundled_schema
from persistence_cassandra.schema.bundled import verify_schema_version as verify_bundled_version
from persistence_cassandra.schema.connect import open_keyspace_admin, open_schema_admin

__all__ = [
    "KeyspaceVersionReader",
    "create_keyspace_and_schema",
    "keyspace_exists",
    "verify_schema_version",
]

KEYSPACE_EXISTS = "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?"
TABLE_EXISTS = (
    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?"
)

READ_VERSION = (
    "SELECT curr_version, min_compatible_version, creation_time FROM {ks}.schema_version "
    "WHERE keyspace_name = ?"
)


class KeyspaceVersionReader:
    """What :func:`~persistence_cassandra.schema.inspection.check_schema_version` reads."""

    backend = "cassandra"

    def __init__(self, session: CassandraSession, keyspace: str) -> None:
        self._session = session
        self._keyspace = keyspace

    @property
    def scope(self) -> str:
        return self._keyspace

    async def read_version(self) -> StoredVersion | None:
        found = await self._session.read(TABLE_EXISTS, (self._keyspace, "schema_version"))
        if not found.rows:
            return None
        result = await self._session.read(READ_VERSION.format(ks=self._keyspace), (self._keyspace,))
        row = result.first()
        if row is None or not row["curr_version"]:
            return None
        created = row["creation_time"]
        return StoredVersion(
            scope=self._keyspace,
            curr_version=row["curr_version"],
            min_compatible_version=row["min_compatible_version"],
            creation_time=created.replace(tzinfo=UTC) if created is not None else None,
        )


async def keyspace_exists(session: CassandraSession, keyspace: str) -> bool:
    return bool((await session.read(KEYSPACE_EXISTS, (keyspace,))).rows)


async def create_keyspace_and_schema(config: DatastoreConfig) -> None:
    """Create the keyspace if it is missing, then bring the schema up to the bundled latest."""
    assert config.cassandra is not None
    if config.cassandra.astra is None:
        keyspaces = await open_keyspace_admin(config)
        try:
            await keyspaces.create_keyspace(
                config.cassandra.keyspace, datacenter=config.cassandra.datacenter
            )
        finally:
            await keyspaces.close()
    admin = await open_schema_admin(config)
    try:
        await ensure_bundled_schema(admin, await admin.read_version())
    finally:
        await admin.close()


async def verify_schema_version(session: CassandraSession, keyspace: str) -> StoredVersion:
    """The stored version if it is :data:`EXPECTED_SCHEMA_VERSION` or newer; otherwise
    ``SchemaVersionMismatch`` naming the command to run."""
    if not await keyspace_exists(session, keyspace):
        raise errors.SchemaVersionMismatch(
            [
                f"keyspace {keyspace!r} does not exist; run `",
                SchemaCommand("cassandra", keyspace, "create-keyspace"),
                "`, then set up and update the schema",
            ],
            actual=None,
            expected=EXPECTED_SCHEMA_VERSION,
        )
    return await verify_bundled_version(KeyspaceVersionReader(session, keyspace))
