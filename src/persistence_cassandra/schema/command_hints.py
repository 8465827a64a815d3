"""The exact command an operator should run next, for error messages."""

from __future__ import annotations

from persistence_cassandra.hints import SchemaCommand
from persistence_cassandra.schema.admin import VersionReader

__all__ = ["ASTRA_KEYSPACE_MESSAGE", "SCHEMA_DIRS", "bundled_schema_name", "suggest_command"]

ASTRA_KEYSPACE_MESSAGE = (
    "Astra DB does not allow keyspace DDL: create or drop the keyspace in the Astra portal or "
    "with the DevOps API (or `astra db create-keyspace`), then run setup-schema"
)


SCHEMA_DIRS = {"cassandra": "cassandra", "sqlite": "sqlite", "postgres": "postgresql"}
"""Backend name → its directory under the top-level ``schema/``."""


def bundled_schema_name(backend: str, name: str = "persistence") -> str:
    """``--schema-name`` of a bundled set, e.g. ``cassandra/persistence``."""
    return f"{SCHEMA_DIRS.get(backend, backend)}/{name}"


def suggest_command(reader: VersionReader, arguments: str) -> SchemaCommand:
    """``persistence-cassandra schema <target flags> <arguments>`` for ``reader``'s target."""
    return SchemaCommand(reader.backend, reader.scope, arguments)
