"""medusa's own virtual environment, created from the package index on first use and cached.

cassandra-medusa pins every dependency exactly (``cassandra-driver==3.29.2`` among them) and
monkey-patches the standard library with gevent when its CLI is imported, so it can share
neither our environment nor our process: it gets a venv of its own under
``~/.cache/persistence-cassandra/medusa-<version>`` and is run as a command.

``PC_MEDUSA_BIN`` names a medusa installed some other way (pipx, a package) and skips all of
this; ``PC_MEDUSA_HOME`` moves the venv; ``PC_MEDUSA_PYTHON`` picks its interpreter. pip is
used as configured (``PIP_INDEX_URL`` and the like reach it unchanged).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from persistence_cassandra.backup.errors import BackupError

__all__ = [
    "MEDUSA_REQUIREMENT",
    "MEDUSA_VERSION",
    "default_medusa_home",
    "ensure_medusa",
]

MEDUSA_VERSION = "0.31.0"
MEDUSA_REQUIREMENT = f"cassandra-medusa=={MEDUSA_VERSION}"
INSTALL_TIMEOUT = 1200.0
"""Seconds for creating the venv: 63 packages, a few minutes on two cores."""
_MARKER = ".pc-medusa-complete.json"
_PYTHONS = ((3, 11), (3, 12))
"""medusa 0.31.0 declares Requires-Python >=3.11,<3.13."""

Progress = Callable[[str], None]


def _cache_root() -> Path:
    explicit = os.environ.get("PC_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "persistence-cassandra"


def default_medusa_home() -> Path:
    explicit = os.environ.get("PC_MEDUSA_HOME", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return _cache_root() / f"medusa-{MEDUSA_VERSION}"


def _python_version(executable: str) -> tuple[int, int] | None:
    try:
        done = subprocess.run(
            [executable, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = done.stdout.split()
    return (int(parts[0]), int(parts[1])) if done.returncode == 0 and len(parts) == 2 else None


def _find_python() -> str:
    explicit = os.environ.get("PC_MEDUSA_PYTHON", "").strip()
    if explicit:
        return explicit
    candidates = [sys.executable] + [
        found for name in ("python3.11", "python3.12") if (found := shutil.which(name))
    ]
    for candidate in candidates:
        if _python_version(candidate) in _PYTHONS:
            return candidate
    raise BackupError(
        f"medusa {MEDUSA_VERSION} needs Python 3.11 or 3.12 for its environment and none was "
        "found: install python3.11 (apt-get install python3.11-venv) or set PC_MEDUSA_PYTHON"
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One creator at a time (parallel test workers, two commands at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _medusa_in(home: Path) -> Path:
    return home / "bin" / "medusa"


def _complete(home: Path) -> bool:
    marker = home / _MARKER
    if not marker.is_file() or not _medusa_in(home).is_file():
        return False
    with contextlib.suppress(OSError, ValueError):
        return bool(json.loads(marker.read_text()).get("version") == MEDUSA_VERSION)
    return False


def _pip_failure(output: str) -> BackupError:
    """What is missing, in one line, from pip's output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    index = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    unreachable = any(
        word in output
        for word in (
            "No matching distribution",
            "Could not find a version",
            "NewConnectionError",
            "Failed to establish",
            "Connection refused",
            "Temporary failure in name resolution",
            "Max retries exceeded",
        )
    )
    if unreachable:
        return BackupError(
            f"cannot create medusa's environment: {MEDUSA_REQUIREMENT} and its dependencies "
            f"could not be fetched from the package index ({index}); make the index reachable "
            "(or set PIP_INDEX_URL to a mirror holding them), or install medusa yourself and "
            "set PC_MEDUSA_BIN=/path/to/medusa"
        )
    last = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1:])
    return BackupError(
        f"cannot create medusa's environment: pip install {MEDUSA_REQUIREMENT} failed: {last}; "
        "install medusa yourself and set PC_MEDUSA_BIN=/path/to/medusa"
    )


def _create(home: Path, progress: Progress) -> None:
    """Build the venv at ``home`` itself (a venv's scripts name their interpreter by absolute
    path, so it cannot be built elsewhere and moved); the marker, written last, says it is
    complete, and a failed attempt is removed."""
    python = _find_python()
    if home.exists():
        shutil.rmtree(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    progress(f"creating medusa's environment ({MEDUSA_REQUIREMENT}) in {home} ...")
    try:
        made = subprocess.run(
            [python, "-m", "venv", str(home)], capture_output=True, text=True, timeout=300
        )
        if made.returncode != 0:
            raise BackupError(
                f"cannot create medusa's environment: {python} -m venv failed "
                f"({made.stderr.strip()[-300:]}); install python3.11-venv"
            )
        try:
            done = subprocess.run(
                [
                    str(home / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                    MEDUSA_REQUIREMENT,
                ],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackupError(
                f"cannot create medusa's environment: pip install {MEDUSA_REQUIREMENT} took "
                f"over {INSTALL_TIMEOUT:.0f}s; install medusa yourself and set PC_MEDUSA_BIN"
            ) from None
        if done.returncode != 0:
            raise _pip_failure(done.stdout + done.stderr)
        marker = {"version": MEDUSA_VERSION, "python": python}
        (home / _MARKER).write_text(json.dumps(marker) + "\n")
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    progress(f"medusa's environment ready in {time.monotonic() - started:.0f}s")


def ensure_medusa(progress: Progress | None = None) -> Path:
    """The ``medusa`` executable: ``PC_MEDUSA_BIN``, or the cached venv's, created first if it
    does not exist yet. Raises :class:`BackupError` naming what is missing."""
    say = progress or (lambda _message: None)
    explicit = os.environ.get("PC_MEDUSA_BIN", "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BackupError(f"PC_MEDUSA_BIN={explicit}: no such file")
        return path
    home = default_medusa_home()
    if _complete(home):
        return _medusa_in(home)
    with _locked(home.parent / f".{home.name}.lock"):
        if not _complete(home):
            _create(home, say)
    return _medusa_in(home)
