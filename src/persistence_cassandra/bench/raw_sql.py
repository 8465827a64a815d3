"""The SQL backends' statements, as plans a raw driver runs: shared by the SQLite and
PostgreSQL baselines.

The text is the SQL layer's (``backends/sql``), built with the same dialect helpers
(``upsert``, ``insert_if_absent``, row-lock suffixes, placeholder style) from the same column
lists where the SQL layer exports them. Where it builds a statement inline or keeps it private
(the shard fence, the mutable-state read, history and task reads), the text is repeated here;
``tests/bench/test_statement_parity.py`` traces both on SQLite and fails if they ever differ.

A write is a *plan*: the steps of one transaction in the order the SQL layer runs them —
locking reads checked together (:class:`Lookups`), a statement whose row count matters
(:class:`Execute`), and writes whose result is not needed (:class:`Writes`). The SQLite
baseline runs a plan statement by statement; the PostgreSQL baseline sends each step in one
pipeline, deferring writes to the next step, exactly as the SQL layer's pipelined transaction
does, so both sides make the same round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.execution_writes import (
    ACTIVITIES,
    CANCELS,
    CHILDREN,
    COLLECTIONS,
    CURRENT_COLUMNS,
    RUN_KEY,
    SIGNALS,
    TIMERS,
    CollectionTable,
)
from persistence_cassandra.bench.baseline import RawFailure
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    HistoryTask,
    TaskCategory,
    TaskCategoryType,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    to_epoch_ms,
)

__all__ = ["Execute", "Lookups", "Plan", "RawSql", "Row", "Writes"]

Row = tuple[Any, ...]

RUN_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?"
WORKFLOW_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ?"
EXECUTION_VALUES = (
    "next_event_id",
    "db_record_version",
    "data",
    "data_encoding",
    "state",
    "state_encoding",
    "checksum",
    "checksum_encoding",
)
IMMEDIATE_RANGE = "shard_id = ? AND category_id = ? AND task_id >= ? AND task_id < ?"
SCHEDULED_RANGE = (
    "shard_id = ? AND category_id = ? "
    "AND (visibility_timestamp, task_id) >= (?, ?) AND (visibility_timestamp, task_id) < (?, ?)"
)
QUEUE_WHERE = "namespace_id = ? AND name = ? AND task_type = ?"
TASKS_WHERE = "namespace_id = ? AND task_queue_name = ? AND task_type = ?"
SIGNALS_REQUESTED_KIND = 6
BUFFERED_EVENTS_KIND = 7


@dataclass(frozen=True, slots=True)
class Lookups:
    """Locking reads sent together; ``check`` gets the first row of each (or ``None``)."""

    statements: list[tuple[str, Sequence[Any]]]
    check: Callable[[list[Row | None]], None]


@dataclass(frozen=True, slots=True)
class Execute:
    """One statement whose row count is checked before going on."""

    statement: str
    params: Sequence[Any]
    check: Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Writes:
    """Statements whose results are not needed, each with its rows (``executemany``)."""

    statements: list[tuple[str, list[Sequence[Any]]]]


Plan = list[Lookups | Execute | Writes]


def _mutable_state_query() -> str:
    """One read of a run and all its collections (the SQL layer's, repeated)."""
    parts = [
        "SELECT 0, NULL, NULL, data, data_encoding, next_event_id, db_record_version, "
        "state, state_encoding, checksum, checksum_encoding "
        f"FROM executions WHERE {RUN_WHERE}"
    ]
    for c in COLLECTIONS:
        int_key, text_key = (c.key_column, "NULL") if c.int_key else ("NULL", c.key_column)
        parts.append(
            f"SELECT {c.kind}, {int_key}, {text_key}, data, data_encoding, "
            "NULL, NULL, NULL, NULL, NULL, NULL "
            f"FROM {c.table} WHERE {RUN_WHERE}"
        )
    parts.append(
        f"SELECT {SIGNALS_REQUESTED_KIND}, NULL, signal_id, NULL, NULL, "
        "NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM signals_requested_sets WHERE {RUN_WHERE}"
    )
    parts.append(
        f"SELECT {BUFFERED_EVENTS_KIND}, id, NULL, data, data_encoding, "
        "NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM buffered_events WHERE {RUN_WHERE}"
    )
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


def _run_params(shard_id: int, key: ExecutionKey) -> tuple[Any, ...]:
    return (shard_id, key.namespace_id, key.workflow_id, key.run_id)


def _current_values(record: CurrentExecution) -> tuple[Any, ...]:
    start = None if record.start_time is None else to_epoch_ms(record.start_time)
    return (
        record.run_id,
        record.create_request_id,
        int(record.state),
        record.status,
        record.last_write_version,
        start,
    )


def _execution_values(state: WorkflowSnapshot | WorkflowMutation) -> tuple[Any, ...]:
    checksum = state.checksum
    return (
        state.next_event_id,
        state.db_record_version,
        state.execution_info.data,
        state.execution_info.encoding,
        state.execution_state.data,
        state.execution_state.encoding,
        None if checksum is None else checksum.data,
        None if checksum is None else checksum.encoding,
    )


def _unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(f"the raw SQL baseline does not send {what}")


class RawSql:
    """Every statement of the bench's operations, in one dialect's driver-ready text."""

    def __init__(self, dialect: SqlDialect) -> None:
        sql = dialect.sql
        shared, exclusive = dialect.lock_shared, dialect.lock_exclusive
        self.fence = sql(f"SELECT range_id FROM shards WHERE shard_id = ?{shared}")
        self.lock_shard = sql(f"SELECT range_id FROM shards WHERE shard_id = ?{exclusive}")
        self.update_shard = sql(
            "UPDATE shards SET range_id = ?, data = ?, data_encoding = ? WHERE shard_id = ?"
        )
        self.lock_current = sql(
            f"SELECT {', '.join(CURRENT_COLUMNS)} FROM current_executions "
            f"WHERE {WORKFLOW_WHERE}{exclusive}"
        )
        self.insert_current = sql(
            dialect.insert_if_absent(
                "current_executions",
                ("shard_id", "namespace_id", "workflow_id", *CURRENT_COLUMNS),
            )
        )
        self.update_current = sql(
            "UPDATE current_executions SET "
            + ", ".join(f"{c} = ?" for c in CURRENT_COLUMNS)
            + f" WHERE {WORKFLOW_WHERE}"
        )
        self.lock_execution = sql(
            f"SELECT db_record_version, next_event_id FROM executions WHERE {RUN_WHERE}{exclusive}"
        )
        self.insert_execution = sql(
            dialect.insert_if_absent("executions", (*RUN_KEY, *EXECUTION_VALUES))
        )
        self.update_execution = sql(
            "UPDATE executions SET "
            + ", ".join(f"{c} = ?" for c in EXECUTION_VALUES)
            + f" WHERE {RUN_WHERE}"
        )
        self.upsert_entry = {
            c.table: sql(
                dialect.upsert(c.table, (*RUN_KEY, c.key_column), ("data", "data_encoding"))
            )
            for c in COLLECTIONS
        }
        self.delete_entry = {
            c.table: sql(f"DELETE FROM {c.table} WHERE {RUN_WHERE} AND {c.key_column} = ?")
            for c in COLLECTIONS
        }
        self.upsert_signal_requested = sql(
            dialect.upsert("signals_requested_sets", (*RUN_KEY, "signal_id"), ())
        )
        self.delete_signal_requested = sql(
            f"DELETE FROM signals_requested_sets WHERE {RUN_WHERE} AND signal_id = ?"
        )
        self.mutable_state = sql(_mutable_state_query())
        self.mutable_state_parts = 3 + len(COLLECTIONS)
        self.upsert_immediate = sql(
            dialect.upsert(
                "history_immediate_tasks",
                ("shard_id", "category_id", "task_id"),
                ("data", "data_encoding"),
            )
        )
        self.upsert_scheduled = sql(
            dialect.upsert(
                "history_scheduled_tasks",
                ("shard_id", "category_id", "visibility_timestamp", "task_id"),
                ("data", "data_encoding"),
            )
        )
        self.get_immediate = sql(
            "SELECT task_id, data, data_encoding "
            f"FROM history_immediate_tasks WHERE {IMMEDIATE_RANGE} ORDER BY task_id LIMIT ?"
        )
        self.get_scheduled = sql(
            "SELECT visibility_timestamp, task_id, data, data_encoding "
            f"FROM history_scheduled_tasks WHERE {SCHEDULED_RANGE} "
            "ORDER BY visibility_timestamp, task_id LIMIT ?"
        )
        self.complete_immediate = sql(
            "DELETE FROM history_immediate_tasks "
            "WHERE shard_id = ? AND category_id = ? AND task_id = ?"
        )
        self.complete_scheduled = sql(
            "DELETE FROM history_scheduled_tasks WHERE shard_id = ? AND category_id = ? "
            "AND visibility_timestamp = ? AND task_id = ?"
        )
        self.range_complete_immediate = sql(
            f"DELETE FROM history_immediate_tasks WHERE {IMMEDIATE_RANGE}"
        )
        self.range_complete_scheduled = sql(
            f"DELETE FROM history_scheduled_tasks WHERE {SCHEDULED_RANGE}"
        )
        self.upsert_node = sql(
            dialect.upsert(
                "history_node",
                ("shard_id", "tree_id", "branch_id", "node_id", "txn_id"),
                ("prev_txn_id", "data", "data_encoding"),
            )
        )
        self.upsert_tree = sql(
            dialect.upsert(
                "history_tree", ("shard_id", "tree_id", "branch_id"), ("data", "data_encoding")
            )
        )
        self.read_nodes = sql(
            "SELECT node_id, txn_id, prev_txn_id, data, data_encoding FROM history_node "
            "WHERE shard_id = ? AND tree_id = ? AND branch_id = ? "
            "AND node_id >= ? AND node_id < ? ORDER BY node_id, txn_id LIMIT ?"
        )
        self.lock_queue_shared = sql(
            f"SELECT range_id FROM task_queues WHERE {QUEUE_WHERE}{shared}"
        )
        self.upsert_task = sql(
            dialect.upsert(
                "tasks",
                ("namespace_id", "task_queue_name", "task_type", "task_id"),
                ("expiry_time", "data", "data_encoding"),
            )
        )
        self.get_tasks = sql(
            "SELECT task_id, expiry_time, data, data_encoding FROM tasks "
            f"WHERE {TASKS_WHERE} AND task_id >= ? AND task_id < ? "
            "AND (expiry_time IS NULL OR expiry_time > ?) ORDER BY task_id LIMIT ?"
        )
        self.complete_tasks = sql(f"DELETE FROM tasks WHERE {TASKS_WHERE} AND task_id < ?")
        self.get_namespace = sql(
            "SELECT id, name, data, data_encoding, is_global, notification_version "
            "FROM namespaces WHERE name = ?"
        )

    # ------------------------------------------------------------------ write plans

    def _fence(self, shard_id: int, range_id: int) -> tuple[tuple[str, Sequence[Any]], Any]:
        def check(row: Row | None) -> None:
            if row is None or row[0] != range_id:
                raise RawFailure(f"shard {shard_id}: range id is not {range_id}")

        return (self.fence, (shard_id,)), check

    def task_writes(self, shard_id: int, tasks: Iterable[HistoryTask]) -> list[Any]:
        immediate: list[Sequence[Any]] = []
        scheduled: list[Sequence[Any]] = []
        for task in tasks:
            if task.category.category_type is TaskCategoryType.SCHEDULED:
                scheduled.append(
                    (
                        shard_id,
                        int(task.category),
                        to_epoch_ms(task.key.fire_time),
                        task.key.task_id,
                        task.blob.data,
                        task.blob.encoding,
                    )
                )
            else:
                immediate.append(
                    (
                        shard_id,
                        int(task.category),
                        task.key.task_id,
                        task.blob.data,
                        task.blob.encoding,
                    )
                )
        return [(self.upsert_immediate, immediate), (self.upsert_scheduled, scheduled)]

    def _snapshot_collections(
        self, params: tuple[Any, ...], snapshot: WorkflowSnapshot
    ) -> list[Any]:
        entries: tuple[tuple[CollectionTable, Mapping[Any, DataBlob]], ...] = (
            (ACTIVITIES, snapshot.activity_infos),
            (TIMERS, snapshot.timer_infos),
            (CHILDREN, snapshot.child_execution_infos),
            (CANCELS, snapshot.request_cancel_infos),
            (SIGNALS, snapshot.signal_infos),
        )
        writes: list[Any] = [
            (
                self.upsert_entry[c.table],
                [(*params, k, blob.data, blob.encoding) for k, blob in values.items()],
            )
            for c, values in entries
        ]
        writes.append(
            (self.upsert_signal_requested, [(*params, s) for s in snapshot.signal_requested_ids])
        )
        return writes

    def create_plan(self, shard_id: int, range_id: int, snapshot: WorkflowSnapshot) -> Plan:
        """A brand-new run: fence, no current pointer, insert pointer and run."""
        key = snapshot.key
        fence, fence_check = self._fence(shard_id, range_id)

        def check(rows: list[Row | None]) -> None:
            fence_check(rows[0])
            if rows[1] is not None:
                raise RawFailure(f"workflow {key.workflow_id} already has a current run")

        def inserted(count: int) -> None:
            if not count:
                raise RawFailure(f"workflow {key.workflow_id}: insert skipped")

        params = _run_params(shard_id, key)
        return [
            Lookups(
                [fence, (self.lock_current, (shard_id, key.namespace_id, key.workflow_id))],
                check,
            ),
            Execute(
                self.insert_current,
                (
                    shard_id,
                    key.namespace_id,
                    key.workflow_id,
                    *_current_values(snapshot.current_record()),
                ),
                inserted,
            ),
            Execute(self.insert_execution, (*params, *_execution_values(snapshot)), inserted),
            Writes(
                [
                    *self._snapshot_collections(params, snapshot),
                    *self.task_writes(shard_id, snapshot.tasks),
                ]
            ),
        ]

    def update_plan(self, shard_id: int, range_id: int, mutation: WorkflowMutation) -> Plan:
        """``UPDATE_CURRENT`` without a new run: fence, pointer, version, then the writes."""
        if mutation.new_buffered_events is not None or mutation.clear_buffered_events:
            raise _unsupported("buffered events")
        key = mutation.key
        fence, fence_check = self._fence(shard_id, range_id)
        params = _run_params(shard_id, key)
        expected = mutation.db_record_version - 1

        def check(rows: list[Row | None]) -> None:
            fence_check(rows[0])
            if rows[1] is None or rows[1][0] != key.run_id:
                raise RawFailure(f"workflow {key.workflow_id}: {key.run_id} is not current")
            if rows[2] is None or rows[2][0] != expected:
                raise RawFailure(f"run {key.run_id}: version is not {expected}")

        changes: tuple[tuple[CollectionTable, Mapping[Any, DataBlob], Iterable[Any]], ...] = (
            (ACTIVITIES, mutation.upsert_activity_infos, mutation.delete_activity_infos),
            (TIMERS, mutation.upsert_timer_infos, mutation.delete_timer_infos),
            (
                CHILDREN,
                mutation.upsert_child_execution_infos,
                mutation.delete_child_execution_infos,
            ),
            (CANCELS, mutation.upsert_request_cancel_infos, mutation.delete_request_cancel_infos),
            (SIGNALS, mutation.upsert_signal_infos, mutation.delete_signal_infos),
        )
        writes: list[Any] = [(self.update_execution, [(*_execution_values(mutation), *params)])]
        for c, upserts, deletes in changes:
            writes.append((self.delete_entry[c.table], [(*params, k) for k in deletes]))
            writes.append(
                (
                    self.upsert_entry[c.table],
                    [(*params, k, blob.data, blob.encoding) for k, blob in upserts.items()],
                )
            )
        writes.append(
            (
                self.delete_signal_requested,
                [(*params, s) for s in mutation.delete_signal_requested_ids],
            )
        )
        writes.append(
            (
                self.upsert_signal_requested,
                [(*params, s) for s in mutation.upsert_signal_requested_ids],
            )
        )
        writes.extend(self.task_writes(shard_id, mutation.tasks))
        writes.append(
            (
                self.update_current,
                [
                    (
                        *_current_values(mutation.current_record()),
                        shard_id,
                        key.namespace_id,
                        key.workflow_id,
                    )
                ],
            )
        )
        return [
            Lookups(
                [
                    fence,
                    (self.lock_current, (shard_id, key.namespace_id, key.workflow_id)),
                    (self.lock_execution, params),
                ],
                check,
            ),
            Writes(writes),
        ]

    def shard_plan(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> Plan:
        def check(rows: list[Row | None]) -> None:
            if rows[0] is None or rows[0][0] != previous_range_id:
                raise RawFailure(f"shard {shard_id}: range id is not {previous_range_id}")

        return [
            Lookups([(self.lock_shard, (shard_id,))], check),
            Writes([(self.update_shard, [(range_id, info.data, info.encoding, shard_id)])]),
        ]

    def create_tasks_plan(
        self, key: tuple[str, str, int], range_id: int, rows: list[Sequence[Any]]
    ) -> Plan:
        def check(found: list[Row | None]) -> None:
            if found[0] is None or found[0][0] != range_id:
                raise RawFailure(f"task queue {key[1]}: lease {range_id} lost")

        return [Lookups([(self.lock_queue_shared, key)], check), Writes([(self.upsert_task, rows)])]

    def history_task_category(self, category: TaskCategory) -> bool:
        """Whether ``category`` is scheduled (fire time first in its key)."""
        return category.category_type is TaskCategoryType.SCHEDULED

    def run_params(self, shard_id: int, key: ExecutionKey) -> tuple[Any, ...]:
        return _run_params(shard_id, key)


class RawSqlOperations:
    """The operations whose statements and checks are the same on every SQL baseline; each
    baseline supplies its own transport (``_read`` and ``_plan``)."""

    _sql: RawSql

    async def _read(self, statement: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    async def _plan(self, plan: Plan) -> None:
        raise NotImplementedError

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None:
        await self._plan(self._sql.shard_plan(shard_id, range_id, info, previous_range_id))

    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None:
        if request.mode is not CreateWorkflowMode.BRAND_NEW:
            raise NotImplementedError("the raw baseline only creates brand-new runs")
        await self._plan(
            self._sql.create_plan(request.shard_id, request.range_id, request.new_snapshot)
        )

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None:
        if request.mode is not UpdateWorkflowMode.UPDATE_CURRENT or request.new_snapshot:
            raise NotImplementedError("the raw baseline only updates the current run")
        await self._plan(
            self._sql.update_plan(request.shard_id, request.range_id, request.mutation)
        )

    async def get_workflow_execution(self, shard_id: int, key: ExecutionKey) -> object:
        sql = self._sql
        rows = await self._read(
            sql.mutable_state, sql.run_params(shard_id, key) * sql.mutable_state_parts
        )
        if not rows:
            raise RawFailure(f"run {key.run_id} not found")
        return rows

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Sequence[object]:
        if request.next_page_token:
            raise NotImplementedError("the raw baseline reads first pages only")
        sql, category = self._sql, int(request.category)
        low, high = request.inclusive_min, request.exclusive_max
        if sql.history_task_category(request.category):
            return await self._read(
                sql.get_scheduled,
                (
                    request.shard_id,
                    category,
                    to_epoch_ms(low.fire_time),
                    low.task_id,
                    to_epoch_ms(high.fire_time),
                    high.task_id,
                    request.page_size + 1,
                ),
            )
        return await self._read(
            sql.get_immediate,
            (request.shard_id, category, low.task_id, high.task_id, request.page_size + 1),
        )
