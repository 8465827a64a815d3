"""Matching task queues and their tasks; a queue's range id is its owner's lease.

A sticky queue past its ``expiry_time`` is gone for every operation (as on Cassandra, where a
TTL removes it) but stays stored, with its tasks, until :meth:`SqlTaskStore.scavenge_expired_tasks`
deletes it or a create of the same queue replaces it.
"""

from __future__ import annotations

import time

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.statements import QUEUE_WHERE, TASKS_WHERE, sql_statements
from persistence_cassandra.backends.sql.task_queue_user_data import SqlTaskQueueUserData
from persistence_cassandra.backends.sql.transaction import Row, TransactionRunner, Tx
from persistence_cassandra.errors import ConditionFailed, InvalidRequest, NotFound
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
from persistence_cassandra.stores import TaskScavenger, TaskStore

__all__ = ["SqlTaskStore"]

_READ_RANGE = f"SELECT range_id, expiry_time FROM task_queues WHERE {QUEUE_WHERE}"
_LIVE = "(expiry_time IS NULL OR expiry_time > ?)"
_QUEUE_COLUMNS = "range_id, data, data_encoding, kind, expiry_time"
_EXPIRED_QUEUES = (
    "SELECT namespace_id, name, task_type FROM task_queues "
    "WHERE expiry_time IS NOT NULL AND expiry_time <= ? LIMIT ?"
)
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


def _alive(row: Row | None, now_ms: int) -> bool:
    """Whether a row read with ``range_id, expiry_time`` first is a live queue."""
    return row is not None and (row[1] is None or row[1] > now_ms)


def _queue(key: TaskQueueKey, row: Row) -> TaskQueueRecord:
    """The record of a row read with ``_QUEUE_COLUMNS``."""
    expiry = None if row[4] is None else from_epoch_ms(row[4])
    return TaskQueueRecord(key, row[0], DataBlob(row[1], row[2]), TaskQueueKind(row[3]), expiry)


def _lease_lost(key: TaskQueueKey, expected: int, row: Row | None) -> ConditionFailed:
    stored = row[0] if _alive(row, _now_ms()) and row is not None else None
    found = "the queue does not exist" if stored is None else f"stored range_id={stored}"
    return ConditionFailed(
        f"task queue {key.name!r} (type {key.task_type}): expected range_id={expected}, {found}"
    )


