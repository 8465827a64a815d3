"""The schema sets shipped with the package and the version this code needs, for every backend.

One place decides which bundled set a backend opens with (``<backend>/persistence``), which
version the code requires on open (:data:`EXPECTED_SCHEMA_VERSION`), when an open with
``create_schema`` brings the schema up to the bundled latest, and how the open-time check
words its error. The backends only say how to read their ``schema_version`` row.
"""

from __future__ import annotations

from persistence_cassandra.schema.admin import SchemaAdmin, StoredVersion, VersionReader
from persistence_cassandra.schema.command_hints import bundled_schema_name
from persistence_cassandra.schema.inspection import check_schema_version
from persistence_cassandra.schema.lock import LockSettings
from persistence_cassandra.schema.runner import ensure_schema
from persistence_cassandra.schema.versions import SchemaSet, find_schema_set, parse_version

__all__ = [
    "EXPECTED_SCHEMA_VERSION",
    "SCHEMA_NAME",
    "bundled_schema_set",
    "ensure_bundled_schema",
    "verify_schema_version",
]

SCHEMA_NAME = "persistence"
"""The name of every backend's bundled set (``schema/<backend>/persistence/versioned``)."""

EXPECTED_SCHEMA_VERSION = "1.2"
"""The schema version this code needs on every backend; an older stored one refuses to open."""


def bundled_schema_set(backend: str) -> SchemaSet:
    """The bundled set of ``backend`` (``cassandra``, ``sqlite`` or ``postgres``)."""
    return find_schema_set(name=bundled_schema_name(backend, SCHEMA_NAME))


async def ensure_bundled_schema(
    admin: SchemaAdmin, stored: StoredVersion | None, *, lock: LockSettings | None = None
) -> None:
    """Set up and update to the bundled latest, unless ``stored`` is already there or newer
    (code rolled back after a schema upgrade must still open, and the engine refuses to plan a
    downgrade)."""
    schema_set = bundled_schema_set(admin.backend)
    if stored is not None and parse_version(stored.curr_version) >= schema_set.latest:
        return
    await ensure_schema(admin, schema_set, lock=lock)


async def verify_schema_version(reader: VersionReader) -> StoredVersion:
    """The stored version if it is :data:`EXPECTED_SCHEMA_VERSION` or newer; otherwise
    ``SchemaVersionMismatch`` naming the command to run."""
    return await check_schema_version(reader, EXPECTED_SCHEMA_VERSION)
