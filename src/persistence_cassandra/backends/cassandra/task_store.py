"""Matching task queues and their tasks on Cassandra.

A queue's metadata row (``type`` 1) holds ``range_id``, the lease of the matching host that owns
the queue, and shares the partition with the queue's tasks (``type`` 0). That is what lets
``create_tasks`` insert tasks in the same conditional batch that checks the lease: a stale
owner's batch is not applied as a whole, even when it races with the new owner's writes.

Tasks with an expiry are written with a TTL, and reads also drop tasks whose stored expiry has
passed (a TTL has one-second granularity, and a task may be created already expired).

A sticky queue's metadata row is written with a TTL up to its expiry, as Temporal does: every
write of the row (create, update, the lease check of ``create_tasks``) carries that TTL, and an
update also re-inserts the row's key with it, because a conditional UPDATE alone would leave the
row marker of the first insert to expire early (the row outlives it only while a cell lives).
Reads drop a queue whose stored expiry has passed, for the same granularity reason.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_batch import MAX_BATCH_BYTES
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row, StatementSpec
from persistence_cassandra.backends.cassandra.task_queue_user_data import (
    CassandraTaskQueueUserData,
)
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    Page,
    TaskQueueKey,
    TaskQueueKind,
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
    "range_id, task_queue, task_queue_encoding, task_queue_kind, expiry_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?"
)
GET_QUEUE = (
    "SELECT range_id, task_queue, task_queue_encoding, task_queue_kind, expiry_ms "
    f"FROM tasks WHERE {_QUEUE_ROW}"
)
UPDATE_QUEUE = (
    "UPDATE tasks USING TTL ? SET range_id = ?, task_queue = ?, task_queue_encoding = ? "
    f"WHERE {_QUEUE_ROW} IF range_id = ?"
)
UPDATE_QUEUE_STICKY = (
    "UPDATE tasks USING TTL ? SET range_id = ?, task_queue = ?, task_queue_encoding = ?, "
    f"task_queue_kind = ?, expiry_ms = ? WHERE {_QUEUE_ROW} IF range_id = ?"
)
REFRESH_QUEUE_KEY = (
    "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id) "
    "VALUES (?, ?, ?, ?, ?) USING TTL ?"
)
TOUCH_QUEUE = f"UPDATE tasks USING TTL ? SET range_id = ? WHERE {_QUEUE_ROW} IF range_id = ?"
DELETE_QUEUE_ROW = f"DELETE FROM tasks WHERE {_QUEUE_ROW} IF range_id = ?"
DELETE_ALL_TASKS = f"DELETE FROM tasks WHERE {_PARTITION} AND type = ?"
# Reads only the metadata rows, but visits every partition of the table (the filter is a
# per-partition clustering slice): the cost grows with the number of queues, not of tasks.
LIST_QUEUES = (
    "SELECT namespace_id, task_queue_name, task_queue_type, range_id, task_queue, "
    "task_queue_encoding, task_queue_kind, expiry_ms FROM tasks WHERE type = ? ALLOW FILTERING"
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


def _queue_ttl(expiry: datetime | None, now_ms: int) -> int:
    """The TTL of a queue's metadata row: none for a queue that never expires."""
    return ttl_seconds(None if expiry is None else to_epoch_ms(expiry), now_ms)


def _queue_record(key: TaskQueueKey, row: Row, now_ms: int) -> TaskQueueRecord | None:
    """The record of a metadata row, or ``None`` for a missing or expired queue."""
    if row.get("range_id") is None:
        return None
    expiry_ms = row.get("expiry_ms")
    if expiry_ms is not None and expiry_ms <= now_ms:
        return None
    kind = row.get("task_queue_kind")
    return TaskQueueRecord(
        key,
        row["range_id"],
        DataBlob(row["task_queue"] or b"", row["task_queue_encoding"] or ""),
        TaskQueueKind.NORMAL if kind is None else TaskQueueKind(kind),
        None if expiry_ms is None else from_epoch_ms(expiry_ms),
    )


