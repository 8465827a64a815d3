"""``update-schema`` brings an existing v1.0 store holding data to the bundled latest, through
v1.1 (queues, Nexus endpoints, replication-task DLQ), on SQLite, PostgreSQL and Cassandra: the
old data stays, the code refuses the v1.0 store until then, and the new stores work after."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from schema_tool_support import SchemaTarget, run_cli

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.errors import SchemaVersionMismatch
from persistence_cassandra.factory import open_store_bundle
from persistence_cassandra.records import (
    ClusterMetadataRecord,
    DataBlob,
    GetReplicationTasksFromDLQRequest,
    NamespaceRecord,
    NexusEndpointRecord,
    QueueKey,
    QueueType,
    ReadQueueMessagesRequest,
    ReplicationDLQTask,
)
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION
from persistence_cassandra.schema.command_hints import bundled_schema_name
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import namespace_record

SHARD_ID = 7


@dataclass
class WrittenAtV1_0:
    namespace: NamespaceRecord


async def _write_v1_0_data(bundle: StoreBundle) -> WrittenAtV1_0:
    # Through today's stores whose statements v1.1 left alone (shard, namespace, cluster
    # metadata). Task queues and tasks gained v1.1 columns: test_migrate_v1_1_task_queues.py
    # writes them as a v1.0 server did, with the raw driver.
    namespace = namespace_record()
    await bundle.shard.get_or_create_shard(SHARD_ID, lambda: (3, DataBlob(b"shard-info")))
    await bundle.metadata.create_namespace(namespace)
    await bundle.cluster_metadata.save_cluster_metadata(
        ClusterMetadataRecord("active", DataBlob(b"cluster"), 0)
    )
    return WrittenAtV1_0(namespace)


async def _check_v1_0_data(bundle: StoreBundle, written: WrittenAtV1_0) -> None:
    shard = await bundle.shard.get_or_create_shard(SHARD_ID)
    assert (shard.range_id, shard.info) == (3, DataBlob(b"shard-info"))
    stored = await bundle.metadata.get_namespace(id=written.namespace.id)
    assert (stored.name, stored.detail) == (written.namespace.name, written.namespace.detail)
    cluster = await bundle.cluster_metadata.get_cluster_metadata("active")
    assert cluster.metadata == DataBlob(b"cluster")


async def _use_the_new_stores(bundle: StoreBundle) -> None:
    key = QueueKey(QueueType.HISTORY_TASK_DLQ, "migrated")
    await bundle.queue.create_queue(key)
    assert [await bundle.queue.enqueue_message(key, DataBlob(b"m", "json")) for _ in "ab"] == [
        0,
        1,
    ]
    page = await bundle.queue.read_messages(ReadQueueMessagesRequest(key, 10))
    assert [m.message_id for m in page.items] == [0, 1]
    await bundle.nexus_endpoint.create_or_update_nexus_endpoint(
        NexusEndpointRecord("endpoint", DataBlob(b"spec")), 0
    )
    assert (await bundle.nexus_endpoint.list_nexus_endpoints(10)).table_version == 1
    task = ReplicationDLQTask("remote", 5, DataBlob(b"replication"))
    await bundle.execution.put_replication_task_to_dlq(SHARD_ID, task)
    parked = await bundle.execution.get_replication_tasks_from_dlq(
        GetReplicationTasksFromDLQRequest(SHARD_ID, "remote", 0, 10, 10)
    )
    assert parked.items == [task]


async def test_update_schema_migrates_a_v1_0_store_with_data(
    schema_target: SchemaTarget,
) -> None:
    target = schema_target.cli_args
    bundled = bundled_schema_name(schema_target.backend)
    assert (await run_cli(*target, "setup-schema", "-v", "0.0")).exit_code == 0
    to_v1_0 = await run_cli(*target, "update-schema", "-s", bundled, "-v", "1.0")
    assert to_v1_0.exit_code == 0, to_v1_0.output

    old = await open_store_bundle(schema_target.datastore, options=OpenOptions(verify_schema=False))
    try:
        written = await _write_v1_0_data(old)
    finally:
        await old.close()
    with pytest.raises(SchemaVersionMismatch, match="update-schema"):
        await open_store_bundle(schema_target.datastore)

    update = await run_cli(*target, "update-schema", "-s", bundled)
    assert update.exit_code == 0, update.output
    assert f"1.0 -> {EXPECTED_SCHEMA_VERSION}" in update.stdout
    assert "applied 1.1" in update.stdout

    bundle = await open_store_bundle(schema_target.datastore)
    try:
        await _check_v1_0_data(bundle, written)
        await _use_the_new_stores(bundle)
        assert bundle.server_info is not None
        assert (await bundle.server_info())["schema_version"] == EXPECTED_SCHEMA_VERSION
    finally:
        await bundle.close()
