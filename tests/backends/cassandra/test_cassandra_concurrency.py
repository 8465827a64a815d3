"""Fencing and compare-and-set under real concurrency against the node, many rounds.

The stale owner and the new owner use separate driver sessions (two "hosts"), and their writes
are in flight at the same time with random offsets, so Paxos orders them differently from round
to round. Each round checks the outcome both sides report against what the node holds: a
write reported as applied is there, a fenced write left nothing behind, and a stale write that
applied was ordered before the new owner took over (the new owner's first read saw it).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from cassandra_test_support import Endpoint, create_run, make_config, new_shard, update_request

from persistence_cassandra import errors
from persistence_cassandra.factory import open_store_bundle
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    TaskQueueRecord,
    WorkflowMutableState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import blob, execution_key, task, task_queue

ROUNDS = 30


@pytest.fixture(scope="module")
async def other_host(cassandra_endpoint: Endpoint, keyspace: str) -> AsyncIterator[StoreBundle]:
    """A second, independent session on the same keyspace: the stale owner's host."""
    opened = await open_store_bundle(make_config(cassandra_endpoint, keyspace))
    yield opened
    await opened.close()


async def _jitter() -> None:
    await asyncio.sleep(random.uniform(0, 0.004))


def _tag(state: WorkflowMutableState) -> bytes:
    return state.execution_info.data


async def _shard_takeover_round(new_host: StoreBundle, stale_host: StoreBundle) -> str:
    shard = await new_shard(new_host)
    key = execution_key()
    await create_run(new_host, shard, 1, key)
    stale_update = update_request(shard, 1, key, 2, tag="stale")

    async def new_owner() -> WorkflowMutableState:
        await _jitter()
        await new_host.shard.update_shard(shard, 2, DataBlob(b"new owner"), 1)
        seen = await new_host.execution.get_workflow_execution(shard, key)
        await new_host.execution.update_workflow_execution(
            update_request(shard, 2, key, seen.db_record_version + 1, tag="owner")
        )
        return seen

    async def stale_owner() -> str:
        await _jitter()
        try:
            await stale_host.execution.update_workflow_execution(stale_update)
        except errors.ShardOwnershipLost as lost:
            assert lost.actual_range_id == 2
            return "fenced"
        return "applied"

    seen, outcome = await asyncio.gather(new_owner(), stale_owner())
    final = await new_host.execution.get_workflow_execution(shard, key)
    if outcome == "applied":
        # Ordered before the fence: the new owner's first read already contained it.
        assert _tag(seen) == stale_update.mutation.execution_info.data
        assert seen.db_record_version == 2
    else:
        assert seen.db_record_version == 1
    assert final.db_record_version == seen.db_record_version + 1
    assert b"owner" in _tag(final)
    return outcome


async def test_a_stale_shard_owner_is_fenced_while_the_new_owner_takes_over(
    bundle: StoreBundle, other_host: StoreBundle
) -> None:
    outcomes = Counter([await _shard_takeover_round(bundle, other_host) for _ in range(ROUNDS)])
    print(f"stale shard owner's update: {dict(outcomes)}")
    assert outcomes["fenced"] > 0 and outcomes["applied"] > 0  # both orders really happened


async def _queue_takeover_round(new_host: StoreBundle, stale_host: StoreBundle) -> str:
    queue = task_queue()
    await new_host.task.create_task_queue(queue)
    stale_ids = set(range(1, 6))
    owner_ids = set(range(100_001, 100_006))

    async def new_owner() -> set[int]:
        await _jitter()
        await new_host.task.update_task_queue(
            TaskQueueRecord(queue.key, 2, blob("owner")), previous_range_id=1
        )
        seen = await new_host.task.get_tasks(GetTasksRequest(queue.key, 0, 10**9, 100))
        await new_host.task.create_tasks(
            CreateTasksRequest(queue.key, 2, [task(i) for i in sorted(owner_ids)])
        )
        return {t.task_id for t in seen.items}

    async def stale_owner() -> str:
        await _jitter()
        try:
            await stale_host.task.create_tasks(
                CreateTasksRequest(queue.key, 1, [task(i) for i in sorted(stale_ids)])
            )
        except errors.ConditionFailed:
            return "fenced"
        return "applied"

    seen, outcome = await asyncio.gather(new_owner(), stale_owner())
    final = await new_host.task.get_tasks(GetTasksRequest(queue.key, 0, 10**9, 100))
    final_ids = {t.task_id for t in final.items}
    assert owner_ids <= final_ids
    if outcome == "applied":
        assert stale_ids <= seen  # committed before the lease moved
        assert stale_ids <= final_ids
    else:
        assert not final_ids & stale_ids  # all or nothing
    return outcome


async def test_a_stale_task_queue_owner_cannot_add_tasks_once_the_lease_moved(
    bundle: StoreBundle, other_host: StoreBundle
) -> None:
    outcomes = Counter([await _queue_takeover_round(bundle, other_host) for _ in range(ROUNDS)])
    print(f"stale task queue owner's create_tasks: {dict(outcomes)}")
    assert outcomes["fenced"] > 0 and outcomes["applied"] > 0  # both orders really happened


async def test_concurrent_updates_with_the_same_expected_version_apply_exactly_once(
    bundle: StoreBundle, other_host: StoreBundle
) -> None:
    contenders = 8
    for _ in range(20):
        shard = await new_shard(bundle)
        key = execution_key()
        await create_run(bundle, shard, 1, key)
        requests = [update_request(shard, 1, key, 2, tag=f"c{i}") for i in range(contenders)]
        hosts = [bundle if i % 2 else other_host for i in range(contenders)]
        results = await asyncio.gather(
            *(
                h.execution.update_workflow_execution(r)
                for h, r in zip(hosts, requests, strict=True)
            ),
            return_exceptions=True,
        )
        winners = [r for r, res in zip(requests, results, strict=True) if res is None]
        maybe = [
            r
            for r, res in zip(requests, results, strict=True)
            if isinstance(res, errors.Timeout) and res.may_have_committed
        ]
        losers = [res for res in results if isinstance(res, errors.WorkflowConditionFailed)]
        assert len(winners) + len(maybe) + len(losers) == contenders, results
        assert len(winners) <= 1
        assert all(loser.actual_db_record_version == 2 for loser in losers)
        final = await bundle.execution.get_workflow_execution(shard, key)
        assert final.db_record_version == 2
        possible = {r.mutation.execution_info.data for r in winners or maybe}
        assert _tag(final) in possible


async def test_concurrent_brand_new_starts_of_one_workflow_id_have_one_winner(
    bundle: StoreBundle, other_host: StoreBundle
) -> None:
    for _ in range(10):
        shard = await new_shard(bundle)
        first = execution_key()
        keys = [first] + [execution_key(first.namespace_id, first.workflow_id) for _ in range(5)]
        hosts = [bundle if i % 2 else other_host for i in range(len(keys))]
        results = await asyncio.gather(
            *(create_run(h, shard, 1, k) for h, k in zip(hosts, keys, strict=True)),
            return_exceptions=True,
        )
        won = [k for k, res in zip(keys, results, strict=True) if res is None]
        assert len(won) == 1, results
        current = await bundle.execution.get_current_execution(
            shard, first.namespace_id, first.workflow_id
        )
        assert current.run_id == won[0].run_id
        for res in results:
            if res is not None:
                assert isinstance(res, errors.CurrentWorkflowConditionFailed)
                assert res.current is not None and res.current.run_id == won[0].run_id
