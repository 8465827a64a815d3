"""Workflow runs, current-run pointers and history tasks over SQL (one shard = rows keyed by
``shard_id``)."""

from __future__ import annotations

from typing import Any

from persistence_cassandra.backends.sql.execution_writes import (
    ACTIVITIES,
    BUFFERED_EVENTS_KIND,
    CANCELS,
    CHILDREN,
    COLLECTIONS,
    CURRENT_COLUMNS,
    SIGNALS,
    SIGNALS_REQUESTED_KIND,
    TIMERS,
    ExecutionSql,
    current_from_row,
    run_params,
)
from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.replication_dlq import SqlReplicationDLQ
from persistence_cassandra.backends.sql.shard_store import expect_fence
from persistence_cassandra.backends.sql.statements import (
    MUTABLE_STATE_PARTS,
    MUTABLE_STATE_QUERY,
)
from persistence_cassandra.backends.sql.transaction import LockedReads, Row, TransactionRunner, Tx
from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.execution_plan import (
    ExecutionWritePlan,
    InsertRun,
    OverwriteRun,
    PointerPlan,
    PointerRule,
    plan_execution_write,
)
from persistence_cassandra.records import (
    ConflictResolveWorkflowExecutionRequest,
    CreateWorkflowExecutionRequest,
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    HistoryTask,
    Page,
    SetWorkflowExecutionRequest,
    TaskCategory,
    TaskKey,
    UpdateWorkflowExecutionRequest,
    WorkflowMutableState,
)
from persistence_cassandra.stores import ExecutionStore

__all__ = ["SqlExecutionStore"]


_MOVES = (PointerRule.POINTS_AT, PointerRule.REUSABLE)


def _new_record(pointer: PointerPlan) -> CurrentExecution:
    if pointer.new_record is None:
        raise InvalidRequest(f"pointer rule {pointer.rule.name} needs the pointer to write")
    return pointer.new_record


_COLLECTION_BY_KIND = {c.kind: c for c in COLLECTIONS}


def _read_mutable_state(tx: Tx, shard_id: int, key: ExecutionKey) -> WorkflowMutableState | None:
    rows = tx.fetchall(MUTABLE_STATE_QUERY, run_params(shard_id, key) * MUTABLE_STATE_PARTS)
    if not rows or rows[0][0] != 0:
        return None
    head = rows[0]
    state = WorkflowMutableState(
        key=key,
        execution_info=DataBlob(head[3], head[4]),
        execution_state=DataBlob(head[7], head[8]),
        next_event_id=head[5],
        db_record_version=head[6],
        checksum=None if head[9] is None else DataBlob(head[9], head[10]),
    )
    maps: dict[int, dict[Any, DataBlob]] = {
        ACTIVITIES.kind: state.activity_infos,
        TIMERS.kind: state.timer_infos,
        CHILDREN.kind: state.child_execution_infos,
        CANCELS.kind: state.request_cancel_infos,
        SIGNALS.kind: state.signal_infos,
    }
    for row in rows[1:]:
        kind = row[0]
        if kind in _COLLECTION_BY_KIND:
            entry_key = row[1] if _COLLECTION_BY_KIND[kind].int_key else row[2]
            maps[kind][entry_key] = DataBlob(row[3], row[4])
        elif kind == SIGNALS_REQUESTED_KIND:
            state.signal_requested_ids.add(row[2])
        elif kind == BUFFERED_EVENTS_KIND:
            state.buffered_events.append(DataBlob(row[3], row[4]))
    return state


