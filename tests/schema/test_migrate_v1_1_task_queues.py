"""``update-schema`` moves an existing v1.0 store holding task queues and tasks to v1.1 (task-queue
user data, sticky queues) on SQLite, PostgreSQL and Cassandra: the data stays, and the new
features work on the migrated store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from schema_tool_support import SchemaTarget, run_cli

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.errors import SchemaVersionMismatch
from persistence_cassandra.factory import open_store_bundle
from persistence_cassandra.records import (
    CreateTasksRequest,
    DataBlob,
    GetTasksRequest,
    TaskQueueKey,
    TaskQueueKind,
    TaskQueueRecord,
    TaskQueueUserDataUpdate,
    UpdateTaskQueueUserDataRequest,
)
from persistence_cassandra.schema.command_hints import bundled_schema_name
from persistence_cassandra.testing.builders import now, task

NAMESPACE = "3b8c6a0e-0000-4000-8000-000000000016"
QUEUE = TaskQueueKey(NAMESPACE, "orders", 1)


def _v10_rows(backend: str) -> list[str]:
    """A queue (range 4) with two tasks, one of them expiring far ahead, written as a v1.0
    server wrote them (the raw driver, v1.0 columns only)."""
    if backend == "cassandra":
        return [
            "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id, "
            f"range_id, task_queue, task_queue_encoding) VALUES ('{NAMESPACE}', 'orders', 1, 1, "
            "0, 4, 0x696e666f, 'proto3')",
            "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id, "
            f"task, task_encoding) VALUES ('{NAMESPACE}', 'orders', 1, 0, 300001, 0x7431, "
            "'proto3')",
            "INSERT INTO tasks (namespace_id, task_queue_name, task_queue_type, type, task_id, "
            f"task, task_encoding, expiry_ms) VALUES ('{NAMESPACE}', 'orders', 1, 0, 300002, "
            "0x7432, 'proto3', 4102444800000)",
        ]
    hex_literal = (lambda h: f"X'{h}'") if backend == "sqlite" else (lambda h: f"'\\x{h}'")
    return [
        "INSERT INTO task_queues (namespace_id, name, task_type, range_id, data, data_encoding) "
        f"VALUES ('{NAMESPACE}', 'orders', 1, 4, {hex_literal('696e666f')}, 'proto3')",
        "INSERT INTO tasks (namespace_id, task_queue_name, task_type, task_id, expiry_time, data, "
        f"data_encoding) VALUES ('{NAMESPACE}', 'orders', 1, 300001, NULL, "
        f"{hex_literal('7431')}, 'proto3')",
        "INSERT INTO tasks (namespace_id, task_queue_name, task_type, task_id, expiry_time, data, "
        f"data_encoding) VALUES ('{NAMESPACE}', 'orders', 1, 300002, 4102444800000, "
        f"{hex_literal('7432')}, 'proto3')",
    ]


async def _schema(target: SchemaTarget, *args: str) -> None:
    result = await run_cli(*target.cli_args, *args)
    assert result.exit_code == 0, result.output


async def test_update_schema_migrates_a_v1_0_store_with_task_queues(
    schema_target: SchemaTarget,
) -> None:
    backend = schema_target.backend
    bundled = bundled_schema_name(backend, "persistence")
    await _schema(schema_target, "setup-schema", "-v", "0.0")
    await _schema(schema_target, "update-schema", "--schema-name", bundled, "--version", "1.0")
    for statement in _v10_rows(backend):
        await schema_target.execute(statement)

    # This code needs 1.1: the v1.0 store refuses to open, naming the command to run.
    with pytest.raises(SchemaVersionMismatch, match="update-schema"):
        await open_store_bundle(schema_target.datastore)

    await _schema(schema_target, "update-schema", "--schema-name", bundled)
    stores = await open_store_bundle(schema_target.datastore, options=OpenOptions())
    try:
        # The v1.0 data is intact and reads as a normal, non-expiring queue.
        queue = await stores.task.get_task_queue(QUEUE)
        assert queue == TaskQueueRecord(QUEUE, 4, DataBlob(b"info", "proto3"))
        assert (queue.kind, queue.expiry) == (TaskQueueKind.NORMAL, None)
        tasks = (await stores.task.get_tasks(GetTasksRequest(QUEUE, 0, 2**62, 10))).items
        assert [(t.task_id, t.blob.data) for t in tasks] == [(300001, b"t1"), (300002, b"t2")]

        # The old lease still fences; the owner takes the queue over and appends.
        await stores.task.update_task_queue(replace(queue, range_id=5), 4)
        await stores.task.create_tasks(CreateTasksRequest(QUEUE, 5, [task(400001)]))
        tasks = (await stores.task.get_tasks(GetTasksRequest(QUEUE, 0, 2**62, 10))).items
        assert [t.task_id for t in tasks] == [300001, 300002, 400001]

        # The v1.1 features work on the migrated store.
        await stores.task.update_task_queue_user_data(
            UpdateTaskQueueUserDataRequest(
                NAMESPACE,
                [
                    TaskQueueUserDataUpdate(
                        "orders", DataBlob(b"ud", "proto3"), 0, frozenset({"b1"})
                    )
                ],
            )
        )
        assert (await stores.task.get_task_queue_user_data(NAMESPACE, "orders")).version == 1
        assert await stores.task.get_task_queues_by_build_id(NAMESPACE, "b1") == ["orders"]
        sticky = TaskQueueRecord(
            TaskQueueKey(NAMESPACE, "worker-1-sticky", 1),
            1,
            DataBlob(b"s", "proto3"),
            TaskQueueKind.STICKY,
            now() + timedelta(hours=1),
        )
        await stores.task.create_task_queue(sticky)
        assert await stores.task.get_task_queue(sticky.key) == sticky
    finally:
        await stores.close()
