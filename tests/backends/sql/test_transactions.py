"""A store operation is one transaction: when a late statement fails, the earlier ones of the
same operation are not visible, on either dialect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sql_test_records import (
    create_run,
    ensure_shard,
    fresh_shard_id,
    mutation,
    new_key,
    snapshot,
)

from persistence_cassandra.errors import WorkflowConditionFailed
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    HistoryTask,
    TaskCategory,
    TaskKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
)
from persistence_cassandra.stores import StoreBundle


async def test_a_failed_late_insert_rolls_back_the_whole_update(
    concurrent_bundle_factory: Callable[[], Awaitable[StoreBundle]],
) -> None:
    bundle = await concurrent_bundle_factory()
    try:
        shard = fresh_shard_id()
        await ensure_shard(bundle, shard)
        key = new_key()
        existing = new_key(key.workflow_id)
        await create_run(bundle, shard, 1, key)
        # A second, non-current run of the same workflow (a new run must stay in its workflow).
        await bundle.execution.create_workflow_execution(
            CreateWorkflowExecutionRequest(
                shard, 1, CreateWorkflowMode.BYPASS_CURRENT, snapshot(existing)
            )
        )
        task = HistoryTask(TaskCategory.TRANSFER, TaskKey.immediate(77), DataBlob(b"t"))
        # The mutation's statements run first; the new run then collides with an existing
        # run row, which fails the operation after those statements were executed.
        request = UpdateWorkflowExecutionRequest(
            shard,
            1,
            UpdateWorkflowMode.UPDATE_CURRENT,
            mutation(
                key,
                version=2,
                upsert_activity_infos={1: DataBlob(b"a")},
                new_buffered_events=DataBlob(b"e"),
                tasks=[task],
            ),
            new_snapshot=snapshot(existing),
        )
        with pytest.raises(WorkflowConditionFailed) as caught:
            await bundle.execution.update_workflow_execution(request)
        assert caught.value.actual_db_record_version == 1
        state = await bundle.execution.get_workflow_execution(shard, key)
        assert state.db_record_version == 1
        assert state.activity_infos == {}
        assert state.buffered_events == []
        current = await bundle.execution.get_current_execution(shard, "ns", key.workflow_id)
        assert current.run_id == key.run_id
    finally:
        await bundle.close()
