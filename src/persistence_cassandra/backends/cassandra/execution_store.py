"""Workflow mutable state, current-run pointers and history tasks on Cassandra.

Writes are built by :mod:`execution_batch` (one conditional batch per call, ending with the
range-id fence) and, when not applied, explained by :mod:`conflicts`. Reads are plain
``LOCAL_QUORUM`` reads of the shard's partition.
"""

from __future__ import annotations

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.conflicts import conflict_error
from persistence_cassandra.backends.cassandra.execution_batch import (
    ExecutionBatch,
    add_history_tasks_batch,
    conflict_resolve_batch,
    create_batch,
    set_batch,
    update_batch,
)
from persistence_cassandra.backends.cassandra.execution_rows import (
    HISTORY_TASK_ROW_BASE,
    NO_ID,
    ROW_KEY_WHERE,
    ROW_RUN,
    current_from_row,
    current_row_key,
    history_task_row_key,
    history_task_row_type,
    mutable_state_from_row,
    run_row_key,
    task_fire_time_ms,
)
from persistence_cassandra.backends.cassandra.replication_dlq import CassandraReplicationDLQ
from persistence_cassandra.backends.cassandra.session import CassandraSession
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
    from_epoch_ms,
)

__all__ = [
    "DELETE_ROW",
    "GET_HISTORY_TASKS",
    "GET_RUN",
    "RANGE_DELETE_HISTORY_TASKS",
    "CassandraExecutionStore",
]

_RUN_COLUMNS = (
    "namespace_id, workflow_id, run_id, execution_info, execution_info_encoding, "
    "execution_state, execution_state_encoding, next_event_id, db_record_version, checksum, "
    "checksum_encoding, activity_map, timer_map, child_execution_map, request_cancel_map, "
    "signal_map, signal_requested, buffered_events"
)

GET_RUN = f"SELECT {_RUN_COLUMNS} FROM executions WHERE {ROW_KEY_WHERE}"
LIST_RUNS = f"SELECT {_RUN_COLUMNS} FROM executions WHERE shard_id = ? AND type = ?"
GET_CURRENT = (
    "SELECT current_run_id, create_request_id, workflow_state, workflow_status, "
    "last_write_version, start_time_ms, current_request_ids, first_execution_run_id "
    f"FROM executions WHERE {ROW_KEY_WHERE}"
)
DELETE_ROW = f"DELETE FROM executions WHERE {ROW_KEY_WHERE}"
DELETE_CURRENT_IF_RUN = f"DELETE FROM executions WHERE {ROW_KEY_WHERE} IF current_run_id = ?"

# History tasks of one category: the sentinel ids are fixed, so (fire_time_ms, task_id) is the
# clustering suffix and a key range is one multi-column slice of the shard's partition.
_TASK_RANGE = (
    "shard_id = ? AND type = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ? "
    "AND (fire_time_ms, task_id) >= (?, ?) AND (fire_time_ms, task_id) < (?, ?)"
)
GET_HISTORY_TASKS = (
    f"SELECT fire_time_ms, task_id, task_data, task_encoding FROM executions WHERE {_TASK_RANGE}"
)
HISTORY_TASK_CATEGORIES = (
    "SELECT type FROM executions WHERE shard_id = ? AND type >= ? GROUP BY shard_id, type"
)
RANGE_DELETE_HISTORY_TASKS = f"DELETE FROM executions WHERE {_TASK_RANGE}"


