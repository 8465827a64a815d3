"""Named queues on Cassandra: one partition per queue, the metadata in static columns.

Id assignment is a lightweight transaction on the queue's own partition: one conditional
batch sets ``next_message_id = n + 1 IF next_message_id = n`` and inserts message ``n``. The id
and its message commit together or not at all, and Paxos completes message ``n`` before it can
accept the batch for ``n + 1``, so a reader that sees a message also sees every earlier one.

Concurrent LWTs on one partition contend, and a contended LWT may time out with an unknown
outcome. Enqueues to one queue are therefore serialized inside one store (an ``asyncio`` lock per
queue, as Temporal serializes conditional writes per shard); across processes the condition
alone keeps ids unique, and a loser retries with the stored next id the failed batch returned.
"""

from __future__ import annotations

import asyncio

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row
from persistence_cassandra.records import (
    FIRST_QUEUE_MESSAGE_ID,
    DataBlob,
    Page,
    QueueInfo,
    QueueKey,
    QueueMessage,
    QueueRecord,
    ReadQueueMessagesRequest,
)

__all__ = [
    "CREATE_QUEUE",
    "ENQUEUE_ASSIGN_ID",
    "ENQUEUE_INSERT",
    "GET_QUEUE",
    "READ_MESSAGES",
    "READ_MESSAGES_BOUNDED",
    "CassandraQueueStore",
]

_KEY = "queue_type = ? AND queue_name = ?"
CREATE_QUEUE = (
    "INSERT INTO queue_messages (queue_type, queue_name, next_message_id, min_message_id, "
    "metadata, metadata_encoding, version) VALUES (?, ?, ?, ?, ?, ?, 0) IF NOT EXISTS"
)
LIST_NAME = "INSERT INTO queues (queue_type, queue_name) VALUES (?, ?)"
GET_QUEUE = (
    "SELECT next_message_id, min_message_id, metadata, metadata_encoding, version "
    f"FROM queue_messages WHERE {_KEY} LIMIT 1"
)
UPDATE_METADATA = (
    "UPDATE queue_messages SET metadata = ?, metadata_encoding = ?, version = ? "
    f"WHERE {_KEY} IF version = ?"
)
ENQUEUE_ASSIGN_ID = (
    f"UPDATE queue_messages SET next_message_id = ? WHERE {_KEY} IF next_message_id = ?"
)
ENQUEUE_INSERT = (
    "INSERT INTO queue_messages (queue_type, queue_name, message_id, payload, payload_encoding) "
    "VALUES (?, ?, ?, ?, ?)"
)
READ_MESSAGES = (
    f"SELECT message_id, payload, payload_encoding FROM queue_messages WHERE {_KEY} "
    "AND message_id >= ? LIMIT ?"
)
READ_MESSAGES_BOUNDED = (
    f"SELECT message_id, payload, payload_encoding FROM queue_messages WHERE {_KEY} "
    "AND message_id >= ? AND message_id < ? LIMIT ?"
)
DELETE_MESSAGE = f"DELETE FROM queue_messages WHERE {_KEY} AND message_id = ?"
RANGE_DELETE = f"DELETE FROM queue_messages WHERE {_KEY} AND message_id >= ? AND message_id <= ?"
RAISE_MIN_ID = f"UPDATE queue_messages SET min_message_id = ? WHERE {_KEY} IF min_message_id = ?"
LIST_NAMES = "SELECT queue_name FROM queues WHERE queue_type = ?"
COUNT_MESSAGES = f"SELECT COUNT(*) AS messages FROM queue_messages WHERE {_KEY} AND message_id >= ?"

MAX_ENQUEUE_ATTEMPTS = 64
"""Lost id races before an enqueue gives up with ``ConditionFailed`` (each loss means another
writer appended a message, so the queue is making progress)."""


def _record(key: QueueKey, row: Row) -> QueueRecord:
    return QueueRecord(
        key=key,
        metadata=DataBlob(row["metadata"] or b"", row["metadata_encoding"] or ""),
        version=row["version"],
        min_message_id=row["min_message_id"],
        next_message_id=row["next_message_id"],
    )


def _check_page_size(page_size: int) -> None:
    if page_size <= 0:
        raise errors.InvalidRequest(f"page_size must be positive (got {page_size})")


