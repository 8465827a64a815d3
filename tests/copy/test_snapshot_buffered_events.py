"""``WorkflowSnapshot.buffered_events`` (added for copies) on every target: a created run holds
them in order, and a snapshot overwrite replaces them (an empty list clears them).

Written in the conformance suite's style on its session-wide ``stores`` fixture; a candidate
for ``persistence_cassandra.testing.suite``."""

from __future__ import annotations

from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    SetWorkflowExecutionRequest,
)
from persistence_cassandra.testing.builders import blob, execution_key, snapshot


async def test_snapshot_buffered_events_are_written_and_replaced(stores, shard):
    key = execution_key()
    events = [blob("buffered-1", "proto3"), blob("buffered-2", "proto3"), blob("buffered-3")]
    await stores.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(
            shard.shard_id,
            shard.range_id,
            CreateWorkflowMode.BRAND_NEW,
            snapshot(key, buffered_events=events),
        )
    )
    assert (
        await stores.execution.get_workflow_execution(shard.shard_id, key)
    ).buffered_events == events

    replacement = [blob("buffered-after-reset")]
    for version, expected in ((2, replacement), (3, [])):
        await stores.execution.set_workflow_execution(
            SetWorkflowExecutionRequest(
                shard.shard_id,
                shard.range_id,
                snapshot(key, db_record_version=version, buffered_events=expected),
            )
        )
        state = await stores.execution.get_workflow_execution(shard.shard_id, key)
        assert state.buffered_events == expected
