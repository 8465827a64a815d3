"""Turning a not-applied conditional batch into the right error, with the actual values.

When a conditional batch is not applied, Cassandra answers with one row per *existing* row that
carried a condition, holding its key columns and the columns named in conditions (all columns
when the batch has an ``IF NOT EXISTS``). Rows whose condition held are returned too, and a
conditioned row that does not exist returns nothing. So the classifier re-evaluates every
expectation of the batch against the returned rows itself, treats a missing row as "absent",
and skips rows with a null ``type`` (ScyllaDB returns one row per statement, unconditional ones
as nulls). Every failed expectation becomes an error; the one raised is the first of
``ShardOwnershipLost`` > ``CurrentWorkflowConditionFailed`` > ``WorkflowConditionFailed`` >
``ConditionFailed`` (DESIGN.md section 3), because the caller's reaction to the higher one
makes the lower ones moot: a fenced-out owner must stop whatever the run looked like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_rows import (
    ROW_CURRENT,
    ROW_RUN,
    ROW_SHARD,
    current_from_row,
)
from persistence_cassandra.execution_plan import PointerPlan, RunWrite

__all__ = [
    "BatchExpectations",
    "conflict_error",
]

Row = Mapping[str, Any]


@dataclass(slots=True)
class BatchExpectations:
    """Everything a conditional execution batch asserts, to re-check when it is not applied."""

    shard_id: int
    range_id: int
    current: PointerPlan | None = None
    runs: list[RunWrite] = field(default_factory=list)


def _find(
    rows: Sequence[Row], kind: int, namespace_id: str, workflow_id: str, run_id: str
) -> Row | None:
    for row in rows:
        if (
            row.get("type") == kind
            and row.get("namespace_id") == namespace_id
            and row.get("workflow_id") == workflow_id
            and row.get("run_id") == run_id
        ):
            return row
    return None


def _shard_failure(
    rows: Sequence[Row], expected: BatchExpectations
) -> errors.PersistenceError | None:
    shard_row = next((row for row in rows if row.get("type") == ROW_SHARD), None)
    if shard_row is None:
        return errors.ShardOwnershipLost(expected.shard_id, "shard record does not exist")
    actual = shard_row.get("range_id")
    if actual != expected.range_id:
        return errors.ShardOwnershipLost(
            expected.shard_id,
            f"request range_id={expected.range_id} is stale",
            actual_range_id=actual,
        )
    return None


def _current_failure(
    rows: Sequence[Row], expectation: PointerPlan
) -> errors.PersistenceError | None:
    row = _find(rows, ROW_CURRENT, expectation.namespace_id, expectation.workflow_id, "")
    actual = current_from_row(row) if row is not None and row.get("current_run_id") else None
    reason = expectation.violation(actual)
    if reason is None:
        return None
    return errors.CurrentWorkflowConditionFailed(
        f"workflow {expectation.workflow_id!r}: {reason}", actual
    )


def _run_failure(rows: Sequence[Row], expectation: RunWrite) -> errors.PersistenceError | None:
    key = expectation.key
    row = _find(rows, ROW_RUN, key.namespace_id, key.workflow_id, key.run_id)
    where = f"run {key.run_id} of workflow {key.workflow_id!r}"
    expected_version = expectation.expected_db_record_version
    if expected_version is None:
        if row is None:
            return None
        return errors.WorkflowConditionFailed(
            f"{where} already exists",
            actual_db_record_version=row.get("db_record_version") or 0,
            next_event_id=row.get("next_event_id") or 0,
        )
    if row is None:
        return errors.ConditionFailed(f"{where} does not exist")
    actual = row.get("db_record_version")
    if actual == expected_version:
        return None
    return errors.WorkflowConditionFailed(
        f"{where}: stored db_record_version={actual}, expected {expected_version}",
        actual_db_record_version=actual if actual is not None else 0,
        next_event_id=row.get("next_event_id") or 0,
    )


def conflict_error(
    returned_rows: Sequence[Row], expected: BatchExpectations
) -> errors.PersistenceError:
    """The highest-priority error explaining why the batch was not applied."""
    rows = [row for row in returned_rows if row.get("type") is not None]
    shard = _shard_failure(rows, expected)
    if shard is not None:
        return shard
    if expected.current is not None:
        current = _current_failure(rows, expected.current)
        if current is not None:
            return current
    run_failures = [_run_failure(rows, run) for run in expected.runs]
    # WorkflowConditionFailed outranks a plain ConditionFailed (a run that does not exist).
    for failure in run_failures:
        if isinstance(failure, errors.WorkflowConditionFailed):
            return failure
    for failure in run_failures:
        if failure is not None:
            return failure
    described = "; ".join(
        ", ".join(
            f"{name}={value!r}"
            for name, value in row.items()
            if isinstance(value, (int, str)) and name != "[applied]"
        )
        for row in rows
    )
    return errors.ConditionFailed(
        f"shard {expected.shard_id}: conditional write not applied ({described or 'no rows'})"
    )
