"""TaskStore conformance: sticky task queues expire with their tasks unless refreshed.

Expiry is observed through the store's own reads: a TTL (Cassandra) and a hidden-then-scavenged
row (SQL) must look the same. Cassandra TTLs have one-second granularity, so the short expiries
here are two seconds and the waits a little longer.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from persistence_cassandra.errors import ConditionFailed, NotFound
from persistence_cassandra.records import (
    CreateTasksRequest,
    GetTasksRequest,
    TaskQueueKind,
    TaskQueueRecord,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, now, task, task_queue

__all__ = ["TestStickyTaskQueues"]

SHORT = timedelta(seconds=2)
PAST_SHORT = 3.2
"""Seconds to wait for a ``SHORT`` expiry to have passed, TTL rounding included."""


def _sticky(expiry_in: timedelta = SHORT) -> TaskQueueRecord:
    return replace(task_queue(), kind=TaskQueueKind.STICKY, expiry=now() + expiry_in)


async def _listed(stores: StoreBundle, record: TaskQueueRecord) -> bool:
    items, _ = await collect_pages(lambda token: stores.task.list_task_queues(100, token))
    return any(item.key == record.key for item in items)


async def _task_ids(stores: StoreBundle, record: TaskQueueRecord) -> list[int]:
    items, _ = await collect_pages(
        lambda token: stores.task.get_tasks(GetTasksRequest(record.key, 0, 2**62, 100, token))
    )
    return [item.task_id for item in items]


async def _add_tasks(stores: StoreBundle, record: TaskQueueRecord, *ids: int) -> None:
    await stores.task.create_tasks(
        CreateTasksRequest(
            record.key, record.range_id, [task(n) for n in ids], queue_expiry=record.expiry
        )
    )


class TestStickyTaskQueues:
    async def test_kind_and_expiry_round_trip(self, stores: StoreBundle) -> None:
        record = _sticky(timedelta(hours=1))
        await stores.task.create_task_queue(record)
        assert await stores.task.get_task_queue(record.key) == record
        normal = task_queue()
        await stores.task.create_task_queue(normal)
        stored = await stores.task.get_task_queue(normal.key)
        assert (stored.kind, stored.expiry) == (TaskQueueKind.NORMAL, None)

    async def test_an_expired_sticky_queue_and_its_tasks_are_gone(
        self, stores: StoreBundle
    ) -> None:
        record = _sticky()
        await stores.task.create_task_queue(record)
        await _add_tasks(stores, record, 1, 2, 3)
        assert await _task_ids(stores, record) == [1, 2, 3]
        await asyncio.sleep(PAST_SHORT)
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(record.key)
        assert not await _listed(stores, record)
        with pytest.raises(ConditionFailed):
            await _add_tasks(stores, record, 4)
        with pytest.raises(ConditionFailed):
            await stores.task.update_task_queue(replace(record, range_id=2), record.range_id)
        # The name is free again, and the new queue starts without the old tasks.
        again = replace(record, range_id=5, expiry=now() + timedelta(hours=1))
        await stores.task.create_task_queue(again)
        assert await stores.task.get_task_queue(record.key) == again
        assert await _task_ids(stores, again) == []

    async def test_refreshing_the_expiry_keeps_the_queue(self, stores: StoreBundle) -> None:
        record = _sticky()
        await stores.task.create_task_queue(record)
        refreshed = replace(record, range_id=2, expiry=now() + timedelta(hours=1))
        await stores.task.update_task_queue(refreshed, record.range_id)
        await _add_tasks(stores, refreshed, 7)
        await asyncio.sleep(PAST_SHORT)
        assert await stores.task.get_task_queue(record.key) == refreshed
        assert await _listed(stores, refreshed)
        assert await _task_ids(stores, refreshed) == [7]

    async def test_appending_tasks_does_not_keep_a_sticky_queue_alive(
        self, stores: StoreBundle
    ) -> None:
        record = _sticky()
        await stores.task.create_task_queue(record)
        await _add_tasks(stores, record, 1)
        await stores.task.create_tasks(
            CreateTasksRequest(
                record.key,
                record.range_id,
                [task(2)],
                updated_info=blob("rewritten", "proto3"),
                queue_expiry=record.expiry,
            )
        )
        await asyncio.sleep(PAST_SHORT)
        with pytest.raises(NotFound):
            await stores.task.get_task_queue(record.key)

    async def test_the_scavenger_deletes_expired_sticky_queues(self, stores: StoreBundle) -> None:
        if not stores.capabilities.expired_tasks_need_scavenging:
            assert stores.task_scavenger is None
            return
        scavenger = stores.task_scavenger
        assert scavenger is not None
        record = _sticky()
        await stores.task.create_task_queue(record)
        await _add_tasks(stores, record, 1, 2)
        kept = _sticky(timedelta(hours=1))
        await stores.task.create_task_queue(kept)
        await _add_tasks(stores, kept, 1)
        await asyncio.sleep(PAST_SHORT)
        # Other suites' expired rows may go too: at least this queue and its two tasks.
        assert await scavenger.scavenge_expired_tasks(limit=2) >= 3
        assert await stores.task.get_task_queue(kept.key) == kept
        assert await _task_ids(stores, kept) == [1]
