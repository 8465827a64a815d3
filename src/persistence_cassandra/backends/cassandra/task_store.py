"""Matching task queues and their tasks on Cassandra.

A queue's metadata row (``type`` 1) holds ``range_id``, the lease of the matching host that owns
the queue, and shares the partition with the queue's tasks (``type`` 0). That is what lets
``create_tasks`` insert tasks in the same conditional batch that checks the lease: a stale
owner's batch is not applied as a whole, even when it races with the new owner's writes.

Tasks with an expiry are written with a TTL, and reads also drop tasks whose stored expiry has
passed (a TTL has one-second granularity, and a task may be created already expired).
"""

from __future__ import annotations

import math
import time

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_batch import MAX_BATCH_BYTES
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row, StatementSpec
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    Page,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
    from_epoch_ms,
    to_epoch_ms,
)

__all__ = [
    "COMPLETE_TASKS",
    "GET_TASKS",
    "INSERT_TASK",
    "MAX_TTL_SECONDS",
    "QUEUE_ROW_TASK_ID",
    "ROW_QUEUE",
    "ROW_TASK",
    "TOUCH_QUEUE",
    "CassandraTaskStore",
    "ttl_seconds",
]

ROW_TASK = 0
ROW_QUEUE = 1
QUEUE_ROW_TASK_ID = 0

MAX_TTL_SECONDS = 10 * 365 * 24 * 3600
"""Longer expiries get no TTL (only the read filter): far-future TTLs hit Cassandra's 2038
expiration-time limit on older storage formats."""

_PARTITION = "namespace_id = ? AND task_queue_name = ? AND task_queue_type = ?"
_QUEUE_ROW = f"{_PARTITION} AND type = ? AND task_id = ?"

