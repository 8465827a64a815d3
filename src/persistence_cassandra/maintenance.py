"""Background maintenance a server runs beside its stores: the task scavenger's schedule.

Where a backend keeps expired matching state until told (SQL has no TTL), something must
delete it periodically. :class:`TaskScavengerSchedule` is that something: one asyncio task
that calls :meth:`~persistence_cassandra.stores.TaskScavenger.scavenge_expired_tasks` every
``interval`` and stops cleanly::

    async with TaskScavengerSchedule.for_persistence(persistence, interval=60.0):
        await serve()

For a backend that needs no scavenging (Cassandra) ``for_persistence`` returns a schedule
that does nothing, so a server runs the same code on every backend. A failing pass is logged
and counted, never fatal: the next pass retries, as the scavenger is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from types import TracebackType

from persistence_cassandra.errors import InvalidRequest, PersistenceError
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.stores import TaskScavenger

__all__ = ["ScavengerStats", "TaskScavengerSchedule"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScavengerStats:
    passes: int = 0
    """Passes that completed."""
    deleted: int = 0
    """Rows the completed passes deleted."""
    failures: int = 0
    """Passes that raised a persistence error (logged, then retried at the next interval)."""


class TaskScavengerSchedule:
    """Runs ``scavenger`` every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self, scavenger: TaskScavenger | None, *, interval: float, batch_limit: int = 1000
    ) -> None:
        if interval <= 0:
            raise InvalidRequest(f"the scavenger interval must be positive, got {interval}")
        if batch_limit < 1:
            raise InvalidRequest(f"batch_limit must be at least 1, got {batch_limit}")
        self._scavenger = scavenger
        self._interval = interval
        self._batch_limit = batch_limit
        self._task: asyncio.Task[None] | None = None
        self.stats = ScavengerStats()

    @classmethod
    def for_persistence(
        cls, persistence: Persistence, *, interval: float, batch_limit: int = 1000
    ) -> TaskScavengerSchedule:
        """The schedule of ``persistence``'s scavenger (idle when it has none)."""
        return cls(persistence.task_scavenger, interval=interval, batch_limit=batch_limit)

    @property
    def active(self) -> bool:
        """Whether there is a scavenger to run (false on TTL backends)."""
        return self._scavenger is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the background task (a no-op without a scavenger or when running)."""
        if self._scavenger is None or self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="task-scavenger")

    async def run_once(self) -> int:
        """One pass now (also what the schedule runs); returns the rows deleted."""
        if self._scavenger is None:
            return 0
        deleted = await self._scavenger.scavenge_expired_tasks(self._batch_limit)
        self.stats.passes += 1
        self.stats.deleted += deleted
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except PersistenceError:
                self.stats.failures += 1
                log.warning("task scavenger pass failed; retrying next interval", exc_info=True)
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        """Cancel the background task and wait for it: a pass in flight is abandoned (its
        committed batches stay deleted; the rest is picked up by the next run)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def __aenter__(self) -> TaskScavengerSchedule:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
