"""Where the versioned schema files that ship with the package live."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_schema_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_BACKEND_DIRS = ("cassandra", "sqlite", "postgresql")


def _looks_like_schema_dir(candidate: Path) -> bool:
    return candidate.is_dir() and any((candidate / name).is_dir() for name in _BACKEND_DIRS)


def bundled_schema_dir() -> Path:
    """The top-level ``schema/`` directory (``<backend>/<name>/versioned/vX.Y/``).

    An installed package carries it as ``bundled_schema``; a source checkout finds the
    repository's ``schema/`` by walking up from the package (the package's own ``schema``
    module, the migration engine, is skipped because it holds no backend directories).
    """
    bundled = _PACKAGE_DIR / "bundled_schema"
    if _looks_like_schema_dir(bundled):
        return bundled
    for parent in _PACKAGE_DIR.parents:
        candidate = parent / "schema"
        if _looks_like_schema_dir(candidate):
            return candidate
    raise FileNotFoundError(
        f"no schema directory found: expected {bundled} or a schema/ directory above {_PACKAGE_DIR}"
    )
