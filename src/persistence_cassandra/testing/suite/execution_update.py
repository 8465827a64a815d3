"""ExecutionStore conformance: updates in every mode, continue-as-new, conflict resolution,
``set``, and which error wins when several conditions fail."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    ShardOwnershipLost,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    ConflictResolveWorkflowMode,
    ExecutionKey,
    GetHistoryTasksRequest,
    SetWorkflowExecutionRequest,
    TaskCategory,
    TaskKey,
    UpdateWorkflowMode,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    STATUS_COMPLETED,
    ShardLease,
    blob,
    execution_key,
    history_task,
    mutation,
    snapshot,
)
from persistence_cassandra.testing.suite.execution_checks import (
    assert_no_run,
    assert_run_is,
    conflict_resolve_request,
    create_run,
    current_and_zombie,
    current_of,
    read_run,
    update_run,
)

__all__ = ["TestConflictResolve", "TestExecutionUpdate", "TestSetWorkflowExecution"]

_UPDATE = UpdateWorkflowMode.UPDATE_CURRENT
_BYPASS = UpdateWorkflowMode.BYPASS_CURRENT
_IGNORE = UpdateWorkflowMode.IGNORE_CURRENT


async def _renew(stores: StoreBundle, lease: ShardLease) -> None:
    """Another owner takes the shard: ``lease`` becomes stale."""
    await stores.shard.update_shard(
        lease.shard_id, lease.range_id + 1, blob("renewed"), lease.range_id
    )


async def _transfer_tasks(stores: StoreBundle, lease: ShardLease) -> list[int]:
    page = await stores.execution.get_history_tasks(
        GetHistoryTasksRequest(
            lease.shard_id,
            TaskCategory.TRANSFER,
            TaskKey.immediate(0),
            TaskKey.immediate(10**9),
            100,
        )
    )
    return [t.key.task_id for t in page.items]


class TestExecutionUpdate:
    async def test_update_current_applies_the_mutation(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        change = mutation(
            key,
            db_record_version=2,
            next_event_id=9,
            tasks=[history_task(TaskCategory.TRANSFER, 7)],
        )
        await update_run(stores, shard, change)
        state = await read_run(stores, shard, key)
        assert state.db_record_version == 2
        assert state.next_event_id == 9
        assert state.execution_info == change.execution_info
        assert state.execution_state == change.execution_state
        assert await current_of(stores, shard, key) == change.current_record()
        assert await _transfer_tasks(stores, shard) == [7]

    async def test_update_with_a_stale_version_carries_the_stored_version(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        with pytest.raises(WorkflowConditionFailed) as caught:
            await update_run(stores, shard, mutation(key, db_record_version=3))
        assert caught.value.actual_db_record_version == 1
        assert_run_is(await read_run(stores, shard, key), first)

    async def test_update_of_a_missing_run_is_a_condition_failure(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        for mode in (_UPDATE, _BYPASS, _IGNORE):
            with pytest.raises(ConditionFailed):
                await update_run(stores, shard, mutation(key, db_record_version=2), mode)
        await assert_no_run(stores, shard, key)

    async def test_update_current_of_a_non_current_run_carries_the_current_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await update_run(stores, shard, mutation(zombie.key, db_record_version=2))
        assert caught.value.current == current.current_record()
        assert_run_is(await read_run(stores, shard, zombie.key), zombie)

    async def test_continue_as_new_moves_the_current_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        closing = mutation(
            key, db_record_version=2, state=WorkflowState.COMPLETED, status=STATUS_COMPLETED
        )
        new_run = snapshot(
            execution_key(key.namespace_id, key.workflow_id),
            tasks=[history_task(TaskCategory.TRANSFER, 21)],
        )
        await update_run(stores, shard, closing, new_snapshot=new_run)
        assert await current_of(stores, shard, key) == new_run.current_record()
        assert (await read_run(stores, shard, key)).db_record_version == 2
        assert_run_is(await read_run(stores, shard, new_run.key), new_run)
        assert await _transfer_tasks(stores, shard) == [21]

    async def test_update_without_a_new_run_keeps_the_pointer_on_the_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        closing = mutation(
            key,
            db_record_version=2,
            state=WorkflowState.COMPLETED,
            status=STATUS_COMPLETED,
            last_write_version=8,
        )
        await update_run(stores, shard, closing)
        current = await current_of(stores, shard, key)
        assert current == closing.current_record()

    async def test_bypass_current_updates_a_non_current_run_only(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        change = mutation(zombie.key, db_record_version=2, state=WorkflowState.ZOMBIE)
        await update_run(stores, shard, change, _BYPASS)
        assert (await read_run(stores, shard, zombie.key)).db_record_version == 2
        assert await current_of(stores, shard, current.key) == current.current_record()
        with pytest.raises(CurrentWorkflowConditionFailed):
            await update_run(stores, shard, mutation(current.key, db_record_version=2), _BYPASS)
        assert_run_is(await read_run(stores, shard, current.key), current)

    async def test_ignore_current_updates_any_run_and_never_the_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        await update_run(stores, shard, mutation(zombie.key, db_record_version=2), _IGNORE)
        await update_run(
            stores,
            shard,
            mutation(current.key, db_record_version=2, last_write_version=99),
            _IGNORE,
        )
        assert (await read_run(stores, shard, zombie.key)).db_record_version == 2
        assert (await read_run(stores, shard, current.key)).db_record_version == 2
        assert await current_of(stores, shard, current.key) == current.current_record()

    async def test_stale_range_id_is_ownership_lost_and_writes_nothing(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        await _renew(stores, shard)
        new_run = snapshot(execution_key(key.namespace_id, key.workflow_id))
        change = mutation(key, db_record_version=2, tasks=[history_task(TaskCategory.TRANSFER, 31)])
        with pytest.raises(ShardOwnershipLost):
            await update_run(stores, shard, change, new_snapshot=new_run)
        assert_run_is(await read_run(stores, shard, key), first)
        await assert_no_run(stores, shard, new_run.key)
        assert await current_of(stores, shard, key) == first.current_record()
        assert await _transfer_tasks(stores, shard) == []

    async def test_stale_range_id_wins_over_a_version_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        await _renew(stores, shard)
        with pytest.raises(ShardOwnershipLost):
            await update_run(stores, shard, mutation(key, db_record_version=5))

    async def test_current_conflict_wins_over_a_version_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await update_run(stores, shard, mutation(zombie.key, db_record_version=7))
        assert caught.value.run_id == current.key.run_id


class TestConflictResolve:
    async def test_reset_of_the_current_run_replaces_its_collections(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(
            stores,
            shard,
            snapshot(
                key, activity_infos={1: blob("a1"), 2: blob("a2")}, timer_infos={"t": blob("t")}
            ),
        )
        reset = snapshot(
            key, db_record_version=2, next_event_id=10, activity_infos={3: blob("a3")}, tag="reset"
        )
        await stores.execution.conflict_resolve_workflow_execution(
            conflict_resolve_request(shard, reset)
        )
        assert_run_is(await read_run(stores, shard, key), reset)
        assert await current_of(stores, shard, key) == reset.current_record()

    async def test_reset_with_a_new_run_moves_the_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        reset = snapshot(
            key, db_record_version=2, state=WorkflowState.COMPLETED, status=STATUS_COMPLETED
        )
        new_run = snapshot(execution_key(key.namespace_id, key.workflow_id))
        await stores.execution.conflict_resolve_workflow_execution(
            conflict_resolve_request(shard, reset, new_snapshot=new_run)
        )
        assert_run_is(await read_run(stores, shard, key), reset)
        assert_run_is(await read_run(stores, shard, new_run.key), new_run)
        assert await current_of(stores, shard, key) == new_run.current_record()

    async def test_reset_of_a_zombie_while_mutating_the_current_run_suppresses_it(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        reset = snapshot(zombie.key, db_record_version=2, tag="reset")
        terminated = mutation(
            current.key,
            db_record_version=2,
            state=WorkflowState.COMPLETED,
            status=STATUS_COMPLETED,
        )
        await stores.execution.conflict_resolve_workflow_execution(
            conflict_resolve_request(shard, reset, current_mutation=terminated)
        )
        assert_run_is(await read_run(stores, shard, zombie.key), reset)
        assert (await read_run(stores, shard, current.key)).db_record_version == 2
        assert await current_of(stores, shard, current.key) == reset.current_record()

    async def test_reset_with_a_stale_version_carries_the_stored_version(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        with pytest.raises(WorkflowConditionFailed) as caught:
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(shard, snapshot(key, db_record_version=4))
            )
        assert caught.value.actual_db_record_version == 1
        assert_run_is(await read_run(stores, shard, key), first)

    async def test_reset_of_a_non_current_run_in_update_mode_carries_the_current_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        with pytest.raises(CurrentWorkflowConditionFailed) as caught:
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(shard, snapshot(zombie.key, db_record_version=2))
            )
        assert caught.value.current == current.current_record()
        assert_run_is(await read_run(stores, shard, zombie.key), zombie)

    async def test_bypass_resets_a_zombie_without_touching_the_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        reset = snapshot(zombie.key, db_record_version=2, state=WorkflowState.ZOMBIE, tag="r")
        await stores.execution.conflict_resolve_workflow_execution(
            conflict_resolve_request(shard, reset, ConflictResolveWorkflowMode.BYPASS_CURRENT)
        )
        assert_run_is(await read_run(stores, shard, zombie.key), reset)
        assert await current_of(stores, shard, current.key) == current.current_record()

    async def test_bypass_of_the_current_run_is_a_current_condition_failure(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, _ = await current_and_zombie(stores, shard)
        with pytest.raises(CurrentWorkflowConditionFailed):
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(
                    shard,
                    snapshot(current.key, db_record_version=2),
                    ConflictResolveWorkflowMode.BYPASS_CURRENT,
                )
            )
        assert_run_is(await read_run(stores, shard, current.key), current)

    async def test_stale_range_id_is_ownership_lost_and_writes_nothing(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        await _renew(stores, shard)
        with pytest.raises(ShardOwnershipLost):
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(shard, snapshot(key, db_record_version=2))
            )
        assert_run_is(await read_run(stores, shard, key), first)


class TestSetWorkflowExecution:
    @staticmethod
    async def _set(
        stores: StoreBundle, lease: ShardLease, snap: WorkflowSnapshot, range_id: int | None = None
    ) -> None:
        await stores.execution.set_workflow_execution(
            SetWorkflowExecutionRequest(
                lease.shard_id, lease.range_id if range_id is None else range_id, snap
            )
        )

    async def test_set_overwrites_the_run_and_its_collections(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(
            stores,
            shard,
            snapshot(key, activity_infos={1: blob("a")}, signal_requested_ids={"x"}),
        )
        replacement = snapshot(
            key,
            db_record_version=2,
            next_event_id=40,
            timer_infos={"t2": blob("t2")},
            signal_requested_ids={"y"},
            tag="set",
        )
        await self._set(stores, shard, replacement)
        assert_run_is(await read_run(stores, shard, key), replacement)

    async def test_set_never_touches_the_current_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        await self._set(
            stores,
            shard,
            snapshot(
                key, db_record_version=2, last_write_version=50, state=WorkflowState.COMPLETED
            ),
        )
        assert await current_of(stores, shard, key) == first.current_record()

    async def test_set_of_a_missing_run_is_a_condition_failure(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        with pytest.raises(ConditionFailed):
            await self._set(stores, shard, snapshot(key, db_record_version=2))
        await assert_no_run(stores, shard, key)

    async def test_set_with_a_stale_version_is_a_workflow_condition_failure(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = snapshot(key, db_record_version=3)
        await create_run(stores, shard, first)
        with pytest.raises(WorkflowConditionFailed) as caught:
            await self._set(stores, shard, snapshot(key, db_record_version=3, tag="stale"))
        assert caught.value.actual_db_record_version == 3
        assert_run_is(await read_run(stores, shard, key), first)

    async def test_stale_range_id_is_ownership_lost(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key: ExecutionKey = execution_key()
        first = snapshot(key)
        await create_run(stores, shard, first)
        await _renew(stores, shard)
        with pytest.raises(ShardOwnershipLost):
            await self._set(stores, shard, snapshot(key, db_record_version=2))
        assert_run_is(await read_run(stores, shard, key), first)
