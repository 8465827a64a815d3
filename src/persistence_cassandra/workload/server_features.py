"""The rest of what a matching and a history service store, beside the chains: task-queue user
data, sticky queues and a history-task category registered at run time.

* **User data.** Several workers update the user data of every workload task queue at once,
  as matching partitions do when worker-versioning rules change: read, change, compare-and-set
  on the version, and re-read and retry on a conflict. Each write increments a counter in the
  blob and names its build id; the check reads back that the counter and the version moved by
  exactly the writes that succeeded (a lost update or a double apply shows) and that every
  build id maps to its queue. A write that timed out with an unknown outcome is settled by
  re-reading (the retry helper): its unique token in the blob tells whether it landed.
* **Sticky queues.** One sticky queue per task type, with a short expiry and a task. The check
  waits the expiry out and expects the queue and its task gone (TTL on Cassandra; on SQL the
  scavenger's schedule runs during the workload and once more before the check).
* **Run-time category.** A category this module registers: the check writes tasks of it on
  every shard, reads them back in order and completes them, as for a built-in one.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from persistence_cassandra.errors import (
    NotFound,
    PersistenceError,
    ShardOwnershipLost,
)
from persistence_cassandra.maintenance import TaskScavengerSchedule
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetHistoryTasksRequest,
    GetTasksRequest,
    HistoryTask,
    TaskCategoryType,
    TaskKey,
    TaskQueueKey,
    TaskQueueKind,
    TaskQueueRecord,
    TaskQueueUserData,
    TaskRecord,
    truncate_to_ms,
)
from persistence_cassandra.task_categories import register_task_category
from persistence_cassandra.task_queue_user_data import (
    UserDataChange,
    update_user_data_with_retries,
)
from persistence_cassandra.workload.report import Violation
from persistence_cassandra.workload.state import WorkloadContext
from persistence_cassandra.workload.writes import retry_idempotent

__all__ = ["WORKLOAD_CALLBACK", "ServerFeatures"]

WORKLOAD_CALLBACK = register_task_category(941, "WORKLOAD_CALLBACK", TaskCategoryType.IMMEDIATE)
"""A category the workload registers at run time (as a server with its own queue would)."""

USER_DATA_WORKERS = 4
USER_DATA_WRITES = 5
"""Writes per worker per queue."""
CAS_ATTEMPTS = 200
STICKY_LIFETIME = timedelta(seconds=2)
EXPIRY_MARGIN = timedelta(seconds=1.5)
"""Cassandra TTLs round to whole seconds."""
SCAVENGE_INTERVAL = 0.5


@dataclass(slots=True)
class _QueueData:
    start_counter: int = 0
    start_version: int = 0
    applied: int = 0
    build_ids: set[str] = field(default_factory=set)


RECENT_TOKENS = 64
"""Tokens of the latest writes kept in the blob: enough to settle a timed-out write even
after the other workers wrote on top of it."""


def _user_data(counter: int, tokens: list[str]) -> DataBlob:
    body = {"counter": counter, "recent": tokens[-RECENT_TOKENS:]}
    return DataBlob(json.dumps(body).encode(), "json")


def _counter(entry: TaskQueueUserData | None) -> tuple[int, int, list[str]]:
    if entry is None:
        return 0, 0, []
    body = json.loads(entry.data.data)
    return int(body["counter"]), entry.version, list(body["recent"])


class ServerFeatures:
    """Started after the workload's leases are taken; checked after its chains drained."""

    def __init__(self, context: WorkloadContext) -> None:
        self._context = context
        self._task = context.persistence.task
        # One user-data entry per workload queue and process: processes sharing a store (a
        # group run) each check their own writes exactly.
        tag = context.settings.run_tag
        self._queues = [
            f"{q.name}-{tag}" for q in (*context.workflow_queues, *context.activity_queues)
        ]
        self._data = {name: _QueueData() for name in self._queues}
        self._writers: list[asyncio.Task[None]] = []
        self._sticky: list[TaskQueueRecord] = []
        self._schedule = TaskScavengerSchedule.for_persistence(
            context.persistence, interval=SCAVENGE_INTERVAL
        )
        self._violations: list[Violation] = []
        self._rng = random.Random(context.settings.seed)

    async def start(self) -> None:
        ns = self._context.namespace_id
        for name, data in self._data.items():
            current = await self._read(name)
            data.start_counter, data.start_version, _ = _counter(current)
        self._writers = [
            asyncio.create_task(self._write_user_data(worker))
            for worker in range(USER_DATA_WORKERS)
        ]
        expiry = truncate_to_ms(datetime.now(UTC) + STICKY_LIFETIME)
        for task_type in (1, 2):
            key = TaskQueueKey(ns, f"workload-sticky-{self._context.settings.run_tag}", task_type)
            record = TaskQueueRecord(
                key, 1, DataBlob(b"sticky", "json"), TaskQueueKind.STICKY, expiry
            )
            await self._task.create_task_queue(record)
            await retry_idempotent(
                self._task.create_tasks,
                CreateTasksRequest(
                    key, 1, [TaskRecord(1, DataBlob(b"sticky-task", "json"))], queue_expiry=expiry
                ),
            )
            self._sticky.append(record)
        self._schedule.start()

    async def _read(self, queue: str) -> TaskQueueUserData | None:
        try:
            return await retry_idempotent(
                self._task.get_task_queue_user_data, self._context.namespace_id, queue
            )
        except NotFound:
            return None

    async def _write_user_data(self, worker: int) -> None:
        for round_number in range(USER_DATA_WRITES):
            for queue in self._queues:
                token = f"{self._context.settings.run_tag}-w{worker}-r{round_number}"
                try:
                    await self._write_one(queue, token, f"build-{queue}-{token}")
                except PersistenceError as error:
                    self._violations.append(
                        Violation(f"user data {queue}", f"{token} gave up: {error!r}")
                    )
                    return

    async def _write_one(self, queue: str, token: str, build_id: str) -> None:
        def change(current: TaskQueueUserData | None) -> UserDataChange | None:
            counter, _, recent = _counter(current)
            if token in recent:
                return None  # an earlier attempt that timed out had landed
            return UserDataChange(_user_data(counter + 1, [*recent, token]), frozenset({build_id}))

        await update_user_data_with_retries(
            self._task, self._context.namespace_id, queue, change, attempts=CAS_ATTEMPTS
        )
        self._data[queue].applied += 1
        self._data[queue].build_ids.add(build_id)

    async def finish(self) -> None:
        """Wait for the writers and for the sticky queues to expire, then stop the scavenger
        after one last pass."""
        await asyncio.gather(*self._writers)
        if self._sticky:
            expiry = self._sticky[0].expiry
            assert expiry is not None
            wait = (expiry + EXPIRY_MARGIN - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        await self._schedule.stop()
        await self._schedule.run_once()

    async def close(self) -> None:
        """Cancel what still runs (an interrupted workload); harmless after :meth:`finish`."""
        for writer in self._writers:
            writer.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        await self._schedule.stop()

    async def check(self) -> list[Violation]:
        """Read everything back; the violations found (empty when all is well). A store
        error while checking is a violation too, never an exception."""
        violations = self._violations
        for part, run in (
            ("user data", self._check_user_data),
            ("sticky queues", self._check_sticky),
            (WORKLOAD_CALLBACK.name, self._check_callbacks),
        ):
            try:
                await run(violations)
            except PersistenceError as error:
                violations.append(Violation(part, f"check failed: {error!r}"))
        return violations

    async def _check_user_data(self, violations: list[Violation]) -> None:
        ns = self._context.namespace_id
        for queue, data in self._data.items():
            counter, version, _ = _counter(await self._read(queue))
            if counter != data.start_counter + data.applied:
                violations.append(
                    Violation(
                        f"user data {queue}",
                        f"counter {counter} after {data.applied} writes from "
                        f"{data.start_counter}: an update was lost or applied twice",
                    )
                )
            if version != data.start_version + data.applied:
                violations.append(
                    Violation(
                        f"user data {queue}",
                        f"version {version} after {data.applied} writes from {data.start_version}",
                    )
                )
            for build_id in sorted(data.build_ids)[:3]:
                found = await retry_idempotent(self._task.get_task_queues_by_build_id, ns, build_id)
                if found != [queue]:
                    violations.append(
                        Violation(f"user data {queue}", f"build id {build_id} maps to {found}")
                    )

    async def _check_sticky(self, violations: list[Violation]) -> None:
        for record in self._sticky:
            where = f"sticky queue {record.key.name} (type {record.key.task_type})"
            try:
                await retry_idempotent(self._task.get_task_queue, record.key)
                violations.append(Violation(where, "still there after its expiry"))
            except NotFound:
                pass
            tasks = await retry_idempotent(
                self._task.get_tasks, GetTasksRequest(record.key, 0, 2**62, 10)
            )
            if tasks.items:
                violations.append(Violation(where, f"{len(tasks.items)} task(s) outlived it"))

    async def _check_callbacks(self, violations: list[Violation]) -> None:
        for shard_id, services in self._context.shards.items():
            await self._round_trip_callbacks(shard_id, services.owner.range_id, violations)

    async def _round_trip_callbacks(
        self, shard_id: int, range_id: int, violations: list[Violation]
    ) -> None:
        base = self._rng.randrange(1, 2**40)
        keys = [TaskKey.immediate(base + n) for n in range(3)]
        tasks = [HistoryTask(WORKLOAD_CALLBACK, k, DataBlob(b"callback", "json")) for k in keys]
        execution = self._context.persistence.execution
        try:
            await retry_idempotent(
                execution.add_history_tasks,
                shard_id,
                range_id,
                self._context.namespace_id,
                "-",
                tasks,
            )
        except ShardOwnershipLost:
            return  # another member owns the shard now: its tasks are not ours to check
        low, high = TaskKey.immediate(base), TaskKey.immediate(base + 3)
        request = GetHistoryTasksRequest(shard_id, WORKLOAD_CALLBACK, low, high, 10)
        read = await retry_idempotent(execution.get_history_tasks, request)
        if read.items != tasks:
            violations.append(
                Violation(f"shard {shard_id}", f"{WORKLOAD_CALLBACK.name} tasks read back wrong")
            )
        await retry_idempotent(
            execution.range_complete_history_tasks, shard_id, WORKLOAD_CALLBACK, low, high
        )
        left = await retry_idempotent(execution.get_history_tasks, request)
        if left.items:
            violations.append(
                Violation(
                    f"shard {shard_id}", f"{WORKLOAD_CALLBACK.name} tasks left after completion"
                )
            )
