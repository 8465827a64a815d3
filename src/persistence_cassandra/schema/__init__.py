"""The schema migration engine (no CLI code here: ``cli/schema_commands.py`` adapts it).

Layers, Alembic-style:

* pure planning: :mod:`.versions` (``vX.Y`` directories, manifests, version order),
  :mod:`.statements` (lexer, splitter, allowed verbs), :mod:`.effects`, :mod:`.lint`;
* commands, plain async functions over a :class:`SchemaAdmin`: :func:`setup_schema`,
  :func:`update_schema`, :func:`ensure_schema` (:mod:`.runner`), :func:`schema_status`,
  :func:`schema_history`, :func:`verify_schema`, :func:`check_schema_version`
  (:mod:`.inspection`);
* one admin per database: :mod:`.admin_cassandra`, :mod:`.admin_sqlite`,
  :mod:`.admin_postgres`, opened from a datastore config by :func:`open_schema_admin`.

A backend checks the stored version when a store is opened::

    admin = CassandraSchemaAdmin(session, keyspace)          # or any VersionReader
    await check_schema_version(admin, "1.0")                 # SchemaVersionMismatch if older
"""

from __future__ import annotations

from persistence_cassandra.schema.admin import (
    HistoryEntry,
    KeyspaceAdmin,
    LockHolder,
    MigrationRecord,
    SchemaAdmin,
    StatementRecord,
    StoredVersion,
    VersionReader,
)
from persistence_cassandra.schema.connect import (
    keyspace_name,
    open_keyspace_admin,
    open_schema_admin,
)
from persistence_cassandra.schema.inspection import (
    FileDrift,
    SchemaStatus,
    VerifyReport,
    check_schema_version,
    schema_history,
    schema_status,
    verify_schema,
)
from persistence_cassandra.schema.lint import LintFinding, lint_statements
from persistence_cassandra.schema.lock import LockSettings, MigrationLock
from persistence_cassandra.schema.plan import UpdatePlan, VersionStep, build_update_plan
from persistence_cassandra.schema.progress import MigrationListener
from persistence_cassandra.schema.runner import (
    RunResult,
    ensure_schema,
    setup_schema,
    update_schema,
)
from persistence_cassandra.schema.statements import Statement, split_statements
from persistence_cassandra.schema.versions import (
    SchemaSet,
    Version,
    find_schema_set,
    parse_version,
    read_schema_set,
)

__all__ = [
    "FileDrift",
    "HistoryEntry",
    "KeyspaceAdmin",
    "LintFinding",
    "LockHolder",
    "LockSettings",
    "MigrationListener",
    "MigrationLock",
    "MigrationRecord",
    "RunResult",
    "SchemaAdmin",
    "SchemaSet",
    "SchemaStatus",
    "Statement",
    "StatementRecord",
    "StoredVersion",
    "UpdatePlan",
    "VerifyReport",
    "Version",
    "VersionReader",
    "VersionStep",
    "build_update_plan",
    "check_schema_version",
    "ensure_schema",
    "find_schema_set",
    "keyspace_name",
    "lint_statements",
    "open_keyspace_admin",
    "open_schema_admin",
    "parse_version",
    "read_schema_set",
    "schema_history",
    "schema_status",
    "setup_schema",
    "split_statements",
    "update_schema",
    "verify_schema",
]
