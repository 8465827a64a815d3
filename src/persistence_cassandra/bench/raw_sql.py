"""The SQL backends' statements, as plans a raw driver runs: shared by the SQLite and
PostgreSQL baselines.

The text is the SQL layer's own: every statement comes from
:func:`~persistence_cassandra.backends.sql.statements.sql_statements`, which the stores use
too, and the bound values from the same builders (``current_values``, ``execution_values``,
``history_task_rows``). Only the first-page history read is spelled here (the store builds its
paging variants inline); ``tests/bench/test_statement_parity.py`` traces both sides on SQLite
and fails if they ever differ.

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
from persistence_cassandra.backends.sql.execution_tasks import history_task_rows
from persistence_cassandra.backends.sql.execution_writes import (
    current_values,
    execution_values,
    run_params,
)
from persistence_cassandra.backends.sql.queue_store import (
    GET_QUEUE,
    READ_MESSAGES,
    READ_NO_UPPER_BOUND,
    enqueue_statements,
)
from persistence_cassandra.backends.sql.statements import (
    ACTIVITIES,
    CANCELS,
    CHILDREN,
    MUTABLE_STATE_PARTS,
    MUTABLE_STATE_QUERY,
    SIGNALS,
    TIMERS,
    CollectionTable,
    sql_statements,
)
from persistence_cassandra.backends.sql.task_queue_user_data import (
    GET_USER_DATA,
    UPDATE_USER_DATA,
    USER_DATA_COLUMNS,
)
from persistence_cassandra.bench.baseline import RawFailure
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    HistoryTask,
    QueueKey,
    ReadQueueMessagesRequest,
    TaskCategory,
    TaskCategoryType,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    to_epoch_ms,
)

__all__ = ["Execute", "Lookups", "Plan", "RawSql", "Row", "Writes"]

Row = tuple[Any, ...]


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


def _unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(f"the raw SQL baseline does not send {what}")


class RawSql:
    """Every statement of the bench's operations, in one dialect's driver-ready text."""

    def __init__(self, dialect: SqlDialect) -> None:
        sql = dialect.sql
        statements = sql_statements(dialect)
        self.fence = sql(statements.fence)
        self.lock_shard = sql(statements.lock_shard)
        self.update_shard = sql(statements.update_shard)
        self.lock_current = sql(statements.lock_current)
        self.insert_current = sql(statements.insert_current)
        self.update_current = sql(statements.update_current)
        self.lock_execution = sql(statements.lock_execution)
        self.insert_execution = sql(statements.insert_execution)
        self.update_execution = sql(statements.update_execution)
        self.upsert_entry = {t: sql(text) for t, text in statements.upsert_entry.items()}
        self.delete_entry = {t: sql(text) for t, text in statements.delete_entry.items()}
        self.upsert_signal_requested = sql(statements.upsert_signal_requested)
        self.delete_signal_requested = sql(statements.delete_signal_requested)
        self.mutable_state = sql(MUTABLE_STATE_QUERY)
        self.mutable_state_parts = MUTABLE_STATE_PARTS
        self.upsert_immediate = sql(statements.upsert_immediate)
        self.upsert_scheduled = sql(statements.upsert_scheduled)
        self.get_immediate = sql(statements.get_immediate)
        self.get_scheduled = sql(statements.get_scheduled)
        self.complete_immediate = sql(statements.complete_immediate)
        self.complete_scheduled = sql(statements.complete_scheduled)
        self.range_complete_immediate = sql(statements.range_complete_immediate)
        self.range_complete_scheduled = sql(statements.range_complete_scheduled)
        self.upsert_node = sql(statements.upsert_node)
        self.upsert_tree = sql(statements.upsert_tree)
        # The first forward page of a branch with payloads: the store's read without a
        # paging position.
        self.read_nodes = sql(
            "SELECT node_id, txn_id, prev_txn_id, data, data_encoding FROM history_node "
            "WHERE shard_id = ? AND tree_id = ? AND branch_id = ? "
            "AND node_id >= ? AND node_id < ? ORDER BY node_id, txn_id LIMIT ?"
        )
        self.lock_queue_shared = sql(statements.lock_queue_shared)
        self.upsert_task = sql(statements.upsert_task)
        self.get_tasks = sql(statements.get_tasks)
        self.complete_tasks = sql(statements.complete_tasks)
        self.get_namespace = sql(statements.get_namespace_by_name)
        lock_queue, bump_queue, insert_message = enqueue_statements(dialect.lock_exclusive)
        self.lock_queue_row = sql(lock_queue)
        self.bump_queue = sql(bump_queue)
        self.insert_message = sql(insert_message)
        self.get_queue = sql(GET_QUEUE)
        self.read_messages = sql(READ_MESSAGES)
        self.insert_user_data = sql(
            dialect.insert_if_absent("task_queue_user_data", USER_DATA_COLUMNS)
        )
        self.update_user_data = sql(UPDATE_USER_DATA)
        self.get_user_data = sql(GET_USER_DATA)

    # ------------------------------------------------------------------ write plans

    def _fence(self, shard_id: int, range_id: int) -> tuple[tuple[str, Sequence[Any]], Any]:
        def check(row: Row | None) -> None:
            if row is None or row[0] != range_id:
                raise RawFailure(f"shard {shard_id}: range id is not {range_id}")

        return (self.fence, (shard_id,)), check

    def task_writes(self, shard_id: int, tasks: Iterable[HistoryTask]) -> list[Any]:
        immediate, scheduled = history_task_rows(shard_id, tasks)
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

        params = run_params(shard_id, key)
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
                    *current_values(snapshot.current_record()),
                ),
                inserted,
            ),
            Execute(self.insert_execution, (*params, *execution_values(snapshot)), inserted),
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
        params = run_params(shard_id, key)
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
        writes: list[Any] = [(self.update_execution, [(*execution_values(mutation), *params)])]
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
                        *current_values(mutation.current_record()),
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
        return run_params(shard_id, key)


def _enqueue_plan(sql: RawSql, key: QueueKey, payload: DataBlob, assigned: list[int]) -> Plan:
    """The queue row locked, then the id bump and the message insert, as the SQL layer sends
    them; the id taken lands in ``assigned``."""
    bump: list[Sequence[Any]] = []
    insert: list[Sequence[Any]] = []

    def check(rows: list[Row | None]) -> None:
        row = rows[0]
        if row is None:
            raise RawFailure(f"queue {key} not found")
        message_id = int(row[0])
        assigned.append(message_id)
        bump.append((message_id + 1, key.queue_type, key.queue_name))
        insert.append((key.queue_type, key.queue_name, message_id, payload.data, payload.encoding))

    return [
        Lookups([(sql.lock_queue_row, (key.queue_type, key.queue_name))], check),
        Writes([(sql.bump_queue, bump), (sql.insert_message, insert)]),
    ]


class RawSqlOperations:
    """The operations whose statements and checks are the same on every SQL baseline; each
    baseline supplies its own transport (``_read`` and ``_plan``)."""

    _sql: RawSql

    async def _read(self, statement: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    async def _plan(self, plan: Plan) -> None:
        raise NotImplementedError

    async def _read_each(self, reads: list[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Several reads on one connection, in one thread hop (as one store read sends them)."""
        raise NotImplementedError

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        assigned: list[int] = []
        await self._plan(_enqueue_plan(self._sql, key, payload, assigned))
        return assigned[0]

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Sequence[object]:
        if request.next_page_token:
            raise NotImplementedError("the raw baseline reads first pages only")
        sql, key = self._sql, request.key
        end = request.exclusive_max_message_id
        queue, messages = await self._read_each(
            [
                (sql.get_queue, (key.queue_type, key.queue_name)),
                (
                    sql.read_messages,
                    (
                        key.queue_type,
                        key.queue_name,
                        request.inclusive_min_message_id,
                        READ_NO_UPPER_BOUND if end is None else end,
                        request.page_size + 1,
                    ),
                ),
            ]
        )
        if not queue:
            raise RawFailure(f"queue {key} not found")
        return messages

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

    # ------------------------------------------------------------------ task-queue user data

    async def update_task_queue_user_data(self, request: UpdateTaskQueueUserDataRequest) -> None:
        """One queue, no build ids: the store's transaction is then this one counted write."""
        if len(request.updates) != 1 or request.updates[0].build_ids_added:
            raise NotImplementedError("the raw baseline updates one queue without build ids")
        (update,) = request.updates
        sql, data = self._sql, update.data
        ns, queue = request.namespace_id, update.task_queue

        def check(count: int) -> None:
            if count != 1:
                raise RawFailure(f"user data of {queue}: version {update.version} moved")

        if update.version == 0:
            step = Execute(sql.insert_user_data, (ns, queue, data.data, data.encoding, 1), check)
        else:
            params = (data.data, data.encoding, update.version + 1, ns, queue, update.version)
            step = Execute(sql.update_user_data, params, check)
        await self._plan([step])

    async def get_task_queue_user_data(self, namespace_id: str, task_queue: str) -> object:
        rows = await self._read(self._sql.get_user_data, (namespace_id, task_queue))
        if not rows:
            raise RawFailure(f"no user data for {task_queue}")
        return rows[0]
