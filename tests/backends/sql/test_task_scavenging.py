"""``SqlTaskStore.scavenge_expired_tasks``: what Cassandra's TTLs do for matching tasks, done
explicitly and in bounded batches on SQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sql_test_records import open_bundle, postgres_config, sqlite_config

from persistence_cassandra.backends.sql import SqlTaskStore
from persistence_cassandra.errors import InvalidRequest
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
)
from persistence_cassandra.stores import StoreBundle


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgres"])
async def bundle(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBundle]:
    if request.param == "postgres":
        params = request.getfixturevalue("postgres_params")
        # A database of its own: the scavenger works across every queue of the database.
        database = request.getfixturevalue("fresh_postgres_database")
        opened = await open_bundle(postgres_config(params, database, max_conns=2))
    else:
        where = ":memory:" if request.param == "sqlite-memory" else str(tmp_path / "t.db")
        opened = await open_bundle(sqlite_config(where))
    yield opened
    await opened.close()


async def _queue(bundle: StoreBundle) -> TaskQueueKey:
    key = TaskQueueKey("ns", f"queue-{uuid.uuid4().hex[:8]}", 1)
    await bundle.task.create_task_queue(TaskQueueRecord(key, 1, DataBlob(b"q")))
    return key


async def _stored_task_ids(store: SqlTaskStore, key: TaskQueueKey) -> list[int]:
    """Every row, expired or not (``get_tasks`` would hide the expired ones)."""
    rows = await store._runner.read(
        lambda tx: tx.fetchall(
            "SELECT task_id FROM tasks WHERE namespace_id = ? AND task_queue_name = ? "
            "AND task_type = ? ORDER BY task_id",
            (key.namespace_id, key.name, key.task_type),
        )
    )
    return [int(row[0]) for row in rows]


async def test_expired_tasks_of_every_queue_are_deleted_in_batches(bundle: StoreBundle) -> None:
    store = bundle.task
    assert isinstance(store, SqlTaskStore)
    now = datetime.now(UTC)
    past, future = now - timedelta(minutes=5), now + timedelta(hours=1)
    first, second = await _queue(bundle), await _queue(bundle)
    await store.create_tasks(
        CreateTasksRequest(
            first,
            1,
            [
                TaskRecord(1, DataBlob(b"expired"), past),
                TaskRecord(2, DataBlob(b"live"), future),
                TaskRecord(3, DataBlob(b"expired"), past),
                TaskRecord(4, DataBlob(b"forever")),
                TaskRecord(5, DataBlob(b"expired"), past),
            ],
        )
    )
    await store.create_tasks(
        CreateTasksRequest(
            second,
            1,
            [TaskRecord(i, DataBlob(b"expired"), past) for i in range(10, 14)]
            + [TaskRecord(20, DataBlob(b"live"), future)],
        )
    )
    # 7 expired rows with batches of 2: several transactions, one total.
    assert await store.scavenge_expired_tasks(limit=2) == 7
    assert await _stored_task_ids(store, first) == [2, 4]
    assert await _stored_task_ids(store, second) == [20]
    assert await store.scavenge_expired_tasks() == 0
    live = await store.get_tasks(GetTasksRequest(first, 0, 100, 10))
    assert [task.task_id for task in live.items] == [2, 4]


async def test_the_batch_limit_must_be_positive(bundle: StoreBundle) -> None:
    assert isinstance(bundle.task, SqlTaskStore)
    with pytest.raises(InvalidRequest):
        await bundle.task.scavenge_expired_tasks(limit=0)
