"""Lease bumps and other conditional writes whose outcome may be unknown (``send_conditional``).

A shard's or a task queue's range-id bump that times out may have committed; sent again, it
fails its condition against its own first attempt. The owner must learn from the stored lease
which happened, and must never take a lease another owner holds. The scripted sends here are
pure logic; the owners run on the real embedded SQLite backend with injected timeouts."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from persistence_cassandra.config import parse_config
from persistence_cassandra.errors import ConditionFailed, ShardOwnershipLost, Timeout
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import FaultInjection, FaultRule, MiddlewareOptions
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import TaskQueueKey
from persistence_cassandra.workload.matching import TaskQueueOwner
from persistence_cassandra.workload.report import Counters, ViolationLog
from persistence_cassandra.workload.shards import ShardOwner
from persistence_cassandra.workload.writes import Stored, lease_outcome, send_conditional

MEMORY = parse_config(
    {
        "persistence": {
            "defaultStore": "mem",
            "datastores": {"mem": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
        }
    }
)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("persistence_cassandra.workload.writes.resend_delay", lambda _a: 0.0)


def _scripted(
    answers: list[str], stored: list[Stored]
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[Stored]], list[int]]:
    """A send that plays ``answers`` (``ok``, ``timeout``, ``refused``) and a settle that
    plays ``stored``; the list counts sends and reads."""
    calls = [0, 0]

    async def send() -> None:
        calls[0] += 1
        answer = answers.pop(0)
        if answer == "timeout":
            raise Timeout("unknown", may_have_committed=True)
        if answer == "refused":
            raise ConditionFailed("moved")

    async def settle() -> Stored:
        calls[1] += 1
        return stored.pop(0)

    return send, settle, calls


@pytest.mark.parametrize(
    ("answers", "stored", "expected", "reads"),
    [
        (["ok"], [], True, 0),
        (["timeout"], [Stored.APPLIED], True, 1),
        (["timeout", "ok"], [Stored.BEFORE], True, 1),
        (["timeout", "refused"], [Stored.BEFORE, Stored.APPLIED], True, 2),
        (["timeout"], [Stored.MOVED], False, 1),
        (["timeout", "refused"], [Stored.BEFORE, Stored.MOVED], False, 2),
    ],
)
async def test_an_unknown_outcome_is_settled_by_the_stored_record(
    answers: list[str], stored: list[Stored], expected: bool, reads: int
) -> None:
    send, settle, calls = _scripted(answers, stored)
    assert await send_conditional(send, settle, refused=ConditionFailed, attempts=5) is expected
    assert calls[1] == reads


async def test_a_refused_first_attempt_is_raised_unread() -> None:
    send, settle, calls = _scripted(["refused"], [])
    with pytest.raises(ConditionFailed):
        await send_conditional(send, settle, refused=ConditionFailed, attempts=5)
    assert calls == [1, 0]


async def test_a_last_refusal_with_the_record_unchanged_is_raised() -> None:
    """The old loops fell out of their last attempt as if the write had applied."""
    send, settle, calls = _scripted(["timeout", "refused"], [Stored.BEFORE, Stored.BEFORE])
    with pytest.raises(ConditionFailed):
        await send_conditional(send, settle, refused=ConditionFailed, attempts=2)
    assert calls == [2, 2]


async def test_an_outcome_that_stays_unknown_is_raised() -> None:
    send, settle, calls = _scripted(["timeout"] * 3, [Stored.BEFORE] * 2)
    with pytest.raises(Timeout):
        await send_conditional(send, settle, refused=ConditionFailed, attempts=3)
    assert calls == [3, 2]


def test_a_stored_lease_says_which_case_happened() -> None:
    assert lease_outcome(5, "ours", 5, "ours", 4) is Stored.APPLIED
    assert lease_outcome(4, "theirs", 5, "ours", 4) is Stored.BEFORE
    assert lease_outcome(5, "theirs", 5, "ours", 4) is Stored.MOVED
    assert lease_outcome(6, "theirs", 5, "ours", 4) is Stored.MOVED


def _timing_out_after(store: str, method: str) -> MiddlewareOptions:
    return MiddlewareOptions(
        faults=FaultInjection(rules=(FaultRule("Timeout", 1.0, store, method, after_call=True),))
    )


def _shard_owner(persistence: Persistence, owner: str) -> ShardOwner:
    return ShardOwner(persistence, 7, owner, Counters())


async def test_shard_owners_take_over_through_timed_out_bumps() -> None:
    """Every range-id bump commits and then times out: each owner still takes the shard at the
    next range id, and the one it fenced out learns it lost the shard."""
    options = _timing_out_after("shard", "update_shard")
    async with await open_persistence(MEMORY, middleware=options) as persistence:
        first, second = _shard_owner(persistence, "a"), _shard_owner(persistence, "b")
        await first.acquire()
        await second.acquire()
        assert second.range_id == first.range_id + 1
        stored = await persistence.shard.get_or_create_shard(7)
        assert stored.range_id == second.range_id
        assert not await first.still_owned() and first.lost
        assert await second.still_owned()


class _RacedShardStore:
    """The shard store, where another owner's bump lands just before ours times out unsent."""

    def __init__(self, persistence: Persistence) -> None:
        self._store = persistence.shard

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def update_shard(self, shard_id: int, range_id: int, info: Any, previous: int) -> None:
        stored = await self._store.get_or_create_shard(shard_id)
        await self._store.update_shard(shard_id, range_id, stored.info, previous)
        raise Timeout("another owner won the race", may_have_committed=True)


async def test_a_bump_that_lost_the_race_while_unknown_takes_nothing() -> None:
    async with await open_persistence(MEMORY) as persistence:
        await _shard_owner(persistence, "a").acquire()
        raced = _RacedShardStore(persistence)
        view: Any = type("P", (), {"shard": raced})()
        loser = _shard_owner(view, "b")
        with pytest.raises(ShardOwnershipLost) as lost:
            await loser.acquire()
        assert loser.lost and lost.value.actual_range_id == loser.range_id


async def test_task_queue_owners_take_over_through_timed_out_bumps() -> None:
    options = _timing_out_after("task", "update_task_queue")
    async with await open_persistence(MEMORY, middleware=options) as persistence:
        key = TaskQueueKey(str(uuid.uuid4()), "q", 1)

        def owner(name: str) -> TaskQueueOwner:
            return TaskQueueOwner(persistence, key, name, ViolationLog(), Counters())

        first, second = owner("a"), owner("b")
        await first.acquire()
        await second.acquire()
        assert second.range_id == first.range_id + 1
        stored = await persistence.task.get_task_queue(key)
        assert stored.range_id == second.range_id
