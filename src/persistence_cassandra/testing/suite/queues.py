"""QueueStore conformance: named queues with dense ids, paging, acknowledgement by range delete,
listing with counts, and id assignment under concurrent enqueuers (distinct ids, no id a reader
sees before its predecessor)."""

from __future__ import annotations

import asyncio

import pytest

from persistence_cassandra.errors import (
    InvalidRequest,
    QueueAlreadyExists,
    QueueNotFound,
    QueueVersionConflict,
    Timeout,
)
from persistence_cassandra.records import (
    QueueKey,
    QueueMessage,
    ReadQueueMessagesRequest,
)
from persistence_cassandra.stores import QueueStore, StoreBundle
from persistence_cassandra.testing.builders import blob, collect_pages, unique_id

__all__ = ["TestQueueConcurrency", "TestQueueStore", "check_dense_enqueues", "read_all"]

TEST_QUEUE_TYPE = 9001
"""A queue type of the suite's own, so its listings never meet a server's queues."""
ENQUEUERS = 6
MESSAGES_EACH = 5


def queue_key() -> QueueKey:
    return QueueKey(TEST_QUEUE_TYPE, unique_id("queue"))


async def read_all(
    queue: QueueStore, key: QueueKey, page_size: int = 100, inclusive_min: int = 0
) -> list[QueueMessage]:
    messages, _ = await collect_pages(
        lambda token: queue.read_messages(
            ReadQueueMessagesRequest(key, page_size, token, inclusive_min_message_id=inclusive_min)
        )
    )
    return messages


async def check_dense_enqueues(queues: list[QueueStore], key: QueueKey) -> None:
    """Enqueue from every store at once while a reader polls: every message gets a distinct id,
    the ids are exactly 0..n-1, and no read ever shows an id whose predecessor is missing.

    A timed-out enqueue (unknown outcome) may or may not have appended its message; the checks
    allow it either way, but never a duplicate or a hole."""
    done = asyncio.Event()
    seen_gaps: list[list[int]] = []

    async def enqueuer(store: QueueStore, n: int) -> list[tuple[str, int | None]]:
        results: list[tuple[str, int | None]] = []
        for m in range(MESSAGES_EACH):
            text = f"writer-{n}-message-{m}"
            try:
                results.append((text, await store.enqueue_message(key, blob(text))))
            except Timeout as exc:
                assert exc.may_have_committed
                results.append((text, None))
        return results

    async def reader() -> None:
        while not done.is_set():
            ids = [m.message_id for m in await read_all(queues[0], key)]
            if ids != list(range(len(ids))):
                seen_gaps.append(ids)
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    try:
        outcomes = await asyncio.gather(
            *(enqueuer(queues[n % len(queues)], n) for n in range(ENQUEUERS))
        )
    finally:
        done.set()
        await reading
    assert not seen_gaps, f"a reader saw ids with holes: {seen_gaps[0]}"
    sent = {text: message_id for outcome in outcomes for text, message_id in outcome}
    assigned = [message_id for message_id in sent.values() if message_id is not None]
    assert len(set(assigned)) == len(assigned), "two enqueues got the same id"
    stored = await read_all(queues[0], key)
    assert [m.message_id for m in stored] == list(range(len(stored)))
    by_text = {m.payload.data.decode(): m.message_id for m in stored}
    for text, message_id in sent.items():
        if message_id is not None:
            assert by_text.get(text) == message_id, f"{text} was acknowledged but is not stored"
    assert set(by_text) <= set(sent), "a message nobody sent is stored"


