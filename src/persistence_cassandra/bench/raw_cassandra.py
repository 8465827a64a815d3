"""The Cassandra baseline: the backend's CQL through cassandra-driver, nothing else.

The statement text is imported from the backend's modules, and so are its row-key layout
helpers (which decide the values bound to the sentinel clustering columns). The cluster comes
from the backend's own ``build_cluster`` (same contact points, protocol, load balancing, retry
policies and ``LOCAL_QUORUM`` / ``LOCAL_SERIAL`` consistency), and every write has the same
shape: one logged batch of the same statements, ending with the range-id fence. What the
baseline does not do is what the backend adds: rows as dicts (here tuples, the driver's
cheapest), statement preparation behind a coroutine, result wrapping, conflict
classification, the error translation boundary and the middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from cassandra import ProtocolVersion
from cassandra.cluster import ExecutionProfile, ResponseFuture, Session
from cassandra.query import BatchStatement, BatchType, PreparedStatement, Statement, tuple_factory

from persistence_cassandra.backends.cassandra.execution_batch import (
    DELETE_RUN_ELEMENTS,
    ECHO_VALUES,
    FENCE,
    INSERT_CURRENT,
    INSERT_HISTORY_TASK,
    INSERT_RUN,
    MOVE_CURRENT,
    MUTATE_RUN,
    current_values,
    run_scalars,
)
from persistence_cassandra.backends.cassandra.execution_rows import (
    NO_ID,
    blob_map,
    blob_or_unset,
    current_row_key,
    history_task_row_key,
    history_task_row_type,
    run_row_key,
    shard_row_key,
    task_fire_time_ms,
)
from persistence_cassandra.backends.cassandra.execution_store import (
    DELETE_ROW,
    GET_HISTORY_TASKS,
    GET_RUN,
    RANGE_DELETE_HISTORY_TASKS,
)
from persistence_cassandra.backends.cassandra.history_store import (
    INSERT_NODE,
    INSERT_TREE,
    READ_NODES,
)
from persistence_cassandra.backends.cassandra.metadata_store import (
    GET_NAMESPACE,
    PARTITION,
    ROW_NAMESPACE,
)
from persistence_cassandra.backends.cassandra.queue_store import (
    ENQUEUE_ASSIGN_ID,
    ENQUEUE_INSERT,
    GET_QUEUE,
    READ_MESSAGES,
)
from persistence_cassandra.backends.cassandra.session import (
    READ_PROFILE,
    WRITE_PROFILE,
    build_cluster,
)
from persistence_cassandra.backends.cassandra.shard_store import UPDATE_SHARD
from persistence_cassandra.backends.cassandra.task_queue_user_data import (
    GET_USER_DATA,
    INSERT_USER_DATA,
    UPDATE_USER_DATA,
    USER_DATA_BUILD_ID,
)
from persistence_cassandra.backends.cassandra.task_store import (
    COMPLETE_TASKS,
    GET_TASKS,
    INSERT_TASK,
    QUEUE_ROW_TASK_ID,
    ROW_QUEUE,
    ROW_TASK,
    TOUCH_QUEUE,
    ttl_seconds,
)
from persistence_cassandra.bench.baseline import RawFailure
from persistence_cassandra.config import CassandraConfig, DatastoreConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetTasksRequest,
    HistoryTask,
    QueueKey,
    ReadHistoryBranchRequest,
    ReadQueueMessagesRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    UpdateTaskQueueUserDataRequest,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    to_epoch_ms,
)

__all__ = ["RawCassandraBaseline", "open_baseline"]

_STATEMENTS = (
    ENQUEUE_ASSIGN_ID,
    ENQUEUE_INSERT,
    GET_QUEUE,
    READ_MESSAGES,
    DELETE_RUN_ELEMENTS,
    FENCE,
    INSERT_CURRENT,
    INSERT_HISTORY_TASK,
    INSERT_RUN,
    MOVE_CURRENT,
    MUTATE_RUN,
    DELETE_ROW,
    GET_HISTORY_TASKS,
    GET_RUN,
    RANGE_DELETE_HISTORY_TASKS,
    INSERT_NODE,
    INSERT_TREE,
    READ_NODES,
    GET_NAMESPACE,
    UPDATE_SHARD,
    COMPLETE_TASKS,
    GET_TASKS,
    INSERT_TASK,
    TOUCH_QUEUE,
    INSERT_USER_DATA,
    UPDATE_USER_DATA,
    GET_USER_DATA,
)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class RawCassandraBaseline:
    def __init__(
        self,
        session: Session,
        prepared: dict[str, PreparedStatement],
        read_profile: ExecutionProfile,
        write_profile: ExecutionProfile,
        release_version: str,
    ) -> None:
        import cassandra

        self.driver = f"cassandra-driver {cassandra.__version__} / Cassandra {release_version}"
        self._session = session
        self._prepared = prepared
        self._read_profile = read_profile
        self._write_profile = write_profile
        self._next_ids: dict[QueueKey, int] = {}

    async def _execute(
        self, statement: Statement, profile: ExecutionProfile
    ) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()
        response: ResponseFuture = self._session.execute_async(statement, execution_profile=profile)

        def on_success(rows: list[tuple[Any, ...]]) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, True, rows)

        def on_error(error: BaseException) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, False, error)

        response.add_callbacks(on_success, on_error)
        return await future

    async def _read(
        self, cql: str, params: Sequence[object], page_size: int | None = None
    ) -> list[tuple[Any, ...]]:
        statement = self._prepared[cql].bind(params)
        statement.is_idempotent = True
        if page_size is not None:
            statement.fetch_size = page_size
        return await self._execute(statement, self._read_profile)

    async def _write(self, cql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return await self._execute(self._prepared[cql].bind(params), self._write_profile)

    async def _batch(self, statements: list[tuple[str, Sequence[object]]]) -> None:
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for cql, params in statements:
            batch.add(self._prepared[cql].bind(params))
        rows = await self._execute(batch, self._write_profile)
        if rows and not rows[0][0]:
            raise RawFailure("conditional batch not applied")

    def _tasks(
        self, shard_id: int, tasks: Sequence[HistoryTask]
    ) -> list[tuple[str, Sequence[object]]]:
        return [
            (
                INSERT_HISTORY_TASK,
                (*history_task_row_key(shard_id, task), task.blob.data, task.blob.encoding),
            )
            for task in tasks
        ]

    # ------------------------------------------------------------------ operations

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None:
        rows = await self._write(
            UPDATE_SHARD,
            (range_id, info.data, info.encoding, *shard_row_key(shard_id), previous_range_id),
        )
        if not rows[0][0]:
            raise RawFailure(f"shard {shard_id}: range id is not {previous_range_id}")

    async def create_workflow_execution(self, request: CreateWorkflowExecutionRequest) -> None:
        if request.mode is not CreateWorkflowMode.BRAND_NEW:
            raise NotImplementedError("the raw baseline only creates brand-new runs")
        snapshot, shard_id = request.new_snapshot, request.shard_id
        key = snapshot.key
        checksum_data, checksum_encoding = blob_or_unset(snapshot.checksum)
        await self._batch(
            [
                (
                    INSERT_CURRENT,
                    (
                        *current_row_key(shard_id, key.namespace_id, key.workflow_id),
                        *current_values(snapshot.current_record()),
                    ),
                ),
                (
                    INSERT_RUN,
                    (
                        *run_row_key(shard_id, key),
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
                    ),
                ),
                *self._tasks(shard_id, snapshot.tasks),
                (FENCE, (request.range_id, *shard_row_key(shard_id), request.range_id)),
            ]
        )

    async def update_workflow_execution(self, request: UpdateWorkflowExecutionRequest) -> None:
        if request.mode is not UpdateWorkflowMode.UPDATE_CURRENT or request.new_snapshot:
            raise NotImplementedError("the raw baseline only updates the current run")
        mutation, shard_id = request.mutation, request.shard_id
        key = mutation.key
        if mutation.new_buffered_events is not None or mutation.clear_buffered_events:
            raise NotImplementedError("the raw baseline sends no buffered events")
        row_key = run_row_key(shard_id, key)
        deletes: tuple[Any, ...] = (
            mutation.delete_activity_infos,
            mutation.delete_timer_infos,
            mutation.delete_child_execution_infos,
            mutation.delete_request_cancel_infos,
            mutation.delete_signal_infos,
            mutation.delete_signal_requested_ids,
        )
        deleted: list[tuple[str, Sequence[object]]] = []
        if any(deletes):
            deleted.append((DELETE_RUN_ELEMENTS, (*(set(d) for d in deletes), *row_key)))
        await self._batch(
            [
                (
                    MOVE_CURRENT,
                    (
                        *current_values(mutation.current_record()),
                        *current_row_key(shard_id, key.namespace_id, key.workflow_id),
                        key.run_id,
                        *ECHO_VALUES,
                    ),
                ),
                (
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
                        [],
                        *row_key,
                        mutation.db_record_version - 1,
                    ),
                ),
                *deleted,
                *self._tasks(shard_id, mutation.tasks),
                (FENCE, (request.range_id, *shard_row_key(shard_id), request.range_id)),
            ]
        )

    async def get_workflow_execution(self, shard_id: int, key: ExecutionKey) -> object:
        rows = await self._read(GET_RUN, run_row_key(shard_id, key))
        if not rows:
            raise RawFailure(f"run {key.run_id} not found")
        return rows[0]

    def _task_range(
        self, shard_id: int, category: TaskCategory, low: TaskKey, high: TaskKey
    ) -> tuple[object, ...]:
        return (
            shard_id,
            history_task_row_type(category),
            NO_ID,
            NO_ID,
            NO_ID,
            task_fire_time_ms(category, low),
            low.task_id,
            task_fire_time_ms(category, high),
            high.task_id,
        )

    async def get_history_tasks(self, request: GetHistoryTasksRequest) -> Sequence[object]:
        if request.next_page_token:
            raise NotImplementedError("the raw baseline reads first pages only")
        return await self._read(
            GET_HISTORY_TASKS,
            self._task_range(
                request.shard_id, request.category, request.inclusive_min, request.exclusive_max
            ),
            request.page_size,
        )

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        task = HistoryTask(category, key, DataBlob(b""))
        await self._write(DELETE_ROW, history_task_row_key(shard_id, task))

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        await self._write(
            RANGE_DELETE_HISTORY_TASKS,
            self._task_range(shard_id, category, inclusive_min, exclusive_max),
        )

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None:
        node = (
            INSERT_NODE,
            (
                request.tree_id,
                request.branch_id,
                request.node_id,
                request.txn_id,
                request.prev_txn_id,
                request.events.data,
                request.events.encoding,
            ),
        )
        info = request.new_branch_tree_info
        if info is None:
            await self._write(*node)
            return
        tree = (
            INSERT_TREE,
            (request.tree_id, request.branch_id, info.data, info.encoding, request.shard_id),
        )
        await self._batch([tree, node])

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Sequence[object]:
        if request.next_page_token or request.reverse or request.metadata_only:
            raise NotImplementedError("the raw baseline reads first forward pages only")
        return await self._read(
            READ_NODES,
            (request.tree_id, request.branch_id, request.min_node_id, request.max_node_id),
            request.page_size,
        )

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        if request.updated_info is not None:
            raise NotImplementedError("the raw baseline does not rewrite queue info")
        key = request.key
        partition = (key.namespace_id, key.name, key.task_type)
        now_ms = time.time_ns() // 1_000_000
        statements: list[tuple[str, Sequence[object]]] = []
        for task in request.tasks:
            expiry_ms = to_epoch_ms(task.expiry) if task.expiry is not None else None
            statements.append(
                (
                    INSERT_TASK,
                    (
                        *partition,
                        ROW_TASK,
                        task.task_id,
                        task.blob.data,
                        task.blob.encoding,
                        expiry_ms,
                        ttl_seconds(expiry_ms, now_ms),
                    ),
                )
            )
        statements.append(
            (
                TOUCH_QUEUE,
                (0, request.range_id, *partition, ROW_QUEUE, QUEUE_ROW_TASK_ID, request.range_id),
            )
        )
        await self._batch(statements)

    async def get_tasks(self, request: GetTasksRequest) -> Sequence[object]:
        if request.next_page_token:
            raise NotImplementedError("the raw baseline reads first pages only")
        key = request.key
        return await self._read(
            GET_TASKS,
            (
                key.namespace_id,
                key.name,
                key.task_type,
                ROW_TASK,
                request.inclusive_min_task_id,
                request.exclusive_max_task_id,
            ),
            request.page_size,
        )

    async def complete_tasks_less_than(self, key: TaskQueueKey, exclusive_max_task_id: int) -> None:
        await self._write(
            COMPLETE_TASKS,
            (key.namespace_id, key.name, key.task_type, ROW_TASK, exclusive_max_task_id),
        )

    async def get_namespace(self, name: str) -> object:
        rows = await self._read(GET_NAMESPACE, (PARTITION, ROW_NAMESPACE, name))
        if not rows:
            raise RawFailure(f"namespace {name!r} not found")
        return rows[0]

    # -- queues (schema v1.1): the store's conditional batch, with the same next-id guess

    async def enqueue_message(self, key: QueueKey, payload: DataBlob) -> int:
        partition = (key.queue_type, key.queue_name)
        next_id = self._next_ids.get(key)
        if next_id is None:
            rows = await self._read(GET_QUEUE, partition)
            if not rows:
                raise RawFailure(f"queue {key} not found")
            next_id = int(rows[0][0])
        await self._batch(
            [
                (ENQUEUE_ASSIGN_ID, (next_id + 1, *partition, next_id)),
                (ENQUEUE_INSERT, (*partition, next_id, payload.data, payload.encoding)),
            ]
        )
        self._next_ids[key] = next_id + 1
        return next_id

    async def read_messages(self, request: ReadQueueMessagesRequest) -> Sequence[object]:
        if request.next_page_token or request.exclusive_max_message_id is not None:
            raise NotImplementedError("the raw baseline reads unbounded first pages only")
        partition = (request.key.queue_type, request.key.queue_name)
        if not await self._read(GET_QUEUE, partition):
            raise RawFailure(f"queue {request.key} not found")
        return await self._read(
            READ_MESSAGES,
            (*partition, request.inclusive_min_message_id, request.page_size + 1),
        )

    # ------------------------------------------------------------------ task-queue user data

    async def update_task_queue_user_data(self, request: UpdateTaskQueueUserDataRequest) -> None:
        """One queue, no build ids: the store's conditional batch of one statement."""
        if len(request.updates) != 1 or request.updates[0].build_ids_added:
            raise NotImplementedError("the raw baseline updates one queue without build ids")
        (update,) = request.updates
        ns, data = request.namespace_id, update.data
        if update.version == 0:
            params: tuple[object, ...] = (
                ns,
                USER_DATA_BUILD_ID,
                update.task_queue,
                data.data,
                data.encoding,
                1,
            )
            await self._batch([(INSERT_USER_DATA, params)])
            return
        params = (
            data.data,
            data.encoding,
            update.version + 1,
            ns,
            USER_DATA_BUILD_ID,
            update.task_queue,
            update.version,
        )
        await self._batch([(UPDATE_USER_DATA, params)])

    async def get_task_queue_user_data(self, namespace_id: str, task_queue: str) -> object:
        rows = await self._read(GET_USER_DATA, (namespace_id, USER_DATA_BUILD_ID, task_queue))
        if not rows:
            raise RawFailure(f"no user data for {task_queue}")
        return rows[0]

    async def close(self) -> None:
        await asyncio.to_thread(self._session.cluster.shutdown)


def _connect(config: CassandraConfig) -> RawCassandraBaseline:
    cluster = build_cluster(config)
    try:
        session = cluster.connect()
        per_statement = ProtocolVersion.uses_keyspace_flag(cluster.protocol_version)
        if not per_statement:
            session.set_keyspace(config.keyspace)
        keyspace = config.keyspace if per_statement else None
        prepared = {cql: session.prepare(cql, keyspace=keyspace) for cql in _STATEMENTS}
        read = session.execution_profile_clone_update(READ_PROFILE, row_factory=tuple_factory)
        write = session.execution_profile_clone_update(WRITE_PROFILE, row_factory=tuple_factory)
        row = session.execute("SELECT release_version FROM system.local").one()
        release = str(row["release_version"]) if row is not None else "unknown"
    except BaseException:
        cluster.shutdown()
        raise
    return RawCassandraBaseline(session, prepared, read, write, release)


async def open_baseline(datastore: DatastoreConfig) -> RawCassandraBaseline:
    if datastore.cassandra is None:
        raise ConfigError("the raw Cassandra baseline needs a 'cassandra:' datastore")
    return await asyncio.to_thread(_connect, datastore.cassandra)
