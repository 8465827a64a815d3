"""Matching task queues and their tasks; a queue's range id is its owner's lease."""

from __future__ import annotations

import time

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.statements import QUEUE_WHERE, TASKS_WHERE, sql_statements
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.errors import ConditionFailed, InvalidRequest, NotFound
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
from persistence_cassandra.stores import TaskStore

__all__ = ["SqlTaskStore"]

_READ_RANGE = f"SELECT range_id FROM task_queues WHERE {QUEUE_WHERE}"
_EXPIRED = "expiry_time IS NOT NULL AND expiry_time <= ?"
# The outer condition repeats the expiry test so that PostgreSQL re-checks it on a row that a
# concurrent create_tasks rewrote (same task id, new expiry) after the subquery saw it.
_DELETE_EXPIRED_BATCH = (
    "DELETE FROM tasks WHERE (namespace_id, task_queue_name, task_type, task_id) IN ("
    f"SELECT namespace_id, task_queue_name, task_type, task_id FROM tasks WHERE {_EXPIRED} "
    f"LIMIT ?) AND {_EXPIRED}"
)


def _key(key: TaskQueueKey) -> tuple[str, str, int]:
    return (key.namespace_id, key.name, key.task_type)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _lease_lost(key: TaskQueueKey, expected: int, stored: int | None) -> ConditionFailed:
    found = "the queue does not exist" if stored is None else f"stored range_id={stored}"
    return ConditionFailed(
        f"task queue {key.name!r} (type {key.task_type}): expected range_id={expected}, {found}"
    )


class SqlTaskStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._insert_queue = dialect.insert_if_absent(
            "task_queues",
            ("namespace_id", "name", "task_type", "range_id", "data", "data_encoding"),
        )
        self._statements = statements = sql_statements(dialect)
        self._lock_queue_shared = statements.lock_queue_shared
        self._lock_queue_exclusive = statements.lock_queue_exclusive
        self._upsert_task = statements.upsert_task

    async def create_task_queue(self, record: TaskQueueRecord) -> None:
        def create(tx: Tx) -> None:
            inserted = tx.execute(
                self._insert_queue,
                (*_key(record.key), record.range_id, record.info.data, record.info.encoding),
            )
            if not inserted:
                raise ConditionFailed(f"task queue {record.key.name!r} already exists")

        await self._runner.write(create)

    async def get_task_queue(self, key: TaskQueueKey) -> TaskQueueRecord:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                f"SELECT range_id, data, data_encoding FROM task_queues WHERE {QUEUE_WHERE}",
                _key(key),
            )
        )
        if row is None:
            raise NotFound(f"task queue {key.name!r} (type {key.task_type}) does not exist")
        return TaskQueueRecord(key, row[0], DataBlob(row[1], row[2]))

    async def update_task_queue(self, record: TaskQueueRecord, previous_range_id: int) -> None:
        def update(tx: Tx) -> None:
            updated = tx.execute(
                "UPDATE task_queues SET range_id = ?, data = ?, data_encoding = ? "
                f"WHERE {QUEUE_WHERE} AND range_id = ?",
                (
                    record.range_id,
                    record.info.data,
                    record.info.encoding,
                    *_key(record.key),
                    previous_range_id,
                ),
            )
            if not updated:
                row = tx.fetchone(_READ_RANGE, _key(record.key))
                raise _lease_lost(record.key, previous_range_id, row[0] if row else None)

        await self._runner.write(update)

    async def delete_task_queue(self, key: TaskQueueKey, range_id: int) -> None:
        def delete(tx: Tx) -> None:
            row = tx.fetchone(self._lock_queue_exclusive, _key(key))
            if row is None or row[0] != range_id:
                raise _lease_lost(key, range_id, row[0] if row else None)
            tx.defer(f"DELETE FROM tasks WHERE {TASKS_WHERE}", _key(key))
            tx.defer(f"DELETE FROM task_queues WHERE {QUEUE_WHERE}", _key(key))

        await self._runner.write(delete)

    async def list_task_queues(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueRecord]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 3)
        after = "WHERE (namespace_id, name, task_type) > (?, ?, ?) " if position else ""
        statement = (
            "SELECT namespace_id, name, task_type, range_id, data, data_encoding "
            f"FROM task_queues {after}ORDER BY namespace_id, name, task_type LIMIT ?"
        )
        params = (*(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0], row[1], row[2]))
        return Page(
            [
                TaskQueueRecord(
                    TaskQueueKey(row[0], row[1], row[2]), row[3], DataBlob(row[4], row[5])
                )
                for row in page
            ],
            token,
        )

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        key = _key(request.key)
        rows = [
            (
                *key,
                task.task_id,
                None if task.expiry is None else to_epoch_ms(task.expiry),
                task.blob.data,
                task.blob.encoding,
            )
            for task in request.tasks
        ]

        # The lease check keeps the queue row locked until commit, so a new owner bumping the
        # range id cannot slip in between the check and the inserts. Shared lets appends of
        # one owner run together; a metadata rewrite needs the row exclusively (two sharers
        # both upgrading would deadlock).
        lock = (
            self._lock_queue_shared if request.updated_info is None else self._lock_queue_exclusive
        )

        def create(tx: Tx) -> None:
            row = tx.fetchone(lock, key)
            if row is None or row[0] != request.range_id:
                raise _lease_lost(request.key, request.range_id, row[0] if row else None)
            tx.defer_many(self._upsert_task, rows)
            if request.updated_info is not None:
                tx.defer(
                    f"UPDATE task_queues SET data = ?, data_encoding = ? WHERE {QUEUE_WHERE}",
                    (request.updated_info.data, request.updated_info.encoding, *key),
                )

        await self._runner.write(create)

    async def get_tasks(self, request: GetTasksRequest) -> Page[TaskRecord]:
        check_page_size(request.page_size)
        position = decode_token(request.next_page_token, 1)
        low = position[0] + 1 if position else request.inclusive_min_task_id
        params = (
            *_key(request.key),
            low,
            request.exclusive_max_task_id,
            _now_ms(),
            request.page_size + 1,
        )
        rows = await self._runner.read(lambda tx: tx.fetchall(self._statements.get_tasks, params))
        page, token = split_page(rows, request.page_size, lambda row: (row[0],))
        return Page([_task(row) for row in page], token)

    async def complete_tasks_less_than(
        self, key: TaskQueueKey, exclusive_max_task_id: int, limit: int | None = None
    ) -> int:
        if limit is None:
            statement = self._statements.complete_tasks
            params: tuple[object, ...] = (*_key(key), exclusive_max_task_id)
        else:
            # Neither database has a portable DELETE ... LIMIT: bound it by a keyed subquery.
            statement = (
                f"DELETE FROM tasks WHERE {TASKS_WHERE} AND task_id IN ("
                f"SELECT task_id FROM tasks WHERE {TASKS_WHERE} AND task_id < ? "
                "ORDER BY task_id LIMIT ?)"
            )
            params = (*_key(key), *_key(key), exclusive_max_task_id, limit)
        return await self._runner.write(lambda tx: tx.execute(statement, params))

    async def scavenge_expired_tasks(self, limit: int = 1000) -> int:
        """Delete every task whose expiry has passed, across all queues; returns how many.

        Not part of the :class:`~persistence_cassandra.stores.TaskStore` Protocol: Cassandra
        stores a task's expiry as a TTL and the server drops it, while here an expired task is
        only hidden from :meth:`get_tasks` until this runs. Call it periodically from
        background maintenance (not from the matching hot path).

        Works in transactions of at most ``limit`` rows, so the write lock (SQLite) or the row
        locks (PostgreSQL) are held for one batch at a time and queue owners' writes interleave.
        Only tasks expired when the call began are considered, so it ends even while new tasks
        keep expiring. No lease is needed: an expired task is dead whoever owns its queue.
        Each batch scans for expired rows (the bundled schema has no index on expiry), so a
        small ``limit`` on a large table costs more scans.
        """
        if limit < 1:
            raise InvalidRequest(f"limit must be at least 1, got {limit}")
        cutoff = _now_ms()
        params = (cutoff, limit, cutoff)
        deleted = 0
        while True:
            count = await self._runner.write(lambda tx: tx.execute(_DELETE_EXPIRED_BATCH, params))
            deleted += count
            if count < limit:
                return deleted


def _task(row: Row) -> TaskRecord:
    expiry = None if row[1] is None else from_epoch_ms(row[1])
    return TaskRecord(task_id=row[0], blob=DataBlob(row[2], row[3]), expiry=expiry)


_: type[TaskStore] = SqlTaskStore
