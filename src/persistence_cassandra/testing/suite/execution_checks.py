"""Shared steps and checks of the execution suites (not collected as tests)."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import NotFound
from persistence_cassandra.records import (
    ConflictResolveWorkflowExecutionRequest,
    ConflictResolveWorkflowMode,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    CurrentExecution,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutableState,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import ShardLease, execution_key, snapshot

__all__ = [
    "assert_no_current",
    "assert_no_run",
    "assert_run_is",
    "conflict_resolve_request",
    "create_run",
    "current_and_zombie",
    "current_of",
    "read_run",
    "update_run",
]


async def create_run(
    stores: StoreBundle,
    lease: ShardLease,
    snapshot: WorkflowSnapshot,
    mode: CreateWorkflowMode = CreateWorkflowMode.BRAND_NEW,
    *,
    previous_run_id: str = "",
    previous_last_write_version: int = 0,
    range_id: int | None = None,
) -> None:
    await stores.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(
            shard_id=lease.shard_id,
            range_id=lease.range_id if range_id is None else range_id,
            mode=mode,
            new_snapshot=snapshot,
            previous_run_id=previous_run_id,
            previous_last_write_version=previous_last_write_version,
        )
    )


async def update_run(
    stores: StoreBundle,
    lease: ShardLease,
    mutation: WorkflowMutation,
    mode: UpdateWorkflowMode = UpdateWorkflowMode.UPDATE_CURRENT,
    *,
    new_snapshot: WorkflowSnapshot | None = None,
    range_id: int | None = None,
) -> None:
    await stores.execution.update_workflow_execution(
        UpdateWorkflowExecutionRequest(
            shard_id=lease.shard_id,
            range_id=lease.range_id if range_id is None else range_id,
            mode=mode,
            mutation=mutation,
            new_snapshot=new_snapshot,
        )
    )


async def read_run(
    stores: StoreBundle, lease: ShardLease, key: ExecutionKey
) -> WorkflowMutableState:
    return await stores.execution.get_workflow_execution(lease.shard_id, key)


async def current_of(stores: StoreBundle, lease: ShardLease, key: ExecutionKey) -> CurrentExecution:
    return await stores.execution.get_current_execution(
        lease.shard_id, key.namespace_id, key.workflow_id
    )


async def assert_no_run(stores: StoreBundle, lease: ShardLease, key: ExecutionKey) -> None:
    with pytest.raises(NotFound):
        await read_run(stores, lease, key)


async def assert_no_current(stores: StoreBundle, lease: ShardLease, key: ExecutionKey) -> None:
    with pytest.raises(NotFound):
        await current_of(stores, lease, key)


def assert_run_is(state: WorkflowMutableState, expected: WorkflowSnapshot) -> None:
    """The stored run holds exactly what ``expected`` wrote (buffered events aside)."""
    assert state.key == expected.key
    assert state.execution_info == expected.execution_info
    assert state.execution_state == expected.execution_state
    assert state.next_event_id == expected.next_event_id
    assert state.db_record_version == expected.db_record_version
    assert state.activity_infos == expected.activity_infos
    assert state.timer_infos == expected.timer_infos
    assert state.child_execution_infos == expected.child_execution_infos
    assert state.request_cancel_infos == expected.request_cancel_infos
    assert state.signal_infos == expected.signal_infos
    assert state.signal_requested_ids == expected.signal_requested_ids
    assert state.checksum == expected.checksum


async def current_and_zombie(
    stores: StoreBundle, lease: ShardLease
) -> tuple[WorkflowSnapshot, WorkflowSnapshot]:
    """A running current run and a zombie run of the same workflow id."""
    current = snapshot(execution_key())
    await create_run(stores, lease, current)
    zombie = snapshot(
        execution_key(current.key.namespace_id, current.key.workflow_id),
        state=WorkflowState.ZOMBIE,
    )
    await create_run(stores, lease, zombie, CreateWorkflowMode.BYPASS_CURRENT)
    return current, zombie


def conflict_resolve_request(
    lease: ShardLease,
    reset: WorkflowSnapshot,
    mode: ConflictResolveWorkflowMode = ConflictResolveWorkflowMode.UPDATE_CURRENT,
    *,
    new_snapshot: WorkflowSnapshot | None = None,
    current_mutation: WorkflowMutation | None = None,
) -> ConflictResolveWorkflowExecutionRequest:
    return ConflictResolveWorkflowExecutionRequest(
        shard_id=lease.shard_id,
        range_id=lease.range_id,
        mode=mode,
        reset_snapshot=reset,
        new_snapshot=new_snapshot,
        current_mutation=current_mutation,
    )
