"""Conformance for open history-task categories: a category registered at run time is stored,
ordered, paged and completed like a built-in one, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import (
    GetHistoryTasksRequest,
    HistoryTask,
    TaskCategory,
    TaskCategoryType,
    TaskKey,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.task_categories import (
    UnknownTaskCategory,
    register_task_category,
    task_category,
)
from persistence_cassandra.testing.builders import (
    ShardLease,
    collect_pages,
    history_task,
    now,
)

__all__ = ["TestRegisteredTaskCategories"]

# Ids far from Temporal's (1..7) and from the ones a real server would pick first.
SUITE_SCHEDULED = register_task_category(901, "SUITE_SCHEDULED", TaskCategoryType.SCHEDULED)
SUITE_IMMEDIATE = register_task_category(902, "SUITE_IMMEDIATE", TaskCategoryType.IMMEDIATE)


async def _read(
    stores: StoreBundle, lease: ShardLease, category: TaskCategory, low: TaskKey, high: TaskKey
) -> list[HistoryTask]:
    items, _ = await collect_pages(
        lambda token: stores.execution.get_history_tasks(
            GetHistoryTasksRequest(lease.shard_id, category, low, high, 2, token)
        )
    )
    return items


class TestRegisteredTaskCategories:
    async def test_a_registered_immediate_category_round_trips(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        tasks = [history_task(SUITE_IMMEDIATE, n) for n in (5, 1, 4, 2, 3)]
        await stores.execution.add_history_tasks(
            shard.shard_id, shard.range_id, "namespace-id", "workflow-id", tasks
        )
        low, high = TaskKey.immediate(0), TaskKey.immediate(100)
        got = await _read(stores, shard, SUITE_IMMEDIATE, low, high)
        assert got == sorted(tasks, key=lambda t: t.key.task_id)
        # A built-in category of the same type does not see them.
        assert await _read(stores, shard, TaskCategory.TRANSFER, low, high) == []
        await stores.execution.complete_history_task(
            shard.shard_id, SUITE_IMMEDIATE, TaskKey.immediate(1)
        )
        await stores.execution.range_complete_history_tasks(
            shard.shard_id, SUITE_IMMEDIATE, TaskKey.immediate(2), TaskKey.immediate(4)
        )
        left = await _read(stores, shard, SUITE_IMMEDIATE, low, high)
        assert [t.key.task_id for t in left] == [4, 5]

    async def test_a_registered_scheduled_category_orders_by_fire_time(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        start = now()
        tasks = [
            history_task(SUITE_SCHEDULED, 1, start + timedelta(seconds=3)),
            history_task(SUITE_SCHEDULED, 2, start + timedelta(seconds=1)),
            history_task(SUITE_SCHEDULED, 3, start + timedelta(seconds=2)),
        ]
        await stores.execution.add_history_tasks(
            shard.shard_id, shard.range_id, "namespace-id", "workflow-id", tasks
        )
        low, high = TaskKey(start, 0), TaskKey(start + timedelta(minutes=1), 0)
        got = await _read(stores, shard, SUITE_SCHEDULED, low, high)
        assert [t.key.task_id for t in got] == [2, 3, 1]
        assert await _read(stores, shard, TaskCategory.TIMER, low, high) == []
        second = TaskKey(start + timedelta(seconds=1), 2)
        await stores.execution.complete_history_task(shard.shard_id, SUITE_SCHEDULED, second)
        got = await _read(stores, shard, SUITE_SCHEDULED, low, high)
        assert [t.key.task_id for t in got] == [3, 1]

    async def test_the_store_lists_the_categories_it_holds(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        assert await stores.execution.list_history_task_category_ids(shard.shard_id) == []
        tasks = [
            history_task(SUITE_IMMEDIATE, 1),
            history_task(SUITE_SCHEDULED, 2, now()),
            history_task(TaskCategory.TRANSFER, 3),
            history_task(SUITE_IMMEDIATE, 4),
        ]
        await stores.execution.add_history_tasks(
            shard.shard_id, shard.range_id, "namespace-id", "workflow-id", tasks
        )
        found = await stores.execution.list_history_task_category_ids(shard.shard_id)
        assert sorted(found) == [TaskCategory.TRANSFER.id, SUITE_SCHEDULED.id, SUITE_IMMEDIATE.id]

    def test_the_registry_refuses_conflicts_and_names_unknown_ids(self) -> None:
        assert register_task_category(902, "SUITE_IMMEDIATE", TaskCategoryType.IMMEDIATE) is (
            SUITE_IMMEDIATE
        )
        with pytest.raises(InvalidRequest, match="already"):
            register_task_category(902, "OTHER", TaskCategoryType.IMMEDIATE)
        with pytest.raises(InvalidRequest, match="already"):
            register_task_category(1, "TRANSFER", TaskCategoryType.SCHEDULED)
        with pytest.raises(InvalidRequest, match="reserved"):
            register_task_category(6, "MEMORY_TIMER", TaskCategoryType.SCHEDULED)
        assert task_category(2) is TaskCategory.TIMER
        with pytest.raises(UnknownTaskCategory, match="unknown history task category id 999"):
            task_category(999)
