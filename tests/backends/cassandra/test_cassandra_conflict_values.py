"""On a real node: each conflict raises the right error carrying the actual stored values, the
priority holds when several conditions fail at once, and a failed batch writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cassandra_test_support import create_run, new_shard, update_request

from persistence_cassandra import errors
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    GetHistoryTasksRequest,
    SetWorkflowExecutionRequest,
    TaskCategory,
    TaskKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    STATUS_COMPLETED,
    execution_key,
    history_task,
    mutation,
    now,
    snapshot,
)


async def test_stale_range_id_carries_the_stored_range_and_writes_nothing(
    bundle: StoreBundle,
) -> None:
    shard = await new_shard(bundle)
    key = execution_key()
    await create_run(bundle, shard, 1, key)
    await bundle.shard.update_shard(shard, 5, DataBlob(b"new owner"), 1)
    task = history_task(TaskCategory.TRANSFER, 77)
    with pytest.raises(errors.ShardOwnershipLost) as caught:
        await bundle.execution.update_workflow_execution(
            update_request(shard, 1, key, 2, tasks=[task])
        )
    assert caught.value.actual_range_id == 5
    assert (await bundle.execution.get_workflow_execution(shard, key)).db_record_version == 1
    page = await bundle.execution.get_history_tasks(
        GetHistoryTasksRequest(
            shard, TaskCategory.TRANSFER, TaskKey.immediate(0), TaskKey.immediate(1000), 10
        )
    )
    assert page.items == []
    with pytest.raises(errors.ShardOwnershipLost) as caught:
        await bundle.execution.add_history_tasks(
            shard, 4, key.namespace_id, key.workflow_id, [task]
        )
    assert caught.value.actual_range_id == 5


async def test_brand_new_over_an_existing_workflow_carries_the_whole_current_record(
    bundle: StoreBundle,
) -> None:
    shard = await new_shard(bundle)
    first = execution_key()
    started = now() - timedelta(minutes=3)
    existing = snapshot(first, last_write_version=42, status=1)
    existing.start_time = started
    await bundle.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(shard, 1, CreateWorkflowMode.BRAND_NEW, existing)
    )
    second = execution_key(first.namespace_id, first.workflow_id)
    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await create_run(bundle, shard, 1, second)
    assert caught.value.current == existing.current_record()
    assert caught.value.current is not None and caught.value.current.start_time == started
    with pytest.raises(errors.NotFound):
        await bundle.execution.get_workflow_execution(shard, second)


async def test_reuse_checks_run_id_version_and_completion_with_actual_values(
    bundle: StoreBundle,
) -> None:
    shard = await new_shard(bundle)
    first = execution_key()
    await create_run(bundle, shard, 1, first, last_write_version=7)
    second = execution_key(first.namespace_id, first.workflow_id)

    def reuse(previous_run_id: str, version: int) -> CreateWorkflowExecutionRequest:
        return CreateWorkflowExecutionRequest(
            shard,
            1,
            CreateWorkflowMode.UPDATE_CURRENT,
            snapshot(second),
            previous_run_id=previous_run_id,
            previous_last_write_version=version,
        )

    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await bundle.execution.create_workflow_execution(reuse(first.run_id, 7))
    assert caught.value.current is not None
    assert caught.value.current.state is WorkflowState.RUNNING  # not completed yet

    await bundle.execution.update_workflow_execution(
        update_request(
            shard,
            1,
            first,
            2,
            state=WorkflowState.COMPLETED,
            status=STATUS_COMPLETED,
            last_write_version=7,
        )
    )
    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await bundle.execution.create_workflow_execution(reuse("not-the-current-run", 7))
    assert caught.value.current is not None
    assert caught.value.current.run_id == first.run_id
    assert caught.value.current.status == STATUS_COMPLETED
    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await bundle.execution.create_workflow_execution(reuse(first.run_id, 6))
    assert caught.value.current is not None
    assert caught.value.current.last_write_version == 7

    await bundle.execution.create_workflow_execution(reuse(first.run_id, 7))
    current = await bundle.execution.get_current_execution(
        shard, first.namespace_id, first.workflow_id
    )
    assert current.run_id == second.run_id


async def test_updating_a_run_that_is_no_longer_current_carries_the_new_current_run(
    bundle: StoreBundle,
) -> None:
    shard = await new_shard(bundle)
    first = execution_key()
    await create_run(bundle, shard, 1, first)
    continued = execution_key(first.namespace_id, first.workflow_id)
    await bundle.execution.update_workflow_execution(
        UpdateWorkflowExecutionRequest(
            shard,
            1,
            UpdateWorkflowMode.UPDATE_CURRENT,
            mutation(first, db_record_version=2, state=WorkflowState.COMPLETED),
            new_snapshot=snapshot(continued, last_write_version=3),
        )
    )
    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await bundle.execution.update_workflow_execution(update_request(shard, 1, first, 3))
    assert caught.value.current is not None
    assert caught.value.current.run_id == continued.run_id
    assert caught.value.current.create_request_id == f"request-{continued.run_id}"
    assert caught.value.current.last_write_version == 3
    assert caught.value.current.state is WorkflowState.RUNNING

    # The zombie path: the old run may be written with BYPASS_CURRENT, the current one not.
    await bundle.execution.update_workflow_execution(
        update_request(shard, 1, first, 3, mode=UpdateWorkflowMode.BYPASS_CURRENT)
    )
    with pytest.raises(errors.CurrentWorkflowConditionFailed) as caught:
        await bundle.execution.update_workflow_execution(
            update_request(shard, 1, continued, 2, mode=UpdateWorkflowMode.BYPASS_CURRENT)
        )
    assert caught.value.current is not None and caught.value.current.run_id == continued.run_id


async def test_version_conflicts_carry_the_stored_version(bundle: StoreBundle) -> None:
    shard = await new_shard(bundle)
    key = execution_key()
    await create_run(bundle, shard, 1, key, db_record_version=4)
    with pytest.raises(errors.WorkflowConditionFailed) as caught:
        await bundle.execution.update_workflow_execution(update_request(shard, 1, key, 9))
    assert caught.value.actual_db_record_version == 4
    with pytest.raises(errors.WorkflowConditionFailed) as caught:
        await bundle.execution.set_workflow_execution(
            SetWorkflowExecutionRequest(shard, 1, snapshot(key, db_record_version=2))
        )
    assert caught.value.actual_db_record_version == 4
    # Creating a run that exists (zombie create skips the pointer) reports the stored version.
    with pytest.raises(errors.WorkflowConditionFailed) as caught:
        await create_run(bundle, shard, 1, key, mode=CreateWorkflowMode.BYPASS_CURRENT)
    assert caught.value.actual_db_record_version == 4


async def test_writes_to_a_missing_run_are_plain_condition_failures(bundle: StoreBundle) -> None:
    shard = await new_shard(bundle)
    key = execution_key()
    with pytest.raises(errors.ConditionFailed) as caught:
        await bundle.execution.update_workflow_execution(
            update_request(shard, 1, key, 2, mode=UpdateWorkflowMode.IGNORE_CURRENT)
        )
    assert type(caught.value) is errors.ConditionFailed
    with pytest.raises(errors.ConditionFailed) as caught:
        await bundle.execution.set_workflow_execution(
            SetWorkflowExecutionRequest(shard, 1, snapshot(key, db_record_version=2))
        )
    assert type(caught.value) is errors.ConditionFailed


async def test_priority_when_every_condition_fails_at_once(bundle: StoreBundle) -> None:
    shard = await new_shard(bundle)
    key = execution_key()
    await create_run(bundle, shard, 1, key)
    moved = execution_key(key.namespace_id, key.workflow_id)
    await bundle.execution.update_workflow_execution(
        UpdateWorkflowExecutionRequest(
            shard,
            1,
            UpdateWorkflowMode.UPDATE_CURRENT,
            mutation(key, db_record_version=2),
            new_snapshot=snapshot(moved),
        )
    )
    stale_everything = update_request(shard, 1, key, 7)  # wrong version, not current
    with pytest.raises(errors.CurrentWorkflowConditionFailed):
        await bundle.execution.update_workflow_execution(stale_everything)
    await bundle.shard.update_shard(shard, 2, DataBlob(b"next"), 1)
    with pytest.raises(errors.ShardOwnershipLost):
        await bundle.execution.update_workflow_execution(stale_everything)
