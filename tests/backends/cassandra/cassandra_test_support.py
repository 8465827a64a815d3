"""Helpers shared by the Cassandra backend tests (configs and common write requests)."""

from __future__ import annotations

from typing import Any

from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.records import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowMode,
    DataBlob,
    ExecutionKey,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowMode,
)
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import mutation, random_shard_id, snapshot

Endpoint = tuple[str, int]


def make_config(endpoint: Endpoint, keyspace: str, **settings: Any) -> DatastoreConfig:
    hosts, port = endpoint
    return DatastoreConfig.model_validate(
        {"cassandra": {"hosts": hosts, "port": port, "keyspace": keyspace, **settings}}
    )


async def new_shard(bundle: StoreBundle, range_id: int = 1) -> int:
    shard_id = random_shard_id()
    await bundle.shard.get_or_create_shard(shard_id, lambda: (range_id, DataBlob(b"shard")))
    return shard_id


async def create_run(
    bundle: StoreBundle,
    shard_id: int,
    range_id: int,
    key: ExecutionKey,
    mode: CreateWorkflowMode = CreateWorkflowMode.BRAND_NEW,
    **fields: Any,
) -> None:
    await bundle.execution.create_workflow_execution(
        CreateWorkflowExecutionRequest(shard_id, range_id, mode, snapshot(key, **fields))
    )


def update_request(
    shard_id: int,
    range_id: int,
    key: ExecutionKey,
    version: int,
    *,
    mode: UpdateWorkflowMode = UpdateWorkflowMode.UPDATE_CURRENT,
    tag: str = "",
    **changes: Any,
) -> UpdateWorkflowExecutionRequest:
    return UpdateWorkflowExecutionRequest(
        shard_id, range_id, mode, mutation(key, db_record_version=version, tag=tag, **changes)
    )


async def open_session(endpoint: Endpoint, keyspace: str) -> CassandraSession:
    """A store session on ``keyspace`` (the caller closes it)."""
    config = make_config(endpoint, keyspace).cassandra
    assert config is not None
    session = await CassandraSession.connect(config)
    await session.use_keyspace(keyspace)
    return session
