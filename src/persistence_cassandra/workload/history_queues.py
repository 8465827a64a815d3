"""The shard's history task queues, processed as a history service processes them.

**Transfer** (immediate) tasks are read in task id order up to the shard's read level, handed to
a handler (which pushes matching tasks or delivers signals), then deleted with one range
completion per page. **Timer** (scheduled) tasks are read in (fire time, task id) order up to
"now", each waking the workflow that waits for it, then deleted by range as well.

Both queues check what they read: ids and keys strictly ascending and never below what was
already acknowledged, no timer read before its fire time, no due timer of this run left unread.
A broken expectation is recorded as a violation rather than raised, so one bad task does not
stop the queue for every other workflow of the shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from persistence_cassandra.errors import ShardOwnershipLost
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    EPOCH,
    GetHistoryTasksRequest,
    HistoryTask,
    TaskCategory,
    TaskKey,
    truncate_to_ms,
)
from persistence_cassandra.workload.report import Counters, ViolationLog
from persistence_cassandra.workload.shards import ShardOwner
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = ["PAGE_SIZE", "TimerQueue", "TransferQueue"]

PAGE_SIZE = 100


class TransferQueue:
    """Immediate tasks of one shard, read in task id order."""

    def __init__(
        self,
        persistence: Persistence,
        shard: ShardOwner,
        handle: Callable[[HistoryTask], Awaitable[None]],
        violations: ViolationLog,
        counters: Counters,
    ) -> None:
        self._persistence = persistence
        self._shard = shard
        self._handle = handle
        self._violations = violations
        self._counters = counters
        self.ack_level = shard.transfer_read_level
        """Every transfer task at or below this id has been processed and deleted."""
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()
        self._where = f"shard {shard.shard_id} transfer queue"

    def notify(self) -> None:
        """A transfer task was committed."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.process()

    async def process(self) -> None:
        """Process everything up to the shard's current read level."""
        async with self._busy:
            while self.ack_level < self._shard.transfer_read_level and not self._shard.lost:
                level = self._shard.transfer_read_level
                try:
                    await self._process_until(level)
                except Exception as error:
                    self._violations.add(self._where, f"processing failed: {_describe(error)}")
                    return

    async def _process_until(self, level: int) -> None:
        execution = self._persistence.execution
        shard_id = self._shard.shard_id
        while True:
            # Re-read from the ack level each time: what was processed is already deleted.
            request = GetHistoryTasksRequest(
                shard_id,
                TaskCategory.TRANSFER,
                TaskKey.immediate(self.ack_level + 1),
                TaskKey.immediate(level + 1),
                PAGE_SIZE,
            )
            page = await retry_idempotent(execution.get_history_tasks, request)
            previous = self.ack_level
            for task in page.items:
                if not previous < task.key.task_id <= level:
                    self._violations.add(
                        self._where,
                        f"task {task.key.task_id} read out of order or range "
                        f"(after {previous}, up to {level})",
                    )
                previous = max(previous, task.key.task_id)
            results = await asyncio.gather(
                *(self._handle(task) for task in page.items), return_exceptions=True
            )
            for task, result in zip(page.items, results, strict=True):
                if isinstance(result, BaseException):
                    self._violations.add(
                        self._where, f"task {task.key.task_id}: {_describe(result)}"
                    )
            self._counters.transfer_tasks += len(page.items)
            if page.items:
                done = (TaskKey.immediate(self.ack_level + 1), TaskKey.immediate(previous + 1))
                await retry_idempotent(
                    execution.range_complete_history_tasks, shard_id, TaskCategory.TRANSFER, *done
                )
                self.ack_level = previous
            if len(page.items) < PAGE_SIZE and not page.next_page_token:
                self.ack_level = level
                return


