"""Fencing and compare-and-set under real concurrency: many contenders, exactly the right
winners, no lost update. Runs on an SQLite file and on PostgreSQL (row locks, READ
COMMITTED), the two backends with concurrent writers."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable

from sql_test_records import (
    create_run,
    ensure_shard,
    fresh_shard_id,
    new_key,
    snapshot,
    update_request,
)

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    NamespaceAlreadyExists,
    ShardOwnershipLost,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    NamespaceRecord,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
)
from persistence_cassandra.stores import StoreBundle

BundleFactory = Callable[[], Awaitable[StoreBundle]]


async def test_stale_writers_all_fail_while_the_owner_succeeds(
    concurrent_bundle_factory: BundleFactory,
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        shard = fresh_shard_id()
        await ensure_shard(bundle, shard, 1)
        keys = [new_key() for _ in range(12)]
        for key in keys:
            await create_run(bundle, shard, 1, key)
        await bundle.shard.update_shard(shard, 2, DataBlob(b"owner"), 1)

        calls = [(1, key) for key in keys] + [(2, key) for key in keys]
        random.shuffle(calls)
        results = await asyncio.gather(
            *(
                bundle.execution.update_workflow_execution(update_request(shard, rid, key, 2))
                for rid, key in calls
            ),
            return_exceptions=True,
        )
        for (rid, _), result in zip(calls, results, strict=True):
            if rid == 1:
                assert isinstance(result, ShardOwnershipLost), result
                assert result.actual_range_id == 2
            else:
                assert result is None, result
        for key in keys:
            state = await bundle.execution.get_workflow_execution(shard, key)
            assert state.db_record_version == 2
    finally:
        await bundle.close()


async def test_range_bump_fences_in_flight_writers(
    concurrent_bundle_factory: BundleFactory,
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        shard = fresh_shard_id()
        await ensure_shard(bundle, shard, 1)
        keys = [new_key() for _ in range(6)]
        for key in keys:
            await create_run(bundle, shard, 1, key)
        bumped_at: list[float] = []
        late_successes: list[float] = []

        async def writer(key: object) -> int:
            version = 1
            while True:
                started = time.monotonic()
                try:
                    await bundle.execution.update_workflow_execution(
                        update_request(shard, 1, key, version + 1)  # type: ignore[arg-type]
                    )
                except ShardOwnershipLost as exc:
                    assert exc.actual_range_id == 2
                    return version
                if bumped_at and started > bumped_at[0]:
                    late_successes.append(started)
                version += 1

        async def bump() -> None:
            await asyncio.sleep(0.2)
            await bundle.shard.update_shard(shard, 2, DataBlob(b"new owner"), 1)
            bumped_at.append(time.monotonic())

        versions = await asyncio.wait_for(
            asyncio.gather(*(writer(key) for key in keys), bump()), timeout=60
        )
        assert late_successes == [], "a write started after the bump committed under range 1"
        for key, version in zip(keys, versions[:-1], strict=True):
            state = await bundle.execution.get_workflow_execution(shard, key)
            # Every acknowledged write is stored, and nothing else: no lost or phantom update.
            assert state.db_record_version == version
    finally:
        await bundle.close()


async def test_one_winner_among_concurrent_updates_of_a_run(
    concurrent_bundle_factory: BundleFactory,
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        shard = fresh_shard_id()
        await ensure_shard(bundle, shard, 1)
        key = new_key()
        await create_run(bundle, shard, 1, key)
        results = await asyncio.gather(
            *(
                bundle.execution.update_workflow_execution(update_request(shard, 1, key, 2))
                for _ in range(16)
            ),
            return_exceptions=True,
        )
        assert results.count(None) == 1
        losers = [r for r in results if r is not None]
        assert all(isinstance(r, WorkflowConditionFailed) for r in losers), losers
        assert all(r.actual_db_record_version == 2 for r in losers)  # type: ignore[union-attr]
    finally:
        await bundle.close()


async def test_one_winner_among_concurrent_brand_new_creates(
    concurrent_bundle_factory: BundleFactory,
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        shard = fresh_shard_id()
        await ensure_shard(bundle, shard, 1)
        workflow_id = f"wf-{uuid.uuid4()}"
        keys = [new_key(workflow_id) for _ in range(12)]
        results = await asyncio.gather(
            *(
                bundle.execution.create_workflow_execution(
                    CreateWorkflowExecutionRequest(
                        shard, 1, CreateWorkflowMode.BRAND_NEW, snapshot(key)
                    )
                )
                for key in keys
            ),
            return_exceptions=True,
        )
        assert results.count(None) == 1
        winner = keys[results.index(None)]
        for result in results:
            if result is not None:
                assert isinstance(result, CurrentWorkflowConditionFailed), result
                assert result.run_id == winner.run_id
        current = await bundle.execution.get_current_execution(shard, "ns", workflow_id)
        assert current.run_id == winner.run_id
    finally:
        await bundle.close()


async def test_stale_task_writers_are_fenced(concurrent_bundle_factory: BundleFactory) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        queue = TaskQueueKey("ns", f"q-{uuid.uuid4()}", 1)
        await bundle.task.create_task_queue(TaskQueueRecord(queue, 1, DataBlob(b"q")))
        await bundle.task.update_task_queue(TaskQueueRecord(queue, 2, DataBlob(b"q2")), 1)
        calls = [(rid, task_id) for task_id in range(1, 21) for rid in (1, 2)]
        random.shuffle(calls)
        results = await asyncio.gather(
            *(
                bundle.task.create_tasks(
                    CreateTasksRequest(
                        queue,
                        rid,
                        [TaskRecord(task_id * 10 + rid, DataBlob(b"t"))],
                        updated_info=DataBlob(b"info") if task_id % 3 == 0 else None,
                    )
                )
                for rid, task_id in calls
            ),
            return_exceptions=True,
        )
        for (rid, _), result in zip(calls, results, strict=True):
            if rid == 1:
                assert isinstance(result, ConditionFailed), result
            else:
                assert result is None, result
    finally:
        await bundle.close()


async def test_one_winner_among_concurrent_namespace_creates(
    concurrent_bundle_factory: BundleFactory,
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        name = f"ns-{uuid.uuid4()}"
        before = await bundle.metadata.get_metadata()
        results = await asyncio.gather(
            *(
                bundle.metadata.create_namespace(
                    NamespaceRecord(str(uuid.uuid4()), name, DataBlob(b"d"))
                )
                for _ in range(10)
            ),
            return_exceptions=True,
        )
        assert results.count(None) == 1
        assert all(isinstance(r, NamespaceAlreadyExists) for r in results if r is not None)
        assert await bundle.metadata.get_metadata() >= before + 1
    finally:
        await bundle.close()
