"""ExecutionStore conformance: history tasks of immediate and scheduled categories."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from persistence_cassandra.errors import ShardOwnershipLost
from persistence_cassandra.records import (
    DataBlob,
    GetHistoryTasksRequest,
    HistoryTask,
    TaskCategory,
    TaskKey,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    ShardLease,
    blob,
    collect_pages,
    history_task,
    now,
    random_shard_id,
)

__all__ = ["TestHistoryTasks"]

_IMMEDIATE = [TaskCategory.TRANSFER, TaskCategory.REPLICATION, TaskCategory.VISIBILITY]
_SCHEDULED = [TaskCategory.TIMER, TaskCategory.ARCHIVAL]


async def _add(stores: StoreBundle, lease: ShardLease, tasks: list[HistoryTask]) -> None:
    await stores.execution.add_history_tasks(
        lease.shard_id, lease.range_id, "namespace-id", "workflow-id", tasks
    )


async def _get(
    stores: StoreBundle,
    lease: ShardLease,
    category: TaskCategory,
    low: TaskKey,
    high: TaskKey,
    page_size: int = 100,
) -> list[HistoryTask]:
    items, _ = await collect_pages(
        lambda token: stores.execution.get_history_tasks(
            GetHistoryTasksRequest(lease.shard_id, category, low, high, page_size, token)
        )
    )
    return items


def _all_immediate() -> tuple[TaskKey, TaskKey]:
    return TaskKey.immediate(0), TaskKey.immediate(2**62)


def _window(start: datetime) -> tuple[TaskKey, TaskKey]:
    return TaskKey(start - timedelta(days=1), 0), TaskKey(start + timedelta(days=1), 0)


class TestHistoryTasks:
    @pytest.mark.parametrize("category", _IMMEDIATE, ids=lambda c: c.name)
    async def test_immediate_tasks_come_back_in_task_id_order(
        self, stores: StoreBundle, shard: ShardLease, category: TaskCategory
    ) -> None:
        tasks = [history_task(category, task_id) for task_id in (30, 10, 50, 20, 40)]
        await _add(stores, shard, tasks)
        got = await _get(stores, shard, category, *_all_immediate())
        assert got == sorted(tasks, key=lambda t: t.key.task_id)

    @pytest.mark.parametrize("category", _SCHEDULED, ids=lambda c: c.name)
    async def test_scheduled_tasks_come_back_by_fire_time_then_task_id(
        self, stores: StoreBundle, shard: ShardLease, category: TaskCategory
    ) -> None:
        start = now()
        tasks = [
            history_task(category, 5, start + timedelta(seconds=3)),
            history_task(category, 9, start + timedelta(seconds=1)),
            history_task(category, 2, start + timedelta(seconds=3)),
            history_task(category, 7, start + timedelta(milliseconds=1)),
            history_task(category, 1, start + timedelta(seconds=2)),
        ]
        await _add(stores, shard, tasks)
        got = await _get(stores, shard, category, *_window(start))
        assert got == sorted(tasks, key=lambda t: (t.key.fire_time, t.key.task_id))

    async def test_immediate_bounds_are_inclusive_below_and_exclusive_above(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        category = TaskCategory.TRANSFER
        await _add(stores, shard, [history_task(category, n) for n in range(1, 11)])
        got = await _get(stores, shard, category, TaskKey.immediate(3), TaskKey.immediate(7))
        assert [t.key.task_id for t in got] == [3, 4, 5, 6]

    async def test_scheduled_bounds_compare_fire_time_then_task_id(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        category = TaskCategory.TIMER
        start = now()
        later = start + timedelta(seconds=1)
        tasks = [
            history_task(category, 1, start),
            history_task(category, 2, start),
            history_task(category, 3, later),
            history_task(category, 4, later),
        ]
        await _add(stores, shard, tasks)
        got = await _get(stores, shard, category, TaskKey(start, 2), TaskKey(later, 4))
        assert [t.key.task_id for t in got] == [2, 3]

    @pytest.mark.parametrize("category", [TaskCategory.TRANSFER, TaskCategory.TIMER])
    async def test_paging_returns_every_task_once(
        self, stores: StoreBundle, shard: ShardLease, category: TaskCategory
    ) -> None:
        start = now()
        tasks = [
            history_task(category, n, start + timedelta(milliseconds=n % 3)) for n in range(1, 24)
        ]
        await _add(stores, shard, tasks)
        low, high = _window(start) if category == TaskCategory.TIMER else _all_immediate()
        got = await _get(stores, shard, category, low, high, page_size=5)
        assert sorted(t.key.task_id for t in got) == list(range(1, 24))
        assert len(got) == len(tasks)

    async def test_categories_are_separate_queues(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        await _add(
            stores,
            shard,
            [history_task(TaskCategory.TRANSFER, 1), history_task(TaskCategory.VISIBILITY, 2)],
        )
        transfer = await _get(stores, shard, TaskCategory.TRANSFER, *_all_immediate())
        visibility = await _get(stores, shard, TaskCategory.VISIBILITY, *_all_immediate())
        assert [t.key.task_id for t in transfer] == [1]
        assert [t.key.task_id for t in visibility] == [2]

    async def test_shards_are_separate(self, stores: StoreBundle, shard: ShardLease) -> None:
        await _add(stores, shard, [history_task(TaskCategory.TRANSFER, 1)])
        other = ShardLease(random_shard_id(), 1)
        await stores.shard.get_or_create_shard(other.shard_id, lambda: (1, blob("other")))
        assert await _get(stores, other, TaskCategory.TRANSFER, *_all_immediate()) == []

    async def test_complete_one_task(self, stores: StoreBundle, shard: ShardLease) -> None:
        start = now()
        await _add(
            stores,
            shard,
            [
                history_task(TaskCategory.TRANSFER, 1),
                history_task(TaskCategory.TRANSFER, 2),
                history_task(TaskCategory.TIMER, 3, start),
                history_task(TaskCategory.TIMER, 4, start),
            ],
        )
        await stores.execution.complete_history_task(
            shard.shard_id, TaskCategory.TRANSFER, TaskKey.immediate(1)
        )
        await stores.execution.complete_history_task(
            shard.shard_id, TaskCategory.TIMER, TaskKey(start, 4)
        )
        # completing a missing task is not an error
        await stores.execution.complete_history_task(
            shard.shard_id, TaskCategory.TRANSFER, TaskKey.immediate(999)
        )
        transfer = await _get(stores, shard, TaskCategory.TRANSFER, *_all_immediate())
        timers = await _get(stores, shard, TaskCategory.TIMER, *_window(start))
        assert [t.key.task_id for t in transfer] == [2]
        assert [t.key.task_id for t in timers] == [3]

    async def test_range_complete_immediate(self, stores: StoreBundle, shard: ShardLease) -> None:
        await _add(stores, shard, [history_task(TaskCategory.TRANSFER, n) for n in range(1, 11)])
        await stores.execution.range_complete_history_tasks(
            shard.shard_id, TaskCategory.TRANSFER, TaskKey.immediate(3), TaskKey.immediate(8)
        )
        got = await _get(stores, shard, TaskCategory.TRANSFER, *_all_immediate())
        assert [t.key.task_id for t in got] == [1, 2, 8, 9, 10]

    async def test_range_complete_scheduled(self, stores: StoreBundle, shard: ShardLease) -> None:
        start = now()
        times = [start + timedelta(seconds=n) for n in range(5)]
        await _add(
            stores, shard, [history_task(TaskCategory.TIMER, n + 1, t) for n, t in enumerate(times)]
        )
        await stores.execution.range_complete_history_tasks(
            shard.shard_id, TaskCategory.TIMER, TaskKey(times[1], 0), TaskKey(times[3], 0)
        )
        got = await _get(stores, shard, TaskCategory.TIMER, *_window(start))
        assert [t.key.task_id for t in got] == [1, 4, 5]

    async def test_stale_range_id_is_ownership_lost_and_adds_nothing(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        await stores.shard.update_shard(
            shard.shard_id, shard.range_id + 1, blob("renewed"), shard.range_id
        )
        with pytest.raises(ShardOwnershipLost):
            await _add(stores, shard, [history_task(TaskCategory.TRANSFER, 1)])
        assert await _get(stores, shard, TaskCategory.TRANSFER, *_all_immediate()) == []

    async def test_payload_round_trips(self, stores: StoreBundle, shard: ShardLease) -> None:
        task = HistoryTask(
            TaskCategory.TRANSFER, TaskKey.immediate(77), DataBlob(b"\x00binary\xff", "proto3")
        )
        await _add(stores, shard, [task])
        assert await _get(stores, shard, TaskCategory.TRANSFER, *_all_immediate()) == [task]
