"""ExecutionStore conformance: creating runs in every mode, and the errors that carry the
actual stored values."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import (
    CurrentWorkflowConditionFailed,
    ShardOwnershipLost,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    CreateWorkflowMode,
    GetHistoryTasksRequest,
    TaskCategory,
    TaskKey,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    STATUS_COMPLETED,
    ShardLease,
    blob,
    execution_key,
    history_task,
    now,
    snapshot,
)
from persistence_cassandra.testing.suite.execution_checks import (
    assert_no_current,
    assert_no_run,
    assert_run_is,
    create_run,
    current_of,
    read_run,
)

__all__ = ["TestExecutionCreate"]

_REUSE = CreateWorkflowMode.UPDATE_CURRENT


class TestExecutionCreate:
    async def test_brand_new_writes_the_run_and_the_current_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(
            key,
            activity_infos={5: blob("activity-5")},
            timer_infos={"t1": blob("timer-1")},
            child_execution_infos={9: blob("child-9")},
            request_cancel_infos={11: blob("cancel-11")},
            signal_infos={13: blob("signal-13")},
            signal_requested_ids={"sig-a", "sig-b"},
            checksum=blob("checksum", "proto3"),
        )
        await create_run(stores, shard, first)
        assert_run_is(await read_run(stores, shard, key), first)
        assert await current_of(stores, shard, key) == first.current_record()

    async def test_brand_new_with_a_current_run_carries_that_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key, last_write_version=12)
        await create_run(stores, shard, first)
        second = snapshot(execution_key(key.namespace_id, key.workflow_id))
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await create_run(stores, shard, second)
        assert caught.value.current == first.current_record()
        assert caught.value.run_id == key.run_id
        await assert_no_run(stores, shard, second.key)
        assert (await current_of(stores, shard, key)).run_id == key.run_id

    async def test_brand_new_conflict_reports_a_completed_current_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(
            key, state=WorkflowState.COMPLETED, status=STATUS_COMPLETED, last_write_version=3
        )
        await create_run(stores, shard, first)
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await create_run(
                stores, shard, snapshot(execution_key(key.namespace_id, key.workflow_id))
            )
        assert caught.value.current is not None
        assert caught.value.current.state == WorkflowState.COMPLETED
        assert caught.value.current.status == STATUS_COMPLETED
        assert caught.value.current.last_write_version == 3
        assert caught.value.current.create_request_id == first.create_request_id

    async def test_reuse_moves_the_pointer_from_a_completed_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(
            key, state=WorkflowState.COMPLETED, status=STATUS_COMPLETED, last_write_version=5
        )
        await create_run(stores, shard, first)
        second = snapshot(execution_key(key.namespace_id, key.workflow_id), last_write_version=6)
        await create_run(
            stores, shard, second, _REUSE, previous_run_id=key.run_id, previous_last_write_version=5
        )
        assert await current_of(stores, shard, key) == second.current_record()
        assert_run_is(await read_run(stores, shard, key), first)
        assert_run_is(await read_run(stores, shard, second.key), second)

    @pytest.mark.parametrize("mismatch", ["run_id", "last_write_version", "still_running"])
    async def test_reuse_with_the_wrong_previous_run_carries_the_current_run(
        self, stores: StoreBundle, shard: ShardLease, mismatch: str
    ) -> None:
        key = execution_key()
        running = mismatch == "still_running"
        first = snapshot(
            key,
            state=WorkflowState.RUNNING if running else WorkflowState.COMPLETED,
            status=1 if running else STATUS_COMPLETED,
            last_write_version=5,
        )
        await create_run(stores, shard, first)
        second = snapshot(execution_key(key.namespace_id, key.workflow_id))
        previous_run_id = (
            "00000000-0000-4000-8000-000000000000" if mismatch == "run_id" else key.run_id
        )
        previous_version = 4 if mismatch == "last_write_version" else 5
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await create_run(
                stores,
                shard,
                second,
                _REUSE,
                previous_run_id=previous_run_id,
                previous_last_write_version=previous_version,
            )
        assert caught.value.current == first.current_record()
        await assert_no_run(stores, shard, second.key)
        assert (await current_of(stores, shard, key)).run_id == key.run_id

    async def test_reuse_without_any_current_run_fails(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await create_run(
                stores, shard, snapshot(key), _REUSE, previous_run_id=execution_key().run_id
            )
        assert caught.value.current is None
        await assert_no_run(stores, shard, key)
        await assert_no_current(stores, shard, key)

    async def test_zombie_leaves_the_current_pointer_alone(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        zombie = snapshot(
            execution_key(key.namespace_id, key.workflow_id), state=WorkflowState.ZOMBIE
        )
        await create_run(stores, shard, zombie, CreateWorkflowMode.BYPASS_CURRENT)
        assert_run_is(await read_run(stores, shard, zombie.key), zombie)
        assert await current_of(stores, shard, key) == first.current_record()

    async def test_zombie_without_a_current_run_creates_no_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        zombie = snapshot(execution_key(), state=WorkflowState.ZOMBIE)
        await create_run(stores, shard, zombie, CreateWorkflowMode.BYPASS_CURRENT)
        assert_run_is(await read_run(stores, shard, zombie.key), zombie)
        await assert_no_current(stores, shard, zombie.key)

    async def test_an_existing_run_is_a_workflow_condition_failure_with_its_version(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key, db_record_version=4)
        await create_run(stores, shard, first, CreateWorkflowMode.BYPASS_CURRENT)
        again = snapshot(key, db_record_version=1, tag="again")
        with pytest.raises(WorkflowConditionFailed) as caught:
            await create_run(stores, shard, again, CreateWorkflowMode.BYPASS_CURRENT)
        assert caught.value.actual_db_record_version == 4
        assert_run_is(await read_run(stores, shard, key), first)

    async def test_stale_range_id_is_ownership_lost_and_writes_nothing(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        await stores.shard.update_shard(
            shard.shard_id, shard.range_id + 1, blob("renewed"), shard.range_id
        )
        key = execution_key()
        tasks = [history_task(TaskCategory.TRANSFER, 100)]
        with pytest.raises(ShardOwnershipLost) as caught:
            await create_run(stores, shard, snapshot(key, tasks=tasks))
        assert caught.value.shard_id == shard.shard_id
        await assert_no_run(stores, shard, key)
        await assert_no_current(stores, shard, key)
        page = await stores.execution.get_history_tasks(
            GetHistoryTasksRequest(
                shard.shard_id,
                TaskCategory.TRANSFER,
                TaskKey.immediate(0),
                TaskKey.immediate(10**9),
                100,
            )
        )
        assert page.items == []

    async def test_stale_range_id_wins_over_a_current_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        await stores.shard.update_shard(
            shard.shard_id, shard.range_id + 1, blob("renewed"), shard.range_id
        )
        with pytest.raises(ShardOwnershipLost):
            await create_run(
                stores, shard, snapshot(execution_key(key.namespace_id, key.workflow_id))
            )

    async def test_the_snapshot_tasks_are_written_with_the_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        fire = now()
        tasks = [
            history_task(TaskCategory.TRANSFER, 101),
            history_task(TaskCategory.TIMER, 102, fire),
        ]
        await create_run(stores, shard, snapshot(execution_key(), tasks=tasks))
        transfer = await stores.execution.get_history_tasks(
            GetHistoryTasksRequest(
                shard.shard_id,
                TaskCategory.TRANSFER,
                TaskKey.immediate(0),
                TaskKey.immediate(10**9),
                10,
            )
        )
        assert transfer.items == [tasks[0]]
        timers = await stores.execution.get_history_tasks(
            GetHistoryTasksRequest(
                shard.shard_id,
                TaskCategory.TIMER,
                TaskKey(fire, 0),
                TaskKey(fire, 10**9),
                10,
            )
        )
        assert timers.items == [tasks[1]]