class CassandraExecutionStore(CassandraReplicationDLQ):
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def _commit(self, batch: ExecutionBatch) -> None:
        statements = batch.finish()
        result = await self._session.write_batch(statements)
        if not result.applied:
            raise conflict_error(result.rows, batch.expectations)

    # ------------------------------------------------------------------ writes

    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None:
        await self._commit(create_batch(request))

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None:
        await self._commit(update_batch(request))

    async def conflict_resolve_workflow_execution(
        self, request: ConflictResolveWorkflowExecutionRequest
    ) -> None:
        await self._commit(conflict_resolve_batch(request))

    async def set_workflow_execution(self, request: SetWorkflowExecutionRequest) -> None:
        await self._commit(set_batch(request))

    async def add_history_tasks(
        self,
        shard_id: int,
        range_id: int,
        namespace_id: str,
        workflow_id: str,
        tasks: list[HistoryTask],
    ) -> None:
        await self._commit(add_history_tasks_batch(shard_id, range_id, tasks))

    async def delete_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        await self._session.write(DELETE_ROW, run_row_key(shard_id, key))

    async def delete_current_workflow_execution(self, shard_id: int, key: ExecutionKey) -> None:
        # Conditional so that a pointer already moved to a newer run survives; not applying
        # is the expected outcome then, not an error.
        await self._session.write(
            DELETE_CURRENT_IF_RUN,
            (*current_row_key(shard_id, key.namespace_id, key.workflow_id), key.run_id),
        )

    # ------------------------------------------------------------------ reads

    async def get_workflow_execution(
        self, shard_id: int, key: ExecutionKey
    ) -> WorkflowMutableState:
        row = (await self._session.read(GET_RUN, run_row_key(shard_id, key))).first()
        if row is None or row["db_record_version"] is None:
            raise errors.NotFound(
                f"shard {shard_id}: workflow {key.workflow_id!r} run {key.run_id} not found"
            )
        return mutable_state_from_row(row)

    async def get_current_execution(
        self, shard_id: int, namespace_id: str, workflow_id: str
    ) -> CurrentExecution:
        result = await self._session.read(
            GET_CURRENT, current_row_key(shard_id, namespace_id, workflow_id)
        )
        row = result.first()
        if row is None or row["current_run_id"] is None:
            raise errors.NotFound(f"shard {shard_id}: workflow {workflow_id!r} has no current run")
        return current_from_row(row)

    async def list_concrete_executions(
        self, shard_id: int, page_size: int, next_page_token: bytes = b""
    ) -> Page[WorkflowMutableState]:
        result = await self._session.read(
            LIST_RUNS, (shard_id, ROW_RUN), page_size=page_size, paging_state=next_page_token
        )
        items = [
            mutable_state_from_row(row)
            for row in result.rows
            if row["db_record_version"] is not None
        ]
        return Page(items, result.next_page_token)

    # ------------------------------------------------------------------ history tasks

    def _task_range(
        self, shard_id: int, category: TaskCategory, inclusive_min: TaskKey, exclusive_max: TaskKey
    ) -> tuple[object, ...]:
        return (
            shard_id,
            history_task_row_type(category),
            NO_ID,
            NO_ID,
            NO_ID,
            task_fire_time_ms(category, inclusive_min),
            inclusive_min.task_id,
            task_fire_time_ms(category, exclusive_max),
            exclusive_max.task_id,
        )

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Page[HistoryTask]:
        params = self._task_range(
            request.shard_id, request.category, request.inclusive_min, request.exclusive_max
        )
        result = await self._session.read(
            GET_HISTORY_TASKS,
            params,
            page_size=request.page_size,
            paging_state=request.next_page_token,
        )
        tasks = [
            HistoryTask(
                request.category,
                TaskKey(from_epoch_ms(row["fire_time_ms"]), row["task_id"]),
                DataBlob(row["task_data"] or b"", row["task_encoding"] or ""),
            )
            for row in result.rows
        ]
        return Page(tasks, result.next_page_token)

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        task = HistoryTask(category, key, DataBlob(b""))
        await self._session.write(DELETE_ROW, history_task_row_key(shard_id, task))

    async def list_history_task_category_ids(self, shard_id: int) -> list[int]:
        # One row per (shard, row type) group: the partition's task rows are not all read out.
        result = await self._session.read(
            HISTORY_TASK_CATEGORIES, (shard_id, HISTORY_TASK_ROW_BASE + 1)
        )
        return [row["type"] - HISTORY_TASK_ROW_BASE for row in result.rows]

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        await self._session.write(
            RANGE_DELETE_HISTORY_TASKS,
            self._task_range(shard_id, category, inclusive_min, exclusive_max),
        )
