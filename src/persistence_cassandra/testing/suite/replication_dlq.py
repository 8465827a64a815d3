"""The execution store's replication-task DLQ: put, ranged paged reads, delete one, delete a
range, is-empty; per (shard, source cluster)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from persistence_cassandra.records import (
    GetReplicationTasksFromDLQRequest,
    Page,
    ReplicationDLQTask,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, random_shard_id, unique_id

__all__ = ["TestReplicationDLQ"]

PageFetch = Callable[[bytes], Awaitable[Page[ReplicationDLQTask]]]


def parked(source: str, task_id: int) -> ReplicationDLQTask:
    return ReplicationDLQTask(source, task_id, blob(f"replication-{task_id}"))


class TestReplicationDLQ:
    async def test_put_read_delete(self, stores: StoreBundle) -> None:
        execution, shard_id, source = stores.execution, random_shard_id(), unique_id("cluster")
        assert await execution.is_replication_dlq_empty(shard_id, source)
        for task_id in (30, 10, 20, 40, 50):
            await execution.put_replication_task_to_dlq(shard_id, parked(source, task_id))
        await execution.put_replication_task_to_dlq(shard_id, parked(unique_id("other"), 10))
        assert not await execution.is_replication_dlq_empty(shard_id, source)

        def read(low: int, high: int, size: int) -> PageFetch:
            return lambda token: execution.get_replication_tasks_from_dlq(
                GetReplicationTasksFromDLQRequest(shard_id, source, low, high, size, token)
            )

        tasks, _ = await collect_pages(read(0, 1000, 2))
        assert tasks == [parked(source, t) for t in (10, 20, 30, 40, 50)]
        tasks, _ = await collect_pages(read(20, 40, 10))
        assert [t.task_id for t in tasks] == [20, 30]
        await execution.delete_replication_task_from_dlq(shard_id, source, 30)
        await execution.range_delete_replication_tasks_from_dlq(shard_id, source, 0, 41)
        tasks, _ = await collect_pages(read(0, 1000, 10))
        assert [t.task_id for t in tasks] == [50]
        await execution.delete_replication_task_from_dlq(shard_id, source, 50)
        assert await execution.is_replication_dlq_empty(shard_id, source)
        assert await execution.is_replication_dlq_empty(shard_id + 1, source)
