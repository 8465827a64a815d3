"""Schema versions, manifests and versioned directories, in Temporal's format; pure planning.

A schema set is a ``versioned/`` directory holding one ``vX.Y/`` directory per version, each
with a ``manifest.json``::

    {"CurrVersion": "1.1", "MinCompatibleVersion": "1.0",
     "Description": "...", "SchemaUpdateCqlFiles": ["a.cql", "b.cql"]}

The directory name must equal ``CurrVersion`` (with the leading ``v``). Versions compare the
way Temporal's tool compares them: numerically and tolerantly (``1`` == ``1.0`` == ``1.0.0``).
Everything here except :func:`read_schema_set` is free of I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import total_ordering
from pathlib import Path
from typing import Any

from persistence_cassandra.errors import SchemaToolError

__all__ = [
    "Manifest",
    "SchemaSet",
    "Version",
    "VersionDir",
    "compare_versions",
    "find_schema_set",
    "parse_manifest",
    "parse_version",
    "plan_versions",
    "read_schema_set",
]

_VERSION_TEXT = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_VERSION_DIR = re.compile(r"^v[\d.]+$")


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A schema version such as ``1.2``; equality and order ignore how it was written."""

    major: int
    minor: int
    patch: int
    text: str
    """As written (without a leading ``v``): what is stored in ``schema_version``."""

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> Version:
    """``"1.2"``, ``"v1.2"``, ``"1"`` or ``"1.2.0"`` → :class:`Version`; else an error."""
    stripped = str(text).strip()
    match = _VERSION_TEXT.fullmatch(stripped)
    if match is None:
        raise SchemaToolError(f"invalid schema version {text!r} (expected a form like 1.2)")
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return Version(major, minor, patch, stripped.removeprefix("v"))


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as ``left`` is older than, equal to or newer than ``right``."""
    a, b = parse_version(left), parse_version(right)
    return (a > b) - (a < b)


@dataclass(frozen=True, slots=True)
class Manifest:
    """One ``manifest.json``."""

    curr_version: Version
    min_compatible_version: Version
    description: str
    files: tuple[str, ...]
    md5: str
    """MD5 of the manifest's bytes, as Temporal stores it in ``schema_update_history``."""


