"""The execution store's replication-task DLQ over SQL: ``replication_tasks_dlq`` keyed by
(source cluster, shard, task id), as in Temporal's SQL schema; plain unfenced writes."""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.records import (
    DataBlob,
    GetReplicationTasksFromDLQRequest,
    Page,
    ReplicationDLQTask,
)

__all__ = ["SqlReplicationDLQ"]

_KEY = "source_cluster_name = ? AND shard_id = ?"


class SqlReplicationDLQ:
    """Mixed into the execution store (it owns ``_runner``)."""

    _runner: TransactionRunner

    async def put_replication_task_to_dlq(self, shard_id: int, task: ReplicationDLQTask) -> None:
        statement = self._runner.dialect.upsert(
            "replication_tasks_dlq",
            ("source_cluster_name", "shard_id", "task_id"),
            ("data", "data_encoding"),
        )
        params = (task.source_cluster, shard_id, task.task_id, task.blob.data, task.blob.encoding)
        await self._runner.write(lambda tx: tx.defer(statement, params))

    async def get_replication_tasks_from_dlq(
        self, request: GetReplicationTasksFromDLQRequest
    ) -> Page[ReplicationDLQTask]:
        check_page_size(request.page_size)
        position = decode_token(request.next_page_token, 1)
        start = request.inclusive_min_task_id
        if position is not None:
            start = max(start, int(position[0]) + 1)
        statement = (
            f"SELECT task_id, data, data_encoding FROM replication_tasks_dlq WHERE {_KEY} "
            "AND task_id >= ? AND task_id < ? ORDER BY task_id LIMIT ?"
        )
        params = (
            request.source_cluster,
            request.shard_id,
            start,
            request.exclusive_max_task_id,
            request.page_size + 1,
        )
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, request.page_size, lambda row: (row[0],))
        return Page(
            [ReplicationDLQTask(request.source_cluster, r[0], DataBlob(r[1], r[2])) for r in page],
            token,
        )

    async def delete_replication_task_from_dlq(
        self, shard_id: int, source_cluster: str, task_id: int
    ) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                f"DELETE FROM replication_tasks_dlq WHERE {_KEY} AND task_id = ?",
                (source_cluster, shard_id, task_id),
            )
        )

    async def range_delete_replication_tasks_from_dlq(
        self,
        shard_id: int,
        source_cluster: str,
        inclusive_min_task_id: int,
        exclusive_max_task_id: int,
    ) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                f"DELETE FROM replication_tasks_dlq WHERE {_KEY} AND task_id >= ? AND task_id < ?",
                (source_cluster, shard_id, inclusive_min_task_id, exclusive_max_task_id),
            )
        )

    async def is_replication_dlq_empty(self, shard_id: int, source_cluster: str) -> bool:
        def any_task(tx: Tx) -> bool:
            statement = f"SELECT task_id FROM replication_tasks_dlq WHERE {_KEY} LIMIT 1"
            return tx.fetchone(statement, (source_cluster, shard_id)) is None

        return await self._runner.read(any_task)
