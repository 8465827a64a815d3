"""A minimal schema applier for the SQL backends, and the version check done on open.

It reads the versioned directories of ``schema/<db>/persistence/versioned/vX.Y/`` (Temporal's
layout and manifest format), applies those newer than the stored version in order, one
transaction per version, and records each in Temporal's ``schema_version`` /
``schema_update_history`` tables. The full migration engine (``persistence_cassandra.schema``)
manages the same tables and files; this module exists so that the embedded store can create
its own schema on first open.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.errors import SchemaVersionMismatch
from persistence_cassandra.schema_files import bundled_schema_dir

__all__ = [
    "EXPECTED_SCHEMA_VERSION",
    "SCHEMA_NAME",
    "SchemaVersionDir",
    "apply_pending_versions",
    "parse_version",
    "read_schema_version",
    "read_version_dirs",
    "split_statements",
    "verify_schema_version",
]

EXPECTED_SCHEMA_VERSION = "1.0"
"""The schema version this code needs; an older stored version refuses to open."""

SCHEMA_NAME = "persistence"
"""The schema's directory name under ``schema/<db>/``."""

_VERSION_PARTITION = 0


@dataclass(frozen=True, slots=True)
class SchemaVersionDir:
    version: str
    min_compatible_version: str
    description: str
    statements: list[str]
    manifest_md5: str


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.10"`` → ``(1, 10)``, so that versions compare numerically."""
    try:
        return tuple(int(part) for part in text.strip().lstrip("v").split("."))
    except ValueError:
        raise ValueError(f"invalid schema version {text!r}") from None


def split_statements(text: str) -> list[str]:
    """Statements of a schema file: ``--`` comment lines dropped, split at lines ending
    with ``;``."""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line.rstrip())
        if stripped.endswith(";"):
            statement = "\n".join(current).strip().removesuffix(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def read_version_dirs(root: Path) -> list[SchemaVersionDir]:
    """Every ``vX.Y`` directory under ``root`` (a ``versioned/`` directory), oldest first."""
    found: list[tuple[tuple[int, ...], SchemaVersionDir]] = []
    for directory in root.iterdir():
        if not directory.is_dir() or not directory.name.startswith("v"):
            continue
        manifest_bytes = (directory / "manifest.json").read_bytes()
        manifest = json.loads(manifest_bytes)
        version = str(manifest["CurrVersion"])
        if parse_version(version) != parse_version(directory.name):
            raise ValueError(f"{directory}: manifest CurrVersion {version} != directory name")
        statements: list[str] = []
        for file_name in manifest.get("SchemaUpdateCqlFiles", []):
            statements += split_statements((directory / file_name).read_text(encoding="utf-8"))
        found.append(
            (
                parse_version(version),
                SchemaVersionDir(
                    version=version,
                    min_compatible_version=str(manifest["MinCompatibleVersion"]),
                    description=str(manifest.get("Description", "")),
                    statements=statements,
                    manifest_md5=hashlib.md5(manifest_bytes).hexdigest(),
                ),
            )
        )
    return [entry for _, entry in sorted(found, key=lambda pair: pair[0])]


def _versioned_root(schema_dir_name: str) -> Path:
    return bundled_schema_dir() / schema_dir_name / SCHEMA_NAME / "versioned"


def _stored_version(tx: Tx, db_name: str) -> str | None:
    if tx.fetchone(tx.dialect.table_exists_sql, ("schema_version",)) is None:
        return None
    row = tx.fetchone(
        "SELECT curr_version FROM schema_version WHERE version_partition = ? AND db_name = ?",
        (_VERSION_PARTITION, db_name),
    )
    return None if row is None or row[0] is None else str(row[0])


def _apply_version(tx: Tx, db_name: str, entry: SchemaVersionDir) -> None:
    dialect = tx.dialect
    if dialect.schema_lock_sql:
        tx.execute(dialect.schema_lock_sql)
    for statement in dialect.version_tables_ddl:
        tx.execute(statement)
    stored = _stored_version(tx, db_name)
    # Re-read under the lock: a concurrent opener may have applied this version already.
    if stored is not None and parse_version(stored) >= parse_version(entry.version):
        return
    for statement in entry.statements:
        tx.execute(statement)
    now = datetime.now(UTC)
    stamp = dialect.timestamp_param(now)
    tx.execute(
        dialect.upsert(
            "schema_version",
            ("version_partition", "db_name"),
            ("creation_time", "curr_version", "min_compatible_version"),
        ),
        (_VERSION_PARTITION, db_name, stamp, entry.version, entry.min_compatible_version),
    )
    tx.execute(
        "INSERT INTO schema_update_history (version_partition, year, month, update_time, "
        "old_version, new_version, manifest_md5, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            _VERSION_PARTITION,
            now.year,
            now.month,
            stamp,
            stored or "0",
            entry.version,
            entry.manifest_md5,
            entry.description if stored else "initial version",
        ),
    )


async def read_schema_version(runner: TransactionRunner, db_name: str) -> str | None:
    """The stored ``curr_version``, or ``None`` when no schema was ever applied."""
    return await runner.read(lambda tx: _stored_version(tx, db_name))


async def apply_pending_versions(runner: TransactionRunner, db_name: str) -> str | None:
    """Apply every bundled version newer than the stored one; returns the resulting version."""
    current = await read_schema_version(runner, db_name)
    for entry in read_version_dirs(_versioned_root(runner.dialect.schema_dir_name)):
        if current is not None and parse_version(entry.version) <= parse_version(current):
            continue
        await runner.write(partial(_apply_version, db_name=db_name, entry=entry))
        current = entry.version
    return current


async def verify_schema_version(runner: TransactionRunner, db_name: str, *, target: str) -> str:
    """The stored version, if it is at least :data:`EXPECTED_SCHEMA_VERSION`; else
    ``SchemaVersionMismatch`` naming the command that fixes it. ``target`` describes the
    database in the message. A newer stored version is accepted (code rollback)."""
    actual = await read_schema_version(runner, db_name)
    if actual is None:
        raise SchemaVersionMismatch(
            f"{target} has no persistence schema (expected version {EXPECTED_SCHEMA_VERSION}); "
            "run `persistence-cassandra schema setup-schema ...` then "
            "`persistence-cassandra schema update-schema ...`",
            actual=None,
            expected=EXPECTED_SCHEMA_VERSION,
        )
    if parse_version(actual) < parse_version(EXPECTED_SCHEMA_VERSION):
        raise SchemaVersionMismatch(
            f"{target} has schema version {actual}, older than the {EXPECTED_SCHEMA_VERSION} "
            "this code needs; run `persistence-cassandra schema update-schema ...`",
            actual=actual,
            expected=EXPECTED_SCHEMA_VERSION,
        )
    return actual
