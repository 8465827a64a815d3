"""History tasks of a shard: immediate categories keyed by task id, scheduled categories by
(fire time, task id), times stored as epoch milliseconds."""

from __future__ import annotations

from collections.abc import Iterable

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.statements import sql_statements
from persistence_cassandra.backends.sql.transaction import Row, Tx
from persistence_cassandra.records import (
    DataBlob,
    GetHistoryTasksRequest,
    HistoryTask,
    Page,
    TaskCategory,
    TaskCategoryType,
    TaskKey,
    from_epoch_ms,
    to_epoch_ms,
)

__all__ = ["HistoryTaskSql", "history_task_rows"]


def _is_scheduled(category: TaskCategory) -> bool:
    return category.category_type is TaskCategoryType.SCHEDULED


def history_task_rows(
    shard_id: int, tasks: Iterable[HistoryTask]
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The bound values of ``upsert_immediate`` and ``upsert_scheduled`` for ``tasks``."""
    immediate: list[tuple[object, ...]] = []
    scheduled: list[tuple[object, ...]] = []
    for task in tasks:
        category, blob = int(task.category), task.blob
        if _is_scheduled(task.category):
            scheduled.append(
                (
                    shard_id,
                    category,
                    to_epoch_ms(task.key.fire_time),
                    task.key.task_id,
                    blob.data,
                    blob.encoding,
                )
            )
        else:
            immediate.append((shard_id, category, task.key.task_id, blob.data, blob.encoding))
    return immediate, scheduled


class HistoryTaskSql:
    """Statements and synchronous operations on the two history task tables."""

    def __init__(self, dialect: SqlDialect) -> None:
        self._statements = sql_statements(dialect)

    def insert(self, tx: Tx, shard_id: int, tasks: Iterable[HistoryTask]) -> None:
        """Upsert: task ids are unique within a range-id lease, so a rewrite is a retry."""
        immediate, scheduled = history_task_rows(shard_id, tasks)
        tx.defer_many(self._statements.upsert_immediate, immediate)
        tx.defer_many(self._statements.upsert_scheduled, scheduled)

    def get(self, tx: Tx, request: GetHistoryTasksRequest) -> Page[HistoryTask]:
        check_page_size(request.page_size)
        category = request.category
        limit = request.page_size + 1
        if _is_scheduled(category):
            position = decode_token(request.next_page_token, 2)
            low = (
                (position[0], position[1] + 1)
                if position
                else (to_epoch_ms(request.inclusive_min.fire_time), request.inclusive_min.task_id)
            )
            high = (to_epoch_ms(request.exclusive_max.fire_time), request.exclusive_max.task_id)
            rows = tx.fetchall(
                self._statements.get_scheduled,
                (request.shard_id, int(category), *low, *high, limit),
            )
            page, token = split_page(rows, request.page_size, lambda row: (row[0], row[1]))
            return Page(
                [
                    HistoryTask(
                        category, TaskKey(from_epoch_ms(row[0]), row[1]), DataBlob(row[2], row[3])
                    )
                    for row in page
                ],
                token,
            )
        position = decode_token(request.next_page_token, 1)
        low_id = position[0] + 1 if position else request.inclusive_min.task_id
        rows = tx.fetchall(
            self._statements.get_immediate,
            (request.shard_id, int(category), low_id, request.exclusive_max.task_id, limit),
        )
        page, token = split_page(rows, request.page_size, lambda row: (row[0],))
        return Page([_immediate(category, row) for row in page], token)

    def complete(self, tx: Tx, shard_id: int, category: TaskCategory, key: TaskKey) -> None:
        if _is_scheduled(category):
            tx.defer(
                self._statements.complete_scheduled,
                (shard_id, int(category), to_epoch_ms(key.fire_time), key.task_id),
            )
        else:
            tx.defer(
                self._statements.complete_immediate,
                (shard_id, int(category), key.task_id),
            )

    def range_complete(
        self,
        tx: Tx,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        if _is_scheduled(category):
            tx.defer(
                self._statements.range_complete_scheduled,
                (
                    shard_id,
                    int(category),
                    to_epoch_ms(inclusive_min.fire_time),
                    inclusive_min.task_id,
                    to_epoch_ms(exclusive_max.fire_time),
                    exclusive_max.task_id,
                ),
            )
        else:
            tx.defer(
                self._statements.range_complete_immediate,
                (shard_id, int(category), inclusive_min.task_id, exclusive_max.task_id),
            )


def _immediate(category: TaskCategory, row: Row) -> HistoryTask:
    return HistoryTask(category, TaskKey.immediate(row[0]), DataBlob(row[1], row[2]))
