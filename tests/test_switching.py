"""Switching stores is a configuration change: one config file names an SQLite, a PostgreSQL
and a Cassandra datastore; the same program runs one scripted workflow lifecycle through
``open_persistence`` on each, chosen only by rewriting ``defaultStore``, and the state it leaves
(read back through the stores and the history manager) is the same on all three."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.keyspaces import drop_keyspaces
from persistence_cassandra.config import DatastoreConfig, load_config
from persistence_cassandra.factory import OpenOptions, open_persistence, open_store_bundle
from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.managers.history_token import HistoryBranch
from persistence_cassandra.persistence import Persistence
from persistence_cassandra.records import (
    CreateTasksRequest,
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    GetHistoryTasksRequest,
    GetTasksRequest,
    HistoryTask,
    NamespaceRecord,
    TaskCategory,
    TaskKey,
    TaskQueueKey,
    TaskQueueRecord,
    TaskRecord,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.task_categories import registered_task_categories

T0 = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
NAMESPACE = NamespaceRecord(
    "5b3f0c8e-0000-4000-8000-000000000001", "orders", DataBlob(b"retention: 3d")
)
SHARD = 3
FIRST = ExecutionKey(NAMESPACE.id, "order-4711", "run-0001")
SECOND = ExecutionKey(NAMESPACE.id, "order-4711", "run-0002")
FIRST_BRANCH = HistoryBranch("tree-run-0001", "branch-a")
SECOND_BRANCH = HistoryBranch("tree-run-0002", "branch-b")
QUEUE = TaskQueueKey(NAMESPACE.id, "order-workers", 1)
EVERYTHING = (
    TaskKey(datetime(1970, 1, 1, tzinfo=UTC), 0),
    TaskKey(T0 + timedelta(days=365), 2**62),
)


def blob(text: str) -> DataBlob:
    return DataBlob(text.encode(), "proto3")


def _state(key: ExecutionKey, version: int, next_event_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "key": key,
        "execution_info": blob(f"info {key.run_id} v{version}"),
        "execution_state": blob(f"state {key.run_id} v{version}"),
        "next_event_id": next_event_id,
        "db_record_version": version,
        "state": fields.pop("state", WorkflowState.RUNNING),
        "status": fields.pop("status", 1),
        "create_request_id": f"request {key.run_id}",
        "last_write_version": 1,
        "start_time": T0,
        **fields,
    }


def _task(category: TaskCategory, task_id: int, fire: datetime | None = None) -> HistoryTask:
    key = TaskKey(fire, task_id) if fire else TaskKey.immediate(task_id)
    return HistoryTask(category, key, blob(f"{category.name} {task_id}"))


async def lifecycle(persistence: Persistence) -> dict[str, Any]:
    """What a history and a matching service do for one workflow, start to finish; returns the
    state left behind, read back."""
    history = HistoryBranchManager(persistence.history, clock=lambda: T0)
    execution = persistence.execution

    await persistence.metadata.create_namespace(NAMESPACE)
    shard = await persistence.shard.get_or_create_shard(SHARD, lambda: (1, blob("shard r1")))
    range_id = shard.range_id + 1  # acquiring the shard bumps its range id
    await persistence.shard.update_shard(SHARD, range_id, blob("shard r2"), shard.range_id)

    async def append(branch: HistoryBranch, first: int, count: int, txn: int, prev: int) -> None:
        events = [f"event {i}".encode() for i in range(first, first + count)]
        await history.append_history_nodes(
            SHARD,
            branch.token,
            HistoryEventBatch(first, events),
            txn,
            prev,
            is_new_branch=first == 1,
        )

    async def update(mutation: WorkflowMutation, new: WorkflowSnapshot | None = None) -> None:
        await execution.update_workflow_execution(
            UpdateWorkflowExecutionRequest(
                SHARD, range_id, UpdateWorkflowMode.UPDATE_CURRENT, mutation, new
            )
        )

    # Start.
    await append(FIRST_BRANCH, 1, 2, txn=10, prev=0)
    await execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(
            SHARD,
            range_id,
            CreateWorkflowMode.BRAND_NEW,
            WorkflowSnapshot(
                **_state(FIRST, 1, 3),
                timer_infos={"start-timeout": blob("timer")},
                tasks=[_task(TaskCategory.TRANSFER, 100), _task(TaskCategory.TIMER, 101, T0)],
            ),
        )
    )
    # Activity scheduled, a signal arrives while a workflow task runs (buffered).
    await append(FIRST_BRANCH, 3, 3, txn=11, prev=10)
    await update(
        WorkflowMutation(
            **_state(FIRST, 2, 6),
            upsert_activity_infos={5: blob("activity 5")},
            delete_timer_infos={"start-timeout"},
            upsert_signal_requested_ids={"signal-1"},
            new_buffered_events=blob("signal event"),
            tasks=[_task(TaskCategory.TRANSFER, 102), _task(TaskCategory.VISIBILITY, 103)],
        )
    )
    # Activity completes; the buffered signal is flushed into history.
    await append(FIRST_BRANCH, 6, 3, txn=12, prev=11)
    await update(
        WorkflowMutation(
            **_state(FIRST, 3, 9),
            delete_activity_infos={5},
            upsert_timer_infos={"backoff": blob("timer 2")},
            clear_buffered_events=True,
            tasks=[_task(TaskCategory.TIMER, 104, T0 + timedelta(minutes=5))],
        )
    )
    # The history service processed the first transfer tasks.
    await execution.range_complete_history_tasks(
        SHARD, TaskCategory.TRANSFER, TaskKey.immediate(0), TaskKey.immediate(101)
    )
    # Continue-as-new: the run closes, a new run becomes current.
    await append(SECOND_BRANCH, 1, 2, txn=13, prev=0)
    await update(
        WorkflowMutation(**_state(FIRST, 4, 9, state=WorkflowState.COMPLETED, status=6)),
        new=WorkflowSnapshot(**_state(SECOND, 1, 3), tasks=[_task(TaskCategory.TRANSFER, 105)]),
    )
    # Matching: the workflow's tasks go through a task queue.
    await persistence.task.create_task_queue(TaskQueueRecord(QUEUE, 1, blob("queue")))
    await persistence.task.update_task_queue(TaskQueueRecord(QUEUE, 2, blob("queue r2")), 1)
    await persistence.task.create_tasks(
        CreateTasksRequest(QUEUE, 2, [TaskRecord(i, blob(f"task {i}")) for i in range(2001, 2006)])
    )
    await persistence.task.complete_tasks_less_than(QUEUE, 2003)
    # Completion.
    await append(SECOND_BRANCH, 3, 2, txn=14, prev=13)
    await update(
        WorkflowMutation(
            **_state(SECOND, 2, 5, state=WorkflowState.COMPLETED, status=2),
            tasks=[_task(TaskCategory.ARCHIVAL, 106, T0 + timedelta(days=1))],
        )
    )
    return await read_back(persistence, history)


async def read_back(persistence: Persistence, history: HistoryBranchManager) -> dict[str, Any]:
    execution = persistence.execution
    tasks: dict[str, Any] = {}
    for category in registered_task_categories():
        page = await execution.get_history_tasks(
            GetHistoryTasksRequest(SHARD, category, *EVERYTHING, page_size=100)
        )
        tasks[category.name] = page.items
    return {
        "namespace": await persistence.metadata.get_namespace(name="orders"),
        "notification version": await persistence.metadata.get_metadata(),
        "shard": await persistence.shard.get_or_create_shard(SHARD),
        "runs": (await execution.list_concrete_executions(SHARD, 10)).items,
        "first run": await execution.get_workflow_execution(SHARD, FIRST),
        "second run": await execution.get_workflow_execution(SHARD, SECOND),
        "current": await execution.get_current_execution(SHARD, NAMESPACE.id, FIRST.workflow_id),
        "first history": [b async for b in history.iter_history(SHARD, FIRST_BRANCH.token)],
        "second history": [b async for b in history.iter_history(SHARD, SECOND_BRANCH.token)],
        "history trees": [
            await history.get_history_tree(SHARD, branch.tree_id)
            for branch in (FIRST_BRANCH, SECOND_BRANCH)
        ],
        "history tasks": tasks,
        "task queue": await persistence.task.get_task_queue(QUEUE),
        "tasks": (await persistence.task.get_tasks(GetTasksRequest(QUEUE, 0, 10_000, 100))).items,
    }


# --------------------------------------------------------------------------- the three stores


@pytest.fixture
async def config_file(tmp_path: Path) -> AsyncIterator[Path]:
    """One config with three datastores: an SQLite file (it creates its own schema), and a
    fresh PostgreSQL database and Cassandra keyspace migrated beforehand, as an operator would
    with the schema tool."""
    from psycopg.conninfo import conninfo_to_dict

    from harness import servers

    try:
        pg = dict(conninfo_to_dict(servers.postgres_dsn()))
        cassandra_endpoint = servers.cassandra_endpoint().split(",")[0]
    except servers.ServerUnavailable as exc:
        pytest.fail(f"PostgreSQL and Cassandra are needed: {exc}")
    name = f"pc_switch_{uuid.uuid4().hex[:12]}"
    host, _, port = cassandra_endpoint.rpartition(":")
    sql: dict[str, Any] = {
        "pluginName": "postgres",
        "databaseName": name,
        "connectAddr": f"{pg.get('host', '127.0.0.1')}:{pg.get('port', 5432)}",
    }
    sql.update({k: pg[k] for k in ("user", "password") if pg.get(k)})
    datastores: dict[str, Any] = {
        "embedded": {"sql": {"pluginName": "sqlite", "databaseName": str(tmp_path / "p.db")}},
        "pg": {"sql": sql},
        "cass": {
            "cassandra": {
                "hosts": host or port,
                "port": int(port) if host else 9042,
                "keyspace": name,
            }
        },
    }
    await _postgres_admin(pg, "CREATE DATABASE {}", name)
    try:
        for store in ("pg", "cass"):
            bundle = await open_store_bundle(
                DatastoreConfig.model_validate(datastores[store]),
                options=OpenOptions(create_schema=True),
            )
            await bundle.close()
        path = tmp_path / "persistence.yaml"
        document = {"persistence": {"defaultStore": "embedded", "datastores": datastores}}
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        yield path
    finally:
        await _postgres_admin(pg, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
        cassandra = datastores["cass"]["cassandra"]
        await asyncio.to_thread(drop_keyspaces, cassandra["hosts"], cassandra["port"], [name])


async def _postgres_admin(params: dict[str, Any], template: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as connection:
        await connection.execute(sql.SQL(template).format(sql.Identifier(database)))


def point_default_store_at(path: Path, store: str) -> None:
    """The only thing that changes between runs: the ``defaultStore`` line."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["persistence"]["defaultStore"] = store
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