class SqlTaskStore(SqlTaskQueueUserData):
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._insert_queue = dialect.insert_if_absent(
            "task_queues",
            (
                "namespace_id",
                "name",
                "task_type",
                "range_id",
                "data",
                "data_encoding",
                "kind",
                "expiry_time",
            ),
        )
        self._init_user_data()
        self._statements = statements = sql_statements(dialect)
        self._lock_queue_shared = statements.lock_queue_shared
        self._lock_queue_exclusive = statements.lock_queue_exclusive
        self._upsert_task = statements.upsert_task

    async def create_task_queue(self, record: TaskQueueRecord) -> None:
        expiry_ms = None if record.expiry is None else to_epoch_ms(record.expiry)

        def create(tx: Tx) -> None:
            # An expired queue is gone: a new one replaces it (with none of its old tasks).
            key = _key(record.key)
            expired = f"{QUEUE_WHERE} AND expiry_time IS NOT NULL AND expiry_time <= ?"
            if tx.execute(f"DELETE FROM task_queues WHERE {expired}", (*key, _now_ms())):
                tx.execute(f"DELETE FROM tasks WHERE {TASKS_WHERE}", key)
            inserted = tx.execute(
                self._insert_queue,
                (
                    *key,
                    record.range_id,
                    record.info.data,
                    record.info.encoding,
                    int(record.kind),
                    expiry_ms,
                ),
            )
            if not inserted:
                raise ConditionFailed(f"task queue {record.key.name!r} already exists")

        await self._runner.write(create)

    async def get_task_queue(self, key: TaskQueueKey) -> TaskQueueRecord:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                f"SELECT {_QUEUE_COLUMNS} FROM task_queues WHERE {QUEUE_WHERE} AND {_LIVE}",
                (*_key(key), _now_ms()),
            )
        )
        if row is None:
            raise NotFound(f"task queue {key.name!r} (type {key.task_type}) does not exist")
        return _queue(key, row)

    async def update_task_queue(self, record: TaskQueueRecord, previous_range_id: int) -> None:
        def update(tx: Tx) -> None:
            updated = tx.execute(
                "UPDATE task_queues SET range_id = ?, data = ?, data_encoding = ?, kind = ?, "
                f"expiry_time = ? WHERE {QUEUE_WHERE} AND range_id = ? AND {_LIVE}",
                (
                    record.range_id,
                    record.info.data,
                    record.info.encoding,
                    int(record.kind),
                    None if record.expiry is None else to_epoch_ms(record.expiry),
                    *_key(record.key),
                    previous_range_id,
                    _now_ms(),
                ),
            )
            if not updated:
                row = tx.fetchone(_READ_RANGE, _key(record.key))
                raise _lease_lost(record.key, previous_range_id, row)

        await self._runner.write(update)

    async def delete_task_queue(self, key: TaskQueueKey, range_id: int) -> None:
        def delete(tx: Tx) -> None:
            row = tx.fetchone(self._lock_queue_exclusive, _key(key))
            if row is None or row[0] != range_id:
                raise _lease_lost(key, range_id, row)
            tx.defer(f"DELETE FROM tasks WHERE {TASKS_WHERE}", _key(key))
            tx.defer(f"DELETE FROM task_queues WHERE {QUEUE_WHERE}", _key(key))

        await self._runner.write(delete)

    async def list_task_queues(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueRecord]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 3)
        after = "AND (namespace_id, name, task_type) > (?, ?, ?) " if position else ""
        statement = (
            f"SELECT namespace_id, name, task_type, {_QUEUE_COLUMNS} "
            f"FROM task_queues WHERE {_LIVE} {after}"
            "ORDER BY namespace_id, name, task_type LIMIT ?"
        )
        params = (_now_ms(), *(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0], row[1], row[2]))
        return Page(
            [_queue(TaskQueueKey(row[0], row[1], row[2]), row[3:]) for row in page],
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
            if row is None or row[0] != request.range_id or not _alive(row, _now_ms()):
                raise _lease_lost(request.key, request.range_id, row)
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
        """Delete every task whose expiry has passed, across all queues, and every expired
        (sticky) queue with all its tasks; returns how many rows went.

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
                break
        while True:
            count, queues = await self._runner.write(
                lambda tx: _delete_expired_queues(tx, cutoff, limit)
            )
            deleted += count
            if queues < limit:
                return deleted


def _delete_expired_queues(tx: Tx, cutoff: int, limit: int) -> tuple[int, int]:
    """Up to ``limit`` queues expired at ``cutoff``, with their tasks: (rows, queues) deleted.

    The queue delete repeats the expiry test, so a queue re-created meanwhile (a live row
    under the same key) survives; its tasks were written after the create, which already
    removed the expired queue's tasks, so none are lost."""
    deleted = 0
    queues = tx.fetchall(_EXPIRED_QUEUES, (cutoff, limit))
    for key in queues:
        gone = tx.execute(
            f"DELETE FROM task_queues WHERE {QUEUE_WHERE} AND expiry_time IS NOT NULL "
            "AND expiry_time <= ?",
            (*key, cutoff),
        )
        if gone:
            deleted += gone + tx.execute(f"DELETE FROM tasks WHERE {TASKS_WHERE}", tuple(key))
    return deleted, len(queues)


def _task(row: Row) -> TaskRecord:
    expiry = None if row[1] is None else from_epoch_ms(row[1])
    return TaskRecord(task_id=row[0], blob=DataBlob(row[2], row[3]), expiry=expiry)


_: type[TaskStore] = SqlTaskStore
_scavenger: type[TaskScavenger] = SqlTaskStore
