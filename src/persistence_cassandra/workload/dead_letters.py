"""Poison transfer tasks, parked in a history-task DLQ and replayed from it, as a history
service does with a task whose processing keeps failing.

Every :data:`POISON_EVERY`-th transfer task (by task id) fails its first delivery. Instead of
blocking the shard's queue (or losing the task), the handler parks it in the run's DLQ of the
transfer category and the queue moves on (the task is then range-completed with its page, like
any other). The replayer reads the DLQ back soon after, delivers each parked task again (a
retry succeeds), and acknowledges what it replayed with one range delete.

A timed-out enqueue may or may not have parked its task, so it is sent again and the replayer
skips a task it already delivered. The integrity check then asks for an empty DLQ, as many
replays as parked tasks, and no task replayed twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from persistence_cassandra.managers.history_task_dlq import HistoryTaskDLQ, HistoryTaskDLQKey
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import HistoryTask, TaskCategory
from persistence_cassandra.workload.report import Counters, Violation, ViolationLog
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = ["POISON_EVERY", "DeadLetterReplayer"]

POISON_EVERY = 40
"""One transfer task in this many (by task id) is poison on its first delivery."""
REPLAY_DELAY_SECONDS = 0.02
"""How long parked tasks wait before a replay (a few arrive together)."""
PAGE_SIZE = 100

Handler = Callable[[HistoryTask], Awaitable[None]]


class DeadLetterReplayer:
    def __init__(
        self,
        persistence: Persistence,
        run_tag: str,
        violations: ViolationLog,
        counters: Counters,
    ) -> None:
        self._dlq = persistence.history_task_dlq
        # The run's own DLQ: source and target cluster are the run (one cluster replicating
        # to itself), so runs sharing a store never replay each other's tasks.
        self.key = HistoryTaskDLQKey(int(TaskCategory.TRANSFER), run_tag, run_tag)
        self._violations = violations
        self._counters = counters
        self._inner: Handler | None = None
        self._parked: set[HistoryTask] = set()
        self._replayed: set[HistoryTask] = set()
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()

    def wrap(self, handle: Handler) -> Handler:
        """``handle`` with poison tasks parked instead of delivered the first time."""
        self._inner = handle

        async def deliver(task: HistoryTask) -> None:
            if task.key.task_id % POISON_EVERY or task in self._parked:
                await handle(task)
                return
            self._parked.add(task)
            await retry_idempotent(self._enqueue, task)
            self._counters.poison_tasks_parked += 1
            self._wake.set()

        return deliver

    async def _enqueue(self, task: HistoryTask) -> int:
        return await self._dlq.enqueue_task(self.key, task)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(REPLAY_DELAY_SECONDS)
            await self.replay()

    async def replay(self) -> None:
        """Deliver every parked task again and acknowledge them: one pass over the DLQ."""
        assert self._inner is not None, "wrap() a handler first"
        async with self._busy:
            token = b""
            try:
                while True:
                    page = await retry_idempotent(self._dlq.read_tasks, self.key, PAGE_SIZE, token)
                    for parked in page.items:
                        if parked.task in self._replayed:
                            continue  # parked twice by a resent enqueue
                        await self._inner(parked.task)
                        self._replayed.add(parked.task)
                        self._counters.poison_tasks_replayed += 1
                    if page.items:
                        last = page.items[-1].message_id
                        await retry_idempotent(self._dlq.delete_tasks, self.key, last)
                    token = page.next_page_token
                    if not token:
                        return
            except Exception as error:
                self._violations.add(
                    f"dead-letter queue {self.key.queue_name}",
                    f"replay failed: {type(error).__name__}: {error}",
                )

    async def check(self) -> list[Violation]:
        """After the run: nothing left parked, every parked task replayed exactly once."""
        where = f"dead-letter queue {self.key.queue_name}"
        problems: list[Violation] = []
        left = await retry_idempotent(HistoryTaskDLQ.read_tasks, self._dlq, self.key, 10)
        if left.items:
            ids = [p.task.key.task_id for p in left.items]
            problems.append(Violation(where, f"tasks still parked: {ids}"))
        if self._parked != self._replayed:
            missing = sorted(t.key.task_id for t in self._parked - self._replayed)
            problems.append(Violation(where, f"parked tasks never replayed: {missing[:5]}"))
        if self._counters.poison_tasks_replayed != len(self._replayed):
            problems.append(Violation(where, "a parked task was replayed twice"))
        return problems
