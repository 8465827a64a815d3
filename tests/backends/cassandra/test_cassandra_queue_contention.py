"""Queue id assignment under real LWT contention: several stores (each with its own enqueue
lock and next-id guess, as separate processes would have) append to one queue at once.

The suite's concurrency scenario goes through one store, whose per-queue lock serializes the
enqueues before they reach Cassandra; here only the conditional batch keeps ids distinct and
dense, and a planted bug (the condition weakened so that a stale guess still applies) must make
the same check fail.
"""

from __future__ import annotations

import pytest

from persistence_cassandra.backends.cassandra import queue_store
from persistence_cassandra.backends.cassandra.queue_store import CassandraQueueStore
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.records import QueueKey
from persistence_cassandra.stores import QueueStore
from persistence_cassandra.testing.builders import unique_id
from persistence_cassandra.testing.suite.queues import TEST_QUEUE_TYPE, check_dense_enqueues

WRITERS = 3


def _writers(session: CassandraSession) -> list[QueueStore]:
    return [CassandraQueueStore(session) for _ in range(WRITERS)]


async def _new_queue(session: CassandraSession) -> QueueKey:
    key = QueueKey(TEST_QUEUE_TYPE, unique_id("contended"))
    await CassandraQueueStore(session).create_queue(key)
    return key


async def test_contending_writers_get_dense_distinct_ids(raw_session: CassandraSession) -> None:
    key = await _new_queue(raw_session)
    await check_dense_enqueues(_writers(raw_session), key)


async def test_the_check_fails_when_the_id_condition_is_weakened(
    raw_session: CassandraSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer whose guess is stale now applies anyway and overwrites the message at that id.
    monkeypatch.setattr(
        queue_store,
        "ENQUEUE_ASSIGN_ID",
        "UPDATE queue_messages SET next_message_id = ? "
        "WHERE queue_type = ? AND queue_name = ? IF next_message_id >= ?",
    )
    key = await _new_queue(raw_session)
    with pytest.raises(AssertionError):
        await check_dense_enqueues(_writers(raw_session), key)
