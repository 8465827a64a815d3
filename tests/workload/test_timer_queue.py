"""The workload's timer queue stops once its shard is lost, instead of spinning.

A lost shard's ``fire`` reads nothing, so a timer already due stays due; the queue used to go
straight back to ``fire`` without ever yielding to the event loop, and the member process hung
at full CPU (the group, which gives the shard up, never ran again). Pure logic: the shard is a
fake that fails the test after too many looks at ``lost`` instead of letting it hang."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from persistence_cassandra.records import TaskKey
from persistence_cassandra.workload.history_queues import TimerQueue
from persistence_cassandra.workload.report import Counters, ViolationLog

LOOKS_BEFORE_SPINNING = 100


class _LostShard:
    shard_id = 7
    id_bounds = (0, 1 << 40)

    def __init__(self) -> None:
        self.looks = 0
        self.lock = asyncio.Lock()

    @property
    def lost(self) -> bool:
        self.looks += 1
        assert self.looks < LOOKS_BEFORE_SPINNING, "the timer queue spins on a lost shard"
        return True


async def test_a_lost_shard_with_a_due_timer_ends_the_queue() -> None:
    shard = _LostShard()
    queue = TimerQueue(cast(Any, None), cast(Any, shard), ViolationLog(), Counters())
    waiter = queue.expect(1)
    queue.scheduled(TaskKey(datetime.now(UTC) - timedelta(seconds=1), 1))
    await asyncio.wait_for(queue.run(), 5)
    # Nothing was read and nothing declared lost: the group gives the shard and its workflows up.
    assert not waiter.done() and queue.pending == 1
