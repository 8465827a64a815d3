"""Task-queue user data (worker versioning) on SQLite and PostgreSQL.

One transaction per update: each queue's row is written only if its stored version is the one
the caller read (an insert-if-absent for version 0), and the build-id mapping rows change in
the same transaction. Every queue is checked before the transaction gives up, so the conflict
names all the queues whose version moved; raising rolls the whole update back.
"""

from __future__ import annotations

from persistence_cassandra.backends.sql.paging import check_page_size, decode_token, split_page
from persistence_cassandra.backends.sql.transaction import TransactionRunner, Tx
from persistence_cassandra.errors import (
    ConditionFailed,
    InvalidRequest,
    NotFound,
    TaskQueueUserDataConflict,
)
from persistence_cassandra.records import (
    BuildIdMapping,
    DataBlob,
    Page,
    TaskQueueUserData,
    UpdateTaskQueueUserDataRequest,
)
from persistence_cassandra.task_queue_user_data import check_user_data_request

__all__ = ["GET_USER_DATA", "UPDATE_USER_DATA", "USER_DATA_COLUMNS", "SqlTaskQueueUserData"]

_ROW = "namespace_id = ? AND task_queue_name = ?"
USER_DATA_COLUMNS = ("namespace_id", "task_queue_name", "data", "data_encoding", "version")
UPDATE_USER_DATA = (
    f"UPDATE task_queue_user_data SET data = ?, data_encoding = ?, version = ? "
    f"WHERE {_ROW} AND version = ?"
)
GET_USER_DATA = f"SELECT data, data_encoding, version FROM task_queue_user_data WHERE {_ROW}"
_DELETE_BUILD_ID = (
    "DELETE FROM build_id_to_task_queue "
    "WHERE namespace_id = ? AND build_id = ? AND task_queue_name = ?"
)
_BY_BUILD_ID = "FROM build_id_to_task_queue WHERE namespace_id = ? AND build_id = ?"


class SqlTaskQueueUserData:
    """The user-data part of :class:`~persistence_cassandra.stores.TaskStore`."""

    _runner: TransactionRunner

    def _init_user_data(self) -> None:
        dialect = self._runner.dialect
        self._insert_user_data = dialect.insert_if_absent("task_queue_user_data", USER_DATA_COLUMNS)
        self._insert_build_id = dialect.insert_if_absent(
            "build_id_to_task_queue", ("namespace_id", "build_id", "task_queue_name")
        )

    async def get_task_queue_user_data(
        self, namespace_id: str, task_queue: str
    ) -> TaskQueueUserData:
        row = await self._runner.read(
            lambda tx: tx.fetchone(GET_USER_DATA, (namespace_id, task_queue))
        )
        if row is None:
            raise NotFound(f"task queue {task_queue!r} (namespace {namespace_id}) has no user data")
        return TaskQueueUserData(namespace_id, task_queue, DataBlob(row[0], row[1]), row[2])

    async def update_task_queue_user_data(self, request: UpdateTaskQueueUserDataRequest) -> None:
        check_user_data_request(request)
        if not request.updates:
            return
        ns = request.namespace_id

        def update(tx: Tx) -> None:
            conflicting: set[str] = set()
            for change in request.updates:
                data = change.data
                if change.version == 0:
                    written = tx.execute(
                        self._insert_user_data,
                        (ns, change.task_queue, data.data, data.encoding, 1),
                    )
                else:
                    written = tx.execute(
                        UPDATE_USER_DATA,
                        (
                            data.data,
                            data.encoding,
                            change.version + 1,
                            ns,
                            change.task_queue,
                            change.version,
                        ),
                    )
                if not written:
                    conflicting.add(change.task_queue)
                    continue
                for build_id in sorted(change.build_ids_added):
                    tx.execute(self._insert_build_id, (ns, build_id, change.task_queue))
                for build_id in sorted(change.build_ids_removed):
                    tx.execute(_DELETE_BUILD_ID, (ns, build_id, change.task_queue))
            if conflicting:
                everyone = frozenset(c.task_queue for c in request.updates)
                raise TaskQueueUserDataConflict(
                    ns, frozenset(conflicting), everyone - frozenset(conflicting)
                )

        await self._runner.write(update)

    async def list_task_queue_user_data(
        self, namespace_id: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 1)
        after = "AND task_queue_name > ? " if position else ""
        statement = (
            "SELECT task_queue_name, data, data_encoding, version FROM task_queue_user_data "
            f"WHERE namespace_id = ? {after}ORDER BY task_queue_name LIMIT ?"
        )
        params = (namespace_id, *(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0],))
        return Page(
            [
                TaskQueueUserData(namespace_id, row[0], DataBlob(row[1], row[2]), row[3])
                for row in page
            ],
            token,
        )

    async def create_task_queue_user_data(
        self, entry: TaskQueueUserData, build_ids: frozenset[str] = frozenset()
    ) -> None:
        if entry.version < 1:
            raise InvalidRequest(f"user data version must be >= 1, got {entry.version}")
        for build_id in build_ids:
            _check_build_id(build_id)
        ns, queue = entry.namespace_id, entry.task_queue

        def create(tx: Tx) -> None:
            values = (ns, queue, entry.data.data, entry.data.encoding, entry.version)
            if not tx.execute(self._insert_user_data, values):
                raise ConditionFailed(
                    f"task queue {queue!r} (namespace {ns}) already has user data"
                )
            for build_id in sorted(build_ids):
                tx.execute(self._insert_build_id, (ns, build_id, queue))

        await self._runner.write(create)

    async def scan_task_queue_user_data(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 2)
        after = "WHERE (namespace_id, task_queue_name) > (?, ?) " if position else ""
        statement = (
            "SELECT namespace_id, task_queue_name, data, data_encoding, version "
            f"FROM task_queue_user_data {after}ORDER BY namespace_id, task_queue_name LIMIT ?"
        )
        params = (*(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0], row[1]))
        return Page(
            [TaskQueueUserData(row[0], row[1], DataBlob(row[2], row[3]), row[4]) for row in page],
            token,
        )

    async def scan_build_id_mappings(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[BuildIdMapping]:
        check_page_size(page_size)
        position = decode_token(next_page_token, 3)
        after = "WHERE (namespace_id, build_id, task_queue_name) > (?, ?, ?) " if position else ""
        statement = (
            f"SELECT namespace_id, build_id, task_queue_name FROM build_id_to_task_queue {after}"
            "ORDER BY namespace_id, build_id, task_queue_name LIMIT ?"
        )
        params = (*(position or ()), page_size + 1)
        rows = await self._runner.read(lambda tx: tx.fetchall(statement, params))
        page, token = split_page(rows, page_size, lambda row: (row[0], row[1], row[2]))
        return Page([BuildIdMapping(row[0], row[1], row[2]) for row in page], token)

    async def get_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> list[str]:
        _check_build_id(build_id)
        rows = await self._runner.read(
            lambda tx: tx.fetchall(
                f"SELECT task_queue_name {_BY_BUILD_ID} ORDER BY task_queue_name",
                (namespace_id, build_id),
            )
        )
        return [row[0] for row in rows]

    async def count_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> int:
        _check_build_id(build_id)
        row = await self._runner.read(
            lambda tx: tx.fetchone(f"SELECT COUNT(*) {_BY_BUILD_ID}", (namespace_id, build_id))
        )
        return int(row[0]) if row is not None else 0


def _check_build_id(build_id: str) -> None:
    if not build_id:
        raise InvalidRequest("a build id must not be empty")
