"""Named queues over SQL: a ``queues`` row per queue (next id, min id, metadata, version) and
its messages in ``queue_messages``.

An enqueue is one transaction that locks the queue row (``FOR UPDATE``; SQLite has a single
writer), takes ``next_message_id``, bumps it and inserts the message. The lock is held until
COMMIT, so ids are assigned in commit order: a reader that sees message ``n + 1`` sees ``n``.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.errors import QueueAlreadyExists, QueueNotFound, QueueVersionConflict
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
from persistence_cassandra.stores import QueueStore

__all__ = [
    "ENQUEUE_INSERT",
    "GET_QUEUE",
    "READ_MESSAGES",
    "READ_NO_UPPER_BOUND",
    "SqlQueueStore",
    "enqueue_statements",
]

_KEY = "queue_type = ? AND queue_name = ?"
_QUEUE_COLUMNS = "next_message_id, min_message_id, metadata, metadata_encoding, version"
ENQUEUE_INSERT = (
    "INSERT INTO queue_messages (queue_type, queue_name, message_id, payload, payload_encoding) "
    "VALUES (?, ?, ?, ?, ?)"
)
GET_QUEUE = f"SELECT {_QUEUE_COLUMNS} FROM queues WHERE {_KEY}"
ENQUEUE_BUMP = f"UPDATE queues SET next_message_id = ? WHERE {_KEY}"
READ_MESSAGES = (
    f"SELECT message_id, payload, payload_encoding FROM queue_messages WHERE {_KEY} "
    "AND message_id >= ? AND message_id < ? ORDER BY message_id LIMIT ?"
)
READ_NO_UPPER_BOUND = 2**63 - 1


def enqueue_statements(lock_exclusive: str) -> tuple[str, str, str]:
    """The enqueue's locked read, id bump and message insert (shared with the bench)."""
    return (
        f"SELECT next_message_id FROM queues WHERE {_KEY}{lock_exclusive}",
        ENQUEUE_BUMP,
        ENQUEUE_INSERT,
    )


def _not_found(key: QueueKey) -> QueueNotFound:
    return QueueNotFound(f"queue {key.queue_type}/{key.queue_name!r} not found")


class SqlQueueStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        dialect = runner.dialect
        self._lock = dialect.lock_exclusive
        self._create = dialect.insert_if_absent(
            "queues",
            (
                "queue_type",
                "queue_name",
                "next_message_id",
                "min_message_id",
                "metadata",
                "metadata_encoding",
                "version",
            ),
        )
        self._enqueue = enqueue_statements(self._lock)

    def _queue(self, tx: Tx, key: QueueKey, lock: str = "") -> QueueRecord:
        row = tx.fetchone(GET_QUEUE + lock, (key.queue_type, key.queue_name))
        if row is None:
            raise _not_found(key)
        return QueueRecord(key, DataBlob(row[2], row[3]), row[4], row[1], row[0])

    async def create_queue(self, key: QueueKey, metadata: DataBlob | None = None) -> None:
        blob = metadata or DataBlob(b"", "")
        first = FIRST_QUEUE_MESSAGE_ID
        params = (key.queue_type, key.queue_name, first, first, blob.data, blob.encoding, 0)

        def create(tx: Tx) -> None:
            if not tx.execute(self._create, params):
                raise QueueAlreadyExists(f"queue {key.queue_type}/{key.queue_name!r} exists")

        await self._runner.write(create)

    async def get_queue(self, key: QueueKey) -> QueueRecord:
        return await self._runner.read(lambda tx: self._queue(tx, key))

    async def update_queue_metadata(
        self, key: QueueKey, metadata: DataBlob, expected_version: int
    ) -> None:
        def update(tx: Tx) -> None:
            stored = self._queue(tx, key, self._lock)
            if stored.version != expected_version:
                raise QueueVersionConflict(
                    f"queue {key.queue_type}/{key.queue_name!r} metadata",
                    expected_version=expected_version,
                    actual_version=stored.version,
                )
            tx.defer(
                f"UPDATE queues SET metadata = ?, metadata_encoding = ?, version = ? WHERE {_KEY}",
                (
                    metadata.data,
                    metadata.encoding,
                    expected_version + 1,
                    key.queue_type,
                    key.queue_name,
                ),
            )

        await self._runner.write(update)

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        select, bump, insert = self._enqueue

        def enqueue(tx: Tx) -> int:
            row = tx.fetchone(select, (key.queue_type, key.queue_name))
            if row is None:
                raise _not_found(key)
            message_id: int = row[0]
            tx.defer(bump, (message_id + 1, key.queue_type, key.queue_name))
            tx.defer(
                insert, (key.queue_type, key.queue_name, message_id, payload.data, payload.encoding)
            )
            return message_id

        return await self._runner.write(enqueue)

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Page[QueueMessage]:
        check_page_size(request.page_size)
        key = request.key
        start = request.inclusive_min_message_id
        position = decode_token(request.next_page_token, 1)
        if position is not None:
            start = max(start, int(position[0]) + 1)
        end = request.exclusive_max_message_id
        params = (
            key.queue_type,
            key.queue_name,
            start,
            READ_NO_UPPER_BOUND if end is None else end,
            request.page_size + 1,
        )

        def read(tx: Tx) -> list[tuple[int, bytes, str]]:
            if position is None:
                self._queue(tx, key)  # a missing queue is an error, not an empty page
            return [(row[0], row[1], row[2]) for row in tx.fetchall(READ_MESSAGES, params)]

        rows = await self._runner.read(read)
        page, token = split_page(rows, request.page_size, lambda row: (row[0],))
        return Page([QueueMessage(row[0], DataBlob(row[1], row[2])) for row in page], token)

    async def delete_message(self, key: QueueKey, message_id: int) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                f"DELETE FROM queue_messages WHERE {_KEY} AND message_id = ?",
                (key.queue_type, key.queue_name, message_id),
            )
        )

    async def range_delete_messages(self, key: QueueKey, inclusive_max_message_id: int) -> int:
        def delete(tx: Tx) -> int:
            queue = self._queue(tx, key, self._lock)
            last = min(inclusive_max_message_id, queue.next_message_id - 1)
            if last < queue.min_message_id:
                return 0
            tx.defer(
                f"DELETE FROM queue_messages WHERE {_KEY} AND message_id >= ? AND message_id <= ?",
                (key.queue_type, key.queue_name, queue.min_message_id, last),
            )
            tx.defer(
                f"UPDATE queues SET min_message_id = ? WHERE {_KEY}",
                (last + 1, key.queue_type, key.queue_name),
            )
            return last + 1 - queue.min_message_id

        return await self._runner.write(delete)

    async def list_queues(
        self, queue_type: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[QueueInfo]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 1)
        after = "AND q.queue_name > ? " if position else ""
        statement = (
            "SELECT q.queue_name, q.next_message_id, (SELECT COUNT(*) FROM queue_messages m "
            "WHERE m.queue_type = q.queue_type AND m.queue_name = q.queue_name) "
            f"FROM queues q WHERE q.queue_type = ? {after}ORDER BY q.queue_name LIMIT ?"
        )
        params = (queue_type, *(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0],))
        return Page(
            [QueueInfo(QueueKey(queue_type, row[0]), int(row[2]), row[1]) for row in page], token
        )


_: type[QueueStore] = SqlQueueStore
