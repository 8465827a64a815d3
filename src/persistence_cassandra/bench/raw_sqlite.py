"""The SQLite baseline: the SQL layer's statements through :mod:`sqlite3`, nothing else.

Connections are opened exactly as the backend opens them (the same connection factory, so the
same pragmas: WAL, ``synchronous=FULL``, busy timeout), with the same division of work: one
writer thread owning the write connection, and as many reader threads as the backend uses.

The writer commits in groups the way the backend's runner does (every plan queued when it is
free, each in a savepoint, one ``COMMIT``): with one commit per plan the baseline would be
bound by fsyncs at any concurrency above one, and the ratio would measure the commit strategy
instead of the Python around the statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from persistence_cassandra.backends.sql.sqlite import SqliteDialect, connection_factory
from persistence_cassandra.backends.sql.sqlite_runner import MAX_GROUP
from persistence_cassandra.bench.baseline import RawFailure
from persistence_cassandra.bench.raw_sql import (
    Execute,
    Lookups,
    Plan,
    RawSql,
    RawSqlOperations,
    Row,
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

__all__ = ["RawSqliteBaseline", "open_baseline", "run_plan"]

T = TypeVar("T")


def run_plan(cursor: sqlite3.Cursor, plan: Plan) -> None:
    """Run a write plan statement by statement (inside the writer's transaction)."""
    for step in plan:
        if isinstance(step, Lookups):
            rows: list[Row | None] = []
            for statement, params in step.statements:
                cursor.execute(statement, params)
                rows.append(cursor.fetchone())
            step.check(rows)
        elif isinstance(step, Execute):
            cursor.execute(step.statement, step.params)
            step.check(cursor.rowcount)
        else:
            for statement, batch in step.statements:
                if batch:
                    cursor.executemany(statement, batch)


@dataclass(slots=True)
class _Unit:
    work: Callable[[sqlite3.Cursor], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class RawSqliteBaseline(RawSqlOperations):
    def __init__(self, connect: Callable[[], sqlite3.Connection], readers: int) -> None:
        self.driver = f"sqlite3 / SQLite {sqlite3.sqlite_version}"
        self._sql = RawSql(SqliteDialect())
        self._connect = connect
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="raw-sqlite-writer", daemon=True
        )
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="raw-sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        connection = self._connect()
        with self._lock:
            self._connections.append(connection)
        return connection

    async def start(self) -> None:
        self._writer.start()

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._writer.join()
        self._readers.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()

    # ------------------------------------------------------------------ threads

    def _write_loop(self) -> None:
        connection = self._open()
        cursor = connection.cursor()
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                group.append(queued)
            outcomes = self._commit(cursor, group)
            for unit, (ok, value) in zip(group, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):
                    unit.loop.call_soon_threadsafe(_settle, unit.future, ok, value)
            if stop:
                return

    def _commit(self, cursor: sqlite3.Cursor, group: list[_Unit]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        cursor.execute("BEGIN IMMEDIATE")
        if len(group) == 1:
            try:
                outcomes.append((True, group[0].work(cursor)))
            except Exception as exc:
                outcomes.append((False, exc))
            cursor.execute("COMMIT" if outcomes[0][0] else "ROLLBACK")
            return outcomes
        for unit in group:
            cursor.execute("SAVEPOINT unit")
            try:
                outcomes.append((True, unit.work(cursor)))
            except Exception as exc:
                cursor.execute("ROLLBACK TO unit")
                outcomes.append((False, exc))
            cursor.execute("RELEASE unit")
        cursor.execute("COMMIT")
        return outcomes

    async def _write(self, work: Callable[[sqlite3.Cursor], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(work, future, loop))
        return await future

    def _reader(self, work: Callable[[sqlite3.Cursor], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open()
        cursor = connection.cursor()
        try:
            return work(cursor)
        finally:
            cursor.close()

    async def _read(self, statement: str, params: Sequence[Any]) -> list[Row]:
        def fetch(cursor: sqlite3.Cursor) -> list[Row]:
            cursor.execute(statement, params)
            rows: list[Row] = cursor.fetchall()
            return rows

        return await asyncio.get_running_loop().run_in_executor(self._readers, self._reader, fetch)

    async def _plan(self, plan: Plan) -> None:
        await self._write(lambda cursor: run_plan(cursor, plan))

    async def _read_each(self, reads: list[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        def fetch(cursor: sqlite3.Cursor) -> list[list[Row]]:
            return [cursor.execute(statement, params).fetchall() for statement, params in reads]

        return await asyncio.get_running_loop().run_in_executor(self._readers, self._reader, fetch)

    # ------------------------------------------------------------------ operations

    async def complete_history_task(
        self, shard_id: int, category: TaskCategory, key: TaskKey
    ) -> None:
        sql = self._sql
        if sql.history_task_category(category):
            statement = sql.complete_scheduled
            params: tuple[Any, ...] = (
                shard_id,
                int(category),
                to_epoch_ms(key.fire_time),
                key.task_id,
            )
        else:
            statement, params = sql.complete_immediate, (shard_id, int(category), key.task_id)
        await self._write(lambda cursor: cursor.execute(statement, params))

    async def range_complete_history_tasks(
        self,
        shard_id: int,
        category: TaskCategory,
        inclusive_min: TaskKey,
        exclusive_max: TaskKey,
    ) -> None:
        sql = self._sql
        if sql.history_task_category(category):
            statement = sql.range_complete_scheduled
            params: tuple[Any, ...] = (
                shard_id,
                int(category),
                to_epoch_ms(inclusive_min.fire_time),
                inclusive_min.task_id,
                to_epoch_ms(exclusive_max.fire_time),
                exclusive_max.task_id,
            )
        else:
            statement = sql.range_complete_immediate
            params = (shard_id, int(category), inclusive_min.task_id, exclusive_max.task_id)
        await self._write(lambda cursor: cursor.execute(statement, params))

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

        def append(cursor: sqlite3.Cursor) -> None:
            cursor.execute(sql.upsert_node, node)
            if info is not None:
                cursor.execute(
                    sql.upsert_tree,
                    (
                        request.shard_id,
                        request.tree_id,
                        request.branch_id,
                        info.data,
                        info.encoding,
                    ),
                )

        await self._write(append)

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
        params = (key.namespace_id, key.name, key.task_type, exclusive_max_task_id)
        statement = self._sql.complete_tasks
        await self._write(lambda cursor: cursor.execute(statement, params))

    async def get_namespace(self, name: str) -> object:
        rows = await self._read(self._sql.get_namespace, (name,))
        if not rows:
            raise RawFailure(f"namespace {name!r} not found")
        return rows[0]


async def open_baseline(datastore: DatastoreConfig) -> RawSqliteBaseline:
    sql = datastore.sql
    if sql is None or sql.dialect != "sqlite":
        raise ConfigError("the raw SQLite baseline needs an 'sql:' datastore with sqlite")
    if sql.database_name == ":memory:":
        raise ConfigError(
            "bench: an in-memory SQLite store cannot be shared with the raw baseline; "
            "configure a file (or run bench without --config for a temporary one)"
        )
    connect = connection_factory(sql.database_name, sql.connect_attributes, must_exist=True)
    # The backend's split: one writer, readers for the remaining connections (at most 4).
    baseline = RawSqliteBaseline(connect, max(1, min(4, sql.max_conns - 1)))
    await baseline.start()
    return baseline
