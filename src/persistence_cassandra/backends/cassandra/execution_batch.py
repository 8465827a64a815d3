"""Building the one conditional batch that carries an execution write.

Every execution write (create, update, conflict-resolve, set, add history tasks) becomes one
logged batch on the shard's partition of ``executions``, so Cassandra checks all its conditions
in one Paxos round and applies all or nothing:

1. the current-pointer statement required by the plan's pointer rule (insert-if-absent,
   move-if-it-points-at, reuse-if-completed, or assert-it-does-not-point-at); the rules per mode
   live in :mod:`persistence_cassandra.execution_plan`, shared with the SQL store;
2. the run rows: a new run ``IF NOT EXISTS``, a changed run ``IF db_record_version = v - 1``,
   with collection element upserts/deletes in the same batch;
3. history task inserts (unconditional: task ids are unique within the shard's lease);
4. last, the range-id fence ``UPDATE ... SET range_id = r ... IF range_id = r`` that makes a
   stale shard owner's write fail as a whole.

The builder also records what each condition expects (:class:`BatchExpectations`), so that a
not-applied result can be classified by :mod:`conflicts`. This module does no I/O.

**Echo conditions.** A not-applied batch only returns the columns named in conditions. To
carry the actual current run (state, status, last write version...) in
``CurrentWorkflowConditionFailed`` without a second read that could race with other writers,
current-pointer conditions also name those columns with ``!=`` against impossible values: the
extra conditions always hold (``null != x`` is true in CQL) and make Cassandra return them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cassandra.query import UNSET_VALUE

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.conflicts import BatchExpectations
from persistence_cassandra.backends.cassandra.execution_rows import (
    ROW_KEY_WHERE,
    BlobTuple,
    blob_map,
    blob_or_unset,
    current_row_key,
    history_task_row_key,
    run_row_key,
    shard_row_key,
)
from persistence_cassandra.backends.cassandra.session import StatementSpec
from persistence_cassandra.execution_plan import (
    ExecutionWritePlan,
    InsertRun,
    OverwriteRun,
    PointerPlan,
    PointerRule,
    RunWrite,
    plan_execution_write,
)
from persistence_cassandra.records import (
    ConflictResolveWorkflowExecutionRequest,
    CreateWorkflowExecutionRequest,
    CurrentExecution,
    DataBlob,
    HistoryTask,
    SetWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    to_epoch_ms,
)

__all__ = [
    "DELETE_RUN_ELEMENTS",
    "ECHO_VALUES",
    "FENCE",
    "INSERT_CURRENT",
    "INSERT_HISTORY_TASK",
    "INSERT_RUN",
    "MAX_BATCH_BYTES",
    "MOVE_CURRENT",
    "MUTATE_RUN",
    "ExecutionBatch",
    "add_history_tasks_batch",
    "batch_for_plan",
    "conflict_resolve_batch",
    "create_batch",
    "current_values",
    "run_scalars",
    "set_batch",
    "update_batch",
]

MAX_BATCH_BYTES = 640 * 1024
"""Astra DB's batch size failure threshold; larger mutations are refused before sending."""

_TEXT_NEVER = "\x00never"
_INT_NEVER = -1
_BIGINT_NEVER = -(2**63)
_SET_NEVER = frozenset({_TEXT_NEVER})
ECHO_VALUES = (
    _TEXT_NEVER,
    _INT_NEVER,
    _INT_NEVER,
    _BIGINT_NEVER,
    _BIGINT_NEVER,
    _SET_NEVER,
    _TEXT_NEVER,
)
"""The impossible values bound to the ``!=`` echo conditions of MOVE_CURRENT and
ASSERT_NOT_CURRENT (see the module docstring)."""

FENCE = f"UPDATE executions SET range_id = ? WHERE {ROW_KEY_WHERE} IF range_id = ?"

INSERT_HISTORY_TASK = (
    "INSERT INTO executions (shard_id, type, namespace_id, workflow_id, run_id, fire_time_ms, "
    "task_id, task_data, task_encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_CURRENT_COLUMNS = (
    "current_run_id = ?, create_request_id = ?, workflow_state = ?, workflow_status = ?, "
    "last_write_version = ?, start_time_ms = ?, current_request_ids = ?, "
    "first_execution_run_id = ?"
)
# The conflict payload (schema 1.1) rides on the echo conditions too.
_ECHO_PAYLOAD = "AND current_request_ids != ? AND first_execution_run_id != ?"

