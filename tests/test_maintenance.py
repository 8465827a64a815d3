"""The task scavenger's schedule: runs the backend's scavenger every interval, survives a
failing pass, stops cleanly, and is idle where TTLs do the work."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from persistence_cassandra import TaskScavengerSchedule
from persistence_cassandra.errors import InvalidRequest, Unavailable
from persistence_cassandra.factory import wrap_bundle
from persistence_cassandra.records import CreateTasksRequest, GetTasksRequest
from persistence_cassandra.testing.builders import now, task, task_queue
from persistence_cassandra.testing.targets import get_target


async def _wait_for(condition) -> None:
    # Polls: the schedule has no event to wait on, by design (it is a plain interval loop).
    async with asyncio.timeout(5.0):
        for _ in iter(condition, True):  # until condition() is true
            await asyncio.sleep(0.01)


async def test_the_schedule_scavenges_expired_tasks_on_sql() -> None:
    async with get_target("sqlite-file").open() as bundle:
        persistence = wrap_bundle(bundle)
        assert persistence.capabilities.expired_tasks_need_scavenging
        queue = task_queue()
        await bundle.task.create_task_queue(queue)
        past = now() - timedelta(seconds=1)
        await bundle.task.create_tasks(
            CreateTasksRequest(queue.key, queue.range_id, [task(1, past), task(2)])
        )
        schedule = TaskScavengerSchedule.for_persistence(persistence, interval=0.05)
        async with schedule:
            assert schedule.running
            await _wait_for(lambda: schedule.stats.deleted >= 1 and schedule.stats.passes >= 2)
        assert not schedule.running
        left = await bundle.task.get_tasks(GetTasksRequest(queue.key, 0, 10, 10))
        assert [t.task_id for t in left.items] == [2]


async def test_a_failing_pass_is_counted_and_retried() -> None:
    class Flaky:
        calls = 0

        async def scavenge_expired_tasks(self, limit: int = 1000) -> int:
            self.calls += 1
            if self.calls == 1:
                raise Unavailable("store away")
            return 3

    schedule = TaskScavengerSchedule(Flaky(), interval=0.01)
    schedule.start()
    await _wait_for(lambda: schedule.stats.passes >= 2)
    await schedule.stop()
    await schedule.stop()  # stopping twice is harmless
    assert schedule.stats.failures == 1 and schedule.stats.deleted >= 6


async def test_the_schedule_is_idle_on_cassandra() -> None:
    async with get_target("cassandra").open() as bundle:
        persistence = wrap_bundle(bundle)
        assert persistence.task_scavenger is None
        schedule = TaskScavengerSchedule.for_persistence(persistence, interval=1.0)
        async with schedule:
            assert not schedule.active and not schedule.running
        assert await schedule.run_once() == 0


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="interval"):
        TaskScavengerSchedule(None, interval=0)