def parse_manifest(data: bytes, *, where: str = "manifest.json") -> Manifest:
    """Validate a manifest's bytes; errors name ``where`` and the field."""
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaToolError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise SchemaToolError(f"{where}: expected a JSON object")
    for required in ("CurrVersion", "MinCompatibleVersion"):
        if not isinstance(document.get(required), str) or not document[required].strip():
            raise SchemaToolError(f'{where}: {required} is required (a string such as "1.0")')
    files = document.get("SchemaUpdateCqlFiles")
    if (
        not isinstance(files, list)
        or not files
        or not all(isinstance(name, str) and name.strip() for name in files)
    ):
        raise SchemaToolError(f"{where}: SchemaUpdateCqlFiles must be a non-empty list of names")
    description = document.get("Description", "")
    if not isinstance(description, str):
        raise SchemaToolError(f"{where}: Description must be a string")
    current = parse_version(document["CurrVersion"])
    minimum = parse_version(document["MinCompatibleVersion"])
    if minimum > current:
        raise SchemaToolError(
            f"{where}: MinCompatibleVersion {minimum} is newer than CurrVersion {current}"
        )
    return Manifest(
        curr_version=current,
        min_compatible_version=minimum,
        description=description,
        files=tuple(name.strip() for name in files),
        md5=hashlib.md5(data).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class VersionDir:
    """One ``vX.Y/`` directory and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def version(self) -> Version:
        return self.manifest.curr_version

    def file_path(self, name: str) -> Path:
        return self.path / name


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """A ``versioned/`` directory: every version, oldest first."""

    root: Path
    versions: tuple[VersionDir, ...]

    @property
    def latest(self) -> Version:
        return self.versions[-1].version

    def get(self, version: Version) -> VersionDir | None:
        return next((entry for entry in self.versions if entry.version == version), None)

    def resolve_target(self, target: str | None) -> Version:
        """The version to update to: ``target`` (which must exist here) or the latest."""
        if target is None:
            return self.latest
        wanted = parse_version(target)
        if self.get(wanted) is None:
            known = ", ".join(str(entry.version) for entry in self.versions)
            raise SchemaToolError(
                f"target version {target} is not in {self.root} (available: {known})"
            )
        return wanted


def plan_versions(
    available: Iterable[Version], current: Version | None, target: Version
) -> list[Version]:
    """The versions to apply, oldest first: those in (``current``, ``target``].

    ``current`` ``None`` means nothing was ever applied. A ``target`` older than ``current`` is
    an error: the tool does not downgrade.
    """
    if current is not None and target < current:
        raise SchemaToolError(
            f"the stored schema version {current} is newer than the target {target}; "
            "downgrades are not supported"
        )
    return sorted(v for v in set(available) if (current is None or v > current) and v <= target)


def _check_unique(versions: Sequence[VersionDir]) -> None:
    seen: dict[Version, Path] = {}
    for entry in versions:
        if entry.version in seen:
            raise SchemaToolError(
                f"{entry.path.name} and {seen[entry.version].name} are the same version "
                f"({entry.version})"
            )
        seen[entry.version] = entry.path


def read_schema_set(root: Path) -> SchemaSet:
    """Read every ``vX.Y/manifest.json`` under ``root`` and check each against its directory.

    ``root`` may be the ``versioned/`` directory itself or its parent (``schema/<db>/<name>``).
    """
    root = Path(root)
    if not root.is_dir():
        raise SchemaToolError(f"schema directory {root} does not exist")
    if (root / "versioned").is_dir() and not any(
        _VERSION_DIR.match(p.name) for p in root.iterdir()
    ):
        root = root / "versioned"
    entries: list[VersionDir] = []
    for directory in sorted(root.iterdir()):
        if not directory.is_dir() or not _VERSION_DIR.match(directory.name):
            continue
        manifest_path = directory / "manifest.json"
        where = f"{directory.name}/manifest.json"
        try:
            data = manifest_path.read_bytes()
        except FileNotFoundError:
            raise SchemaToolError(f"{directory}: no manifest.json") from None
        manifest = parse_manifest(data, where=where)
        if manifest.curr_version.text != directory.name.removeprefix("v"):
            raise SchemaToolError(
                f"{where}: CurrVersion {manifest.curr_version.text} does not match the "
                f"directory name {directory.name}"
            )
        for name in manifest.files:
            if not (directory / name).is_file():
                raise SchemaToolError(f"{where}: listed file {name} does not exist")
        entries.append(VersionDir(directory, manifest))
    if not entries:
        raise SchemaToolError(f"{root} holds no vX.Y version directories")
    entries.sort(key=lambda entry: entry.version)
    _check_unique(entries)
    return SchemaSet(root, tuple(entries))


def find_schema_set(directory: Path | str | None = None, name: str | None = None) -> SchemaSet:
    """The schema set in ``directory``, or the bundled one called ``name`` (exactly one).

    ``name`` is ``<backend>/<schema>`` as laid out under the top-level ``schema/`` directory,
    for example ``cassandra/persistence`` or ``postgresql/persistence``.
    """
    if (directory is None) == (name is None):
        raise SchemaToolError("give exactly one of --schema-dir (-d) and --schema-name")
    if directory is not None:
        return read_schema_set(Path(directory))
    from persistence_cassandra.schema_files import bundled_schema_dir

    assert name is not None
    try:
        base = bundled_schema_dir()
    except FileNotFoundError as exc:
        raise SchemaToolError(str(exc)) from None
    clean = name.strip("/").removesuffix("/versioned")
    candidate = base / clean / "versioned"
    if ".." in Path(clean).parts or not candidate.is_dir():
        known = sorted(
            str(path.parent.relative_to(base))
            for path in base.glob("*/*/versioned")
            if path.is_dir()
        )
        raise SchemaToolError(
            f"no bundled schema named {name!r} (known: {', '.join(known) or 'none'})"
        )
    return read_schema_set(candidate)
