"""The execution store's replication-task DLQ on Cassandra: ``replication_tasks_dlq``, one
partition per (shard, source cluster), plain (unconditional) writes.

Temporal keeps these rows in the shard's executions partition; they are never part of a
conditional batch, so here they have a table of their own and keep the hot shard partition free
of their rows and tombstones.
"""

from __future__ import annotations

from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import (
    DataBlob,
    GetReplicationTasksFromDLQRequest,
    Page,
    ReplicationDLQTask,
)

__all__ = ["CassandraReplicationDLQ"]

_KEY = "shard_id = ? AND source_cluster = ?"
PUT_TASK = (
    "INSERT INTO replication_tasks_dlq (shard_id, source_cluster, task_id, data, data_encoding) "
    "VALUES (?, ?, ?, ?, ?)"
)
GET_TASKS = (
    f"SELECT task_id, data, data_encoding FROM replication_tasks_dlq WHERE {_KEY} "
    "AND task_id >= ? AND task_id < ?"
)
DELETE_TASK = f"DELETE FROM replication_tasks_dlq WHERE {_KEY} AND task_id = ?"
RANGE_DELETE_TASKS = (
    f"DELETE FROM replication_tasks_dlq WHERE {_KEY} AND task_id >= ? AND task_id < ?"
)
ANY_TASK = f"SELECT task_id FROM replication_tasks_dlq WHERE {_KEY} LIMIT 1"


class CassandraReplicationDLQ:
    """Mixed into the execution store (it owns ``_session``)."""

    _session: CassandraSession

    async def put_replication_task_to_dlq(self, shard_id: int, task: ReplicationDLQTask) -> None:
        await self._session.write(
            PUT_TASK,
            (shard_id, task.source_cluster, task.task_id, task.blob.data, task.blob.encoding),
        )

    async def get_replication_tasks_from_dlq(
        self, request: GetReplicationTasksFromDLQRequest
    ) -> Page[ReplicationDLQTask]:
        if request.page_size <= 0:
            raise InvalidRequest(f"page_size must be positive (got {request.page_size})")
        result = await self._session.read_tuples(
            GET_TASKS,
            (
                request.shard_id,
                request.source_cluster,
                request.inclusive_min_task_id,
                request.exclusive_max_task_id,
            ),
            page_size=request.page_size,
            paging_state=request.next_page_token,
        )
        tasks = [
            ReplicationDLQTask(request.source_cluster, row[0], DataBlob(row[1], row[2]))
            for row in result.rows
        ]
        return Page(tasks, result.next_page_token)

    async def delete_replication_task_from_dlq(
        self, shard_id: int, source_cluster: str, task_id: int
    ) -> None:
        await self._session.write(DELETE_TASK, (shard_id, source_cluster, task_id))

    async def range_delete_replication_tasks_from_dlq(
        self,
        shard_id: int,
        source_cluster: str,
        inclusive_min_task_id: int,
        exclusive_max_task_id: int,
    ) -> None:
        await self._session.write(
            RANGE_DELETE_TASKS,
            (shard_id, source_cluster, inclusive_min_task_id, exclusive_max_task_id),
        )

    async def is_replication_dlq_empty(self, shard_id: int, source_cluster: str) -> bool:
        return (await self._session.read(ANY_TASK, (shard_id, source_cluster))).first() is None