class SqlExecutionStore(SqlReplicationDLQ):
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        self._sql = ExecutionSql(runner.dialect)

    # ------------------------------------------------------------------ writes

    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None:
        await self._apply(plan_execution_write(request))

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None:
        await self._apply(plan_execution_write(request))

    async def conflict_resolve_workflow_execution(
        self, request: ConflictResolveWorkflowExecutionRequest
    ) -> None:
        await self._apply(plan_execution_write(request))

    async def set_workflow_execution(self, request: SetWorkflowExecutionRequest) -> None:
        await self._apply(plan_execution_write(request))

    async def _apply(self, plan: ExecutionWritePlan) -> None:
        """One transaction per plan (:mod:`persistence_cassandra.execution_plan`): the fence,
        the pointer rule and the expected run versions are checked by locked reads first, then
        the runs are written and the pointer moved."""
        sql, dialect = self._sql, self._runner.dialect
        shard_id = plan.shard_id
        pointer = plan.pointer

        def write(tx: Tx) -> None:
            reads = LockedReads()
            expect_fence(reads, dialect, shard_id, plan.range_id)
            if pointer is not None:
                sql.expect_pointer(reads, shard_id, pointer)
            for checked in plan.checked_runs:
                sql.expect_run_version(
                    reads, shard_id, checked.key, checked.expected_db_record_version
                )
            reads.run(tx)
            if pointer is not None and pointer.rule is PointerRule.ABSENT:
                # Inserted first: a creator racing past the locked read loses here, as a
                # current condition failure rather than on its run row.
                sql.insert_current(tx, shard_id, pointer, _new_record(pointer))
            for run in plan.runs:
                if isinstance(run, InsertRun):
                    sql.insert_run(tx, shard_id, run.snapshot)
                elif isinstance(run, OverwriteRun):
                    sql.reset_run(tx, shard_id, run.snapshot)
                else:
                    sql.mutate_run(tx, shard_id, run.mutation)
            if pointer is not None and pointer.rule in _MOVES:
                sql.update_current(tx, shard_id, pointer, _new_record(pointer))

        await self._runner.write(write)

    async def delete_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        await self._runner.write(lambda tx: self._sql.delete_run(tx, shard_id, key))

    async def delete_current_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        await self._runner.write(
            lambda tx: tx.defer(
                "DELETE FROM current_executions WHERE shard_id = ? AND namespace_id = ? "
                "AND workflow_id = ? AND run_id = ?",
                run_params(shard_id, key),
            )
        )

    # ------------------------------------------------------------------ reads

    async def get_workflow_execution(
        self, shard_id: int, key: ExecutionKey
    ) -> WorkflowMutableState:
        state = await self._runner.read(lambda tx: _read_mutable_state(tx, shard_id, key))
        if state is None:
            raise NotFound(f"run {key.run_id} of workflow {key.workflow_id} does not exist")
        return state

    async def get_current_execution(
        self, shard_id: int, namespace_id: str, workflow_id: str
    ) -> CurrentExecution:
        row = await self._runner.read(
            lambda tx: tx.fetchone(
                f"SELECT {', '.join(CURRENT_COLUMNS)} FROM current_executions "
                "WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ?",
                (shard_id, namespace_id, workflow_id),
            )
        )
        if row is None:
            raise NotFound(f"workflow {workflow_id} has no current run")
        return current_from_row(row)

    async def list_concrete_executions(
        self, shard_id: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[WorkflowMutableState]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 3)

        def scan(tx: Tx) -> Page[WorkflowMutableState]:
            after = "AND (namespace_id, workflow_id, run_id) > (?, ?, ?) " if position else ""
            rows: list[Row] = tx.fetchall(
                "SELECT namespace_id, workflow_id, run_id FROM executions "
                f"WHERE shard_id = ? {after}"
                "ORDER BY namespace_id, workflow_id, run_id LIMIT ?",
                (shard_id, *(position or ()), page_size + 1),
            )
            page, token = split_page(rows, page_size, lambda row: row)
            states = []
            for namespace_id, workflow_id, run_id in page:
                state = _read_mutable_state(
                    tx, shard_id, ExecutionKey(namespace_id, workflow_id, run_id)
                )
                if state is not None:  # deleted between the two reads
                    states.append(state)
            return Page(states, token)

        return await self._runner.read(scan)

    # ------------------------------------------------------------------ history tasks

    async def add_history_tasks(
        self,
        shard_id: int,
        range_id: int,
        namespace_id: str,
        workflow_id: str,
        tasks: list[HistoryTask],
    ) -> None:
        def add(tx: Tx) -> None:
            reads = LockedReads()
            expect_fence(reads, self._runner.dialect, shard_id, range_id)
            reads.run(tx)
            self._sql.tasks.insert(tx, shard_id, tasks)

        await self._runner.write(add)

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Page[HistoryTask]:
        return await self._runner.read(lambda tx: self._sql.tasks.get(tx, request))

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        await self._runner.write(lambda tx: self._sql.tasks.complete(tx, shard_id, category, key))

    async def list_history_task_category_ids(self, shard_id: int) -> list[int]:
        rows = await self._runner.read(
            lambda tx: tx.fetchall(
                "SELECT category_id FROM history_immediate_tasks WHERE shard_id = ? UNION "
                "SELECT category_id FROM history_scheduled_tasks WHERE shard_id = ?",
                (shard_id, shard_id),
            )
        )
        return sorted(row[0] for row in rows)

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        await self._runner.write(
            lambda tx: self._sql.tasks.range_complete(
                tx, shard_id, category, inclusive_min, exclusive_max
            )
        )


_: type[ExecutionStore] = SqlExecutionStore