INSERT_CURRENT = (
    "INSERT INTO executions (shard_id, type, namespace_id, workflow_id, run_id, fire_time_ms, "
    "task_id, current_run_id, create_request_id, workflow_state, workflow_status, "
    "last_write_version, start_time_ms, current_request_ids, first_execution_run_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)

MOVE_CURRENT = (
    f"UPDATE executions SET {_CURRENT_COLUMNS} WHERE {ROW_KEY_WHERE} "
    "IF current_run_id = ? AND create_request_id != ? AND workflow_state != ? "
    f"AND workflow_status != ? AND last_write_version != ? AND start_time_ms != ? {_ECHO_PAYLOAD}"
)

REUSE_CURRENT = (
    f"UPDATE executions SET {_CURRENT_COLUMNS} WHERE {ROW_KEY_WHERE} "
    "IF current_run_id = ? AND last_write_version = ? AND workflow_state = ? "
    f"AND create_request_id != ? AND workflow_status != ? AND start_time_ms != ? {_ECHO_PAYLOAD}"
)

# Deleting range_id (never set on a current row) writes nothing visible: the statement exists
# only to carry the condition, so that a zombie write checks the pointer atomically.
ASSERT_NOT_CURRENT = (
    f"DELETE range_id FROM executions WHERE {ROW_KEY_WHERE} "
    "IF current_run_id != ? AND create_request_id != ? AND workflow_state != ? "
    f"AND workflow_status != ? AND last_write_version != ? AND start_time_ms != ? {_ECHO_PAYLOAD}"
)

_RUN_SCALARS = (
    "execution_info = ?, execution_info_encoding = ?, execution_state = ?, "
    "execution_state_encoding = ?, next_event_id = ?, db_record_version = ?, checksum = ?, "
    "checksum_encoding = ?"
)

INSERT_RUN = (
    "INSERT INTO executions (shard_id, type, namespace_id, workflow_id, run_id, fire_time_ms, "
    "task_id, execution_info, execution_info_encoding, execution_state, "
    "execution_state_encoding, next_event_id, db_record_version, checksum, checksum_encoding, "
    "activity_map, timer_map, child_execution_map, request_cancel_map, signal_map, "
    "signal_requested, buffered_events) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)

OVERWRITE_RUN = (
    f"UPDATE executions SET {_RUN_SCALARS}, activity_map = ?, timer_map = ?, "
    "child_execution_map = ?, request_cancel_map = ?, signal_map = ?, signal_requested = ?, "
    f"buffered_events = ? WHERE {ROW_KEY_WHERE} IF db_record_version = ?"
)

MUTATE_RUN = (
    f"UPDATE executions SET {_RUN_SCALARS}, activity_map = activity_map + ?, "
    "timer_map = timer_map + ?, child_execution_map = child_execution_map + ?, "
    "request_cancel_map = request_cancel_map + ?, signal_map = signal_map + ?, "
    "signal_requested = signal_requested + ?, buffered_events = buffered_events + ? "
    f"WHERE {ROW_KEY_WHERE} IF db_record_version = ?"
)

DELETE_RUN_ELEMENTS = (
    "UPDATE executions SET activity_map = activity_map - ?, timer_map = timer_map - ?, "
    "child_execution_map = child_execution_map - ?, request_cancel_map = request_cancel_map - ?, "
    "signal_map = signal_map - ?, signal_requested = signal_requested - ? "
    f"WHERE {ROW_KEY_WHERE}"
)

REPLACE_BUFFERED_EVENTS = f"UPDATE executions SET buffered_events = ? WHERE {ROW_KEY_WHERE}"


STATEMENT_OVERHEAD_BYTES = 256
"""Keys, ids, encodings and scalars of one statement: small next to the payload blobs."""


def _blob_bytes(*groups: Iterable[DataBlob | None]) -> int:
    return sum(len(blob.data) for group in groups for blob in group if blob is not None)


def _snapshot_bytes(snapshot: WorkflowSnapshot) -> int:
    return _blob_bytes(
        (snapshot.execution_info, snapshot.execution_state, snapshot.checksum),
        snapshot.activity_infos.values(),
        snapshot.timer_infos.values(),
        snapshot.child_execution_infos.values(),
        snapshot.request_cancel_infos.values(),
        snapshot.signal_infos.values(),
        snapshot.buffered_events,
    )


def _buffered_events(snapshot: WorkflowSnapshot) -> list[BlobTuple] | None:
    """The snapshot's buffered events as the column stores them; ``None`` (no cells) when
    there are none."""
    return [(blob.data, blob.encoding) for blob in snapshot.buffered_events] or None


def _mutation_bytes(mutation: WorkflowMutation) -> int:
    return _blob_bytes(
        (
            mutation.execution_info,
            mutation.execution_state,
            mutation.checksum,
            mutation.new_buffered_events,
        ),
        mutation.upsert_activity_infos.values(),
        mutation.upsert_timer_infos.values(),
        mutation.upsert_child_execution_infos.values(),
        mutation.upsert_request_cancel_infos.values(),
        mutation.upsert_signal_infos.values(),
    )


def current_values(record: CurrentExecution) -> tuple[object, ...]:
    return (
        record.run_id,
        record.create_request_id,
        int(record.state),
        record.status,
        record.last_write_version,
        to_epoch_ms(record.start_time) if record.start_time is not None else None,
        record.request_ids,
        record.first_execution_run_id,
    )


def run_scalars(
    execution_info: DataBlob,
    execution_state: DataBlob,
    next_event_id: int,
    db_record_version: int,
    checksum: DataBlob | None,
) -> tuple[object, ...]:
    return (
        execution_info.data,
        execution_info.encoding,
        execution_state.data,
        execution_state.encoding,
        next_event_id,
        db_record_version,
        checksum.data if checksum else None,
        checksum.encoding if checksum else None,
    )


@dataclass(slots=True)
class ExecutionBatch:
    """The statements of one execution write and what their conditions expect."""

    shard_id: int
    range_id: int
    statements: list[StatementSpec] = field(default_factory=list)
    expectations: BatchExpectations = field(init=False)
    approx_bytes: int = 0
    """Payload blobs plus a fixed allowance per statement (computed from the records, not by
    walking every bound value, which costs more than the rest of the batch building)."""

    def __post_init__(self) -> None:
        self.expectations = BatchExpectations(self.shard_id, self.range_id)

    def _add(self, cql: str, params: Sequence[object], payload_bytes: int = 0) -> None:
        self.statements.append((cql, params))
        self.approx_bytes += STATEMENT_OVERHEAD_BYTES + payload_bytes

    # ------------------------------------------------------------------ current pointer

    def add_pointer(self, pointer: PointerPlan) -> None:
        """The plan's pointer rule as one conditional statement on the current row."""
        if self.expectations.current is not None:
            raise errors.InvalidRequest("one execution write may check one current pointer")
        self.expectations.current = pointer
        key = current_row_key(self.shard_id, pointer.namespace_id, pointer.workflow_id)
        echo = ECHO_VALUES
        if pointer.rule is PointerRule.NOT_POINTS_AT:
            self._add(ASSERT_NOT_CURRENT, (*key, pointer.run_id, *echo))
            return
        record = pointer.new_record
        if record is None:
            raise errors.InvalidRequest(f"pointer rule {pointer.rule.name} needs a new pointer")
        if pointer.rule is PointerRule.ABSENT:
            self._add(INSERT_CURRENT, (*key, *current_values(record)))
        elif pointer.rule is PointerRule.REUSABLE:
            self._add(
                REUSE_CURRENT,
                (
                    *current_values(record),
                    *key,
                    pointer.run_id,
                    pointer.last_write_version,
                    int(WorkflowState.COMPLETED),
                    _TEXT_NEVER,
                    _INT_NEVER,
                    _BIGINT_NEVER,
                    _SET_NEVER,
                    _TEXT_NEVER,
                ),
            )
        else:
            self._add(MOVE_CURRENT, (*current_values(record), *key, pointer.run_id, *echo))

    # ------------------------------------------------------------------ runs

    def add_run(self, run: RunWrite) -> None:
        """One run write of the plan, conditioned as the plan expects."""
        self.expectations.runs.append(run)
        if isinstance(run, InsertRun):
            self._insert_run(run.snapshot)
        elif isinstance(run, OverwriteRun):
            self._overwrite_run(run.snapshot, run.expected_db_record_version)
        else:
            self._mutate_run(run.mutation, run.expected_db_record_version)

    def _insert_run(self, snapshot: WorkflowSnapshot) -> None:
        checksum_data, checksum_encoding = blob_or_unset(snapshot.checksum)
        self._add(
            INSERT_RUN,
            (
                *run_row_key(self.shard_id, snapshot.key),
                snapshot.execution_info.data,
                snapshot.execution_info.encoding,
                snapshot.execution_state.data,
                snapshot.execution_state.encoding,
                snapshot.next_event_id,
                snapshot.db_record_version,
                checksum_data,
                checksum_encoding,
                blob_map(snapshot.activity_infos),
                blob_map(snapshot.timer_infos),
                blob_map(snapshot.child_execution_infos),
                blob_map(snapshot.request_cancel_infos),
                blob_map(snapshot.signal_infos),
                set(snapshot.signal_requested_ids),
                _buffered_events(snapshot) or UNSET_VALUE,
            ),
            _snapshot_bytes(snapshot),
        )
        self.insert_history_tasks(snapshot.tasks)

    def _overwrite_run(self, snapshot: WorkflowSnapshot, expected: int) -> None:
        """Replace an existing run whole (reset, set): collections are overwritten."""
        self._add(
            OVERWRITE_RUN,
            (
                *run_scalars(
                    snapshot.execution_info,
                    snapshot.execution_state,
                    snapshot.next_event_id,
                    snapshot.db_record_version,
                    snapshot.checksum,
                ),
                blob_map(snapshot.activity_infos),
                blob_map(snapshot.timer_infos),
                blob_map(snapshot.child_execution_infos),
                blob_map(snapshot.request_cancel_infos),
                blob_map(snapshot.signal_infos),
                set(snapshot.signal_requested_ids),
                _buffered_events(snapshot),
                *run_row_key(self.shard_id, snapshot.key),
                expected,
            ),
            _snapshot_bytes(snapshot),
        )
        self.insert_history_tasks(snapshot.tasks)

    def _mutate_run(self, mutation: WorkflowMutation, expected: int) -> None:
        key = run_row_key(self.shard_id, mutation.key)
        appended: list[BlobTuple] = []
        if mutation.new_buffered_events is not None and not mutation.clear_buffered_events:
            appended.append(
                (mutation.new_buffered_events.data, mutation.new_buffered_events.encoding)
            )
        self._add(
            MUTATE_RUN,
            (
                *run_scalars(
                    mutation.execution_info,
                    mutation.execution_state,
                    mutation.next_event_id,
                    mutation.db_record_version,
                    mutation.checksum,
                ),
                blob_map(mutation.upsert_activity_infos),
                blob_map(mutation.upsert_timer_infos),
                blob_map(mutation.upsert_child_execution_infos),
                blob_map(mutation.upsert_request_cancel_infos),
                blob_map(mutation.upsert_signal_infos),
                set(mutation.upsert_signal_requested_ids),
                appended,
                *key,
                expected,
            ),
            _mutation_bytes(mutation),
        )
        deletes: tuple[Iterable[object], ...] = (
            mutation.delete_activity_infos,
            mutation.delete_timer_infos,
            mutation.delete_child_execution_infos,
            mutation.delete_request_cancel_infos,
            mutation.delete_signal_infos,
            mutation.delete_signal_requested_ids,
        )
        if any(deletes):
            self._add(DELETE_RUN_ELEMENTS, (*(set(d) for d in deletes), *key))
        if mutation.clear_buffered_events:
            # An overwrite (not a delete followed by an append): inside one batch every
            # statement has the same timestamp, and a delete would shadow the appended event.
            replacement = (
                [(mutation.new_buffered_events.data, mutation.new_buffered_events.encoding)]
                if mutation.new_buffered_events is not None
                else None
            )
            self._add(REPLACE_BUFFERED_EVENTS, (replacement, *key))
        self.insert_history_tasks(mutation.tasks)

    # ------------------------------------------------------------------ tasks and fence

    def insert_history_tasks(self, tasks: Iterable[HistoryTask]) -> None:
        for task in tasks:
            self._add(
                INSERT_HISTORY_TASK,
                (*history_task_row_key(self.shard_id, task), task.blob.data, task.blob.encoding),
                len(task.blob.data),
            )

    def finish(self) -> list[StatementSpec]:
        """The statements, ending with the range-id fence; refuses an oversized batch."""
        if self.approx_bytes > MAX_BATCH_BYTES:
            raise errors.InvalidRequest(
                f"shard {self.shard_id}: execution write of about {self.approx_bytes} bytes "
                f"exceeds the {MAX_BATCH_BYTES}-byte batch limit"
            )
        return [
            *self.statements,
            (FENCE, (self.range_id, *shard_row_key(self.shard_id), self.range_id)),
        ]


# ---------------------------------------------------------------------- per request


def batch_for_plan(plan: ExecutionWritePlan) -> ExecutionBatch:
    """The statements of a backend-neutral plan (:mod:`persistence_cassandra.execution_plan`):
    its pointer rule as one conditional statement on the current row, each run write as a
    conditional statement on its run row."""
    batch = ExecutionBatch(plan.shard_id, plan.range_id)
    if plan.pointer is not None:
        batch.add_pointer(plan.pointer)
    for run in plan.runs:
        batch.add_run(run)
    return batch


def create_batch(request: CreateWorkflowExecutionRequest) -> ExecutionBatch:
    return batch_for_plan(plan_execution_write(request))


def update_batch(request: UpdateWorkflowExecutionRequest) -> ExecutionBatch:
    return batch_for_plan(plan_execution_write(request))


def conflict_resolve_batch(request: ConflictResolveWorkflowExecutionRequest) -> ExecutionBatch:
    return batch_for_plan(plan_execution_write(request))


def set_batch(request: SetWorkflowExecutionRequest) -> ExecutionBatch:
    return batch_for_plan(plan_execution_write(request))


def add_history_tasks_batch(
    shard_id: int, range_id: int, tasks: Sequence[HistoryTask]
) -> ExecutionBatch:
    batch = ExecutionBatch(shard_id, range_id)
    batch.insert_history_tasks(tasks)
    return batch
