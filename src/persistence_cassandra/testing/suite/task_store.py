"""TaskStore conformance: task queues leased by range id, and the tasks of a queue."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from persistence_cassandra.errors import ConditionFailed, NotFound
from persistence_cassandra.records import (
    CreateTasksRequest,
    GetTasksRequest,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, now, task, task_queue

__all__ = ["TestTaskQueues", "TestTasks"]


async def _tasks(
    stores: StoreBundle,
    key: TaskQueueKey,
    low: int = 0,
    high: int = 2**62,
    page_size: int = 100,
) -> list[TaskRecord]:
    items, _ = await collect_pages(
        lambda token: stores.task.get_tasks(GetTasksRequest(key, low, high, page_size, token))
    )
    return items


async def _new_queue(stores: StoreBundle, range_id: int = 1) -> TaskQueueRecord:
    record = task_queue(range_id=range_id)
    await stores.task.create_task_queue(record)
    return record


async def _create_tasks(
    stores: StoreBundle,
    record: TaskQueueRecord,
    tasks: list[TaskRecord],
    range_id: int | None = None,
) -> None:
    await stores.task.create_tasks(
        CreateTasksRequest(record.key, record.range_id if range_id is None else range_id, tasks)
    )


class TestTaskQueues:
    async def test_create_then_get(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores, range_id=3)
        assert await stores.task.get_task_queue(record.key) == record

    async def test_create_of_an_existing_queue_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = await _new_queue(stores)
        with pytest.raises(ConditionFailed):
            await stores.task.create_task_queue(replace(record, range_id=9, info=blob("other")))
        assert await stores.task.get_task_queue(record.key) == record

    async def test_get_of_a_missing_queue_is_not_found(self, stores: StoreBundle) -> None:
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(task_queue().key)

    async def test_task_types_are_separate_queues(self, stores: StoreBundle) -> None:
        workflow_queue = await _new_queue(stores)
        activity_key = replace(workflow_queue.key, task_type=2)
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(activity_key)
        activity_queue = TaskQueueRecord(activity_key, 5, blob("activity"))
        await stores.task.create_task_queue(activity_queue)
        assert await stores.task.get_task_queue(activity_key) == activity_queue
        assert await stores.task.get_task_queue(workflow_queue.key) == workflow_queue

    async def test_update_with_the_stored_range_id(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        renewed = replace(record, range_id=2, info=blob("renewed"))
        await stores.task.update_task_queue(renewed, previous_range_id=1)
        assert await stores.task.get_task_queue(record.key) == renewed

    async def test_update_with_a_stale_range_id_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = await _new_queue(stores)
        await stores.task.update_task_queue(replace(record, range_id=2), previous_range_id=1)
        with pytest.raises(ConditionFailed):
            await stores.task.update_task_queue(
                replace(record, range_id=2, info=blob("stale")), previous_range_id=1
            )
        assert await stores.task.get_task_queue(record.key) == replace(record, range_id=2)

    async def test_update_of_a_missing_queue_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = task_queue(range_id=2)
        with pytest.raises(ConditionFailed):
            await stores.task.update_task_queue(record, previous_range_id=1)
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(record.key)

    async def test_delete_with_the_stored_range_id_removes_the_queue_and_its_tasks(
        self, stores: StoreBundle
    ) -> None:
        record = await _new_queue(stores)
        await _create_tasks(stores, record, [task(1), task(2)])
        await stores.task.delete_task_queue(record.key, 1)
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(record.key)
        await stores.task.create_task_queue(record)
        assert await _tasks(stores, record.key) == []

    async def test_delete_with_a_stale_range_id_is_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = await _new_queue(stores, range_id=4)
        with pytest.raises(ConditionFailed):
            await stores.task.delete_task_queue(record.key, 3)
        assert await stores.task.get_task_queue(record.key) == record

    async def test_list_pages_through_every_queue(self, stores: StoreBundle) -> None:
        namespace_id = str(uuid.uuid4())
        ours = [task_queue(namespace_id, task_type=1 + n % 2) for n in range(7)]
        for record in ours:
            await stores.task.create_task_queue(record)
        items, _ = await collect_pages(lambda token: stores.task.list_task_queues(2, token))
        found = [r for r in items if r.key.namespace_id == namespace_id]
        assert sorted(found, key=lambda r: r.key.name) == sorted(ours, key=lambda r: r.key.name)


class TestTasks:
    async def test_tasks_come_back_in_task_id_order(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        tasks = [task(n) for n in (5, 1, 9, 3, 7)]
        await _create_tasks(stores, record, tasks)
        assert await _tasks(stores, record.key) == sorted(tasks, key=lambda t: t.task_id)

    async def test_bounds_are_inclusive_below_and_exclusive_above(
        self, stores: StoreBundle
    ) -> None:
        record = await _new_queue(stores)
        await _create_tasks(stores, record, [task(n) for n in range(1, 11)])
        got = await _tasks(stores, record.key, 3, 8)
        assert [t.task_id for t in got] == [3, 4, 5, 6, 7]

    async def test_paging_returns_every_task_once(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        await _create_tasks(stores, record, [task(n) for n in range(1, 18)])
        got = await _tasks(stores, record.key, page_size=4)
        assert [t.task_id for t in got] == list(range(1, 18))

    async def test_queues_hold_their_own_tasks(self, stores: StoreBundle) -> None:
        first, second = await _new_queue(stores), await _new_queue(stores)
        await _create_tasks(stores, first, [task(1)])
        await _create_tasks(stores, second, [task(2)])
        assert [t.task_id for t in await _tasks(stores, first.key)] == [1]
        assert [t.task_id for t in await _tasks(stores, second.key)] == [2]

    async def test_a_stale_range_id_writes_no_task(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        await stores.task.update_task_queue(replace(record, range_id=2), previous_range_id=1)
        with pytest.raises(ConditionFailed):
            await _create_tasks(stores, record, [task(1), task(2)], range_id=1)
        assert await _tasks(stores, record.key) == []

    async def test_tasks_for_a_missing_queue_are_a_condition_failure(
        self, stores: StoreBundle
    ) -> None:
        record = task_queue()
        with pytest.raises(ConditionFailed):
            await _create_tasks(stores, record, [task(1)])
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(record.key)

    async def test_creating_tasks_can_rewrite_the_queue_info(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        await stores.task.create_tasks(
            CreateTasksRequest(record.key, 1, [task(1)], updated_info=blob("ack-level-1"))
        )
        stored = await stores.task.get_task_queue(record.key)
        assert stored == replace(record, info=blob("ack-level-1"))
        assert [t.task_id for t in await _tasks(stores, record.key)] == [1]

    async def test_complete_tasks_less_than(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        await _create_tasks(stores, record, [task(n) for n in range(1, 11)])
        count = await stores.task.complete_tasks_less_than(record.key, 6)
        if stores.capabilities.exact_task_completion_count:
            assert count == 5
        else:
            assert count in (-1, 5)
        assert [t.task_id for t in await _tasks(stores, record.key)] == [6, 7, 8, 9, 10]
        await stores.task.complete_tasks_less_than(record.key, 6)
        assert len(await _tasks(stores, record.key)) == 5

    async def test_payload_and_expiry_round_trip(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        expiry = now() + timedelta(hours=1)
        with_expiry = TaskRecord(1, blob("payload", "proto3"), expiry)
        without = TaskRecord(2, blob("forever", "proto3"))
        await _create_tasks(stores, record, [with_expiry, without])
        got = await _tasks(stores, record.key)
        assert [(t.task_id, t.blob) for t in got] == [(1, with_expiry.blob), (2, without.blob)]
        assert got[1].expiry is None
        # Reading the expiry back is optional; when given, whole-second TTLs may move it by up
        # to a second.
        if got[0].expiry is not None:
            assert abs(got[0].expiry - expiry) <= timedelta(seconds=1)

    async def test_expired_tasks_are_not_returned(self, stores: StoreBundle) -> None:
        record = await _new_queue(stores)
        start = now()
        await _create_tasks(
            stores,
            record,
            [
                task(1, expiry=start - timedelta(seconds=30)),
                task(2, expiry=start + timedelta(seconds=1)),
                task(3),
            ],
        )
        assert [t.task_id for t in await _tasks(stores, record.key)] == [2, 3]
        await asyncio.sleep(2.1)
        assert [t.task_id for t in await _tasks(stores, record.key)] == [3]
