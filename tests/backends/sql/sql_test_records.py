"""Record builders and small operations shared by the SQL backend's tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.factory import OpenOptions, resolve_backend
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
)
from persistence_cassandra.stores import StoreBundle


def sqlite_config(database: str | Path, **attributes: str) -> DatastoreConfig:
    sql: dict[str, Any] = {"pluginName": "sqlite", "databaseName": str(database)}
    if attributes:
        sql["connectAttributes"] = attributes
    return DatastoreConfig.model_validate({"sql": sql})


async def open_bundle(config: DatastoreConfig, *, create: bool = True) -> StoreBundle:
    return await resolve_backend(config.backend_name).open(
        config, OpenOptions(create_schema=create)
    )


def postgres_config(
    params: dict[str, Any], database: str, *, max_conns: int = 8, plugin: str = "postgres"
) -> DatastoreConfig:
    sql: dict[str, Any] = {
        "pluginName": plugin,
        "databaseName": database,
        "connectAddr": f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}",
        "maxConns": max_conns,
    }
    if params.get("user"):
        sql["user"] = params["user"]
    if params.get("password"):
        sql["password"] = params["password"]
    return DatastoreConfig.model_validate({"sql": sql})


async def ensure_shard(bundle: StoreBundle, shard_id: int, range_id: int = 1) -> int:
    record = await bundle.shard.get_or_create_shard(shard_id, lambda: (range_id, DataBlob(b"s")))
    return record.range_id


def fresh_shard_id() -> int:
    """A shard id no other test of the session uses (PostgreSQL tests share one database)."""
    return uuid.uuid4().int % 1_000_000_000 + 1000


def new_key(workflow_id: str | None = None) -> ExecutionKey:
    return ExecutionKey("ns", workflow_id or f"wf-{uuid.uuid4()}", str(uuid.uuid4()))


def snapshot(key: ExecutionKey, *, version: int = 1, **changes: Any) -> WorkflowSnapshot:
    return WorkflowSnapshot(
        key=key,
        execution_info=DataBlob(b"info"),
        execution_state=DataBlob(b"state"),
        next_event_id=3,
        db_record_version=version,
        state=WorkflowState.RUNNING,
        status=1,
        create_request_id=f"req-{key.run_id}",
        **changes,
    )


def mutation(key: ExecutionKey, *, version: int, **changes: Any) -> WorkflowMutation:
    return WorkflowMutation(
        key=key,
        execution_info=DataBlob(f"info-{version}".encode()),
        execution_state=DataBlob(b"state"),
        next_event_id=3 + version,
        db_record_version=version,
        state=WorkflowState.RUNNING,
        status=1,
        create_request_id=f"req-{key.run_id}",
        **changes,
    )


async def create_run(bundle: StoreBundle, shard_id: int, range_id: int, key: ExecutionKey) -> None:
    await bundle.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(
            shard_id, range_id, CreateWorkflowMode.BRAND_NEW, snapshot(key)
        )
    )


def update_request(
    shard_id: int, range_id: int, key: ExecutionKey, version: int
) -> UpdateWorkflowExecutionRequest:
    return UpdateWorkflowExecutionRequest(
        shard_id, range_id, UpdateWorkflowMode.UPDATE_CURRENT, mutation(key, version=version)
    )
