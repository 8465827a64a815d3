"""Which processes use a stand's node, so that the last one out stops it.

Each process using the node holds a lease: a file named by its pid in ``<stand>/leases``. Start
and stop happen under one lock file, so a process never reuses a node another is stopping. A
marker file records that a stand (not a person) started the node: only then may the last lease
holder stop it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NodeLeases"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NodeLeases:
    """The processes using a stand's node, so that the last one out stops it."""

    def __init__(self, directory: Path) -> None:
        self._leases = directory / "leases"
        self._lock = directory / ".leases.lock"
        self._started_marker = directory / "node-started-by-stand"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while starting or stopping, so no process reuses a node being stopped."""
        self._lock.parent.mkdir(parents=True, exist_ok=True)
        with self._lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def acquire(self) -> None:
        self._leases.mkdir(parents=True, exist_ok=True)
        (self._leases / str(os.getpid())).touch()

    def release(self) -> bool:
        """Drop this process's lease; True if another live process still holds one."""
        (self._leases / str(os.getpid())).unlink(missing_ok=True)
        others = False
        for lease in self._leases.glob("*") if self._leases.is_dir() else ():
            if lease.name.isdigit() and _pid_alive(int(lease.name)):
                others = True
            else:
                lease.unlink(missing_ok=True)  # left by a process that died
        return others

    def mark_started(self, started: bool) -> None:
        if started:
            self._started_marker.touch()
        else:
            self._started_marker.unlink(missing_ok=True)

    @property
    def started_by_stand(self) -> bool:
        return self._started_marker.exists()
