"""TaskStore conformance: task-queue user data (versioned compare-and-set, several queues of a
namespace in one all-or-nothing write) and the build-id → task-queue mapping written with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from persistence_cassandra.errors import (
    InvalidRequest,
    NotFound,
    TaskQueueUserDataConflict,
    Timeout,
)
from persistence_cassandra.records import (
    TaskQueueUserData,
    TaskQueueUserDataUpdate,
    UpdateTaskQueueUserDataRequest,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.task_queue_user_data import (
    UserDataChange,
    update_user_data_with_retries,
)
from persistence_cassandra.testing.builders import blob, collect_pages

__all__ = ["TestTaskQueueUserData", "count_with_retries", "race_one_version"]

CONTENDERS = 6


def _ns() -> str:
    return str(uuid.uuid4())


def _update(
    queue: str,
    version: int,
    text: str,
    added: set[str] | None = None,
    removed: set[str] | None = None,
) -> TaskQueueUserDataUpdate:
    return TaskQueueUserDataUpdate(
        queue, blob(text, "proto3"), version, frozenset(added or ()), frozenset(removed or ())
    )


async def _write(stores: StoreBundle, ns: str, *updates: TaskQueueUserDataUpdate) -> None:
    await stores.task.update_task_queue_user_data(UpdateTaskQueueUserDataRequest(ns, updates))


async def race_one_version(stores: StoreBundle, ns: str, queue: str) -> list[int]:
    """``CONTENDERS`` writers update ``queue`` from version 1 at once; returns the indexes
    that won (or may have, after an unknown-outcome timeout). The stored data must be one
    winner's, at version 2."""
    await _write(stores, ns, _update(queue, 0, "start"))
    results = await asyncio.gather(
        *(_write(stores, ns, _update(queue, 1, f"writer-{n}")) for n in range(CONTENDERS)),
        return_exceptions=True,
    )
    won = [n for n, result in enumerate(results) if result is None]
    unknown = [n for n, r in enumerate(results) if isinstance(r, Timeout) and r.may_have_committed]
    for n, result in enumerate(results):
        if result is not None and n not in unknown:
            assert isinstance(result, TaskQueueUserDataConflict), repr(result)
            assert result.conflicting == {queue}
    assert len(won) <= 1, f"several writers of version 1 won: {won}"
    assert won or unknown, "no writer won"
    stored = await stores.task.get_task_queue_user_data(ns, queue)
    assert stored.version == 2, f"{len(won)} winners left version {stored.version}"
    assert stored.data in [blob(f"writer-{n}", "proto3") for n in won + unknown]
    return won


async def count_with_retries(stores: StoreBundle, ns: str, queue: str, writers: int) -> int:
    """``writers`` workers each add one to a counter in ``queue``'s user data with the CAS
    retry loop; returns the final count (equal to ``writers`` unless an update was lost)."""

    def increment(writer: int) -> Callable[[TaskQueueUserData | None], UserDataChange | None]:
        def change(current: TaskQueueUserData | None) -> UserDataChange | None:
            value, *done = (b"0",) if current is None else current.data.data.split(b" ")
            token = f"writer-{writer}".encode()
            if token in done:
                return None  # a write that timed out had landed (see the retry helper)
            return UserDataChange(
                blob(
                    " ".join([str(int(value) + 1), *map(bytes.decode, done), token.decode()]),
                    "json",
                )
            )

        return change

    await asyncio.gather(
        *(
            update_user_data_with_retries(stores.task, ns, queue, increment(n), attempts=200)
            for n in range(writers)
        )
    )
    stored = await stores.task.get_task_queue_user_data(ns, queue)
    count = int(stored.data.data.split(b" ")[0])
    assert len(stored.data.data.split(b" ")) == count + 1, "each writer's token once"
    assert stored.version == count, "the version must count the writes"
    return count