class TimerQueue:
    """Scheduled tasks of one shard, read in (fire time, task id) order when due."""

    def __init__(
        self,
        persistence: Persistence,
        shard: ShardOwner,
        violations: ViolationLog,
        counters: Counters,
        *,
        own_tasks_only: bool = False,
    ) -> None:
        self._persistence = persistence
        self._shard = shard
        self._violations = violations
        self._counters = counters
        self._own_tasks_only = own_tasks_only
        """Delete only this owner's timers, one by one, never by range: in a member group a
        paused owner that resumes past its lease must not delete the new owner's timers
        (task deletion is not fenced by the range id)."""
        self._ack = TaskKey(EPOCH, 0)
        self._read_level = EPOCH
        self._due: list[tuple[datetime, int]] = []
        self._waiters: dict[int, asyncio.Future[datetime]] = {}
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()
        self._where = f"shard {shard.shard_id} timer queue"

    def earliest_fire_time(self, fire_time: datetime) -> datetime:
        """The fire time a new timer task gets (call under the shard lock): never at or
        before the last due read, which could otherwise have passed it while it was being
        written, leaving it unread."""
        return max(fire_time, self._read_level + timedelta(milliseconds=1))

    def expect(self, task_id: int) -> asyncio.Future[datetime]:
        """Register the waiter of a timer task before its write; resolves with the time the
        timer was read."""
        future: asyncio.Future[datetime] = asyncio.get_running_loop().create_future()
        self._waiters[task_id] = future
        return future

    def forget(self, task_id: int) -> None:
        """The write of that timer failed."""
        future = self._waiters.pop(task_id, None)
        if future is not None:
            future.cancel()

    def scheduled(self, key: TaskKey) -> None:
        """A timer task was committed."""
        heapq.heappush(self._due, (key.fire_time, key.task_id))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._waiters)

    async def run(self) -> None:
        while True:
            if not self._due:
                await self._wake.wait()
                self._wake.clear()
                continue
            delay = (self._due[0][0] - datetime.now(UTC)).total_seconds()
            if delay > 0:
                # An earlier timer may be scheduled meanwhile: wake on it too.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                continue
            await self.fire()
            if self._shard.lost:
                # fire() reads nothing for a lost shard, so what is due stays due: looping on
                # would never yield to the loop again (the group, which gives the shard and
                # its waiting workflows up, could not run). The queue is done.
                return

    async def fire(self) -> None:
        """Read and deliver every timer due now."""
        async with self._busy:
            if self._shard.lost:
                return
            # Under the shard lock: every timer write that started earlier has finished, and
            # every later one will fire after `now` (see earliest_fire_time).
            async with self._shard.lock:
                now = truncate_to_ms(datetime.now(UTC))
                self._read_level = now
            try:
                await self._read_due(now)
            except Exception as error:
                # Carry on: the due timers below then fail their workflows, rather than the
                # queue retrying the read in a tight loop.
                self._violations.add(self._where, f"reading due timers failed: {_describe(error)}")
            begin, end = self._shard.id_bounds
            while self._due and self._due[0][0] <= now:
                _, task_id = heapq.heappop(self._due)
                future = self._waiters.pop(task_id, None)
                if future is not None and not future.done() and begin <= task_id < end:
                    if not await self._still_owned():
                        # A new owner took the shard and its timers: not a lost timer.
                        future.set_exception(ShardOwnershipLost(self._shard.shard_id, "moved"))
                        continue
                    self._violations.add(
                        self._where, f"timer task {task_id} was due but not read by the due read"
                    )
                    future.set_exception(LookupError(f"timer task {task_id} never fired"))

    async def _still_owned(self) -> bool:
        try:
            return await self._shard.still_owned()
        except Exception:
            return True  # cannot tell: report what was seen

    async def _read_due(self, now: datetime) -> None:
        execution = self._persistence.execution
        # Exclusive bound (now + 1 ms, 0): includes every task due at `now` (task ids are > 0).
        upper = TaskKey(now + timedelta(milliseconds=1), 0)
        begin, end = self._shard.id_bounds
        while True:
            request = GetHistoryTasksRequest(
                self._shard.shard_id, TaskCategory.TIMER, self._ack, upper, PAGE_SIZE
            )
            page = await retry_idempotent(execution.get_history_tasks, request)
            last = self._ack
            for task in page.items:
                key = task.key
                if key < last or key.fire_time > now:
                    self._violations.add(
                        self._where,
                        f"timer task {key.task_id} (fires {key.fire_time.isoformat()}) read out "
                        f"of fire-time order or before it was due",
                    )
                last = max(last, key)
                future = self._waiters.pop(key.task_id, None)
                if future is not None:
                    if not future.done():
                        future.set_result(now)
                    self._counters.timers_fired += 1
                elif begin <= key.task_id < end:
                    self._violations.add(
                        self._where, f"timer task {key.task_id} fired but nobody waits for it"
                    )
                else:
                    self._counters.stale_timers += 1
            if page.items:
                after_last = TaskKey(last.fire_time, last.task_id + 1)
                if self._own_tasks_only:
                    for task in page.items:
                        if begin <= task.key.task_id < end:
                            await retry_idempotent(
                                execution.complete_history_task,
                                self._shard.shard_id,
                                TaskCategory.TIMER,
                                task.key,
                            )
                else:
                    await retry_idempotent(
                        execution.range_complete_history_tasks,
                        self._shard.shard_id,
                        TaskCategory.TIMER,
                        self._ack,
                        after_last,
                    )
                self._ack = after_last
            if len(page.items) < PAGE_SIZE and not page.next_page_token:
                return


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
