"""Dead-letter queues of history tasks, one named queue per (category, source cluster, target
cluster), over any :class:`~persistence_cassandra.stores.QueueStore`.

A history task that keeps failing (a poison task) is parked here with its blob, so that the
shard's queue can move on; an operator (or the server) reads it back, replays it and deletes it.
Queue names encode the three parts unambiguously (``%`` and ``_`` escaped in cluster names), so
listing the DLQs gives their keys back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from persistence_cassandra.errors import DataLoss, InvalidRequest, QueueNotFound
from persistence_cassandra.managers.queue_ensure import on_existing_queue
from persistence_cassandra.records import (
    DataBlob,
    HistoryTask,
    Page,
    QueueKey,
    QueueType,
    ReadQueueMessagesRequest,
    TaskKey,
    from_epoch_ms,
    to_epoch_ms,
)
from persistence_cassandra.stores import QueueStore
from persistence_cassandra.task_categories import task_category

__all__ = [
    "TASK_PAYLOAD_ENCODING",
    "DLQHistoryTask",
    "HistoryTaskDLQ",
    "HistoryTaskDLQInfo",
    "HistoryTaskDLQKey",
    "decode_task",
    "encode_task",
]

TASK_PAYLOAD_ENCODING = "pc-dlq-task/v1"
"""A JSON header line (category, fire time, task id, blob encoding), then the task's blob."""


@dataclass(frozen=True, slots=True, order=True)
class HistoryTaskDLQKey:
    category: int
    source_cluster: str
    target_cluster: str

    @property
    def queue_name(self) -> str:
        return f"{self.category}_{_escape(self.source_cluster)}_{_escape(self.target_cluster)}"

    @staticmethod
    def from_queue_name(name: str) -> HistoryTaskDLQKey:
        parts = name.split("_")
        if len(parts) != 3 or not parts[0].isdigit():
            raise DataLoss(f"queue name {name!r} is not a history-task DLQ name")
        return HistoryTaskDLQKey(int(parts[0]), _unescape(parts[1]), _unescape(parts[2]))

    @property
    def queue_key(self) -> QueueKey:
        return QueueKey(QueueType.HISTORY_TASK_DLQ, self.queue_name)


@dataclass(slots=True, unsafe_hash=True)
class DLQHistoryTask:
    message_id: int
    task: HistoryTask


@dataclass(slots=True, unsafe_hash=True)
class HistoryTaskDLQInfo:
    key: HistoryTaskDLQKey
    message_count: int


def _escape(cluster: str) -> str:
    return cluster.replace("%", "%25").replace("_", "%5F")


def _unescape(part: str) -> str:
    return part.replace("%5F", "_").replace("%25", "%")


def encode_task(task: HistoryTask) -> DataBlob:
    header = {
        "category": int(task.category),
        "fire_time_ms": to_epoch_ms(task.key.fire_time),
        "task_id": task.key.task_id,
        "encoding": task.blob.encoding,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return DataBlob(head + b"\n" + task.blob.data, TASK_PAYLOAD_ENCODING)


def decode_task(payload: DataBlob) -> HistoryTask:
    if payload.encoding != TASK_PAYLOAD_ENCODING:
        raise DataLoss(f"DLQ message has encoding {payload.encoding!r}, not a history task")
    head, _, data = payload.data.partition(b"\n")
    try:
        header = json.loads(head)
        key = TaskKey(from_epoch_ms(int(header["fire_time_ms"])), int(header["task_id"]))
        return HistoryTask(
            task_category(int(header["category"])), key, DataBlob(data, header["encoding"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DataLoss(f"DLQ message header is corrupt: {exc}") from exc


class HistoryTaskDLQ:
    """Enqueue, read, delete one, delete a range, list: Temporal's history-task queue manager."""

    def __init__(self, queue: QueueStore) -> None:
        self._queue = queue

    async def enqueue_task(self, key: HistoryTaskDLQKey, task: HistoryTask) -> int:
        """Park ``task`` (its category must be the key's); creates the DLQ on first use.
        Returns the message id."""
        if int(task.category) != key.category:
            raise InvalidRequest(
                f"a task of category {int(task.category)} cannot go to the DLQ of category "
                f"{key.category}"
            )
        payload = encode_task(task)
        queue_key = key.queue_key
        return await on_existing_queue(
            self._queue, queue_key, lambda: self._queue.enqueue_message(queue_key, payload)
        )

    async def read_tasks(
        self, key: HistoryTaskDLQKey, page_size: int, next_page_token: bytes = b""
    ) -> Page[DLQHistoryTask]:
        """Parked tasks in the order they were parked; an absent DLQ reads as empty."""
        request = ReadQueueMessagesRequest(key.queue_key, page_size, next_page_token)
        try:
            page = await self._queue.read_messages(request)
        except QueueNotFound:
            return Page([], b"")
        return Page(
            [DLQHistoryTask(m.message_id, decode_task(m.payload)) for m in page.items],
            page.next_page_token,
        )

    async def delete_task(self, key: HistoryTaskDLQKey, message_id: int) -> None:
        await self._queue.delete_message(key.queue_key, message_id)

    async def delete_tasks(self, key: HistoryTaskDLQKey, inclusive_max_message_id: int) -> int:
        """Delete every parked task up to the id; returns how many ids that newly covered."""
        return await self._queue.range_delete_messages(key.queue_key, inclusive_max_message_id)

    async def list_queues(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[HistoryTaskDLQInfo]:
        page = await self._queue.list_queues(QueueType.HISTORY_TASK_DLQ, page_size, next_page_token)
        return Page(
            [
                HistoryTaskDLQInfo(
                    HistoryTaskDLQKey.from_queue_name(i.key.queue_name), i.message_count
                )
                for i in page.items
            ],
            page.next_page_token,
        )