def _describe_key(key: TaskQueueKey) -> str:
    return f"task queue {key.name!r} (namespace {key.namespace_id}, type {key.task_type})"


class CassandraTaskStore(CassandraTaskQueueUserData):
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
        expiry_ms = None if record.expiry is None else to_epoch_ms(record.expiry)
        result = await self._session.write(
            CREATE_QUEUE,
            (
                *_queue_row(record.key),
                record.range_id,
                record.info.data,
                record.info.encoding,
                int(record.kind),
                expiry_ms,
                _queue_ttl(record.expiry, _now_ms()),
            ),
        )
        if not result.applied:
            raise errors.ConditionFailed(f"{_describe_key(record.key)} already exists")

    async def get_task_queue(self, key: TaskQueueKey) -> TaskQueueRecord:
        row = (await self._session.read(GET_QUEUE, _queue_row(key))).first()
        record = None if row is None else _queue_record(key, row, _now_ms())
        if record is None:
            raise errors.NotFound(f"{_describe_key(key)} not found")
        return record

    async def update_task_queue(self, record: TaskQueueRecord, previous_range_id: int) -> None:
        now_ms = _now_ms()
        ttl = _queue_ttl(record.expiry, now_ms)
        update: StatementSpec = (
            UPDATE_QUEUE_STICKY,
            (
                ttl,
                record.range_id,
                record.info.data,
                record.info.encoding,
                int(record.kind),
                None if record.expiry is None else to_epoch_ms(record.expiry),
                *_queue_row(record.key),
                previous_range_id,
            ),
        )
        if record.expiry is None:
            result = await self._session.write(*update)
        else:
            # The key-only insert moves the row marker's TTL with the cells' (see the module
            # docstring); it is unconditional but applies only with the batch's condition.
            refresh: StatementSpec = (REFRESH_QUEUE_KEY, (*_queue_row(record.key), ttl))
            result = await self._session.write_batch([refresh, update])
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
        now_ms = _now_ms()
        queues = [
            record
            for row in result.rows
            if (
                record := _queue_record(
                    TaskQueueKey(
                        row["namespace_id"], row["task_queue_name"], row["task_queue_type"]
                    ),
                    row,
                    now_ms,
                )
            )
            is not None
        ]
        return Page(queues, result.next_page_token)

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        key = request.key
        now_ms = _now_ms()
        statements: list[StatementSpec] = []
        size = 0
        queue_expiry_ms = (
            None if request.queue_expiry is None else to_epoch_ms(request.queue_expiry)
        )
        for task in request.tasks:
            expiry_ms = to_epoch_ms(task.expiry) if task.expiry is not None else None
            # A sticky queue's tasks go with it (SQL's scavenger deletes them together): the
            # TTL stops at the queue's expiry, the stored expiry stays the task's own.
            ttl_until = expiry_ms
            if queue_expiry_ms is not None:
                ttl_until = (
                    queue_expiry_ms if expiry_ms is None else min(expiry_ms, queue_expiry_ms)
                )
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
                        ttl_seconds(ttl_until, now_ms),
                    ),
                )
            )
            size += len(task.blob.data)
        # The lease check writes the metadata row, so it carries the queue's TTL: without one
        # a sticky queue's row would stop expiring.
        queue_ttl = _queue_ttl(request.queue_expiry, now_ms)
        if request.updated_info is not None:
            info = request.updated_info
            size += len(info.data)
            fence: StatementSpec = (
                UPDATE_QUEUE,
                (
                    queue_ttl,
                    request.range_id,
                    info.data,
                    info.encoding,
                    *_queue_row(key),
                    request.range_id,
                ),
            )
        else:
            fence = (TOUCH_QUEUE, (queue_ttl, request.range_id, *_queue_row(key), request.range_id))
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
