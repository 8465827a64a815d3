"""Creating the schema on open (``create_schema``), and the version check, for both SQL dialects.

``OpenOptions(create_schema=True)`` (the embedded SQLite default, development and test setups)
hands the work to the schema engine (:mod:`persistence_cassandra.schema`): ``ensure_schema``
with the bundled ``sqlite/persistence`` or ``postgresql/persistence`` set, under the engine's
migration lock and with its bookkeeping, so that the schema tool later sees exactly what it
would have done itself (``status``: nothing pending; ``verify``: no drift). Each dialect builds
the engine's admin over its own connection (:mod:`.sqlite`, :mod:`.postgres`); this module only
decides what to run.

The version check on every open reads Temporal's ``schema_version`` row through the store's own
runner (no extra connection) and lets the engine word the error, which names the command to run.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.errors import SchemaVersionMismatch
from persistence_cassandra.hints import SchemaCommand
from persistence_cassandra.schema import bundled, sql_bookkeeping
from persistence_cassandra.schema.admin import SchemaAdmin, StoredVersion
from persistence_cassandra.schema.command_hints import bundled_schema_name
from persistence_cassandra.schema.lock import LockSettings

__all__ = [
    "SqlVersionReader",
    "ensure_bundled_schema",
    "missing_database",
    "verify_schema_version",
]

OPEN_LOCK = LockSettings(poll_interval=0.25)
"""The engine's defaults, but a store opened next to another one that is creating the schema
notices the lock's release sooner than a CLI run would need to."""


class SqlVersionReader:
    """What :func:`~persistence_cassandra.schema.inspection.check_schema_version` reads, over
    the store's runner. ``scope`` is what the schema tool's ``--db`` takes (the SQLite file,
    the PostgreSQL database); ``db_name`` keys the version row (``main`` on SQLite)."""

    def __init__(
        self, runner: TransactionRunner, *, backend: str, scope: str, db_name: str
    ) -> None:
        self._runner = runner
        self._backend = backend
        self._scope = scope
        self._db_name = db_name

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def scope(self) -> str:
        return self._scope

    async def read_version(self) -> StoredVersion | None:
        return await self._runner.read(self._read)

    def _read(self, tx: Tx) -> StoredVersion | None:
        if tx.fetchone(tx.dialect.table_exists_sql, ("schema_version",)) is None:
            return None
        row = tx.fetchone(sql_bookkeeping.SELECT_VERSION, (self._db_name,))
        return (
            None if row is None or row[1] is None else sql_bookkeeping.stored_version_from_row(row)
        )


async def ensure_bundled_schema(admin: SchemaAdmin, reader: SqlVersionReader) -> None:
    """Set up and update the database to the bundled latest, unless it is already there or
    newer (code rolled back after a schema upgrade must still open; the engine refuses to plan
    a downgrade)."""
    await bundled.ensure_bundled_schema(admin, await reader.read_version(), lock=OPEN_LOCK)


async def verify_schema_version(reader: SqlVersionReader) -> StoredVersion:
    """The stored version if it is the bundled expected version or newer; otherwise
    ``SchemaVersionMismatch`` naming the command to run."""
    return await bundled.verify_schema_version(reader)


def missing_database(backend: str, scope: str, what: str) -> SchemaVersionMismatch:
    """The error for a database that does not exist at all (``what`` says which)."""
    name = bundled_schema_name(backend, bundled.SCHEMA_NAME)
    return SchemaVersionMismatch(
        [
            f"{what} does not exist; open it with schema creation (the embedded default does) "
            "or run `",
            SchemaCommand(backend, scope, "setup-schema -v 0.0"),
            "` then `",
            SchemaCommand(backend, scope, f"update-schema --schema-name {name}"),
            "`",
        ],
        actual=None,
        expected=bundled.EXPECTED_SCHEMA_VERSION,
    )
