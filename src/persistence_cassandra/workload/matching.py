"""A task queue owned as a matching service owns it: a range-id lease, one batching writer,
a reader that dispatches tasks to waiting pollers, and an ack level that deletes what is done.

* **Lease.** Taking the queue bumps its range id (``update_task_queue`` conditional on the
  range id read); ``create_tasks`` is conditional on it, so a fenced-out owner can add nothing.
  Task ids come from the lease's block, like a shard's.
* **Writer.** Adds are queued and written by one loop, many per ``create_tasks`` call, so task
  ids reach the store in order and the read level (the last id written) never passes a task
  that is still being written.
* **Reader.** Reads ``(read level, max read level]`` in task id order and hands each task to
  the poller that registered its token; a task nobody waits for is a violation.
* **Ack level.** A task is done when its poller acknowledges it; the queue deletes everything
  below the lowest unacknowledged task with ``complete_tasks_less_than``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from persistence_cassandra.errors import ConditionFailed, NotFound, Timeout
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
)
from persistence_cassandra.workload.payloads import TaskPayload, json_blob
from persistence_cassandra.workload.report import Counters, ViolationLog
from persistence_cassandra.workload.shards import id_block
from persistence_cassandra.workload.writes import retry_idempotent, take_lease

__all__ = ["TaskQueueOwner"]

MAX_BATCH = 100
PAGE_SIZE = 100


@dataclass(slots=True)
class _Add:
    payload: TaskPayload
    done: asyncio.Future[None]


class TaskQueueOwner:
    """One task queue leased by this process."""

    def __init__(
        self,
        persistence: Persistence,
        key: TaskQueueKey,
        owner: str,
        violations: ViolationLog,
        counters: Counters,
    ) -> None:
        self.key = key
        self.range_id = 0
        self.first_range_id = 0
        self.read_level = 0
        """Every task at or below this id has been dispatched."""
        self._persistence = persistence
        self._owner = owner
        self._violations = violations
        self._counters = counters
        self._next_id = 0
        self._block_end = 0
        self._max_read_level = 0
        self._completed_level = 0
        self._outstanding: set[int] = set()
        self._waiters: dict[str, asyncio.Future[int]] = {}
        self._adds: list[_Add] = []
        self._write_wake = asyncio.Event()
        self._read_wake = asyncio.Event()
        self._busy = asyncio.Lock()
        self._where = f"task queue {key.name}"

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def id_bounds(self) -> tuple[int, int]:
        return id_block(self.first_range_id)[0], id_block(self.range_id)[1]

    # ------------------------------------------------------------------ lease

    async def acquire(self) -> None:
        store = self._persistence.task
        try:
            record = await retry_idempotent(store.get_task_queue, self.key)
        except NotFound:
            # Another owner may create it first: then take it over from that owner below. An
            # unknown outcome (Timeout) is settled by the read that follows either way.
            with contextlib.suppress(ConditionFailed, Timeout):
                await store.create_task_queue(TaskQueueRecord(self.key, 1, self._info(1)))
            record = await retry_idempotent(store.get_task_queue, self.key)
        await self._take_range(record.range_id)
        self.first_range_id = self.range_id
        self.read_level = self._max_read_level = self._completed_level = self._next_id - 1

    def _info(self, range_id: int) -> DataBlob:
        return json_blob({"owner": self._owner, "range_id": range_id})

    async def _take_range(self, previous_range_id: int) -> None:
        """Bump the lease; an unknown outcome is settled by reading the stored queue
        (:func:`~persistence_cassandra.workload.writes.send_conditional`)."""
        range_id = previous_range_id + 1
        info = self._info(range_id)
        store = self._persistence.task
        holder = await take_lease(
            lambda: store.update_task_queue(
                TaskQueueRecord(self.key, range_id, info), previous_range_id
            ),
            lambda: store.get_task_queue(self.key),
            range_id,
            info,
            previous_range_id,
            refused=ConditionFailed,
        )
        if holder is not None:
            raise ConditionFailed(f"{self._where}: taken by another owner (range_id={holder})")
        self.range_id = range_id
        self._next_id, self._block_end = id_block(range_id)

    # ------------------------------------------------------------------ pollers

    def expect(self, token: str) -> asyncio.Future[int]:
        """Register a poller for the task carrying ``token`` (before the task can exist);
        resolves with the task id."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[token] = future
        return future

    def forget(self, token: str) -> None:
        future = self._waiters.pop(token, None)
        if future is not None:
            future.cancel()

    def ack(self, task_id: int) -> None:
        """The poller is done with the task: it may be deleted."""
        self._outstanding.discard(task_id)
        self._read_wake.set()

    @property
    def pending(self) -> int:
        return len(self._waiters)

    # ------------------------------------------------------------------ writer

    async def add(self, payload: TaskPayload) -> None:
        """Persist a task; returns once it is stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._adds.append(_Add(payload, done))
        self._write_wake.set()
        await done

    async def run_writer(self) -> None:
        while True:
            await self._write_wake.wait()
            self._write_wake.clear()
            while self._adds:
                batch, self._adds = self._adds[:MAX_BATCH], self._adds[MAX_BATCH:]
                try:
                    await self._write(batch)
                except Exception as error:
                    for add in batch:
                        if not add.done.done():
                            add.done.set_exception(error)
                    continue
                for add in batch:
                    if not add.done.done():
                        add.done.set_result(None)

    async def _write(self, batch: list[_Add]) -> None:
        if self._next_id + len(batch) > self._block_end:
            await self._take_range(self.range_id)
            self._counters.range_renewals += 1
        first = self._next_id
        self._next_id += len(batch)
        tasks = [TaskRecord(first + i, add.payload.blob()) for i, add in enumerate(batch)]
        request = CreateTasksRequest(self.key, self.range_id, tasks)
        # Tasks are upserts keyed by id: after a timeout, writing them again is safe.
        await retry_idempotent(lambda: self._persistence.task.create_tasks(request))
        self._counters.matching_tasks += len(tasks)
        self._max_read_level = tasks[-1].task_id
        self._read_wake.set()

    # ------------------------------------------------------------------ reader

    async def run_reader(self) -> None:
        while True:
            await self._read_wake.wait()
            self._read_wake.clear()
            await self.dispatch()

    async def dispatch(self) -> None:
        """Deliver every written task to its poller, then delete what was acknowledged."""
        async with self._busy:
            try:
                await self._read_until(self._max_read_level)
                await self._complete_acknowledged()
            except Exception as error:
                self._violations.add(
                    self._where, f"dispatch failed: {type(error).__name__}: {error}"
                )

    async def _read_until(self, level: int) -> None:
        token = b""
        previous = self.read_level
        while self.read_level < level:
            page = await retry_idempotent(
                self._persistence.task.get_tasks,
                GetTasksRequest(self.key, self.read_level + 1, level + 1, PAGE_SIZE, token),
            )
            for task in page.items:
                self._deliver(task, previous, level)
                previous = max(previous, task.task_id)
            if not page.next_page_token:
                self.read_level = level
                return
            token = page.next_page_token

    def _deliver(self, task: TaskRecord, previous: int, level: int) -> None:
        if not previous < task.task_id <= level:
            self._violations.add(
                self._where,
                f"task {task.task_id} read out of order or range (after {previous}, up to {level})",
            )
        try:
            payload = TaskPayload.decode(task.blob)
        except Exception as error:
            self._violations.add(self._where, f"task {task.task_id}: {error}")
            return
        future = self._waiters.pop(payload.token, None)
        if future is not None and future.cancelled():
            return  # its workflow stopped here (the shard moved): dropped, nothing to ack
        if future is None or future.done():
            self._violations.add(
                self._where, f"task {task.task_id} ({payload.token}) has no waiting poller"
            )
            return
        self._outstanding.add(task.task_id)
        future.set_result(task.task_id)

    async def _complete_acknowledged(self) -> None:
        ack_level = min(self._outstanding) - 1 if self._outstanding else self.read_level
        if ack_level > self._completed_level:
            # A range delete: sent again after a timeout, it deletes the same rows.
            await retry_idempotent(
                self._persistence.task.complete_tasks_less_than, self.key, ack_level + 1
            )
            self._completed_level = ack_level

    async def drain(self) -> None:
        """At the end: everything written must have been dispatched, acknowledged and
        deleted."""
        await self.dispatch()
        if self._outstanding:
            self._violations.add(
                self._where, f"tasks delivered but never acknowledged: {sorted(self._outstanding)}"
            )
        if self._completed_level < self.read_level:
            self._violations.add(
                self._where,
                f"tasks up to {self.read_level} dispatched, only up to "
                f"{self._completed_level} deleted",
            )