class TestTaskQueueUserData:
    async def test_get_of_a_queue_without_user_data_is_not_found(self, stores: StoreBundle) -> None:
        with pytest.raises(NotFound):
            await stores.task.get_task_queue_user_data(_ns(), "queue")

    async def test_first_write_is_version_1_and_each_update_adds_one(
        self, stores: StoreBundle
    ) -> None:
        ns = _ns()
        await _write(stores, ns, _update("q", 0, "one"))
        assert await stores.task.get_task_queue_user_data(ns, "q") == TaskQueueUserData(
            ns, "q", blob("one", "proto3"), 1
        )
        await _write(stores, ns, _update("q", 1, "two"))
        stored = await stores.task.get_task_queue_user_data(ns, "q")
        assert (stored.data, stored.version) == (blob("two", "proto3"), 2)

    @pytest.mark.parametrize("stale", [0, 1, 3])
    async def test_a_stale_version_is_a_conflict_and_writes_nothing(
        self, stores: StoreBundle, stale: int
    ) -> None:
        ns = _ns()
        await _write(stores, ns, _update("q", 0, "one"))
        await _write(stores, ns, _update("q", 1, "two"))
        with pytest.raises(TaskQueueUserDataConflict) as caught:
            await _write(stores, ns, _update("q", stale, "lost", added={"build-x"}))
        assert caught.value.conflicting == {"q"}
        stored = await stores.task.get_task_queue_user_data(ns, "q")
        assert (stored.data, stored.version) == (blob("two", "proto3"), 2)
        assert await stores.task.get_task_queues_by_build_id(ns, "build-x") == []

    async def test_an_update_of_a_missing_queue_with_a_version_is_a_conflict(
        self, stores: StoreBundle
    ) -> None:
        with pytest.raises(TaskQueueUserDataConflict):
            await _write(stores, _ns(), _update("q", 4, "never"))

    async def test_several_queues_commit_together_or_not_at_all(self, stores: StoreBundle) -> None:
        ns = _ns()
        await _write(stores, ns, _update("a", 0, "a1"), _update("b", 0, "b1"))
        await _write(
            stores, ns, _update("a", 1, "a2"), _update("b", 1, "b2"), _update("c", 0, "c1")
        )
        assert [(await stores.task.get_task_queue_user_data(ns, q)).version for q in "abc"] == [
            2,
            2,
            1,
        ]
        with pytest.raises(TaskQueueUserDataConflict) as caught:
            await _write(
                stores,
                ns,
                _update("a", 2, "a3", added={"b-1"}),
                _update("b", 1, "stale"),
                _update("d", 0, "d1"),
            )
        assert caught.value.conflicting == {"b"}
        assert caught.value.not_applied == {"a", "d"}
        assert (await stores.task.get_task_queue_user_data(ns, "a")).version == 2
        with pytest.raises(NotFound):
            await stores.task.get_task_queue_user_data(ns, "d")
        assert await stores.task.count_task_queues_by_build_id(ns, "b-1") == 0

    async def test_build_id_rows_follow_the_updates(self, stores: StoreBundle) -> None:
        ns = _ns()
        await _write(
            stores,
            ns,
            _update("q1", 0, "x", added={"v1", "v2"}),
            _update("q2", 0, "y", added={"v2"}),
        )
        assert sorted(await stores.task.get_task_queues_by_build_id(ns, "v2")) == ["q1", "q2"]
        assert await stores.task.get_task_queues_by_build_id(ns, "v1") == ["q1"]
        assert await stores.task.count_task_queues_by_build_id(ns, "v2") == 2
        await _write(stores, ns, _update("q1", 1, "x2", added={"v3"}, removed={"v2"}))
        assert await stores.task.get_task_queues_by_build_id(ns, "v2") == ["q2"]
        assert await stores.task.count_task_queues_by_build_id(ns, "v3") == 1
        assert await stores.task.count_task_queues_by_build_id(ns, "unknown") == 0
        # Another namespace's mapping is separate.
        assert await stores.task.count_task_queues_by_build_id(_ns(), "v3") == 0

    async def test_list_pages_through_every_queue_of_the_namespace(
        self, stores: StoreBundle
    ) -> None:
        ns = _ns()
        queues = [f"queue-{n:02d}" for n in range(7)]
        await _write(stores, ns, *(_update(q, 0, q) for q in queues))
        await _write(stores, _ns(), _update("other-namespace", 0, "x"))
        items, pages = await collect_pages(
            lambda token: stores.task.list_task_queue_user_data(ns, 3, token)
        )
        assert sorted(item.task_queue for item in items) == queues
        assert all(
            item.version == 1 and item.data.data == item.task_queue.encode() for item in items
        )
        assert pages >= 3

    async def test_malformed_updates_are_refused(self, stores: StoreBundle) -> None:
        ns = _ns()
        with pytest.raises(InvalidRequest, match="twice"):
            await _write(stores, ns, _update("q", 0, "a"), _update("q", 0, "b"))
        with pytest.raises(InvalidRequest, match="build id"):
            await _write(stores, ns, _update("q", 0, "a", added={""}))
        with pytest.raises(InvalidRequest, match="both added and removed"):
            await _write(stores, ns, _update("q", 0, "a", added={"v"}, removed={"v"}))
        with pytest.raises(InvalidRequest):
            await stores.task.get_task_queues_by_build_id(ns, "")
        with pytest.raises(NotFound):
            await stores.task.get_task_queue_user_data(ns, "q")

    async def test_one_of_many_writers_of_the_same_version_wins(self, stores: StoreBundle) -> None:
        await race_one_version(stores, _ns(), "contended")

    async def test_concurrent_writers_with_retries_lose_no_update(
        self, stores: StoreBundle
    ) -> None:
        assert await count_with_retries(stores, _ns(), "counter", writers=5) == 5
