"""The namespace replication queue, its ack levels and its DLQ (Temporal's ``Queue``
interface), over any :class:`~persistence_cassandra.stores.QueueStore`.

Two named queues: the replication queue itself and its DLQ. Each keeps its per-cluster ack
levels in the queue's metadata blob, written by compare-and-set on the metadata version, so two
frontends acknowledging at once cannot lose each other's update. Both queues are created on
first use (Temporal's ``Init``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from persistence_cassandra.errors import DataLoss
from persistence_cassandra.managers.queue_ensure import ensure_queue, on_existing_queue
from persistence_cassandra.records import (
    DataBlob,
    Page,
    QueueKey,
    QueueMessage,
    QueueType,
    ReadQueueMessagesRequest,
)
from persistence_cassandra.stores import QueueStore

__all__ = ["ACK_LEVELS_ENCODING", "NamespaceReplicationQueue", "QueueAckLevels"]

ACK_LEVELS_ENCODING = "pc-ack-levels/v1+json"
QUEUE_NAME = "namespace_replication"


@dataclass(slots=True)
class QueueAckLevels:
    """The highest acknowledged message id per cluster, and the metadata version it was read
    at (pass it back unchanged to update)."""

    cluster_ack_levels: dict[str, int] = field(default_factory=dict)
    version: int = 0


def _encode(levels: dict[str, int]) -> DataBlob:
    return DataBlob(json.dumps(levels, sort_keys=True).encode(), ACK_LEVELS_ENCODING)


def _decode(blob: DataBlob) -> dict[str, int]:
    if not blob.data:
        return {}
    try:
        levels = json.loads(blob.data)
        return {str(cluster): int(level) for cluster, level in levels.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise DataLoss(f"queue ack levels are corrupt: {exc}") from exc


class NamespaceReplicationQueue:
    def __init__(self, queue: QueueStore, name: str = QUEUE_NAME) -> None:
        self._queue = queue
        self.key = QueueKey(QueueType.NAMESPACE_REPLICATION, name)
        self.dlq_key = QueueKey(QueueType.NAMESPACE_REPLICATION_DLQ, name)

    async def init(self) -> None:
        """Create both queues unless they exist."""
        await ensure_queue(self._queue, self.key)
        await ensure_queue(self._queue, self.dlq_key)

    # ------------------------------------------------------------------ the queue

    async def enqueue_message(self, blob: DataBlob) -> int:
        return await on_existing_queue(
            self._queue, self.key, lambda: self._queue.enqueue_message(self.key, blob)
        )

    async def read_messages(self, last_message_id: int, max_count: int) -> list[QueueMessage]:
        """Up to ``max_count`` messages with ids above ``last_message_id``, in id order."""
        return await self._read_after(self.key, last_message_id, max_count)

    async def delete_messages_before(self, message_id: int) -> None:
        """Drop every message with an id below ``message_id`` (all clusters acknowledged)."""
        await on_existing_queue(
            self._queue,
            self.key,
            lambda: self._queue.range_delete_messages(self.key, message_id - 1),
        )

    async def update_ack_level(self, levels: QueueAckLevels) -> None:
        """CAS on ``levels.version``; ``QueueVersionConflict`` when someone wrote first."""
        await self._update_levels(self.key, levels)

    async def get_ack_levels(self) -> QueueAckLevels:
        return await self._levels(self.key)

    # ------------------------------------------------------------------ the DLQ

    async def enqueue_message_to_dlq(self, blob: DataBlob) -> int:
        return await on_existing_queue(
            self._queue, self.dlq_key, lambda: self._queue.enqueue_message(self.dlq_key, blob)
        )

    async def read_messages_from_dlq(
        self,
        first_message_id: int,
        last_message_id: int,
        page_size: int,
        next_page_token: bytes = b"",
    ) -> Page[QueueMessage]:
        """DLQ messages with ``first_message_id < id <= last_message_id``, in pages."""
        request = ReadQueueMessagesRequest(
            self.dlq_key,
            page_size,
            next_page_token,
            inclusive_min_message_id=first_message_id + 1,
            exclusive_max_message_id=last_message_id + 1,
        )
        return await on_existing_queue(
            self._queue, self.dlq_key, lambda: self._queue.read_messages(request)
        )

    async def delete_message_from_dlq(self, message_id: int) -> None:
        await self._queue.delete_message(self.dlq_key, message_id)

    async def range_delete_messages_from_dlq(
        self, first_message_id: int, last_message_id: int
    ) -> None:
        """Drop DLQ messages with ``first_message_id < id <= last_message_id``: one range
        delete when nothing below the range is left, else one delete per message."""
        queue = await self._queue.get_queue(self.dlq_key)
        if first_message_id + 1 <= queue.min_message_id:
            await self._queue.range_delete_messages(self.dlq_key, last_message_id)
            return
        token = b""
        while True:
            page = await self.read_messages_from_dlq(first_message_id, last_message_id, 1000, token)
            for message in page.items:
                await self._queue.delete_message(self.dlq_key, message.message_id)
            token = page.next_page_token
            if not token:
                return

    async def update_dlq_ack_level(self, levels: QueueAckLevels) -> None:
        await self._update_levels(self.dlq_key, levels)

    async def get_dlq_ack_levels(self) -> QueueAckLevels:
        return await self._levels(self.dlq_key)

    # ------------------------------------------------------------------ shared

    async def _read_after(self, key: QueueKey, last_id: int, max_count: int) -> list[QueueMessage]:
        request = ReadQueueMessagesRequest(key, max_count, inclusive_min_message_id=last_id + 1)
        page = await on_existing_queue(self._queue, key, lambda: self._queue.read_messages(request))
        return page.items

    async def _levels(self, key: QueueKey) -> QueueAckLevels:
        queue = await on_existing_queue(self._queue, key, lambda: self._queue.get_queue(key))
        return QueueAckLevels(_decode(queue.metadata), queue.version)

    async def _update_levels(self, key: QueueKey, levels: QueueAckLevels) -> None:
        blob = _encode(levels.cluster_ack_levels)
        await on_existing_queue(
            self._queue,
            key,
            lambda: self._queue.update_queue_metadata(key, blob, levels.version),
        )
