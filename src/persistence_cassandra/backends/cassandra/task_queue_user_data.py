"""Task-queue user data (worker versioning) on Cassandra.

Every row of a namespace lives in one partition of ``task_queue_user_data``: a queue's
user-data row has ``build_id = ''``; a build-id mapping row has the build id and no data. One
update of several queues is then one conditional batch on that partition: per queue an
insert-if-absent (version 0 → 1) or an update conditioned on the version the caller read,
plus unconditional inserts and deletes of its mapping rows. Paxos applies all of it or none.
"""

from __future__ import annotations

from collections.abc import Iterable

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_batch import MAX_BATCH_BYTES
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row, StatementSpec
from persistence_cassandra.records import (
    BuildIdMapping,
    DataBlob,
    Page,
    TaskQueueUserData,
    UpdateTaskQueueUserDataRequest,
)
from persistence_cassandra.task_queue_user_data import check_user_data_request

__all__ = ["USER_DATA_BUILD_ID", "CassandraTaskQueueUserData"]

USER_DATA_BUILD_ID = ""
"""The ``build_id`` of a queue's user-data row (a real build id is never empty)."""

INSERT_USER_DATA = (
    "INSERT INTO task_queue_user_data (namespace_id, build_id, task_queue_name, data, "
    "data_encoding, version) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)
UPDATE_USER_DATA = (
    "UPDATE task_queue_user_data SET data = ?, data_encoding = ?, version = ? "
    "WHERE namespace_id = ? AND build_id = ? AND task_queue_name = ? IF version = ?"
)
INSERT_BUILD_ID = (
    "INSERT INTO task_queue_user_data (namespace_id, build_id, task_queue_name) VALUES (?, ?, ?)"
)
DELETE_BUILD_ID = (
    "DELETE FROM task_queue_user_data "
    "WHERE namespace_id = ? AND build_id = ? AND task_queue_name = ?"
)
GET_USER_DATA = (
    "SELECT data, data_encoding, version FROM task_queue_user_data "
    "WHERE namespace_id = ? AND build_id = ? AND task_queue_name = ?"
)
LIST_USER_DATA = (
    "SELECT task_queue_name, data, data_encoding, version FROM task_queue_user_data "
    "WHERE namespace_id = ? AND build_id = ?"
)
VERSIONS = (
    "SELECT task_queue_name, version FROM task_queue_user_data "
    "WHERE namespace_id = ? AND build_id = ? AND task_queue_name IN ?"
)
QUEUES_BY_BUILD_ID = (
    "SELECT task_queue_name FROM task_queue_user_data WHERE namespace_id = ? AND build_id = ?"
)
# Whole-table scans for copy: the filter is on the first clustering column, so Cassandra reads
# every partition (as LIST_QUEUES does for task queues).
SCAN_USER_DATA = (
    "SELECT namespace_id, task_queue_name, data, data_encoding, version "
    "FROM task_queue_user_data WHERE build_id = ? ALLOW FILTERING"
)
SCAN_BUILD_IDS = (
    "SELECT namespace_id, build_id, task_queue_name "
    "FROM task_queue_user_data WHERE build_id > ? ALLOW FILTERING"
)
COUNT_BY_BUILD_ID = (
    "SELECT COUNT(*) AS n FROM task_queue_user_data WHERE namespace_id = ? AND build_id = ?"
)


class CassandraTaskQueueUserData:
    """The user-data part of :class:`~persistence_cassandra.stores.TaskStore`."""

    _session: CassandraSession

    async def get_task_queue_user_data(
        self, namespace_id: str, task_queue: str
    ) -> TaskQueueUserData:
        # Tuples, not dicts: a matching partition reads this on every load (the hot read).
        rows = (
            await self._session.read_tuples(
                GET_USER_DATA, (namespace_id, USER_DATA_BUILD_ID, task_queue)
            )
        ).rows
        if not rows or rows[0][2] is None:
            raise errors.NotFound(
                f"task queue {task_queue!r} (namespace {namespace_id}) has no user data"
            )
        data, encoding, version = rows[0]  # GET_USER_DATA's columns
        return TaskQueueUserData(
            namespace_id, task_queue, DataBlob(data or b"", encoding or ""), version
        )

    async def update_task_queue_user_data(self, request: UpdateTaskQueueUserDataRequest) -> None:
        check_user_data_request(request)
        if not request.updates:
            return
        ns = request.namespace_id
        statements: list[StatementSpec] = []
        size = 0
        for update in request.updates:
            data = update.data
            size += len(data.data)
            if update.version == 0:
                statements.append(
                    (
                        INSERT_USER_DATA,
                        (ns, USER_DATA_BUILD_ID, update.task_queue, data.data, data.encoding, 1),
                    )
                )
            else:
                statements.append(
                    (
                        UPDATE_USER_DATA,
                        (
                            data.data,
                            data.encoding,
                            update.version + 1,
                            ns,
                            USER_DATA_BUILD_ID,
                            update.task_queue,
                            update.version,
                        ),
                    )
                )
            statements.extend(
                (INSERT_BUILD_ID, (ns, build_id, update.task_queue))
                for build_id in sorted(update.build_ids_added)
            )
            statements.extend(
                (DELETE_BUILD_ID, (ns, build_id, update.task_queue))
                for build_id in sorted(update.build_ids_removed)
            )
        if size > MAX_BATCH_BYTES:
            raise errors.InvalidRequest(
                f"namespace {ns}: {size} bytes of task-queue user data exceed the "
                f"{MAX_BATCH_BYTES}-byte batch limit"
            )
        result = await self._session.write_batch(statements)
        if not result.applied:
            raise await self._conflict(request, result.rows)

    async def _conflict(
        self, request: UpdateTaskQueueUserDataRequest, rows: list[Row]
    ) -> errors.TaskQueueUserDataConflict:
        expected = {update.task_queue: update.version for update in request.updates}
        stored = _versions_from_cas_rows(rows)
        if not stored.keys() >= expected.keys():
            # A failed batch returns the rows it compared, but an absent row comes back
            # without its key: read what is missing (the batch failed either way).
            result = await self._session.read(
                VERSIONS, (request.namespace_id, USER_DATA_BUILD_ID, sorted(expected))
            )
            for row in result.rows:
                stored.setdefault(row["task_queue_name"], row["version"] or 0)
        conflicting = frozenset(q for q, v in expected.items() if stored.get(q, 0) != v)
        # Conditions were checked atomically: if the re-read no longer shows a mismatch (it
        # moved again), every queue of the call is reported as conflicting.
        conflicting = conflicting or frozenset(expected)
        return errors.TaskQueueUserDataConflict(
            request.namespace_id, conflicting, frozenset(expected) - conflicting
        )

    async def list_task_queue_user_data(
        self, namespace_id: str, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        result = await self._session.read(
            LIST_USER_DATA,
            (namespace_id, USER_DATA_BUILD_ID),
            page_size=page_size,
            paging_state=next_page_token,
        )
        return Page(
            [
                TaskQueueUserData(
                    namespace_id,
                    row["task_queue_name"],
                    DataBlob(row["data"] or b"", row["data_encoding"] or ""),
                    row["version"],
                )
                for row in result.rows
                if row["version"] is not None
            ],
            result.next_page_token,
        )

    async def get_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> list[str]:
        _check_build_id(build_id)
        queues: list[str] = []
        token = b""
        while True:
            result = await self._session.read(
                QUEUES_BY_BUILD_ID, (namespace_id, build_id), page_size=1000, paging_state=token
            )
            queues.extend(row["task_queue_name"] for row in result.rows)
            token = result.next_page_token
            if not token:
                return queues

    async def count_task_queues_by_build_id(self, namespace_id: str, build_id: str) -> int:
        _check_build_id(build_id)
        row = (await self._session.read(COUNT_BY_BUILD_ID, (namespace_id, build_id))).first()
        return int(row["n"]) if row is not None else 0

    async def create_task_queue_user_data(
        self, entry: TaskQueueUserData, build_ids: frozenset[str] = frozenset()
    ) -> None:
        if entry.version < 1:
            raise errors.InvalidRequest(f"user data version must be >= 1, got {entry.version}")
        for build_id in build_ids:
            _check_build_id(build_id)
        ns, queue = entry.namespace_id, entry.task_queue
        statements: list[StatementSpec] = [
            (
                INSERT_USER_DATA,
                (
                    ns,
                    USER_DATA_BUILD_ID,
                    queue,
                    entry.data.data,
                    entry.data.encoding,
                    entry.version,
                ),
            ),
            *((INSERT_BUILD_ID, (ns, build_id, queue)) for build_id in sorted(build_ids)),
        ]
        result = await self._session.write_batch(statements)
        if not result.applied:
            raise errors.ConditionFailed(
                f"task queue {queue!r} (namespace {ns}) already has user data"
            )

    async def scan_task_queue_user_data(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[TaskQueueUserData]:
        result = await self._session.read(
            SCAN_USER_DATA, (USER_DATA_BUILD_ID,), page_size=page_size, paging_state=next_page_token
        )
        return Page(
            [
                TaskQueueUserData(
                    row["namespace_id"],
                    row["task_queue_name"],
                    DataBlob(row["data"] or b"", row["data_encoding"] or ""),
                    row["version"],
                )
                for row in result.rows
                if row["version"] is not None
            ],
            result.next_page_token,
        )

    async def scan_build_id_mappings(
        self, page_size: int, next_page_token: bytes = b""
    ) -> Page[BuildIdMapping]:
        result = await self._session.read(
            SCAN_BUILD_IDS, (USER_DATA_BUILD_ID,), page_size=page_size, paging_state=next_page_token
        )
        return Page(
            [
                BuildIdMapping(row["namespace_id"], row["build_id"], row["task_queue_name"])
                for row in result.rows
            ],
            result.next_page_token,
        )


def _versions_from_cas_rows(rows: Iterable[Row]) -> dict[str, int]:
    return {
        row["task_queue_name"]: row.get("version") or 0
        for row in rows
        if row.get("task_queue_name") is not None and row.get("build_id") == USER_DATA_BUILD_ID
    }


def _check_build_id(build_id: str) -> None:
    if not build_id:
        raise errors.InvalidRequest("a build id must not be empty")
