"""Building execution batches and classifying not-applied results: pure logic, no node.

The rows fed to the classifier have the shape Cassandra returns for a not-applied conditional
batch (checked against a real node in ``test_cassandra_conflict_values.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.conflicts import conflict_error
from persistence_cassandra.backends.cassandra.execution_batch import (
    ASSERT_NOT_CURRENT,
    FENCE,
    INSERT_CURRENT,
    INSERT_RUN,
    MAX_BATCH_BYTES,
    MOVE_CURRENT,
    MUTATE_RUN,
    REUSE_CURRENT,
    create_batch,
    update_batch,
)
from persistence_cassandra.backends.cassandra.execution_rows import (
    ROW_CURRENT,
    ROW_RUN,
    ROW_SHARD,
)
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowState,
)
from persistence_cassandra.testing.builders import execution_key, mutation, snapshot

SHARD = 7
RANGE = 3


def shard_row(range_id: int) -> dict[str, Any]:
    return {
        "[applied]": False,
        "type": ROW_SHARD,
        "namespace_id": "",
        "workflow_id": "",
        "run_id": "",
        "range_id": range_id,
    }


def current_row(key: ExecutionKey, run_id: str, **values: Any) -> dict[str, Any]:
    row = {
        "[applied]": False,
        "type": ROW_CURRENT,
        "namespace_id": key.namespace_id,
        "workflow_id": key.workflow_id,
        "run_id": "",
        "current_run_id": run_id,
        "create_request_id": "req",
        "workflow_state": int(WorkflowState.RUNNING),
        "workflow_status": 1,
        "last_write_version": 4,
        "start_time_ms": None,
    }
    row.update(values)
    return row


def run_row(key: ExecutionKey, version: int) -> dict[str, Any]:
    return {
        "[applied]": False,
        "type": ROW_RUN,
        "namespace_id": key.namespace_id,
        "workflow_id": key.workflow_id,
        "run_id": key.run_id,
        "db_record_version": version,
    }


def update(
    key: ExecutionKey, version: int, mode: UpdateWorkflowMode = UpdateWorkflowMode.UPDATE_CURRENT
) -> UpdateWorkflowExecutionRequest:
    return UpdateWorkflowExecutionRequest(
        SHARD, RANGE, mode, mutation(key, db_record_version=version)
    )


def test_every_batch_ends_with_the_range_fence() -> None:
    key = execution_key()
    statements = update_batch(update(key, 2)).finish()
    cql, params = statements[-1]
    assert cql == FENCE
    assert params[0] == RANGE and params[-1] == RANGE
    assert [cql for cql, _ in statements[:-1]] == [MOVE_CURRENT, MUTATE_RUN]


@pytest.mark.parametrize(
    ("mode", "first"),
    [
        (CreateWorkflowMode.BRAND_NEW, INSERT_CURRENT),
        (CreateWorkflowMode.UPDATE_CURRENT, REUSE_CURRENT),
        (CreateWorkflowMode.BYPASS_CURRENT, INSERT_RUN),
    ],
)
def test_create_modes_choose_the_current_pointer_statement(
    mode: CreateWorkflowMode, first: str
) -> None:
    request = CreateWorkflowExecutionRequest(SHARD, RANGE, mode, snapshot(execution_key()))
    assert create_batch(request).finish()[0][0] == first


def test_bypass_asserts_the_run_is_not_current_in_the_same_batch() -> None:
    statements = update_batch(
        update(execution_key(), 2, UpdateWorkflowMode.BYPASS_CURRENT)
    ).finish()
    assert statements[0][0] == ASSERT_NOT_CURRENT


def test_ignore_current_does_not_touch_the_pointer() -> None:
    statements = update_batch(
        update(execution_key(), 2, UpdateWorkflowMode.IGNORE_CURRENT)
    ).finish()
    assert [cql for cql, _ in statements] == [MUTATE_RUN, FENCE]


def test_an_oversized_write_is_refused_before_sending() -> None:
    key = execution_key()
    big = {i: DataBlob(b"x" * 65_536) for i in range(MAX_BATCH_BYTES // 65_536 + 1)}
    request = UpdateWorkflowExecutionRequest(
        SHARD,
        RANGE,
        UpdateWorkflowMode.UPDATE_CURRENT,
        mutation(key, db_record_version=2, upsert_activity_infos=big),
    )
    with pytest.raises(errors.InvalidRequest, match="batch limit"):
        update_batch(request).finish()


def test_shard_ownership_lost_outranks_everything_and_carries_the_range() -> None:
    key = execution_key()
    batch = update_batch(update(key, 5))
    rows = [shard_row(RANGE + 1), run_row(key, 9), current_row(key, "other-run")]
    error = conflict_error(rows, batch.expectations)
    assert isinstance(error, errors.ShardOwnershipLost)
    assert error.actual_range_id == RANGE + 1


def test_current_condition_outranks_the_run_version() -> None:
    key = execution_key()
    batch = update_batch(update(key, 5))
    rows = [shard_row(RANGE), run_row(key, 9), current_row(key, "other-run", last_write_version=12)]
    error = conflict_error(rows, batch.expectations)
    assert isinstance(error, errors.CurrentWorkflowConditionFailed)
    assert error.current is not None
    assert (error.current.run_id, error.current.last_write_version) == ("other-run", 12)


def test_run_version_conflict_carries_the_stored_version() -> None:
    key = execution_key()
    batch = update_batch(update(key, 5))
    rows = [shard_row(RANGE), current_row(key, key.run_id), run_row(key, 9)]
    error = conflict_error(rows, batch.expectations)
    assert isinstance(error, errors.WorkflowConditionFailed)
    assert error.actual_db_record_version == 9


def test_a_missing_run_is_a_plain_condition_failure() -> None:
    key = execution_key()
    batch = update_batch(update(key, 5, UpdateWorkflowMode.IGNORE_CURRENT))
    error = conflict_error([shard_row(RANGE)], batch.expectations)
    assert type(error) is errors.ConditionFailed


def test_a_missing_current_pointer_fails_update_current_with_no_record() -> None:
    key = execution_key()
    batch = update_batch(update(key, 5))
    error = conflict_error([shard_row(RANGE), run_row(key, 4)], batch.expectations)
    assert isinstance(error, errors.CurrentWorkflowConditionFailed)
    assert error.current is None


def test_rows_with_a_null_type_are_skipped() -> None:
    # ScyllaDB answers with one row per statement; unconditional ones are all nulls.
    key = execution_key()
    batch = update_batch(update(key, 5))
    nulls = {
        "[applied]": False,
        "type": None,
        "namespace_id": None,
        "workflow_id": None,
        "run_id": None,
        "range_id": None,
    }
    rows = [nulls, shard_row(RANGE), nulls, current_row(key, key.run_id), run_row(key, 8)]
    error = conflict_error(rows, batch.expectations)
    assert isinstance(error, errors.WorkflowConditionFailed)
    assert error.actual_db_record_version == 8


def test_reuse_requires_a_completed_current_run_at_the_given_version() -> None:
    key = execution_key()
    request = CreateWorkflowExecutionRequest(
        SHARD,
        RANGE,
        CreateWorkflowMode.UPDATE_CURRENT,
        snapshot(key),
        previous_run_id="previous",
        previous_last_write_version=4,
    )
    batch = create_batch(request)
    running = current_row(key, "previous")
    error = conflict_error([shard_row(RANGE), running], batch.expectations)
    assert isinstance(error, errors.CurrentWorkflowConditionFailed)
    assert error.current is not None and error.current.state is WorkflowState.RUNNING
    completed = current_row(key, "previous", workflow_state=int(WorkflowState.COMPLETED))
    error = conflict_error([shard_row(RANGE), completed], batch.expectations)
    # Every condition holds on these rows: an unexplained not-applied stays generic.
    assert type(error) is errors.ConditionFailed