CREATE_QUEUE = (
    "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id, "
    "range_id, task_queue, task_queue_encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)
GET_QUEUE = f"SELECT range_id, task_queue, task_queue_encoding FROM tasks WHERE {_QUEUE_ROW}"
UPDATE_QUEUE = (
    "UPDATE tasks SET range_id = ?, task_queue = ?, task_queue_encoding = ? "
    f"WHERE {_QUEUE_ROW} IF range_id = ?"
)
TOUCH_QUEUE = f"UPDATE tasks SET range_id = ? WHERE {_QUEUE_ROW} IF range_id = ?"
DELETE_QUEUE_ROW = f"DELETE FROM tasks WHERE {_QUEUE_ROW} IF range_id = ?"
DELETE_ALL_TASKS = f"DELETE FROM tasks WHERE {_PARTITION} AND type = ?"
# Reads only the metadata rows, but visits every partition of the table (the filter is a
# per-partition clustering slice): the cost grows with the number of queues, not of tasks.
LIST_QUEUES = (
    "SELECT namespace_id, task_queue_name, task_queue_type, range_id, task_queue, "
    "task_queue_encoding FROM tasks WHERE type = ? ALLOW FILTERING"
)
INSERT_TASK = (
    "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id, task, "
    "task_encoding, expiry_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
GET_TASKS = (
    "SELECT task_id, task, task_encoding, expiry_ms FROM tasks "
    f"WHERE {_PARTITION} AND type = ? AND task_id >= ? AND task_id < ?"
)
COMPLETE_TASKS = f"DELETE FROM tasks WHERE {_PARTITION} AND type = ? AND task_id < ?"


def _partition(key: TaskQueueKey) -> tuple[str, str, int]:
    return (key.namespace_id, key.name, key.task_type)


def _queue_row(key: TaskQueueKey) -> tuple[object, ...]:
    return (*_partition(key), ROW_QUEUE, QUEUE_ROW_TASK_ID)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def ttl_seconds(expiry_ms: int | None, now_ms: int) -> int:
    """0 (no TTL) without an expiry; at least 1 so an expired task still disappears."""
    if expiry_ms is None:
        return 0
    seconds = max(1, math.ceil((expiry_ms - now_ms) / 1000))
    return 0 if seconds > MAX_TTL_SECONDS else seconds


def _describe_key(key: TaskQueueKey) -> str:
    return f"task queue {key.name!r} (namespace {key.namespace_id}, type {key.task_type})"


class CassandraTaskStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    def _not_applied(self, key: TaskQueueKey, what: str, rows: list[Row]) -> errors.ConditionFailed:
        row = rows[0] if rows else None
        if row is None or row.get("range_id") is None:
            return errors.ConditionFailed(f"{_describe_key(key)}: {what}: queue does not exist")
        return errors.ConditionFailed(
            f"{_describe_key(key)}: {what}: stored range_id={row['range_id']}"
        )

    async def create_task_queue(self, record: TaskQueueRecord) -> None:
        result = await self._session.write(
            CREATE_QUEUE,
            (*_queue_row(record.key), record.range_id, record.info.data, record.info.encoding),
        )
        if not result.applied:
            raise errors.ConditionFailed(f"{_describe_key(record.key)} already exists")

    async def get_task_queue(self, key: TaskQueueKey) -> TaskQueueRecord:
        row = (await self._session.read(GET_QUEUE, _queue_row(key))).first()
        if row is None or row["range_id"] is None:
            raise errors.NotFound(f"{_describe_key(key)} not found")
        return TaskQueueRecord(
            key, row["range_id"], DataBlob(row["task_queue"] or b"", row["task_queue_encoding"])
        )

    async def update_task_queue(self, record: TaskQueueRecord, previous_range_id: int) -> None:
        result = await self._session.write(
            UPDATE_QUEUE,
            (
                record.range_id,
                record.info.data,
                record.info.encoding,
                *_queue_row(record.key),
                previous_range_id,
            ),
        )
        if not result.applied:
            raise self._not_applied(
                record.key, f"expected range_id={previous_range_id}", result.rows
            )

    async def delete_task_queue(self, key: TaskQueueKey, range_id: int) -> None:
        result = await self._session.write_batch(
            [
                (DELETE_QUEUE_ROW, (*_queue_row(key), range_id)),
                (DELETE_ALL_TASKS, (*_partition(key), ROW_TASK)),
            ]
        )
        if not result.applied:
            raise self._not_applied(key, f"expected range_id={range_id}", result.rows)

    async def list_task_queues(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueRecord]:
        result = await self._session.read(
            LIST_QUEUES, (ROW_QUEUE,), page_size=page_size, paging_state=next_page_token
        )
        queues = [
            TaskQueueRecord(
                TaskQueueKey(row["namespace_id"], row["task_queue_name"], row["task_queue_type"]),
                row["range_id"],
                DataBlob(row["task_queue"] or b"", row["task_queue_encoding"] or ""),
            )
            for row in result.rows
            if row["range_id"] is not None
        ]
        return Page(queues, result.next_page_token)

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        key = request.key
        now_ms = _now_ms()
        statements: list[StatementSpec] = []
        size = 0
        for task in request.tasks:
            expiry_ms = to_epoch_ms(task.expiry) if task.expiry is not None else None
            statements.append(
                (
                    INSERT_TASK,
                    (
                        *_partition(key),
                        ROW_TASK,
                        task.task_id,
                        task.blob.data,
                        task.blob.encoding,
                        expiry_ms,
                        ttl_seconds(expiry_ms, now_ms),
                    ),
                )
            )
            size += len(task.blob.data)
        if request.updated_info is not None:
            info = request.updated_info
            size += len(info.data)
            fence: StatementSpec = (
                UPDATE_QUEUE,
                (request.range_id, info.data, info.encoding, *_queue_row(key), request.range_id),
            )
        else:
            fence = (TOUCH_QUEUE, (request.range_id, *_queue_row(key), request.range_id))
        if size > MAX_BATCH_BYTES:
            raise errors.InvalidRequest(
                f"{_describe_key(key)}: {size} bytes of tasks exceed the "
                f"{MAX_BATCH_BYTES}-byte batch limit"
            )
        result = await self._session.write_batch([*statements, fence])
        if not result.applied:
            raise self._not_applied(key, f"lease range_id={request.range_id} lost", result.rows)

    async def get_tasks(self, request: GetTasksRequest) -> Page[TaskRecord]:
        result = await self._session.read_tuples(
            GET_TASKS,
            (
                *_partition(request.key),
                ROW_TASK,
                request.inclusive_min_task_id,
                request.exclusive_max_task_id,
            ),
            page_size=request.page_size,
            paging_state=request.next_page_token,
        )
        now_ms = _now_ms()
        tasks = [
            TaskRecord(
                task_id,
                DataBlob(data or b"", encoding or ""),
                None if expiry_ms is None else from_epoch_ms(expiry_ms),
            )
            for task_id, data, encoding, expiry_ms in result.rows  # GET_TASKS's columns
            if expiry_ms is None or expiry_ms > now_ms
        ]
        return Page(tasks, result.next_page_token)

    async def complete_tasks_less_than(
        self, key: TaskQueueKey, exclusive_max_task_id: int, limit: int | None = None
    ) -> int:
        # One clustering-range delete; Cassandra does not report how many rows it covered.
        await self._session.write(
            COMPLETE_TASKS, (*_partition(key), ROW_TASK, exclusive_max_task_id)
        )
        return -1
