"""A migration plan: the versions to apply, each with its files and statements, validated.

Building a plan reads and splits every file of every planned version and checks every
statement's verb, so that a bad file is reported before anything runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.statements import Statement, check_allowed_verbs, split_statements
from persistence_cassandra.schema.versions import (
    SchemaSet,
    Version,
    VersionDir,
    parse_version,
    plan_versions,
)

if TYPE_CHECKING:
    from persistence_cassandra.schema.astra_compat import Adaptation

__all__ = [
    "PlannedStatement",
    "UpdatePlan",
    "VersionStep",
    "build_update_plan",
    "file_sha256",
    "load_file_step",
    "load_version_step",
]


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class PlannedStatement:
    index: int
    """0-based position within its version, across the version's files in manifest order."""
    file_name: str
    statement: Statement
    """As written in the file: what is checksummed and recorded."""
    adaptation: Adaptation | None = None
    """Set when ``--astra-compat`` rewrote the statement (see :mod:`.astra_compat`)."""

    @property
    def runs(self) -> Statement | None:
        """What is sent to the database; ``None`` when the adaptation left nothing to run."""
        return self.statement if self.adaptation is None else self.adaptation.statement


@dataclass(frozen=True, slots=True)
class VersionStep:
    """One version to apply (or one ``setup-schema --schema-file`` run)."""

    version: Version
    min_compatible_version: Version
    description: str
    manifest_md5: str
    file_checksums: dict[str, str]
    statements: tuple[PlannedStatement, ...]

    @property
    def adaptations(self) -> tuple[str, ...]:
        """One line per adapted statement: which it is and what was rewritten."""
        return tuple(
            f"statement {p.index + 1} ({p.statement.source} line {p.statement.line}): "
            f"{p.adaptation.describe()}"
            for p in self.statements
            if p.adaptation is not None and p.adaptation.changed
        )


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    current: str | None
    target: Version
    steps: tuple[VersionStep, ...]

    @property
    def statement_count(self) -> int:
        return sum(len(step.statements) for step in self.steps)


def _statements_of(path: Path, label: str, start: int) -> tuple[bytes, list[PlannedStatement]]:
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        raise SchemaToolError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SchemaToolError(f"{path} is not UTF-8 text") from None
    split = split_statements(text, source=label)
    return data, [
        PlannedStatement(start + offset, path.name, statement)
        for offset, statement in enumerate(split)
    ]


def load_version_step(entry: VersionDir) -> VersionStep:
    """Read and split the files of one version; refuse statements with a disallowed verb."""
    checksums: dict[str, str] = {}
    statements: list[PlannedStatement] = []
    for name in entry.manifest.files:
        label = f"{entry.path.name}/{name}"
        data, found = _statements_of(entry.file_path(name), label, len(statements))
        checksums[name] = file_sha256(data)
        statements += found
    check_allowed_verbs(planned.statement for planned in statements)
    if not statements:
        raise SchemaToolError(f"{entry.path.name}: its files hold no statements")
    manifest = entry.manifest
    return VersionStep(
        version=manifest.curr_version,
        min_compatible_version=manifest.min_compatible_version,
        description=manifest.description,
        manifest_md5=manifest.md5,
        file_checksums=checksums,
        statements=tuple(statements),
    )


def load_file_step(path: Path, version: Version) -> VersionStep:
    """A ``setup-schema --schema-file`` run as a step: one file, labelled ``version``."""
    data, statements = _statements_of(path, path.name, 0)
    check_allowed_verbs(planned.statement for planned in statements)
    return VersionStep(
        version=version,
        min_compatible_version=version,
        description="initial version",
        manifest_md5="",
        file_checksums={path.name: file_sha256(data)},
        statements=tuple(statements),
    )


def build_update_plan(schema_set: SchemaSet, current: str | None, target: Version) -> UpdatePlan:
    """The steps taking the stored version ``current`` to ``target``, every file validated."""
    current_version = parse_version(current) if current is not None else None
    versions = plan_versions((e.version for e in schema_set.versions), current_version, target)
    steps = []
    for version in versions:
        entry = schema_set.get(version)
        assert entry is not None
        steps.append(load_version_step(entry))
    return UpdatePlan(current=current, target=target, steps=tuple(steps))
