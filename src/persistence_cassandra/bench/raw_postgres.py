"""The PostgreSQL baseline: the SQL layer's statements through psycopg 3, nothing else.

The same connection settings as the backend (its connection string and connection factory:
autocommit, 512 prepared statements per connection) and the same concurrency model:
``maxConns`` threads, each owning one connection for good, reached through
``run_in_executor`` (the backend hands units to its threads through its own queue). A write plan
makes the backend's round trips: ``BEGIN`` travels with the locking reads in one pipeline,
statements whose row count matters go alone, and deferred writes travel with the next step or
with the ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

from persistence_cassandra.backends.sql.postgres import (
    PostgresDialect,
    connection_info,
    connector,
)
from persistence_cassandra.bench.baseline import RawFailure
from persistence_cassandra.bench.raw_sql import (
    Execute,
    Lookups,
    Plan,
    RawSql,
    RawSqlOperations,
    Row,
    Writes,
)
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.errors import ConfigError
from persistence_cassandra.records import (
    AppendHistoryNodesRequest,
    CreateTasksRequest,
    GetTasksRequest,
    ReadHistoryBranchRequest,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    to_epoch_ms,
)

__all__ = ["RawPostgresBaseline", "open_baseline", "run_plan"]

T = TypeVar("T")
_Pending = tuple[str, Any, bool]
"""Statement, parameters (or rows), and whether it is an ``executemany``."""


def _send(connection: psycopg.Connection[Any], batch: list[_Pending]) -> list[psycopg.Cursor[Any]]:
    if len(batch) == 1:
        statement, params, many = batch[0]
        cursor = connection.cursor()
        if many:
            cursor.executemany(statement, params)
        else:
            cursor.execute(statement, params)
        return [cursor]
    cursors = []
    with connection.pipeline():
        for statement, params, many in batch:
            cursor = connection.cursor()
            if many:
                cursor.executemany(statement, params)
            else:
                cursor.execute(statement, params)
            cursors.append(cursor)
    return cursors


def run_plan(connection: psycopg.Connection[Any], plan: Plan) -> None:
    """One transaction, each step in one pipeline with whatever was deferred before it."""
    pending: list[_Pending] = [("BEGIN", None, False)]
    try:
        for step in plan:
            if isinstance(step, Lookups):
                sent = [(statement, params, False) for statement, params in step.statements]
                cursors = _send(connection, [*pending, *sent])
                pending = []
                step.check([cursor.fetchone() for cursor in cursors[len(cursors) - len(sent) :]])
            elif isinstance(step, Execute):
                cursors = _send(connection, [*pending, (step.statement, step.params, False)])
                pending = []
                step.check(cursors[-1].rowcount)
            else:
                for statement, rows in step.statements:
                    if len(rows) == 1:
                        pending.append((statement, rows[0], False))
                    elif rows:
                        pending.append((statement, rows, True))
        _send(connection, [*pending, ("COMMIT", None, False)])
    except BaseException:
        if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                connection.execute("ROLLBACK")
        raise


class RawPostgresBaseline(RawSqlOperations):
    def __init__(self, conninfo: str, connections: int, server_version: str) -> None:
        self.driver = f"psycopg {psycopg.__version__} / PostgreSQL {server_version}"
        self._sql = RawSql(PostgresDialect())
        self._connect = connector(conninfo)  # the backend's settings (autocommit, prepared)
        self._executor = ThreadPoolExecutor(connections, thread_name_prefix="raw-postgres")
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    async def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: work(self._connection())
        )

    async def _read(self, statement: str, params: Sequence[Any]) -> list[Row]:
        def fetch(connection: psycopg.Connection[Any]) -> list[Row]:
            rows: list[Row] = connection.cursor().execute(statement, params).fetchall()
            return rows

        return await self._run(fetch)

    async def _plan(self, plan: Plan) -> None:
        await self._run(lambda connection: run_plan(connection, plan))

    async def _read_each(self, reads: list[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        def fetch(connection: psycopg.Connection[Any]) -> list[list[Row]]:
            cursor = connection.cursor()
            return [cursor.execute(statement, params).fetchall() for statement, params in reads]

        return await self._run(fetch)

    async def _counted_write(self, statement: str, params: Sequence[Any]) -> None:
        """A write the SQL layer runs for its row count: alone, then the COMMIT."""
        await self._plan([Execute(statement, params, lambda _count: None)])

    async def _deferred_write(self, *writes: tuple[str, Sequence[Any]]) -> None:
        """Writes the SQL layer defers: one pipeline with BEGIN and COMMIT."""
        await self._plan([Writes([(statement, [params]) for statement, params in writes])])

    async def close(self) -> None:
        def shutdown() -> None:
            self._executor.shutdown(wait=True)
            with self._lock:
                for connection in self._connections:
                    connection.close()

        await asyncio.to_thread(shutdown)

    # ------------------------------------------------------------------ operations

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        sql = self._sql
        if sql.history_task_category(category):
            await self._deferred_write(
                (
                    sql.complete_scheduled,
                    (shard_id, int(category), to_epoch_ms(key.fire_time), key.task_id),
                )
            )
        else:
            await self._deferred_write(
                (sql.complete_immediate, (shard_id, int(category), key.task_id))
            )

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        sql = self._sql
        if sql.history_task_category(category):
            await self._deferred_write(
                (
                    sql.range_complete_scheduled,
                    (
                        shard_id,
                        int(category),
                        to_epoch_ms(inclusive_min.fire_time),
                        inclusive_min.task_id,
                        to_epoch_ms(exclusive_max.fire_time),
                        exclusive_max.task_id,
                    ),
                )
            )
        else:
            await self._deferred_write(
                (
                    sql.range_complete_immediate,
                    (shard_id, int(category), inclusive_min.task_id, exclusive_max.task_id),
                )
            )

    async def append_history_nodes(self, request: AppendHistoryNodesRequest) -> None:
        sql = self._sql
        node = (
            request.shard_id,
            request.tree_id,
            request.branch_id,
            request.node_id,
            -request.txn_id,
            request.prev_txn_id,
            request.events.data,
            request.events.encoding,
        )
        info = request.new_branch_tree_info
        if info is None:
            await self._deferred_write((sql.upsert_node, node))
            return
        tree = (request.shard_id, request.tree_id, request.branch_id, info.data, info.encoding)
        await self._deferred_write((sql.upsert_node, node), (sql.upsert_tree, tree))

    async def read_history_branch(self, request: ReadHistoryBranchRequest) -> Sequence[object]:
        if request.next_page_token or request.reverse or request.metadata_only:
            raise NotImplementedError("the raw baseline reads first forward pages only")
        return await self._read(
            self._sql.read_nodes,
            (
                request.shard_id,
                request.tree_id,
                request.branch_id,
                request.min_node_id,
                request.max_node_id,
                request.page_size + 1,
            ),
        )

    async def create_tasks(self, request: CreateTasksRequest) -> None:
        if request.updated_info is not None:
            raise NotImplementedError("the raw baseline does not rewrite queue info")
        key = (request.key.namespace_id, request.key.name, request.key.task_type)
        rows: list[Sequence[Any]] = [
            (
                *key,
                task.task_id,
                None if task.expiry is None else to_epoch_ms(task.expiry),
                task.blob.data,
                task.blob.encoding,
            )
            for task in request.tasks
        ]
        await self._plan(self._sql.create_tasks_plan(key, request.range_id, rows))

    async def get_tasks(self, request: GetTasksRequest) -> Sequence[object]:
        if request.next_page_token:
            raise NotImplementedError("the raw baseline reads first pages only")
        key = request.key
        return await self._read(
            self._sql.get_tasks,
            (
                key.namespace_id,
                key.name,
                key.task_type,
                request.inclusive_min_task_id,
                request.exclusive_max_task_id,
                time.time_ns() // 1_000_000,
                request.page_size + 1,
            ),
        )

    async def complete_tasks_less_than(self, key: TaskQueueKey, exclusive_max_task_id: int) -> None:
        await self._counted_write(
            self._sql.complete_tasks,
            (key.namespace_id, key.name, key.task_type, exclusive_max_task_id),
        )

    async def get_namespace(self, name: str) -> object:
        rows = await self._read(self._sql.get_namespace, (name,))
        if not rows:
            raise RawFailure(f"namespace {name!r} not found")
        return rows[0]


def _server_version(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.info.parameter_status("server_version") or "unknown"


async def open_baseline(datastore: DatastoreConfig) -> RawPostgresBaseline:
    sql = datastore.sql
    if sql is None or sql.dialect != "postgres":
        raise ConfigError("the raw PostgreSQL baseline needs an 'sql:' datastore with postgres")
    conninfo, _description = connection_info(sql)
    version = await asyncio.to_thread(_server_version, conninfo)
    return RawPostgresBaseline(conninfo, sql.max_conns, version)
