"""ExecutionStore conformance: the mode rules of :mod:`persistence_cassandra.execution_plan`,
pinned where backends once disagreed.

- A bypassing update or conflict-resolve asserts only that the run it changes is not current;
  a new run in the same request whose id already exists (here: the current run's) is a
  conflict on that run, ``WorkflowConditionFailed``, as in Temporal's persistence.
- Combinations that would leave the pointer unchecked are refused before anything is sent:
  ``IGNORE_CURRENT`` with a new run, a bypassing conflict-resolve that mutates the current run,
  and a new run of another workflow.
"""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import (
    CurrentWorkflowConditionFailed,
    InvalidRequest,
    WorkflowConditionFailed,
)
from persistence_cassandra.records import (
    ConflictResolveWorkflowMode,
    UpdateWorkflowMode,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import ShardLease, execution_key, mutation, snapshot
from persistence_cassandra.testing.suite.execution_checks import (
    assert_no_run,
    assert_run_is,
    conflict_resolve_request,
    current_and_zombie,
    current_of,
    read_run,
    update_run,
)

__all__ = ["TestExecutionModeRules"]


async def _assert_unchanged(
    stores: StoreBundle, lease: ShardLease, current: WorkflowSnapshot, zombie: WorkflowSnapshot
) -> None:
    assert_run_is(await read_run(stores, lease, zombie.key), zombie)
    assert_run_is(await read_run(stores, lease, current.key), current)
    assert await current_of(stores, lease, current.key) == current.current_record()


class TestExecutionModeRules:
    async def test_bypass_update_with_a_new_run_that_exists_is_a_run_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        with pytest.raises(WorkflowConditionFailed) as caught:
            await update_run(
                stores,
                shard,
                mutation(zombie.key, db_record_version=2, state=WorkflowState.ZOMBIE),
                UpdateWorkflowMode.BYPASS_CURRENT,
                new_snapshot=snapshot(current.key, state=WorkflowState.ZOMBIE, tag="again"),
            )
        assert not isinstance(caught.value, CurrentWorkflowConditionFailed)
        assert caught.value.actual_db_record_version == current.db_record_version
        await _assert_unchanged(stores, shard, current, zombie)

    async def test_bypass_update_with_a_fresh_new_run_leaves_the_pointer(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        new_run = snapshot(
            execution_key(current.key.namespace_id, current.key.workflow_id),
            state=WorkflowState.ZOMBIE,
        )
        await update_run(
            stores,
            shard,
            mutation(zombie.key, db_record_version=2, state=WorkflowState.COMPLETED),
            UpdateWorkflowMode.BYPASS_CURRENT,
            new_snapshot=new_run,
        )
        assert_run_is(await read_run(stores, shard, new_run.key), new_run)
        assert await current_of(stores, shard, current.key) == current.current_record()

    async def test_bypass_conflict_resolve_with_a_new_run_that_exists_is_a_run_conflict(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        reset = snapshot(zombie.key, db_record_version=2, state=WorkflowState.COMPLETED)
        with pytest.raises(WorkflowConditionFailed) as caught:
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(
                    shard,
                    reset,
                    ConflictResolveWorkflowMode.BYPASS_CURRENT,
                    new_snapshot=snapshot(current.key, state=WorkflowState.ZOMBIE, tag="again"),
                )
            )
        assert not isinstance(caught.value, CurrentWorkflowConditionFailed)
        await _assert_unchanged(stores, shard, current, zombie)

    async def test_ignore_current_with_a_new_run_is_refused(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        new_run = snapshot(execution_key(current.key.namespace_id, current.key.workflow_id))
        with pytest.raises(InvalidRequest):
            await update_run(
                stores,
                shard,
                mutation(zombie.key, db_record_version=2),
                UpdateWorkflowMode.IGNORE_CURRENT,
                new_snapshot=new_run,
            )
        await _assert_unchanged(stores, shard, current, zombie)
        await assert_no_run(stores, shard, new_run.key)

    async def test_bypass_conflict_resolve_may_not_mutate_the_current_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        with pytest.raises(InvalidRequest):
            await stores.execution.conflict_resolve_workflow_execution(
                conflict_resolve_request(
                    shard,
                    snapshot(zombie.key, db_record_version=2, state=WorkflowState.ZOMBIE),
                    ConflictResolveWorkflowMode.BYPASS_CURRENT,
                    current_mutation=mutation(current.key, db_record_version=2),
                )
            )
        await _assert_unchanged(stores, shard, current, zombie)

    async def test_a_new_run_of_another_workflow_is_refused(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        current, zombie = await current_and_zombie(stores, shard)
        elsewhere = snapshot(execution_key(current.key.namespace_id))
        with pytest.raises(InvalidRequest):
            await update_run(
                stores,
                shard,
                mutation(current.key, db_record_version=2, state=WorkflowState.COMPLETED),
                new_snapshot=elsewhere,
            )
        await _assert_unchanged(stores, shard, current, zombie)
        await assert_no_run(stores, shard, elsewhere.key)
