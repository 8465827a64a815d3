"""Assembles every SQL store over one shared runner; the part of opening both dialects share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.backends.sql.cluster_metadata_store import SqlClusterMetadataStore
from persistence_cassandra.backends.sql.execution_store import SqlExecutionStore
from persistence_cassandra.backends.sql.history_store import SqlHistoryStore
from persistence_cassandra.backends.sql.metadata_store import SqlMetadataStore
from persistence_cassandra.backends.sql.nexus_endpoint_store import SqlNexusEndpointStore
from persistence_cassandra.backends.sql.queue_store import SqlQueueStore
from persistence_cassandra.backends.sql.schema_setup import SqlVersionReader, verify_schema_version
from persistence_cassandra.backends.sql.shard_store import SqlShardStore
from persistence_cassandra.backends.sql.task_store import SqlTaskStore
from persistence_cassandra.backends.sql.transaction import TransactionRunner
from persistence_cassandra.backends.sql.visibility_store import SqlVisibilityStore
from persistence_cassandra.stores import Capabilities, StoreBundle

__all__ = ["open_sql_bundle"]


async def open_sql_bundle(
    runner: TransactionRunner,
    *,
    options: OpenOptions,
    version_reader: SqlVersionReader,
    create_schema: Callable[[], Awaitable[None]],
    description: str,
    capabilities: Capabilities,
    server_version: str,
) -> StoreBundle:
    """Prepare the schema as ``options`` ask (``create_schema`` runs the schema engine over
    the dialect's own connection) and return the stores. On failure the runner is closed, so a
    failed open leaks no connection or thread."""
    try:
        if options.create_schema:
            await create_schema()
        if options.verify_schema:
            await verify_schema_version(version_reader)
    except BaseException:
        await runner.close()
        raise

    async def server_info() -> dict[str, str]:
        stored = await version_reader.read_version()
        return {
            "server_version": server_version,
            "schema_version": stored.curr_version if stored is not None else "none",
        }

    task = SqlTaskStore(runner)
    return StoreBundle(
        shard=SqlShardStore(runner),
        execution=SqlExecutionStore(runner),
        history=SqlHistoryStore(runner),
        task=task,
        metadata=SqlMetadataStore(runner),
        cluster_metadata=SqlClusterMetadataStore(runner),
        # Expired tasks and sticky queues stay stored until scavenged (no TTL in SQL).
        capabilities=replace(capabilities, expired_tasks_need_scavenging=True),
        close=runner.close,
        description=description,
        server_info=server_info,
        queue=SqlQueueStore(runner),
        nexus_endpoint=SqlNexusEndpointStore(runner),
        task_scavenger=task,
        visibility=SqlVisibilityStore(runner),
    )
