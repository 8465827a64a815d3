"""Commands that only read: ``schema_status``, ``schema_history``, ``verify_schema``, and the
startup check :func:`check_schema_version` that backends call when a store is opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from persistence_cassandra.errors import SchemaToolError, SchemaVersionMismatch
from persistence_cassandra.schema.admin import (
    VERSION_TABLES,
    HistoryEntry,
    MigrationRecord,
    SchemaAdmin,
    StoredVersion,
    VersionReader,
)
from persistence_cassandra.schema.command_hints import bundled_schema_name, suggest_command
from persistence_cassandra.schema.plan import file_sha256
from persistence_cassandra.schema.statements import split_statements
from persistence_cassandra.schema.versions import SchemaSet, parse_version, plan_versions

__all__ = [
    "FileDrift",
    "IncompleteVersion",
    "SchemaStatus",
    "VerifyReport",
    "check_schema_version",
    "schema_history",
    "schema_status",
    "verify_schema",
]

DriftKind = Literal["changed", "missing", "added"]


@dataclass(frozen=True, slots=True)
class FileDrift:
    """A file of an applied version that is not what was applied."""

    version: str
    file_name: str
    kind: DriftKind
    detail: str

    def describe(self) -> str:
        return f"v{self.version}/{self.file_name}: {self.kind} ({self.detail})"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: tuple[str, ...]
    """Applied versions whose recorded checksums were compared with the files."""
    unrecorded: tuple[str, ...]
    """Versions at or below the stored one that this tool has no checksums for (applied by
    another tool, e.g. temporal-cassandra-tool): nothing to compare."""
    drift: tuple[FileDrift, ...]
    setup_checked: tuple[str, ...] = ()
    """``VERSION (FILE)`` of each ``setup-schema --schema-file`` run whose file was compared."""
    setup_unchecked: tuple[str, ...] = ()
    """``VERSION (FILE)`` of setup runs from a file that was not given to compare with."""

    @property
    def ok(self) -> bool:
        return not self.drift


@dataclass(frozen=True, slots=True)
class IncompleteVersion:
    version: str
    applied_statements: int
    statement_count: int
    started_at: str
    run_by: str


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    target: str
    stored: StoredVersion | None
    latest: str | None
    """Newest version of the schema set, when one was given."""
    pending: tuple[str, ...]
    incomplete: tuple[IncompleteVersion, ...]
    verify: VerifyReport | None
    adapted: tuple[tuple[str, int], ...] = ()
    """(version, statements rewritten) of each version applied adapted for Astra DB."""


async def schema_history(admin: SchemaAdmin) -> list[HistoryEntry]:
    """``schema_update_history``, oldest first (empty when the table does not exist)."""
    if not set(VERSION_TABLES) <= await admin.existing_tables():
        return []
    return await admin.read_history()


async def _incomplete(
    admin: SchemaAdmin, records: list[MigrationRecord]
) -> list[IncompleteVersion]:
    found = []
    for record in records:
        if record.state != "running":
            continue
        applied = len(await admin.read_statement_records(record.version))
        found.append(
            IncompleteVersion(
                record.version,
                applied,
                record.statement_count,
                record.started_at.isoformat(timespec="seconds"),
                record.run_by,
            )
        )
    return found


async def schema_status(admin: SchemaAdmin, schema_set: SchemaSet | None = None) -> SchemaStatus:
    """Current version, pending versions of ``schema_set``, unfinished runs and drift."""
    stored = await admin.read_version()
    records = await admin.read_migrations()
    latest: str | None = None
    pending: tuple[str, ...] = ()
    verify = None
    if schema_set is not None:
        latest = schema_set.latest.text
        current = parse_version(stored.curr_version) if stored is not None else None
        if current is None or current <= schema_set.latest:
            available = (entry.version for entry in schema_set.versions)
            pending = tuple(v.text for v in plan_versions(available, current, schema_set.latest))
        verify = await verify_schema(admin, schema_set)
    return SchemaStatus(
        target=admin.target_description,
        stored=stored,
        latest=latest,
        pending=pending,
        incomplete=tuple(await _incomplete(admin, records)),
        verify=verify,
        adapted=tuple(
            (r.version, len(r.adaptation))
            for r in sorted(records, key=lambda r: parse_version(r.version))
            if r.adaptation
        ),
    )


async def _statement_detail(
    admin: SchemaAdmin, record: MigrationRecord, schema_set: SchemaSet, name: str
) -> str:
    """Whether an edited file's statements changed, or only its comments and layout."""
    entry = schema_set.get(parse_version(record.version))
    if entry is None:
        return "content differs"
    applied = [r for r in await admin.read_statement_records(record.version) if r.file_name == name]
    if not applied:
        return "content differs"
    try:
        current = split_statements(entry.file_path(name).read_text("utf-8"), source=name)
    except (SchemaToolError, OSError, UnicodeDecodeError):
        return "content differs and no longer parses"
    now = [s.checksum for s in current]
    before = [r.checksum for r in sorted(applied, key=lambda r: r.index)]
    if now == before:
        return "comments or layout only; the statements are unchanged"
    changed = [i + 1 for i, (a, b) in enumerate(zip(before, now, strict=False)) if a != b]
    if len(now) != len(before):
        return f"statements changed: it held {len(before)} applied, now {len(now)}"
    return "statements changed: " + ", ".join(f"#{i}" for i in changed) + " of the file"