class TestQueueStore:
    async def test_create_then_create_again_is_already_exists(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key, blob("meta"))
        with pytest.raises(QueueAlreadyExists):
            await stores.queue.create_queue(key)
        queue = await stores.queue.get_queue(key)
        assert (queue.metadata, queue.version) == (blob("meta"), 0)
        assert (queue.min_message_id, queue.next_message_id) == (0, 0)

    async def test_a_missing_queue_is_not_found_for_every_operation(
        self, stores: StoreBundle
    ) -> None:
        key = queue_key()
        with pytest.raises(QueueNotFound):
            await stores.queue.get_queue(key)
        with pytest.raises(QueueNotFound):
            await stores.queue.enqueue_message(key, blob("m"))
        with pytest.raises(QueueNotFound):
            await stores.queue.read_messages(ReadQueueMessagesRequest(key, 10))
        with pytest.raises(QueueNotFound):
            await stores.queue.range_delete_messages(key, 10)
        with pytest.raises(QueueNotFound):
            await stores.queue.update_queue_metadata(key, blob("m"), 0)

    async def test_enqueue_assigns_dense_ids_in_order(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        ids = [await stores.queue.enqueue_message(key, blob(f"m{n}")) for n in range(5)]
        assert ids == [0, 1, 2, 3, 4]
        stored = await read_all(stores.queue, key)
        assert [(m.message_id, m.payload) for m in stored] == [(n, blob(f"m{n}")) for n in range(5)]
        assert (await stores.queue.get_queue(key)).next_message_id == 5

    async def test_reads_page_by_id_and_respect_the_range(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        for n in range(7):
            await stores.queue.enqueue_message(key, blob(f"m{n}"))
        messages, pages = await collect_pages(
            lambda token: stores.queue.read_messages(ReadQueueMessagesRequest(key, 3, token))
        )
        assert [m.message_id for m in messages] == list(range(7))
        assert pages == 3
        bounded = await stores.queue.read_messages(
            ReadQueueMessagesRequest(
                key, 10, inclusive_min_message_id=2, exclusive_max_message_id=5
            )
        )
        assert [m.message_id for m in bounded.items] == [2, 3, 4]
        assert bounded.next_page_token == b""

    async def test_a_bad_page_size_or_token_is_an_invalid_request(
        self, stores: StoreBundle
    ) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        with pytest.raises(InvalidRequest):
            await stores.queue.read_messages(ReadQueueMessagesRequest(key, 0))
        with pytest.raises(InvalidRequest):
            await stores.queue.read_messages(ReadQueueMessagesRequest(key, 5, b"\xff not a token"))
        with pytest.raises(InvalidRequest):
            await stores.queue.list_queues(TEST_QUEUE_TYPE, 0)

    async def test_range_delete_acknowledges_up_to_an_id(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        for n in range(6):
            await stores.queue.enqueue_message(key, blob(f"m{n}"))
        assert await stores.queue.range_delete_messages(key, 2) == 3
        assert await stores.queue.range_delete_messages(key, 2) == 0  # repeating is harmless
        assert [m.message_id for m in await read_all(stores.queue, key)] == [3, 4, 5]
        queue = await stores.queue.get_queue(key)
        assert (queue.min_message_id, queue.next_message_id) == (3, 6)
        # Past the last id: everything goes, and later ids are still assigned after it.
        assert await stores.queue.range_delete_messages(key, 100) == 3
        assert await read_all(stores.queue, key) == []
        assert await stores.queue.enqueue_message(key, blob("after")) == 6
        assert [m.message_id for m in await read_all(stores.queue, key)] == [6]

    async def test_range_delete_before_any_message_deletes_nothing(
        self, stores: StoreBundle
    ) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        assert await stores.queue.range_delete_messages(key, 5) == 0
        assert await stores.queue.enqueue_message(key, blob("first")) == 0

    async def test_delete_one_message(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        for n in range(3):
            await stores.queue.enqueue_message(key, blob(f"m{n}"))
        await stores.queue.delete_message(key, 1)
        await stores.queue.delete_message(key, 1)  # deleting a missing message succeeds
        assert [m.message_id for m in await read_all(stores.queue, key)] == [0, 2]

    async def test_metadata_is_compare_and_set_on_its_version(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        await stores.queue.update_queue_metadata(key, blob("v1"), 0)
        with pytest.raises(QueueVersionConflict) as conflict:
            await stores.queue.update_queue_metadata(key, blob("lost"), 0)
        assert (conflict.value.expected_version, conflict.value.actual_version) == (0, 1)
        await stores.queue.update_queue_metadata(key, blob("v2"), 1)
        queue = await stores.queue.get_queue(key)
        assert (queue.metadata, queue.version) == (blob("v2"), 2)

    async def test_list_queues_pages_by_name_with_message_counts(self, stores: StoreBundle) -> None:
        keys = [queue_key() for _ in range(3)]
        for count, key in enumerate(keys):
            await stores.queue.create_queue(key)
            for n in range(count + 1):
                await stores.queue.enqueue_message(key, blob(f"m{n}"))
        await stores.queue.delete_message(keys[2], 0)
        infos, _ = await collect_pages(
            lambda token: stores.queue.list_queues(TEST_QUEUE_TYPE, 2, token)
        )
        names = [info.key.queue_name for info in infos]
        assert names == sorted(names)
        mine = {info.key: (info.message_count, info.next_message_id) for info in infos}
        assert [mine[key] for key in keys] == [(1, 1), (2, 2), (2, 3)]


class TestQueueConcurrency:
    async def test_concurrent_enqueues_get_dense_distinct_ids(self, stores: StoreBundle) -> None:
        key = queue_key()
        await stores.queue.create_queue(key)
        await check_dense_enqueues([stores.queue], key)