async def test_one_lifecycle_leaves_the_same_state_on_every_store(config_file: Path):
    results: dict[str, dict[str, Any]] = {}
    backends: dict[str, str] = {}
    for store in ("embedded", "pg", "cass"):
        point_default_store_at(config_file, store)
        async with await open_persistence(load_config(config_file)) as persistence:
            backends[store] = persistence.backend_name
            results[store] = await lifecycle(persistence)
    assert backends == {"embedded": "sqlite", "pg": "postgres", "cass": "cassandra"}

    expected = results["embedded"]
    assert expected["current"].run_id == SECOND.run_id
    assert expected["second run"].next_event_id == 5
    assert [b.first_event_id for b in expected["first history"]] == [1, 3, 6]
    assert [t.task_id for t in expected["tasks"]] == [2003, 2004, 2005]
    assert [t.key.task_id for t in expected["history tasks"]["TRANSFER"]] == [102, 105]
    for store in ("pg", "cass"):
        assert results[store].keys() == expected.keys()
        for key, value in expected.items():
            if key == "runs":  # list order is the backend's own
                assert sorted(results[store][key], key=lambda s: s.key.run_id) == value, store
            else:
                assert results[store][key] == value, f"{store}: {key}"


def test_the_example_config_names_all_three_backends():
    example = Path(__file__).resolve().parents[1] / "examples" / "persistence.yaml"
    config = load_config(example)
    backends = {name: store.backend_name for name, store in config.datastores.items()}
    assert sorted(backends.values()) == ["cassandra", "postgres", "sqlite"]
    assert config.default_store in backends