def _setup_file_drift(record: MigrationRecord, schema_file: Path) -> FileDrift | None:
    recorded = record.file_checksums.get(schema_file.name)
    if recorded is None:
        named = ", ".join(record.file_checksums)
        return FileDrift(
            record.version, schema_file.name, "missing", f"the setup ran {named}, not this file"
        )
    if file_sha256(schema_file.read_bytes()) != recorded:
        return FileDrift(
            record.version, schema_file.name, "changed", "differs from when setup-schema ran it"
        )
    return None


async def verify_schema(
    admin: SchemaAdmin, schema_set: SchemaSet | None, schema_file: Path | None = None
) -> VerifyReport:
    """Compare every applied version's recorded checksums with the files of ``schema_set``,
    and a ``setup-schema --schema-file`` run's with ``schema_file``."""
    migrations = [r for r in await admin.read_migrations() if r.state == "applied"]
    records = [r for r in migrations if r.kind == "update"]
    setups = [r for r in migrations if r.kind == "setup" and r.file_checksums]
    drift: list[FileDrift] = []
    checked: list[str] = []
    setup_checked: list[str] = []
    setup_unchecked: list[str] = []
    for setup in setups:
        label = f"{setup.version} ({', '.join(setup.file_checksums)})"
        if schema_file is None:
            setup_unchecked.append(label)
            continue
        found = _setup_file_drift(setup, schema_file)
        if found is not None:
            drift.append(found)
        setup_checked.append(label)
    if schema_set is None:
        return VerifyReport((), (), tuple(drift), tuple(setup_checked), tuple(setup_unchecked))
    for record in sorted(records, key=lambda r: parse_version(r.version)):
        entry = schema_set.get(parse_version(record.version))
        checked.append(record.version)
        if entry is None:
            drift.append(FileDrift(record.version, "", "missing", "the version directory is gone"))
            continue
        if entry.manifest.md5 != record.manifest_md5:
            drift.append(
                FileDrift(
                    record.version, "manifest.json", "changed", "manifest differs from when applied"
                )
            )
        for name, checksum in record.file_checksums.items():
            path = entry.file_path(name)
            if not path.is_file():
                drift.append(FileDrift(record.version, name, "missing", "file no longer exists"))
            elif file_sha256(path.read_bytes()) != checksum:
                detail = await _statement_detail(admin, record, schema_set, name)
                drift.append(FileDrift(record.version, name, "changed", detail))
        for name in entry.manifest.files:
            if name not in record.file_checksums:
                drift.append(
                    FileDrift(record.version, name, "added", "listed now, not when applied")
                )
    stored = await admin.read_version()
    recorded = {parse_version(r.version) for r in records}
    # Versions up to a full-schema setup came from its file, not from another tool.
    set_up = max((parse_version(r.version) for r in setups), default=None)
    unrecorded: tuple[str, ...] = ()
    if stored is not None:
        current = parse_version(stored.curr_version)
        unrecorded = tuple(
            e.version.text
            for e in schema_set.versions
            if e.version <= current
            and e.version not in recorded
            and (set_up is None or e.version > set_up)
        )
    return VerifyReport(
        tuple(checked), unrecorded, tuple(drift), tuple(setup_checked), tuple(setup_unchecked)
    )


async def check_schema_version(
    reader: VersionReader, expected: str, *, schema_name: str | None = None
) -> StoredVersion:
    """The stored version, if it is ``expected`` or newer (newer is accepted so that code can
    be rolled back after a schema upgrade); otherwise :class:`SchemaVersionMismatch` whose
    message names the command to run. ``schema_name`` is the bundled set (default
    ``<backend>/persistence``)."""
    name = schema_name or bundled_schema_name(reader.backend)
    update = suggest_command(reader, f"update-schema --schema-name {name}")
    stored = await reader.read_version()
    if stored is None:
        setup = suggest_command(reader, "setup-schema -v 0.0")
        raise SchemaVersionMismatch(
            [
                f"{reader.backend} {reader.scope} has no schema (this code needs version "
                f"{expected}); run `",
                setup,
                "` then `",
                update,
                "`",
            ],
            actual=None,
            expected=expected,
        )
    if parse_version(stored.curr_version) < parse_version(expected):
        raise SchemaVersionMismatch(
            [
                f"{reader.backend} {reader.scope} has schema version {stored.curr_version}, "
                f"older than the {expected} this code needs; run `",
                update,
                "`",
            ],
            actual=stored.curr_version,
            expected=expected,
        )
    return stored