def _decode_next_id(token: bytes) -> int:
    try:
        return int(token.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise errors.InvalidRequest("invalid next_page_token") from None


class CassandraQueueStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session
        self._next_ids: dict[QueueKey, int] = {}
        """The next id this store expects per queue: a guess the LWT verifies, saving the read."""
        self._enqueue_locks: dict[QueueKey, asyncio.Lock] = {}

    async def create_queue(self, key: QueueKey, metadata: DataBlob | None = None) -> None:
        blob = metadata or DataBlob(b"", "")
        first = FIRST_QUEUE_MESSAGE_ID
        result = await self._session.write(
            CREATE_QUEUE, (key.queue_type, key.queue_name, first, first, blob.data, blob.encoding)
        )
        # Listed whether or not this call created it: a create interrupted between the two
        # writes is completed by the caller's retry, which then reports the queue as existing.
        await self._session.write(LIST_NAME, (key.queue_type, key.queue_name))
        if not result.applied:
            raise errors.QueueAlreadyExists(f"queue {key.queue_type}/{key.queue_name!r} exists")

    async def get_queue(self, key: QueueKey) -> QueueRecord:
        row = (await self._session.read(GET_QUEUE, (key.queue_type, key.queue_name))).first()
        if row is None or row["next_message_id"] is None:
            raise errors.QueueNotFound(f"queue {key.queue_type}/{key.queue_name!r} not found")
        return _record(key, row)

    async def update_queue_metadata(
        self, key: QueueKey, metadata: DataBlob, expected_version: int
    ) -> None:
        result = await self._session.write(
            UPDATE_METADATA,
            (
                metadata.data,
                metadata.encoding,
                expected_version + 1,
                key.queue_type,
                key.queue_name,
                expected_version,
            ),
        )
        if result.applied:
            return
        actual = (result.first() or {}).get("version")
        if actual is None:
            raise errors.QueueNotFound(f"queue {key.queue_type}/{key.queue_name!r} not found")
        raise errors.QueueVersionConflict(
            f"queue {key.queue_type}/{key.queue_name!r} metadata",
            expected_version=expected_version,
            actual_version=actual,
        )

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        lock = self._enqueue_locks.get(key)
        if lock is None:
            lock = self._enqueue_locks.setdefault(key, asyncio.Lock())
        async with lock:
            next_id = self._next_ids.get(key)
            if next_id is None:
                next_id = (await self.get_queue(key)).next_message_id
            try:
                for _ in range(MAX_ENQUEUE_ATTEMPTS):
                    result = await self._session.write_batch(
                        [
                            (
                                ENQUEUE_ASSIGN_ID,
                                (next_id + 1, key.queue_type, key.queue_name, next_id),
                            ),
                            (
                                ENQUEUE_INSERT,
                                (
                                    key.queue_type,
                                    key.queue_name,
                                    next_id,
                                    payload.data,
                                    payload.encoding,
                                ),
                            ),
                        ]
                    )
                    if result.applied:
                        self._next_ids[key] = next_id + 1
                        return next_id
                    stored = (result.first() or {}).get("next_message_id")
                    if stored is None:
                        raise errors.QueueNotFound(
                            f"queue {key.queue_type}/{key.queue_name!r} not found"
                        )
                    next_id = stored
            except BaseException:
                self._next_ids.pop(key, None)  # unknown now: read it again next time
                raise
        self._next_ids.pop(key, None)
        raise errors.ConditionFailed(
            f"queue {key.queue_type}/{key.queue_name!r}: lost the id race "
            f"{MAX_ENQUEUE_ATTEMPTS} times in a row"
        )

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Page[QueueMessage]:
        _check_page_size(request.page_size)
        key = request.key
        start = request.inclusive_min_message_id
        if request.next_page_token:
            start = max(start, _decode_next_id(request.next_page_token))
        else:
            # A missing queue is an error, not an empty page (tuples: only existence matters).
            found = await self._session.read_tuples(GET_QUEUE, (key.queue_type, key.queue_name))
            if not found.rows or found.rows[0][0] is None:
                raise errors.QueueNotFound(f"queue {key.queue_type}/{key.queue_name!r} not found")
        if request.exclusive_max_message_id is None:
            cql = READ_MESSAGES
            params: tuple[object, ...] = (key.queue_type, key.queue_name, start)
        else:
            cql = READ_MESSAGES_BOUNDED
            params = (key.queue_type, key.queue_name, start, request.exclusive_max_message_id)
        result = await self._session.read_tuples(cql, (*params, request.page_size + 1))
        rows = result.rows
        messages = [QueueMessage(row[0], DataBlob(row[1], row[2])) for row in rows]
        if len(messages) > request.page_size:
            del messages[request.page_size :]
            return Page(messages, str(messages[-1].message_id + 1).encode("ascii"))
        return Page(messages, b"")

    async def delete_message(self, key: QueueKey, message_id: int) -> None:
        await self._session.write(DELETE_MESSAGE, (key.queue_type, key.queue_name, message_id))

    async def range_delete_messages(self, key: QueueKey, inclusive_max_message_id: int) -> int:
        queue = await self.get_queue(key)
        # Never past the last assigned id: a tombstone over ids not assigned yet would be
        # harmless (later writes are newer) but would make the min id run ahead of the queue.
        last = min(inclusive_max_message_id, queue.next_message_id - 1)
        covered = 0
        while last >= queue.min_message_id:
            await self._session.write(
                RANGE_DELETE, (key.queue_type, key.queue_name, queue.min_message_id, last)
            )
            result = await self._session.write(
                RAISE_MIN_ID, (last + 1, key.queue_type, key.queue_name, queue.min_message_id)
            )
            if result.applied:
                covered += last + 1 - queue.min_message_id
                break
            # A concurrent delete moved the min id first: what is left is above its bound.
            queue = await self.get_queue(key)
        return covered

    async def list_queues(
        self, queue_type: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[QueueInfo]:
        _check_page_size(page_size)
        result = await self._session.read(
            LIST_NAMES, (queue_type,), page_size=page_size, paging_state=next_page_token
        )
        infos = []
        for row in result.rows:
            key = QueueKey(queue_type, row["queue_name"])
            queue = await self.get_queue(key)
            count = await self._session.read(
                COUNT_MESSAGES, (queue_type, key.queue_name, queue.min_message_id)
            )
            messages = (count.first() or {}).get("messages") or 0
            infos.append(QueueInfo(key, int(messages), queue.next_message_id))
        return Page(infos, result.next_page_token)
