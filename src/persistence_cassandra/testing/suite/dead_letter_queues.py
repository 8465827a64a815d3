"""Conformance of the queues built on the queue store: history-task dead-letter queues and the
namespace replication queue with its ack levels and its own DLQ."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import InvalidRequest, QueueVersionConflict
from persistence_cassandra.managers.history_task_dlq import HistoryTaskDLQ, HistoryTaskDLQKey
from persistence_cassandra.managers.namespace_replication_queue import NamespaceReplicationQueue
from persistence_cassandra.records import TaskCategory
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, history_task, unique_id

__all__ = ["TestHistoryTaskDLQ", "TestNamespaceReplicationQueue"]


def dlq_key(category: TaskCategory = TaskCategory.TRANSFER) -> HistoryTaskDLQKey:
    # Underscores and percent signs in cluster names must survive the queue-name encoding.
    return HistoryTaskDLQKey(int(category), unique_id("src_%"), unique_id("dst"))


class TestHistoryTaskDLQ:
    async def test_tasks_are_parked_read_back_and_deleted(self, stores: StoreBundle) -> None:
        dlq, key = HistoryTaskDLQ(stores.queue), dlq_key(TaskCategory.TIMER)
        tasks = [history_task(TaskCategory.TIMER, task_id=n) for n in (7, 3, 9)]
        ids = [await dlq.enqueue_task(key, task) for task in tasks]
        assert ids == [0, 1, 2]
        parked, _ = await collect_pages(lambda token: dlq.read_tasks(key, 2, token))
        assert [(p.message_id, p.task) for p in parked] == list(zip(ids, tasks, strict=True))
        await dlq.delete_task(key, 1)
        assert [p.task for p in (await dlq.read_tasks(key, 10)).items] == [tasks[0], tasks[2]]
        assert await dlq.delete_tasks(key, 0) == 1
        assert [p.message_id for p in (await dlq.read_tasks(key, 10)).items] == [2]

    async def test_an_unknown_dlq_reads_as_empty(self, stores: StoreBundle) -> None:
        assert (await HistoryTaskDLQ(stores.queue).read_tasks(dlq_key(), 10)).items == []

    async def test_a_task_of_another_category_is_refused(self, stores: StoreBundle) -> None:
        dlq = HistoryTaskDLQ(stores.queue)
        with pytest.raises(InvalidRequest):
            await dlq.enqueue_task(
                dlq_key(TaskCategory.TRANSFER), history_task(TaskCategory.TIMER, task_id=1)
            )

    async def test_list_gives_every_dlq_key_and_count_back(self, stores: StoreBundle) -> None:
        dlq = HistoryTaskDLQ(stores.queue)
        keys = [dlq_key(TaskCategory.TRANSFER), dlq_key(TaskCategory.TIMER)]
        await dlq.enqueue_task(keys[0], history_task(TaskCategory.TRANSFER, task_id=1))
        for task_id in (1, 2):
            await dlq.enqueue_task(keys[1], history_task(TaskCategory.TIMER, task_id=task_id))
        infos, _ = await collect_pages(lambda token: dlq.list_queues(50, token))
        counts = {info.key: info.message_count for info in infos}
        assert [counts[key] for key in keys] == [1, 2]


class TestNamespaceReplicationQueue:
    def queue(self, stores: StoreBundle) -> NamespaceReplicationQueue:
        return NamespaceReplicationQueue(stores.queue, name=unique_id("namespace-replication"))

    async def test_messages_are_read_after_the_last_id_and_deleted_before_an_id(
        self, stores: StoreBundle
    ) -> None:
        queue = self.queue(stores)
        await queue.init()
        await queue.init()  # idempotent
        ids = [await queue.enqueue_message(blob(f"ns-{n}")) for n in range(4)]
        assert ids == [0, 1, 2, 3]
        assert [m.message_id for m in await queue.read_messages(-1, 10)] == ids
        assert [m.message_id for m in await queue.read_messages(1, 1)] == [2]
        await queue.delete_messages_before(2)
        assert [m.message_id for m in await queue.read_messages(-1, 10)] == [2, 3]

    async def test_ack_levels_are_compare_and_set(self, stores: StoreBundle) -> None:
        queue = self.queue(stores)
        levels = await queue.get_ack_levels()
        assert (levels.cluster_ack_levels, levels.version) == ({}, 0)
        levels.cluster_ack_levels["east"] = 4
        await queue.update_ack_level(levels)
        with pytest.raises(QueueVersionConflict):
            await queue.update_ack_level(levels)  # stale version
        stored = await queue.get_ack_levels()
        assert (stored.cluster_ack_levels, stored.version) == ({"east": 4}, 1)
        stored.cluster_ack_levels["west"] = 2
        await queue.update_ack_level(stored)
        assert (await queue.get_ack_levels()).cluster_ack_levels == {"east": 4, "west": 2}
        dlq_levels = await queue.get_dlq_ack_levels()  # the DLQ keeps its own
        assert dlq_levels.cluster_ack_levels == {}
        dlq_levels.cluster_ack_levels["east"] = 1
        await queue.update_dlq_ack_level(dlq_levels)
        assert (await queue.get_dlq_ack_levels()).cluster_ack_levels == {"east": 1}

    async def test_dlq_reads_pages_and_deletes_ranges_and_single_messages(
        self, stores: StoreBundle
    ) -> None:
        queue = self.queue(stores)
        ids = [await queue.enqueue_message_to_dlq(blob(f"bad-{n}")) for n in range(6)]
        assert ids == list(range(6))
        read, _ = await collect_pages(
            lambda token: queue.read_messages_from_dlq(0, 4, 2, token)
        )  # (0, 4]
        assert [m.message_id for m in read] == [1, 2, 3, 4]
        await queue.delete_message_from_dlq(2)
        await queue.range_delete_messages_from_dlq(2, 4)  # (2, 4]: not a prefix
        remaining = await queue.read_messages_from_dlq(-1, 100, 10)
        assert [m.message_id for m in remaining.items] == [0, 1, 5]
        await queue.range_delete_messages_from_dlq(-1, 1)  # a prefix: one range delete
        remaining = await queue.read_messages_from_dlq(-1, 100, 10)
        assert [m.message_id for m in remaining.items] == [5]
